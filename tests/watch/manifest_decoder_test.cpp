#include "watch/manifest_decoder.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>

namespace portico::watch {
namespace {

using routing::Diagnostic;
using routing::Severity;

// 1-based line of the first occurrence of `needle` in `text`.
int line_of(std::string_view text, std::string_view needle) {
  auto pos = text.find(needle);
  EXPECT_NE(pos, std::string_view::npos) << needle;
  int line = 1;
  for (std::size_t i = 0; i < pos && i < text.size(); ++i) line += text[i] == '\n';
  return line;
}

std::string all(const routing::Diagnostics& diagnostics) {
  std::string out;
  for (const Diagnostic& d : diagnostics) out += routing::format(d) + "\n";
  return out;
}

constexpr std::string_view kIngressV1 = R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: cart
  namespace: shop
spec:
  ingressClassName: portico
  defaultBackend:
    service:
      name: fallback
      port:
        number: 8080
  tls:
  - hosts: [shop.example.com]
    secretName: shop-tls
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /cart
        pathType: Prefix
        backend:
          service:
            name: cart
            port:
              number: 80
      - path: /api
        pathType: Exact
        backend:
          service:
            name: api
            port:
              name: http
)";

TEST(ManifestDecoder, DecodesEveryDocumentOfAMultiDocumentFile) {
  std::string text = std::string(kIngressV1) + R"(---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec:
  ports: [{port: 80}]
---
# only a comment: an empty document
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
...
)";
  DecodeResult result = decode_manifests(text, "shop.yaml");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.ingresses.size(), 1u);
  ASSERT_EQ(result.objects.services.size(), 2u);
  EXPECT_EQ(result.objects.services[0].meta.name, "cart");
  EXPECT_EQ(result.objects.services[1].meta.name, "api");
  EXPECT_EQ(result.objects.services[0].meta.origin.file, "shop.yaml");
  EXPECT_EQ(result.objects.services[0].meta.origin.line, line_of(text, "apiVersion: v1"));
}

TEST(ManifestDecoder, ASyntaxErrorInOneDocumentStillDecodesTheOthers) {
  std::string text = R"(apiVersion: v1
kind: Service
metadata: {name: one}
---
apiVersion: v1
kind: Service
metadata: {name: two
  broken: [
---
apiVersion: v1
kind: Service
metadata: {name: three}
)";
  DecodeResult result = decode_manifests(text, "svc.yaml");
  ASSERT_EQ(result.objects.services.size(), 2u);
  EXPECT_EQ(result.objects.services[0].meta.name, "one");
  EXPECT_EQ(result.objects.services[1].meta.name, "three");
  EXPECT_EQ(result.objects.services[1].meta.origin.line, 10);
  ASSERT_EQ(result.diagnostics.size(), 1u) << all(result.diagnostics);
  const Diagnostic& d = result.diagnostics[0];
  EXPECT_EQ(d.severity, Severity::kError);
  EXPECT_EQ(d.file, "svc.yaml");
  EXPECT_GE(d.line, 7);  // where the parser noticed, inside document 2
  EXPECT_LE(d.line, 9);
  EXPECT_FALSE(d.message.empty());
}

TEST(ManifestDecoder, DecodesAJsonFile) {
  std::string text = R"({
  "apiVersion": "networking.k8s.io/v1",
  "kind": "Ingress",
  "metadata": {"name": "cart", "namespace": "shop", "annotations": {"a/b": "c"}},
  "spec": {
    "rules": [{"host": "shop.example.com", "http": {"paths": [
      {"path": "/", "pathType": "Prefix",
       "backend": {"service": {"name": "cart", "port": {"number": 80}}}}
    ]}}]
  }
})";
  DecodeResult result = decode_manifests(text, "cart.json");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.ingresses.size(), 1u);
  const routing::Ingress& ingress = result.objects.ingresses[0];
  EXPECT_EQ(ingress.meta.annotations.at("a/b"), "c");
  ASSERT_EQ(ingress.rules.size(), 1u);
  ASSERT_EQ(ingress.rules[0].paths.size(), 1u);
  EXPECT_EQ(ingress.rules[0].paths[0].backend.service_port.number, 80);
  EXPECT_EQ(ingress.rules[0].paths[0].line, line_of(text, R"({"path": "/")"));
}

TEST(ManifestDecoder, TextAfterTheEndOfAJsonDocumentIsAnError) {
  DecodeResult result = decode_manifests(
      R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cart"}},)", "cart.json");
  EXPECT_EQ(result.objects.services.size(), 1u);
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].line, 1);
  EXPECT_EQ(result.diagnostics[0].message, "unexpected text after the end of the document");
}

TEST(ManifestDecoder, AQuotedPortNumberInJsonIsATypeError) {
  std::string text = R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cart"},
 "spec": {"ports": [{"port": "80"}]}})";
  DecodeResult result = decode_manifests(text, "cart.json");
  EXPECT_TRUE(result.objects.services.empty());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].field, "spec.ports[0].port");
  EXPECT_EQ(result.diagnostics[0].message,
            "expected a port number from 1 to 65535, found the quoted string \"80\"");
}

