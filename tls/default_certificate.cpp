#include "tls/default_certificate.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

#include "tls/cert_store.hpp"

namespace portico::tls {
namespace {

constexpr long kOneHour = 60L * 60;
constexpr long kOneYear = 365L * 24 * 60 * 60;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("default certificate: " + what + ": " + take_openssl_error());
}

void add_extension(X509* certificate, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, certificate, certificate, nullptr, nullptr, 0);
  X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
    fail(std::string("cannot add extension ") + OBJ_nid2sn(nid));
  }
}

}  // namespace

SelfSignedCertificate make_self_signed_certificate(const std::string& name) {
  SelfSignedCertificate out;
  out.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!out.key) fail("cannot generate an EC P-256 key");

  out.certificate.reset(X509_new());
  X509* cert = out.certificate.get();
  if (cert == nullptr) fail("cannot allocate a certificate");
  // RFC 5280 section 4.1.2.2: a positive serial of at most 20 bytes; random, so that a client
  // that cached an earlier default certificate never sees two different ones with one serial.
  std::array<unsigned char, 16> serial{};
  if (RAND_bytes(serial.data(), static_cast<int>(serial.size())) != 1) fail("no random serial");
  serial[0] &= 0x7f;
  BignumPtr serial_number(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  if (!serial_number ||
      BN_to_ASN1_INTEGER(serial_number.get(), X509_get_serialNumber(cert)) == nullptr) {
    fail("cannot set the serial number");
  }
  if (X509_set_version(cert, X509_VERSION_3) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert), -kOneHour) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert), kOneYear) == nullptr) {
    fail("cannot set the version or validity");
  }
  X509_NAME* subject = X509_get_subject_name(cert);
  if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(cert, subject) != 1 || X509_set_pubkey(cert, out.key.get()) != 1) {
    fail("cannot set the subject, issuer or public key");
  }
  add_extension(cert, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert, NID_key_usage, "critical,digitalSignature");
  add_extension(cert, NID_ext_key_usage, "serverAuth");
  add_extension(cert, NID_subject_alt_name, ("DNS:" + name).c_str());
  add_extension(cert, NID_subject_key_identifier, "hash");
  if (X509_sign(cert, out.key.get(), EVP_sha256()) == 0) fail("cannot sign the certificate");
  return out;
}

ContextPtr make_default_context() {
  SelfSignedCertificate self_signed = make_self_signed_certificate(kDefaultCertificateName);
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) fail("cannot create an SSL_CTX");
  if (!configure_server_context(ctx.get())) fail("cannot configure the SSL_CTX");
  if (SSL_CTX_use_certificate(ctx.get(), self_signed.certificate.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), self_signed.key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    fail("cannot install the certificate");
  }
  return ContextPtr(ctx.release(), SSL_CTX_free);
}

}  // namespace portico::tls
