#include "ingress/upstream_exchange.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "ingress/upstream_tls_bridge.hpp"
#include "ingress/worker.hpp"

namespace portico::ingress {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

unsigned status_for(UpstreamFailure failure) {
  switch (failure) {
    case UpstreamFailure::kNoEndpoints:
      return 503;
    case UpstreamFailure::kTimeout:
      return 504;
    case UpstreamFailure::kConnect:
    case UpstreamFailure::kNone:
      break;
  }
  return 502;
}

namespace {

Awaitable<UpstreamFailure> connect_once(const UpstreamTarget& target, Socket& socket,
                                        std::chrono::milliseconds timeout) {
  // The connect timeout closes the socket, which fails the connect. The timer's handler may run
  // after this coroutine is gone: what it touches is shared.
  struct Guard {
    Socket* socket;
    bool done = false;
    bool expired = false;
  };
  auto guard = std::make_shared<Guard>(Guard{&socket});
  Timer timer(socket.get_executor(), timeout);
  timer.async_wait([guard](const boost::system::error_code& ec) {
    if (ec || guard->done) return;
    guard->expired = true;
    boost::system::error_code ignored;
    guard->socket->close(ignored);
  });
  struct Done {
    Guard& guard;
    Timer& timer;
    ~Done() {
      guard.done = true;
      timer.cancel();
    }
  } done{*guard, timer};

  boost::system::error_code ec;
  if (!target.dns_name.empty()) {
    // ExternalName: resolved asynchronously on every new connection; pooled connections are
    // reused, so this is paid once per connection, not per request.
    asio::ip::basic_resolver<tcp, Executor> resolver(socket.get_executor());
    auto [resolve_ec, results] = co_await resolver.async_resolve(
        target.dns_name, std::to_string(target.port), kAwaitNoThrow);
    if (guard->expired) co_return UpstreamFailure::kTimeout;
    if (resolve_ec) co_return UpstreamFailure::kConnect;
    auto [connect_ec, endpoint] = co_await asio::async_connect(socket, results, kAwaitNoThrow);
    ec = connect_ec;
  } else {
    auto [connect_ec] = co_await socket.async_connect(target.address, kAwaitNoThrow);
    ec = connect_ec;
  }
  if (guard->expired) co_return UpstreamFailure::kTimeout;
  if (ec) co_return UpstreamFailure::kConnect;
  socket.set_option(tcp::no_delay(true), ec);
  socket.non_blocking(true, ec);  // for write_now
  co_return UpstreamFailure::kNone;
}

}  // namespace

std::optional<UpstreamConnection> take_upstream(Worker& worker, const routing::RouteTable& table,
                                                std::uint32_t cluster, bool fresh,
                                                std::shared_ptr<const UpstreamTarget>& target,
                                                UpstreamFailure& failure,
                                                const UpstreamTarget* avoid,
                                                const Affinity* affinity, bool tls) {
  UpstreamPool& pool = worker.pool();
  target = pool.pick(table, cluster, avoid, affinity);
  if (target == nullptr) {
    failure = UpstreamFailure::kNoEndpoints;
    return std::nullopt;
  }
  if (!fresh) {
    if (auto pooled = pool.take(*target, tls)) {
      UpstreamConnection connection(std::move(target), std::move(pooled), true);
      connection.tls = tls;
      return connection;
    }
  }
  return std::nullopt;
}

Awaitable<std::optional<UpstreamConnection>> connect_upstream(
    Worker& worker, const routing::RouteTable& table, std::uint32_t cluster,
    std::shared_ptr<const UpstreamTarget> target, UpstreamFailure& failure,
    std::chrono::milliseconds connect_timeout, bool tls) {
  if (connect_timeout.count() == 0) connect_timeout = worker.config().connect_timeout;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto socket = std::make_unique<Socket>(worker.executor());
    failure = co_await connect_once(*target, *socket, connect_timeout);
    if (failure == UpstreamFailure::kNone && tls) {
      socket = co_await open_tls_bridge(worker, std::move(socket), *target);
      if (!socket) failure = UpstreamFailure::kConnect;
    }
    if (failure == UpstreamFailure::kNone) {
      UpstreamConnection connection(target, std::move(socket), false);
      connection.tls = tls;
      co_return std::move(connection);
    }
    WorkerMetrics::add(worker.metrics().upstream_connect_errors);
    if (failure == UpstreamFailure::kTimeout)
      WorkerMetrics::add(worker.metrics().upstream_timeouts);
    // A failed connect is retried once, on another endpoint when there is one.
    if (attempt == 0) {
      WorkerMetrics::add(worker.metrics().upstream_retries);
      target = worker.pool().pick(table, cluster, target.get());
      if (target == nullptr) break;
    }
  }
  co_return std::nullopt;
}

}  // namespace portico::ingress
