// Backend resolution (Service port by number or name -> EndpointSlice/Endpoints -> ready
// endpoints), TLS binding, and validation: a bad path or object is an error on that path or object
// only, and everything valid still compiles.

#include <gtest/gtest.h>

#include "tests/routing/compile_yaml.hpp"

namespace portico::routing {
namespace {

using testing::compile_yaml;
using testing::count_diagnostics;
using testing::dump;
using testing::route_for;

constexpr const char* kShopService = R"(
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: web}
spec:
  selector: {app: shop}
  ports:
  - {name: http, port: 80, targetPort: web}
  - {name: admin, port: 9000, targetPort: 9090}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: shop-abc
  namespace: web
  labels: {kubernetes.io/service-name: shop}
addressType: IPv4
ports:
- {name: http, port: 8080}
- {name: admin, port: 9090}
endpoints:
- addresses: [10.1.0.1]
  conditions: {ready: true}
- addresses: [10.1.0.2]
  conditions: {ready: false}
- addresses: [10.1.0.3]
---
)";

std::string shop_ingress(const std::string& port_yaml) {
  return R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: web}
spec:
  rules:
  - host: shop.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: shop
            port: )" +
         port_yaml + "\n";
}

const Cluster& cluster_for(const CompileResult& result, const char* host, const char* path) {
  RouteMatch match = result.table->lookup(host, path);
  EXPECT_TRUE(match);
  return result.table->clusters()[match.cluster];
}

TEST(Backends, PortByNumberReachesTheEndpointSlicePortOfTheSameName) {
  auto result = compile_yaml(std::string(kShopService) + shop_ingress("{number: 80}"));
  EXPECT_TRUE(result.diagnostics.empty()) << dump(result.diagnostics);
  const Cluster& c = cluster_for(result, "shop.example", "/");
  EXPECT_EQ(c.key, "web/shop:80");
  ASSERT_EQ(c.endpoints.size(), 3u);
  EXPECT_EQ(c.endpoints[0].port, 8080);
  EXPECT_TRUE(c.endpoints[0].ready);
  EXPECT_FALSE(c.endpoints[1].ready) << "conditions.ready: false";
  EXPECT_TRUE(c.endpoints[2].ready) << "absent conditions.ready counts as ready";
  EXPECT_EQ(c.ready_count(), 2u);
}

TEST(Backends, PortByNameResolvesToTheSameCluster) {
  auto result = compile_yaml(std::string(kShopService) + shop_ingress("{name: admin}"));
  EXPECT_TRUE(result.diagnostics.empty()) << dump(result.diagnostics);
  const Cluster& c = cluster_for(result, "shop.example", "/");
  EXPECT_EQ(c.key, "web/shop:9000");
  EXPECT_EQ(c.endpoints.at(0).port, 9090);
  EXPECT_EQ(result.table->routes()[result.table->lookup("shop.example", "/").route].port.name,
            "admin");
}

TEST(Backends, MissingServicePortIsAWarningAndTheRouteStays) {
  auto result = compile_yaml(std::string(kShopService) + shop_ingress("{number: 81}"));
  EXPECT_EQ(count_diagnostics(result.diagnostics, Severity::kWarning,
                              "spec.rules[0].http.paths[0].backend", "has no port 81"),
            1)
      << dump(result.diagnostics);
  EXPECT_TRUE(cluster_for(result, "shop.example", "/").endpoints.empty());
}

TEST(Backends, MissingServiceIsAWarningNotAnError) {
  auto result = compile_yaml(shop_ingress("{number: 80}"));
  EXPECT_EQ(count(result.diagnostics, Severity::kError), 0u);
  EXPECT_EQ(count_diagnostics(result.diagnostics, Severity::kWarning,
                              "spec.rules[0].http.paths[0].backend", "answers 503"),
            1);
  EXPECT_FALSE(cluster_for(result, "shop.example", "/").service_found);
}

TEST(Backends, NoReadyEndpointsIsAWarning) {
  auto result = compile_yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: web}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s, namespace: web, labels: {kubernetes.io/service-name: shop}}
