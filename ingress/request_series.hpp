#pragma once

// Per-request metrics by label set (namespace, ingress, service): request counts by method and
// status class, request and upstream response duration histograms, body and header bytes.
//
// A label set gets a small stable id (a series id) the first time a routing table that contains it
// is seen; a table's routes are mapped to series ids once per table (RouteSeries), so a request
// records with one index and no lookup, lock or allocation. Counters live in per-worker blocks
// (single writer, relaxed load + store) and are summed when /metrics is scraped.
//
// Reloads: the id of a label set is kept across tables, so its counters continue when the routes
// are recompiled. A label set that the serving table no longer has is not exported (its Ingress
// went away); if it comes back its counters continue where they were (still monotonic). Ids are
// never reused: the registry holds at most kMaxSeries label sets, and label sets seen past that
// are counted in the overflow series (ingress="(overflow)").

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "routing/route_table.hpp"

namespace portico::ingress {

// The methods RFC 9110 and RFC 5789 define, then everything else as "other": a bounded label.
enum class MethodLabel : std::uint8_t {
  kGet,
  kHead,
  kPost,
  kPut,
  kDelete,
  kConnect,
  kOptions,
  kTrace,
  kPatch,
  kOther,
  kCount
};
MethodLabel method_label(std::string_view method);
std::string_view to_string(MethodLabel method);

// Histogram bucket upper bounds, in microseconds (exported in seconds).
inline constexpr std::array<std::uint32_t, 14> kDurationBucketsUs = {
    500,     1'000,   2'500,   5'000,     10'000,    25'000,    50'000,
    100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000};

// The counters of one label set in one worker.
struct SeriesCounters {
  using Counter = std::atomic<std::uint64_t>;
  static constexpr std::size_t kMethods = static_cast<std::size_t>(MethodLabel::kCount);
  static constexpr std::size_t kBuckets = kDurationBucketsUs.size() + 1;  // the last: +Inf
  std::array<std::array<Counter, 6>, kMethods> requests{};  // [method][status / 100] (0: other)
  std::array<Counter, kBuckets> duration{};                 // not cumulative
  Counter duration_sum_us{0};
  std::array<Counter, kBuckets> upstream{};
  Counter upstream_sum_us{0};
  Counter bytes_in{0};
  Counter bytes_out{0};
};

// A routing table's routes mapped to series ids: [route index] -> id. Id 0 is the series of
// requests that matched no route.
using RouteSeries = std::vector<std::uint32_t>;

// What one request contributes. `upstream_us` < 0: no upstream answered (a 404, a 502 for a
// connect failure...): nothing goes into the upstream histogram.
struct RequestSample {
  std::uint32_t series = 0;
  MethodLabel method = MethodLabel::kOther;
  unsigned status = 0;
  std::int64_t duration_us = 0;
  std::int64_t upstream_us = -1;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

class RequestSeriesRegistry {
 public:
  static constexpr std::uint32_t kChunk = 64;
  static constexpr std::uint32_t kMaxChunks = 1024;
  static constexpr std::uint32_t kMaxSeries = kChunk * kMaxChunks;
  static constexpr std::uint32_t kUnrouted = 0;
  static constexpr std::uint32_t kOverflow = 1;

  // The counters of one worker: chunks allocated by the registry (under its lock) before any id
  // in them is handed out, never freed before the registry.
  class WorkerSeries {
   public:
    SeriesCounters& at(std::uint32_t id) {
      return chunks_[id / kChunk].load(std::memory_order_acquire)[id % kChunk];
    }
    const SeriesCounters* chunk(std::uint32_t index) const {
      return chunks_[index].load(std::memory_order_acquire);
    }
    void record(const RequestSample& sample);

   private:
    friend class RequestSeriesRegistry;
    std::array<std::atomic<SeriesCounters*>, kMaxChunks> chunks_{};
    std::vector<std::unique_ptr<SeriesCounters[]>> owned_;
  };

  explicit RequestSeriesRegistry(unsigned workers);
  RequestSeriesRegistry(const RequestSeriesRegistry&) = delete;
  RequestSeriesRegistry& operator=(const RequestSeriesRegistry&) = delete;

  WorkerSeries& worker(unsigned index) { return *workers_[index]; }

  // The series ids of `table`'s routes, assigning ids to label sets seen for the first time.
  // Locks; called once per table per worker (on the first request after a reload), never per
  // request. The result is cached for the last few tables.
  std::shared_ptr<const RouteSeries> series_for(
      const std::shared_ptr<const routing::RouteTable>& table);

  // Appends the Prometheus text of the label sets `table` has (and the unrouted series).
  void render(const std::shared_ptr<const routing::RouteTable>& table, std::string& out);

  std::size_t size() const;  // label sets known, including the two built-in ones

 private:
  struct Labels {
    std::string namespace_;
    std::string ingress;
    std::string service;
  };
  std::uint32_t id_for(const std::string& namespace_, const std::string& ingress,
                       const std::string& service);  // needs mutex_

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<WorkerSeries>> workers_;
  std::vector<Labels> labels_;  // by id
  std::map<std::tuple<std::string, std::string, std::string>, std::uint32_t> ids_;
  struct Cached {
    std::weak_ptr<const routing::RouteTable> table;
    std::shared_ptr<const RouteSeries> series;
  };
  std::vector<Cached> cache_;  // the newest last
};

}  // namespace portico::ingress
