#include "routing/route_table.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <functional>
#include <unordered_map>

#include "routing/host_name.hpp"
#include "routing/path_precedence.hpp"
#include "routing/route_table_builder.hpp"

namespace portico::routing {

std::string_view to_string(PathType type) {
  switch (type) {
    case PathType::kExact:
      return "Exact";
    case PathType::kPrefix:
      return "Prefix";
    case PathType::kImplementationSpecific:
      return "ImplementationSpecific";
  }
  return "Prefix";
}

std::size_t Cluster::ready_count() const {
  return static_cast<std::size_t>(
      std::count_if(endpoints.begin(), endpoints.end(), [](const Endpoint& e) { return e.ready; }));
}

const std::string& RouteTable::host_of(const Route& route) const {
  static const std::string kEveryHost;
  return route.host == Route::kNone ? kEveryHost : hosts_[route.host];
}

namespace {
// A host with more non-regex paths than this is matched through a hash of its match keys, probing
// each element-wise prefix of the request path (cost ~ request path depth); below it a linear scan
// in precedence order is faster (measured: bench/routing_bench).
constexpr std::uint32_t kLinearScanLimit = 16;
}  // namespace

struct RouteTable::VirtualHost {
  std::uint32_t first_entry = 0;  // entries_[first_entry, first_entry + entry_count)
  std::uint32_t entry_count = 0;
  std::uint32_t fallback = RouteMatch::kNone;
  struct KeyRoutes {
    std::uint32_t exact = RouteMatch::kNone;
    std::uint32_t prefix = RouteMatch::kNone;
  };
  std::unordered_map<std::string_view, KeyRoutes> by_key;  // only above kLinearScanLimit
  std::vector<std::pair<std::uint32_t, std::shared_ptr<const re2::RE2>>> regexes;
};

std::uint32_t RouteTable::match_paths(const VirtualHost& vh, std::string_view path) const {
  if (vh.by_key.empty()) {
    const char* pool = key_pool_.data();
    const PathEntry* e = entries_.data() + vh.first_entry;
    for (const PathEntry* end = e + vh.entry_count; e != end; ++e) {
      if (path_matches({pool + e->key_offset, e->key_length}, e->exact, path)) return e->route;
    }
  } else {
    if (auto it = vh.by_key.find(path); it != vh.by_key.end()) {
      if (it->second.exact != RouteMatch::kNone) return it->second.exact;
    }
    // Element-wise prefixes of the path, longest first: "/a/b/" -> "/a/b", "/a", "".
    std::string_view candidate = path;
    for (;;) {
      while (!candidate.empty() && candidate.back() == '/') candidate.remove_suffix(1);
      if (auto it = vh.by_key.find(candidate); it != vh.by_key.end()) {
        if (it->second.prefix != RouteMatch::kNone) return it->second.prefix;
      }
      if (candidate.empty()) break;
      candidate = candidate.substr(0, candidate.rfind('/'));
    }
  }
  for (const auto& [route, re] : vh.regexes) {
    if (re->Match(path, 0, path.size(), re2::RE2::ANCHOR_START, nullptr, 0)) return route;
  }
  return RouteMatch::kNone;
}

// Open addressing over string views that point into the (immutable) host names.
struct RouteTable::HostIndex {
  struct Slot {
    std::size_t hash = 0;
    std::string_view key;
    std::uint32_t vhost = RouteMatch::kNone;
  };
  std::vector<Slot> slots;
  std::size_t mask = 0;

  explicit HostIndex(const std::vector<std::pair<std::string_view, std::uint32_t>>& entries) {
    std::size_t capacity = 8;
    while (capacity < entries.size() * 2) capacity *= 2;
    slots.resize(capacity);
    mask = capacity - 1;
    for (const auto& [key, vhost] : entries) {
      std::size_t h = std::hash<std::string_view>{}(key);
      std::size_t i = h & mask;
      while (slots[i].vhost != RouteMatch::kNone) i = (i + 1) & mask;
      slots[i] = Slot{h, key, vhost};
    }
  }

  std::uint32_t find(std::string_view key) const {
    std::size_t h = std::hash<std::string_view>{}(key);
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots[i];
      if (s.vhost == RouteMatch::kNone) return RouteMatch::kNone;
      if (s.hash == h && s.key == key) return s.vhost;
    }
  }
};

RouteTable::RouteTable() = default;
RouteTable::~RouteTable() = default;
RouteTable::RouteTable(RouteTable&&) noexcept = default;
RouteTable& RouteTable::operator=(RouteTable&&) noexcept = default;

