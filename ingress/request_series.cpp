#include "ingress/request_series.hpp"

#include <algorithm>
#include <cstdio>

namespace portico::ingress {

namespace {

constexpr std::array<std::string_view, static_cast<std::size_t>(MethodLabel::kCount)> kMethodNames =
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other"};

// Tables kept in the cache: the serving one and those requests in flight may still use.
constexpr std::size_t kCachedTables = 4;

void add(SeriesCounters::Counter& c, std::uint64_t n) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

std::size_t bucket_of(std::int64_t us) {
  const auto it = std::lower_bound(kDurationBucketsUs.begin(), kDurationBucketsUs.end(),
                                   static_cast<std::uint64_t>(us < 0 ? 0 : us),
                                   [](std::uint32_t bound, std::uint64_t v) { return bound < v; });
  return static_cast<std::size_t>(it - kDurationBucketsUs.begin());
}

// Prometheus text format: label values escape backslash, double quote and line feed.
void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_seconds(std::string& out, std::uint64_t us) {
  char text[32];
  const int n = std::snprintf(text, sizeof text, "%.6f", static_cast<double>(us) / 1e6);
  out.append(text, static_cast<std::size_t>(n));
}

std::string bound_text(std::uint32_t us) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", static_cast<double>(us) / 1e6);
  return text;
}

// One label set's counters summed over the workers.
struct Sums {
  std::array<std::array<std::uint64_t, 6>, SeriesCounters::kMethods> requests{};
  std::array<std::uint64_t, SeriesCounters::kBuckets> duration{};
  std::uint64_t duration_sum_us = 0;
  std::array<std::uint64_t, SeriesCounters::kBuckets> upstream{};
  std::uint64_t upstream_sum_us = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;

  void add(const SeriesCounters& c) {
    for (std::size_t m = 0; m < requests.size(); ++m)
      for (std::size_t k = 0; k < 6; ++k) requests[m][k] += c.requests[m][k].load();
    for (std::size_t b = 0; b < duration.size(); ++b) {
      duration[b] += c.duration[b].load();
      upstream[b] += c.upstream[b].load();
    }
    duration_sum_us += c.duration_sum_us.load();
    upstream_sum_us += c.upstream_sum_us.load();
    bytes_in += c.bytes_in.load();
    bytes_out += c.bytes_out.load();
  }
  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (auto v : duration) n += v;
    return n;
  }
};

}  // namespace

MethodLabel method_label(std::string_view method) {
  for (std::size_t i = 0; i + 1 < kMethodNames.size(); ++i) {
    if (kMethodNames[i] == method) return static_cast<MethodLabel>(i);
  }
  return MethodLabel::kOther;
}

std::string_view to_string(MethodLabel method) {
  return kMethodNames[static_cast<std::size_t>(method)];
}

void RequestSeriesRegistry::WorkerSeries::record(const RequestSample& s) {
  SeriesCounters& c = at(s.series);
  const unsigned status_class = s.status / 100 < 6 ? s.status / 100 : 0;
  add(c.requests[static_cast<std::size_t>(s.method)][status_class], 1);
  add(c.duration[bucket_of(s.duration_us)], 1);
  add(c.duration_sum_us, static_cast<std::uint64_t>(std::max<std::int64_t>(s.duration_us, 0)));
  if (s.upstream_us >= 0) {
    add(c.upstream[bucket_of(s.upstream_us)], 1);
    add(c.upstream_sum_us, static_cast<std::uint64_t>(s.upstream_us));
  }
  add(c.bytes_in, s.bytes_in);
  add(c.bytes_out, s.bytes_out);
}

RequestSeriesRegistry::RequestSeriesRegistry(unsigned workers) {
  for (unsigned i = 0; i < workers; ++i) workers_.push_back(std::make_unique<WorkerSeries>());
  std::lock_guard lock(mutex_);
  id_for("", "", "");            // kUnrouted
  id_for("", "(overflow)", "");  // kOverflow
}

