#pragma once

// Host names as Kubernetes validates them and as requests carry them.

#include <cstddef>
#include <string>
#include <string_view>

namespace portico::routing {

// Longest host name the matcher considers (RFC 1035: 253 characters).
inline constexpr std::size_t kMaxHostLength = 253;

// The host part of a Host header or :authority, normalized for lookup: port removed
// ("a.example:8080" -> "a.example", "[::1]:80" -> "[::1]"), one trailing dot removed, lower-cased
// into `buffer`. Returns an empty view when the host is empty or longer than kMaxHostLength.
std::string_view normalize_request_host(std::string_view host, char (&buffer)[kMaxHostLength + 1]);

// Checks spec.rules[].host / spec.tls[].hosts[] as the API server does: a lower-case RFC 1123
// subdomain, optionally prefixed by "*." (a wildcard for exactly one DNS label), never an IP
// address. Returns an empty string when valid, else what is wrong and what is accepted.
std::string validate_rule_host(std::string_view host);

// True when `host` (normalized) is covered by `pattern` ("a.b" exact, "*.b" one label of b).
bool host_covers(std::string_view pattern, std::string_view host);

}  // namespace portico::routing
