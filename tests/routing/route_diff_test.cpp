// The routing diff (`portico routes --base`): what a manifest change does to traffic.

#include "routing/route_diff.hpp"

#include <gtest/gtest.h>

#include "tests/routing/compile_yaml.hpp"

namespace portico::routing {
namespace {

using testing::compile_yaml;

std::string ingress(const std::string& paths, const std::string& extra = "") {
  return R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  ingressClassName: portico
)" + extra +
         R"(  rules:
  - host: shop.example
    http:
      paths:
)" + paths;
}

std::string path(const std::string& p, const std::string& service, int port,
                 const std::string& type = "Prefix") {
  return "      - {path: " + p + ", pathType: " + type + ", backend: {service: {name: " + service +
         ", port: {number: " + std::to_string(port) + "}}}}\n";
}

TEST(RouteDiff, SameManifestsHaveNoChanges) {
  auto a = compile_yaml(ingress(path("/cart", "cart", 80)));
  auto b = compile_yaml(ingress(path("/cart", "cart", 80)));
  EXPECT_TRUE(diff_routes(*a.table, *b.table, {"http://shop.example/cart"}).empty());
}

TEST(RouteDiff, AddedRemovedAndChangedRoutes) {
  auto before = compile_yaml(ingress(path("/cart", "cart", 80) + path("/old", "old", 80)));
  auto after = compile_yaml(ingress(path("/cart", "cart-v2", 80) + path("/new", "new", 80)));
  RouteDiff diff = diff_routes(*before.table, *after.table, {});
  ASSERT_EQ(diff.changes.size(), 3u);
  EXPECT_EQ(diff.changes[0].kind, ChangeKind::kChanged);
  EXPECT_EQ(diff.changes[0].path, "/cart");
  EXPECT_EQ(diff.changes[0].before->service, "cart");
  EXPECT_EQ(diff.changes[0].after->service, "cart-v2");
  EXPECT_EQ(diff.changes[1].kind, ChangeKind::kAdded);
  EXPECT_EQ(diff.changes[1].path, "/new");
  EXPECT_FALSE(diff.changes[1].before.has_value());
  EXPECT_EQ(diff.changes[2].kind, ChangeKind::kRemoved);
  EXPECT_EQ(diff.changes[2].path, "/old");
  EXPECT_FALSE(diff.changes[2].after.has_value());
}

TEST(RouteDiff, PathTypeChangeIsARemovedAndAnAddedRoute) {
  auto before = compile_yaml(ingress(path("/cart", "cart", 80)));
  auto after = compile_yaml(ingress(path("/cart", "cart", 80, "Exact")));
  RouteDiff diff = diff_routes(*before.table, *after.table, {"http://shop.example/cart/x"});
  ASSERT_EQ(diff.changes.size(), 2u);
  ASSERT_EQ(diff.resolved.size(), 1u);  // /cart/x now answers 404
  EXPECT_TRUE(diff.resolved[0].before.has_value());
  EXPECT_FALSE(diff.resolved[0].after.has_value());
}

TEST(RouteDiff, TlsSecretAndDefaultBackendChangesCount) {
  auto before = compile_yaml(ingress(path("/", "web", 80)));
  auto after =
      compile_yaml(ingress(path("/", "web", 80),
                           "  defaultBackend: {service: {name: fallback, port: {number: 80}}}\n"
                           "  tls: [{hosts: [shop.example], secretName: shop-tls}]\n"));
  RouteDiff diff = diff_routes(*before.table, *after.table, {});
  int changed = 0, added_default = 0;
  for (const RouteChange& c : diff.changes) {
    if (c.kind == ChangeKind::kChanged && c.after->tls_secret == "shop/shop-tls") ++changed;
    if (c.kind == ChangeKind::kAdded && c.default_backend) ++added_default;
  }
  EXPECT_EQ(changed, 1);
  EXPECT_EQ(added_default, 1);
}

// The issue: "once annotations are honoured, its policy" is part of what a route does.
TEST(RouteDiff, PolicyChangesCount) {
  auto annotated = [](const std::string& annotations) {
    std::string text = ingress(path("/cart", "cart", 80));
    const std::string plain = "metadata: {name: shop, namespace: shop}";
    text.replace(text.find(plain), plain.size(),
                 "metadata: {name: shop, namespace: shop, annotations: {" + annotations + "}}");
    return text;
  };
  auto before = compile_yaml(ingress(path("/cart", "cart", 80)));
  auto timeout = compile_yaml(annotated("nginx.ingress.kubernetes.io/proxy-read-timeout: '5'"));
  auto longer = compile_yaml(annotated("nginx.ingress.kubernetes.io/proxy-read-timeout: '9'"));
  RouteDiff added = diff_routes(*before.table, *timeout.table, {"http://shop.example/cart"});
  ASSERT_EQ(added.changes.size(), 1u);
  EXPECT_EQ(added.changes[0].kind, ChangeKind::kChanged);
  EXPECT_EQ(added.changes[0].before->policy, "");
  EXPECT_NE(added.changes[0].after->policy.find("5s"), std::string::npos)
      << added.changes[0].after->policy;
  EXPECT_EQ(added.resolved.size(), 1u);  // the same backend, answered differently
  RouteDiff changed = diff_routes(*timeout.table, *longer.table, {});
  ASSERT_EQ(changed.changes.size(), 1u);
  EXPECT_NE(changed.changes[0].after->policy.find("9s"), std::string::npos);
  EXPECT_TRUE(diff_routes(*timeout.table, *timeout.table, {}).empty());
}

TEST(RouteDiff, EndpointsAreNotCompared) {
  std::string slice = R"(
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: cart-1, namespace: shop, labels: {kubernetes.io/service-name: cart}}
addressType: IPv4
ports: [{port: 8080}]
endpoints: [{addresses: [10.0.0.1]}]
)";
  auto before = compile_yaml(ingress(path("/cart", "cart", 80)));
  auto after = compile_yaml(ingress(path("/cart", "cart", 80)) + slice);
  EXPECT_TRUE(diff_routes(*before.table, *after.table, {}).empty());
}

}  // namespace
}  // namespace portico::routing
