#pragma once

// HTTP/1.1 over TLS to the Kubernetes API server (Boost.Beast + OpenSSL), for the coroutines of
// one io_context: plain requests (lists, gets, status updates, Leases) over a kept-alive
// connection, and watch streams, each on a connection of its own, read line by line as the
// server sends them.
//
// Every operation has a deadline: a request its whole `timeout`; a stream `idle_timeout` between
// any two reads, so a stalled watch (a silent server, a dead peer behind a NAT) is noticed. A 401
// re-reads a file-backed token and tries once more (a rotated service-account token).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "watch/kube_config.hpp"

namespace portico::watch {

struct KubeResponse {
  unsigned status = 0;
  std::string body;
};

struct KubeStreamResult {
  enum class End {
    kClosed,   // the server ended the stream (timeoutSeconds, or it shut the connection down)
    kStopped,  // the line callback returned false
    kIdle,     // nothing arrived for idle_timeout
    kError,    // connecting, TLS or reading failed: `error` says why
    kStatus,   // the answer was not 200: `status` and `body` (a Status object) say why
  };
  End end = End::kClosed;
  unsigned status = 0;
  std::string body;
  std::string error;
};

std::string_view to_string(KubeStreamResult::End end);

class KubeClient {
 public:
  // Throws KubeConfigError when the TLS material cannot be used (a CA or client key that does not
  // parse).
  KubeClient(boost::asio::any_io_executor executor, KubeConfig config);
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // `target` is the path and query ("/api/v1/services?limit=500"). Throws
  // boost::system::system_error when no answer arrives (connect, TLS, timeout, a broken
  // connection); any HTTP answer, whatever its status, is returned.
  boost::asio::awaitable<KubeResponse> request(
      boost::beast::http::verb verb, std::string target, std::string body = {},
      std::string content_type = "application/json",
      std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // GETs `target` and hands each line of a 200 answer's body to `on_line` (without the newline;
  // empty lines skipped) as soon as it is complete. Never throws for I/O: the result says how the
  // stream ended.
  boost::asio::awaitable<KubeStreamResult> stream(std::string target,
                                                  std::chrono::milliseconds idle_timeout,
                                                  std::function<bool(std::string_view)> on_line);

  const KubeConfig& config() const { return config_; }

 private:
  struct Connection;
  boost::asio::awaitable<std::unique_ptr<Connection>> connect(std::chrono::milliseconds timeout);
  boost::asio::awaitable<KubeResponse> request_once(boost::beast::http::verb verb,
                                                    const std::string& target,
                                                    const std::string& body,
                                                    const std::string& content_type,
                                                    std::chrono::milliseconds timeout);

  boost::asio::any_io_executor executor_;
  KubeConfig config_;
  struct Tls;
  std::unique_ptr<Tls> tls_;
  std::unique_ptr<Connection> idle_;  // one kept-alive connection for request()
};

// Percent-encodes a query parameter value.
std::string url_encode(std::string_view value);

}  // namespace portico::watch
