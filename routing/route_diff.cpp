#include "routing/route_diff.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include "routing/route_report.hpp"

namespace portico::routing {

std::string_view to_string(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kAdded:
      return "added";
    case ChangeKind::kRemoved:
      return "removed";
    case ChangeKind::kChanged:
      return "changed";
  }
  return "?";
}

namespace {

// Sort key: host-less rules and the table default after named hosts, as the table shows them.
using RouteKey = std::tuple<bool, std::string, bool, std::string, std::string>;

RouteKey key_of(const RouteTable& table, const Route& route) {
  const std::string& host = table.host_of(route);
  std::string type = route.default_backend ? ""
                     : route.regex         ? "Regex"
                                           : std::string(to_string(route.path_type));
  return {host.empty(), host, route.default_backend, route.default_backend ? "" : route.path, type};
}

RouteTarget target_of(const RouteTable& table, const Route& route) {
  const Cluster& cluster = table.cluster_of(route);
  RouteTarget t;
  t.namespace_ = cluster.namespace_;
  t.service = cluster.service;
  t.port = route.port;
  if (route.tls != Route::kNone) t.tls_secret = table.tls()[route.tls].secret;
  t.ssl_redirect = route.ssl_redirect;
  if (route.policy != 0) t.policy = summarize(table.policy_of(route));
  if (route.canary != Route::kNone) {
    const CanaryBackend& canary = table.canaries()[route.canary];
    const Cluster& canary_cluster = table.clusters()[canary.cluster];
    t.canary = canary_cluster.namespace_ + "/" + canary_cluster.service + ":" +
               (canary.port.by_name() ? canary.port.name : std::to_string(canary.port.number)) +
               " (" + summarize(table.policies()[canary.policy]) + ")";
  }
  return t;
}

std::map<RouteKey, RouteTarget> targets(const RouteTable& table) {
  std::map<RouteKey, RouteTarget> out;
  for (const Route& route : table.routes()) {
    out.emplace(key_of(table, route), target_of(table, route));
  }
  return out;
}

std::optional<RouteTarget> answer(const RouteTable& table, const RequestTarget& request) {
  RouteMatch match = table.lookup(request.host, request.path);
  if (!match) return std::nullopt;
  return target_of(table, table.routes()[match.route]);
}

}  // namespace

RouteDiff diff_routes(const RouteTable& before, const RouteTable& after,
                      const std::vector<std::string>& urls) {
  RouteDiff diff;
  auto old_routes = targets(before);
  auto new_routes = targets(after);
  auto record = [&](const RouteKey& key, ChangeKind kind, const RouteTarget* b,
                    const RouteTarget* a) {
    RouteChange& change = diff.changes.emplace_back();
    change.kind = kind;
    change.host = std::get<1>(key);
    change.default_backend = std::get<2>(key);
    change.path = std::get<3>(key);
    change.path_type = std::get<4>(key);
    if (b != nullptr) change.before = *b;
    if (a != nullptr) change.after = *a;
  };
  // Both maps are ordered by the same key: one merge pass.
  auto o = old_routes.begin();
  auto n = new_routes.begin();
  while (o != old_routes.end() || n != new_routes.end()) {
    if (n == new_routes.end() || (o != old_routes.end() && o->first < n->first)) {
      record(o->first, ChangeKind::kRemoved, &o->second, nullptr);
      ++o;
    } else if (o == old_routes.end() || n->first < o->first) {
      record(n->first, ChangeKind::kAdded, nullptr, &n->second);
      ++n;
    } else {
      if (!(o->second == n->second)) record(o->first, ChangeKind::kChanged, &o->second, &n->second);
      ++o;
      ++n;
    }
  }
  for (const std::string& url : urls) {
    RequestTarget request = parse_request_url(url);
    auto b = answer(before, request);
    auto a = answer(after, request);
    if (b != a) diff.resolved.push_back({url, std::move(b), std::move(a)});
  }
  return diff;
}

}  // namespace portico::routing
