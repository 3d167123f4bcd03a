#pragma once

// Entry points of a client connection, per protocol. A plain connection is sniffed once, at
// accept: the HTTP/2 connection preface means h2c with prior knowledge, anything else HTTP/1.1.
// A TLS connection is handshaken first, then ALPN decides (h2, else HTTP/1.1).

#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <string>

#include "ingress/deadline.hpp"
#include "ingress/executor.hpp"

namespace portico::ingress {

class Worker;

struct ConnectionInfo {
  std::string client_address;  // the peer's IP
  std::uint16_t local_port = 0;
  bool tls = false;
  bool* idle = nullptr;  // set while waiting for the next request (a drain closes idle ones)
};

using PlainStream = Socket;
using TlsStream = boost::asio::ssl::stream<Socket>;

inline Socket& lowest_layer(PlainStream& stream) {
  return stream;
}
inline Socket& lowest_layer(TlsStream& stream) {
  return stream.next_layer();
}

// Serves one accepted connection to the end. Never throws.
Awaitable<void> serve_plain(Worker& worker, Socket socket);
Awaitable<void> serve_tls(Worker& worker, Socket socket);

// HTTP/1.1 on an established stream; `buffer` may already hold bytes read while sniffing.
// `deadline` watches the client's socket (and the upstream connections in use).
template <typename Stream>
Awaitable<void> serve_http1(Worker& worker, Stream& stream, boost::beast::flat_buffer& buffer,
                            const ConnectionInfo& info, Deadline& deadline);

// HTTP/2 (h2 after ALPN, or h2c with prior knowledge) on an established stream.
template <typename Stream>
Awaitable<void> serve_http2(Worker& worker, Stream& stream, boost::beast::flat_buffer& buffer,
                            const ConnectionInfo& info, Deadline& deadline);

}  // namespace portico::ingress
