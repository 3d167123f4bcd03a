#pragma once

#include <atomic>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "request_log.hpp"

namespace portico::test_backend {

// What every connection of one backend process shares. Outlives all sessions.
struct SessionConfig {
  std::string name;       // value of the `X-Backend` header; visible ASCII only
  std::string name_json;  // `name` as a quoted JSON string, for the echo body
  RequestLog* log;        // record behind `/__requests`
};

// Serves one accepted TCP connection: HTTP/1.0 and HTTP/1.1 requests (keep-alive, pipelining,
// chunked request bodies, `Expect: 100-continue`) until the peer closes, a response requires
// closing, or the connection becomes a WebSocket echo on `/ws`. The routes are described in
// session.cpp. Must run on a single-threaded executor (one io_context per thread).
//
// Client misbehaviour never escapes: a request Beast cannot parse is answered 400 and the
// connection is closed; socket errors just end the session. Only resource exhaustion
// (std::bad_alloc) can leave the coroutine as an exception.
// Requests whose header has been read and whose response is not completely written yet, over all
// connections: what a backend stopped now would leave unanswered (printed at exit).
extern std::atomic<long> requests_in_flight;

boost::asio::awaitable<void> serve_connection(boost::asio::ip::tcp::socket socket,
                                              const SessionConfig& config);

}  // namespace portico::test_backend