ports: [{port: 80}]
endpoints: [{addresses: [10.0.0.9], conditions: {ready: false}}]
---
)" + shop_ingress("{number: 80}"));
  EXPECT_EQ(count_diagnostics(result.diagnostics, Severity::kWarning,
                              "spec.rules[0].http.paths[0].backend", "no ready endpoints"),
            1)
      << dump(result.diagnostics);
}

TEST(Backends, EndpointsAreUsedWhenThereIsNoEndpointSlice) {
  auto result = compile_yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: web}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: shop, namespace: web}
subsets:
- addresses: [{ip: 10.2.0.1}]
  notReadyAddresses: [{ip: 10.2.0.2}]
  ports: [{name: http, port: 8000}]
---
)" + shop_ingress("{name: http}"));
  EXPECT_TRUE(result.diagnostics.empty()) << dump(result.diagnostics);
  const Cluster& c = cluster_for(result, "shop.example", "/");
  ASSERT_EQ(c.endpoints.size(), 2u);
  EXPECT_EQ(c.endpoints[0], (Endpoint{"10.2.0.1", 8000, true, ""}));
  EXPECT_EQ(c.endpoints[1], (Endpoint{"10.2.0.2", 8000, false, ""}));
}

TEST(Backends, ExternalNameResolvesToItsDnsName) {
  auto result = compile_yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: web}
spec: {type: ExternalName, externalName: shop.internal.example}
---
)" + shop_ingress("{number: 443}"));
  EXPECT_TRUE(result.diagnostics.empty()) << dump(result.diagnostics);
  const Cluster& c = cluster_for(result, "shop.example", "/");
  EXPECT_TRUE(c.external_name);
  ASSERT_EQ(c.endpoints.size(), 1u);
  EXPECT_EQ(c.endpoints[0], (Endpoint{"shop.internal.example", 443, true, ""}));
}

TEST(Backends, LegacyServiceNameAndServicePortByName) {
  auto result = compile_yaml(std::string(kShopService) + R"(
apiVersion: networking.k8s.io/v1beta1
kind: Ingress
metadata: {name: old, namespace: web}
spec:
  rules:
  - host: shop.example
    http:
      paths:
      - path: /
        backend: {serviceName: shop, servicePort: http}
)");
  EXPECT_TRUE(result.diagnostics.empty()) << dump(result.diagnostics);
  EXPECT_EQ(cluster_for(result, "shop.example", "/anything").key, "web/shop:80")
      << "a legacy path without pathType is ImplementationSpecific (prefix)";
}

TEST(Tls, HostsOfSpecTlsAreBoundToTheirSecret) {
  auto result = compile_yaml(R"(
apiVersion: v1
kind: Secret
metadata: {name: shop-cert, namespace: web}
type: kubernetes.io/tls
data: {tls.crt: Y2VydA==, tls.key: a2V5}
---
)" + shop_ingress("{number: 80}") +
                             R"(  tls:
  - hosts: [shop.example]
    secretName: shop-cert
)");
  const Route& route = result.table->routes()[result.table->lookup("shop.example", "/").route];
  ASSERT_NE(route.tls, Route::kNone);
  EXPECT_EQ(result.table->tls()[route.tls].secret, "web/shop-cert");
  ASSERT_EQ(result.table->tls().size(), 1u);
  EXPECT_TRUE(result.table->tls()[0].secret_found);
}

TEST(Tls, SslRedirectIsOnUnlessTheIngressTurnsItOff) {
  auto on = compile_yaml(shop_ingress("{number: 80}"));
  EXPECT_TRUE(on.table->routes().at(0).ssl_redirect);
  std::string yaml = shop_ingress("{number: 80}");
  yaml.replace(yaml.find("metadata: {name: shop, namespace: web}"), 38,
               "metadata:\n  name: shop\n  namespace: web\n  annotations:\n"
               "    nginx.ingress.kubernetes.io/ssl-redirect: \"false\"");
  auto off = compile_yaml(yaml);
  EXPECT_FALSE(off.table->routes().at(0).ssl_redirect) << dump(off.diagnostics);
}

