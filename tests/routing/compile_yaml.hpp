#pragma once

// Test support: compile inline YAML manifests and describe lookups in one short string.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "routing/compiler.hpp"
#include "watch/manifest_decoder.hpp"

namespace portico::routing::testing {

inline CompileResult compile_yaml(std::string_view yaml, const CompileOptions& options = {}) {
  auto decoded = watch::decode_manifests(yaml, "test.yaml");
  for (const auto& d : decoded.diagnostics) ADD_FAILURE() << "decoder: " << format(d);
  return compile(decoded.objects, options);
}

// "service:port" for a path route, "default service:port" for a default backend, "404" when
// nothing matches.
inline std::string route_for(const RouteTable& table, std::string_view host,
                             std::string_view path) {
  RouteMatch match = table.lookup(host, path);
  if (!match) return "404";
  const Route& route = table.routes()[match.route];
  std::string port = route.port.by_name() ? route.port.name : std::to_string(route.port.number);
  return (route.default_backend ? "default " : "") + table.cluster_of(route).service + ":" + port;
}

// The diagnostics as formatted lines, for readable failure output.
inline std::string dump(const Diagnostics& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics) out += format(d) + "\n";
  return out;
}

// Number of diagnostics of `severity` whose field equals `field` and message contains `text`.
inline int count_diagnostics(const Diagnostics& diagnostics, Severity severity,
                             std::string_view field, std::string_view text = {}) {
  int n = 0;
  for (const auto& d : diagnostics) {
    if (d.severity == severity && d.field == field && d.message.find(text) != std::string::npos)
      ++n;
  }
  return n;
}

}  // namespace portico::routing::testing