TEST(ManifestDecoder, DecodesEachItemOfAKubectlListInYaml) {
  std::string text = R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: cart, namespace: shop}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: ignored}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: cart-1
    namespace: shop
    labels: {kubernetes.io/service-name: cart}
  endpoints: [{addresses: [10.0.0.1]}]
)";
  DecodeResult result = decode_manifests(text, "list.yaml");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.services.size(), 1u);
  ASSERT_EQ(result.objects.endpoint_slices.size(), 1u);
  EXPECT_EQ(result.objects.endpoint_slices[0].service_name, "cart");
  EXPECT_EQ(result.objects.services[0].meta.origin.line, line_of(text, "- apiVersion: v1\n"));
}

TEST(ManifestDecoder, DecodesATypedListInJsonWhoseItemsOmitKind) {
  // The API server writes IngressList items without kind and apiVersion; kubectl adds them.
  std::string text = R"({"apiVersion": "networking.k8s.io/v1", "kind": "IngressList",
 "metadata": {"resourceVersion": "42"},
 "items": [
  {"metadata": {"name": "a", "namespace": "shop"}, "spec": {}},
  {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
   "metadata": {"name": "b", "namespace": "shop"}, "spec": {}}
 ]})";
  DecodeResult result = decode_manifests(text, "ingresses.json");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.ingresses.size(), 2u);
  EXPECT_EQ(result.objects.ingresses[0].meta.name, "a");
  EXPECT_EQ(result.objects.ingresses[0].api_version, "networking.k8s.io/v1");
  EXPECT_EQ(result.objects.ingresses[1].meta.name, "b");
}

TEST(ManifestDecoder, ErrorsInListItemsHaveFieldPathsStartingAtTheItem) {
  std::string text = R"(apiVersion: v1
kind: ServiceList
items:
- metadata: {name: good}
- metadata: {name: bad, namespace: shop}
  spec:
    ports:
    - port: 70000
)";
  DecodeResult result = decode_manifests(text, "services.yaml");
  ASSERT_EQ(result.objects.services.size(), 1u);
  EXPECT_EQ(result.objects.services[0].meta.name, "good");
  ASSERT_EQ(result.diagnostics.size(), 1u);
  const Diagnostic& d = result.diagnostics[0];
  EXPECT_EQ(d.object, "Service shop/bad");
  EXPECT_EQ(d.field, "items[1].spec.ports[0].port");
  EXPECT_EQ(d.line, line_of(text, "70000"));
  EXPECT_EQ(d.message, "expected a port number from 1 to 65535, found \"70000\"");
}

routing::Ingress decode_one_ingress(std::string_view text) {
  DecodeResult result = decode_manifests(text, "ingress.yaml");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  EXPECT_EQ(result.objects.ingresses.size(), 1u);
  return result.objects.ingresses.empty() ? routing::Ingress{} : result.objects.ingresses[0];
}

TEST(ManifestDecoder, LegacyIngressFormsDecodeIntoTheSameModelAsV1) {
  auto legacy = [](std::string_view api_version) {
    return "apiVersion: " + std::string(api_version) + R"(
kind: Ingress
metadata: {name: cart, namespace: shop}
spec:
  backend: {serviceName: fallback, servicePort: 8080}
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /cart
        pathType: Prefix
        backend: {serviceName: cart, servicePort: 80}
      - path: /api
        pathType: Exact
        backend: {serviceName: api, servicePort: http}
)";
  };
  routing::Ingress v1 = decode_one_ingress(kIngressV1);
  EXPECT_FALSE(v1.legacy);
  for (std::string_view version : {"extensions/v1beta1", "networking.k8s.io/v1beta1"}) {
    SCOPED_TRACE(version);
    routing::Ingress old = decode_one_ingress(legacy(version));
    EXPECT_TRUE(old.legacy);
    EXPECT_EQ(old.api_version, version);
    ASSERT_TRUE(old.default_backend.has_value());
    EXPECT_TRUE(old.default_backend->has_service);
    EXPECT_TRUE(old.default_backend->has_port);
    EXPECT_EQ(old.default_backend->service_name, v1.default_backend->service_name);
    EXPECT_EQ(old.default_backend->service_port.number, v1.default_backend->service_port.number);
    ASSERT_EQ(old.rules.size(), 1u);
    ASSERT_EQ(old.rules[0].paths.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
      const routing::HttpIngressPath& a = old.rules[0].paths[i];
      const routing::HttpIngressPath& b = v1.rules[0].paths[i];
      EXPECT_EQ(a.path, b.path);
      EXPECT_EQ(a.path_type, b.path_type);
      EXPECT_EQ(a.backend.has_service, b.backend.has_service);
      EXPECT_EQ(a.backend.has_port, b.backend.has_port);
      EXPECT_EQ(a.backend.service_name, b.backend.service_name);
      EXPECT_EQ(a.backend.service_port.number, b.backend.service_port.number);
      EXPECT_EQ(a.backend.service_port.name, b.backend.service_port.name);
    }
  }
}

