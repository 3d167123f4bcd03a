// ingress-nginx's canary: an Ingress with canary: "true" becomes the alternative backend of the
// route with the same host and path of its main (non-canary) Ingress; without a main Ingress it
// is not served; one canary per path. And the annotations that choose an endpoint
// (affinity: cookie, session-cookie-path, upstream-hash-by) as the compiler sees them.

#include <gtest/gtest.h>

#include <string>

#include "compile_yaml.hpp"
#include "routing/annotations.hpp"
#include "routing/route_diff.hpp"
#include "routing/route_report.hpp"

namespace portico::routing {
namespace {

using testing::compile_yaml;
using testing::count_diagnostics;
using testing::dump;
using testing::route_for;

const std::string kServices = R"(
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: web}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: shop-v2, namespace: web}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: shop-v3, namespace: web}
spec: {ports: [{port: 80}]}
)";

const std::string kMain = R"(
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: web, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  rules:
  - host: shop.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}
      - {path: /api, pathType: Exact, backend: {service: {name: shop, port: {number: 80}}}}
)";

// A canary Ingress named NAME for host shop.example, path PATH of type TYPE, service SERVICE.
std::string canary(const std::string& name, const std::string& path, const std::string& type,
                   const std::string& service, const std::string& annotations) {
  return R"(
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: )" +
         name + R"(
  namespace: web
  creationTimestamp: "2020-01-01T00:00:00Z"
  annotations: {nginx.ingress.kubernetes.io/canary: "true", )" +
         annotations + R"(}
spec:
  rules:
  - host: shop.example
    http:
      paths: [{path: )" +
         path + ", pathType: " + type + ", backend: {service: {name: " + service +
         ", port: {number: 80}}}}]\n";
}

const Route& route_at(const RouteTable& table, std::string_view host, std::string_view path) {
  RouteMatch match = table.lookup(host, path);
  EXPECT_TRUE(match);
  return table.routes()[match.route];
}

// The canary attaches to the main route even when it is older; requests still match the main
// route, which now carries the canary's backend and policy.
TEST(Canary, AttachesToTheRouteOfItsMainIngressWithTheSameHostAndPath) {
  CompileResult r = compile_yaml(kServices + kMain +
                                 canary("shop-canary", "/", "Prefix", "shop-v2",
                                        "nginx.ingress.kubernetes.io/canary-weight: \"20\", "
                                        "nginx.ingress.kubernetes.io/canary-by-header: X-Canary"));
  // Only the missing endpoints of the services are reported: nothing about the canary.
  for (const Diagnostic& d : r.diagnostics)
    EXPECT_NE(d.message.find("has no endpoints"), std::string::npos) << format(d);
  EXPECT_EQ(route_for(*r.table, "shop.example", "/cart"), "shop:80");
  const Route& route = route_at(*r.table, "shop.example", "/cart");
  ASSERT_NE(route.canary, Route::kNone);
  const CanaryBackend& c = r.table->canaries()[route.canary];
  EXPECT_EQ(r.table->clusters()[c.cluster].service, "shop-v2");
  EXPECT_EQ(r.table->ingresses()[c.ingress].name, "shop-canary");
  const Policy& policy = r.table->policies()[c.policy];
  EXPECT_TRUE(policy.canary.enabled);
  EXPECT_EQ(policy.canary.weight, 20);
  EXPECT_EQ(policy.canary.by_header, "X-Canary");
  // The other path of the main Ingress has no canary.
  EXPECT_EQ(route_at(*r.table, "shop.example", "/api").canary, Route::kNone);
  // The canary adds no route of its own.
  EXPECT_EQ(r.table->routes().size(), 2u);
}

TEST(Canary, WithoutAMainIngressForItsHostAndPathIsAWarningAndNotServed) {
  struct Case {
    const char* rule;  // the spec rule this proves
    std::string path, type;
  };
  for (const Case& c : {
           Case{"no Ingress routes that path", "/other", "Prefix"},
           Case{"the path type must be the same too", "/api", "Prefix"},
       }) {
    CompileResult r =
        compile_yaml(kServices + kMain + canary("shop-canary", c.path, c.type, "shop-v2", ""));
    EXPECT_EQ(
        count_diagnostics(r.diagnostics, Severity::kWarning, "spec.rules[0].http.paths[0].path",
                          "which no other Ingress routes; as in ingress-nginx, a canary "
                          "without its main Ingress is not served"),
        1)
        << c.rule << "\n"
        << dump(r.diagnostics);
    EXPECT_EQ(r.table->canaries().size(), 0u) << c.rule;
    EXPECT_EQ(r.table->routes().size(), 2u) << c.rule;
    // A request for the canary's path goes where the main Ingress sends it, never to the canary.
    EXPECT_EQ(route_for(*r.table, "shop.example", c.path), "shop:80") << c.rule;
  }
  // A canary for a host nobody else serves: 404 there.
  CompileResult r = compile_yaml(kServices + canary("lonely", "/", "Prefix", "shop-v2", ""));
  EXPECT_EQ(route_for(*r.table, "shop.example", "/"), "404");
}

