#pragma once

// `portico routes`: the dry run. Reads manifests, compiles them as `portico serve` would, and
// prints the table, the diagnostics and the answers to --resolve URLs.
//
// Exit status: 0 without error diagnostics, 1 with any (everything valid is still printed),
// 2 for a usage error or an input path that cannot be read, 3 with --exit-code when --base finds
// routing changes. Returns the status for --help (0) and the errors that come before any output
// (2); once the output is written, ends the process itself with the status (std::_Exit after
// flushing stdout and stderr, so that the objects and the table are not freed one by one).

#include <string>
#include <vector>

namespace portico::ingress {

int run_routes_command(const std::vector<std::string>& args);

}  // namespace portico::ingress
