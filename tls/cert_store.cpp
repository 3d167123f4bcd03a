#include "tls/cert_store.hpp"

#include <algorithm>
#include <map>
#include <new>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "routing/host_name.hpp"
#include "tls/key_pair.hpp"
#include "tls/openssl_handles.hpp"
#include "tls/ticket_keys.hpp"

namespace portico::tls {
namespace {

using routing::Diagnostic;
using routing::Diagnostics;
using routing::Severity;
using StoreRef = std::shared_ptr<const CertStore>;

constexpr std::string_view kTlsSecretType = "kubernetes.io/tls";

// TLS 1.2 suites: ECDHE for forward secrecy, AEAD only (the Mozilla "intermediate" list without
// DHE). These are also the suites RFC 9113 section 9.2.2 leaves allowed for HTTP/2 over TLS 1.2.
// TLS 1.3 suites are all AEAD; OpenSSL's defaults stay.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// Finite-field groups cost far more CPU per handshake than these, and every client that matters
// offers one of them.
constexpr const char* kGroups = "X25519:P-256:P-384";

// ---- the store attached to an SSL

// SSL_free (and SSL_dup) call these for every SSL with ex_data slot `index`, attached or not.
void free_attached(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<StoreRef*>(ptr);
}

// Without this SSL_dup would copy the raw pointer and both SSLs would delete it.
int dup_attached(CRYPTO_EX_DATA*, const CRYPTO_EX_DATA*, void** from, int, long, void*) {
  if (*from == nullptr) return 1;
  auto* copy = new (std::nothrow) StoreRef(*static_cast<StoreRef*>(*from));
  *from = copy;
  return copy != nullptr ? 1 : 0;
}

// One ex_data slot for the whole process, allocated on first use (thread-safe static init);
// -1 when OpenSSL could not allocate it.
int attached_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, dup_attached, free_attached);
  return index;
}

// ---- callbacks of every server context

int on_server_name(SSL* ssl, int* alert, void*) {
  int index = attached_index();
  if (index < 0) return SSL_TLSEXT_ERR_OK;
  const auto* store = static_cast<const StoreRef*>(SSL_get_ex_data(ssl, index));
  if (store == nullptr || !*store) return SSL_TLSEXT_ERR_OK;
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* ctx =
      (*store)->context_for(name != nullptr ? std::string_view(name) : std::string_view());
  if (ctx == nullptr || ctx == SSL_get_SSL_CTX(ssl)) return SSL_TLSEXT_ERR_OK;
  if (SSL_set_SSL_CTX(ssl, ctx) == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

// The client's order does not matter: h2 whenever offered (multiplexing beats one request per
// connection), else http/1.1. A client that offers neither (say only "http/1.0") gets no ALPN and
// then speaks HTTP/1.x. RFC 7301 section 3.2 asks for a fatal no_application_protocol alert
// there; we deliberately stay lenient, as a client without any ALPN is served the same way.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                unsigned int in_length, void*) {
  constexpr std::string_view kH2 = "h2";
  constexpr std::string_view kHttp11 = "http/1.1";
  const unsigned char* http11 = nullptr;
  for (unsigned int i = 0; i < in_length;) {
    unsigned int length = in[i];
    if (length == 0 || length > in_length - i - 1) break;  // OpenSSL validated it; stay safe
    std::string_view protocol(reinterpret_cast<const char*>(in + i + 1), length);
    if (protocol == kH2) {
      *out = in + i + 1;
      *out_length = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    if (protocol == kHttp11 && http11 == nullptr) http11 = in + i + 1;
    i += 1 + length;
  }
  if (http11 == nullptr) return SSL_TLSEXT_ERR_NOACK;
  *out = http11;
  *out_length = static_cast<unsigned char>(kHttp11.size());
  return SSL_TLSEXT_ERR_OK;
}

// ---- building

std::string field_of(const routing::Secret& secret, KeyPairField field) {
  std::string out = secret.string_data ? "stringData" : "data";
  out += field == KeyPairField::kCertificate ? "[tls.crt]" : "[tls.key]";
  return out;
}

void report(Diagnostics& diagnostics, Severity severity, const routing::Secret* secret,
            std::string_view secret_name, std::string field, std::string message) {
  Diagnostic& d = diagnostics.emplace_back();
  d.severity = severity;
  if (secret != nullptr) {
    d.file = secret->meta.origin.file;
    d.line = secret->meta.origin.line;
  }
  d.object = "Secret ";
  d.object += secret_name;
  d.field = std::move(field);
  d.message = std::move(message);
}

constexpr std::string_view kFallback =
    "; until it is fixed, its hosts get the default certificate (or a wildcard one that covers "
    "them)";

// "Jan  2 15:04:05 2026 GMT"
std::string format_time(const ASN1_TIME* time) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), time) != 1) return "an unreadable time";
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(std::max(length, 0L)));
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

