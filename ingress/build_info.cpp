#include "ingress/build_info.hpp"

// Defined for this file only (CMakeLists.txt), so that a new commit rebuilds nothing else.
#ifndef PORTICO_VERSION
#define PORTICO_VERSION "unknown"
#endif
#ifndef PORTICO_COMMIT
#define PORTICO_COMMIT "unknown"
#endif

namespace portico::ingress {

std::string_view build_version() {
  return PORTICO_VERSION;
}
std::string_view build_commit() {
  return PORTICO_COMMIT;
}

}  // namespace portico::ingress
