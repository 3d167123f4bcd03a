#include "routing/backend_resolver.hpp"

namespace portico::routing {

namespace {

std::string ns_key(const std::string& namespace_, const std::string& name) {
  std::string key;
  key.reserve(namespace_.size() + name.size() + 1);
  key += namespace_;
  key += '/';
  key += name;
  return key;
}

std::string port_text(const PortRef& port) {
  return port.by_name() ? port.name : std::to_string(port.number);
}

std::string describe_ports(const Service& service) {
  if (service.ports.empty()) return "it declares no ports";
  std::string out = "it declares ";
  for (std::size_t i = 0; i < service.ports.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(service.ports[i].port);
    if (!service.ports[i].name.empty()) out += " (" + service.ports[i].name + ")";
  }
  return out;
}

}  // namespace

std::string FieldSite::field_path() const {
  if (rule < 0) return field;
  return "spec.rules[" + std::to_string(rule) + "].http.paths[" + std::to_string(path) +
         "].backend";
}

std::size_t BackendResolver::NameKeyHash::operator()(const NameKey& k) const {
  std::hash<std::string_view> h;
  std::size_t seed = h(k.namespace_);
  seed ^= h(k.name) + 0x9e3779b97f4a7c15ull + (seed << 6) + (seed >> 2);
  if (!k.port_name.empty()) seed ^= h(k.port_name) + 0x9e3779b97f4a7c15ull + (seed << 6);
  return seed ^ (static_cast<std::size_t>(k.port_number) * 0x9e3779b97f4a7c15ull);
}

BackendResolver::BackendResolver(const ObjectSet& objects, RouteTableBuilder& builder,
                                 Diagnostics& diagnostics)
    : builder_(builder), diagnostics_(diagnostics) {
  services_.reserve(objects.services.size());
  for (const Service& s : objects.services)
    services_.emplace(NameKey{s.meta.namespace_, s.meta.name}, &s);
  slices_.reserve(objects.endpoint_slices.size());
  for (const EndpointSlice& e : objects.endpoint_slices) {
    if (!e.service_name.empty()) slices_[NameKey{e.meta.namespace_, e.service_name}].push_back(&e);
  }
  for (const Endpoints& e : objects.endpoints)
    endpoints_.emplace(NameKey{e.meta.namespace_, e.meta.name}, &e);
}

void BackendResolver::warn(const FieldSite& site, std::string message) {
  diagnostics_.push_back({Severity::kWarning, site.meta->origin.file, site.line,
                          object_name("Ingress", *site.meta), site.field_path(),
                          std::move(message)});
}

std::uint32_t BackendResolver::resolve(std::string_view namespace_, std::string_view service,
                                       const PortRef& port, const FieldSite& site) {
  NameKey reference{namespace_, service, port.name, port.number};
  if (auto it = by_reference_.find(reference); it != by_reference_.end()) return it->second;

  Cluster cluster = make_cluster(namespace_, service, port, site);
  std::uint32_t index;
  if (auto it = by_key_.find(cluster.key); it != by_key_.end()) {
    index = it->second;  // the same Service port, named once by number and once by name
  } else {
    std::string key = cluster.key;
    index = builder_.add_cluster(std::move(cluster));
    by_key_.emplace(std::move(key), index);
  }
  by_reference_.emplace(reference, index);
  return index;
}

Cluster BackendResolver::make_cluster(std::string_view namespace_view, std::string_view name_view,
                                      const PortRef& port, const FieldSite& site) {
  const std::string namespace_(namespace_view);
  const std::string name(name_view);
  Cluster cluster;
  cluster.namespace_ = namespace_;
  cluster.service = name;
  cluster.port = port;
  cluster.key = ns_key(namespace_, name) + ":" + port_text(port);

  auto it = services_.find(NameKey{namespace_view, name_view});
  if (it == services_.end()) {
    warn(site, "Service " + namespace_ + "/" + name +
                   " not found (an Ingress reaches only Services of its own namespace); the "
                   "route answers 503 until it exists");
    return cluster;
  }
  const Service& service = *it->second;
  cluster.service_found = true;

  const ServicePort* service_port = nullptr;
  for (const ServicePort& p : service.ports) {
    if (port.by_name() ? p.name == port.name : p.port == port.number) {
      service_port = &p;
      break;
    }
  }
  if (service_port != nullptr) {
    cluster.service_port = service_port->port;
    cluster.key = ns_key(namespace_, name) + ":" + std::to_string(service_port->port);
  }

  if (service.is_external_name()) {
    // ExternalName: the DNS name, on the Service port (or the number the Ingress gives when the
    // Service declares no ports, which is common for ExternalName).
    cluster.external_name = true;
    std::int32_t number = service_port ? service_port->port : port.number;
    if (number == 0) {
      warn(site, "port \"" + port.name + "\" not found in ExternalName Service " + namespace_ +
                     "/" + name + " (" + describe_ports(service) +
                     "); name the port by number instead");
      return cluster;
    }
    if (service.external_name.empty()) {
      warn(site, "ExternalName Service " + namespace_ + "/" + name +
                     " has no spec.externalName; the route answers 503");
      return cluster;
    }
    cluster.service_port = number;
    cluster.endpoints.push_back(
        {service.external_name, static_cast<std::uint16_t>(number), true, {}});
    return cluster;
  }

  if (service_port == nullptr) {
    warn(site, "Service " + namespace_ + "/" + name + " has no port " +
                   (port.by_name() ? "named \"" + port.name + "\"" : port_text(port)) + " (" +
                   describe_ports(service) + "); the route answers 503");
    return cluster;
  }
  collect_endpoints(service, *service_port, cluster);
  if (cluster.endpoints.empty()) {
    warn(site, "Service " + namespace_ + "/" + name +
                   " has no endpoints (no EndpointSlice or Endpoints with a port matching \"" +
                   (service_port->name.empty() ? std::to_string(service_port->port)
                                               : service_port->name) +
                   "\"); the route answers 503 until it has");
  } else if (cluster.ready_count() == 0) {
    warn(site, "Service " + namespace_ + "/" + name +
                   " has no ready endpoints; the route answers 503 until one is ready");
  }
  return cluster;
}

void BackendResolver::collect_endpoints(const Service& service, const ServicePort& port,
                                        Cluster& cluster) const {
  // EndpointSlice and Endpoints ports carry the Service port's name ("" when it has none).
  const NameKey key{service.meta.namespace_, service.meta.name};
  if (auto it = slices_.find(key); it != slices_.end()) {
    for (const EndpointSlice* slice : it->second) {
      const EndpointPort* slice_port = nullptr;
      for (const EndpointPort& p : slice->ports) {
        if (p.name == port.name) slice_port = &p;
      }
      if (slice_port == nullptr || slice_port->port <= 0 || slice_port->port > 65535) continue;
      for (const SliceEndpoint& e : slice->endpoints) {
        bool ready = e.ready.value_or(true);
        for (const std::string& address : e.addresses)
          cluster.endpoints.push_back(
              {address, static_cast<std::uint16_t>(slice_port->port), ready, e.hostname});
      }
    }
    return;
  }
  if (auto it = endpoints_.find(key); it != endpoints_.end()) {
    for (const EndpointSubset& subset : it->second->subsets) {
      const EndpointPort* subset_port = nullptr;
      for (const EndpointPort& p : subset.ports) {
        if (p.name == port.name) subset_port = &p;
      }
      if (subset_port == nullptr || subset_port->port <= 0 || subset_port->port > 65535) continue;
      auto p = static_cast<std::uint16_t>(subset_port->port);
      for (const EndpointAddress& a : subset.addresses)
        cluster.endpoints.push_back({a.ip, p, true, a.hostname});
      for (const EndpointAddress& a : subset.not_ready_addresses)
        cluster.endpoints.push_back({a.ip, p, false, a.hostname});
    }
  }
}

}  // namespace portico::routing
