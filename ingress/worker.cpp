#include "ingress/worker.hpp"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <system_error>

#include "ingress/connection.hpp"

namespace portico::ingress {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

SnapshotLease& SnapshotLease::operator=(SnapshotLease&& other) noexcept {
  if (this != &other) {
    release();
    slot_ = other.slot_;
    other.slot_ = nullptr;
  }
  return *this;
}

void SnapshotLease::release() {
  if (slot_ != nullptr) --slot_->users;
  slot_ = nullptr;
}

Worker::Worker(unsigned index, const ServeConfig& config, watch::Publisher& publisher,
               RequestRecorders recorders)
    : index_(index), config_(config), publisher_(publisher), pool_(config) {
  series_registry_ = recorders.series;
  if (series_registry_ != nullptr) series_ = &series_registry_->worker(index);
  if (recorders.access_log != nullptr) log_buffer_ = &recorders.access_log->buffer(index);
}

void Worker::finish_request(const AccessRecord& r, std::uint32_t series) {
  if (series_ != nullptr) {
    series_->record(RequestSample{series, method_label(r.method), r.status, r.duration.count(),
                                  r.upstream.empty() ? -1 : r.upstream_duration.count(), r.bytes_in,
                                  r.bytes_out});
  }
  if (log_buffer_ != nullptr) log_buffer_->append(r);
}

Worker::~Worker() {
  join();
  // The I/O objects nothing else holds go before the io_context they are registered with; the
  // io_context then goes first (see io_).
  http_acceptor_.reset();
  https_acceptor_.reset();
  pool_.close_idle();
}

namespace {

std::unique_ptr<Acceptor> open_acceptor(asio::io_context& io, const ListenAddress& address) {
  auto acceptor = std::make_unique<Acceptor>(io.get_executor());
  tcp::endpoint endpoint(asio::ip::make_address(address.host), address.port);
  acceptor->open(endpoint.protocol());
  acceptor->set_option(asio::socket_base::reuse_address(true));
  using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  acceptor->set_option(reuse_port(true));
  acceptor->bind(endpoint);
  acceptor->listen(asio::socket_base::max_listen_connections);
  return acceptor;
}

// Lines of a quiet worker reach the log within kFlushInterval: a busy one hands its buffer off
// when it is full.
Awaitable<void> hand_off_access_log(Worker& worker, boost::asio::io_context& io) {
  boost::asio::steady_timer timer(io);
  for (;;) {
    timer.expires_after(AccessLog::kFlushInterval);
    auto [ec] = co_await timer.async_wait(kAwaitNoThrow);
    if (ec) co_return;
    worker.flush_access_log();
  }
}

template <typename Serve>
Awaitable<void> accept_loop(Worker& worker, Acceptor& acceptor, Serve serve) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kAwaitNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      continue;  // EMFILE and friends: keep accepting
    }
    boost::system::error_code ignored;
    // Over the limit, accepted and closed rather than left in the backlog: with SO_REUSEPORT
    // the kernel keeps handing this worker its share of new connections whether or not it
    // accepts, and one left waiting would look like a hung server; closed, the client learns at
    // once and may retry (likely on another worker).
    if (worker.connection_count() >= worker.config().max_connections_per_worker) {
      WorkerMetrics::add(worker.metrics().connections_refused);
      socket.close(ignored);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ignored);
    socket.non_blocking(true, ignored);  // for write_now
    asio::co_spawn(worker.io(), serve(worker, std::move(socket)), asio::detached);
  }
}

}  // namespace

void Worker::listen() {
  // Workers after the first bind the port the first one got (port 0 in tests).
  if (config_.http.enabled()) {
    http_acceptor_ = open_acceptor(io_, config_.http);
    http_port_ = http_acceptor_->local_endpoint().port();
  }
  if (config_.https.enabled()) {
    https_acceptor_ = open_acceptor(io_, config_.https);
    https_port_ = https_acceptor_->local_endpoint().port();
  }
}

void Worker::start() {
  if (http_acceptor_)
    asio::co_spawn(io_, accept_loop(*this, *http_acceptor_, serve_plain), asio::detached);
  if (https_acceptor_)
    asio::co_spawn(io_, accept_loop(*this, *https_acceptor_, serve_tls), asio::detached);
  if (log_buffer_ != nullptr) asio::co_spawn(io_, hand_off_access_log(*this, io_), asio::detached);
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::begin_drain() {
  asio::post(io_, [this] {
    draining_ = true;
    boost::system::error_code ec;
    if (http_acceptor_) http_acceptor_->close(ec);
    if (https_acceptor_) https_acceptor_->close(ec);
    for (ConnectionHandle& c : connections_) {
      if (c.idle) c.socket->close(ec);
    }
  });
}

void Worker::stop() {
  io_.stop();
}

std::list<Worker::ConnectionHandle>::iterator Worker::register_connection(Socket& socket) {
  connection_count_.fetch_add(1, std::memory_order_relaxed);
  return connections_.insert(connections_.end(), ConnectionHandle{&socket, false});
}

void Worker::unregister_connection(std::list<ConnectionHandle>::iterator it) {
  connections_.erase(it);
  connection_count_.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::refresh() {
  std::uint64_t generation = publisher_.generation();
  if (generation == generation_ && !slots_.empty()) return;
  auto snapshot = publisher_.current();
  if (!snapshot) return;
  generation_ = generation;
  SnapshotLease::Slot slot;
  slot.snapshot = snapshot;
  SSL_CTX* ctx = snapshot->certs->default_context();
  SSL_CTX_up_ref(ctx);  // asio's context takes ownership of one reference
  slot.ssl = std::make_shared<asio::ssl::context>(ctx);
  if (series_registry_ != nullptr)
    slot.route_series = series_registry_->series_for(snapshot->table);
  slots_.push_front(std::move(slot));
  pool_.update(*snapshot->table);
  retire();
}

void Worker::retire() {
  // Older snapshots live while a request still uses them.
  for (auto it = std::next(slots_.begin()); it != slots_.end();) {
    if (it->users == 0) {
      it = slots_.erase(it);
    } else {
      ++it;
    }
  }
}

SnapshotLease Worker::lease() {
  refresh();
  return SnapshotLease(&slots_.front());
}

std::shared_ptr<asio::ssl::context> Worker::ssl_context() {
  refresh();
  return slots_.front().ssl;
}

}  // namespace portico::ingress
