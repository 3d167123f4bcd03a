// The certificate store, proven with real TLS handshakes: an OpenSSL client talks to a server SSL
// created from the default context with a store attached, over an in-memory BIO pair.

#include "tls/cert_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_pki.hpp"
#include "tls/default_certificate.hpp"

namespace portico::tls {
namespace {

using routing::Diagnostic;
using routing::Diagnostics;
using routing::Secret;
using routing::Severity;
using routing::TlsBinding;
using namespace test_pki;

class CertStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    default_ctx_ = new ContextPtr(make_default_context());
    shop_ = new Identity(make_identity(KeyType::kRsa, "shop.example.com",
                                       {"shop.example.com", "www.shop.example.com"}));
    api_ = new Identity(make_identity(KeyType::kEcdsa, "api.example.com", {"api.example.com"}));
    apps_ =
        new Identity(make_identity(KeyType::kEcdsa, "*.apps.example.com", {"*.apps.example.com"}));
  }
  static void TearDownTestSuite() {
    delete default_ctx_;
    delete shop_;
    delete api_;
    delete apps_;
  }

  static Secret secret_of(const std::string& name, const Identity& id, bool string_data = false) {
    return make_secret("default", name, id.cert_pem, id.key_pem, string_data);
  }

  // shop.example.com and www.shop.example.com -> shop (RSA); api.example.com -> api (ECDSA);
  // *.apps.example.com -> apps (ECDSA wildcard).
  std::shared_ptr<const CertStore> standard_store() {
    std::vector<TlsBinding> bindings = {
        bind("shop.example.com", "default/shop"), bind("www.shop.example.com", "default/shop"),
        bind("api.example.com", "default/api"), bind("*.apps.example.com", "default/apps")};
    std::vector<Secret> secrets = {secret_of("shop", *shop_), secret_of("api", *api_),
                                   secret_of("apps", *apps_)};
    auto store = CertStore::build(bindings, secrets, *default_ctx_, diagnostics_);
    EXPECT_TRUE(diagnostics_.empty()) << format(diagnostics_.front());
    return store;
  }

  HandshakeResult connect(std::shared_ptr<const CertStore> store, ClientOptions options) {
    return handshake(default_ctx_->get(), std::move(store), options);
  }

  HandshakeResult connect_to(const std::shared_ptr<const CertStore>& store,
                             const std::string& server_name) {
    ClientOptions options;
    options.server_name = server_name;
    return connect(store, options);
  }

  static ContextPtr* default_ctx_;
  static Identity* shop_;
  static Identity* api_;
  static Identity* apps_;
  Diagnostics diagnostics_;
};

ContextPtr* CertStoreTest::default_ctx_ = nullptr;
Identity* CertStoreTest::shop_ = nullptr;
Identity* CertStoreTest::api_ = nullptr;
Identity* CertStoreTest::apps_ = nullptr;

// ---- selection by SNI

TEST_F(CertStoreTest, ExactSniGetsItsSecretsCertificate) {
  auto store = standard_store();
  HandshakeResult shop = connect_to(store, "shop.example.com");
  ASSERT_TRUE(shop.ok) << shop.error;
  EXPECT_EQ(X509_cmp(shop.peer.get(), shop_->cert.get()), 0);
  EXPECT_EQ(X509_check_host(shop.peer.get(), "shop.example.com", 0, 0, nullptr), 1);

  HandshakeResult api = connect_to(store, "api.example.com");
  ASSERT_TRUE(api.ok) << api.error;
  EXPECT_EQ(common_name(api.peer.get()), "api.example.com");
  EXPECT_EQ(X509_cmp(api.peer.get(), api_->cert.get()), 0);
}

TEST_F(CertStoreTest, HostsOfOneSecretShareOneContext) {
  auto store = standard_store();
  EXPECT_EQ(store->size(), 3u);
  EXPECT_EQ(store->context_for("shop.example.com"), store->context_for("www.shop.example.com"));
  HandshakeResult www = connect_to(store, "www.shop.example.com");
  ASSERT_TRUE(www.ok) << www.error;
  EXPECT_EQ(X509_cmp(www.peer.get(), shop_->cert.get()), 0);
}

