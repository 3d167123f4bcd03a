// Hosts, merging of several Ingresses, conflicts, default backends and IngressClass selection.

#include <gtest/gtest.h>

#include "tests/routing/compile_yaml.hpp"

namespace portico::routing {
namespace {

using testing::compile_yaml;
using testing::count_diagnostics;
using testing::dump;
using testing::route_for;

// A v1 Ingress with one rule of one Prefix path.
std::string ingress(const std::string& name, const std::string& host, const std::string& path,
                    const std::string& service, const std::string& extra_meta = "",
                    const std::string& ns = "default") {
  std::string yaml =
      "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
      "\n  namespace: " + ns + "\n" + extra_meta + "spec:\n  rules:\n  - ";
  if (!host.empty()) yaml += "host: \"" + host + "\"\n    ";
  yaml += "http:\n      paths:\n      - path: " + path +
          "\n        pathType: Prefix\n        backend:\n          service:\n            name: " +
          service + "\n            port:\n              number: 80\n";
  return yaml;
}

TEST(Hosts, ExactHostBeatsWildcard) {
  auto result = compile_yaml(ingress("a", "*.example.com", "/", "wild") +
                             ingress("b", "shop.example.com", "/", "shop"));
  EXPECT_EQ(route_for(*result.table, "shop.example.com", "/"), "shop:80");
  EXPECT_EQ(route_for(*result.table, "blog.example.com", "/"), "wild:80");
}

TEST(Hosts, WildcardCoversExactlyOneLabel) {
  auto result = compile_yaml(ingress("a", "*.example.com", "/", "wild"));
  const RouteTable& table = *result.table;
  EXPECT_EQ(route_for(table, "a.example.com", "/"), "wild:80");
  EXPECT_EQ(route_for(table, "A.EXAMPLE.COM:443", "/"), "wild:80");
  EXPECT_EQ(route_for(table, "example.com", "/"), "404") << "the apex is not covered";
  EXPECT_EQ(route_for(table, "a.b.example.com", "/"), "404") << "two labels are not covered";
  EXPECT_EQ(route_for(table, ".example.com", "/"), "404") << "an empty label is not covered";
}

TEST(Hosts, RulesWithoutHostApplyToEveryHost) {
  auto result = compile_yaml(ingress("a", "", "/", "any") + ingress("b", "x.example", "/x", "x"));
  const RouteTable& table = *result.table;
  EXPECT_EQ(route_for(table, "whatever.test", "/y"), "any:80");
  EXPECT_EQ(route_for(table, "", "/y"), "any:80") << "HTTP/1.0 without Host";
  EXPECT_EQ(route_for(table, "x.example", "/x"), "x:80");
  // A named host is a virtual host of its own: its unmatched paths do not fall through.
  EXPECT_EQ(route_for(table, "x.example", "/y"), "404");
}

TEST(Merging, RulesOfSeveralIngressesForTheSameHostMerge) {
  auto result = compile_yaml(ingress("a", "shop.example", "/cart", "cart") +
                             ingress("b", "shop.example", "/search", "search", "", "other"));
  EXPECT_EQ(route_for(*result.table, "shop.example", "/cart/1"), "cart:80");
  EXPECT_EQ(route_for(*result.table, "shop.example", "/search"), "search:80");
}

TEST(Merging, IdenticalPathOldestCreationTimestampWins) {
  auto result = compile_yaml(ingress("zzz-old", "shop.example", "/", "old",
                                     "  creationTimestamp: \"2023-01-01T00:00:00Z\"\n") +
                             ingress("aaa-new", "shop.example", "/", "new",
                                     "  creationTimestamp: \"2024-01-01T00:00:00Z\"\n"));
  EXPECT_EQ(route_for(*result.table, "shop.example", "/"), "old:80");
  ASSERT_EQ(count_diagnostics(result.diagnostics, Severity::kWarning,
                              "spec.rules[0].http.paths[0].path", "Ingress default/zzz-old"),
            1)
      << dump(result.diagnostics);
  for (const auto& d : result.diagnostics) {
    if (d.field == "spec.rules[0].http.paths[0].path") {
      EXPECT_EQ(d.object, "Ingress default/aaa-new");
    }
  }
}

TEST(Merging, IdenticalPathWithoutTimestampsNamespaceThenNameWins) {
  auto result = compile_yaml(ingress("b", "shop.example", "/", "in-b", "", "ns1") +
                             ingress("a", "shop.example", "/", "in-a-ns2", "", "ns2") +
                             ingress("a", "shop.example", "/", "in-a", "", "ns1"));
  EXPECT_EQ(route_for(*result.table, "shop.example", "/"), "in-a:80");
  EXPECT_EQ(count(result.diagnostics, Severity::kWarning) -
                static_cast<std::size_t>(count_diagnostics(result.diagnostics, Severity::kWarning,
                                                           "spec.rules[0].http.paths[0].backend")),
            2u)
      << dump(result.diagnostics);
}

TEST(Merging, TrailingSlashVariantsOfAPrefixAreTheSameMatch) {
  auto result = compile_yaml(ingress("a", "h.example", "/foo", "first") +
                             ingress("b", "h.example", "/foo/", "second"));
  EXPECT_EQ(route_for(*result.table, "h.example", "/foo"), "first:80");
  EXPECT_EQ(count_diagnostics(result.diagnostics, Severity::kWarning,
                              "spec.rules[0].http.paths[0].path", "matches exactly"),
            1);
}

TEST(DefaultBackend, IngressWithoutRulesCatchesEverythingUnmatched) {
  auto result = compile_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: fallback}
spec:
  defaultBackend:
    service: {name: catchall, port: {number: 8080}}
)" + ingress("a", "shop.example", "/cart", "cart"));
  const RouteTable& table = *result.table;
  EXPECT_EQ(route_for(table, "unknown.example", "/x"), "default catchall:8080");
  EXPECT_EQ(route_for(table, "shop.example", "/other"), "default catchall:8080");
  EXPECT_EQ(route_for(table, "shop.example", "/cart"), "cart:80");
}

