// Choosing a backend: ingress-nginx's canary rules, the upstream-hash-by key expansion, the
// affinity cookie, and the pool's consistent-hash ring and sticky lookup against real compiled
// tables (stable keys, only the removed endpoint's keys move, tokens of gone endpoints pick
// nothing).

#include "ingress/backend_choice.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "ingress/http1_message.hpp"
#include "tests/routing/compile_yaml.hpp"

namespace portico::ingress {
namespace {

using routing::CanaryPolicy;

struct Request {
  MessageHead fields;
  RequestFacts facts;
  Request(std::string_view target, std::initializer_list<std::pair<std::string, std::string>> h,
          std::string_view cookie = {}) {
    for (const auto& [name, value] : h) fields.add(field_id(name), name, value);
    facts.target = target;
    facts.path = target.substr(0, target.find('?'));
    facts.host = "Shop.Example:8080";
    facts.client_address = "10.1.2.3";
    facts.cookie = cookie;
    facts.fields = &fields;
  }
};

TEST(CanaryChoice, ByHeaderAlwaysNeverThenWeight) {
  std::minstd_rand random(1);
  CanaryPolicy c;
  c.enabled = true;
  c.by_header = "X-Canary";
  c.weight = 100;  // every request without a deciding header goes to the canary
  EXPECT_TRUE(canary_selected(c, Request("/", {{"x-canary", "always"}}).facts, random));
  EXPECT_FALSE(canary_selected(c, Request("/", {{"X-CANARY", "never"}}).facts, random));
  EXPECT_TRUE(canary_selected(c, Request("/", {{"X-Canary", "other"}}).facts, random));
  EXPECT_TRUE(canary_selected(c, Request("/", {}).facts, random));
  c.weight = 0;
  EXPECT_FALSE(canary_selected(c, Request("/", {{"X-Canary", "other"}}).facts, random));
  // With a value, only that value selects; "always" and "never" are ordinary values.
  c.by_header_value = "beta";
  EXPECT_TRUE(canary_selected(c, Request("/", {{"X-Canary", "beta"}}).facts, random));
  EXPECT_FALSE(canary_selected(c, Request("/", {{"X-Canary", "always"}}).facts, random));
  c.weight = 100;
  EXPECT_TRUE(canary_selected(c, Request("/", {{"X-Canary", "never"}}).facts, random));
}

TEST(CanaryChoice, WeightIsOutOfWeightTotal) {
  std::minstd_rand random(7);
  CanaryPolicy c;
  c.enabled = true;
  c.weight = 1;
  c.weight_total = 4;
  int selected = 0;
  for (int i = 0; i < 4000; ++i) selected += canary_selected(c, Request("/", {}).facts, random);
  // Binomial(4000, 0.25): mean 1000, sd 27.4; 5 sigma.
  EXPECT_GT(selected, 863);
  EXPECT_LT(selected, 1137);
}

TEST(HashKey, ExpandsNginxVariablesAndLiteralText) {
  Request r("/cart/items?user=alice&id=7", {{"X-Tenant", "acme"}}, "sid=s1; theme=dark");
  EXPECT_EQ(expand_hash_key("$request_uri", r.facts), "/cart/items?user=alice&id=7");
  EXPECT_EQ(expand_hash_key("$uri", r.facts), "/cart/items");
  EXPECT_EQ(expand_hash_key("$args", r.facts), "user=alice&id=7");
  EXPECT_EQ(expand_hash_key("$host", r.facts), "shop.example");
  EXPECT_EQ(expand_hash_key("$remote_addr", r.facts), "10.1.2.3");
  EXPECT_EQ(expand_hash_key("$http_x_tenant", r.facts), "acme");
  EXPECT_EQ(expand_hash_key("$cookie_theme", r.facts), "dark");
  EXPECT_EQ(expand_hash_key("$arg_id", r.facts), "7");
  EXPECT_EQ(expand_hash_key("t-$http_x_tenant/$arg_user:$cookie_sid", r.facts), "t-acme/alice:s1");
  // Absent from the request: nothing.
  EXPECT_EQ(expand_hash_key("[$http_x_none$cookie_none$arg_none]", r.facts), "[]");
}

TEST(AffinityCookie, ValueIsFoundAmongOtherCookies) {
  EXPECT_EQ(cookie_value("a=1; route=abc; b=2", "route"), "abc");
  EXPECT_EQ(cookie_value("route=\"abc\"", "route"), "abc");
  EXPECT_EQ(cookie_value("xroute=1;route =2", "route"), "2");
  EXPECT_EQ(cookie_value("a=1", "route"), std::nullopt);
  EXPECT_EQ(cookie_value("", "route"), std::nullopt);
}

constexpr std::string_view kIngress = R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  namespace: web
  annotations: {nginx.ingress.kubernetes.io/affinity: cookie,
                nginx.ingress.kubernetes.io/session-cookie-name: route}
spec:
  rules:
  - host: shop.example
    http:
      paths: [{path: /app, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}]
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: web}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: shop-1, namespace: web, labels: {kubernetes.io/service-name: shop}}
ports: [{port: 80}]
endpoints:
)";

