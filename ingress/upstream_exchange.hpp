#pragma once

// Getting a connection to a cluster's endpoint: a pooled keep-alive connection when one is idle,
// else a new one (connect timeout from the configuration); a failed connect is retried once on
// another endpoint. Shared by the HTTP/1.1 and HTTP/2 front ends.

#include <chrono>
#include <cstdint>
#include <optional>

#include "ingress/executor.hpp"
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

// Picks an endpoint of cluster `cluster` of `table` (the table the request started with),
// avoiding `avoid` when another one is ready, and takes an idle pooled connection to it (over
// TLS with `tls`) unless `fresh` (after a reused connection failed). Without one, nullopt with
// `target` set to the endpoint to connect_upstream() to, or null with `failure` set when the
// cluster has no ready endpoint. `affinity` (null: none) is handed to UpstreamPool::pick.
std::optional<UpstreamConnection> take_upstream(
    Worker& worker, const routing::RouteTable& table, std::uint32_t cluster, bool fresh,
    std::shared_ptr<const UpstreamTarget>& target, UpstreamFailure& failure,
    const UpstreamTarget* avoid = nullptr, const Affinity* affinity = nullptr, bool tls = false);

// A new connection to `target`; a failed connect is retried once, on another endpoint of the
// cluster when there is one. Nullopt with `failure` set when both failed. Each connect may take
// `connect_timeout` (the route's proxy-connect-timeout), or the configuration's when zero. With
// `tls` (backend-protocol HTTPS), HTTP/1.1 over TLS through a bridge (upstream_tls_bridge.hpp);
// a failed handshake counts as a failed connect.
Awaitable<std::optional<UpstreamConnection>> connect_upstream(
    Worker& worker, const routing::RouteTable& table, std::uint32_t cluster,
    std::shared_ptr<const UpstreamTarget> target, UpstreamFailure& failure,
    std::chrono::milliseconds connect_timeout = {}, bool tls = false);

}  // namespace portico::ingress
