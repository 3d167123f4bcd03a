#include "bench/cluster_generator.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace portico::bench {
namespace {

// splitmix64: tiny, fast, and the same sequence everywhere (unlike std:: distributions).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform enough in [0, n) for n far below 2^64.
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }

 private:
  std::uint64_t state_;
};

enum class Role { kWeb, kApi, kAdmin };

struct PathShape {
  std::string_view path;
  bool usually_exact;
  Role role;
};

// Path shapes seen in real Ingresses. No two are equal once a trailing slash is removed (the
// nginx translation would declare a location twice), and none starts with "/nonexistent".
constexpr std::array<PathShape, 23> kPathPool{{
    {"/api", false, Role::kApi},
    {"/api/v1/users", false, Role::kApi},
    {"/api/v2/orders", false, Role::kApi},
    {"/graphql", true, Role::kApi},
    {"/v1/products", false, Role::kApi},
    {"/ws", false, Role::kApi},
    {"/auth/callback", true, Role::kApi},
    {"/static/", false, Role::kWeb},
    {"/assets", false, Role::kWeb},
    {"/images/", false, Role::kWeb},
    {"/uploads/", false, Role::kWeb},
    {"/login", true, Role::kWeb},
    {"/logout", true, Role::kWeb},
    {"/healthz", true, Role::kWeb},
    {"/favicon.ico", true, Role::kWeb},
    {"/robots.txt", true, Role::kWeb},
    {"/docs", false, Role::kWeb},
    {"/search", false, Role::kWeb},
    {"/cart/checkout", false, Role::kWeb},
    {"/account/settings", false, Role::kWeb},
    {"/.well-known/acme-challenge", false, Role::kWeb},
    {"/blog", false, Role::kWeb},
    {"/admin", false, Role::kAdmin},
}};

constexpr std::int32_t kHttpPort = 80;
constexpr std::int32_t kHttpTargetPort = 8080;
constexpr std::int32_t kAdminPort = 8081;

std::string dotted(unsigned a, unsigned b, unsigned c, unsigned d) {
  std::string out;
  for (unsigned octet : {a, b, c, d}) {
    if (!out.empty()) out += '.';
    out += std::to_string(octet);
  }
  return out;
}

// Unique pod addresses: 10.1.0.1, 10.1.0.2, ... skipping .0 and .255 (16 million of them).
std::string pod_address(std::size_t n) {
  return dotted(10, static_cast<unsigned>(1 + (n / (254 * 256)) % 254),
                static_cast<unsigned>((n / 254) % 256), static_cast<unsigned>(1 + n % 254));
}

// Unique ClusterIPs from 10.96.0.1 upwards.
std::string cluster_ip(std::size_t n) {
  return dotted(10, static_cast<unsigned>(96 + n / (254 * 256)),
                static_cast<unsigned>((n / 254) % 256), static_cast<unsigned>(1 + n % 254));
}

// The random suffix Kubernetes gives generated names ("app12-web-x7k2p").
std::string name_suffix(Rng& rng) {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out(5, ' ');
  for (char& c : out) c = kAlphabet[rng.below(kAlphabet.size())];
  return out;
}

routing::ObjectMeta meta(std::string name, std::string namespace_, std::string app) {
  routing::ObjectMeta m;
  m.name = std::move(name);
  m.namespace_ = std::move(namespace_);
  m.labels["app.kubernetes.io/name"] = std::move(app);
  m.labels["app.kubernetes.io/part-of"] = "portico-bench";
  return m;
}

struct ServicePlan {
  std::string name;
  bool target_by_name = false;
  bool has_admin = false;
};

