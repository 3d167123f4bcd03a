#include "routing/path_precedence.hpp"

namespace portico::routing {

std::string_view match_key(std::string_view path, PathType type) {
  if (type == PathType::kExact) return path;
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return path;
}

bool path_matches(std::string_view key, bool exact, std::string_view request_path) {
  if (exact) return request_path == key;
  if (key.empty()) return true;
  if (!request_path.starts_with(key)) return false;
  return request_path.size() == key.size() || request_path[key.size()] == '/';
}

std::string validate_path(std::string_view path, PathType type, bool regex) {
  if (path.empty()) return "is required; accepted: an absolute path such as \"/\" or \"/api\"";
  if (path.front() != '/')
    return "must be an absolute path (start with '/'); \"/" + std::string(path) + "\" is accepted";
  if (regex || type == PathType::kImplementationSpecific) return {};
  for (std::string_view bad : {"//", "/./", "/../", "%2f", "%2F"}) {
    if (path.find(bad) != std::string_view::npos)
      return "must not contain '" + std::string(bad) + "' when pathType is " +
             std::string(to_string(type));
  }
  if (path.ends_with("/..") || path.ends_with("/."))
    return "must not end with '/.' or '/..' when pathType is " + std::string(to_string(type));
  return {};
}

bool precedes(const PathOrderKey& a, const PathOrderKey& b) {
  if (a.key_length != b.key_length) return a.key_length > b.key_length;
  if (a.exact != b.exact) return a.exact;
  return a.seq < b.seq;
}

}  // namespace portico::routing
