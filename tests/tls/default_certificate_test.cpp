// The default certificate: what a client gets when no Secret covers the name it asked for.

#include "tls/default_certificate.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <string_view>

#include "test_pki.hpp"
#include "tls/cert_store.hpp"

namespace portico::tls {
namespace {

using namespace test_pki;

TEST(DefaultCertificate, NamesPorticoInvalidAndIsValidFromAnHourAgoForAYear) {
  ContextPtr ctx = make_default_context();
  ASSERT_TRUE(ctx);
  X509* cert = SSL_CTX_get0_certificate(ctx.get());
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(common_name(cert), "portico.invalid");
  EXPECT_EQ(
      X509_check_host(cert, "portico.invalid", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr), 1);
  // Self-signed: issued by its own subject, signed by its own key.
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(cert)), 0);
  EXPECT_EQ(X509_verify(cert, X509_get0_pubkey(cert)), 1);
  EXPECT_EQ(X509_get_version(cert), X509_VERSION_3);

  std::time_t now = std::time(nullptr);
  std::time_t before = now - 3000;  // valid since about an hour ago
  std::time_t later = now + 364L * 24 * 3600;
  std::time_t too_late = now + 366L * 24 * 3600;
  EXPECT_LT(X509_cmp_time(X509_get0_notBefore(cert), &before), 0);
  EXPECT_GT(X509_cmp_time(X509_get0_notAfter(cert), &later), 0);
  EXPECT_LT(X509_cmp_time(X509_get0_notAfter(cert), &too_late), 0);
  EXPECT_EQ(SSL_CTX_check_private_key(ctx.get()), 1);
}

TEST(DefaultCertificate, EachContextHasItsOwnKey) {
  ContextPtr a = make_default_context();
  ContextPtr b = make_default_context();
  EXPECT_NE(X509_cmp(SSL_CTX_get0_certificate(a.get()), SSL_CTX_get0_certificate(b.get())), 0);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(SSL_CTX_get0_certificate(a.get())),
                             X509_get0_serialNumber(SSL_CTX_get0_certificate(b.get()))),
            0);
}

TEST(DefaultCertificate, ServesAHandshakeWithoutAStore) {
  ContextPtr ctx = make_default_context();
  HandshakeResult result = handshake(ctx.get(), nullptr, {.alpn = {"h2", "http/1.1"}});
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.version, "TLSv1.3");
  EXPECT_EQ(result.alpn, "h2");
}

TEST(ConfigureServerContext, SetsVersionsCiphersAndOptions) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  ASSERT_TRUE(configure_server_context(ctx.get()));
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx.get()), TLS1_3_VERSION);
  std::uint64_t options = SSL_CTX_get_options(ctx.get());
  EXPECT_TRUE(options & SSL_OP_NO_RENEGOTIATION);
  EXPECT_TRUE(options & SSL_OP_CIPHER_SERVER_PREFERENCE);
  EXPECT_TRUE(options & SSL_OP_NO_COMPRESSION);
  EXPECT_FALSE(options & SSL_OP_NO_TICKET);
  // Every TLS 1.2 suite is ECDHE with an AEAD cipher.
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx.get());
  int tls12 = 0;
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    if (std::string_view(SSL_CIPHER_get_version(cipher)) == "TLSv1.3") continue;
    ++tls12;
    EXPECT_EQ(SSL_CIPHER_get_kx_nid(cipher), NID_kx_ecdhe) << SSL_CIPHER_get_name(cipher);
    EXPECT_EQ(SSL_CIPHER_is_aead(cipher), 1) << SSL_CIPHER_get_name(cipher);
  }
  EXPECT_EQ(tls12, 6);
}

}  // namespace
}  // namespace portico::tls
