#pragma once

// Relaying a request stream of an HTTP/2 client to an HTTP/2 upstream: the routes whose
// backend-protocol is GRPC (h2c with prior knowledge) or GRPCS (h2 over TLS, ALPN "h2"). An
// nghttp2 client session drives the upstream connection from memory buffers, as the server side
// does (Http2Connection): request body bytes go from the client stream's buffer into upstream
// DATA frames, response DATA into the stream's ring, and the upstream's trailer fields
// (grpc-status, grpc-message) to the client after the body.
//
// Upstream connections are shared: each is an Http2UpstreamSession (kept in the worker's
// UpstreamEndpoint), carrying up to 100 calls at once (or the upstream's
// SETTINGS_MAX_CONCURRENT_STREAMS when lower) from any client connection of the worker; a call
// takes the first session to its endpoint with room, else opens one. Idle sessions close after
// the upstream idle timeout (ServeConfig::upstream_idle_timeout, as pooled HTTP/1.1 ones). A client
// that resets its stream (a gRPC deadline, a cancel) makes the call reset its upstream stream, not
// the connection. A slow client holds back only its own stream: each stream's window is the client
// ring's size and goes back as the client reads.
//
// What a gRPC client gets when the proxy answers itself (as Envoy does): a "trailers-only"
// response, HTTP status 200 with content-type application/grpc, grpc-status and grpc-message in
// the one HEADERS frame:
//   no ready endpoint, connect refused or timed out, no h2 from the upstream -> 14 UNAVAILABLE
//   no response header within proxy-read-timeout                            -> 4 DEADLINE_EXCEEDED
// Once the response header went out, a read timeout ends the body with trailers grpc-status 4;
// an upstream that resets the stream or closes mid-response resets the client's stream.
// Metrics and the access log count the HTTP status the failure stands for (503, 502, 504).

#include <boost/asio/ssl/context.hpp>
#include <string_view>

#include "ingress/executor.hpp"
#include "routing/route_table.hpp"

namespace portico::ingress {

class Http2Connection;
struct Http2Stream;

// Relays `stream` (its request header complete) routed to `match` of `table`, a route whose
// policy has backend-protocol GRPC or GRPCS; `host` is the request's authority. Ends when the
// upstream's response is complete (the last DATA frames and trailers may still be queued) or
// the client's stream is gone. Never throws on network errors.
Awaitable<void> relay_to_http2_upstream(Http2Connection& connection, Http2Stream& stream,
                                        const routing::RouteTable& table,
                                        const routing::RouteMatch& match, std::string_view host,
                                        std::uint32_t series);

// The client TLS context of upstream connections (backend-protocol HTTPS and GRPCS): peer
// verification off, as ingress-nginx's proxy-ssl-verify defaults to off. Shared by all workers.
boost::asio::ssl::context& upstream_tls_context();

}  // namespace portico::ingress