TEST(Tls, ASecondSecretForAHostIsAnAlternateBindingNotADrop) {
  // Two spec.tls entries naming shop.example with different Secrets (one may hold an RSA key,
  // the other an ECDSA one: only tls::CertStore can tell). Routes name the first.
  auto result = compile_yaml(R"(
apiVersion: v1
kind: Secret
metadata: {name: shop-rsa, namespace: web}
type: kubernetes.io/tls
data: {tls.crt: Y2VydA==, tls.key: a2V5}
---
apiVersion: v1
kind: Secret
metadata: {name: shop-ecdsa, namespace: web}
type: kubernetes.io/tls
data: {tls.crt: Y2VydA==, tls.key: a2V5}
---
)" + shop_ingress("{number: 80}") +
                             R"(  tls:
  - hosts: [shop.example]
    secretName: shop-rsa
  - hosts: [shop.example]
    secretName: shop-ecdsa
  - hosts: [shop.example]
    secretName: shop-ecdsa
)");
  const auto& tls = result.table->tls();
  ASSERT_EQ(tls.size(), 2u) << "the repeated alternate is bound once";
  EXPECT_EQ(tls[0].secret, "web/shop-rsa");
  EXPECT_FALSE(tls[0].alternate);
  EXPECT_EQ(tls[1].secret, "web/shop-ecdsa");
  EXPECT_EQ(tls[1].host, "shop.example");
  EXPECT_TRUE(tls[1].alternate);
  EXPECT_TRUE(tls[1].secret_found);
  const Route& route = result.table->routes()[result.table->lookup("shop.example", "/").route];
  EXPECT_EQ(tls[route.tls].secret, "web/shop-rsa");
  EXPECT_EQ(count_diagnostics(result.diagnostics, Severity::kInfo, "spec.tls[1].hosts[0]",
                              "RSA key and the other an ECDSA key"),
            1)
      << dump(result.diagnostics);
  for (const auto& d : result.diagnostics) {
    EXPECT_EQ(d.severity == Severity::kWarning && d.field.starts_with("spec.tls"), false)
        << d.message;
  }
}

TEST(Tls, MissingSecretIsAWarning) {
  auto result = compile_yaml(shop_ingress("{number: 80}") + R"(  tls:
  - hosts: [shop.example]
    secretName: nope
)");
  EXPECT_EQ(count_diagnostics(result.diagnostics, Severity::kWarning, "spec.tls[0].secretName",
                              "web/nope"),
            1)
      << dump(result.diagnostics);
  EXPECT_FALSE(result.table->tls().at(0).secret_found);
}

// --- validation: errors name the field, and only the bad part is left out

struct InvalidCase {
  const char* rule;
  const char* path_yaml;  // the whole "- path: ..." entry of paths[1]
  const char* field;
  const char* message_part;
};

