#pragma once

// What a proxy changes in the header of a message it forwards (RFC 9110 section 7.6): the
// hop-by-hop fields go, the X-Forwarded-* fields and X-Request-ID are set. Host is kept.

#include <boost/beast/http/fields.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "ingress/serve_config.hpp"
#include "routing/route_table.hpp"

namespace portico::ingress {

struct ForwardContext {
  std::string_view client_address;  // the peer's IP address
  std::string_view proto;           // "http" or "https", as the client reached us
  std::string_view host;            // the request's host (Host or :authority), as sent
  std::uint16_t port = 0;           // the port the client connected to
  bool upgrade = false;             // keep Upgrade / Connection: upgrade (WebSocket)
};

// Removes hop-by-hop fields (Connection and every field it names, Keep-Alive, Proxy-Connection,
// TE, Trailer, Transfer-Encoding, Upgrade unless upgrading, Expect: the proxy answers 100-continue
// itself), appends the client to X-Forwarded-For, sets X-Forwarded-Proto/Host/Port, and sets
// X-Request-ID when the client did not send one. Returns the request id in effect.
std::string prepare_upstream_request(boost::beast::http::fields& fields,
                                     const ForwardContext& context);

// Removes hop-by-hop fields from an upstream response before it goes to the client (Connection
// and the fields it names, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade unless
// `upgrade`, Trailer).
void prepare_client_response(boost::beast::http::fields& fields, bool upgrade);

// Whether a plain-HTTP request for `route` is answered with a 308 to HTTPS: its host is listed
// in spec.tls, the Ingress did not turn ssl-redirect off, and there is an HTTPS listener.
inline bool redirects_to_https(const routing::Route& route, bool over_tls,
                               const ServeConfig& config) {
  return !over_tls && route.tls != routing::Route::kNone && route.ssl_redirect &&
         config.https.enabled();
}

// The Location of the 308 that sends a plain-HTTP request to HTTPS: the request's host without
// its port, the HTTPS listener's port unless it is 443, and the original target.
std::string https_redirect_location(std::string_view host, std::string_view target,
                                    std::uint16_t https_port);

// 32 lower-case hex characters from a per-thread generator seeded once from the OS.
std::string make_request_id();

}  // namespace portico::ingress