RouteMatch RouteTable::lookup(std::string_view host, std::string_view path) const {
  char buffer[kMaxHostLength + 1];
  std::string_view name = normalize_request_host(host, buffer);
  std::uint32_t vhost = RouteMatch::kNone;
  if (!name.empty()) {
    if (exact_hosts_) vhost = exact_hosts_->find(name);
    if (vhost == RouteMatch::kNone && wildcard_hosts_) {
      auto dot = name.find('.');
      if (dot != std::string_view::npos && dot > 0)
        vhost = wildcard_hosts_->find(name.substr(dot + 1));
    }
  }
  if (vhost == RouteMatch::kNone) vhost = any_host_;

  std::uint32_t route = RouteMatch::kNone;
  if (vhost != RouteMatch::kNone) {
    const VirtualHost& vh = vhosts_[vhost];
    route = match_paths(vh, path);
    if (route == RouteMatch::kNone) route = vh.fallback;
  }
  if (route == RouteMatch::kNone) route = default_route_;
  if (route == RouteMatch::kNone) return {};
  return RouteMatch{route, routes_[route].cluster};
}

std::string RouteTable::upstream_path(std::uint32_t index, std::string_view path) const {
  const Route& route = routes_[index];
  const std::string& target = policies_[route.policy].rewrite_target;
  if (target.empty()) return std::string(path);
  constexpr int kGroups = 9;
  re2::StringPiece groups[kGroups + 1];
  bool matched = false;
  if (route.regex && route.host < vhosts_.size()) {
    for (const auto& [r, re] : vhosts_[route.host].regexes) {
      if (r != index) continue;
      int n = std::min(kGroups, re->NumberOfCapturingGroups()) + 1;
      matched = re->Match(path, 0, path.size(), re2::RE2::ANCHOR_START, groups, n);
      break;
    }
  }
  std::string out;
  out.reserve(target.size() + path.size());
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '$' && i + 1 < target.size() && target[i + 1] >= '1' && target[i + 1] <= '9') {
      if (matched) {
        const re2::StringPiece& g = groups[target[i + 1] - '0'];
        out.append(g.data() == nullptr ? "" : std::string_view(g.data(), g.size()));
      }
      ++i;
    } else {
      out += target[i];
    }
  }
  return out;
}

bool RouteTable::same_as(const RouteTable& other) const {
  return default_route_ == other.default_route_ && routes_ == other.routes_ &&
         clusters_ == other.clusters_ && tls_ == other.tls_ && hosts_ == other.hosts_ &&
         ingresses_ == other.ingresses_ && policies_ == other.policies_ &&
         host_aliases_ == other.host_aliases_ && canaries_ == other.canaries_;
}

// ---- RouteTableBuilder

void RouteTableBuilder::set_ingresses(std::vector<IngressRef> ingresses) {
  table_.ingresses_ = std::move(ingresses);
}

void RouteTableBuilder::reserve(std::size_t routes, std::size_t clusters, std::size_t hosts) {
  table_.routes_.reserve(routes);
  path_routes_.reserve(routes);
  table_.clusters_.reserve(clusters);
  table_.hosts_.reserve(hosts);
  pending_.reserve(hosts);
}

std::uint32_t RouteTableBuilder::add_policy(Policy policy) {
  if (policy.empty()) return 0;
  table_.policies_.push_back(std::move(policy));
  return static_cast<std::uint32_t>(table_.policies_.size() - 1);
}

std::uint32_t RouteTableBuilder::add_cluster(Cluster cluster) {
  table_.clusters_.push_back(std::move(cluster));
  return static_cast<std::uint32_t>(table_.clusters_.size() - 1);
}

std::uint32_t RouteTableBuilder::host(std::string_view name) {
  auto [index, inserted] = host_by_name_.insert(name, static_cast<std::uint32_t>(pending_.size()));
  if (inserted) {
    pending_.emplace_back();
    table_.hosts_.emplace_back(name);
  }
  return index;
}

std::uint32_t RouteTableBuilder::find_host(std::string_view name) const {
  const std::uint32_t index = host_by_name_.find(name);
  return index == host_by_name_.kEmpty ? RouteMatch::kNone : index;
}

void RouteTableBuilder::add_host_alias(std::string alias, std::uint32_t host) {
  table_.host_aliases_.emplace_back(std::move(alias), host);
}

std::uint32_t RouteTableBuilder::add_route(Route route, std::shared_ptr<const re2::RE2> regex) {
  PendingHost& host = pending_[route.host];
  auto index = static_cast<std::uint32_t>(table_.routes_.size());
  table_.routes_.push_back(std::move(route));
  if (regex) {
    host.regexes.emplace_back(index, std::move(regex));
  } else {
    ++host.paths;
    path_routes_.push_back(index);
  }
  return index;
}

std::uint32_t RouteTableBuilder::add_default(Route route, bool host_fallback) {
  auto index = static_cast<std::uint32_t>(table_.routes_.size());
  if (host_fallback) {
    pending_[route.host].fallback = index;
  } else {
    route.host = Route::kNone;
    table_.default_route_ = index;
  }
  table_.routes_.push_back(std::move(route));
  return index;
}

void RouteTableBuilder::set_canary(std::uint32_t route, CanaryBackend canary) {
  table_.routes_[route].canary = static_cast<std::uint32_t>(table_.canaries_.size());
  table_.canaries_.push_back(std::move(canary));
}

