#pragma once

// `portico routes`: the dry run. Reads manifests, compiles them as `portico serve` would, and
// prints the table, the diagnostics and the answers to --resolve URLs.
//
// Exit status: 0 without error diagnostics, 1 with any (everything valid is still printed),
// 2 for a usage error or an input path that cannot be read.

#include <string>
#include <vector>

namespace portico::ingress {

int run_routes_command(const std::vector<std::string>& args);

}  // namespace portico::ingress
