#pragma once

// `portico serve`: the reverse proxy, standalone from manifest files.

#include <string>
#include <vector>

namespace portico::ingress {

int run_serve_command(const std::vector<std::string>& args);

}  // namespace portico::ingress
