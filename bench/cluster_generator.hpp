#pragma once

// A synthetic cluster for the routing benchmarks: N Ingresses with one host and a handful of
// paths each, the Services they route to and an EndpointSlice per Service. Deterministic: the
// same options give the same objects, byte for byte, on every platform (own PRNG, no
// <random> distributions, whose results are implementation-defined).
//
// Shape (per Ingress i, namespace "ns-<i % namespaces>"):
// - host "app<i>.example.com", or for about `wildcard_fraction` of them "*.wc<i>.example.com";
// - `paths_per_ingress` distinct paths ("/", "/api", "/api/v1/users", "/static/", ...), mixed
//   Exact and Prefix, none equal after removing a trailing slash (so the nginx translation never
//   declares one location twice);
// - 1 or 2 Services ("app<i>-web", "app<i>-api"; only those a path routes to) with a named "http"
//   port 80 (targetPort by name or number) and sometimes an "admin" port; backends name the port
//   by number or by name;
// - one EndpointSlice per Service with 2 or 3 ready endpoints at unique 10.x.y.z addresses;
// - one IngressClass "portico" that every Ingress names in spec.ingressClassName.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "routing/objects.hpp"

namespace portico::bench {

struct GeneratorOptions {
  std::size_t ingresses = 10000;
  std::size_t paths_per_ingress = 5;  // at most 20 (the size of the path pool)
  std::size_t namespaces = 50;
  double wildcard_fraction = 0.05;
  std::string ingress_class = "portico";
  std::uint64_t seed = 1;
};

// Builds the objects. Never fails; `paths_per_ingress` is clamped to the pool size.
routing::ObjectSet generate_cluster(const GeneratorOptions& options);

// One request to look up, and whether the generated rules must route it.
struct Request {
  std::string host;  // as a Host header carries it: sometimes with a port
  std::string path;  // without the query string
  bool expect_match = false;
};

struct RequestOptions {
  std::size_t count = 16384;
  double miss_fraction = 0.1;  // unknown hosts, paths no rule covers, two-label wildcard subdomains
  std::uint64_t seed = 2;
  // When non-zero, requests go to at most this many Ingresses (chosen at random): a working set
  // that stays in cache whatever the table size, to show the cost of the algorithm alone.
  std::size_t max_ingresses = 0;
};

// Realistic requests against `objects` as generate_cluster() built them: hits on exact hosts and
// on wildcard hosts (exact paths, prefix paths and deep paths under prefixes, some Host headers
// with a port) and `miss_fraction` misses. Relies on the generator's shape (no host-less rules,
// no default backends) for `expect_match`.
std::vector<Request> generate_requests(const routing::ObjectSet& objects,
                                       const RequestOptions& options);

// Sizes of a generated set, for reports.
struct ClusterSummary {
  std::size_t ingresses = 0;
  std::size_t wildcard_hosts = 0;
  std::size_t paths = 0;
  std::size_t exact_paths = 0;
  std::size_t services = 0;
  std::size_t endpoint_slices = 0;
  std::size_t endpoints = 0;
};

ClusterSummary summarize(const routing::ObjectSet& objects);

}  // namespace portico::bench