TEST_F(CertStoreTest, SniIsMatchedIgnoringCaseAndATrailingDot) {
  auto store = standard_store();
  EXPECT_EQ(store->context_for("SHOP.Example.COM"), store->context_for("shop.example.com"));
  EXPECT_EQ(store->context_for("shop.example.com."), store->context_for("shop.example.com"));
  HandshakeResult upper = connect_to(store, "API.EXAMPLE.COM");
  ASSERT_TRUE(upper.ok) << upper.error;
  EXPECT_EQ(X509_cmp(upper.peer.get(), api_->cert.get()), 0);
}

TEST_F(CertStoreTest, WildcardCoversExactlyOneLabel) {
  auto store = standard_store();
  HandshakeResult one = connect_to(store, "blog.apps.example.com");
  ASSERT_TRUE(one.ok) << one.error;
  EXPECT_EQ(X509_cmp(one.peer.get(), apps_->cert.get()), 0);

  HandshakeResult two = connect_to(store, "a.blog.apps.example.com");
  ASSERT_TRUE(two.ok) << two.error;
  EXPECT_EQ(common_name(two.peer.get()), kDefaultCertificateName);

  HandshakeResult apex = connect_to(store, "apps.example.com");
  ASSERT_TRUE(apex.ok) << apex.error;
  EXPECT_EQ(common_name(apex.peer.get()), kDefaultCertificateName);

  EXPECT_EQ(store->context_for(".apps.example.com"), store->default_context());
}

TEST_F(CertStoreTest, ExactHostWinsOverWildcard) {
  std::vector<TlsBinding> bindings = {bind("*.example.com", "default/wild"),
                                      bind("api.example.com", "default/api")};
  Identity wild = make_identity(KeyType::kEcdsa, "*.example.com", {"*.example.com"});
  std::vector<Secret> secrets = {secret_of("wild", wild), secret_of("api", *api_)};
  auto store = CertStore::build(bindings, secrets, *default_ctx_, diagnostics_);
  EXPECT_TRUE(diagnostics_.empty());
  HandshakeResult api = connect_to(store, "api.example.com");
  ASSERT_TRUE(api.ok) << api.error;
  EXPECT_EQ(X509_cmp(api.peer.get(), api_->cert.get()), 0);
  HandshakeResult other = connect_to(store, "www.example.com");
  ASSERT_TRUE(other.ok) << other.error;
  EXPECT_EQ(X509_cmp(other.peer.get(), wild.cert.get()), 0);
}

TEST_F(CertStoreTest, UnknownSniAndNoSniGetTheDefaultCertificate) {
  auto store = standard_store();
  HandshakeResult unknown = connect_to(store, "unknown.test");
  ASSERT_TRUE(unknown.ok) << unknown.error;
  EXPECT_EQ(common_name(unknown.peer.get()), kDefaultCertificateName);

  HandshakeResult none = connect_to(store, "");
  ASSERT_TRUE(none.ok) << none.error;
  EXPECT_EQ(common_name(none.peer.get()), kDefaultCertificateName);
  EXPECT_EQ(X509_check_host(none.peer.get(), "portico.invalid", 0, 0, nullptr), 1);

  EXPECT_EQ(store->context_for(""), default_ctx_->get());
  EXPECT_EQ(store->context_for(std::string(300, 'a')), default_ctx_->get());
}

TEST_F(CertStoreTest, EmptyStoreServesTheDefaultCertificate) {
  auto store = CertStore::build({}, {}, *default_ctx_, diagnostics_);
  EXPECT_EQ(store->size(), 0u);
  HandshakeResult result = connect_to(store, "shop.example.com");
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(common_name(result.peer.get()), kDefaultCertificateName);
}

TEST_F(CertStoreTest, WithoutAnAttachedStoreTheCreatingContextServes) {
  HandshakeResult result = connect(nullptr, {.server_name = "shop.example.com"});
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(common_name(result.peer.get()), kDefaultCertificateName);
}

