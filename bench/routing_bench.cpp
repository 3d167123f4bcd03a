// routing_bench: compile time (objects -> RouteTable) and lookup time on generated clusters of
// 100, 10,000 and 100,000 Ingresses (one host and 5 paths each, ~5% wildcard hosts).
//
//   routing_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Objects, tables and request lists are built once per size, outside the timed loops. Lookups
// cycle through 16,384 generated requests, so the time per iteration is the time per lookup:
// - BM_Lookup: hits on exact and wildcard hosts, deep paths under prefixes, ports in Host, 10%
//   misses, spread over every host (at 100k hosts most lookups miss the CPU caches);
// - BM_LookupHot: the same mix on 64 hosts only, a working set that stays in cache at every size,
//   so what remains is the cost of the algorithm;
// - BM_LookupMiss: misses only (unknown hosts, uncovered paths, two-label wildcard subdomains);
// - BM_LookupWildcard: hits on wildcard hosts only.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "bench/cluster_generator.hpp"
#include "routing/compiler.hpp"
#include "routing/route_table.hpp"
#include "routing/workload_chain.hpp"

namespace {

using portico::bench::Request;
namespace routing = portico::routing;

struct Fixture {
  routing::ObjectSet objects;
  std::size_t paths = 0;
  std::shared_ptr<const routing::RouteTable> table;  // built on first use
  routing::Diagnostics diagnostics;
  std::vector<Request> requests;   // 10% misses
  std::vector<Request> misses;     // misses only
  std::vector<Request> wildcards;  // hits on wildcard hosts only
  std::vector<Request> hot;        // like `requests`, on 64 Ingresses only
};

Fixture& fixture(std::size_t ingresses) {
  static std::map<std::size_t, std::unique_ptr<Fixture>> fixtures;
  auto& f = fixtures[ingresses];
  if (!f) {
    f = std::make_unique<Fixture>();
    portico::bench::GeneratorOptions options;
    options.ingresses = ingresses;
    f->objects = portico::bench::generate_cluster(options);
    f->paths = portico::bench::summarize(f->objects).paths;
  }
  return *f;
}

// The compiled table and request lists, or an error message when the table cannot serve them.
std::string prepare_lookups(Fixture& f) {
  if (!f.table) {
    auto result = routing::compile(f.objects);
    f.table = std::move(result.table);
    f.diagnostics = std::move(result.diagnostics);
    f.requests = portico::bench::generate_requests(f.objects, {16384, 0.1, 2, 0});
    f.misses = portico::bench::generate_requests(f.objects, {16384, 1.0, 3, 0});
    for (auto& r : portico::bench::generate_requests(f.objects, {65536, 0.0, 4, 0})) {
      if (r.host.find(".wc") != std::string::npos) f.wildcards.push_back(std::move(r));
    }
    f.hot = portico::bench::generate_requests(f.objects, {16384, 0.1, 5, 64});
  }
  if (f.table->routes().empty()) {
    return "compile() produced no routes" +
           (f.diagnostics.empty() ? std::string() : ": " + routing::format(f.diagnostics.front()));
  }
  return {};
}

// Lookups whose outcome differs from what the generator expects (a routing bug, not noise).
std::size_t mismatches(const routing::RouteTable& table, const std::vector<Request>& requests) {
  std::size_t wrong = 0;
  for (const auto& r : requests) {
    if (static_cast<bool>(table.lookup(r.host, r.path)) != r.expect_match) ++wrong;
  }
  return wrong;
}

std::size_t allocated_bytes() {
#if defined(__GLIBC__)
  const auto info = mallinfo2();
  return info.uordblks + info.hblkhd;  // small blocks + large (mmap-ed) ones
#else
  return 0;
#endif
}

void BM_Compile(benchmark::State& state) {
  const auto& f = fixture(static_cast<std::size_t>(state.range(0)));

  // One untimed compile for the counters: routes, diagnostics, and the table's heap size.
  const std::size_t before = allocated_bytes();
  auto probe = routing::compile(f.objects);
  const std::size_t after = allocated_bytes();
  state.counters["routes"] = static_cast<double>(probe.table->routes().size());
  state.counters["clusters"] = static_cast<double>(probe.table->clusters().size());
  state.counters["errors"] =
      static_cast<double>(routing::count(probe.diagnostics, routing::Severity::kError));
  state.counters["heap_MB"] = static_cast<double>(after - before) / 1e6;
  probe = {};

  routing::CompileResult result;
  for (auto _ : state) {
    result = routing::compile(f.objects);
    benchmark::DoNotOptimize(result.table.get());
    // Freeing the previous table is not part of building one.
    state.PauseTiming();
    result = {};
    state.ResumeTiming();
  }
  state.counters["ingresses"] = static_cast<double>(f.objects.ingresses.size());
  state.counters["paths"] = static_cast<double>(f.paths);
  state.SetItemsProcessed(state.iterations() *
                          static_cast<std::int64_t>(f.objects.ingresses.size()));
}

void run_lookups(benchmark::State& state, const std::vector<Request> Fixture::*list) {
  auto& f = fixture(static_cast<std::size_t>(state.range(0)));
  if (auto error = prepare_lookups(f); !error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  const auto& requests = f.*list;
  if (requests.empty()) {
    state.SkipWithError("no requests of this kind for this size");
    return;
  }
  const std::size_t wrong = mismatches(*f.table, requests);
  static std::set<const void*> warned;  // once per request list, not once per benchmark run
  if (wrong != 0 && warned.insert(&requests).second) {
    std::fprintf(stderr, "warning: %zu of %zu lookups disagree with the generated rules\n", wrong,
                 requests.size());
  }

  const routing::RouteTable& table = *f.table;
  const std::size_t n = requests.size();
  std::size_t i = 0;
  std::size_t hits = 0;
  for (auto _ : state) {
    const Request& r = requests[i];
    if (++i == n) i = 0;
    const routing::RouteMatch match = table.lookup(r.host, r.path);
    benchmark::DoNotOptimize(match);
    hits += static_cast<bool>(match);
  }
  state.counters["hosts"] = static_cast<double>(f.objects.ingresses.size());
  state.counters["paths"] = static_cast<double>(f.paths);
  state.counters["hit_ratio"] = static_cast<double>(hits) /
                                static_cast<double>(std::max<std::int64_t>(1, state.iterations()));
  state.counters["mismatches"] = static_cast<double>(wrong);
}

void BM_Lookup(benchmark::State& state) {
  run_lookups(state, &Fixture::requests);
}
void BM_LookupMiss(benchmark::State& state) {
  run_lookups(state, &Fixture::misses);
}
void BM_LookupWildcard(benchmark::State& state) {
  run_lookups(state, &Fixture::wildcards);
}
void BM_LookupHot(benchmark::State& state) {
  run_lookups(state, &Fixture::hot);
}

// The dry run's chain pass alone, on the compiled table plus a Deployment per Service (as
// `portico_bench_gen --workloads` writes them): compare with BM_Compile at the same size.
void BM_WorkloadChain(benchmark::State& state) {
  Fixture& f = fixture(static_cast<std::size_t>(state.range(0)));
  if (std::string error = prepare_lookups(f); !error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  routing::ObjectSet objects = f.objects;
  for (const routing::Service& service : objects.services) {
    if (!service.has_selector) continue;
    routing::Workload& w = objects.workloads.emplace_back();
    w.kind = routing::WorkloadKind::kDeployment;
    w.api_version = "apps/v1";
    w.meta.name = service.meta.name;
    w.meta.namespace_ = service.meta.namespace_;
    w.replicas = 3;
    w.selector.emplace().match_labels = service.selector;
    w.template_labels = service.selector;
    w.ports = {{"http", 8080}, {"admin", 9090}};
  }
  std::size_t links = 0;
  for (auto _ : state) {
    routing::WorkloadChain chain = routing::analyze_workload_chain(objects, *f.table);
    links = 0;
    for (const auto& c : chain.clusters) links += c.workloads.size();
    benchmark::DoNotOptimize(chain);
  }
  state.counters["workloads"] = static_cast<double>(objects.workloads.size());
  state.counters["links"] = static_cast<double>(links);
}

}  // namespace

BENCHMARK(BM_WorkloadChain)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Compile)->Arg(100)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Lookup)->Arg(100)->Arg(10000)->Arg(100000)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_LookupMiss)->Arg(100)->Arg(10000)->Arg(100000)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_LookupWildcard)->Arg(100)->Arg(10000)->Arg(100000)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_LookupHot)->Arg(100)->Arg(10000)->Arg(100000)->Unit(benchmark::kNanosecond);

BENCHMARK_MAIN();
