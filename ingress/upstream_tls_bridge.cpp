#include "ingress/upstream_tls_bridge.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <vector>

#include "ingress/upstream_http2.hpp"
#include "ingress/worker.hpp"

namespace portico::ingress {

namespace asio = boost::asio;

namespace {

// One TLS record's worth: a read of the pair is one SSL_write.
constexpr std::size_t kPiece = 16 * 1024;

// Both pumps hold it; the last one to end frees it.
struct Bridge {
  explicit Bridge(std::unique_ptr<Socket> socket)
      : tcp(std::move(socket)), tls(*tcp, upstream_tls_context()), pair(tcp->get_executor()) {}
  void close() {
    boost::system::error_code ignored;
    pair.close(ignored);
    tcp->close(ignored);
  }
  std::unique_ptr<Socket> tcp;
  asio::ssl::stream<Socket&> tls;
  Socket pair;  // the pump's end of the socket pair
};

Awaitable<void> to_upstream(std::shared_ptr<Bridge> bridge) {
  std::vector<char> buffer(kPiece);
  for (;;) {
    auto [ec, n] = co_await bridge->pair.async_read_some(asio::buffer(buffer), kAwaitNoThrow);
    if (ec) break;
    auto [write_ec, written] =
        co_await asio::async_write(bridge->tls, asio::buffer(buffer.data(), n), kAwaitNoThrow);
    if (write_ec) break;
  }
  bridge->close();
}

Awaitable<void> from_upstream(std::shared_ptr<Bridge> bridge) {
  std::vector<char> buffer(kPiece);
  for (;;) {
    auto [ec, n] = co_await bridge->tls.async_read_some(asio::buffer(buffer), kAwaitNoThrow);
    if (ec) break;
    auto [write_ec, written] =
        co_await asio::async_write(bridge->pair, asio::buffer(buffer.data(), n), kAwaitNoThrow);
    if (write_ec) break;
  }
  bridge->close();
}

}  // namespace

Awaitable<std::unique_ptr<Socket>> open_tls_bridge(Worker& worker, std::unique_ptr<Socket> tcp,
                                                   const UpstreamTarget& target) {
  auto bridge = std::make_shared<Bridge>(std::move(tcp));
  SSL* ssl = bridge->tls.native_handle();
  if (!target.dns_name.empty()) SSL_set_tlsext_host_name(ssl, target.dns_name.c_str());
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn);

  // The handshake counts against the connect timeout: expiry closes the socket, which fails it.
  Timer timer(worker.executor(), worker.config().connect_timeout);
  timer.async_wait([bridge](const boost::system::error_code& ec) {
    if (!ec) bridge->close();
  });
  auto [ec] = co_await bridge->tls.async_handshake(asio::ssl::stream_base::client, kAwaitNoThrow);
  timer.cancel();
  if (ec) {
    bridge->close();
    co_return nullptr;
  }

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    bridge->close();
    co_return nullptr;
  }
  auto near = std::make_unique<Socket>(worker.executor());
  boost::system::error_code assign_ec;
  // The relays' Socket type is TCP's; reads, writes, close and the pool's MSG_PEEK check are
  // the same on a Unix stream socket.
  near->assign(asio::ip::tcp::v4(), fds[0], assign_ec);
  if (!assign_ec) bridge->pair.assign(asio::ip::tcp::v4(), fds[1], assign_ec);
  if (assign_ec) {
    if (near->is_open()) {
      ::close(fds[1]);
    } else {
      ::close(fds[0]);
      ::close(fds[1]);
    }
    bridge->close();
    co_return nullptr;
  }
  near->non_blocking(true, assign_ec);  // for write_now
  asio::co_spawn(worker.executor(), to_upstream(bridge), asio::detached);
  asio::co_spawn(worker.executor(), from_upstream(std::move(bridge)), asio::detached);
  co_return near;
}

}  // namespace portico::ingress
