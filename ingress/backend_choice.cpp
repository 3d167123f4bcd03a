#include "ingress/backend_choice.hpp"

#include <boost/beast/core/string.hpp>

#include "ingress/http1_message.hpp"

namespace portico::ingress {

namespace beast = boost::beast;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view query_of(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  return query.substr(0, query.find('#'));
}

// The value of parameter `name` in a query string ("a=1&b=2"), as written (not decoded, as
// nginx's $arg_NAME).
std::optional<std::string_view> query_arg(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    std::string_view key = pair.substr(0, pair.find('='));
    if (beast::iequals(key, name))
      return key.size() < pair.size() ? pair.substr(key.size() + 1) : std::string_view();
  }
  return std::nullopt;
}

std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.find(':'));
}

char hex_digit(unsigned v) {
  return static_cast<char>(v < 10 ? '0' + v : 'a' + v - 10);
}

std::optional<std::uint64_t> parse_token(std::string_view text) {
  if (text.size() != 16) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    v = (v << 4) | d;
  }
  return v;
}

// Fills `choice.affinity` from the policy of the Ingress the chosen backend comes from.
void set_affinity(BackendChoice& choice, const routing::Policy& policy, std::string_view path,
                  const RequestFacts& request) {
  if (policy.cookie_affinity) {
    choice.affinity.kind = Affinity::Kind::kCookie;
    choice.cookie_name = policy.session_cookie_name;
    choice.cookie_path = policy.session_cookie_path.empty() ? path : policy.session_cookie_path;
    if (auto value = cookie_value(request.cookie, policy.session_cookie_name)) {
      if (auto token = parse_token(*value)) {
        choice.affinity.key = *token;
        choice.affinity.has_key = true;
      }
    }
  } else if (!policy.upstream_hash_by.empty()) {
    choice.affinity.kind = Affinity::Kind::kHash;
    choice.affinity.key = hash_key(expand_hash_key(policy.upstream_hash_by, request));
  }
}

}  // namespace

std::optional<std::string_view> RequestFacts::field(std::string_view name) const {
  if (beast::iequals(name, "host")) return host;
  if (beast::iequals(name, "cookie")) {
    if (cookie.empty()) return std::nullopt;
    return cookie;
  }
  if (fields == nullptr) return std::nullopt;
  for (std::size_t i = 0; i < fields->size(); ++i) {
    const MessageHead::Field f = (*fields)[i];
    if (beast::iequals(f.name, name)) return f.value;
  }
  return std::nullopt;
}

std::optional<std::string_view> cookie_value(std::string_view cookie, std::string_view name) {
  while (!cookie.empty()) {
    std::string_view pair = cookie.substr(0, cookie.find(';'));
    cookie.remove_prefix(std::min(cookie.size(), pair.size() + 1));
    pair = trim(pair);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim(pair.substr(0, eq)) != name) continue;
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    return value;
  }
  return std::nullopt;
}

std::string expand_hash_key(std::string_view key, const RequestFacts& request) {
  std::string out;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (key[i] != '$') {
      out += key[i];
      continue;
    }
    std::size_t j = i + 1;
    while (j < key.size() && (std::isalnum(static_cast<unsigned char>(key[j])) || key[j] == '_'))
      ++j;
    const std::string_view var = key.substr(i + 1, j - i - 1);
    i = j - 1;
    if (var == "request_uri") {
      out += request.target;
    } else if (var == "uri") {
      out += request.path;
    } else if (var == "args") {
      out += query_of(request.target);
    } else if (var == "host") {
      for (char c : host_without_port(request.host))
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (var == "remote_addr" || var == "binary_remote_addr") {
      out += request.client_address;
    } else if (var.starts_with("http_")) {
      // nginx: $http_x_user is the field X-User.
      std::string name(var.substr(5));
      for (char& c : name) c = c == '_' ? '-' : c;
      if (auto v = request.field(name)) out += *v;
    } else if (var.starts_with("cookie_")) {
      if (auto v = cookie_value(request.cookie, var.substr(7))) out += *v;
    } else if (var.starts_with("arg_")) {
      if (auto v = query_arg(query_of(request.target), var.substr(4))) out += *v;
    }
  }
  return out;
}

bool canary_selected(const routing::CanaryPolicy& canary, const RequestFacts& request,
                     std::minstd_rand& random) {
  // ingress-nginx's order: canary-by-header, then canary-weight (canary-by-cookie is not
  // supported here).
  if (!canary.by_header.empty()) {
    if (auto value = request.field(canary.by_header)) {
      if (!canary.by_header_value.empty()) {
        if (*value == canary.by_header_value) return true;
      } else if (*value == "always") {
        return true;
      } else if (*value == "never") {
        return false;
      }
    }
  }
  if (!canary.weight || *canary.weight <= 0) return false;
  if (*canary.weight >= canary.weight_total) return true;
  std::uniform_int_distribution<std::int64_t> draw(0, canary.weight_total - 1);
  return draw(random) < *canary.weight;
}

BackendChoice choose_backend(const routing::RouteTable& table, const routing::Route& route,
                             const RequestFacts& request, std::minstd_rand& random) {
  BackendChoice choice;
  choice.cluster = route.cluster;
  const routing::Policy* policy = &table.policy_of(route);
  if (route.canary != routing::Route::kNone) {
    const routing::CanaryBackend& canary = table.canaries()[route.canary];
    const routing::Policy& canary_policy = table.policies()[canary.policy];
    if (canary_selected(canary_policy.canary, request, random)) {
      choice.cluster = canary.cluster;
      policy = &canary_policy;
    }
  }
  if (policy->cookie_affinity || !policy->upstream_hash_by.empty()) {
    // The cookie's default Path is the route's path (ingress-nginx: the location's path); a
    // default backend has none: "/".
    std::string_view path = route.path;
    if (path.empty() || route.regex) path = "/";
    set_affinity(choice, *policy, path, request);
  }
  return choice;
}

std::string affinity_set_cookie(const BackendChoice& choice, const UpstreamTarget& target) {
  if (choice.affinity.kind != Affinity::Kind::kCookie) return {};
  const std::uint64_t token = affinity_token(target);
  if (choice.affinity.has_key && choice.affinity.key == token) return {};
  std::string out(choice.cookie_name);
  out += '=';
  for (int shift = 60; shift >= 0; shift -= 4) out += hex_digit((token >> shift) & 0xf);
  out += "; Path=";
  out += choice.cookie_path;
  out += "; HttpOnly";
  return out;
}

}  // namespace portico::ingress