TEST(ManifestDecoder, StoresWhatIsWrittenWithoutValidatingIt) {
  routing::Ingress ingress = decode_one_ingress(R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: loose}
spec:
  rules:
  - host: a.example.com
  - http:
      paths:
      - path: relative
        backend:
          service: {name: ""}
      - backend:
          resource: {apiGroup: k8s.example.com, kind: StorageBucket, name: assets}
)");
  EXPECT_FALSE(ingress.ingress_class_name.has_value());
  EXPECT_FALSE(ingress.default_backend.has_value());
  ASSERT_EQ(ingress.rules.size(), 2u);
  EXPECT_FALSE(ingress.rules[0].has_http);
  EXPECT_TRUE(ingress.rules[1].has_http);
  EXPECT_EQ(ingress.rules[1].host, "");
  ASSERT_EQ(ingress.rules[1].paths.size(), 2u);
  const routing::HttpIngressPath& relative = ingress.rules[1].paths[0];
  EXPECT_EQ(relative.path, "relative");
  EXPECT_EQ(relative.path_type, "");
  EXPECT_TRUE(relative.backend.has_service);
  EXPECT_EQ(relative.backend.service_name, "");
  EXPECT_FALSE(relative.backend.has_port);
  EXPECT_FALSE(relative.backend.service_port.is_set());
  const routing::IngressBackend& resource = ingress.rules[1].paths[1].backend;
  EXPECT_FALSE(resource.has_service);
  EXPECT_TRUE(resource.has_resource);
  EXPECT_EQ(resource.resource_kind, "StorageBucket");
  EXPECT_EQ(resource.resource_name, "assets");
}

TEST(ManifestDecoder, RecordsTheLineOfEveryObjectAndField) {
  std::string text = "# leading comment\n---\n" + std::string(kIngressV1);
  routing::Ingress ingress = decode_one_ingress(text);
  EXPECT_EQ(ingress.meta.origin.line, line_of(text, "apiVersion"));
  EXPECT_EQ(ingress.meta.origin.file, "ingress.yaml");
  ASSERT_TRUE(ingress.default_backend.has_value());
  EXPECT_EQ(ingress.default_backend->line, line_of(text, "    service:\n      name: fallback"));
  ASSERT_EQ(ingress.tls.size(), 1u);
  EXPECT_EQ(ingress.tls[0].line, line_of(text, "hosts:"));
  ASSERT_EQ(ingress.rules.size(), 1u);
  EXPECT_EQ(ingress.rules[0].line, line_of(text, "host: shop"));
  ASSERT_EQ(ingress.rules[0].paths.size(), 2u);
  EXPECT_EQ(ingress.rules[0].paths[1].line, line_of(text, "path: /api"));
  EXPECT_EQ(ingress.rules[0].paths[1].backend.line,
            line_of(text, "service:\n            name: api"));
}

TEST(ManifestDecoder, ATypeErrorNamesObjectFieldPathAndLineAndLeavesOnlyThatObjectOut) {
  std::string text = R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: cart, namespace: shop}
spec:
  rules:
  - host: a.example.com
  - host: b.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: cart
            port: {number: http}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: other, namespace: shop}
)";
  DecodeResult result = decode_manifests(text, "cart.yaml");
  ASSERT_EQ(result.objects.ingresses.size(), 1u);
  EXPECT_EQ(result.objects.ingresses[0].meta.name, "other");
  ASSERT_EQ(result.diagnostics.size(), 1u);
  const Diagnostic& d = result.diagnostics[0];
  EXPECT_EQ(d.severity, Severity::kError);
  EXPECT_EQ(d.file, "cart.yaml");
  EXPECT_EQ(d.line, line_of(text, "port: {number"));
  EXPECT_EQ(d.object, "Ingress shop/cart");
  EXPECT_EQ(d.field, "spec.rules[1].http.paths[0].backend.service.port.number");
  EXPECT_EQ(d.message,
            "expected an integer port number (a port given by name goes in port.name), found "
            "\"http\"");
}

TEST(ManifestDecoder, AMapWhereAListIsExpectedIsATypeError) {
  std::string text = R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: cart}
spec:
  rules:
    host: a.example.com
  tls:
  - hosts: a.example.com
)";
  DecodeResult result = decode_manifests(text, "cart.yaml");
  EXPECT_TRUE(result.objects.ingresses.empty());
  ASSERT_EQ(result.diagnostics.size(), 2u) << all(result.diagnostics);
  EXPECT_EQ(result.diagnostics[0].object, "Ingress default/cart");
  EXPECT_EQ(result.diagnostics[0].field, "spec.rules");
  EXPECT_EQ(result.diagnostics[0].line, line_of(text, "host:"));
  EXPECT_EQ(result.diagnostics[0].message, "expected a list, found a map");
  EXPECT_EQ(result.diagnostics[1].field, "spec.tls[0].hosts");
  EXPECT_EQ(result.diagnostics[1].message, "expected a list, found \"a.example.com\"");
}