void add_service(routing::ObjectSet& out, const ServicePlan& plan, const std::string& ns,
                 const std::string& app, std::size_t& next_service, std::size_t& next_pod,
                 Rng& rng) {
  routing::Service svc;
  svc.meta = meta(plan.name, ns, app);
  svc.cluster_ip = cluster_ip(next_service++);
  svc.selector["app"] = plan.name;
  svc.has_selector = true;
  routing::ServicePort http;
  http.name = "http";
  http.port = kHttpPort;
  if (plan.target_by_name) {
    http.target_port.name = "http";
  } else {
    http.target_port.number = kHttpTargetPort;
  }
  svc.ports.push_back(http);
  if (plan.has_admin) {
    routing::ServicePort admin;
    admin.name = "admin";
    admin.port = kAdminPort;
    admin.target_port.number = kAdminPort;
    svc.ports.push_back(admin);
  }

  routing::EndpointSlice slice;
  slice.meta = meta(plan.name + "-" + name_suffix(rng), ns, app);
  slice.meta.labels["kubernetes.io/service-name"] = plan.name;
  slice.meta.labels["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io";
  slice.service_name = plan.name;
  slice.ports.push_back({"http", "TCP", kHttpTargetPort});
  if (plan.has_admin) slice.ports.push_back({"admin", "TCP", kAdminPort});
  const std::size_t count = 2 + rng.below(2);
  static constexpr std::array<std::string_view, 3> kZones{"zone-a", "zone-b", "zone-c"};
  for (std::size_t e = 0; e < count; ++e) {
    routing::SliceEndpoint endpoint;
    endpoint.addresses.push_back(pod_address(next_pod++));
    endpoint.ready = true;
    endpoint.serving = true;
    endpoint.terminating = false;
    endpoint.node_name = "node-" + std::to_string(rng.below(20));
    endpoint.zone = std::string(kZones[rng.below(kZones.size())]);
    slice.endpoints.push_back(std::move(endpoint));
  }
  out.services.push_back(std::move(svc));
  out.endpoint_slices.push_back(std::move(slice));
}

}  // namespace

routing::ObjectSet generate_cluster(const GeneratorOptions& options) {
  Rng rng(options.seed);
  routing::ObjectSet out;
  out.ingresses.reserve(options.ingresses);
  out.services.reserve(options.ingresses * 3 / 2);
  out.endpoint_slices.reserve(options.ingresses * 3 / 2);

  routing::IngressClass klass;
  klass.meta.name = options.ingress_class;
  klass.meta.namespace_.clear();
  klass.controller = "portico.dev/ingress-controller";
  out.ingress_classes.push_back(std::move(klass));

  const std::size_t namespaces = std::max<std::size_t>(1, options.namespaces);
  const std::size_t paths_wanted = std::min(options.paths_per_ingress, kPathPool.size() + 1);
  std::size_t next_service = 0;
  std::size_t next_pod = 0;
  std::array<std::size_t, kPathPool.size()> order{};

  for (std::size_t i = 0; i < options.ingresses; ++i) {
    const std::string app = "app" + std::to_string(i);
    const std::string ns = "ns-" + std::to_string(i % namespaces);
    const bool wildcard = rng.chance(options.wildcard_fraction);

    ServicePlan web{app + "-web", rng.chance(0.5), rng.chance(0.25)};
    const bool has_api = rng.chance(0.4);
    ServicePlan api{app + "-api", rng.chance(0.5), false};

    routing::Ingress ing;
    ing.meta = meta(app, ns, app);
    ing.api_version = "networking.k8s.io/v1";
    ing.ingress_class_name = options.ingress_class;
    routing::IngressRule rule;
    rule.host = wildcard ? "*.wc" + std::to_string(i) + ".example.com" : app + ".example.com";
    rule.has_http = true;

    auto add_path = [&](std::string_view path, bool exact, Role role) {
      routing::HttpIngressPath p;
      p.path = std::string(path);
      p.path_type = exact ? "Exact" : "Prefix";
      p.backend.has_service = true;
      p.backend.has_port = true;
      if (role == Role::kAdmin && web.has_admin) {
        p.backend.service_name = web.name;
        if (rng.chance(0.5)) {
          p.backend.service_port.name = "admin";
        } else {
          p.backend.service_port.number = kAdminPort;
        }
      } else {
        p.backend.service_name = (role == Role::kApi && has_api) ? api.name : web.name;
        if (rng.chance(0.3)) {
          p.backend.service_port.name = "http";
        } else {
          p.backend.service_port.number = kHttpPort;
        }
      }
      rule.paths.push_back(std::move(p));
    };

    std::size_t remaining = paths_wanted;
    if (remaining > 0 && rng.chance(0.6)) {
      add_path("/", false, Role::kWeb);
      --remaining;
    }
    remaining = std::min(remaining, order.size());
    // Partial Fisher-Yates: `remaining` distinct shapes from the pool.
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    for (std::size_t k = 0; k < remaining; ++k) {
      std::swap(order[k], order[k + rng.below(order.size() - k)]);
      const PathShape& shape = kPathPool[order[k]];
      const bool exact = rng.chance(0.8) ? shape.usually_exact : !shape.usually_exact;
      add_path(shape.path, exact, shape.role);
    }
    // Only Services a path routes to: the file of an Ingress then holds all of its Services.
    auto used = [&](const ServicePlan& plan) {
      return std::any_of(rule.paths.begin(), rule.paths.end(),
                         [&](const auto& p) { return p.backend.service_name == plan.name; });
    };
    const bool web_used = used(web);
    const bool api_used = used(api);
    ing.rules.push_back(std::move(rule));
    out.ingresses.push_back(std::move(ing));

    if (web_used) add_service(out, web, ns, app, next_service, next_pod, rng);
    if (api_used) add_service(out, api, ns, app, next_service, next_pod, rng);
  }
  return out;
}

