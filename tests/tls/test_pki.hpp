#pragma once

// Test certificates made at test time with OpenSSL (no key material in the repository), and
// in-memory TLS handshakes between a real OpenSSL client and a Portico server SSL.

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "routing/objects.hpp"
#include "tls/cert_store.hpp"
#include "tls/openssl_handles.hpp"

namespace portico::tls::test_pki {

enum class KeyType { kRsa, kEcdsa };

inline EvpPkeyPtr make_key(KeyType type) {
  EvpPkeyPtr key(type == KeyType::kRsa
                     ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                     : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  EXPECT_TRUE(key) << "key generation failed";
  return key;
}

struct CertSpec {
  std::string common_name{};
  std::vector<std::string> dns_names{};  // subjectAltName DNS entries; none: no SAN extension
  bool ca = false;
  long not_before = -3600;              // seconds from now
  long not_after = 30L * 24 * 60 * 60;  // seconds from now
};

inline void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  ASSERT_TRUE(ext);
  ASSERT_EQ(X509_add_ext(cert, ext.get(), -1), 1);
}

// A certificate for `key`, signed by `issuer_key` (self-signed when `issuer` is null).
inline X509Ptr make_certificate(const CertSpec& spec, EVP_PKEY* key, X509* issuer = nullptr,
                                EVP_PKEY* issuer_key = nullptr) {
  X509Ptr cert(X509_new());
  static long serial = 1000;
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ++serial);
  X509_set_version(cert.get(), X509_VERSION_3);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (spec.ca) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
  }
  if (!spec.dns_names.empty()) {
    std::string san;
    for (const std::string& dns : spec.dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + dns;
    add_extension(cert.get(), signer, NID_subject_alt_name, san);
  }
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid");
  EXPECT_GT(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()), 0);
  return cert;
}

inline std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

inline std::string to_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return bio_text(bio.get());
}

inline std::string to_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(bio.get());
}

// PKCS#8 encrypted with a passphrase.
inline std::string to_encrypted_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  const char* pass = "secret";
  PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), pass,
                                static_cast<int>(std::strlen(pass)), nullptr, nullptr);
  return bio_text(bio.get());
}