TEST(ManifestDecoder, AnnotationValuesMustBeStringsButUnquotedScalarsKeepTheirText) {
  std::string text = R"(apiVersion: v1
kind: Service
metadata:
  name: cart
  labels: {tier: 3}
  annotations:
    portico.io/retries: 3
    portico.io/websocket: true
    portico.io/timeout: "30s"
---
apiVersion: v1
kind: Service
metadata:
  name: bad
  annotations:
    portico.io/allow: [10.0.0.0/8]
)";
  DecodeResult result = decode_manifests(text, "svc.yaml");
  ASSERT_EQ(result.objects.services.size(), 1u);
  const routing::ObjectMeta& meta = result.objects.services[0].meta;
  EXPECT_EQ(meta.labels.at("tier"), "3");
  EXPECT_EQ(meta.annotations.at("portico.io/retries"), "3");
  EXPECT_EQ(meta.annotations.at("portico.io/websocket"), "true");
  EXPECT_EQ(meta.annotations.at("portico.io/timeout"), "30s");
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].object, "Service default/bad");
  EXPECT_EQ(result.diagnostics[0].field, "metadata.annotations[portico.io/allow]");
  EXPECT_EQ(result.diagnostics[0].message, "expected a string, found a list");
}

TEST(ManifestDecoder, SkipsUnknownKindsSilently) {
  DecodeResult result = decode_manifests(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
---
apiVersion: batch/v1
kind: Job
spec: [whatever]
)",
                                         "misc.yaml");
  EXPECT_EQ(result.objects.size(), 0u);
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
}

TEST(ManifestDecoder, AnApiVersionThatNeverExistedForAKnownKindIsAnError) {
  std::string text = R"(apiVersion: v1/beta2
kind: Ingress
metadata: {name: cart, namespace: shop}
)";
  DecodeResult result = decode_manifests(text, "cart.yaml");
  EXPECT_TRUE(result.objects.ingresses.empty());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  const Diagnostic& d = result.diagnostics[0];
  EXPECT_EQ(d.line, 1);
  EXPECT_EQ(d.object, "Ingress shop/cart");
  EXPECT_EQ(d.field, "apiVersion");
  EXPECT_EQ(d.message,
            "unknown apiVersion \"v1/beta2\" for Ingress; accepted: networking.k8s.io/v1, "
            "networking.k8s.io/v1beta1, extensions/v1beta1");
}

TEST(ManifestDecoder, ADocumentWithoutKindOrApiVersionOrThatIsNotAMapIsAnError) {
  std::string text = R"(apiVersion: v1
metadata: {name: a}
---
kind: Service
metadata: {name: b}
---
- just
- a list
)";
  DecodeResult result = decode_manifests(text, "bad.yaml");
  EXPECT_EQ(result.objects.size(), 0u);
  ASSERT_EQ(result.diagnostics.size(), 3u) << all(result.diagnostics);
  EXPECT_EQ(result.diagnostics[0].field, "kind");
  EXPECT_EQ(result.diagnostics[0].line, 1);
  EXPECT_EQ(result.diagnostics[1].field, "apiVersion");
  EXPECT_EQ(result.diagnostics[1].line, 4);
  EXPECT_EQ(result.diagnostics[2].field, "");
  EXPECT_EQ(result.diagnostics[2].line, 7);
  EXPECT_EQ(
      result.diagnostics[2].message,
      "expected a Kubernetes object (a map with apiVersion, kind and metadata), found a list");
}

TEST(ManifestDecoder, AnObjectWithoutANameIsAnErrorAndLeftOut) {
  DecodeResult result = decode_manifests(R"(apiVersion: v1
kind: Service
metadata:
  namespace: shop
)",
                                         "svc.yaml");
  EXPECT_TRUE(result.objects.services.empty());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].object, "Service");
  EXPECT_EQ(result.diagnostics[0].field, "metadata.name");
  EXPECT_EQ(result.diagnostics[0].line, 4);
}

TEST(ManifestDecoder, AnObjectWithoutNamespaceIsInDefaultAndAnIngressClassHasNone) {
  DecodeResult result = decode_manifests(R"(apiVersion: v1
kind: Service
metadata: {name: cart, resourceVersion: "7", uid: abc, creationTimestamp: "2024-05-01T10:00:00Z"}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: portico
  namespace: ignored
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: portico.io/ingress-controller}
)",
                                         "objects.yaml");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.services.size(), 1u);
  const routing::ObjectMeta& meta = result.objects.services[0].meta;
  EXPECT_EQ(meta.namespace_, "default");
  EXPECT_EQ(meta.resource_version, "7");
  EXPECT_EQ(meta.uid, "abc");
  EXPECT_EQ(meta.creation_timestamp, "2024-05-01T10:00:00Z");
  ASSERT_EQ(result.objects.ingress_classes.size(), 1u);
  const routing::IngressClass& ingress_class = result.objects.ingress_classes[0];
  EXPECT_EQ(ingress_class.meta.namespace_, "");
  EXPECT_EQ(ingress_class.controller, "portico.io/ingress-controller");
  EXPECT_TRUE(ingress_class.is_default());
}