TEST(DefaultBackend, OfAnIngressWithRulesServesOnlyItsOwnHosts) {
  auto result = compile_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  defaultBackend:
    service: {name: shop-home, port: {number: 80}}
  rules:
  - host: shop.example
    http:
      paths:
      - {path: /cart, pathType: Prefix, backend: {service: {name: cart, port: {number: 80}}}}
)");
  const RouteTable& table = *result.table;
  EXPECT_EQ(route_for(table, "shop.example", "/cart"), "cart:80");
  EXPECT_EQ(route_for(table, "shop.example", "/other"), "default shop-home:80");
  EXPECT_EQ(route_for(table, "other.example", "/other"), "404");
}

TEST(DefaultBackend, NoneMeans404) {
  auto result = compile_yaml(ingress("a", "shop.example", "/cart", "cart"));
  EXPECT_EQ(route_for(*result.table, "shop.example", "/"), "404");
  EXPECT_EQ(result.table->default_route(), RouteMatch::kNone);
}

TEST(DefaultBackend, TwoRuleLessIngressesOldestWins) {
  auto result = compile_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: b}
spec: {defaultBackend: {service: {name: second, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: a}
spec: {defaultBackend: {service: {name: first, port: {number: 80}}}}
)");
  EXPECT_EQ(route_for(*result.table, "x", "/"), "default first:80");
  EXPECT_EQ(count_diagnostics(result.diagnostics, Severity::kWarning, "spec.defaultBackend",
                              "Ingress default/a"),
            1)
      << dump(result.diagnostics);
}

TEST(DefaultBackend, LegacySpecBackendIsTheDefaultBackend) {
  auto result = compile_yaml(R"(
apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: legacy}
spec:
  backend: {serviceName: old, servicePort: 8080}
)");
  EXPECT_EQ(route_for(*result.table, "x", "/"), "default old:8080") << dump(result.diagnostics);
}

constexpr const char* kClassless = R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: classless}
spec:
  rules:
  - host: a.example
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}
)";

constexpr const char* kOtherClass = R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: nginx-one}
spec:
  ingressClassName: nginx
  rules:
  - host: b.example
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: b, port: {number: 80}}}}]}
)";

