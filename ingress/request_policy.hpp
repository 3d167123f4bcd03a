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
//   7. proxy-body-size (a declared Content-Length)      -> 413
// then the request goes upstream with the rewritten path (rewrite-target) and, with enable-cors,
// the CORS headers added to the response. Decisions only: no I/O, so each filter is tested on
// its own.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "routing/annotations.hpp"

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

struct PolicyRequest {
  std::string_view method;
  std::string_view host;            // Host or :authority as received
  std::string_view path;            // without the query
  std::string_view query;           // without '?', empty when none
  std::string_view client_address;  // the peer's IP
  bool tls = false;
  std::string_view origin;  // Origin header, if any
  std::optional<std::uint64_t> content_length;
  std::string_view ingress;  // "namespace/name", the rate limiter's key
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct PolicyDecision {
  unsigned status = 0;  // non-zero: answer now with this status, these headers, an empty body
  HeaderList headers;   // of that answer; or, when status is 0, headers to add to the response
};

// Runs filters 1–7. `limiter` may be null (no rate limiting).
PolicyDecision apply_policy(const routing::Policy& policy, const PolicyRequest& request,
                            RateLimiter* limiter);

}  // namespace portico::ingress
