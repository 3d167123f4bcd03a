#include "watch/kube_object.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace portico::watch {
namespace {

namespace json = boost::json;

KubeObject decode(std::string_view text, std::string_view kind = "Ingress",
                  std::string_view api_version = "networking.k8s.io/v1") {
  json::object object = json::parse(text).as_object();
  return decode_kube_object(object, kind, api_version);
}

constexpr std::string_view kItem = R"({"metadata":{"name":"shop","namespace":"web",
  "resourceVersion":"41","generation":3,"managedFields":[{"manager":"kubectl"}]},
  "spec":{"rules":[{"host":"shop.example","http":{"paths":[{"path":"/","pathType":"Prefix",
  "backend":{"service":{"name":"shop","port":{"number":80}}}}]}}]},
  "status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.7"}]}}})";

TEST(KubeObject, AListItemWithoutKindDecodesAsTheListedKind) {
  KubeObject o = decode(kItem);
  ASSERT_EQ(o.decoded.objects.ingresses.size(), 1u);
  EXPECT_TRUE(o.decoded.diagnostics.empty());
  EXPECT_EQ(o.decoded.objects.ingresses[0].meta.name, "shop");
  EXPECT_EQ(o.decoded.objects.ingresses[0].rules.at(0).host, "shop.example");
  EXPECT_EQ(o.resource_version, "41");
  EXPECT_EQ(o.load_balancer, R"({"ingress":[{"ip":"203.0.113.7"}]})");
  EXPECT_TRUE(o.decoded.objects.ingresses[0].meta.origin.file.empty());  // from the API
}

TEST(KubeObject, FingerprintIgnoresResourceVersionManagedFieldsAndStatusOnly) {
  std::string other_status(kItem);
  other_status.replace(other_status.find("\"41\""), 4, "\"97\"");
  other_status.replace(other_status.find("203.0.113.7"), 11, "198.51.100.1");
  other_status.replace(other_status.find("kubectl"), 7, "portico");
  EXPECT_EQ(decode(kItem).fingerprint, decode(other_status).fingerprint);
  std::string other_spec(kItem);
  other_spec.replace(other_spec.find("\"number\":80"), 11, "\"number\":81");
  EXPECT_NE(decode(kItem).fingerprint, decode(other_spec).fingerprint);
}

TEST(KubeObject, ABadObjectIsADiagnosticNotACrash) {
  KubeObject o = decode(R"({"metadata":{"name":"x","namespace":"web"},"spec":{"rules":"nope"}})");
  EXPECT_TRUE(o.decoded.objects.ingresses.empty());
  ASSERT_FALSE(o.decoded.diagnostics.empty());
  EXPECT_EQ(o.decoded.diagnostics[0].object, "Ingress web/x");
  KubeObject no_meta = decode(R"({"spec":{}})", "Service", "v1");
  EXPECT_TRUE(no_meta.decoded.objects.services.empty());
  EXPECT_FALSE(no_meta.decoded.diagnostics.empty());
}

}  // namespace
}  // namespace portico::watch