// The DNS names of the subjectAltName extension, or the subject CN when there are none (the
// fallback X509_check_host also applies).
std::vector<std::string> names_of(X509* certificate) {
  std::vector<std::string> names;
  GeneralNamesPtr sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    if (name->type != GEN_DNS) continue;
    const ASN1_IA5STRING* dns = name->d.dNSName;
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                       static_cast<std::size_t>(ASN1_STRING_length(dns)));
  }
  if (names.empty()) {
    X509_NAME* subject = X509_get_subject_name(certificate);
    int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
      const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                         static_cast<std::size_t>(ASN1_STRING_length(cn)));
    }
  }
  ERR_clear_error();  // a missing extension leaves nothing, a malformed one leaves an error
  return names;
}

// Whether `certificate` is valid for every name `host` stands for. An exact host is checked as a
// client checks it (X509_check_host, wildcard certificates included). A wildcard host stands for
// every one-label name under its parent, which only the same wildcard in the certificate covers.
bool covers(X509* certificate, std::string_view host) {
  if (host.starts_with("*.")) {
    std::vector<std::string> names = names_of(certificate);
    return std::any_of(names.begin(), names.end(), [host](const std::string& name) {
      return equals_ignoring_case(name, host);
    });
  }
  int result = X509_check_host(certificate, host.data(), host.size(), 0, nullptr);
  ERR_clear_error();
  return result == 1;
}

std::string list_names(X509* certificate) {
  std::vector<std::string> names = names_of(certificate);
  if (names.empty()) return "no DNS names";
  constexpr std::size_t kShown = 5;
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < kShown; ++i) {
    if (i != 0) out += ", ";
    out += names[i];
  }
  if (names.size() > kShown) out += ", and " + std::to_string(names.size() - kShown) + " more";
  return out;
}

// The Secret as an SSL_CTX, or null after reporting why not.
ContextPtr load_secret(const routing::Secret& secret, std::string_view name,
                       Diagnostics& diagnostics) {
  KeyPairResult read = read_key_pair(secret.tls_crt, secret.tls_key, !secret.string_data);
  if (!read.ok()) {
    report(diagnostics, Severity::kError, &secret, name, field_of(secret, read.field),
           read.error + std::string(kFallback));
    return nullptr;
  }
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx || !configure_server_context(ctx.get())) throw std::bad_alloc();

  // Our own chain loader: SSL_CTX_use_certificate_chain_file reads only files, and the leaf and
  // key were already checked above, so what fails here is OpenSSL's security level (a key too
  // small, a signature digest too weak), which deserves its own message.
  auto unusable = [&](KeyPairField field, const std::string& what) {
    report(diagnostics, Severity::kError, &secret, name, field_of(secret, field),
           what + " (" + take_openssl_error() +
               "); accepted: RSA keys of 2048 bits or more or ECDSA keys, SHA-256 or stronger "
               "signatures" +
               std::string(kFallback));
    return nullptr;
  };
  if (SSL_CTX_use_certificate(ctx.get(), read.pair.leaf.get()) != 1) {
    return unusable(KeyPairField::kCertificate, "the certificate cannot be served");
  }
  for (std::size_t i = 0; i < read.pair.intermediates.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx.get(), read.pair.intermediates[i].get()) != 1) {
      return unusable(KeyPairField::kCertificate,
                      "certificate " + std::to_string(i + 2) + " of the chain cannot be served");
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx.get(), read.pair.key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return unusable(KeyPairField::kKey, "the private key cannot be used with the certificate");
  }

  X509* leaf = read.pair.leaf.get();
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
    report(diagnostics, Severity::kWarning, &secret, name,
           field_of(secret, KeyPairField::kCertificate),
           "the certificate expired on " + format_time(X509_get0_notAfter(leaf)) +
               "; clients reject it; accepted: a certificate valid now");
  } else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
    report(diagnostics, Severity::kWarning, &secret, name,
           field_of(secret, KeyPairField::kCertificate),
           "the certificate is not valid before " + format_time(X509_get0_notBefore(leaf)) +
               "; clients reject it until then; accepted: a certificate valid now");
  }
  ERR_clear_error();
  return ContextPtr(ctx.release(), SSL_CTX_free);
}

// "RSA", "ECDSA", or another algorithm's name: the kind of key a context's certificate holds.
std::string key_kind(SSL_CTX* ctx) {
  EVP_PKEY* key = SSL_CTX_get0_privatekey(ctx);
  if (key == nullptr) return "no";
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      return "RSA";
    case EVP_PKEY_EC:
      return "ECDSA";
    default:
      return OBJ_nid2sn(EVP_PKEY_get_base_id(key));
  }
}