namespace {

constexpr std::array<std::string_view, 5> kWildcardLabels{"www", "shop", "eu", "tenant-7", "m"};
constexpr std::array<std::string_view, 6> kRootPaths{
    "/", "/index.html", "/products/42", "/blog/2024/05/hello-world", "/about", "/p/abc?ignored"};
constexpr std::array<std::string_view, 6> kDeepSuffixes{
    "/123", "/v2/items/42", "/css/site.min.css", "/a/b/c/d/e/f", "/", "/2f6c1e0a-7b1e/details"};

std::string request_host(const std::string& rule_host, Rng& rng) {
  std::string host = rule_host;
  if (host.starts_with("*.")) {
    host.replace(0, 1, kWildcardLabels[rng.below(kWildcardLabels.size())]);
  }
  if (rng.chance(0.1)) host += ":8080";
  return host;
}

std::string request_path(const routing::HttpIngressPath& rule_path, Rng& rng) {
  if (rule_path.path_type == "Exact") return rule_path.path;
  if (rule_path.path == "/") {
    std::string_view p = kRootPaths[rng.below(kRootPaths.size())];
    return std::string(p.substr(0, p.find('?')));
  }
  std::string base = rule_path.path;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  const std::size_t kind = rng.below(10);
  if (kind < 3) return base;
  if (kind < 4) return base + "/";
  return base + std::string(kDeepSuffixes[rng.below(kDeepSuffixes.size())]);
}

// Kubernetes matching, written out independently of routing/ (the code under test): Exact is
// equality; Prefix (trailing slash ignored) matches whole path elements.
bool covered(const routing::Ingress& ing, std::string_view path) {
  for (const auto& p : ing.rules.front().paths) {
    if (p.path_type == "Exact") {
      if (p.path == path) return true;
      continue;
    }
    std::string_view key = p.path;
    while (!key.empty() && key.back() == '/') key.remove_suffix(1);
    if (path.starts_with(key) && (path.size() == key.size() || path[key.size()] == '/')) {
      return true;
    }
  }
  return false;
}

bool has_root_prefix(const routing::Ingress& ing) {
  for (const auto& p : ing.rules.front().paths) {
    if (p.path == "/" && p.path_type == "Prefix") return true;
  }
  return false;
}

}  // namespace

