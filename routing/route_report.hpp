#pragma once

// Renders a compiled table for people (table) and for programs (JSON): the output of
// `portico routes` and of the admin endpoint /routes. The JSON shape is documented in README.md
// ("portico routes -o json") and is stable.

#include <string>
#include <string_view>
#include <vector>

#include "routing/diagnostic.hpp"
#include "routing/route_table.hpp"

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

void render_json(const RouteTable& table, const Diagnostics& diagnostics,
                 const std::vector<ResolvedRequest>& resolved, std::string& out);

void render_table(const RouteTable& table, const Diagnostics& diagnostics,
                  const std::vector<ResolvedRequest>& resolved, std::string& out);

}  // namespace portico::routing
