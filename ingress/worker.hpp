#pragma once

// A worker: one thread, one io_context, its own SO_REUSEPORT listeners, its own upstream pool and
// balancer, its own view of the published snapshot. Nothing on the request path is shared with
// other workers except the publisher's generation counter.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <list>
#include <memory>
#include <thread>

#include "ingress/access_log.hpp"
#include "ingress/executor.hpp"
#include "ingress/metrics.hpp"
#include "ingress/request_series.hpp"
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
  // The metrics series of route `route` of this snapshot's table (0 when metrics are off).
  std::uint32_t series_of(std::uint32_t route) const {
    return slot_->route_series ? (*slot_->route_series)[route] : 0;
  }

 private:
  friend class Worker;
  struct Slot {
    std::shared_ptr<const watch::Snapshot> snapshot;
    std::shared_ptr<boost::asio::ssl::context> ssl;   // wraps the snapshot's default SSL_CTX
    std::shared_ptr<const RouteSeries> route_series;  // null when metrics are off
    int users = 0;
  };
  explicit SnapshotLease(Slot* slot) : slot_(slot) { ++slot_->users; }
  void release();
  Slot* slot_ = nullptr;
};

// Where a worker records the end of each request; either may be null (off).
struct RequestRecorders {
  RequestSeriesRegistry* series = nullptr;
  AccessLog* access_log = nullptr;
};

class Worker {
 public:
  Worker(unsigned index, const ServeConfig& config, watch::Publisher& publisher,
         RequestRecorders recorders = {});
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
  // The end of a request, whichever way it ended (proxied, or answered by the proxy itself):
  // its metrics series and its access log line. One call per request; no lock, no allocation
  // (but when a log buffer is handed to the writer).
  void finish_request(const AccessRecord& record, std::uint32_t series);
  // Hands the access log lines still buffered to the writer (the worker stopped).
  void flush_access_log() {
    if (log_buffer_ != nullptr) log_buffer_->hand_off();
  }
  const ServeConfig& config() const { return config_; }
  boost::asio::io_context& io() { return io_; }
  Executor executor() { return io_.get_executor(); }
  bool draining() const { return draining_; }
  std::uint16_t http_port() const { return http_port_; }
  std::uint16_t https_port() const { return https_port_; }

  // Connections register so that a drain can close the idle ones.
  struct ConnectionHandle {
    Socket* socket;
    bool idle;
  };
  std::list<ConnectionHandle>::iterator register_connection(Socket& s);
  void unregister_connection(std::list<ConnectionHandle>::iterator it);
  std::size_t connection_count() const { return connection_count_.load(); }

 private:
  friend class SnapshotLease;
  void refresh();
  void retire();

  unsigned index_;
  const ServeConfig& config_;
  watch::Publisher& publisher_;
  std::unique_ptr<Acceptor> http_acceptor_;
  std::unique_ptr<Acceptor> https_acceptor_;
  std::uint16_t http_port_ = 0;
  std::uint16_t https_port_ = 0;
  std::thread thread_;
  UpstreamPool pool_;
  WorkerMetrics metrics_;
  RequestSeriesRegistry* series_registry_ = nullptr;
  RequestSeriesRegistry::WorkerSeries* series_ = nullptr;
  AccessLog::Buffer* log_buffer_ = nullptr;
  std::list<SnapshotLease::Slot> slots_;  // front: the newest
  std::uint64_t generation_ = 0;
  bool draining_ = false;
  std::list<ConnectionHandle> connections_;
  std::atomic<std::size_t> connection_count_{0};
  // One thread runs it; sockets are only touched from that thread, so the reactor needs no
  // locks. The scheduler keeps its own: post() and stop() come from other threads, and so do
  // the completions of the resolver's thread (ExternalName). Without them (the UNSAFE hint) a
  // request would cost ~1% fewer instructions. Declared last, so destroyed first: connections
  // still open when it stops end with it, while the pool, the snapshots and the connection list
  // their coroutines refer to still exist.
  boost::asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};

 public:
  const WorkerMetrics& metrics_view() const { return metrics_; }
  unsigned index() const { return index_; }
};

}  // namespace portico::ingress
