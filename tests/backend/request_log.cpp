#include "request_log.hpp"

#include <utility>

namespace portico::test_backend {

void RequestLog::record(std::string summary_json) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mutex_);
  if (entries_.size() == capacity_) entries_.pop_front();
  entries_.push_back(std::move(summary_json));
}

std::string RequestLog::to_json() const {
  std::lock_guard lock(mutex_);
  std::size_t size = 2;
  for (const auto& entry : entries_) size += entry.size() + 1;
  std::string out;
  out.reserve(size);
  out += '[';
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (i != 0) out += ',';
    out += entries_[i];
  }
  out += ']';
  return out;
}

std::size_t RequestLog::clear() {
  std::lock_guard lock(mutex_);
  const std::size_t count = entries_.size();
  entries_.clear();
  return count;
}

}  // namespace portico::test_backend
