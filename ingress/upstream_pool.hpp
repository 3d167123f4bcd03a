#pragma once

// Per-worker upstream state: the keep-alive connection pool and the load balancer. One instance
// per worker thread, used only from that thread: no locks.

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ingress/executor.hpp"
#include "ingress/serve_config.hpp"
#include "routing/route_table.hpp"

namespace portico::ingress {

class Http2UpstreamSession;

// What a worker knows of one endpoint: its idle connections and its load. Found through the
// targets that name it, so a request looks nothing up by name.
struct UpstreamEndpoint {
  // HTTP/2 connections (backend-protocol GRPC/GRPCS), shared by the calls of every client on
  // the worker; a session leaves this list when its connection ends (upstream_http2.hpp).
  std::vector<std::shared_ptr<Http2UpstreamSession>> http2_sessions;
  struct Idle {
    std::unique_ptr<Socket> socket;
    std::chrono::steady_clock::time_point since;
    bool tls = false;  // HTTPS (backend-protocol): a TLS bridge, never given to a plain request
  };
  std::vector<Idle> idle;  // the most recently used last
  int in_flight = 0;       // responses being relayed (least-request balancing)
  std::size_t in_use = 0;  // connections checked out now
  std::size_t peak = 0;    // most connections checked out at once this period
  std::chrono::steady_clock::time_point period_start;
  bool live = true;  // still in the table: connections may be pooled
};

// An endpoint as the balancer hands it out: a resolved address, or a DNS name (ExternalName).
struct UpstreamTarget {
  boost::asio::ip::tcp::endpoint address;  // valid unless `dns_name` is set
  std::string dns_name;
  std::uint16_t port = 0;
  std::string key;  // "address:port", identifies the endpoint in the pool
  std::shared_ptr<UpstreamEndpoint> endpoint;  // never null
};

// How a request wants its endpoint picked when not by the configured balancer (ingress-nginx's
// upstream-hash-by and affinity: cookie; see backend_choice.hpp).
struct Affinity {
  enum class Kind : std::uint8_t { kNone, kHash, kCookie };
  Kind kind = Kind::kNone;
  std::uint64_t key = 0;  // kHash: hash_key() of the expanded key; kCookie: the client's token
  bool has_key = false;   // kCookie: the client sent a token that parses
};

// The opaque token an affinity cookie carries for an endpoint: the first 64 bits of SHA-256 of
// "address:port", so the cookie does not show the address, is the same in every worker and every
// replica, and names only an endpoint the cluster has now (pick() looks it up among them).
std::uint64_t affinity_token(const UpstreamTarget& target);
// The hash consistent hashing places keys and endpoints with (64 bits, stable across processes).
std::uint64_t hash_key(std::string_view key);

// A connection to an endpoint, checked out of the pool (or new) for one request. Counted as in
// use while it holds its socket; given back with UpstreamPool::give_back, or closed with it.
struct UpstreamConnection {
  UpstreamConnection(std::shared_ptr<const UpstreamTarget> t, std::unique_ptr<Socket> s, bool r)
      : target(std::move(t)), socket(std::move(s)), reused(r) {
    if (socket) ++target->endpoint->in_use;
  }
  ~UpstreamConnection() { release(); }
  UpstreamConnection(UpstreamConnection&&) noexcept = default;
  UpstreamConnection& operator=(UpstreamConnection&& other) noexcept {
    if (this != &other) {
      release();
      target = std::move(other.target);
      socket = std::move(other.socket);
      reused = other.reused;
      tls = other.tls;
    }
    return *this;
  }
  // Closes the socket now (a reset stream, a connection going away); it is not pooled.
  void close() {
    boost::system::error_code ignored;
    if (socket) socket->close(ignored);
  }
  void release() {
    if (socket) {
      --target->endpoint->in_use;
      socket.reset();
    }
  }

  std::shared_ptr<const UpstreamTarget> target;
  std::unique_ptr<Socket> socket;  // null once given back
  bool reused = false;             // from the pool: the upstream may have closed it just now
  bool tls = false;                // HTTP/1.1 over TLS (upstream_tls_bridge)
};

class UpstreamPool {
 public:
  explicit UpstreamPool(const ServeConfig& config) : config_(config) {}

