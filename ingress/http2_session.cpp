// TEMPORARY placeholder until the HTTP/2 session lands (being written now): answers h2
// connections by closing them.
#include "ingress/connection.hpp"

namespace portico::ingress {

template <typename Stream>
boost::asio::awaitable<void> serve_http2(Worker&, Stream&, boost::beast::flat_buffer&,
                                         const ConnectionInfo&) {
  co_return;
}

template boost::asio::awaitable<void> serve_http2<PlainStream>(Worker&, PlainStream&,
                                                               boost::beast::flat_buffer&,
                                                               const ConnectionInfo&);
template boost::asio::awaitable<void> serve_http2<TlsStream>(Worker&, TlsStream&,
                                                             boost::beast::flat_buffer&,
                                                             const ConnectionInfo&);

}  // namespace portico::ingress
