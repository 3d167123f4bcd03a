#include "routing/backend_resolver.hpp"

namespace portico::routing {

namespace {

std::string ns_key(std::string_view namespace_, std::string_view name) {
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

std::size_t NameKeyHash::operator()(const NameKey& k) const {
  std::hash<std::string_view> h;
  std::size_t seed = h(k.namespace_);
  seed ^= h(k.name) + 0x9e3779b97f4a7c15ull + (seed << 6) + (seed >> 2);
  if (!k.port_name.empty()) seed ^= h(k.port_name) + 0x9e3779b97f4a7c15ull + (seed << 6);
  return seed ^ (static_cast<std::size_t>(k.port_number) * 0x9e3779b97f4a7c15ull);
}

BackendResolver::BackendResolver(const ObjectSet& objects)
    : objects_(objects),
      services_(objects.services.size()),
      slices_(objects.endpoint_slices.size()),
      endpoints_(objects.endpoints.size()) {
  for (std::uint32_t i = 0; i < objects.services.size(); ++i) {
    const Service& s = objects.services[i];
    services_.insert(NameKey{s.meta.namespace_, s.meta.name}, i);
  }
  slice_groups_.reserve(objects.endpoint_slices.size());
  for (const EndpointSlice& e : objects.endpoint_slices) {
    if (e.service_name.empty()) continue;
    auto [group, inserted] = slices_.insert(NameKey{e.meta.namespace_, e.service_name},
                                            static_cast<std::uint32_t>(slice_groups_.size()));
    if (inserted) slice_groups_.emplace_back();
    slice_groups_[group].push_back(&e);
  }
  for (std::uint32_t i = 0; i < objects.endpoints.size(); ++i) {
    const Endpoints& e = objects.endpoints[i];
    endpoints_.insert(NameKey{e.meta.namespace_, e.meta.name}, i);
  }
}

BackendResolver::Resolution BackendResolver::resolve(std::string_view namespace_,
                                                     std::string_view name,
                                                     const PortRef& port) const {
  Resolution resolution;
  Cluster& cluster = resolution.cluster;
  const std::string service_name = ns_key(namespace_, name);
  auto warn = [&](std::string message) { resolution.warnings.push_back(std::move(message)); };
  cluster.namespace_ = std::string(namespace_);
  cluster.service = std::string(name);
  cluster.port = port;

  std::uint32_t found = services_.find(NameKey{namespace_, name});
  if (found == services_.kEmpty) {
    cluster.key = service_name + ":" + port_text(port);
    warn("Service " + service_name +
         " not found (an Ingress reaches only Services of its own namespace); the route answers "
         "503 until it exists");
    return resolution;
  }
  const Service& service = objects_.services[found];
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
    cluster.key = service_name + ":" + std::to_string(service_port->port);
  } else {
    cluster.key = service_name + ":" + port_text(port);
  }

  if (service.is_external_name()) {
    // ExternalName: the DNS name, on the Service port (or the number the Ingress gives when the
    // Service declares no ports, which is common for ExternalName).
    cluster.external_name = true;
    std::int32_t number = service_port ? service_port->port : port.number;
    if (number == 0) {
      warn("port \"" + port.name + "\" not found in ExternalName Service " + service_name + " (" +
           describe_ports(service) + "); name the port by number instead");
      return resolution;
    }
    if (service.external_name.empty()) {
      warn("ExternalName Service " + service_name +
           " has no spec.externalName; the route answers 503");
      return resolution;
    }
    cluster.service_port = number;
    cluster.endpoints.push_back(
        {service.external_name, static_cast<std::uint16_t>(number), true, {}});
    return resolution;
  }

  if (service_port == nullptr) {
    warn("Service " + service_name + " has no port " +
         (port.by_name() ? "named \"" + port.name + "\"" : port_text(port)) + " (" +
         describe_ports(service) + "); the route answers 503");
    return resolution;
  }
  collect_endpoints(service, *service_port, cluster);
  if (cluster.endpoints.empty()) {
    warn("Service " + service_name +
         " has no endpoints (no EndpointSlice or Endpoints with a port matching \"" +
         (service_port->name.empty() ? std::to_string(service_port->port) : service_port->name) +
         "\"); the route answers 503 until it has");
  } else if (cluster.ready_count() == 0) {
    warn("Service " + service_name +
         " has no ready endpoints; the route answers 503 until one is ready");
  }
  return resolution;
}

void BackendResolver::collect_endpoints(const Service& service, const ServicePort& port,
                                        Cluster& cluster) const {
  // EndpointSlice and Endpoints ports carry the Service port's name ("" when it has none).
  const NameKey key{service.meta.namespace_, service.meta.name};
  if (std::uint32_t group = slices_.find(key); group != slices_.kEmpty) {
    std::size_t total = 0;
    for (const EndpointSlice* slice : slice_groups_[group]) total += slice->endpoints.size();
    cluster.endpoints.reserve(total);
    for (const EndpointSlice* slice : slice_groups_[group]) {
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
  if (std::uint32_t found = endpoints_.find(key); found != endpoints_.kEmpty) {
    for (const EndpointSubset& subset : objects_.endpoints[found].subsets) {
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
