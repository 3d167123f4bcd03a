#include "ingress/connection.hpp"

#include <cstring>

#include "ingress/http1_message.hpp"
#include "ingress/worker.hpp"
#include "tls/cert_store.hpp"

namespace portico::ingress {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// A client connection's read buffer starts this large: a request header and a small body.
constexpr std::size_t kClientBuffer = 16 * 1024;

// Registers the connection for draining and counts it, for as long as the scope lives.
class ConnectionScope {
 public:
  ConnectionScope(Worker& worker, Socket& socket, ConnectionInfo& info)
      : worker_(worker), it_(worker.register_connection(socket)) {
    info.idle = &it_->idle;
  }
  ~ConnectionScope() { worker_.unregister_connection(it_); }

 private:
  Worker& worker_;
  std::list<Worker::ConnectionHandle>::iterator it_;
};

ConnectionInfo make_info(const Socket& socket, bool tls) {
  ConnectionInfo info;
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (!ec) info.client_address = remote.address().to_string();
  auto local = socket.local_endpoint(ec);
  if (!ec) info.local_port = local.port();
  info.tls = tls;
  return info;
}

}  // namespace

Awaitable<void> serve_plain(Worker& worker, Socket socket) {
  ConnectionInfo info = make_info(socket, false);
  ConnectionScope scope(worker, socket, info);
  // One watchdog for this connection's timeouts instead of a timer per read and write.
  Deadline deadline(socket.get_executor(), socket);
  beast::flat_buffer buffer;
  // Sniff: read until the bytes either diverge from the HTTP/2 preface or complete it.
  deadline.client(worker.config().request_header_timeout);
  bool http2 = false;
  for (;;) {
    auto [ec, n] =
        co_await socket.async_read_some(read_space(buffer, kClientBuffer), kAwaitNoThrow);
    if (ec) co_return;
    buffer.commit(n);
    std::string_view seen(static_cast<const char*>(buffer.data().data()), buffer.size());
    std::size_t common = std::min(seen.size(), kHttp2Preface.size());
    if (seen.substr(0, common) != kHttp2Preface.substr(0, common)) break;
    if (seen.size() >= kHttp2Preface.size()) {
      http2 = true;
      break;
    }
  }
  if (http2) {
    co_await serve_http2(worker, socket, buffer, info, deadline);
  } else {
    co_await serve_http1(worker, socket, buffer, info, deadline);
  }
}

Awaitable<void> serve_tls(Worker& worker, Socket socket) {
  ConnectionInfo info = make_info(socket, true);
  auto ssl_context = worker.ssl_context();
  std::shared_ptr<const tls::CertStore> certs = worker.lease()->certs;
  TlsStream stream(std::move(socket), *ssl_context);
  ConnectionScope scope(worker, stream.next_layer(), info);
  tls::CertStore::attach(stream.native_handle(), std::move(certs));
  Deadline deadline(stream.next_layer().get_executor(), stream.next_layer());
  deadline.client(worker.config().tls_handshake_timeout);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kAwaitNoThrow);
  if (ec) co_return;
  const unsigned char* alpn = nullptr;
  unsigned alpn_length = 0;
  SSL_get0_alpn_selected(stream.native_handle(), &alpn, &alpn_length);
  beast::flat_buffer buffer;
  buffer.reserve(kClientBuffer);
  if (alpn_length == 2 && std::memcmp(alpn, "h2", 2) == 0) {
    co_await serve_http2(worker, stream, buffer, info, deadline);
  } else {
    co_await serve_http1(worker, stream, buffer, info, deadline);
  }
  deadline.client(std::chrono::seconds(1));
  co_await stream.async_shutdown(kAwaitNoThrow);
}

}  // namespace portico::ingress
