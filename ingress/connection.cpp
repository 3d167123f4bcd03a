#include "ingress/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <cstring>

#include "ingress/worker.hpp"
#include "tls/cert_store.hpp"

namespace portico::ingress {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Registers the connection for draining and counts it, for as long as the scope lives.
class ConnectionScope {
 public:
  ConnectionScope(Worker& worker, tcp::socket& socket, ConnectionInfo& info)
      : worker_(worker), it_(worker.register_connection(socket)) {
    info.idle = &it_->idle;
  }
  ~ConnectionScope() { worker_.unregister_connection(it_); }

 private:
  Worker& worker_;
  std::list<Worker::ConnectionHandle>::iterator it_;
};

ConnectionInfo make_info(const tcp::socket& socket, bool tls) {
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

asio::awaitable<void> serve_plain(Worker& worker, tcp::socket socket) {
  ConnectionInfo info = make_info(socket, false);
  PlainStream stream(std::move(socket));
  ConnectionScope scope(worker, stream.socket(), info);
  beast::flat_buffer buffer;
  // Sniff: read until the bytes either diverge from the HTTP/2 preface or complete it.
  stream.expires_after(worker.config().request_header_timeout);
  bool http2 = false;
  for (;;) {
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kNoThrow);
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
    co_await serve_http2(worker, stream, buffer, info);
  } else {
    co_await serve_http1(worker, stream, buffer, info);
  }
}

asio::awaitable<void> serve_tls(Worker& worker, tcp::socket socket) {
  ConnectionInfo info = make_info(socket, true);
  auto ssl_context = worker.ssl_context();
  std::shared_ptr<const tls::CertStore> certs = worker.lease()->certs;
  TlsStream stream(beast::tcp_stream(std::move(socket)), *ssl_context);
  ConnectionScope scope(worker, beast::get_lowest_layer(stream).socket(), info);
  tls::CertStore::attach(stream.native_handle(), std::move(certs));
  beast::get_lowest_layer(stream).expires_after(worker.config().request_header_timeout);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kNoThrow);
  if (ec) co_return;
  const unsigned char* alpn = nullptr;
  unsigned alpn_length = 0;
  SSL_get0_alpn_selected(stream.native_handle(), &alpn, &alpn_length);
  beast::flat_buffer buffer;
  if (alpn_length == 2 && std::memcmp(alpn, "h2", 2) == 0) {
    co_await serve_http2(worker, stream, buffer, info);
  } else {
    co_await serve_http1(worker, stream, buffer, info);
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
  co_await stream.async_shutdown(kNoThrow);
}

}  // namespace portico::ingress