std::uint32_t RequestSeriesRegistry::id_for(const std::string& namespace_,
                                            const std::string& ingress,
                                            const std::string& service) {
  auto key = std::make_tuple(namespace_, ingress, service);
  if (auto it = ids_.find(key); it != ids_.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(labels_.size());
  if (id >= kMaxSeries) return kOverflow;
  if (id % kChunk == 0) {
    // A new chunk in every worker, published before the id is handed out.
    for (auto& w : workers_) {
      w->owned_.push_back(std::make_unique<SeriesCounters[]>(kChunk));
      w->chunks_[id / kChunk].store(w->owned_.back().get(), std::memory_order_release);
    }
  }
  labels_.push_back({namespace_, ingress, service});
  ids_.emplace(std::move(key), id);
  return id;
}

std::shared_ptr<const RouteSeries> RequestSeriesRegistry::series_for(
    const std::shared_ptr<const routing::RouteTable>& table) {
  std::lock_guard lock(mutex_);
  for (const Cached& c : cache_) {
    if (c.table.lock() == table) return c.series;
  }
  auto series = std::make_shared<RouteSeries>();
  series->reserve(table->routes().size());
  for (const routing::Route& route : table->routes()) {
    const routing::IngressRef& ingress = table->ingress_of(route);
    const routing::Cluster& cluster = table->cluster_of(route);
    series->push_back(id_for(ingress.namespace_, ingress.name, cluster.service));
  }
  if (cache_.size() == kCachedTables) cache_.erase(cache_.begin());
  cache_.push_back({table, series});
  return series;
}

std::size_t RequestSeriesRegistry::size() const {
  std::lock_guard lock(mutex_);
  return labels_.size();
}

void RequestSeriesRegistry::render(const std::shared_ptr<const routing::RouteTable>& table,
                                   std::string& out) {
  std::vector<std::uint32_t> live = {kUnrouted, kOverflow};
  if (table) {
    auto series = series_for(table);
    live.insert(live.end(), series->begin(), series->end());
  }
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());

  std::vector<Labels> labels;
  {
    std::lock_guard lock(mutex_);
    for (std::uint32_t id : live) labels.push_back(labels_[id]);
  }
  std::vector<Sums> sums(live.size());
  for (std::size_t i = 0; i < live.size(); ++i) {
    for (auto& w : workers_) sums[i].add(w->at(live[i]));
  }

  auto label_set = [&](std::size_t i) {
    out += "namespace=\"";
    append_label_value(out, labels[i].namespace_);
    out += "\",ingress=\"";
    append_label_value(out, labels[i].ingress);
    out += "\",service=\"";
    append_label_value(out, labels[i].service);
    out += '"';
  };
  static constexpr const char* kClasses[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

  out +=
      "# HELP portico_http_requests_total Requests answered, by Ingress, Service, method and "
      "status class (namespace, ingress and service are empty when no route matched).\n"
      "# TYPE portico_http_requests_total counter\n";
  for (std::size_t i = 0; i < live.size(); ++i) {
    for (std::size_t m = 0; m < SeriesCounters::kMethods; ++m) {
      for (std::size_t k = 0; k < 6; ++k) {
        const std::uint64_t n = sums[i].requests[m][k];
        if (n == 0) continue;
        out += "portico_http_requests_total{";
        label_set(i);
        out += ",method=\"";
        out += kMethodNames[m];
        out += "\",code=\"";
        out += kClasses[k];
        out += "\"} ";
        out += std::to_string(n);
        out += '\n';
      }
    }
  }

  auto histogram = [&](std::string_view name, std::string_view help, bool upstream) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " histogram\n";
    for (std::size_t i = 0; i < live.size(); ++i) {
      const auto& buckets = upstream ? sums[i].upstream : sums[i].duration;
      std::uint64_t count = 0;
      for (auto v : buckets) count += v;
      if (count == 0) continue;
      std::uint64_t cumulative = 0;
      for (std::size_t b = 0; b < buckets.size(); ++b) {
        cumulative += buckets[b];
        out += name;
        out += "_bucket{";
        label_set(i);
        out += ",le=\"";
        out += b < kDurationBucketsUs.size() ? bound_text(kDurationBucketsUs[b]) : "+Inf";
        out += "\"} ";
        out += std::to_string(cumulative);
        out += '\n';
      }
      out += name;
      out += "_sum{";
      label_set(i);
      out += "} ";
      append_seconds(out, upstream ? sums[i].upstream_sum_us : sums[i].duration_sum_us);
      out += '\n';
      out += name;
      out += "_count{";
      label_set(i);
      out += "} ";
      out += std::to_string(count);
      out += '\n';
    }
  };
  histogram("portico_http_request_duration_seconds",
            "Time from a complete request header to the end of the response.", false);
  histogram("portico_upstream_response_duration_seconds",
            "Time from a complete request header to the upstream's response header (connecting "
            "included).",
            true);

  auto bytes = [&](std::string_view name, std::string_view help, bool in) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " counter\n";
    for (std::size_t i = 0; i < live.size(); ++i) {
      if (sums[i].count() == 0) continue;
      out += name;
      out += '{';
      label_set(i);
      out += "} ";
      out += std::to_string(in ? sums[i].bytes_in : sums[i].bytes_out);
      out += '\n';
    }
  };
  bytes("portico_http_request_bytes_total", "Request header and body bytes received.", true);
  bytes("portico_http_response_bytes_total", "Response header and body bytes sent.", false);
}

}  // namespace portico::ingress
