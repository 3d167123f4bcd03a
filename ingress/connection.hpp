#pragma once

// Entry points of a client connection, per protocol. A plain connection is sniffed once, at
// accept: the HTTP/2 connection preface means h2c with prior knowledge, anything else HTTP/1.1.
// A TLS connection is handshaken first, then ALPN decides (h2, else HTTP/1.1).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <string>

namespace portico::ingress {

class Worker;

struct ConnectionInfo {
  std::string client_address;  // the peer's IP
  std::uint16_t local_port = 0;
  bool tls = false;
  bool* idle = nullptr;  // set while waiting for the next request (a drain closes idle ones)
};

using PlainStream = boost::beast::tcp_stream;
using TlsStream = boost::asio::ssl::stream<boost::beast::tcp_stream>;

// Serves one accepted connection to the end. Never throws.
boost::asio::awaitable<void> serve_plain(Worker& worker, boost::asio::ip::tcp::socket socket);
boost::asio::awaitable<void> serve_tls(Worker& worker, boost::asio::ip::tcp::socket socket);

// HTTP/1.1 on an established stream; `buffer` may already hold bytes read while sniffing.
template <typename Stream>
boost::asio::awaitable<void> serve_http1(Worker& worker, Stream& stream,
                                         boost::beast::flat_buffer& buffer,
                                         const ConnectionInfo& info);

// HTTP/2 (h2 after ALPN, or h2c with prior knowledge) on an established stream.
template <typename Stream>
boost::asio::awaitable<void> serve_http2(Worker& worker, Stream& stream,
                                         boost::beast::flat_buffer& buffer,
                                         const ConnectionInfo& info);

}  // namespace portico::ingress
