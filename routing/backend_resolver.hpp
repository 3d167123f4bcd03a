#pragma once

// Backend resolution (a compiler pass): Ingress backend (service name + port by number or name)
// -> Service port -> EndpointSlice port of the same name (or v1 Endpoints when the Service has no
// EndpointSlice) -> endpoints, ready or not. ExternalName Services resolve to their DNS name.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"
#include "routing/route_table_builder.hpp"

namespace portico::routing {

// Where a backend is referenced, to point diagnostics at it. The field path is only built when a
// diagnostic needs it.
struct FieldSite {
  const ObjectMeta* meta;
  int line;
  int rule = -1;  // spec.rules[rule].http.paths[path].backend, when rule >= 0
  int path = -1;
  const char* field = "";  // otherwise this field ("spec.defaultBackend")
  std::string field_path() const;
};

class BackendResolver {
 public:
  // `objects` must outlive the resolver: its indices point into them.
  BackendResolver(const ObjectSet& objects, RouteTableBuilder& builder, Diagnostics& diagnostics);

  // The cluster of `service`:`port` in `namespace_`, created on first use. A missing Service, a
  // port the Service does not have, or a Service without ready endpoints is a warning (once per
  // cluster, at the first reference): the route exists and answers 503 until that is fixed.
  // The views must stay valid as long as the resolver.
  std::uint32_t resolve(std::string_view namespace_, std::string_view service, const PortRef& port,
                        const FieldSite& site);

  struct NameKey {
    std::string_view namespace_;
    std::string_view name;
    std::string_view port_name = {};  // for references only
    std::int32_t port_number = 0;
    bool operator==(const NameKey&) const = default;
  };
  struct NameKeyHash {
    std::size_t operator()(const NameKey& k) const;
  };

 private:
  Cluster make_cluster(std::string_view namespace_, std::string_view service, const PortRef& port,
                       const FieldSite& site);
  void collect_endpoints(const Service& service, const ServicePort& port, Cluster& cluster) const;
  void warn(const FieldSite& site, std::string message);

  RouteTableBuilder& builder_;
  Diagnostics& diagnostics_;
  std::unordered_map<NameKey, const Service*, NameKeyHash> services_;
  std::unordered_map<NameKey, std::vector<const EndpointSlice*>, NameKeyHash> slices_;
  std::unordered_map<NameKey, const Endpoints*, NameKeyHash> endpoints_;
  std::unordered_map<NameKey, std::uint32_t, NameKeyHash> by_reference_;  // as the Ingress names it
  std::unordered_map<std::string, std::uint32_t> by_key_;                 // Cluster::key
};

}  // namespace portico::routing
