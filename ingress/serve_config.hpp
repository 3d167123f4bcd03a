#pragma once

// The configuration of `portico serve`, from its command line.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace portico::ingress {

enum class LoadBalancing { kRoundRobin, kLeastRequest };

struct ListenAddress {
  std::string host;  // "0.0.0.0", "127.0.0.1", "::"
  std::uint16_t port = 0;
  bool enabled() const { return !host.empty(); }
};

struct ServeConfig {
  std::vector<std::string> manifests;
  ListenAddress http{"0.0.0.0", 8080};
  ListenAddress https{"0.0.0.0", 8443};
  ListenAddress admin{"127.0.0.1", 9901};
  unsigned workers = 0;  // 0: one per core
  std::string ingress_class = "portico";
  LoadBalancing load_balancing = LoadBalancing::kRoundRobin;
  std::chrono::milliseconds shutdown_grace{30'000};
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds upstream_timeout{60'000};  // response headers from the upstream
  std::chrono::milliseconds idle_timeout{75'000};      // client keep-alive between requests
  std::chrono::milliseconds request_header_timeout{30'000};
  // A TLS handshake not finished by then is closed: a flood of handshakes that never finish
  // holds a socket and a little memory each for this long, no more.
  std::chrono::milliseconds tls_handshake_timeout{10'000};
  // Session ticket keys: a new one every interval; tickets of the previous one still resume.
  std::chrono::milliseconds tls_ticket_key_rotation{std::chrono::hours(12)};
  std::uint32_t http2_max_concurrent_streams = 128;         // SETTINGS_MAX_CONCURRENT_STREAMS
  std::chrono::milliseconds upstream_idle_timeout{60'000};  // pooled upstream connections
  std::size_t upstream_idle_per_endpoint = 64;  // pooled connections kept per endpoint per worker
  // What a client may send (ingress-nginx's defaults where it has one). Beyond each: the status
  // named, and the connection closes.
  std::uint32_t max_request_line = 8 * 1024;   // 414; HTTP/1.1 only (HTTP/2: in the header bytes)
  std::uint32_t max_header_bytes = 64 * 1024;  // 431; HTTP/2: SETTINGS_MAX_HEADER_LIST_SIZE
  std::uint32_t max_header_fields = 100;       // 431
  std::uint64_t max_body_size = 1024 * 1024;   // 413; 0: unlimited; per route: proxy-body-size
  std::chrono::milliseconds body_read_timeout{60'000};  // between two reads of a request body: 408
  std::size_t max_connections_per_worker = 16'384;      // beyond: accepted and closed at once
  std::size_t max_keepalive_requests = 1'000;           // HTTP/1.1: Connection: close on the last
  // The access log (access_log.hpp): off, or written to "stdout" or a file path.
  bool access_log = true;
  std::string access_log_sink = "stdout";
  // Per-request series by Ingress and Service (request_series.hpp); the process-wide counters of
  // metrics.hpp are kept either way.
  bool request_metrics = true;
  // Whether a request's times are taken and its end recorded.
  bool records_requests() const { return access_log || request_metrics; }
  std::string log_level = "info";  // error, warn, info, debug
  // More Prometheus text for /metrics from the sources (cluster mode's watch counters); may be
  // empty. Called on the admin thread.
  std::function<std::string()> extra_metrics;
};

// Parses "host:port", "[v6]:port" or ":port" (all interfaces); "off" disables the listener.
// Returns false with `error` set when malformed.
bool parse_listen_address(const std::string& text, ListenAddress& out, std::string& error);

// Parses nginx sizes: bytes, or a number with k, m or g (KiB, MiB, GiB; either case).
bool parse_size(const std::string& text, std::uint64_t& out);

// Parses "30s", "500ms", "2m", "12h", or a bare number of seconds.
bool parse_duration(const std::string& text, std::chrono::milliseconds& out);

}  // namespace portico::ingress
