#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>

namespace portico::test_backend {

// The ordered record behind `/__requests`: one pre-serialised JSON object per request this
// process received. Thread-safe; every member may be called from any thread.
//
// The record keeps at most `capacity` entries and drops the oldest first, so a long benchmark
// cannot grow it without bound. A capacity of 0 disables recording (`enabled()` is false and
// `record` does nothing).
class RequestLog {
 public:
  explicit RequestLog(std::size_t capacity) : capacity_(capacity) {}

  bool enabled() const { return capacity_ != 0; }

  // Appends one summary. `summary_json` must be one complete JSON value.
  void record(std::string summary_json);

  // Returns the record as a JSON array, oldest first.
  std::string to_json() const;

  // Empties the record; returns how many entries it held.
  std::size_t clear();

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<std::string> entries_;
};

}  // namespace portico::test_backend