std::vector<Request> generate_requests(const routing::ObjectSet& objects,
                                       const RequestOptions& options) {
  Rng rng(options.seed);
  std::vector<Request> out;
  out.reserve(options.count);

  std::vector<std::size_t> candidates(objects.ingresses.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) candidates[i] = i;
  if (options.max_ingresses != 0 && options.max_ingresses < candidates.size()) {
    for (std::size_t k = 0; k < options.max_ingresses; ++k) {
      std::swap(candidates[k], candidates[k + rng.below(candidates.size() - k)]);
    }
    candidates.resize(options.max_ingresses);
  }

  std::vector<std::size_t> with_paths;  // Ingresses usable for hits
  std::vector<std::size_t> wildcards;
  std::vector<std::size_t> without_root;  // Ingresses whose host does not catch every path
  for (std::size_t i : candidates) {
    const auto& ing = objects.ingresses[i];
    if (ing.rules.empty() || ing.rules.front().paths.empty()) continue;
    with_paths.push_back(i);
    if (ing.rules.front().host.starts_with("*.")) wildcards.push_back(i);
    if (!has_root_prefix(ing)) without_root.push_back(i);
  }

  for (std::size_t n = 0; n < options.count; ++n) {
    Request req;
    if (with_paths.empty() || rng.chance(options.miss_fraction)) {
      const std::size_t kind = rng.below(10);
      if (kind < 4 && !without_root.empty()) {
        const auto& ing = objects.ingresses[without_root[rng.below(without_root.size())]];
        req.host = request_host(ing.rules.front().host, rng);
        // "/nonexistent/..." is under no rule; "<prefix>x" tests element-wise Prefix matching.
        const auto& paths = ing.rules.front().paths;
        const auto& p = paths[rng.below(paths.size())];
        std::string base = p.path;
        while (base.size() > 1 && base.back() == '/') base.pop_back();
        req.path = base + "x";
        if (!rng.chance(0.5) || p.path_type != "Prefix" || covered(ing, req.path)) {
          req.path = "/nonexistent/" + std::to_string(rng.below(1000));
        }
      } else if (kind < 6 && !wildcards.empty()) {
        // A wildcard covers exactly one DNS label: "a.b.wcN.example.com" is not covered.
        const auto& ing = objects.ingresses[wildcards[rng.below(wildcards.size())]];
        req.host = "a.b" + ing.rules.front().host.substr(1);
        req.path = "/";
      } else {
        req.host = "unknown" + std::to_string(rng.below(1000000)) + ".example.org";
        req.path = "/";
      }
      req.expect_match = false;
    } else {
      // Hosts uniformly, so wildcard hosts get their share of the rules (~5%).
      const auto& ing = objects.ingresses[with_paths[rng.below(with_paths.size())]];
      const auto& paths = ing.rules.front().paths;
      req.host = request_host(ing.rules.front().host, rng);
      req.path = request_path(paths[rng.below(paths.size())], rng);
      req.expect_match = true;
    }
    out.push_back(std::move(req));
  }
  return out;
}

ClusterSummary summarize(const routing::ObjectSet& objects) {
  ClusterSummary s;
  s.ingresses = objects.ingresses.size();
  for (const auto& ing : objects.ingresses) {
    for (const auto& rule : ing.rules) {
      if (rule.host.starts_with("*.")) ++s.wildcard_hosts;
      for (const auto& p : rule.paths) {
        ++s.paths;
        if (p.path_type == "Exact") ++s.exact_paths;
      }
    }
  }
  s.services = objects.services.size();
  s.endpoint_slices = objects.endpoint_slices.size();
  for (const auto& slice : objects.endpoint_slices) s.endpoints += slice.endpoints.size();
  return s;
}

}  // namespace portico::bench