// Adds the certificate, chain and key of `from` (a context load_secret built) to `to`. OpenSSL
// keeps one certificate per key type in a context and picks, per handshake, the one the client
// can verify (TLS 1.3 and 1.2 signature algorithms, and the TLS 1.2 cipher suite: ECDHE-ECDSA or
// ECDHE-RSA). False only when OpenSSL cannot allocate.
bool add_certificate(SSL_CTX* to, SSL_CTX* from) {
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_use_certificate(to, SSL_CTX_get0_certificate(from)) != 1 ||
      SSL_CTX_get0_chain_certs(from, &chain) != 1)
    return false;
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    if (SSL_CTX_add1_chain_cert(to, sk_X509_value(chain, i)) != 1) return false;
  }
  return SSL_CTX_use_PrivateKey(to, SSL_CTX_get0_privatekey(from)) == 1;
}

// Sorts by key and keeps the first entry of each key (bindings come in the compiler's order).
void sort_unique(auto& entries) {
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.key < b.key; });
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const auto& a, const auto& b) { return a.key == b.key; }),
                entries.end());
}

}  // namespace

bool configure_server_context(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    ERR_clear_error();
    return false;
  }
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // Tickets: a returning client resumes without a full handshake and the server keeps no session
  // state. They are sealed with the process's rotating keys (ticket_keys.hpp), the same for every
  // context, so they survive certificate reloads and SNI switches.
  if (!use_rotating_ticket_keys(ctx)) {
    ERR_clear_error();
    return false;
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  SSL_CTX_set_tlsext_servername_callback(ctx, on_server_name);
  return true;
}

std::shared_ptr<const CertStore> CertStore::build(const std::vector<routing::TlsBinding>& bindings,
                                                  const std::vector<routing::Secret>& secrets,
                                                  ContextPtr default_context,
                                                  Diagnostics& diagnostics) {
  auto store = std::make_shared<CertStore>();
  store->default_ = std::move(default_context);
  if (bindings.empty()) return store;

  std::unordered_map<std::string, const routing::Secret*> secret_by_name;
  secret_by_name.reserve(secrets.size());
  for (const routing::Secret& secret : secrets) {
    secret_by_name.try_emplace(secret.meta.namespace_ + '/' + secret.meta.name, &secret);
  }

  constexpr std::size_t kUnusable = static_cast<std::size_t>(-1);
  std::unordered_map<std::string_view, std::size_t> context_by_secret;  // -> contexts_ index
  std::vector<const routing::TlsBinding*> alternates;
  for (const routing::TlsBinding& binding : bindings) {
    if (binding.alternate) {
      alternates.push_back(&binding);
      continue;
    }
    auto [loaded, first_use] = context_by_secret.try_emplace(binding.secret, kUnusable);
    auto found = secret_by_name.find(binding.secret);
    const routing::Secret* secret = found != secret_by_name.end() ? found->second : nullptr;
    if (first_use) {
      if (secret == nullptr) {
        if (binding.secret_found) {
          report(diagnostics, Severity::kError, nullptr, binding.secret, "",
                 "not found (named by Ingress " + binding.ingress + ")" + std::string(kFallback));
        }
      } else if (secret->type != kTlsSecretType) {
        if (binding.secret_found) {
          report(
              diagnostics, Severity::kError, secret, binding.secret, "type",
              "is \"" + secret->type + "\"; accepted: kubernetes.io/tls" + std::string(kFallback));
        }
      } else if (ContextPtr ctx = load_secret(*secret, binding.secret, diagnostics)) {
        loaded->second = store->contexts_.size();
        store->contexts_.push_back(std::move(ctx));
      }
    }
    std::size_t context = loaded->second;
    if (context == kUnusable || binding.host.empty()) continue;

    const std::string& host = binding.host;
    X509* leaf = SSL_CTX_get0_certificate(store->contexts_[context].get());
    if (leaf != nullptr && !covers(leaf, host)) {
      report(diagnostics, Severity::kWarning, secret, binding.secret,
             field_of(*secret, KeyPairField::kCertificate),
             "the certificate does not cover host \"" + host + "\" (spec.tls of Ingress " +
                 binding.ingress + "); it names " + list_names(leaf) + "; clients reject it for " +
                 (host.starts_with("*.") ? "those hosts" : "that host") +
                 "; accepted: a certificate whose subjectAltName names the host or a wildcard "
                 "covering it");
    }
    if (host.starts_with("*.")) {
      store->wildcard_.push_back({host.substr(2), context});
    } else {
      store->exact_.push_back({host, context});
    }
  }
  sort_unique(store->exact_);
  sort_unique(store->wildcard_);
  if (!alternates.empty()) store->add_alternates(alternates, secret_by_name, diagnostics);
  return store;
}

