#pragma once

// What a proxy changes in the header of a message it forwards (RFC 9110 section 7.6): the
// hop-by-hop fields go, the X-Forwarded-* fields and X-Request-ID are set. Host is kept. The
// forwarded header is written as HTTP/1.1 text, straight from the received one.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "ingress/http1_message.hpp"
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

// Fields the proxy sets on a response (a route's CORS headers): they replace the upstream's
// fields of the same names.
using SetFields = std::span<const std::pair<std::string, std::string>>;

// 32 lower-case hex characters from a per-thread generator seeded once from the OS.
struct RequestId {
  char text[32];
  std::string_view view() const { return {text, sizeof text}; }
};
RequestId make_request_id();

// Tells the hop-by-hop fields of a message (RFC 9110 section 7.6.1): Connection and every field
// it names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, and Upgrade unless
// the message is an upgrade.
class HopByHop {
 public:
  HopByHop(const MessageHead& head, bool upgrade);
  bool operator()(const MessageHead::Field& field) const;

 private:
  const MessageHead& head_;
  bool upgrade_;
  bool connection_;  // a Connection field names other fields
};

// Appends the request to send upstream: "METHOD target HTTP/1.1" from `request`'s request line
// (with `target` instead when not empty: a rewrite-target),
// its fields without the hop-by-hop ones and without Expect (the proxy answers 100-continue
// itself), X-Forwarded-For with the client appended (to the values received, joined),
// X-Forwarded-Proto/Host/Port, X-Request-ID when the client sent none or an empty one
// (generated into `generated`), "Connection: upgrade" when upgrading, and the body's framing:
// Transfer-Encoding: chunked for kChunked, Content-Length `length` for kLength unless the
// request has a Content-Length field (kept as received). Returns the request id in effect,
// which refers to `request` or `generated`.
std::string_view append_upstream_request(std::string& out, const MessageHead& request,
                                         const ForwardContext& context, Framing framing,
                                         std::uint64_t length, RequestId& generated,
                                         std::string_view target = {});

// Appends the response to send to an HTTP/1.x client of `version` (10 or 11): the status line,
// the upstream's fields without the hop-by-hop ones, then for an upgrade (101) "Connection:
// upgrade" (Upgrade is kept), else the body's framing (Transfer-Encoding: chunked for kChunked;
// a Content-Length is kept as received) and the connection's persistence as the version needs
// it ("Connection: close" in HTTP/1.1, "Connection: keep-alive" in HTTP/1.0); `set` replaces
// the upstream's fields of its names.
void append_client_response(std::string& out, const MessageHead& response, unsigned version,
                            Framing framing, bool keep_alive, bool upgrade, SetFields set = {});

// Whether `name` is the name of one of `set` (case-insensitive).
bool is_set_field(SetFields set, std::string_view name);

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

}  // namespace portico::ingress