// A table whose cluster has endpoints 10.0.0.1..N, minus `without`.
std::shared_ptr<const routing::RouteTable> table_with(int n, int without = 0) {
  std::string yaml(kIngress);
  for (int i = 1; i <= n; ++i) {
    if (i != without) yaml += "- {addresses: [10.0.0." + std::to_string(i) + "]}\n";
  }
  auto result = routing::testing::compile_yaml(yaml);
  EXPECT_EQ(result.table->clusters().size(), 1u);
  return result.table;
}

std::map<int, std::string> place_keys(UpstreamPool& pool, const routing::RouteTable& table) {
  std::map<int, std::string> placed;
  for (int k = 0; k < 2000; ++k) {
    Affinity a{Affinity::Kind::kHash, hash_key("user-" + std::to_string(k)), false};
    placed[k] = pool.pick(table, 0, nullptr, &a)->key;
  }
  return placed;
}

TEST(ConsistentHash, KeysAreStableSpreadAndOnlyTheRemovedEndpointsKeysMove) {
  ServeConfig config;
  UpstreamPool pool(config);
  auto five = table_with(5);
  pool.update(*five);
  auto before = place_keys(pool, *five);
  EXPECT_EQ(place_keys(pool, *five), before);  // stable, whatever the round robin did
  std::map<std::string, int> share;
  for (const auto& [k, endpoint] : before) ++share[endpoint];
  ASSERT_EQ(share.size(), 5u);
  for (const auto& [endpoint, n] : share) {
    EXPECT_GT(n, 2000 / 5 * 6 / 10) << endpoint;  // within 40% of an even share
    EXPECT_LT(n, 2000 / 5 * 14 / 10) << endpoint;
  }
  // Another worker (another pool) places every key the same way.
  UpstreamPool other(config);
  other.update(*five);
  EXPECT_EQ(place_keys(other, *five), before);

  auto four = table_with(5, 3);
  pool.update(*four);
  auto after = place_keys(pool, *four);
  int moved = 0;
  for (const auto& [k, endpoint] : before) {
    if (endpoint == "10.0.0.3:80") {
      EXPECT_NE(after[k], endpoint);
      ++moved;
    } else {
      EXPECT_EQ(after[k], endpoint) << "key " << k << " moved although its endpoint stayed";
    }
  }
  EXPECT_EQ(moved, share["10.0.0.3:80"]);
}

TEST(StickyCookie, TokenPicksItsEndpointWhileReadyAndNothingElse) {
  ServeConfig config;
  UpstreamPool pool(config);
  auto three = table_with(3);
  pool.update(*three);
  // The endpoint the balancer gave a new client; its token brings every later request back.
  auto first = pool.pick(*three, 0);
  const std::uint64_t token = affinity_token(*first);
  Affinity sticky{Affinity::Kind::kCookie, token, true};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(pool.pick(*three, 0, nullptr, &sticky)->key, first->key);

  // The cookie the choice sets: the token in hex, the route's path, HttpOnly; none when the
  // client's cookie already names the endpoint.
  const routing::Route& route = three->routes()[0];
  Request without_cookie("/app/x", {});
  BackendChoice choice = choose_backend(*three, route, without_cookie.facts, pool.random());
  ASSERT_EQ(choice.affinity.kind, Affinity::Kind::kCookie);
  EXPECT_FALSE(choice.affinity.has_key);
  const std::string set_cookie = affinity_set_cookie(choice, *first);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(token));
  EXPECT_EQ(set_cookie, "route=" + std::string(hex) + "; Path=/app; HttpOnly");
  EXPECT_EQ(set_cookie.find("10.0.0."), std::string::npos);
  const std::string cookie = "route=" + std::string(hex);
  Request with_cookie("/app/x", {}, cookie);
  choice = choose_backend(*three, route, with_cookie.facts, pool.random());
  EXPECT_TRUE(choice.affinity.has_key);
  EXPECT_EQ(choice.affinity.key, token);
  EXPECT_EQ(affinity_set_cookie(choice, *first), "");

  // A token of no endpoint: the balancer picks (every endpoint over a few requests).
  Affinity forged{Affinity::Kind::kCookie, token ^ 1, true};
  std::set<std::string> seen;
  for (int i = 0; i < 6; ++i) seen.insert(pool.pick(*three, 0, nullptr, &forged)->key);
  EXPECT_EQ(seen.size(), 3u);

  // Its endpoint gone: another one, never the gone address.
  const int gone = first->key[7] - '0';
  auto two = table_with(3, gone);
  pool.update(*two);
  for (int i = 0; i < 10; ++i) EXPECT_NE(pool.pick(*two, 0, nullptr, &sticky)->key, first->key);
}

}  // namespace
}  // namespace portico::ingress
