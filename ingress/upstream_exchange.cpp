#include "ingress/upstream_exchange.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ingress/worker.hpp"

namespace portico::ingress {

namespace asio = boost::asio;
namespace beast = boost::beast;
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

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

asio::awaitable<UpstreamFailure> connect_once(Worker& worker, const UpstreamTarget& target,
                                              beast::tcp_stream& stream) {
  stream.expires_after(worker.config().connect_timeout);
  if (!target.dns_name.empty()) {
    // ExternalName: resolved asynchronously on every new connection; pooled connections are
    // reused, so this is paid once per connection, not per request.
    tcp::resolver resolver(worker.io());
    auto [ec, results] =
        co_await resolver.async_resolve(target.dns_name, std::to_string(target.port), kNoThrow);
    if (ec) co_return UpstreamFailure::kConnect;
    auto [connect_ec, endpoint] = co_await stream.async_connect(results, kNoThrow);
    if (connect_ec == beast::error::timeout) co_return UpstreamFailure::kTimeout;
    if (connect_ec) co_return UpstreamFailure::kConnect;
    stream.expires_never();
    co_return UpstreamFailure::kNone;
  }
  auto [ec] = co_await stream.async_connect(target.address, kNoThrow);
  if (ec == beast::error::timeout) co_return UpstreamFailure::kTimeout;
  if (ec) co_return UpstreamFailure::kConnect;
  stream.socket().set_option(tcp::no_delay(true));
  stream.expires_never();  // the front end's Deadline watches it from here
  co_return UpstreamFailure::kNone;
}

}  // namespace

asio::awaitable<std::optional<UpstreamConnection>> connect_upstream(
    Worker& worker, const routing::RouteTable& table, std::uint32_t cluster,
    UpstreamFailure& failure, bool fresh, const UpstreamTarget* avoid) {
  UpstreamPool& pool = worker.pool();
  std::shared_ptr<const UpstreamTarget> target = pool.pick(table, cluster, avoid);
  if (target == nullptr) {
    failure = UpstreamFailure::kNoEndpoints;
    co_return std::nullopt;
  }
  if (!fresh) {
    if (auto pooled = pool.take(*target))
      co_return UpstreamConnection{std::move(target), std::move(pooled), true};
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto stream = std::make_unique<beast::tcp_stream>(worker.io());
    failure = co_await connect_once(worker, *target, *stream);
    if (failure == UpstreamFailure::kNone)
      co_return UpstreamConnection{target, std::move(stream), false};
    WorkerMetrics::add(worker.metrics().upstream_connect_errors);
    if (failure == UpstreamFailure::kTimeout)
      WorkerMetrics::add(worker.metrics().upstream_timeouts);
    // A failed connect is retried once, on another endpoint when there is one.
    if (attempt == 0) {
      WorkerMetrics::add(worker.metrics().upstream_retries);
      target = pool.pick(table, cluster, target.get());
      if (target == nullptr) break;
    }
  }
  co_return std::nullopt;
}

}  // namespace portico::ingress
