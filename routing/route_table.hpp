#pragma once

// The compiled routing table: immutable after `compile()` builds it, shared between threads as
// `std::shared_ptr<const RouteTable>`. Lookups never allocate and never lock.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "routing/annotations.hpp"
#include "routing/objects.hpp"

namespace re2 {
class RE2;
}

namespace portico::routing {

enum class PathType : std::uint8_t { kExact, kPrefix, kImplementationSpecific };

std::string_view to_string(PathType type);

// One address a cluster forwards to.
struct Endpoint {
  std::string address;  // IP literal, or a DNS name for ExternalName Services
  std::uint16_t port = 0;
  bool ready = true;
  std::string hostname;  // optional, from the EndpointSlice / Endpoints

  bool operator==(const Endpoint&) const = default;
};

// A backend Service port and its endpoints: namespace/service:port. Routes name clusters by
// index; several routes to the same Service port share one cluster.
struct Cluster {
  std::string
      key;  // "namespace/service:port" (port = Service port number, or name when unresolved)
  std::string namespace_;
  std::string service;
  PortRef port;                   // as the Ingress named it
  std::int32_t service_port = 0;  // the resolved Service port, 0 when the Service is missing
  bool service_found = false;
  bool external_name = false;       // endpoints hold the DNS name to resolve
  std::vector<Endpoint> endpoints;  // ready and not-ready; the data plane uses ready ones

  std::size_t ready_count() const;
  bool operator==(const Cluster&) const = default;
};

// The Ingress a route comes from (routes refer to it by index, so that 50,000 routes do not carry
// 50,000 copies of the same names).
struct IngressRef {
  std::string namespace_;
  std::string name;
  std::string file;  // where it was read from; empty for objects from the API
  bool operator==(const IngressRef&) const = default;
};

// One path of one rule, after validation and conflict resolution, or a default backend.
struct Route {
  static constexpr std::uint32_t kNone = 0xffffffffu;
  std::uint32_t host = kNone;  // index into RouteTable::hosts(); kNone for the table default
  std::uint32_t ingress = 0;   // index into RouteTable::ingresses()
  std::string path;            // as written in the Ingress; empty for a default backend
  PathType path_type = PathType::kPrefix;
  bool regex = false;            // ImplementationSpecific with use-regex
  bool default_backend = false;  // an Ingress's spec.defaultBackend
  PortRef port;                  // the backend port as the Ingress names it (number or name)
  std::uint32_t cluster = 0;     // index into RouteTable::clusters(); names the Service
  int line = 0;                  // where the path (or defaultBackend) is declared
  std::uint32_t tls = kNone;     // index into RouteTable::tls() when spec.tls covers the host
  // Plain-HTTP requests to a TLS host are redirected to HTTPS (308) unless the Ingress says
  // ssl-redirect: "false".
  bool ssl_redirect = true;
  std::uint32_t policy = 0;      // index into RouteTable::policies(); 0: the empty policy
  std::uint32_t canary = kNone;  // index into RouteTable::canaries(), or kNone

  bool operator==(const Route&) const = default;
};

// The backend of a canary Ingress (ingress-nginx's canary: "true") attached to the route of the
// main Ingress with the same host and path: the requests its CanaryPolicy selects go to `cluster`
// instead of the route's. Of the canary Ingress's other annotations only cookie affinity and
// upstream-hash-by apply (to its own backend), as in ingress-nginx; the rest is the main
// route's.
struct CanaryBackend {
  std::uint32_t ingress = 0;  // the canary Ingress, into RouteTable::ingresses()
  std::uint32_t cluster = 0;  // into RouteTable::clusters()
  PortRef port;               // as the canary Ingress names it
  std::uint32_t policy = 0;   // the canary Ingress's policy, into RouteTable::policies()
  int line = 0;               // where the canary's path is declared