  // Makes the balancer follow a newly published table. Balancer state of clusters that are still
  // there (by cluster key) is kept, so a rule change does not reset it, and pooled connections are
  // kept for every endpoint that still exists.
  void update(const routing::RouteTable& table);

  // Chooses a ready endpoint of cluster `cluster` of `table` (the table a request started with,
  // which may be older than the one given to update() last: then the cluster is found by key),
  // avoiding `exclude` when another one exists. Null when the cluster has no ready endpoint.
  // Targets are shared: a request keeps its own even if the cluster is gone after a reload.
  // With `affinity`: kHash picks by consistent hashing (a ring: see pick_hashed), kCookie the
  // endpoint whose token the client sent while it is ready; otherwise (no token, an unknown one,
  // or that endpoint is `exclude`) the balancer picks as without.
  std::shared_ptr<const UpstreamTarget> pick(const routing::RouteTable& table,
                                             std::uint32_t cluster,
                                             const UpstreamTarget* exclude = nullptr,
                                             const Affinity* affinity = nullptr);

  // For canary-weight draws.
  std::minstd_rand& random() { return random_; }

  // In-flight bookkeeping for least-request balancing.
  static void started(const UpstreamTarget& target) { ++target.endpoint->in_flight; }
  static void finished(const UpstreamTarget& target) { --target.endpoint->in_flight; }

  // An idle connection to `target` that the peer has not closed, or null; over TLS or not as
  // `tls` says (an endpoint's port speaks one or the other, but two Ingresses may disagree).
  std::unique_ptr<Socket> take(const UpstreamTarget& target, bool tls = false);
  // Keeps the connection of a request whose response was read completely and allows keep-alive.
  // Up to upstream_idle_per_endpoint idle connections are kept per endpoint, or as many as were
  // in use at once lately when that is more: a burst of more concurrent requests than the limit
  // (an HTTP/2 client with many streams) would otherwise close and reopen connections every time.
  void give_back(UpstreamConnection& connection);

  std::size_t idle_connections() const;
  // Closes every pooled connection (the worker stopping: before its io_context goes).
  void close_idle();

 private:
  struct ClusterState {
    std::vector<std::shared_ptr<const UpstreamTarget>> ready;
    std::size_t next = 0;  // round robin position
    // Built on the first request that needs them (most clusters never do):
    std::vector<std::pair<std::uint64_t, std::uint32_t>> ring;  // point -> index in ready
    std::vector<std::uint64_t> tokens;                          // affinity_token of ready[i]
  };
  // Indices into state.ready; pick_sticky gives kNoIndex for a token of no ready endpoint.
  static constexpr std::size_t kNoIndex = ~std::size_t{0};
  std::size_t pick_hashed(ClusterState& state, std::uint64_t key);
  std::size_t pick_sticky(ClusterState& state, std::uint64_t token);

  const ServeConfig& config_;
  std::unordered_map<std::string, ClusterState> by_key_;  // cluster key -> state
  std::vector<ClusterState*> by_index_;                   // cluster index of table_ -> state
  const routing::RouteTable* table_ = nullptr;            // the table given to update() last
  std::unordered_map<std::string, std::shared_ptr<UpstreamEndpoint>> endpoints_;  // by key
  std::minstd_rand random_{std::random_device{}()};
};

// Keeps least-request balancing right on every way out of a request: counts the target as in
// flight from start() until destruction. Holds the target: a reload may drop the endpoint from
// the pool while the request is in flight.
class InFlight {
 public:
  InFlight() = default;
  ~InFlight() {
    if (target_) UpstreamPool::finished(*target_);
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  void start(std::shared_ptr<const UpstreamTarget> target) {
    target_ = std::move(target);
    UpstreamPool::started(*target_);
  }

 private:
  std::shared_ptr<const UpstreamTarget> target_;
};

}  // namespace portico::ingress