// Base64 of `bytes`: on one line, as the API server returns `data`, or wrapped at `wrap`
// columns with `newline`, as `base64` and hand-written manifests produce.
inline std::string base64(std::string_view bytes, std::size_t wrap = 0,
                          std::string_view newline = "\n") {
  std::string encoded(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  encoded.resize(static_cast<std::size_t>(n));
  if (wrap == 0) return encoded;
  std::string out;
  for (std::size_t i = 0; i < encoded.size(); i += wrap) {
    out += encoded.substr(i, wrap);
    out += newline;
  }
  return out;
}

// A key and a certificate for it, with their PEM text.
struct Identity {
  EvpPkeyPtr key;
  X509Ptr cert;
  std::string cert_pem;
  std::string key_pem;
};

inline Identity make_identity(KeyType type, const std::string& common_name,
                              std::vector<std::string> dns_names) {
  Identity id;
  id.key = make_key(type);
  CertSpec spec;
  spec.common_name = common_name;
  spec.dns_names = std::move(dns_names);
  id.cert = make_certificate(spec, id.key.get());
  id.cert_pem = to_pem(id.cert.get());
  id.key_pem = to_pem(id.key.get());
  return id;
}

inline routing::Secret make_secret(const std::string& ns, const std::string& name,
                                   const std::string& cert_pem, const std::string& key_pem,
                                   bool string_data = false) {
  routing::Secret secret;
  secret.meta.namespace_ = ns;
  secret.meta.name = name;
  secret.meta.origin = {"secrets.yaml", 7};
  secret.type = "kubernetes.io/tls";
  secret.string_data = string_data;
  secret.tls_crt = string_data ? cert_pem : base64(cert_pem);
  secret.tls_key = string_data ? key_pem : base64(key_pem);
  return secret;
}

inline routing::TlsBinding bind(const std::string& host, const std::string& secret,
                                bool secret_found = true) {
  return {host, secret, "default/web", secret_found};
}

// ---- in-memory handshakes

struct ClientOptions {
  std::string server_name{};        // SNI; empty: none sent
  std::vector<std::string> alpn{};  // offered protocols, in order; empty: no ALPN extension
  int min_version = TLS1_VERSION;
  int max_version = 0;             // 0: the highest the library supports
  std::string tls12_ciphers{};     // empty: the library default
  X509* trust_anchor = nullptr;    // verify the server's chain against it (and the host name)
  SSL_SESSION* session = nullptr;  // offer it for resumption
};

struct SessionFree {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};

struct HandshakeResult {
  bool ok = false;
  std::string error;  // which side failed and OpenSSL's reason
  std::string alpn;   // selected protocol; empty: none
  std::string version;
  std::string cipher;
  X509Ptr peer;  // the server's leaf as the client received it
  int chain_length = 0;
  long verify_result = X509_V_OK;
  bool reused = false;
  std::unique_ptr<SSL_SESSION, SessionFree> session;  // the client's session after the handshake
};

inline std::string common_name(X509* cert) {
  if (cert == nullptr) return "";
  char buffer[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buffer, sizeof buffer);
  return buffer;
}

// Runs a full handshake between an OpenSSL client and a server SSL created from `server_ctx`,
// with `store` attached (none when null), over a memory BIO pair, in this thread.
inline HandshakeResult handshake(SSL_CTX* server_ctx, std::shared_ptr<const CertStore> store,
                                 const ClientOptions& options) {
  HandshakeResult result;
  ERR_clear_error();
  SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
  // Let the client go as low as the test asks, so that refusals come from the server.
  SSL_CTX_set_security_level(client_ctx.get(), 0);
  SSL_CTX_set_min_proto_version(client_ctx.get(), options.min_version);
  SSL_CTX_set_max_proto_version(client_ctx.get(), options.max_version);
  SSL_CTX_set_cipher_list(client_ctx.get(), options.tls12_ciphers.empty()
                                                ? "DEFAULT:@SECLEVEL=0"
                                                : options.tls12_ciphers.c_str());
  if (options.trust_anchor != nullptr) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx.get()), options.trust_anchor);
    SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_PEER, nullptr);
  }
  SslPtr client(SSL_new(client_ctx.get()));
  SslPtr server(SSL_new(server_ctx));
  if (store) CertStore::attach(server.get(), std::move(store));
  if (!options.server_name.empty()) {
    SSL_set_tlsext_host_name(client.get(), options.server_name.c_str());
    if (options.trust_anchor != nullptr) SSL_set1_host(client.get(), options.server_name.c_str());
  }
  if (!options.alpn.empty()) {
    std::string wire;
    for (const std::string& p : options.alpn) wire += static_cast<char>(p.size()) + p;
    SSL_set_alpn_protos(client.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  if (options.session != nullptr) SSL_set_session(client.get(), options.session);

  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());

  bool client_done = false;
  bool server_done = false;
  auto step = [&result](SSL* ssl, bool& done, const char* side) {
    if (done) return true;
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) {
      done = true;
      return true;
    }
    int error = SSL_get_error(ssl, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return true;
    result.error = std::string(side) + ": " + take_openssl_error();
    return false;
  };
  for (int round = 0; round < 50 && !(client_done && server_done); ++round) {
    if (!step(client.get(), client_done, "client")) return result;
    if (!step(server.get(), server_done, "server")) return result;
  }
  if (!(client_done && server_done)) {
    result.error = "handshake did not finish";
    return result;
  }
  // TLS 1.3 tickets arrive after the handshake: let the client read them.
  char byte;
  SSL_read(client.get(), &byte, 1);
  ERR_clear_error();

  result.ok = true;
  const unsigned char* selected = nullptr;
  unsigned selected_length = 0;
  SSL_get0_alpn_selected(client.get(), &selected, &selected_length);
  result.alpn.assign(reinterpret_cast<const char*>(selected), selected_length);
  result.version = SSL_get_version(client.get());
  result.cipher = SSL_get_cipher_name(client.get());
  result.peer.reset(SSL_get1_peer_certificate(client.get()));
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(client.get());
  result.chain_length = chain != nullptr ? sk_X509_num(chain) : 0;
  result.verify_result = SSL_get_verify_result(client.get());
  result.reused = SSL_session_reused(client.get()) == 1;
  result.session.reset(SSL_get1_session(client.get()));
  // A clean close: OpenSSL marks the session of a connection freed without close_notify as not
  // resumable, as it should for a connection that may have been cut by an attacker.
  SSL_shutdown(client.get());
  SSL_shutdown(server.get());
  ERR_clear_error();
  return result;
}

}  // namespace portico::tls::test_pki
