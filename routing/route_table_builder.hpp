#pragma once

// Assembles a RouteTable. Used by the compiler only: routes are added in precedence order (so the
// order of addition is the declaration-order tie-break), then build() sorts each host's paths and
// builds the lookup indices. Not thread-safe; the table it returns is immutable.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "routing/flat_index.hpp"
#include "routing/route_table.hpp"

namespace portico::routing {

class RouteTableBuilder {
 public:
  // The Ingresses routes refer to (Route::ingress indexes this list).
  void set_ingresses(std::vector<IngressRef> ingresses);
  // Capacity for the expected numbers of routes, clusters and hosts (saves regrowth copies).
  void reserve(std::size_t routes, std::size_t clusters, std::size_t hosts);
  std::uint32_t add_cluster(Cluster cluster);
  // Returns the policy's index for Route::policy (0 for an empty policy, which is not stored).
  std::uint32_t add_policy(Policy policy);
  // The index of host `name` ("" for every host), created on first use. `name` must stay valid
  // until build() (the compiler passes views into the objects it compiles).
  std::uint32_t host(std::string_view name);
  const std::string& host_name(std::uint32_t host) const { return table_.hosts()[host]; }
  // The index of host `name`, or RouteMatch::kNone when no rule has created it.
  std::uint32_t find_host(std::string_view name) const;
  // `alias` reaches the rules of `host` (server-alias); `alias` must not be a host of its own.
  void add_host_alias(std::string alias, std::uint32_t host);
  // Adds a path route to its host. `regex` is set for use-regex paths.
  std::uint32_t add_route(Route route, std::shared_ptr<const re2::RE2> regex = nullptr);
  // Adds a default-backend route: the fallback of route.host when `host_fallback`, else the
  // table-wide default.
  std::uint32_t add_default(Route route, bool host_fallback);
  std::uint32_t add_tls(TlsBinding binding);
  // Attaches a canary backend to route `route` (an index add_route returned).
  void set_canary(std::uint32_t route, CanaryBackend canary);
  const Route& route(std::uint32_t index) const { return table_.routes()[index]; }
  const CanaryBackend& canary(std::uint32_t index) const { return table_.canaries()[index]; }

  std::shared_ptr<const RouteTable> build();

 private:
  struct PendingHost {
    std::uint32_t paths = 0;  // non-regex routes of this host
    std::vector<std::pair<std::uint32_t, std::shared_ptr<const re2::RE2>>> regexes;
    std::uint32_t fallback = RouteMatch::kNone;
  };
  RouteTable table_;
  std::vector<PendingHost> pending_;
  std::vector<std::uint32_t> path_routes_;  // non-regex routes, in order of addition
  FlatIndex<std::string_view, std::hash<std::string_view>> host_by_name_;
};

}  // namespace portico::routing
