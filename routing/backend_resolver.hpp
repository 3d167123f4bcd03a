#pragma once

// Backend resolution (a compiler pass): Ingress backend (service name + port by number or name)
// -> Service port -> EndpointSlice port of the same name (or v1 Endpoints when the Service has no
// EndpointSlice) -> endpoints, ready or not. ExternalName Services resolve to their DNS name.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"
#include "routing/route_table_builder.hpp"

namespace portico::routing {

// Where a backend is referenced, to point diagnostics at it.
struct FieldSite {
  const ObjectMeta* meta;
  std::string_view kind;
  std::string field;
  int line;
};

class BackendResolver {
 public:
  BackendResolver(const ObjectSet& objects, RouteTableBuilder& builder, Diagnostics& diagnostics);

  // The cluster of `service`:`port` in `namespace_`, created on first use. A missing Service, a
  // port the Service does not have, or a Service without ready endpoints is a warning (once per
  // cluster, at the first reference): the route exists and answers 503 until that is fixed.
  std::uint32_t resolve(const std::string& namespace_, const std::string& service,
                        const PortRef& port, const FieldSite& site);

 private:
  Cluster make_cluster(const std::string& namespace_, const std::string& service,
                       const PortRef& port, const FieldSite& site);
  void collect_endpoints(const Service& service, const ServicePort* port, Cluster& cluster) const;
  void warn(const FieldSite& site, std::string message);

  RouteTableBuilder& builder_;
  Diagnostics& diagnostics_;
  std::unordered_map<std::string, const Service*> services_;                   // ns/name
  std::unordered_map<std::string, std::vector<const EndpointSlice*>> slices_;  // ns/service
  std::unordered_map<std::string, const Endpoints*> endpoints_;                // ns/name
  std::unordered_map<std::string, std::uint32_t> by_reference_;  // ns/service:port as named
  std::unordered_map<std::string, std::uint32_t> by_key_;        // Cluster::key
};

}  // namespace portico::routing