TEST(ManifestDecoder, DecodesServicePortsSelectorAndType) {
  DecodeResult result = decode_manifests(R"(apiVersion: v1
kind: Service
metadata: {name: cart}
spec:
  selector: {app: cart}
  clusterIP: None
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: grpc, port: 9000, targetPort: grpc, protocol: TCP}
  - {port: 81}
---
apiVersion: v1
kind: Service
metadata: {name: external}
spec: {type: ExternalName, externalName: db.example.com}
)",
                                         "svc.yaml");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.services.size(), 2u);
  const routing::Service& cart = result.objects.services[0];
  EXPECT_EQ(cart.type, "ClusterIP");
  EXPECT_TRUE(cart.is_headless());
  EXPECT_TRUE(cart.has_selector);
  EXPECT_EQ(cart.selector.at("app"), "cart");
  ASSERT_EQ(cart.ports.size(), 3u);
  EXPECT_EQ(cart.ports[0].target_port.number, 8080);
  EXPECT_EQ(cart.ports[1].target_port.name, "grpc");
  EXPECT_EQ(cart.ports[2].protocol, "TCP");
  EXPECT_FALSE(cart.ports[2].target_port.is_set());
  const routing::Service& external = result.objects.services[1];
  EXPECT_TRUE(external.is_external_name());
  EXPECT_EQ(external.external_name, "db.example.com");
  EXPECT_FALSE(external.has_selector);
}

TEST(ManifestDecoder, DecodesEndpointSliceConditionsAsWritten) {
  DecodeResult result = decode_manifests(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: cart-abc
  namespace: shop
  labels: {kubernetes.io/service-name: cart}
addressType: IPv4
ports:
- {name: http, port: 8080, protocol: TCP}
endpoints:
- addresses: [10.0.0.1]
  conditions: {ready: true}
  nodeName: node-a
  zone: eu-1a
- addresses: [10.0.0.2]
  conditions: {ready: false, serving: true, terminating: true}
- addresses: [10.0.0.3, 10.0.0.4]
  hostname: pod-3
)",
                                         "slice.yaml");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.endpoint_slices.size(), 1u);
  const routing::EndpointSlice& slice = result.objects.endpoint_slices[0];
  EXPECT_EQ(slice.service_name, "cart");
  EXPECT_EQ(slice.address_type, "IPv4");
  ASSERT_EQ(slice.ports.size(), 1u);
  EXPECT_EQ(slice.ports[0].name, "http");
  EXPECT_EQ(slice.ports[0].port, 8080);
  ASSERT_EQ(slice.endpoints.size(), 3u);
  EXPECT_EQ(slice.endpoints[0].ready, true);
  EXPECT_EQ(slice.endpoints[0].serving, std::nullopt);
  EXPECT_EQ(slice.endpoints[0].node_name, "node-a");
  EXPECT_EQ(slice.endpoints[0].zone, "eu-1a");
  EXPECT_EQ(slice.endpoints[1].ready, false);
  EXPECT_EQ(slice.endpoints[1].serving, true);
  EXPECT_EQ(slice.endpoints[1].terminating, true);
  EXPECT_EQ(slice.endpoints[2].ready, std::nullopt);
  EXPECT_EQ(slice.endpoints[2].hostname, "pod-3");
  EXPECT_EQ(slice.endpoints[2].addresses, (std::vector<std::string>{"10.0.0.3", "10.0.0.4"}));
}

TEST(ManifestDecoder, AConditionThatIsNotABooleanIsATypeError) {
  DecodeResult result = decode_manifests(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: cart-abc}
endpoints:
- addresses: [10.0.0.1]
  conditions: {ready: "yes"}
)",
                                         "slice.yaml");
  EXPECT_TRUE(result.objects.endpoint_slices.empty());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].field, "endpoints[0].conditions.ready");
  EXPECT_EQ(result.diagnostics[0].message,
            "expected true or false, found the quoted string \"yes\"");
}

TEST(ManifestDecoder, DecodesEndpointsSubsets) {
  DecodeResult result = decode_manifests(R"(apiVersion: v1
kind: Endpoints
metadata: {name: cart, namespace: shop}
subsets:
- addresses: [{ip: 10.0.0.1, hostname: a}]
  notReadyAddresses: [{ip: 10.0.0.2}]
  ports: [{name: http, port: 8080}]
)",
                                         "endpoints.yaml");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.endpoints.size(), 1u);
  const routing::Endpoints& endpoints = result.objects.endpoints[0];
  ASSERT_EQ(endpoints.subsets.size(), 1u);
  ASSERT_EQ(endpoints.subsets[0].addresses.size(), 1u);
  EXPECT_EQ(endpoints.subsets[0].addresses[0].ip, "10.0.0.1");
  EXPECT_EQ(endpoints.subsets[0].addresses[0].hostname, "a");
  ASSERT_EQ(endpoints.subsets[0].not_ready_addresses.size(), 1u);
  EXPECT_EQ(endpoints.subsets[0].not_ready_addresses[0].ip, "10.0.0.2");
  ASSERT_EQ(endpoints.subsets[0].ports.size(), 1u);
  EXPECT_EQ(endpoints.subsets[0].ports[0].port, 8080);
  EXPECT_EQ(endpoints.subsets[0].ports[0].protocol, "TCP");
}

