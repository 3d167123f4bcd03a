#pragma once

// The routing diff of `portico routes --base`: what a change of manifests does to traffic, route
// by route, rather than a YAML diff. Pure; compares two compiled tables.

#include <optional>
#include <string>
#include <vector>

#include "routing/route_table.hpp"

namespace portico::routing {

// Where a route sends traffic. Endpoints are not part of it: they change without anyone
// reviewing a manifest.
struct RouteTarget {
  std::string namespace_;
  std::string service;
  PortRef port;
  std::string tls_secret;  // "namespace/name", empty without TLS
  bool ssl_redirect = true;
  // The canary attached to the route: "namespace/service:port (canary rules)", empty without.
  std::string canary;
  // The route's policy from its Ingress's annotations, as `portico routes` summarizes it
  // ("rewrite=/$1 timeouts=5s/60s/60s ..."); empty without annotations.
  std::string policy;
  bool operator==(const RouteTarget&) const = default;
};

enum class ChangeKind : std::uint8_t { kAdded, kRemoved, kChanged };

std::string_view to_string(ChangeKind kind);

struct RouteChange {
  ChangeKind kind = ChangeKind::kChanged;
  std::string host;  // "" for every host / the table default
  bool default_backend = false;
  std::string path;       // "" for a default backend
  std::string path_type;  // "Exact", "Prefix", "ImplementationSpecific", "Regex"; "" for default
  std::optional<RouteTarget> before;
  std::optional<RouteTarget> after;
};

struct ResolvedChange {
  std::string url;
  std::optional<RouteTarget> before;  // null: 404
  std::optional<RouteTarget> after;
};

struct RouteDiff {
  std::vector<RouteChange> changes;      // sorted by host (every-host last), then path
  std::vector<ResolvedChange> resolved;  // --resolve URLs whose answer differs, in given order
  bool empty() const { return changes.empty() && resolved.empty(); }
};

// Routes are the same route when host, path, path type (regex counts as its own type) and
// default-backend-ness are equal; they changed when their RouteTarget differs.
RouteDiff diff_routes(const RouteTable& before, const RouteTable& after,
                      const std::vector<std::string>& urls);

}  // namespace portico::routing
