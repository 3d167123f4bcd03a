#pragma once

// Getting a connection to a cluster's endpoint: a pooled keep-alive connection when one is idle,
// else a new one (connect timeout from the configuration); a failed connect is retried once on
// another endpoint. Shared by the HTTP/1.1 and HTTP/2 front ends.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cstdint>
#include <optional>

#include "ingress/upstream_pool.hpp"

namespace portico::ingress {

class Worker;

// Why no upstream connection could be had; each maps to the status the client gets.
enum class UpstreamFailure {
  kNone,
  kNoEndpoints,  // 503: the cluster has no ready endpoint
  kConnect,      // 502: refused, unreachable, DNS failure
  kTimeout,      // 504: connect timeout
};

unsigned status_for(UpstreamFailure failure);

struct UpstreamConnection {
  std::shared_ptr<const UpstreamTarget> target;
  UpstreamPool::Connection stream;  // never null
  bool reused = false;              // from the pool: the upstream may have closed it just now
};

// Connects to an endpoint of cluster `cluster` of `table` (the table the request started with).
// `fresh` skips the pool (after a reused connection failed). `avoid` is an endpoint to try not
// to pick.
boost::asio::awaitable<std::optional<UpstreamConnection>> connect_upstream(
    Worker& worker, const routing::RouteTable& table, std::uint32_t cluster,
    UpstreamFailure& failure, bool fresh = false, const UpstreamTarget* avoid = nullptr);

}  // namespace portico::ingress