TEST(Canary, OnlyOneCanaryPerPathTheFirstInPrecedenceOrderWins) {
  CompileResult r =
      compile_yaml(kServices + kMain + canary("canary-a", "/", "Prefix", "shop-v2", "") +
                   canary("canary-b", "/", "Prefix", "shop-v3", ""));
  const Route& route = route_at(*r.table, "shop.example", "/");
  ASSERT_NE(route.canary, Route::kNone);
  EXPECT_EQ(r.table->clusters()[r.table->canaries()[route.canary].cluster].service, "shop-v2");
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kWarning, "spec.rules[0].http.paths[0].path",
                              "already has a canary, Ingress web/canary-a"),
            1)
      << dump(r.diagnostics);
}

TEST(Canary, ADefaultBackendOfACanaryIsIgnoredWithAWarning) {
  CompileResult r = compile_yaml(kServices + kMain + R"(
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop-canary
  namespace: web
  annotations: {nginx.ingress.kubernetes.io/canary: "true"}
spec:
  defaultBackend: {service: {name: shop-v2, port: {number: 80}}}
)");
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kWarning, "spec.defaultBackend",
                              "not to default backends"),
            1)
      << dump(r.diagnostics);
  EXPECT_EQ(route_for(*r.table, "other.example", "/"), "404");
}

TEST(Canary, CanaryAnnotationsWithoutCanaryTrueAreWarnings) {
  Ingress ingress;
  ingress.meta.name = "shop";
  ingress.meta.namespace_ = "web";
  ingress.meta.annotations = {{"nginx.ingress.kubernetes.io/canary-weight", "50"},
                              {"nginx.ingress.kubernetes.io/canary-by-header", "X-Canary"}};
  Diagnostics d;
  parse_policy(ingress, d);
  EXPECT_EQ(count_diagnostics(d, Severity::kWarning,
                              "metadata.annotations[nginx.ingress.kubernetes.io/canary-weight]",
                              "this Ingress is not a canary"),
            1)
      << dump(d);
  EXPECT_EQ(count_diagnostics(d, Severity::kWarning,
                              "metadata.annotations[nginx.ingress.kubernetes.io/canary-by-header]",
                              "this Ingress is not a canary"),
            1)
      << dump(d);
}

TEST(Canary, RoutesTableAndJsonShowTheCanaryOfARouteAndOfAResolvedRequest) {
  CompileResult r = compile_yaml(kServices + kMain +
                                 canary("shop-canary", "/", "Prefix", "shop-v2",
                                        "nginx.ingress.kubernetes.io/canary-weight: \"20\""));
  auto resolved = resolve_all(*r.table, {"http://shop.example/cart"});
  std::string text;
  render_table(*r.table, r.diagnostics, resolved, text);
  EXPECT_NE(text.find("canary weight=20/100 -> shop-v2:80"), std::string::npos) << text;
  EXPECT_NE(text.find("[web/shop-canary]"), std::string::npos) << text;
  // Once under the route and once under the resolved request.
  EXPECT_NE(text.find("canary weight=20/100", text.find("resolved:")), std::string::npos) << text;
  std::string json;
  render_json(*r.table, r.diagnostics, resolved, json);
  EXPECT_NE(json.find("\"canary\":{\"ingress\":\"web/shop-canary\",\"service\":\"shop-v2\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"canary\":null"), std::string::npos) << json;  // the /api route
}