  bool operator==(const CanaryBackend&) const = default;
};

// A TLS binding: a host of spec.tls and the Secret that holds its certificate.
struct TlsBinding {
  std::string host;     // lower-case, possibly "*.example.com"
  std::string secret;   // "namespace/name"
  std::string ingress;  // "namespace/name" of the Ingress that declares it
  bool secret_found = false;
  // Another Secret for a host bound before (routes name the first binding): served beside the
  // first when one holds an RSA and the other an ECDSA key, else ignored (tls::CertStore decides
  // and reports; the compiler cannot read keys).
  bool alternate = false;
  bool operator==(const TlsBinding&) const = default;
};

// The result of a lookup: indices into routes() and clusters(), or kNone.
struct RouteMatch {
  static constexpr std::uint32_t kNone = 0xffffffffu;
  std::uint32_t route = kNone;
  std::uint32_t cluster = kNone;
  explicit operator bool() const { return route != kNone; }
};

class RouteTable {
 public:
  RouteTable();
  ~RouteTable();
  RouteTable(RouteTable&&) noexcept;
  RouteTable& operator=(RouteTable&&) noexcept;
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // Finds the route for a request. `host` is the Host header or :authority as received (any case,
  // optional port, optional trailing dot); `path` is the path of the request target without the
  // query string. Selection: the exact host's rules, else the one-label wildcard, else the
  // host-less rules; within them the Kubernetes precedence (see path_precedence.hpp). No matching
  // path falls back to the host's own default (an Ingress with rules and spec.defaultBackend),
  // then to the table default (an Ingress without rules), else no match.
  RouteMatch lookup(std::string_view host, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }
  const std::vector<Cluster>& clusters() const { return clusters_; }
  const std::vector<TlsBinding>& tls() const { return tls_; }
  // What annotations ask of routes; [0] is the empty policy.
  const std::vector<Policy>& policies() const { return policies_; }
  const Policy& policy_of(const Route& route) const { return policies_[route.policy]; }
  // Canary backends routes refer to (Route::canary).
  const std::vector<CanaryBackend>& canaries() const { return canaries_; }
  const std::vector<IngressRef>& ingresses() const { return ingresses_; }
  // Host names by index: lower-case, "*.example.com" for a wildcard, "" for "every host".
  const std::vector<std::string>& hosts() const { return hosts_; }
  // server-alias: more names (lower-case, "*.x" for a wildcard) that reach the rules of a host
  // (an index into hosts()), as nginx's server_name aliases do.
  const std::vector<std::pair<std::string, std::uint32_t>>& host_aliases() const {
    return host_aliases_;
  }

  // Conveniences over the indices above.
  const std::string& host_of(const Route& route) const;  // "" for host-less and the default
  const IngressRef& ingress_of(const Route& route) const { return ingresses_[route.ingress]; }
  const Cluster& cluster_of(const Route& route) const { return clusters_[route.cluster]; }
  // Route indices in display order: by host (host-less last), then precedence.
  const std::vector<std::uint32_t>& display_order() const { return display_order_; }
  // Index of the table-wide default backend route, or RouteMatch::kNone.
  std::uint32_t default_route() const { return default_route_; }

  // The path (without query) to send upstream for a request to `route` (an index into routes())
  // whose path is `path`: `path` itself, unless the route's policy has a rewrite-target; then,
  // as ingress-nginx does, the whole path is replaced by the target, in which $1..$9 are the
  // capture groups of the route's regular expression (use-regex) matched against `path` (empty
  // for a route that is not a regex, or a group that did not take part).
  std::string upstream_path(std::uint32_t route, std::string_view path) const;

  // Same routes, clusters and TLS bindings (used to skip publishing a no-op recompile).
  bool same_as(const RouteTable& other) const;

 private:
  friend class RouteTableBuilder;
  struct VirtualHost;
  struct HostIndex;
  struct PathEntry {
    std::uint32_t key_offset;  // into key_pool_
    std::uint32_t key_length;
    std::uint32_t route;
    bool exact;
  };

  std::vector<Route> routes_;
  std::vector<Cluster> clusters_;
  std::vector<TlsBinding> tls_;
  std::vector<Policy> policies_{1};
  std::vector<CanaryBackend> canaries_;
  std::vector<IngressRef> ingresses_;
  std::vector<std::string> hosts_;
  std::vector<std::pair<std::string, std::uint32_t>> host_aliases_;
  std::vector<std::uint32_t> display_order_;
  std::uint32_t default_route_ = RouteMatch::kNone;
  std::vector<VirtualHost> vhosts_;         // by host index
  std::vector<PathEntry> entries_;          // every host's non-regex paths, grouped by host
  std::string key_pool_;                    // the match keys of entries_, contiguous for locality
  std::unique_ptr<HostIndex> exact_hosts_;  // lower-case host -> vhost
  std::unique_ptr<HostIndex> wildcard_hosts_;   // parent domain of "*.x" -> vhost
  std::uint32_t any_host_ = RouteMatch::kNone;  // vhost of the host-less rules

  std::uint32_t match_paths(const VirtualHost& vh, std::string_view path) const;
};

}  // namespace portico::routing
