#pragma once

// Per-worker upstream state: the keep-alive connection pool and the load balancer. One instance
// per worker thread, used only from that thread: no locks.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "ingress/serve_config.hpp"
#include "routing/route_table.hpp"

namespace portico::ingress {

// An endpoint as the balancer hands it out: a resolved address, or a DNS name (ExternalName).
struct UpstreamTarget {
  boost::asio::ip::tcp::endpoint address;  // valid unless `dns_name` is set
  std::string dns_name;
  std::uint16_t port = 0;
  std::string key;  // "address:port", identifies the endpoint in the pool and in-flight counts
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
  std::shared_ptr<const UpstreamTarget> pick(const routing::RouteTable& table,
                                             std::uint32_t cluster,
                                             const UpstreamTarget* exclude = nullptr);

  // In-flight bookkeeping for least-request balancing.
  void started(const UpstreamTarget& target) { ++in_flight_[target.key]; }
  void finished(const UpstreamTarget& target) { --in_flight_[target.key]; }

  // Connections are held by pointer: moving a beast::tcp_stream allocates a new implementation
  // (it keeps the old one valid for pending operations), which cost a few allocations per
  // request before.
  using Connection = std::unique_ptr<boost::beast::tcp_stream>;

  // An idle connection to `target` that the peer has not closed, or null.
  Connection take(const UpstreamTarget& target);
  // Keeps a connection whose last response was read completely and allows keep-alive.
  void give_back(const UpstreamTarget& target, Connection stream);

  std::size_t idle_connections() const;

 private:
  struct ClusterState {
    std::vector<std::shared_ptr<const UpstreamTarget>> ready;
    std::size_t next = 0;  // round robin position
  };
  struct Idle {
    Connection stream;
    std::chrono::steady_clock::time_point since;
  };

  const ServeConfig& config_;
  std::unordered_map<std::string, ClusterState> by_key_;     // cluster key -> state
  std::vector<ClusterState*> by_index_;                      // cluster index of table_ -> state
  const routing::RouteTable* table_ = nullptr;               // the table given to update() last
  std::unordered_map<std::string, std::vector<Idle>> idle_;  // endpoint key -> connections
  std::unordered_map<std::string, int> in_flight_;
  std::minstd_rand random_{std::random_device{}()};
};

// Keeps least-request balancing right on every way out of a request: counts the target as in
// flight from start() until destruction. Holds the target: a reload may drop the endpoint from
// the pool while the request is in flight.
class InFlight {
 public:
  explicit InFlight(UpstreamPool& pool) : pool_(pool) {}
  ~InFlight() {
    if (target_) pool_.finished(*target_);
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  void start(std::shared_ptr<const UpstreamTarget> target) {
    target_ = std::move(target);
    pool_.started(*target_);
  }

 private:
  UpstreamPool& pool_;
  std::shared_ptr<const UpstreamTarget> target_;
};

}  // namespace portico::ingress
