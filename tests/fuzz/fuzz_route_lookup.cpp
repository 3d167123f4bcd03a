// libFuzzer: the compiler plus the matcher. The input is manifest text and lookups, separated by a
// NUL byte; without one, all of it is lookups against a fixed set of Ingresses that uses every
// kind of rule (exact and wildcard hosts, host-less rules, Exact, Prefix, ImplementationSpecific,
// use-regex with rewrite-target, default backends). Each lookup line is "host path".
//
// Besides not crashing, the matcher must keep its contract (route_table.hpp): indices in range;
// a host's case, a trailing dot and a port do not change the result; an Exact or Prefix path of a
// concrete host always finds some route for that host and path.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "routing/compiler.hpp"
#include "watch/manifest_decoder.hpp"

namespace {

constexpr std::string_view kManifests = R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: default}
spec:
  ingressClassName: portico
  defaultBackend: {service: {name: fallback, port: {number: 80}}}
  tls: [{hosts: [shop.example.com], secretName: shop-tls}]
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {name: http}}}}
      - {path: /api/v1/login, pathType: Exact, backend: {service: {name: auth, port: {number: 80}}}}
      - {path: /static/, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
  - host: "*.apps.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: apps, port: {number: 8080}}}}
  - http:
      paths:
      - {path: /healthz, pathType: Exact, backend: {service: {name: health, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: rewrite
  namespace: default
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/rewrite-target: /$2
spec:
  ingressClassName: portico
  rules:
  - host: re.example.com
    http:
      paths:
      - {path: /svc(/|$)(.*), pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{port: 80}]
)";

bool same(portico::routing::RouteMatch a, portico::routing::RouteMatch b) {
  return a.route == b.route && a.cluster == b.cluster;
}

void check(const portico::routing::RouteTable& table, std::string_view host,
           std::string_view path) {
  using portico::routing::RouteMatch;
  const RouteMatch match = table.lookup(host, path);
  if (match) {
    if (match.route >= table.routes().size() || match.cluster >= table.clusters().size())
      std::abort();
    (void)table.upstream_path(match.route, path);
  }
  // Any case, a trailing dot and a port name the same host. (Hosts with a ':' or a trailing
  // dot already are not worth varying; nor is an IP-literal form "[...]": without its closing
  // bracket, as the fuzzer wrote one, a ":8080" after it is not a port. Such a Host is not a
  // valid authority (RFC 3986); the front ends still look it up today rather than answer 400.)
  if (host.empty() || host.find_first_of(":[]") != std::string_view::npos || host.back() == '.')
    return;
  std::string upper(host);
  for (char& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  if (!same(table.lookup(upper, path), match)) std::abort();
  if (!same(table.lookup(std::string(host) + ".", path), match)) std::abort();
  if (!same(table.lookup(std::string(host) + ":8080", path), match)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view manifests = kManifests;
  std::string_view lookups = input;
  if (const auto nul = input.find('\0'); nul != std::string_view::npos) {
    manifests = input.substr(0, nul);
    lookups = input.substr(nul + 1);
  }
  auto decoded = portico::watch::decode_manifests(manifests, "input.yaml");
  portico::routing::CompileOptions options;
  options.threads = 1;
  auto compiled = portico::routing::compile(decoded.objects, options);
  const auto& table = *compiled.table;

  // The table's own paths, for its own concrete hosts, always match.
  for (const auto& route : table.routes()) {
    if (route.default_backend || route.regex) continue;
    if (route.path_type == portico::routing::PathType::kImplementationSpecific) continue;
    const std::string& host = table.host_of(route);
    if (host.empty() || host.front() == '*') continue;
    if (!table.lookup(host, route.path)) std::abort();
    check(table, host, route.path);
  }
  while (!lookups.empty()) {
    const auto end = lookups.find('\n');
    std::string_view line = lookups.substr(0, end);
    lookups = end == std::string_view::npos ? std::string_view() : lookups.substr(end + 1);
    const auto space = line.find(' ');
    if (space == std::string_view::npos) {
      check(table, line, "/");
    } else {
      check(table, line.substr(0, space), line.substr(space + 1));
    }
  }
  return 0;
}
