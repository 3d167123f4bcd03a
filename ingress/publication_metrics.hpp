#pragma once

// How long routing table publications take, by result: a histogram fed by a Publisher observer
// (so on the publishing thread, a few times a second at most) and rendered at scrape time.

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

#include "watch/publisher.hpp"

namespace portico::ingress {

class PublicationMetrics {
 public:
  // Upper bounds in seconds: a small table compiles in well under a millisecond, 50,000 routes
  // in a few hundred.
  static constexpr std::array<double, 10> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.01,   0.05,    0.25,   1,     5};

  void observe(const watch::PublishResult& result) {
    const double seconds = std::chrono::duration<double>(result.duration).count();
    std::size_t bucket = 0;
    while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
    const auto outcome = static_cast<std::size_t>(result.outcome);
    std::lock_guard lock(mutex_);
    ++buckets_[outcome][bucket];
    sums_[outcome] += seconds;
  }

  void render(std::string& out) const {
    out +=
        "# HELP portico_table_publication_duration_seconds Compiling and publishing a routing "
        "table, by result.\n# TYPE portico_table_publication_duration_seconds histogram\n";
    std::lock_guard lock(mutex_);
    for (std::size_t o = 0; o < 3; ++o) {
      const std::string result =
          std::string(watch::to_string(static_cast<watch::PublishResult::Outcome>(o)));
      std::uint64_t cumulative = 0;
      char text[64];
      for (std::size_t b = 0; b <= kBounds.size(); ++b) {
        cumulative += buckets_[o][b];
        if (b < kBounds.size()) {
          std::snprintf(text, sizeof text, "%g", kBounds[b]);
        } else {
          std::snprintf(text, sizeof text, "+Inf");
        }
        out += "portico_table_publication_duration_seconds_bucket{result=\"" + result + "\",le=\"" +
               text + "\"} " + std::to_string(cumulative) + "\n";
      }
      std::snprintf(text, sizeof text, "%.6f", sums_[o]);
      out += "portico_table_publication_duration_seconds_sum{result=\"" + result + "\"} " + text +
             "\n";
      out += "portico_table_publication_duration_seconds_count{result=\"" + result + "\"} " +
             std::to_string(cumulative) + "\n";
    }
  }

 private:
  mutable std::mutex mutex_;
  std::array<std::array<std::uint64_t, kBounds.size() + 1>, 3> buckets_{};  // [outcome][bucket]
  std::array<double, 3> sums_{};
};

}  // namespace portico::ingress