TEST_F(CertStoreTest, IntermediatesAreSentAndTheChainVerifies) {
  EvpPkeyPtr root_key = make_key(KeyType::kEcdsa);
  X509Ptr root = make_certificate({.common_name = "Test Root", .ca = true}, root_key.get());
  EvpPkeyPtr intermediate_key = make_key(KeyType::kEcdsa);
  X509Ptr intermediate = make_certificate({.common_name = "Test Intermediate", .ca = true},
                                          intermediate_key.get(), root.get(), root_key.get());
  EvpPkeyPtr leaf_key = make_key(KeyType::kRsa);
  X509Ptr leaf =
      make_certificate({.common_name = "secure.example.com", .dns_names = {"secure.example.com"}},
                       leaf_key.get(), intermediate.get(), intermediate_key.get());
  std::vector<Secret> secrets = {make_secret(
      "shop", "chain", to_pem(leaf.get()) + to_pem(intermediate.get()), to_pem(leaf_key.get()))};
  auto store = CertStore::build({bind("secure.example.com", "shop/chain")}, secrets, *default_ctx_,
                                diagnostics_);
  EXPECT_TRUE(diagnostics_.empty());

  HandshakeResult result =
      connect(store, {.server_name = "secure.example.com", .trust_anchor = root.get()});
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.verify_result, X509_V_OK);
  EXPECT_EQ(result.chain_length, 2);
  EXPECT_EQ(X509_cmp(result.peer.get(), leaf.get()), 0);
}

// ---- protocol versions and ciphers

TEST_F(CertStoreTest, Tls11ClientIsRefused) {
  auto store = standard_store();
  HandshakeResult result = connect(store, {.server_name = "shop.example.com",
                                           .min_version = TLS1_1_VERSION,
                                           .max_version = TLS1_1_VERSION});
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.error.find("server"), std::string::npos) << result.error;
}

TEST_F(CertStoreTest, Tls12And13Succeed) {
  auto store = standard_store();
  HandshakeResult tls12 =
      connect(store, {.server_name = "shop.example.com", .max_version = TLS1_2_VERSION});
  ASSERT_TRUE(tls12.ok) << tls12.error;
  EXPECT_EQ(tls12.version, "TLSv1.2");
  EXPECT_EQ(tls12.cipher.rfind("ECDHE-RSA-", 0), 0u) << tls12.cipher;
  EXPECT_TRUE(tls12.cipher.find("GCM") != std::string::npos ||
              tls12.cipher.find("CHACHA20") != std::string::npos)
      << tls12.cipher;

  HandshakeResult tls12_ecdsa =
      connect(store, {.server_name = "api.example.com", .max_version = TLS1_2_VERSION});
  ASSERT_TRUE(tls12_ecdsa.ok) << tls12_ecdsa.error;
  EXPECT_EQ(tls12_ecdsa.cipher.rfind("ECDHE-ECDSA-", 0), 0u) << tls12_ecdsa.cipher;

  HandshakeResult tls13 =
      connect(store, {.server_name = "shop.example.com", .min_version = TLS1_3_VERSION});
  ASSERT_TRUE(tls13.ok) << tls13.error;
  EXPECT_EQ(tls13.version, "TLSv1.3");
}

TEST_F(CertStoreTest, Tls12WithoutAeadEcdheCiphersIsRefused) {
  auto store = standard_store();
  for (const char* ciphers :
       {"AES128-SHA256:AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "DHE-RSA-AES128-GCM-SHA256"}) {
    HandshakeResult result = connect(store, {.server_name = "shop.example.com",
                                             .max_version = TLS1_2_VERSION,
                                             .tls12_ciphers = ciphers});
    EXPECT_FALSE(result.ok) << ciphers << " negotiated " << result.cipher;
  }
}

TEST_F(CertStoreTest, RenegotiationIsOffAndCompressionToo) {
  long options = SSL_CTX_get_options(default_ctx_->get());
  EXPECT_TRUE(options & SSL_OP_NO_RENEGOTIATION);
  EXPECT_TRUE(options & SSL_OP_NO_COMPRESSION);
  EXPECT_TRUE(options & SSL_OP_CIPHER_SERVER_PREFERENCE);
  EXPECT_FALSE(options & SSL_OP_NO_TICKET);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(default_ctx_->get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(default_ctx_->get()), TLS1_3_VERSION);
}

TEST_F(CertStoreTest, SessionTicketsResumeAcrossTheSwitchedContext) {
  auto store = standard_store();
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    for (const char* name : {"shop.example.com", "unknown.test"}) {
      ClientOptions options{.server_name = name, .min_version = version, .max_version = version};
      HandshakeResult first = connect(store, options);
      ASSERT_TRUE(first.ok) << first.error;
      EXPECT_FALSE(first.reused);
      ASSERT_TRUE(first.session);
      options.session = first.session.get();
      HandshakeResult second = connect(store, options);
      ASSERT_TRUE(second.ok) << second.error;
      EXPECT_TRUE(second.reused) << name << " version " << version;
      EXPECT_EQ(X509_cmp(second.peer.get(), first.peer.get()), 0);
    }
  }
}

