#pragma once

// Backend resolution (a compiler pass): Ingress backend (service name + port by number or name)
// -> Service port -> EndpointSlice port of the same name (or v1 Endpoints when the Service has no
// EndpointSlice) -> endpoints, ready or not. ExternalName Services resolve to their DNS name.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "routing/flat_index.hpp"
#include "routing/objects.hpp"
#include "routing/route_table.hpp"

namespace portico::routing {

// (namespace, name[, port]) as views into the compiled objects.
struct NameKey {
  std::string_view namespace_;
  std::string_view name;
  std::string_view port_name = {};
  std::int32_t port_number = 0;
  bool operator==(const NameKey&) const = default;
};
struct NameKeyHash {
  std::size_t operator()(const NameKey& k) const;
};

class BackendResolver {
 public:
  // Indexes Services, EndpointSlices and Endpoints by namespace/name. `objects` must outlive the
  // resolver. resolve() is const and may run on several threads at once.
  explicit BackendResolver(const ObjectSet& objects);

  struct Resolution {
    Cluster cluster;
    // Problems that make the route answer 503 (missing Service, port, endpoints); the compiler
    // reports them as warnings at the first path that uses the cluster.
    std::vector<std::string> warnings;
  };
  Resolution resolve(std::string_view namespace_, std::string_view service,
                     const PortRef& port) const;

 private:
  void collect_endpoints(const Service& service, const ServicePort& port, Cluster& cluster) const;

  const ObjectSet& objects_;
  FlatIndex<NameKey, NameKeyHash> services_;  // -> objects_.services
  FlatIndex<NameKey, NameKeyHash> slices_;    // namespace/service -> slice_groups_
  std::vector<std::vector<const EndpointSlice*>> slice_groups_;
  FlatIndex<NameKey, NameKeyHash> endpoints_;  // -> objects_.endpoints
};

}  // namespace portico::routing
