#pragma once

// One JSON line per request on standard output. Lines are formatted on the worker and appended
// to stdio's buffer (no flush per line); the server flushes it every 100 ms, so a slow reader of
// the log costs at most a buffer's worth of blocking.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace portico::ingress {

struct AccessRecord {
  std::chrono::system_clock::time_point start;
  std::string_view request_id;
  std::string_view client;
  std::string_view method;
  std::string_view authority;
  std::string_view path;
  std::string_view protocol;  // "HTTP/1.1", "HTTP/2"
  unsigned status = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::chrono::microseconds duration{0};
  std::string_view upstream;  // "ip:port" or empty
  std::chrono::microseconds upstream_duration{0};
  std::string_view namespace_;
  std::string_view ingress;
  std::string_view service;
};

void write_access_log(const AccessRecord& record);

}  // namespace portico::ingress
