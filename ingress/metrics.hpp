#pragma once

// Process counters, written by workers with relaxed atomics (each worker has its own block, so
// there is no cache-line sharing on the request path) and summed when /metrics is scraped.
// A block has a single writer, its worker: an update is a relaxed load and store, not a locked
// read-modify-write.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace portico::ingress {

enum class Protocol : std::uint8_t { kHttp1, kHttp2, kCount };

struct alignas(64) WorkerMetrics {
  using Counter = std::atomic<std::uint64_t>;
  std::array<Counter, 6> responses_by_class{};  // index: status / 100 (0: no response sent)
  Counter upstream_connect_errors{0};
  Counter upstream_retries{0};
  Counter upstream_timeouts{0};
  Counter upstream_bad_responses{0};
  Counter http2_floods{0};  // HTTP/2 connections ended with GOAWAY(ENHANCE_YOUR_CALM)
  Counter bytes_in{0};
  Counter bytes_out{0};
  Counter connections_refused{0};  // over max_connections_per_worker
  // [protocol][tls]
  std::array<std::array<Counter, 2>, static_cast<std::size_t>(Protocol::kCount)> open_connections{};
  std::array<Counter, static_cast<std::size_t>(Protocol::kCount)> requests_by_protocol{};

  void count_response(unsigned status) {
    add(responses_by_class[status / 100 < 6 ? status / 100 : 0]);
  }
  static void add(Counter& c, std::uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  static void sub(Counter& c, std::uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
};

}  // namespace portico::ingress
