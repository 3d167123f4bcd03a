#pragma once

// Path matching and precedence as the Kubernetes Ingress spec defines them
// (https://kubernetes.io/docs/concepts/services-networking/ingress/#path-types):
//
// - Exact matches the URL path case-sensitively and whole.
// - Prefix matches element by element split by '/': "/aaa/bb" does not match "/aaa/bbb"; a
//   trailing slash of the rule is ignored ("/foo/" matches "/foo"); "/" matches every path.
// - ImplementationSpecific is Prefix in Portico, or (with use-regex) an RE2 regex anchored at the
//   start of the path, case-insensitive, as ingress-nginx does.
// - "If two or more paths still match the request, precedence will be given first to the longest
//   matching path", and an Exact path beats a Prefix path of the same length. Regex paths come
//   after every non-regex path of the same host, in declaration order.

#include <cstdint>
#include <string>
#include <string_view>

#include "routing/route_table.hpp"

namespace portico::routing {

// The string a non-regex path is matched by: Exact paths as written, Prefix paths without
// trailing slashes ("/" becomes "", which every path extends).
std::string_view match_key(std::string_view path, PathType type);

// Exact: equality. Prefix: `key` is "" or an element-wise prefix of `request_path`.
bool path_matches(std::string_view key, bool exact, std::string_view request_path);

// Validates spec.rules[].http.paths[].path for its type (the API server's rules: absolute; for
// Exact and Prefix no "//", "/./", "/../", "%2f", nor a trailing "/." or "/.."). Returns an empty
// string when valid, else what is wrong and what is accepted.
std::string validate_path(std::string_view path, PathType type, bool regex);

// Orders non-regex paths of one host: true when `a` must be tried before `b`. Longest match key
// first; at equal length Exact before Prefix; then declaration order (`seq`).
struct PathOrderKey {
  std::uint32_t key_length;
  bool exact;
  std::uint32_t seq;
};
bool precedes(const PathOrderKey& a, const PathOrderKey& b);

}  // namespace portico::routing
