#pragma once

// Which backend a request goes to when its route asks for more than the balancer's default:
// ingress-nginx's canary (a canary Ingress attached to the route), cookie affinity and
// upstream-hash-by. The front ends call choose_backend() only for routes with a policy or a
// canary, so a plain route pays one comparison.

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "ingress/upstream_pool.hpp"
#include "routing/route_table.hpp"

namespace portico::ingress {

class MessageHead;

// What of a request the choice may look at. Views into the request; they must outlive the call.
struct RequestFacts {
  std::string_view target;              // path and query as received (no scheme or authority)
  std::string_view path;                // without query
  std::string_view host;                // Host or :authority as received
  std::string_view client_address;      // IP text
  std::string_view cookie;              // the Cookie field(s) (HTTP/2: crumbs joined with "; ")
  const MessageHead* fields = nullptr;  // the other fields, to look up by name

  // The value of the first field `name` (any case; "host" and "cookie" included), or nullopt.
  std::optional<std::string_view> field(std::string_view name) const;
};

// The outcome: the cluster to use and how to pick its endpoint.
struct BackendChoice {
  std::uint32_t cluster = 0;
  Affinity affinity;             // kNone: the configured balancer
  std::string_view cookie_name;  // cookie affinity: the cookie to set
  std::string_view cookie_path;  // its Path
  const Affinity* affinity_or_null() const {
    return affinity.kind == Affinity::Kind::kNone ? nullptr : &affinity;
  }
};

// Chooses for a request to `route` of `table`: the canary backend when the route has one and the
// request selects it (canary-by-header "always" or the canary-by-header-value, else not on
// "never"; then canary-weight out of canary-weight-total, drawn from `random`), else the route's
// cluster; then the affinity of whichever Ingress that backend comes from (cookie affinity wins
// over upstream-hash-by, as in ingress-nginx).
BackendChoice choose_backend(const routing::RouteTable& table, const routing::Route& route,
                             const RequestFacts& request, std::minstd_rand& random);

// Whether the request selects the canary (exposed for tests).
bool canary_selected(const routing::CanaryPolicy& canary, const RequestFacts& request,
                     std::minstd_rand& random);

// The value of cookie `name` in a Cookie field value ("a=1; b=2"), or nullopt.
std::optional<std::string_view> cookie_value(std::string_view cookie, std::string_view name);

// Expands an upstream-hash-by key: literal text and nginx variables ($request_uri, $uri, $args,
// $host, $remote_addr, $binary_remote_addr, $http_NAME, $cookie_NAME, $arg_NAME; the compiler
// has refused others). A variable that is absent from the request expands to nothing.
std::string expand_hash_key(std::string_view key, const RequestFacts& request);

// The Set-Cookie value that pins the client to `target`, or empty when the client's cookie
// already names it (or the choice has no cookie affinity).
std::string affinity_set_cookie(const BackendChoice& choice, const UpstreamTarget& target);

}  // namespace portico::ingress
