// The request filters of a route's policy, one at a time, in their fixed order.

#include "ingress/request_policy.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace portico::ingress
