// The request filters of a route's policy, one at a time, in their fixed order.

#include "ingress/request_policy.hpp"

#include <gtest/gtest.h>

#include "routing/compiler.hpp"
#include "watch/manifest_decoder.hpp"

namespace portico::ingress {
namespace {

using routing::Policy;

std::string header(const PolicyDecision& d, std::string_view name) {
  for (const auto& [n, v] : d.headers)
    if (n == name) return v;
  return "(none)";
}

PolicyRequest get(std::string_view path = "/x") {
  PolicyRequest r;
  r.method = "GET";
  r.host = "shop.example:8080";
  r.path = path;
  r.client_address = "10.1.2.3";
  r.ingress = "web/shop";
  return r;
}

Policy with(std::initializer_list<std::pair<std::string, std::string>> annotations) {
  routing::Ingress ingress;
  ingress.meta.name = "shop";
  for (const auto& [k, v] : annotations)
    ingress.meta.annotations["nginx.ingress.kubernetes.io/" + k] = v;
  routing::Diagnostics d;
  routing::PolicyResult r = routing::parse_policy(ingress, d);
  EXPECT_TRUE(d.empty()) << routing::format(d.at(0));
  return r.policy;
}

TEST(RequestPolicy, AnEmptyPolicyLetsEverythingThrough) {
  PolicyDecision d = apply_policy(Policy{}, get(), nullptr);
  EXPECT_EQ(d.status, 0u);
  EXPECT_TRUE(d.headers.empty());
}

TEST(RequestPolicy, AllowListAnswers403ToOtherClients) {
  Policy p = with({{"allowlist-source-range", "192.168.0.0/16"}});
  EXPECT_EQ(apply_policy(p, get(), nullptr).status, 403u);
  PolicyRequest inside = get();
  inside.client_address = "192.168.9.9";
  EXPECT_EQ(apply_policy(p, inside, nullptr).status, 0u);
}

TEST(RequestPolicy, RateLimitAllowsTheBurstThenTheRate) {
  Policy p = with({{"limit-rps", "2"}});
  RateLimiter limiter;
  auto t0 = RateLimiter::Clock::now();
  int allowed = 0;
  for (int i = 0; i < 20; ++i) allowed += limiter.allow("web/shop", "10.1.2.3", 2, t0);
  EXPECT_EQ(allowed, 10);  // burst: 5 x 2
  EXPECT_FALSE(limiter.allow("web/shop", "10.1.2.3", 2, t0 + std::chrono::milliseconds(400)));
  EXPECT_TRUE(limiter.allow("web/shop", "10.1.2.3", 2, t0 + std::chrono::milliseconds(600)));
  EXPECT_TRUE(limiter.allow("web/shop", "10.9.9.9", 2, t0));  // per client
  // Through apply_policy: 503 once the bucket is empty.
  RateLimiter fresh;
  unsigned last = 0;
  for (int i = 0; i < 11; ++i) last = apply_policy(p, get(), &fresh).status;
  EXPECT_EQ(last, 503u);
}

TEST(RequestPolicy, ForceSslRedirectSendsPlainHttpToHttps) {
  Policy p = with({{"force-ssl-redirect", "true"}});
  PolicyRequest r = get("/cart");
  r.query = "id=7";
  PolicyDecision d = apply_policy(p, r, nullptr);
  EXPECT_EQ(d.status, 308u);
  EXPECT_EQ(header(d, "Location"), "https://shop.example/cart?id=7");  // no port: 443
  r.https_port = 8443;
  EXPECT_EQ(header(apply_policy(p, r, nullptr), "Location"), "https://shop.example:8443/cart?id=7");
  r.tls = true;
  EXPECT_EQ(apply_policy(p, r, nullptr).status, 0u);
}

TEST(RequestPolicy, RedirectsAndAppRoot) {
  PolicyDecision perm =
      apply_policy(with({{"permanent-redirect", "https://new.example/"}}), get(), nullptr);
  EXPECT_EQ(perm.status, 301u);
  EXPECT_EQ(header(perm, "Location"), "https://new.example/");
  PolicyDecision code = apply_policy(
      with({{"permanent-redirect", "https://new.example/"}, {"permanent-redirect-code", "308"}}),
      get(), nullptr);
  EXPECT_EQ(code.status, 308u);
  EXPECT_EQ(
      apply_policy(with({{"temporal-redirect", "https://t.example/"}}), get(), nullptr).status,
      302u);
  Policy root = with({{"app-root", "/app"}});
  PolicyDecision d = apply_policy(root, get("/"), nullptr);
  EXPECT_EQ(d.status, 302u);
  EXPECT_EQ(header(d, "Location"), "/app");
  EXPECT_EQ(apply_policy(root, get("/app/page"), nullptr).status, 0u);
}

TEST(RequestPolicy, CorsPreflightAndResponseHeaders) {
  Policy p = with({{"enable-cors", "true"},
                   {"cors-allow-origin", "https://a.example"},
                   {"cors-max-age", "600"},
                   {"cors-expose-headers", "X-Request-ID"}});
  PolicyRequest preflight = get();
  preflight.method = "OPTIONS";
  preflight.origin = "https://a.example";
  PolicyDecision d = apply_policy(p, preflight, nullptr);
  EXPECT_EQ(d.status, 204u);
  EXPECT_EQ(header(d, "Access-Control-Allow-Origin"), "https://a.example");
  EXPECT_EQ(header(d, "Access-Control-Max-Age"), "600");
  EXPECT_EQ(header(d, "Access-Control-Allow-Credentials"), "true");
  EXPECT_EQ(header(d, "Access-Control-Allow-Methods"), std::string(routing::kCorsDefaultMethods));
  PolicyRequest simple = get();
  simple.origin = "https://a.example";
  PolicyDecision s = apply_policy(p, simple, nullptr);
  EXPECT_EQ(s.status, 0u);
  EXPECT_EQ(header(s, "Access-Control-Allow-Origin"), "https://a.example");
  EXPECT_EQ(header(s, "Access-Control-Expose-Headers"), "X-Request-ID");
  PolicyRequest stranger = get();
  stranger.origin = "https://evil.example";
  EXPECT_EQ(header(apply_policy(p, stranger, nullptr), "Access-Control-Allow-Origin"), "(none)");
  EXPECT_EQ(header(apply_policy(with({{"enable-cors", "true"}}), stranger, nullptr),
                   "Access-Control-Allow-Origin"),
            "*");
}

TEST(RequestPolicy, FiltersRunInTheirOrder) {
  // Not allowed beats everything after it; a redirect beats CORS.
  Policy p = with({{"allowlist-source-range", "192.168.0.0/16"},
                   {"permanent-redirect", "https://new.example/"},
                   {"enable-cors", "true"}});
  PolicyRequest r = get();
  r.method = "OPTIONS";
  EXPECT_EQ(apply_policy(p, r, nullptr).status, 403u);
  r.client_address = "192.168.0.1";
  EXPECT_EQ(apply_policy(p, r, nullptr).status, 301u);
}

// What the front ends get from one call: the rewritten target with the query, the route's
// timeouts over the global ones, or an answer; and nothing changed for a route without policy.
TEST(RequestPolicy, ARouteDecisionCarriesRewriteTimeoutsAndAnswers) {
  auto decoded = watch::decode_manifests(R"yaml(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  namespace: web
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/rewrite-target: /v2/$2
    nginx.ingress.kubernetes.io/proxy-connect-timeout: "3"
    nginx.ingress.kubernetes.io/proxy-read-timeout: "120"
    nginx.ingress.kubernetes.io/limit-rps: "1"
spec:
  rules:
  - host: api.example
    http:
      paths:
      - {path: "/api(/|$)(.*)", pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: plain, namespace: web}
spec:
  rules:
  - host: plain.example
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
)yaml",
                                         "test.yaml");
  ASSERT_TRUE(decoded.diagnostics.empty());
  routing::CompileResult compiled = routing::compile(decoded.objects, {});
  const routing::RouteTable& table = *compiled.table;
  ServeConfig config;
  config.connect_timeout = std::chrono::milliseconds(5000);
  config.upstream_timeout = std::chrono::milliseconds(60000);

