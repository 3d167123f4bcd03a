#include "routing/host_name.hpp"

#include <algorithm>

namespace portico::routing {

std::string_view normalize_request_host(std::string_view host, char (&buffer)[kMaxHostLength + 1]) {
  if (!host.empty() && host.front() == '[') {
    // IPv6 literal: keep the brackets, drop the port.
    auto close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else if (auto colon = host.find(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > kMaxHostLength) return {};
  for (std::size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    buffer[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return {buffer, host.size()};
}

namespace {

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool looks_like_ipv4(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.';
  }) && std::count(s.begin(), s.end(), '.') == 3;
}

}  // namespace

std::string validate_rule_host(std::string_view host) {
  if (host.find(':') != std::string_view::npos) {
    if (host.find_first_not_of("0123456789abcdefABCDEF:.[]") == std::string_view::npos)
      return "must be a DNS name, not an IP address";
    return "must not contain a port; accepted: a DNS name such as \"shop.example.com\" or "
           "\"*.example.com\"";
  }
  std::string_view name = host;
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty()) return "must not be empty after \"*.\"";
  if (host.size() > kMaxHostLength) return "must be no more than 253 characters";
  if (name.find('*') != std::string_view::npos)
    return "a wildcard is accepted only as the whole first label, as in \"*.example.com\"";
  if (looks_like_ipv4(name)) return "must be a DNS name, not an IP address";
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '.') {
      char c = name[i];
      if (c >= 'A' && c <= 'Z')
        return "must be lower case (RFC 1123): \"" + [&] {
          std::string lower(host);
          std::transform(lower.begin(), lower.end(), lower.begin(),
                         [](char x) { return (x >= 'A' && x <= 'Z') ? char(x - 'A' + 'a') : x; });
          return lower;
        }() + "\" is accepted";
      if (!is_lower_alnum(c) && c != '-')
        return std::string("invalid character '") + c +
               "'; accepted: lower-case letters, digits, '-' and '.' (RFC 1123)";
      continue;
    }
    std::string_view label = name.substr(label_start, i - label_start);
    if (label.empty())
      return "must not contain an empty label (\"..\", or a leading or trailing dot)";
    if (label.size() > 63) return "each label must be no more than 63 characters";
    if (label.front() == '-' || label.back() == '-')
      return "each label must start and end with a letter or digit (RFC 1123)";
    label_start = i + 1;
  }
  return {};
}

bool host_covers(std::string_view pattern, std::string_view host) {
  if (!pattern.starts_with("*.")) return pattern == host;
  auto dot = host.find('.');
  if (dot == 0 || dot == std::string_view::npos) return false;
  return host.substr(dot + 1) == pattern.substr(2);
}

}  // namespace portico::routing
