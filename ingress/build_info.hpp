#pragma once

// What build is running, for portico_build_info: the project version from CMake, and the git
// commit the build was configured from ("unknown" outside a git checkout).

#include <string_view>

namespace portico::ingress {

std::string_view build_version();
std::string_view build_commit();

}  // namespace portico::ingress
