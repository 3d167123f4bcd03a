// The publisher: compile, build the certificate store, publish a new generation only when
// something changed, tell observers, count.

#include "watch/publisher.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>
#include <utility>
#include <vector>

#include "watch/manifest_decoder.hpp"

namespace portico::watch {
namespace {

using Outcome = PublishResult::Outcome;

std::string dump(const routing::Diagnostics& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics) out += routing::format(d) + "\n";
  return out;
}

// A TLS Ingress for shop.example with its Service and EndpointSlice.
std::string shop_manifests(std::string_view path = "/") {
  return R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: web}
spec:
  tls:
  - hosts: [shop.example]
    secretName: shop-tls
  rules:
  - host: shop.example
    http:
      paths:
      - path: )" +
         std::string(path) + R"(
        pathType: Prefix
        backend:
          service:
            name: shop
            port: {number: 80}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: web}
spec:
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: shop-1
  namespace: web
  labels: {kubernetes.io/service-name: shop}
addressType: IPv4
ports: [{port: 8080}]
endpoints:
- addresses: [10.0.0.1]
)";
}

routing::ObjectSet decode(const std::string& yaml) {
  DecodeResult decoded = decode_manifests(yaml, "test.yaml");
  EXPECT_TRUE(decoded.diagnostics.empty()) << dump(decoded.diagnostics);
  return std::move(decoded.objects);
}

// A self-signed P-256 certificate for `host` and its key, both PEM.
std::pair<std::string, std::string> self_signed(const std::string& host) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24L * 3600);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::string san = "DNS:" + host;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(cert, key, EVP_sha256());

  auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return out;
  };
  std::string crt = pem([&](BIO* bio) { PEM_write_bio_X509(bio, cert); });
  std::string pkey = pem(
      [&](BIO* bio) { PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(cert);
  EVP_PKEY_free(key);
  return {crt, pkey};
}

routing::Secret tls_secret(const std::pair<std::string, std::string>& pair) {
  routing::Secret secret;
  secret.meta.name = "shop-tls";
  secret.meta.namespace_ = "web";
  secret.type = "kubernetes.io/tls";
  secret.tls_crt = pair.first;
  secret.tls_key = pair.second;
  secret.string_data = true;
  return secret;
}

class PublisherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { default_context_ = tls::make_default_context(); }
  static tls::ContextPtr default_context_;
  Publisher publisher_{routing::CompileOptions{}, default_context_};
};

tls::ContextPtr PublisherTest::default_context_;

TEST_F(PublisherTest, NothingIsServedBeforeTheFirstPublication) {
  EXPECT_EQ(publisher_.generation(), 0u);
  EXPECT_EQ(publisher_.current(), nullptr);
}

TEST_F(PublisherTest, TheFirstPublicationIsGenerationOne) {
  PublishResult result = publisher_.publish(decode(shop_manifests()), {});
  EXPECT_EQ(result.outcome, Outcome::kPublished);
  EXPECT_TRUE(result.routes_changed);
  EXPECT_TRUE(result.certs_changed);
  EXPECT_EQ(result.generation, 1u);
  EXPECT_EQ(publisher_.generation(), 1u);
  auto snapshot = publisher_.current();
  ASSERT_NE(snapshot, nullptr);
  EXPECT_EQ(snapshot->generation, 1u);
  ASSERT_NE(snapshot->table, nullptr);
  ASSERT_NE(snapshot->certs, nullptr);
  EXPECT_TRUE(snapshot->table->lookup("shop.example", "/cart"));
}

TEST_F(PublisherTest, UnchangedInputDoesNotBumpTheGeneration) {
  routing::ObjectSet objects = decode(shop_manifests());
  objects.secrets.push_back(tls_secret(self_signed("shop.example")));
  publisher_.publish(objects, {});
  auto first = publisher_.current();

  PublishResult again = publisher_.publish(objects, {});
  EXPECT_EQ(again.outcome, Outcome::kUnchanged);
  EXPECT_EQ(again.generation, 1u);
  EXPECT_EQ(publisher_.generation(), 1u);
  EXPECT_EQ(publisher_.current(), first) << "the serving snapshot is kept, not replaced";
}

TEST_F(PublisherTest, ChangedRoutesBumpTheGenerationAndKeepTheCertificateStore) {
  routing::ObjectSet objects = decode(shop_manifests("/"));
  objects.secrets.push_back(tls_secret(self_signed("shop.example")));
  publisher_.publish(objects, {});
  auto first = publisher_.current();

  routing::ObjectSet changed = decode(shop_manifests("/cart"));
  changed.secrets = objects.secrets;
  PublishResult result = publisher_.publish(changed, {});
  EXPECT_EQ(result.outcome, Outcome::kPublished);
  EXPECT_TRUE(result.routes_changed);
  EXPECT_FALSE(result.certs_changed);
  EXPECT_EQ(publisher_.generation(), 2u);
  EXPECT_EQ(publisher_.current()->certs, first->certs) << "same bindings, same Secret text";
  EXPECT_FALSE(publisher_.current()->table->lookup("shop.example", "/other"));
}

