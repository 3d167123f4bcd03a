#pragma once

// The per-route policy of a request (routing::Policy, from the Ingress's annotations), as one
// fixed sequence of small filters that both front ends run after the route lookup:
//
//   1. allow-list (allowlist/whitelist-source-range)  -> 403
//   2. rate limit (limit-rps, burst 5x as ingress-nginx) -> 503
//   3. force-ssl-redirect (plain HTTP)                 -> 308 to https
//   4. permanent-redirect / temporal-redirect           -> their code, Location as given
//   5. app-root (a request for /)                       -> 302 to the app root
//   6. CORS preflight (OPTIONS with enable-cors)        -> 204 with the CORS headers
// then the request goes upstream with the rewritten path (rewrite-target), the route's timeouts
// (proxy-connect/read/send-timeout) and, with enable-cors, the CORS headers added to the
// response. proxy-body-size is not a filter here: the front ends enforce it while the body
// streams. Decisions only: no I/O, so each filter is tested on its own.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ingress/http1_message.hpp"
#include "ingress/serve_config.hpp"
#include "routing/annotations.hpp"
#include "routing/route_table.hpp"

namespace portico::ingress {

// limit-rps: a token bucket per (Ingress, client address), shared by the workers of the process
// (ingress-nginx limits per replica, not per worker). Buckets idle for a minute are dropped.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // True when a request from `client` to `key` (the Ingress) may go on now.
  bool allow(std::string_view key, std::string_view client, std::int64_t rps,
             Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last{};
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
  Clock::time_point last_sweep_{};
};

// The limiter of this process, which every worker's requests share.
RateLimiter& process_rate_limiter();

struct PolicyRequest {
  std::string_view method;
  std::string_view host;            // Host or :authority as received
  std::string_view path;            // without the query
  std::string_view query;           // without '?', empty when none
  std::string_view client_address;  // the peer's IP
  bool tls = false;
  std::string_view origin;       // Origin header, if any
  std::string_view ingress;      // "namespace/name", the rate limiter's key
  std::uint16_t https_port = 0;  // the HTTPS listener's, for force-ssl-redirect's Location
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct PolicyDecision {
  unsigned status = 0;  // non-zero: answer now with this status, these headers, an empty body
  HeaderList headers;   // of that answer; or, when status is 0, headers to add to the response
};

// Runs filters 1–6. `limiter` may be null (no rate limiting).
PolicyDecision apply_policy(const routing::Policy& policy, const PolicyRequest& request,
                            RateLimiter* limiter);

// What a route's policy does to one request in a front end: an answer of the proxy's own, or
// how to forward it. Default-constructed from the configuration, it forwards unchanged with the
// global timeouts; the front ends call apply_route_policy() only for a route whose policy is not
// empty (Route::policy != 0), so a route without annotations costs one branch.
struct RouteDecision {
  explicit RouteDecision(const ServeConfig& config)
      : connect_timeout(config.connect_timeout),
        read_timeout(config.upstream_timeout),
        send_timeout(config.upstream_timeout) {}
  unsigned status = 0;  // non-zero: answer now with this status, `headers`, no body of interest
  HeaderList headers;   // of that answer; else added to the upstream's response (replacing its own)
  std::string target;   // the request target to send upstream (rewrite-target, with the query);
                        // empty: as received
  std::chrono::milliseconds connect_timeout;  // proxy-connect-timeout, else --connect-timeout
  std::chrono::milliseconds read_timeout;     // proxy-read-timeout, else --upstream-timeout
  std::chrono::milliseconds send_timeout;     // proxy-send-timeout, else --upstream-timeout
};

// The value of the first field named `name` (any case) of `head`, empty when none. For fields the
// HTTP/1 parser gives no id (Origin), looked up only for a route with a policy.
std::string_view field_value(const MessageHead& head, std::string_view name);

// The query of a request target (after '?', before any '#'), empty when none.
std::string_view query_of(std::string_view target);

// Runs the policy of route `route` (an index into table.routes()) on `request` (whose `ingress`
// is ignored: the route's Ingress keys the rate limit), with the process's rate limiter, into
// `out`.
void apply_route_policy(const routing::RouteTable& table, std::uint32_t route,
                        const PolicyRequest& request, RouteDecision& out);

}  // namespace portico::ingress
