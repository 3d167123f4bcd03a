#pragma once

// Renders a compiled table for people (table) and for programs (JSON): the output of
// `portico routes` and of the admin endpoint /routes. The JSON shape is documented in README.md
// ("portico routes -o json") and is stable.

#include <string>
#include <string_view>
#include <vector>

#include "routing/diagnostic.hpp"
#include "routing/route_diff.hpp"
#include "routing/route_table.hpp"
#include "routing/workload_chain.hpp"

namespace portico::routing {

// A request given to --resolve, split into what the matcher takes.
struct RequestTarget {
  std::string url;   // as given
  std::string host;  // authority (port included; lookup ignores it)
  std::string path;  // path without query or fragment, "/" when absent
};

// Accepts "scheme://host[:port]/path?query", "host/path" and "/path" (no host).
RequestTarget parse_request_url(std::string_view url);

struct ResolvedRequest {
  RequestTarget target;
  RouteMatch match;
};

std::vector<ResolvedRequest> resolve_all(const RouteTable& table,
                                         const std::vector<std::string>& urls);

// With `chain` (the dry run's workload analysis of the same table), each endpoints list also holds
// the endpoints derived from Pods (`"derived": true`), and each resolved match carries
// `"workloads"`; the table shows the chain under each route. Without it (the admin endpoint),
// neither appears. With `diff` (--base), the JSON gains "changes" and "resolvedChanges" and the
// table shows the changes (+ added, - removed, ~ changed) in place of the full route list.
void render_json(const RouteTable& table, const Diagnostics& diagnostics,
                 const std::vector<ResolvedRequest>& resolved, std::string& out,
                 const WorkloadChain* chain = nullptr, const RouteDiff* diff = nullptr);

void render_table(const RouteTable& table, const Diagnostics& diagnostics,
                  const std::vector<ResolvedRequest>& resolved, std::string& out,
                  const WorkloadChain* chain = nullptr, const RouteDiff* diff = nullptr);

}  // namespace portico::routing