TEST_F(PublisherTest, ChangedSecretTextBumpsTheGenerationEvenWhenTheTableIsTheSame) {
  routing::ObjectSet objects = decode(shop_manifests());
  objects.secrets.push_back(tls_secret(self_signed("shop.example")));
  publisher_.publish(objects, {});
  auto first = publisher_.current();
  ASSERT_EQ(count(first->diagnostics, routing::Severity::kError), 0u) << dump(first->diagnostics);

  objects.secrets[0] = tls_secret(self_signed("shop.example"));  // a renewed certificate
  PublishResult result = publisher_.publish(objects, {});
  EXPECT_EQ(result.outcome, Outcome::kPublished);
  EXPECT_FALSE(result.routes_changed);
  EXPECT_TRUE(result.certs_changed);
  EXPECT_EQ(publisher_.generation(), 2u);
  auto second = publisher_.current();
  EXPECT_EQ(second->table, first->table) << "an equal table is not replaced";
  EXPECT_NE(second->certs, first->certs);
}

TEST_F(PublisherTest, ASecretNoBindingNamesDoesNotMatter) {
  routing::ObjectSet objects = decode(shop_manifests());
  publisher_.publish(objects, {});
  routing::Secret other = tls_secret(self_signed("other.example"));
  other.meta.name = "unrelated";
  objects.secrets.push_back(other);
  EXPECT_EQ(publisher_.publish(objects, {}).outcome, Outcome::kUnchanged);
}

TEST_F(PublisherTest, DiagnosticsArePartOfTheSnapshotAndAChangeOfThemAlonePublishes) {
  routing::ObjectSet objects = decode(shop_manifests());
  publisher_.publish(objects, {});
  auto first = publisher_.current();

  routing::Diagnostic note;
  note.severity = routing::Severity::kWarning;
  note.file = "x.yaml";
  note.message = "file x.yaml does not parse; serving the objects it last yielded";
  PublishResult result = publisher_.publish(objects, {note});
  EXPECT_EQ(result.outcome, Outcome::kPublished);
  EXPECT_FALSE(result.routes_changed);
  EXPECT_FALSE(result.certs_changed);
  EXPECT_EQ(result.warnings, 1u + count(first->diagnostics, routing::Severity::kWarning));
  auto second = publisher_.current();
  EXPECT_EQ(second->generation, 2u);
  EXPECT_EQ(second->table, first->table);
  ASSERT_FALSE(second->diagnostics.empty());
  EXPECT_EQ(second->diagnostics.front(), note) << "decoder diagnostics come first";

  EXPECT_EQ(publisher_.publish(objects, {note}).outcome, Outcome::kUnchanged);
}

TEST_F(PublisherTest, ObserversSeeEachCallAfterTheSwap) {
  std::vector<std::pair<std::uint64_t, Outcome>> seen;
  publisher_.on_publish([&](const Snapshot& snapshot, const PublishResult& result) {
    EXPECT_EQ(publisher_.current().get(), &snapshot) << "called after the swap";
    EXPECT_EQ(publisher_.generation(), snapshot.generation);
    seen.emplace_back(snapshot.generation, result.outcome);
  });
  publisher_.publish(decode(shop_manifests("/")), {});
  publisher_.publish(decode(shop_manifests("/")), {});
  publisher_.publish(decode(shop_manifests("/api")), {});
  std::vector<std::pair<std::uint64_t, Outcome>> expected = {
      {1, Outcome::kPublished}, {1, Outcome::kUnchanged}, {2, Outcome::kPublished}};
  EXPECT_EQ(seen, expected);
}

TEST_F(PublisherTest, CountsPublicationsByResult) {
  auto before = std::chrono::system_clock::now();
  publisher_.publish(decode(shop_manifests("/")), {});
  publisher_.publish(decode(shop_manifests("/")), {});
  publisher_.publish(decode(shop_manifests("/")), {});
  publisher_.publish(decode(shop_manifests("/b")), {});
  PublisherStats stats = publisher_.stats();
  EXPECT_EQ(stats.published, 2u);
  EXPECT_EQ(stats.unchanged, 2u);
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_GT(stats.last_duration.count(), 0);
  EXPECT_GE(stats.last_success, before);
}

}  // namespace
}  // namespace portico::watch