TEST(ManifestDecoder, KeepsOnlyTlsSecretsFromDataOrStringData) {
  DecodeResult result = decode_manifests(R"(apiVersion: v1
kind: Secret
metadata: {name: password}
type: Opaque
data: {password: aHVudGVyMg==}
---
apiVersion: v1
kind: Secret
metadata: {name: untyped}
data: {tls.crt: [not, even, a, string]}
---
apiVersion: v1
kind: Secret
metadata: {name: shop-tls}
type: kubernetes.io/tls
data: {tls.crt: Q0VSVA==, tls.key: S0VZ}
---
apiVersion: v1
kind: Secret
metadata: {name: plain-tls}
type: kubernetes.io/tls
stringData:
  tls.crt: |
    -----BEGIN CERTIFICATE-----
    MIIB
    -----END CERTIFICATE-----
  tls.key: KEY
)",
                                         "secrets.yaml");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.secrets.size(), 2u);
  const routing::Secret& encoded = result.objects.secrets[0];
  EXPECT_EQ(encoded.meta.name, "shop-tls");
  EXPECT_EQ(encoded.type, "kubernetes.io/tls");
  EXPECT_EQ(encoded.tls_crt, "Q0VSVA==");
  EXPECT_EQ(encoded.tls_key, "S0VZ");
  EXPECT_FALSE(encoded.string_data);
  const routing::Secret& plain = result.objects.secrets[1];
  EXPECT_TRUE(plain.string_data);
  EXPECT_EQ(plain.tls_crt, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  EXPECT_EQ(plain.tls_key, "KEY");
}

TEST(ManifestDecoder, BoundsHowFarAliasesExpand) {
  // 200 items x 200 rules x 200 paths: eight million paths from a few kilobytes.
  auto aliases = [](std::string_view anchor) {
    std::string out = "[";
    for (int i = 0; i < 200; ++i) out += (i > 0 ? ", *" : "*") + std::string(anchor);
    return out + "]";
  };
  std::string text = R"(apiVersion: v1
kind: List
path: &p {path: /, backend: {service: {name: s, port: {number: 80}}}}
)";
  text += "rule: &r {host: a, http: {paths: " + aliases("p") + "}}\n";
  text += "ingress: &i {apiVersion: networking.k8s.io/v1, kind: Ingress, metadata: {name: x}, ";
  text += "spec: {rules: " + aliases("r") + "}}\n";
  text += "items: " + aliases("i") + "\n";
  DecodeResult result = decode_manifests(text, "laughs.yaml");
  EXPECT_TRUE(result.objects.ingresses.empty());
  ASSERT_EQ(result.diagnostics.size(), 1u) << all(result.diagnostics);
  EXPECT_EQ(result.diagnostics[0].message,
            "the document expands to too many nodes through aliases; write the repeated parts out");
}

TEST(ManifestDecoder, AListInsideAListIsAnError) {
  DecodeResult result = decode_manifests(R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: List
  items: []
)",
                                         "lists.yaml");
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].object, "List");
  EXPECT_EQ(result.diagnostics[0].field, "items[0].kind");
  EXPECT_EQ(result.diagnostics[0].line, 5);
}

TEST(ManifestDecoder, NeverThrowsOnGarbage) {
  std::vector<std::string> inputs = {
      "",
      "---\n---\n...\n",
      "\t\t:\n",
      "{",
      "[[[[[[[[[[[[[[[[[[[[",
      "apiVersion: v1\nkind: Service\nmetadata: *nope\n",
      "%YAML 1.2\n---\napiVersion: v1\nkind: [Service]\n",
      "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\nspec: 5\n",
      "apiVersion: v1\nkind: List\nitems: [1, null, [], {kind: List, apiVersion: v1, items: 3}]\n",
      "? [complex, key]\n: value\n",
      "apiVersion: v1\nkind: List\nitems: &i [{kind: List, apiVersion: v1, items: *i}]\n",
      std::string(5000, '[') + std::string(5000, ']'),
      std::string("\0\xff\xfe\x01", 4),
  };
  std::string base = std::string(kIngressV1);
  std::mt19937 random(12345);
  for (int i = 0; i < 300; ++i) {
    std::string mutated = base;
    for (int edits = 0; edits < 8; ++edits) {
      std::size_t at = random() % mutated.size();
      constexpr std::string_view kAlphabet = "-:[]{}#&*!|>'\"\n \t%@`,?0a";
      mutated[at] = kAlphabet[random() % kAlphabet.size()];
    }
    inputs.push_back(std::move(mutated));
  }
  for (const std::string& input : inputs) {
    EXPECT_NO_THROW(decode_manifests(input, "garbage.yaml"));
    EXPECT_NO_THROW(decode_manifests(input, "garbage.json"));
  }
}

