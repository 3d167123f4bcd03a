#pragma once

// Assembles a RouteTable. Used by the compiler only: routes are added in precedence order of their
// Ingresses (so declaration order is the tie-break), then build() sorts each host's paths and
// builds the lookup indices. Not thread-safe; the table it returns is immutable.

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "routing/route_table.hpp"

namespace portico::routing {

class RouteTableBuilder {
 public:
  std::uint32_t add_cluster(Cluster cluster);
  // Adds a path route to its host (route.host). `regex` is set for use-regex paths.
  std::uint32_t add_route(Route route, std::shared_ptr<const re2::RE2> regex = nullptr);
  // Adds a default-backend route (route.default_backend must be set): the fallback of
  // `route.host` when `host_fallback`, else the table-wide default.
  std::uint32_t add_default(Route route, bool host_fallback);
  // Makes sure a host exists even without paths (a rule without `http`).
  void add_host(const std::string& host);
  void add_tls(TlsBinding binding);
  bool has_host_fallback(const std::string& host) const;

  std::shared_ptr<const RouteTable> build();

 private:
  std::uint32_t host_index(const std::string& host);

  struct PendingHost {
    std::string name;
    std::vector<std::uint32_t> routes;  // non-regex, in declaration order
    std::vector<std::pair<std::uint32_t, std::shared_ptr<const re2::RE2>>> regexes;
    std::uint32_t fallback = RouteMatch::kNone;
  };
  RouteTable table_;
  std::vector<PendingHost> hosts_;
  std::unordered_map<std::string, std::uint32_t> host_by_name_;
};

}  // namespace portico::routing
