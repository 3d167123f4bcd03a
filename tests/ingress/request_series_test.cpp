// Label sets of the per-request metrics: ids by (namespace, ingress, service), stable across
// tables, exported only while the serving table has them; methods bounded to a fixed set.

#include "ingress/request_series.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "routing/compiler.hpp"
#include "watch/manifest_decoder.hpp"

namespace portico::ingress {
namespace {

std::shared_ptr<const routing::RouteTable> table(const std::string& yaml) {
  auto decoded = watch::decode_manifests(yaml, "test.yaml");
  return routing::compile(decoded.objects).table;
}

std::string ingress(const std::string& ns, const std::string& name, const std::string& service) {
  return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nspec:\n  rules:\n  - host: " + name +
         ".test\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: "
         "{name: " +
         service +
         ", port: {number: 80}}}}\n      - {path: /b, pathType: Prefix, backend: "
         "{service: {name: " +
         service + ", port: {number: 80}}}}\n";
}

TEST(MethodLabel, StandardMethodsAndOther) {
  EXPECT_EQ(to_string(method_label("GET")), "GET");
  EXPECT_EQ(to_string(method_label("PATCH")), "PATCH");
  EXPECT_EQ(to_string(method_label("get")), "other");  // methods are case-sensitive
  EXPECT_EQ(to_string(method_label("PROPFIND")), "other");
}

TEST(RequestSeriesRegistry, RoutesOfOneLabelSetShareAnIdThatSurvivesARecompile) {
  RequestSeriesRegistry registry(2);
  auto first = table(ingress("shop", "web", "api") + ingress("blog", "posts", "api"));
  auto series = registry.series_for(first);
  ASSERT_EQ(series->size(), 4u);
  const auto& routes = first->routes();
  std::map<std::string, std::set<std::uint32_t>> ids;
  for (std::size_t i = 0; i < routes.size(); ++i)
    ids[first->ingress_of(routes[i]).name].insert((*series)[i]);
  ASSERT_EQ(ids["web"].size(), 1u);
  ASSERT_EQ(ids["posts"].size(), 1u);
  EXPECT_NE(*ids["web"].begin(), *ids["posts"].begin());
  EXPECT_GT(*ids["web"].begin(), RequestSeriesRegistry::kOverflow);

  // A new table (the blog Ingress gone) keeps the id of shop/web/api.
  auto second = table(ingress("shop", "web", "api"));
  auto again = registry.series_for(second);
  EXPECT_EQ((*again)[0], *ids["web"].begin());
  EXPECT_EQ(registry.series_for(second), again);  // cached per table
}

TEST(RequestSeriesRegistry, ScrapeSumsWorkersAndShowsOnlyTheServingTablesLabelSets) {
  RequestSeriesRegistry registry(2);
  auto both = table(ingress("shop", "web", "api") + ingress("blog", "posts", "api"));
  auto series = registry.series_for(both);
  for (std::uint32_t id : *series) {
    registry.worker(0).record({id, MethodLabel::kGet, 200, 300, 100, 10, 20});
    registry.worker(1).record({id, MethodLabel::kGet, 503, 3'000'000, -1, 10, 20});
  }
  std::string out;
  registry.render(both, out);
  // Two routes per Ingress, one request per route and worker.
  EXPECT_NE(
      out.find(
          R"(portico_http_requests_total{namespace="shop",ingress="web",service="api",method="GET",code="2xx"} 2)"),
      std::string::npos)
      << out;
  EXPECT_NE(
      out.find(
          R"(portico_http_requests_total{namespace="shop",ingress="web",service="api",method="GET",code="5xx"} 2)"),
      std::string::npos);
  EXPECT_NE(
      out.find(
          R"(portico_http_request_duration_seconds_bucket{namespace="shop",ingress="web",service="api",le="0.0005"} 2)"),
      std::string::npos);
  EXPECT_NE(
      out.find(
          R"(portico_http_request_duration_seconds_bucket{namespace="shop",ingress="web",service="api",le="5"} 4)"),
      std::string::npos);
  EXPECT_NE(
      out.find(
          R"(portico_http_request_duration_seconds_sum{namespace="shop",ingress="web",service="api"} 6.000600)"),
      std::string::npos);
  EXPECT_NE(
      out.find(
          R"(portico_upstream_response_duration_seconds_count{namespace="shop",ingress="web",service="api"} 2)"),
      std::string::npos);

  std::string later;
  registry.render(table(ingress("shop", "web", "api")), later);
  EXPECT_EQ(later.find(R"(ingress="posts")"), std::string::npos) << later;
  EXPECT_NE(later.find(R"(ingress="web")"), std::string::npos);
}

}  // namespace
}  // namespace portico::ingress