TEST(ManifestDecoder, AJsonFileIsAStreamOfValuesWithTabsAndCrlfBetweenTokens) {
  // kubectl reads concatenated JSON values; JSON allows tabs wherever YAML forbids them.
  std::string text =
      "\t{\r\n\t\"apiVersion\": \"v1\",\r\n\t\"kind\": \"Service\",\r\n"
      "\t\"metadata\": {\"name\": \"one\", \"labels\": {\"brace\": \"}\\\"{\"}}\r\n}\r\n\t\r\n"
      "{\"apiVersion\": \"v1\", \"kind\": \"Service\",\r\n \"metadata\": {\"name\": "
      "\"two\"}}\t\r\n";
  DecodeResult result = decode_manifests(text, "svc.json");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.services.size(), 2u);
  EXPECT_EQ(result.objects.services[0].meta.labels.at("brace"), "}\"{");
  EXPECT_EQ(result.objects.services[0].meta.origin.line, 1);
  EXPECT_EQ(result.objects.services[1].meta.name, "two");
  EXPECT_EQ(result.objects.services[1].meta.origin.line, 7);
}

TEST(ManifestDecoder, AnAliasToAnUndefinedAnchorIsASyntaxErrorThatCostsItsDocument) {
  std::string text = R"(apiVersion: v1
kind: Service
metadata: *nope
---
apiVersion: v1
kind: Service
metadata: {name: two}
)";
  DecodeResult result = decode_manifests(text, "svc.yaml");
  ASSERT_EQ(result.objects.services.size(), 1u);
  EXPECT_EQ(result.objects.services[0].meta.name, "two");
  ASSERT_EQ(result.diagnostics.size(), 1u) << all(result.diagnostics);
  EXPECT_EQ(result.diagnostics[0].line, 3);
  EXPECT_EQ(result.diagnostics[0].message, "the referenced anchor is not defined");
}

TEST(ManifestDecoder, TextThatIsNotUtf8IsASyntaxErrorThatCostsItsDocument) {
  std::string text =
      "apiVersion: v1\nkind: Service\nmetadata: {name: one, labels: {a: caf\xe9}}\n---\n"
      "apiVersion: v1\nkind: Service\nmetadata: {name: two}\n";
  DecodeResult result = decode_manifests(text, "svc.yaml");
  ASSERT_EQ(result.objects.services.size(), 1u);
  EXPECT_EQ(result.objects.services[0].meta.name, "two");
  ASSERT_EQ(result.diagnostics.size(), 1u) << all(result.diagnostics);
  EXPECT_EQ(result.diagnostics[0].line, 3);
  EXPECT_NE(result.diagnostics[0].message.find("UTF-8"), std::string::npos);
}

TEST(ManifestDecoder, CollectionsNestedTooDeepAreASyntaxErrorInsteadOfASlowParse) {
  // libyaml's scanner works per token in proportion to the depth: without a bound, these 100,000
  // levels would take about half a minute.
  std::string text = std::string(100000, '[') + std::string(100000, ']');
  DecodeResult result = decode_manifests(text, "deep.yaml");
  ASSERT_EQ(result.diagnostics.size(), 1u) << all(result.diagnostics);
  EXPECT_EQ(result.diagnostics[0].line, 1);
  EXPECT_EQ(result.diagnostics[0].message, "collections nested more than 500 deep");
}

}  // namespace
}  // namespace portico::watch

// ---- Workloads

namespace portico::watch {
namespace {

TEST(ManifestDecoderWorkloads, ReadsWhatTheChainNeeds) {
  constexpr std::string_view kYaml = R"(apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data, labels: {team: a}}
spec:
  replicas: 3
  serviceName: db-headless
  selector:
    matchLabels: {app: db}
    matchExpressions:
    - {key: tier, operator: In, values: [backend]}
  template:
    metadata:
      labels: {app: db, tier: backend}
    spec:
      containers:
      - name: db
        ports:
        - {name: sql, containerPort: 5432}
        - {containerPort: 9187, protocol: TCP}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: data, labels: {app: db}}
spec:
  containers:
  - ports: [{name: sql, containerPort: 5432}]
status:
  podIP: 10.0.0.9
  conditions:
  - {type: Initialized, status: "True"}
  - {type: Ready, status: "False"}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
)";
  DecodeResult result = decode_manifests(kYaml, "w.yaml");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.workloads.size(), 3u);
  const routing::Workload& sts = result.objects.workloads[0];
  EXPECT_EQ(sts.kind, routing::WorkloadKind::kStatefulSet);
  EXPECT_EQ(sts.meta.namespace_, "data");
  EXPECT_EQ(sts.replicas, 3);
  EXPECT_EQ(sts.service_name, "db-headless");
  ASSERT_TRUE(sts.selector.has_value());
  EXPECT_EQ(sts.selector->match_labels.at("app"), "db");
  ASSERT_EQ(sts.selector->match_expressions.size(), 1u);
  EXPECT_EQ(sts.selector->match_expressions[0].op, "In");
  EXPECT_EQ(sts.template_labels.at("tier"), "backend");
  ASSERT_EQ(sts.ports.size(), 2u);
  EXPECT_EQ(sts.ports[0].name, "sql");
  EXPECT_EQ(sts.ports[1].number, 9187);
  const routing::Workload& pod = result.objects.workloads[1];
  EXPECT_EQ(pod.kind, routing::WorkloadKind::kPod);
  EXPECT_EQ(pod.pod_ip, "10.0.0.9");
  EXPECT_EQ(pod.ready, false);
  EXPECT_EQ(pod.template_labels.at("app"), "db");
  const routing::Workload& rc = result.objects.workloads[2];
  EXPECT_EQ(rc.meta.namespace_, "default");
  EXPECT_EQ(rc.selector->match_labels.at("app"), "legacy");
  EXPECT_TRUE(rc.selector_defaults_to_template());
}