// ---- RSA and ECDSA side by side (alternate bindings)

TEST_F(CertStoreTest, RsaAndEcdsaSecretsOfOneHostAreServedSideBySide) {
  Identity rsa =
      make_identity(KeyType::kRsa, "dual.example.com", {"dual.example.com", "rsa.example.com"});
  Identity ecdsa = make_identity(KeyType::kEcdsa, "dual.example.com", {"dual.example.com"});
  TlsBinding alternate = bind("dual.example.com", "default/dual-ecdsa");
  alternate.alternate = true;
  std::vector<TlsBinding> bindings = {bind("dual.example.com", "default/dual-rsa"), alternate,
                                      bind("rsa.example.com", "default/dual-rsa")};
  std::vector<Secret> secrets = {secret_of("dual-rsa", rsa), secret_of("dual-ecdsa", ecdsa)};
  auto store = CertStore::build(bindings, secrets, *default_ctx_, diagnostics_);
  EXPECT_TRUE(diagnostics_.empty()) << format(diagnostics_.front());

  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    // TLS 1.2: the suite decides; TLS 1.3: the signature algorithms (the client's defaults
    // offer both, and the server's ECDSA-first order wins).
    ClientOptions options{
        .server_name = "dual.example.com", .min_version = version, .max_version = version};
    HandshakeResult either = connect(store, options);
    ASSERT_TRUE(either.ok) << either.error;
    EXPECT_EQ(X509_cmp(either.peer.get(), ecdsa.cert.get()), 0) << version;
  }
  HandshakeResult rsa_only = connect(store, {.server_name = "dual.example.com",
                                             .max_version = TLS1_2_VERSION,
                                             .tls12_ciphers = "ECDHE-RSA-AES128-GCM-SHA256"});
  ASSERT_TRUE(rsa_only.ok) << rsa_only.error;
  EXPECT_EQ(X509_cmp(rsa_only.peer.get(), rsa.cert.get()), 0);
  HandshakeResult ecdsa_only = connect(store, {.server_name = "dual.example.com",
                                               .max_version = TLS1_2_VERSION,
                                               .tls12_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"});
  ASSERT_TRUE(ecdsa_only.ok) << ecdsa_only.error;
  EXPECT_EQ(X509_cmp(ecdsa_only.peer.get(), ecdsa.cert.get()), 0);

  // A host of the RSA Secret without the alternate keeps RSA only.
  HandshakeResult shop = connect(store, {.server_name = "rsa.example.com",
                                         .max_version = TLS1_2_VERSION,
                                         .tls12_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"});
  EXPECT_FALSE(shop.ok) << "an ECDSA-only client got " << shop.cipher;
}

TEST_F(CertStoreTest, TwoKeysOfOneKindForAHostKeepTheFirstAndWarn) {
  Identity second = make_identity(KeyType::kRsa, "shop.example.com", {"shop.example.com"});
  TlsBinding alternate = bind("shop.example.com", "default/shop-2");
  alternate.alternate = true;
  std::vector<TlsBinding> bindings = {bind("shop.example.com", "default/shop"), alternate};
  std::vector<Secret> secrets = {secret_of("shop", *shop_), secret_of("shop-2", second)};
  auto store = CertStore::build(bindings, secrets, *default_ctx_, diagnostics_);
  ASSERT_EQ(diagnostics_.size(), 1u);
  EXPECT_EQ(diagnostics_[0].severity, Severity::kWarning);
  EXPECT_EQ(diagnostics_[0].object, "Secret default/shop-2");
  EXPECT_EQ(diagnostics_[0].field, "data[tls.key]");
  EXPECT_NE(diagnostics_[0].message.find("one Secret with an RSA key and one with an ECDSA key"),
            std::string::npos)
      << diagnostics_[0].message;
  HandshakeResult result = connect_to(store, "shop.example.com");
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(X509_cmp(result.peer.get(), shop_->cert.get()), 0);
}

// ---- ALPN

TEST_F(CertStoreTest, AlpnPrefersH2ThenHttp11ElseNone) {
  auto store = standard_store();
  struct Case {
    std::vector<std::string> offered;
    std::string selected;
  };
  const std::vector<Case> cases = {
      {{"h2", "http/1.1"}, "h2"},
      {{"http/1.1", "h2"}, "h2"},  // the server's preference, whatever the client's order
      {{"http/1.1"}, "http/1.1"},
      {{}, ""},                           // no ALPN extension: HTTP/1.1 without ALPN
      {{"spdy/3", "http/1.0"}, ""},       // nothing we speak: no ALPN, not a fatal alert
      {{"h2c", "http/1.1"}, "http/1.1"},  // h2c is cleartext-only
  };
  for (const char* name : {"shop.example.com", "unknown.test", ""}) {
    for (const Case& c : cases) {
      for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        HandshakeResult result = connect(store, {.server_name = name,
                                                 .alpn = c.offered,
                                                 .min_version = version,
                                                 .max_version = version});
        ASSERT_TRUE(result.ok) << result.error;
        EXPECT_EQ(result.alpn, c.selected)
            << "SNI " << name << ", offered " << c.offered.size() << " protocols, " << version;
      }
    }
  }
}

// ---- Secrets that cannot be used

struct BadSecretCase {
  const char* name;
  std::string field;
  std::string message_part;
  Secret (*make)(const Identity& good, const Identity& other);
};

TEST_F(CertStoreTest, BadSecretsAreErrorsAndTheirHostsGetTheDefault) {
  const std::vector<BadSecretCase> cases = {
      {"bad base64 in tls.crt", "data[tls.crt]", "not valid base64",
       [](const Identity& good, const Identity&) {
         Secret s = make_secret("shop", "cert", good.cert_pem, good.key_pem);
         s.tls_crt.insert(10, "!!");
         return s;
       }},
      {"PEM text in data", "data[tls.crt]", "PEM text, not base64",
       [](const Identity& good, const Identity&) {
         Secret s = make_secret("shop", "cert", good.cert_pem, good.key_pem);
         s.tls_crt = good.cert_pem;
         return s;
       }},
      {"base64 of something that is not PEM", "data[tls.crt]", "no PEM CERTIFICATE block",
       [](const Identity& good, const Identity&) {
         return make_secret("shop", "cert", "hello world", good.key_pem);
       }},
      {"a corrupt certificate block", "data[tls.crt]", "does not parse",
       [](const Identity& good, const Identity&) {
         std::string pem = good.cert_pem;
         pem.replace(80, 40, std::string(40, 'A'));
         return make_secret("shop", "cert", pem, good.key_pem);
       }},
      {"empty tls.crt", "data[tls.crt]", "is empty",
       [](const Identity& good, const Identity&) {
         return make_secret("shop", "cert", "", good.key_pem);
       }},
      {"bad base64 in tls.key", "data[tls.key]", "not valid base64",
       [](const Identity& good, const Identity&) {
         Secret s = make_secret("shop", "cert", good.cert_pem, good.key_pem);
         s.tls_key = "%%%";
         return s;
       }},
      {"no key", "data[tls.key]", "no PEM private key",
       [](const Identity& good, const Identity&) {
         return make_secret("shop", "cert", good.cert_pem, "nothing here");
       }},
      {"key of another certificate", "data[tls.key]", "does not belong",
       [](const Identity& good, const Identity& other) {
         return make_secret("shop", "cert", good.cert_pem, other.key_pem);
       }},
      {"encrypted key", "data[tls.key]", "encrypted",
       [](const Identity& good, const Identity&) {
         return make_secret("shop", "cert", good.cert_pem, to_encrypted_pem(good.key.get()));
       }},
      {"bad stringData certificate", "stringData[tls.crt]", "as text in stringData",
       [](const Identity& good, const Identity&) {
         return make_secret("shop", "cert", "garbage", good.key_pem, true);
       }},
  };
  // An RSA key like shop's, of another certificate.
  Identity other = make_identity(KeyType::kRsa, "other.example.com", {"other.example.com"});
  for (const BadSecretCase& c : cases) {
    SCOPED_TRACE(c.name);
    Diagnostics diagnostics;
    Secret secret = c.make(*shop_, other);
    std::vector<Secret> secrets = {secret, secret_of("api", *api_)};
    secrets[1].meta.namespace_ = "shop";
    auto store = CertStore::build(
        {bind("shop.example.com", "shop/cert"), bind("api.example.com", "shop/api")}, secrets,
        *default_ctx_, diagnostics);
    ASSERT_EQ(diagnostics.size(), 1u);
    const Diagnostic& d = diagnostics[0];
    EXPECT_EQ(d.severity, Severity::kError);
    EXPECT_EQ(d.object, "Secret shop/cert");
    EXPECT_EQ(d.field, c.field);
    EXPECT_EQ(d.file, "secrets.yaml");
    EXPECT_EQ(d.line, 7);
    EXPECT_NE(d.message.find(c.message_part), std::string::npos) << d.message;
    EXPECT_NE(d.message.find("accepted: "), std::string::npos) << d.message;
    EXPECT_EQ(store->size(), 1u);
    EXPECT_EQ(store->context_for("shop.example.com"), store->default_context());
    EXPECT_NE(store->context_for("api.example.com"), store->default_context());
    HandshakeResult result = connect_to(store, "shop.example.com");
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(common_name(result.peer.get()), kDefaultCertificateName);
    EXPECT_EQ(ERR_peek_error(), 0u) << "build() left errors in OpenSSL's queue";
  }
}

TEST_F(CertStoreTest, KeyOfAnotherTypeIsAMismatch) {
  std::vector<Secret> secrets = {make_secret("default", "mixed", shop_->cert_pem, api_->key_pem)};
  auto store = CertStore::build({bind("shop.example.com", "default/mixed")}, secrets, *default_ctx_,
                                diagnostics_);
  ASSERT_EQ(diagnostics_.size(), 1u);
  EXPECT_EQ(diagnostics_[0].field, "data[tls.key]");
  EXPECT_NE(diagnostics_[0].message.find("does not belong"), std::string::npos);
  EXPECT_EQ(store->size(), 0u);
}

TEST_F(CertStoreTest, BrokenExactSecretFallsBackToACoveringWildcard) {
  Identity wild = make_identity(KeyType::kEcdsa, "*.example.com", {"*.example.com"});
  std::vector<Secret> secrets = {secret_of("wild", wild),
                                 make_secret("default", "broken", "not a cert", "not a key")};
  auto store = CertStore::build(
      {bind("*.example.com", "default/wild"), bind("shop.example.com", "default/broken")}, secrets,
      *default_ctx_, diagnostics_);
  ASSERT_EQ(diagnostics_.size(), 1u);
  EXPECT_EQ(diagnostics_[0].object, "Secret default/broken");
  HandshakeResult result = connect_to(store, "shop.example.com");
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(X509_cmp(result.peer.get(), wild.cert.get()), 0);
}

TEST_F(CertStoreTest, MissingSecretIsReportedOnceUnlessTheCompilerDidAlready) {
  // The compiler saw it and reported it on the Ingress (secret_found = false): no duplicate.
  auto store = CertStore::build({bind("shop.example.com", "shop/gone", false)}, {}, *default_ctx_,
                                diagnostics_);
  EXPECT_TRUE(diagnostics_.empty());
  EXPECT_EQ(store->context_for("shop.example.com"), default_ctx_->get());

  // Bindings and Secrets disagree: the store says which Secret is missing, once for its hosts.
  store = CertStore::build(
      {bind("shop.example.com", "shop/gone"), bind("www.shop.example.com", "shop/gone")}, {},
      *default_ctx_, diagnostics_);
  ASSERT_EQ(diagnostics_.size(), 1u);
  EXPECT_EQ(diagnostics_[0].severity, Severity::kError);
  EXPECT_EQ(diagnostics_[0].object, "Secret shop/gone");
  EXPECT_EQ(diagnostics_[0].field, "");
  EXPECT_NE(diagnostics_[0].message.find("not found"), std::string::npos);
  HandshakeResult result = connect_to(store, "shop.example.com");
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(common_name(result.peer.get()), kDefaultCertificateName);
}

TEST_F(CertStoreTest, SecretOfAnotherTypeIsNotUsed) {
  Secret opaque = secret_of("shop", *shop_);
  opaque.type = "Opaque";
  auto store = CertStore::build({bind("shop.example.com", "default/shop")}, {opaque}, *default_ctx_,
                                diagnostics_);
  ASSERT_EQ(diagnostics_.size(), 1u);
  EXPECT_EQ(diagnostics_[0].field, "type");
  EXPECT_NE(diagnostics_[0].message.find("accepted: kubernetes.io/tls"), std::string::npos);
  EXPECT_EQ(store->context_for("shop.example.com"), default_ctx_->get());
}

TEST_F(CertStoreTest, FirstSecretOfADuplicatedNameWins) {
  std::vector<Secret> secrets = {secret_of("cert", *shop_), secret_of("cert", *api_)};
  auto store = CertStore::build({bind("shop.example.com", "default/cert")}, secrets, *default_ctx_,
                                diagnostics_);
  EXPECT_TRUE(diagnostics_.empty());
  HandshakeResult result = connect_to(store, "shop.example.com");
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(X509_cmp(result.peer.get(), shop_->cert.get()), 0);
}

// ---- warnings: served, but clients will complain

TEST_F(CertStoreTest, CertificateNotCoveringABoundHostIsAWarning) {
  std::vector<Secret> secrets = {secret_of("shop", *shop_), secret_of("apps", *apps_),
                                 secret_of("api", *api_)};
  auto store = CertStore::build(
      {bind("shop.example.com", "default/shop"), bind("cart.example.com", "default/shop"),
       bind("x.apps.example.com", "default/apps"), bind("*.example.com", "default/api")},
      secrets, *default_ctx_, diagnostics_);
  ASSERT_EQ(diagnostics_.size(), 2u);
  EXPECT_EQ(diagnostics_[0].severity, Severity::kWarning);
  EXPECT_EQ(diagnostics_[0].object, "Secret default/shop");
  EXPECT_EQ(diagnostics_[0].field, "data[tls.crt]");
  EXPECT_NE(diagnostics_[0].message.find("\"cart.example.com\""), std::string::npos);
  EXPECT_NE(diagnostics_[0].message.find("shop.example.com, www.shop.example.com"),
            std::string::npos)
      << diagnostics_[0].message;
  // A certificate for one name does not cover a wildcard binding; a wildcard certificate covers
  // one of its names (x.apps.example.com above: no warning).
  EXPECT_NE(diagnostics_[1].message.find("\"*.example.com\""), std::string::npos);
  EXPECT_EQ(diagnostics_[1].object, "Secret default/api");
  // Still served: the warning is about clients, not about the store.
  EXPECT_NE(store->context_for("cart.example.com"), store->default_context());
}

TEST_F(CertStoreTest, ExpiredCertificateIsAWarning) {
  EvpPkeyPtr key = make_key(KeyType::kEcdsa);
  X509Ptr cert = make_certificate({.common_name = "old.example.com",
                                   .dns_names = {"old.example.com"},
                                   .not_before = -7200,
                                   .not_after = -3600},
                                  key.get());
  auto store =
      CertStore::build({bind("old.example.com", "default/old")},
                       {make_secret("default", "old", to_pem(cert.get()), to_pem(key.get()))},
                       *default_ctx_, diagnostics_);
  ASSERT_EQ(diagnostics_.size(), 1u);
  EXPECT_EQ(diagnostics_[0].severity, Severity::kWarning);
  EXPECT_NE(diagnostics_[0].message.find("expired"), std::string::npos);
  EXPECT_EQ(store->size(), 1u);
}

// ---- encodings

TEST_F(CertStoreTest, StringDataPemIsUsedAsIs) {
  auto store = CertStore::build({bind("api.example.com", "default/api")},
                                {secret_of("api", *api_, /*string_data=*/true)}, *default_ctx_,
                                diagnostics_);
  EXPECT_TRUE(diagnostics_.empty());
  HandshakeResult result = connect_to(store, "api.example.com");
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(X509_cmp(result.peer.get(), api_->cert.get()), 0);
}

TEST_F(CertStoreTest, WrappedBase64WithCrLfAndSpacesIsAccepted) {
  Secret secret = secret_of("api", *api_);
  secret.tls_crt = "  " + base64(api_->cert_pem, 76, "\r\n");
  secret.tls_key = base64(api_->key_pem, 64, "\n    ");
  auto store = CertStore::build({bind("api.example.com", "default/api")}, {secret}, *default_ctx_,
                                diagnostics_);
  EXPECT_TRUE(diagnostics_.empty());
  EXPECT_EQ(store->size(), 1u);
}

// ---- lifetime

TEST_F(CertStoreTest, AttachKeepsTheStoreAliveUntilTheConnectionIsFreed) {
  auto store = standard_store();
  std::weak_ptr<const CertStore> weak = store;
  SslPtr server(SSL_new(default_ctx_->get()));
  CertStore::attach(server.get(), store);
  store.reset();  // a newer snapshot was published; this connection still uses the old one
  EXPECT_FALSE(weak.expired());
  server.reset();
  EXPECT_TRUE(weak.expired());
}

TEST_F(CertStoreTest, AttachedStoreServesAfterTheLastOtherReferenceIsDropped) {
  auto store = standard_store();
  std::weak_ptr<const CertStore> weak = store;
  // handshake() attaches and drops its copy; ours goes first.
  HandshakeResult result = connect(std::move(store), {.server_name = "api.example.com"});
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(X509_cmp(result.peer.get(), api_->cert.get()), 0);
  EXPECT_TRUE(weak.expired());
}

TEST_F(CertStoreTest, AttachAgainReplacesAndNullDetaches) {
  auto first = standard_store();
  auto second = CertStore::build({}, {}, *default_ctx_, diagnostics_);
  std::weak_ptr<const CertStore> weak_first = first;
  std::weak_ptr<const CertStore> weak_second = second;
  SslPtr server(SSL_new(default_ctx_->get()));
  CertStore::attach(server.get(), std::move(first));
  CertStore::attach(server.get(), std::move(second));
  EXPECT_TRUE(weak_first.expired());
  EXPECT_FALSE(weak_second.expired());
  CertStore::attach(server.get(), nullptr);
  EXPECT_TRUE(weak_second.expired());
}

TEST_F(CertStoreTest, DuplicatedConnectionHoldsItsOwnReference) {
  auto store = standard_store();
  std::weak_ptr<const CertStore> weak = store;
  SslPtr server(SSL_new(default_ctx_->get()));
  CertStore::attach(server.get(), std::move(store));
  SslPtr copy(SSL_dup(server.get()));
  ASSERT_TRUE(copy);
  server.reset();
  EXPECT_FALSE(weak.expired());
  copy.reset();
  EXPECT_TRUE(weak.expired());
}

TEST_F(CertStoreTest, HandshakesRaceWithPublishingNewStores) {
  std::mutex mutex;
  std::shared_ptr<const CertStore> current = standard_store();
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 40; ++i) {
        std::shared_ptr<const CertStore> store;
        {
          std::lock_guard lock(mutex);
          store = current;
        }
        std::string name = i % 2 == 0 ? "shop.example.com" : "api.example.com";
        // The worker's reference goes with the handshake: only the SSL keeps the store alive.
        HandshakeResult result = connect(std::move(store), {.server_name = name});
        if (!result.ok || common_name(result.peer.get()) != name) ++failures;
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    std::shared_ptr<const CertStore> next = standard_store();
    std::lock_guard lock(mutex);
    current = std::move(next);
  }
  for (std::thread& worker : workers) worker.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(CertStoreTest, NullDefaultKeepsTheCreatingContext) {
  auto store = CertStore::build({bind("api.example.com", "default/api")}, {secret_of("api", *api_)},
                                nullptr, diagnostics_);
  EXPECT_EQ(store->context_for("unknown.test"), nullptr);
  HandshakeResult unknown = connect_to(store, "unknown.test");
  ASSERT_TRUE(unknown.ok) << unknown.error;
  EXPECT_EQ(common_name(unknown.peer.get()), kDefaultCertificateName);
  HandshakeResult api = connect_to(store, "api.example.com");
  ASSERT_TRUE(api.ok) << api.error;
  EXPECT_EQ(X509_cmp(api.peer.get(), api_->cert.get()), 0);
}

}  // namespace
}  // namespace portico::tls