class InvalidPaths : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidPaths, AreErrorsOnThatPathOnly) {
  const InvalidCase& c = GetParam();
  std::string yaml = std::string(R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: web}
spec:
  rules:
  - host: shop.example
    http:
      paths:
      - {path: /good, pathType: Prefix, backend: {service: {name: good, port: {number: 80}}}}
)") + "      " + c.path_yaml +
                     "\n";
  auto result = compile_yaml(yaml);
  EXPECT_EQ(count_diagnostics(result.diagnostics, Severity::kError, c.field, c.message_part), 1)
      << c.rule << "\n"
      << dump(result.diagnostics);
  EXPECT_EQ(count(result.diagnostics, Severity::kError), 1u) << dump(result.diagnostics);
  EXPECT_EQ(route_for(*result.table, "shop.example", "/good"), "good:80");
  EXPECT_EQ(result.table->routes().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Spec, InvalidPaths,
    ::testing::Values(
        InvalidCase{"empty service name",
                    "- {path: /x, pathType: Prefix, backend: {service: {name: '', port: {number: "
                    "80}}}}",
                    "spec.rules[0].http.paths[1].backend.service.name", "is required"},
        InvalidCase{"path must be absolute",
                    "- {path: x, pathType: Prefix, backend: {service: {name: s, port: {number: "
                    "80}}}}",
                    "spec.rules[0].http.paths[1].path", "absolute"},
        InvalidCase{"Exact path without leading slash",
                    "- {path: 'x/y', pathType: Exact, backend: {service: {name: s, port: {number: "
                    "80}}}}",
                    "spec.rules[0].http.paths[1].path", "absolute"},
        InvalidCase{"Prefix with //",
                    "- {path: '/a//b', pathType: Prefix, backend: {service: {name: s, port: "
                    "{number: 80}}}}",
                    "spec.rules[0].http.paths[1].path", "'//'"},
        InvalidCase{"pathType required in v1",
                    "- {path: /x, backend: {service: {name: s, port: {number: 80}}}}",
                    "spec.rules[0].http.paths[1].pathType", "is required"},
        InvalidCase{"pathType is case-sensitive",
                    "- {path: /x, pathType: prefix, backend: {service: {name: s, port: {number: "
                    "80}}}}",
                    "spec.rules[0].http.paths[1].pathType", "did you mean \"Prefix\""},
        InvalidCase{"both service and resource",
                    "- {path: /x, pathType: Prefix, backend: {service: {name: s, port: {number: "
                    "80}}, resource: {apiGroup: k8s.example.com, kind: StorageBucket, name: b}}}",
                    "spec.rules[0].http.paths[1].backend", "both"},
        InvalidCase{"port out of range",
                    "- {path: /x, pathType: Prefix, backend: {service: {name: s, port: {number: "
                    "70000}}}}",
                    "spec.rules[0].http.paths[1].backend.service.port.number", "1-65535"},
        InvalidCase{"port missing", "- {path: /x, pathType: Prefix, backend: {service: {name: s}}}",
                    "spec.rules[0].http.paths[1].backend.service.port", "is required"},
        InvalidCase{"service name not a DNS label",
                    "- {path: /x, pathType: Prefix, backend: {service: {name: Web_1, port: "
                    "{number: 80}}}}",
                    "spec.rules[0].http.paths[1].backend.service.name", "DNS-1035"}));

TEST(Validation, InvalidHostIsAnErrorOnThatRuleOnly) {
  auto result = compile_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  rules:
  - host: Shop.Example
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}
  - host: "*.*.example"
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}
  - host: 10.0.0.1
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}
  - host: ok.example
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: b, port: {number: 80}}}}]}
)");
  EXPECT_EQ(
      count_diagnostics(result.diagnostics, Severity::kError, "spec.rules[0].host", "lower case"),
      1)
      << dump(result.diagnostics);
  EXPECT_EQ(
      count_diagnostics(result.diagnostics, Severity::kError, "spec.rules[1].host", "wildcard"), 1);
  EXPECT_EQ(
      count_diagnostics(result.diagnostics, Severity::kError, "spec.rules[2].host", "IP address"),
      1);
  EXPECT_EQ(route_for(*result.table, "ok.example", "/"), "b:80");
}

TEST(Validation, IngressWithNeitherRulesNorDefaultBackendIsAnError) {
  auto result = compile_yaml(
      "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: empty}\nspec: {}\n");
  EXPECT_EQ(count_diagnostics(result.diagnostics, Severity::kError, "spec", "neither"), 1);
}

TEST(Validation, DiagnosticsCarryFileAndLineOfThePath) {
  auto result = compile_yaml(R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  rules:
  - http:
      paths:
      - path: nope
        pathType: Exact
        backend: {service: {name: a, port: {number: 80}}}
)");
  ASSERT_EQ(count(result.diagnostics, Severity::kError), 1u) << dump(result.diagnostics);
  const Diagnostic& d = result.diagnostics[0];
  EXPECT_EQ(d.file, "test.yaml");
  EXPECT_EQ(d.line, 8);
  EXPECT_EQ(d.object, "Ingress default/shop");
  EXPECT_EQ(d.field, "spec.rules[0].http.paths[0].path");
}

TEST(RouteTableIdentity, RecompilingTheSameObjectsGivesTheSameTable) {
  std::string yaml = std::string(kShopService) + shop_ingress("{number: 80}");
  auto a = compile_yaml(yaml);
  auto b = compile_yaml(yaml);
  EXPECT_TRUE(a.table->same_as(*b.table));
  auto c = compile_yaml(std::string(kShopService) + shop_ingress("{number: 9000}"));
  EXPECT_FALSE(a.table->same_as(*c.table));
}

}  // namespace
}  // namespace portico::routing