constexpr const char* kOurClassByAnnotation = R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: annotated
  annotations: {kubernetes.io/ingress.class: portico}
spec:
  rules:
  - host: c.example
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: c, port: {number: 80}}}}]}
)";

std::string ingress_class(const std::string& name, bool is_default) {
  return "\n---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: " + name +
         "\n" +
         (is_default ? "  annotations:\n    ingressclass.kubernetes.io/is-default-class: \"true\"\n"
                     : "") +
         "spec:\n  controller: portico.dev/ingress-controller\n---\n";
}

TEST(IngressClassSelection, WithoutIngressClassObjectsClasslessIngressesAreOurs) {
  auto result = compile_yaml(std::string(kClassless) + "---\n" + kOtherClass + "---\n" +
                             kOurClassByAnnotation);
  const RouteTable& table = *result.table;
  EXPECT_EQ(route_for(table, "a.example", "/"), "a:80");
  EXPECT_EQ(route_for(table, "b.example", "/"), "404") << "names another class";
  EXPECT_EQ(route_for(table, "c.example", "/"), "c:80") << "legacy annotation names ours";
  EXPECT_EQ(
      count_diagnostics(result.diagnostics, Severity::kInfo, "spec.ingressClassName", "\"nginx\""),
      1)
      << dump(result.diagnostics);
}

TEST(IngressClassSelection, ClasslessIngressesAreOursOnlyWhenOurClassIsDefault) {
  auto not_default = compile_yaml(ingress_class("portico", false) + kClassless);
  EXPECT_EQ(route_for(*not_default.table, "a.example", "/"), "404");
  auto is_default = compile_yaml(ingress_class("portico", true) + kClassless);
  EXPECT_EQ(route_for(*is_default.table, "a.example", "/"), "a:80");
  auto other_default = compile_yaml(ingress_class("nginx", true) + kClassless);
  EXPECT_EQ(route_for(*other_default.table, "a.example", "/"), "404");
}

TEST(IngressClassSelection, IngressClassFlagChoosesTheClass) {
  CompileOptions options;
  options.ingress_class = "nginx";
  auto result = compile_yaml(std::string(kOtherClass) + "---\n" + kOurClassByAnnotation, options);
  EXPECT_EQ(route_for(*result.table, "b.example", "/"), "b:80");
  EXPECT_EQ(route_for(*result.table, "c.example", "/"), "404");
}

TEST(IngressClassSelection, ControllerNameMustMatchInClusterMode) {
  CompileOptions options;
  options.controller_name = "example.com/other";
  auto result = compile_yaml(ingress_class("portico", true) + kClassless, options);
  EXPECT_EQ(route_for(*result.table, "a.example", "/"), "404");
  EXPECT_EQ(count_diagnostics(result.diagnostics, Severity::kWarning, "spec.controller"), 1);
}

TEST(Namespaces, ObjectsWithoutNamespaceAreInDefault) {
  auto result = compile_yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
ports: [{port: 8080}]
endpoints: [{addresses: [10.0.0.1]}]
)" + ingress("a", "h", "/", "web"));
  EXPECT_TRUE(result.diagnostics.empty()) << dump(result.diagnostics);
  const auto& cluster = result.table->clusters()[result.table->lookup("h", "/").cluster];
  EXPECT_EQ(cluster.key, "default/web:80");
  ASSERT_EQ(cluster.endpoints.size(), 1u);
  EXPECT_EQ(cluster.endpoints[0].address, "10.0.0.1");
  EXPECT_EQ(cluster.endpoints[0].port, 8080);
}

TEST(Namespaces, AnIngressReachesOnlyServicesOfItsOwnNamespace) {
  auto result = compile_yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: web, namespace: other}
spec: {ports: [{port: 80}]}
)" + ingress("a", "h", "/", "web", "", "mine"));
  const auto& cluster = result.table->clusters()[result.table->lookup("h", "/").cluster];
  EXPECT_FALSE(cluster.service_found);
  EXPECT_EQ(count_diagnostics(result.diagnostics, Severity::kWarning,
                              "spec.rules[0].http.paths[0].backend", "mine/web not found"),
            1)
      << dump(result.diagnostics);
}

}  // namespace
}  // namespace portico::routing