TEST(ManifestDecoderWorkloads, RemovedVersionIsReadWithAWarningNamingTheRelease) {
  for (const char* version : {"extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"}) {
    std::string yaml = std::string("apiVersion: ") + version +
                       "\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n"
                       "    metadata: {labels: {app: web}}\n";
    DecodeResult result = decode_manifests(yaml, "d.yaml");
    ASSERT_EQ(result.objects.workloads.size(), 1u) << version;
    ASSERT_EQ(result.diagnostics.size(), 1u) << version;
    const Diagnostic& d = result.diagnostics[0];
    EXPECT_EQ(d.severity, Severity::kWarning);
    EXPECT_EQ(d.object, "Deployment default/web");
    EXPECT_EQ(d.field, "apiVersion");
    EXPECT_EQ(d.line, 1);
    EXPECT_NE(d.message.find("removed in Kubernetes 1.16; use apps/v1"), std::string::npos)
        << d.message;
  }
}

TEST(ManifestDecoderWorkloads, VersionThatNeverExistedIsAnErrorAndTheObjectIsLeftOut) {
  constexpr std::string_view kYaml = R"(apiVersion: v1/beta2
kind: Deployment
metadata: {name: web}
---
apiVersion: extensions/v1beta1
kind: StatefulSet
metadata: {name: db}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
)";
  DecodeResult result = decode_manifests(kYaml, "d.yaml");
  ASSERT_EQ(result.diagnostics.size(), 2u) << all(result.diagnostics);
  EXPECT_EQ(result.diagnostics[0].severity, Severity::kError);
  EXPECT_EQ(result.diagnostics[0].object, "Deployment default/web");
  EXPECT_NE(result.diagnostics[0].message.find("accepted: apps/v1"), std::string::npos);
  EXPECT_EQ(result.diagnostics[1].object, "StatefulSet default/db");
  ASSERT_EQ(result.objects.workloads.size(), 1u);  // a broken object never hides the others
  EXPECT_EQ(result.objects.workloads[0].kind, routing::WorkloadKind::kDaemonSet);
}

TEST(ManifestDecoderWorkloads, JsonListIsReadItemByItem) {
  constexpr std::string_view kJson = R"({"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "namespace": "n"},
   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}},
                         "spec": {"containers": [{"ports": [{"containerPort": 80}]}]}}}},
  {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"},
   "status": {"podIP": "10.1.1.1"}}
]})";
  DecodeResult result = decode_manifests(kJson, "list.json");
  EXPECT_TRUE(result.diagnostics.empty()) << all(result.diagnostics);
  ASSERT_EQ(result.objects.workloads.size(), 2u);
  EXPECT_EQ(result.objects.workloads[0].replicas, 2);
  EXPECT_EQ(result.objects.workloads[0].ports.at(0).number, 80);
  EXPECT_EQ(result.objects.workloads[1].pod_ip, "10.1.1.1");
}

TEST(ManifestDecoderWorkloads, TypedListGivesItsItemsKindAndVersion) {
  constexpr std::string_view kYaml = R"(apiVersion: apps/v1
kind: DeploymentList
items:
- metadata: {name: a, namespace: n}
  spec:
    selector: {matchLabels: {app: a}}
    template: {metadata: {labels: {app: a}}}
- metadata: {name: b, namespace: n}
  spec:
    replicas: [1]
- metadata: {name: c, namespace: n}
)";
  DecodeResult result = decode_manifests(kYaml, "list.yaml");
  ASSERT_EQ(result.diagnostics.size(), 1u) << all(result.diagnostics);
  EXPECT_EQ(result.diagnostics[0].object, "Deployment n/b");
  EXPECT_EQ(result.diagnostics[0].field, "items[1].spec.replicas");
  ASSERT_EQ(result.objects.workloads.size(), 2u);  // the broken item hides nothing else
  EXPECT_EQ(result.objects.workloads[0].meta.name, "a");
  EXPECT_EQ(result.objects.workloads[1].meta.name, "c");
  EXPECT_EQ(result.objects.workloads[1].api_version, "apps/v1");
}

TEST(ManifestDecoderWorkloads, WrongFieldTypeNamesThePath) {
  constexpr std::string_view kYaml = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: three
)";
  DecodeResult result = decode_manifests(kYaml, "d.yaml");
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].field, "spec.replicas");
  EXPECT_EQ(result.diagnostics[0].line, 5);
  EXPECT_TRUE(result.objects.workloads.empty());
}

}  // namespace
}  // namespace portico::watch
