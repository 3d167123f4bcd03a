#pragma once

// HTTP/1.1 over TLS to an upstream (backend-protocol HTTPS) for the relay code that speaks to a
// plain Socket: after the TLS handshake, the proxy's side of the upstream connection is one end
// of a local socket pair, and a pump on the worker moves bytes between its other end and the TLS
// stream. The relays, the pool (keep-alive, the closed-by-peer check), the watchdog and the
// retry logic then work on HTTPS connections unchanged; a connection the relay closes or pools
// keeps its TLS session, a TLS connection the upstream closes reads as EOF.
//
// The cost, per request and direction: one more write and read on the socket pair and a copy
// of the bytes, on top of TLS itself (not measured against a TLS stream in the relays yet; that
// would need the relays generic over the stream type); nothing for routes without HTTPS.
// Peer verification is off, as ingress-nginx's proxy-ssl-verify defaults to off; SNI is sent for
// an ExternalName target's DNS name only (ingress-nginx's proxy-ssl-server-name is off too).

#include <memory>

#include "ingress/executor.hpp"
#include "ingress/upstream_pool.hpp"

namespace portico::ingress {

class Worker;

// Runs the TLS handshake (ALPN http/1.1) on `tcp`, a socket connected to `target`, within the
// connect timeout. Returns the socket the relay uses from then on, or null when the handshake
// failed or timed out (then `tcp` is closed).
Awaitable<std::unique_ptr<Socket>> open_tls_bridge(Worker& worker, std::unique_ptr<Socket> tcp,
                                                   const UpstreamTarget& target);

}  // namespace portico::ingress