  routing::RouteMatch plain = table.lookup("plain.example", "/x");
  ASSERT_TRUE(plain);
  EXPECT_EQ(table.routes()[plain.route].policy, 0u);  // the front ends skip the call: one branch
  RouteDecision untouched(config);
  EXPECT_EQ(untouched.read_timeout, std::chrono::milliseconds(60000));
  EXPECT_TRUE(untouched.target.empty());

  routing::RouteMatch api = table.lookup("api.example", "/api/users/7");
  ASSERT_TRUE(api);
  PolicyRequest request = get("/api/users/7");
  request.host = "api.example";
  request.query = "page=2";
  request.client_address = "10.77.0.1";  // a client of its own: the process's limiter is shared
  RouteDecision decision(config);
  apply_route_policy(table, api.route, request, decision);
  EXPECT_EQ(decision.status, 0u);
  EXPECT_EQ(decision.target, "/v2/users/7?page=2");
  EXPECT_EQ(decision.connect_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(decision.read_timeout, std::chrono::milliseconds(120000));
  EXPECT_EQ(decision.send_timeout, std::chrono::milliseconds(60000));  // not set: the global one

  // limit-rps 1: a burst of 5, then 503 (the same client, the same Ingress).
  unsigned last = 0;
  for (int i = 0; i < 5; ++i) {
    RouteDecision d(config);
    apply_route_policy(table, api.route, request, d);
    last = d.status;
  }
  EXPECT_EQ(last, 503u);
  // Keyed by the route's Ingress ("namespace/name") and the client: that bucket is empty, the
  // same client's bucket for another Ingress is not.
  EXPECT_FALSE(process_rate_limiter().allow("web/api", "10.77.0.1", 1));
  EXPECT_TRUE(process_rate_limiter().allow("web/other", "10.77.0.1", 1));
}

TEST(RequestPolicy, QueryOfATarget) {
  EXPECT_EQ(query_of("/a?b=1&c=2"), "b=1&c=2");
  EXPECT_EQ(query_of("/a?b=1#frag"), "b=1");
  EXPECT_EQ(query_of("/a"), "");
  EXPECT_EQ(query_of("/a?"), "");
}

}  // namespace
}  // namespace portico::ingress
