#pragma once

// A worker: one thread, one io_context, its own SO_REUSEPORT listeners, its own upstream pool and
// balancer, its own view of the published snapshot. Nothing on the request path is shared with
// other workers except the publisher's generation counter.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <list>
#include <memory>
#include <thread>

#include "ingress/metrics.hpp"
#include "ingress/serve_config.hpp"
#include "ingress/upstream_pool.hpp"
#include "watch/publisher.hpp"
#include "watch/snapshot.hpp"

namespace portico::ingress {

class Worker;

// Keeps the snapshot a request started with alive (and current for that request) until the
// request ends, without touching a shared reference count: leases are counted per worker.
class SnapshotLease {
 public:
  SnapshotLease() = default;
  SnapshotLease(SnapshotLease&& other) noexcept : slot_(other.slot_) { other.slot_ = nullptr; }
  SnapshotLease& operator=(SnapshotLease&& other) noexcept;
  SnapshotLease(const SnapshotLease&) = delete;
  SnapshotLease& operator=(const SnapshotLease&) = delete;
  ~SnapshotLease() { release(); }

  const watch::Snapshot& operator*() const { return *slot_->snapshot; }
  const watch::Snapshot* operator->() const { return slot_->snapshot.get(); }

 private:
  friend class Worker;
  struct Slot {
    std::shared_ptr<const watch::Snapshot> snapshot;
    std::shared_ptr<boost::asio::ssl::context> ssl;  // wraps the snapshot's default SSL_CTX
    int users = 0;
  };
  explicit SnapshotLease(Slot* slot) : slot_(slot) { ++slot_->users; }
  void release();
  Slot* slot_ = nullptr;
};

class Worker {
 public:
  Worker(unsigned index, const ServeConfig& config, watch::Publisher& publisher);
  ~Worker();

  // Opens this worker's listeners (SO_REUSEPORT, so every worker binds the same ports). Throws
  // std::system_error at start-up when a port cannot be bound.
  void listen();
  void start();  // runs the io_context on a new thread
  void join();
  // Stops accepting, closes idle connections, and lets requests in flight finish with
  // "Connection: close" / GOAWAY. Thread-safe.
  void begin_drain();
  void stop();  // stops the io_context (after the grace period)

  // ---- used by connections, on this worker's thread only
  SnapshotLease lease();
  std::shared_ptr<boost::asio::ssl::context> ssl_context();
  UpstreamPool& pool() { return pool_; }
  WorkerMetrics& metrics() { return metrics_; }
  const ServeConfig& config() const { return config_; }
  boost::asio::io_context& io() { return io_; }
  bool draining() const { return draining_; }
  std::uint16_t http_port() const { return http_port_; }
  std::uint16_t https_port() const { return https_port_; }

  // Connections register so that a drain can close the idle ones.
  struct ConnectionHandle {
    boost::asio::ip::tcp::socket* socket;
    bool idle;
  };
  std::list<ConnectionHandle>::iterator register_connection(boost::asio::ip::tcp::socket& s);
  void unregister_connection(std::list<ConnectionHandle>::iterator it);
  std::size_t connection_count() const { return connection_count_.load(); }

 private:
  friend class SnapshotLease;
  void refresh();
  void retire();

  unsigned index_;
  const ServeConfig& config_;
  watch::Publisher& publisher_;
  // One thread runs it; sockets are only touched from that thread, so the reactor needs no
  // locks (the scheduler keeps its own, for post() and stop() from other threads).
  boost::asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::unique_ptr<boost::asio::ip::tcp::acceptor> http_acceptor_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> https_acceptor_;
  std::uint16_t http_port_ = 0;
  std::uint16_t https_port_ = 0;
  std::thread thread_;
  UpstreamPool pool_;
  WorkerMetrics metrics_;
  std::list<SnapshotLease::Slot> slots_;  // front: the newest
  std::uint64_t generation_ = 0;
  bool draining_ = false;
  std::list<ConnectionHandle> connections_;
  std::atomic<std::size_t> connection_count_{0};

 public:
  const WorkerMetrics& metrics_view() const { return metrics_; }
  unsigned index() const { return index_; }
};

}  // namespace portico::ingress