std::uint32_t RouteTableBuilder::add_tls(TlsBinding binding) {
  table_.tls_.push_back(std::move(binding));
  return static_cast<std::uint32_t>(table_.tls_.size() - 1);
}

std::shared_ptr<const RouteTable> RouteTableBuilder::build() {
  auto table = std::make_shared<RouteTable>(std::move(table_));
  const std::vector<Route>& routes = table->routes_;
  const std::vector<std::string>& names = table->hosts_;

  // Display order: hosts by name with the host-less rules last, each host's routes in precedence
  // order, its fallback after them; the table default at the very end.
  std::vector<std::uint32_t> host_order(pending_.size());
  for (std::uint32_t i = 0; i < host_order.size(); ++i) host_order[i] = i;
  std::sort(host_order.begin(), host_order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const std::string& x = names[a];
    const std::string& y = names[b];
    if (x.empty() != y.empty()) return y.empty();
    return x < y;
  });

  // Group the non-regex routes by host (a counting sort keeps the order of addition, which is
  // the declaration-order tie-break).
  std::vector<std::uint32_t> first_of_host(pending_.size() + 1, 0);
  for (std::size_t h = 0; h < pending_.size(); ++h)
    first_of_host[h + 1] = first_of_host[h] + pending_[h].paths;
  std::vector<std::uint32_t> by_host(path_routes_.size());
  {
    std::vector<std::uint32_t> fill(first_of_host.begin(), first_of_host.end() - 1);
    for (std::uint32_t r : path_routes_) by_host[fill[routes[r].host]++] = r;
  }
  std::size_t path_count = path_routes_.size(), pool_size = 0;
  for (std::uint32_t r : path_routes_) pool_size += routes[r].path.size();
  table->entries_.reserve(path_count);
  table->key_pool_.reserve(pool_size);
  table->display_order_.reserve(routes.size());
  table->vhosts_.resize(pending_.size());

  std::vector<std::pair<std::string_view, std::uint32_t>> exact;
  std::vector<std::pair<std::string_view, std::uint32_t>> wildcard;
  exact.reserve(pending_.size());
  for (std::uint32_t h : host_order) {
    PendingHost& pending = pending_[h];
    RouteTable::VirtualHost& vh = table->vhosts_[h];
    vh.fallback = pending.fallback;
    vh.regexes = std::move(pending.regexes);
    vh.first_entry = static_cast<std::uint32_t>(table->entries_.size());
    vh.entry_count = pending.paths;
    for (std::uint32_t i = first_of_host[h]; i < first_of_host[h + 1]; ++i) {
      const std::uint32_t r = by_host[i];
      const Route& route = routes[r];
      std::string_view key = match_key(route.path, route.path_type);
      table->entries_.push_back({static_cast<std::uint32_t>(table->key_pool_.size()),
                                 static_cast<std::uint32_t>(key.size()), r,
                                 route.path_type == PathType::kExact});
      table->key_pool_ += key;
    }
    // Routes were added in precedence order of their Ingresses and declaration order within, so
    // the route index is the declaration-order tie-break.
    auto first = table->entries_.begin() + vh.first_entry;
    std::sort(first, table->entries_.end(), [](const auto& a, const auto& b) {
      return precedes({a.key_length, a.exact, a.route}, {b.key_length, b.exact, b.route});
    });
    if (vh.entry_count > kLinearScanLimit) {
      vh.by_key.reserve(vh.entry_count);
      for (auto e = first; e != table->entries_.end(); ++e) {
        auto& slot =
            vh.by_key[std::string_view(table->key_pool_).substr(e->key_offset, e->key_length)];
        std::uint32_t& target = e->exact ? slot.exact : slot.prefix;
        if (target == RouteMatch::kNone) target = e->route;
      }
    }
    for (auto e = first; e != table->entries_.end(); ++e) table->display_order_.push_back(e->route);
    for (const auto& rx : vh.regexes) table->display_order_.push_back(rx.first);
    if (vh.fallback != RouteMatch::kNone) table->display_order_.push_back(vh.fallback);

    const std::string& name = names[h];
    if (name.empty()) {
      table->any_host_ = h;
    } else if (name.starts_with("*.")) {
      wildcard.emplace_back(std::string_view(name).substr(2), h);
    } else {
      exact.emplace_back(name, h);
    }
  }
  if (table->default_route_ != RouteMatch::kNone)
    table->display_order_.push_back(table->default_route_);
  // The alias names live in the table, which is not changed after this: the views stay valid.
  for (const auto& [alias, h] : table->host_aliases_) {
    if (alias.starts_with("*.")) {
      wildcard.emplace_back(std::string_view(alias).substr(2), h);
    } else {
      exact.emplace_back(alias, h);
    }
  }
  table->exact_hosts_ = std::make_unique<RouteTable::HostIndex>(exact);
  table->wildcard_hosts_ = std::make_unique<RouteTable::HostIndex>(wildcard);
  return table;
}

}  // namespace portico::routing