void CertStore::add_alternates(
    const std::vector<const routing::TlsBinding*>& alternates,
    const std::unordered_map<std::string, const routing::Secret*>& secret_by_name,
    Diagnostics& diagnostics) {
  // Contexts of alternate Secrets and of RSA + ECDSA pairs, loaded once however many hosts share
  // them. A pair's context is new: the primary's context may serve hosts without the pair.
  std::unordered_map<std::string_view, ContextPtr> alternate_by_secret;
  std::map<std::pair<std::size_t, SSL_CTX*>, std::size_t> pair_contexts;
  for (const routing::TlsBinding* binding : alternates) {
    const std::string& host = binding->host;
    const bool wildcard = host.starts_with("*.");
    std::vector<Entry>& entries = wildcard ? wildcard_ : exact_;
    const std::string_view key = wildcard ? std::string_view(host).substr(2) : host;
    auto entry = std::lower_bound(entries.begin(), entries.end(), key,
                                  [](const Entry& e, std::string_view k) { return e.key < k; });
    // The first Secret of the host is unusable (reported already): the host keeps the fallback,
    // as it would without the alternate; fixing the first one brings both.
    if (entry == entries.end() || entry->key != key) continue;

    auto found = secret_by_name.find(binding->secret);
    const routing::Secret* secret = found != secret_by_name.end() ? found->second : nullptr;
    if (secret == nullptr || secret->type != kTlsSecretType) continue;  // the compiler said so
    auto [loaded, first_use] = alternate_by_secret.try_emplace(binding->secret);
    if (first_use) loaded->second = load_secret(*secret, binding->secret, diagnostics);
    SSL_CTX* alternate = loaded->second.get();
    if (alternate == nullptr) continue;

    SSL_CTX* primary = contexts_[entry->context].get();
    const std::string primary_kind = key_kind(primary), alternate_kind = key_kind(alternate);
    if (primary_kind == alternate_kind || SSL_CTX_get0_certificate(primary) == nullptr) {
      report(diagnostics, Severity::kWarning, secret, binding->secret,
             field_of(*secret, KeyPairField::kKey),
             "host \"" + host + "\" already has a certificate with an " + primary_kind +
                 " key; this Secret's is " + alternate_kind +
                 " too and is ignored for it (spec.tls of Ingress " + binding->ingress +
                 "); accepted: one Secret with an RSA key and one with an ECDSA key per host");
      continue;
    }
    auto [pair, new_pair] = pair_contexts.try_emplace({entry->context, alternate}, 0);
    if (new_pair) {
      SslCtxPtr both(SSL_CTX_new(TLS_server_method()));
      if (!both || !configure_server_context(both.get()) || !add_certificate(both.get(), primary) ||
          !add_certificate(both.get(), alternate))
        throw std::bad_alloc();
      pair->second = contexts_.size();
      contexts_.push_back(ContextPtr(both.release(), SSL_CTX_free));
    }
    entry->context = pair->second;
  }
}

SSL_CTX* CertStore::find(const std::vector<Entry>& entries, std::string_view key) const {
  auto it = std::lower_bound(entries.begin(), entries.end(), key,
                             [](const Entry& e, std::string_view k) { return e.key < k; });
  if (it == entries.end() || it->key != key) return nullptr;
  return contexts_[it->context].get();
}

SSL_CTX* CertStore::context_for(std::string_view server_name) const {
  char buffer[routing::kMaxHostLength + 1];
  std::string_view host = routing::normalize_request_host(server_name, buffer);
  if (host.empty()) return default_.get();
  if (SSL_CTX* ctx = find(exact_, host)) return ctx;
  // A wildcard stands for exactly one label: "a.example.com" -> "example.com"; an empty first
  // label (".example.com") or a name without a parent ("localhost") has none.
  std::size_t dot = host.find('.');
  if (!wildcard_.empty() && dot != std::string_view::npos && dot != 0 && dot + 1 < host.size()) {
    if (SSL_CTX* ctx = find(wildcard_, host.substr(dot + 1))) return ctx;
  }
  return default_.get();
}

void CertStore::attach(SSL* ssl, std::shared_ptr<const CertStore> store) {
  int index = attached_index();
  if (index < 0) throw std::bad_alloc();
  auto* previous = static_cast<StoreRef*>(SSL_get_ex_data(ssl, index));
  std::unique_ptr<StoreRef> next;
  if (store) next = std::make_unique<StoreRef>(std::move(store));
  if (SSL_set_ex_data(ssl, index, next.get()) != 1) throw std::bad_alloc();
  next.release();
  delete previous;
}

}  // namespace portico::tls