// Adding a canary, or changing its weight, moves traffic: `portico routes --base` shows it.
TEST(Canary, TheRoutingDiffShowsACanaryAddedOrChanged) {
  CompileResult without = compile_yaml(kServices + kMain);
  CompileResult with = compile_yaml(kServices + kMain +
                                    canary("shop-canary", "/", "Prefix", "shop-v2",
                                           "nginx.ingress.kubernetes.io/canary-weight: \"20\""));
  CompileResult heavier = compile_yaml(kServices + kMain +
                                       canary("shop-canary", "/", "Prefix", "shop-v2",
                                              "nginx.ingress.kubernetes.io/canary-weight: \"90\""));
  RouteDiff added = diff_routes(*without.table, *with.table, {"http://shop.example/x"});
  ASSERT_EQ(added.changes.size(), 1u);
  EXPECT_EQ(added.changes[0].kind, ChangeKind::kChanged);
  EXPECT_EQ(added.changes[0].before->canary, "");
  EXPECT_EQ(added.changes[0].after->canary, "web/shop-v2:80 (canary weight=20/100)");
  ASSERT_EQ(added.resolved.size(), 1u);
  RouteDiff changed = diff_routes(*with.table, *heavier.table, {});
  ASSERT_EQ(changed.changes.size(), 1u);
  EXPECT_EQ(changed.changes[0].after->canary, "web/shop-v2:80 (canary weight=90/100)");
  EXPECT_TRUE(diff_routes(*with.table, *with.table, {}).empty());
}

TEST(EndpointAffinity, SessionCookiePathAndNameParseAndBadOnesSayWhatIsAccepted) {
  Ingress ingress;
  ingress.meta.name = "shop";
  ingress.meta.namespace_ = "web";
  ingress.meta.annotations = {{"nginx.ingress.kubernetes.io/affinity", "cookie"},
                              {"nginx.ingress.kubernetes.io/session-cookie-name", "route"},
                              {"nginx.ingress.kubernetes.io/session-cookie-path", "/app"}};
  Diagnostics d;
  PolicyResult r = parse_policy(ingress, d);
  EXPECT_TRUE(d.empty()) << dump(d);
  EXPECT_TRUE(r.policy.cookie_affinity);
  EXPECT_EQ(r.policy.session_cookie_name, "route");
  EXPECT_EQ(r.policy.session_cookie_path, "/app");
  EXPECT_EQ(summarize(r.policy), "affinity=cookie:route cookie-path=/app");

  ingress.meta.annotations["nginx.ingress.kubernetes.io/session-cookie-path"] = "/a; Domain=x";
  d.clear();
  r = parse_policy(ingress, d);
  EXPECT_EQ(r.policy.session_cookie_path, "");
  EXPECT_EQ(count_diagnostics(d, Severity::kWarning,
                              "metadata.annotations[nginx.ingress.kubernetes.io/"
                              "session-cookie-path]",
                              "accepted: a path starting with /, without ';'"),
            1)
      << dump(d);
}

TEST(EndpointAffinity, UpstreamHashByTakesTextAndKnownVariablesAndLosesToCookieAffinity) {
  Ingress ingress;
  ingress.meta.name = "shop";
  ingress.meta.namespace_ = "web";
  for (const char* key : {"$request_uri", "$uri", "$remote_addr", "$http_x_user", "$cookie_sid",
                          "$arg_user", "user-$arg_id:$http_x_tenant", "$host$args"}) {
    ingress.meta.annotations = {{"nginx.ingress.kubernetes.io/upstream-hash-by", key}};
    Diagnostics d;
    EXPECT_EQ(parse_policy(ingress, d).policy.upstream_hash_by, key);
    EXPECT_TRUE(d.empty()) << key << "\n" << dump(d);
  }
  ingress.meta.annotations = {{"nginx.ingress.kubernetes.io/upstream-hash-by", "$request_id"}};
  Diagnostics d;
  EXPECT_EQ(parse_policy(ingress, d).policy.upstream_hash_by, "");
  EXPECT_EQ(count_diagnostics(d, Severity::kWarning,
                              "metadata.annotations[nginx.ingress.kubernetes.io/upstream-hash-by]",
                              "(\"$request_id\" is none of them)"),
            1)
      << dump(d);

  ingress.meta.annotations = {{"nginx.ingress.kubernetes.io/upstream-hash-by", "$uri"},
                              {"nginx.ingress.kubernetes.io/affinity", "cookie"}};
  d.clear();
  parse_policy(ingress, d);
  EXPECT_EQ(count_diagnostics(d, Severity::kWarning,
                              "metadata.annotations[nginx.ingress.kubernetes.io/upstream-hash-by]",
                              "affinity: cookie is set too and wins"),
            1)
      << dump(d);
}

}  // namespace
}  // namespace portico::routing
