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

bool Route::operator==(const Route& other) const = default;

namespace {
// A host with more non-regex paths than this is matched through a hash of its match keys, probing
// each element-wise prefix of the request path (cost ~ request path depth); below it a linear scan
// in precedence order is faster (measured: bench/routing_bench).
constexpr std::size_t kLinearScanLimit = 16;
}  // namespace

struct RouteTable::VirtualHost {
  std::string name;
  struct Entry {
    std::string_view key;
    std::uint32_t route;
    bool exact;
  };
  std::vector<Entry> entries;  // non-regex paths, precedence order
  struct KeyRoutes {
    std::uint32_t exact = RouteMatch::kNone;
    std::uint32_t prefix = RouteMatch::kNone;
  };
  std::unordered_map<std::string_view, KeyRoutes> by_key;  // only above kLinearScanLimit
  std::vector<std::pair<std::uint32_t, std::shared_ptr<const re2::RE2>>> regexes;
  std::uint32_t fallback = RouteMatch::kNone;

  std::uint32_t match(std::string_view path) const;
};

std::uint32_t RouteTable::VirtualHost::match(std::string_view path) const {
  if (by_key.empty()) {
    for (const Entry& e : entries) {
      if (path_matches(e.key, e.exact, path)) return e.route;
    }
  } else {
    if (auto it = by_key.find(path); it != by_key.end()) {
      if (it->second.exact != RouteMatch::kNone) return it->second.exact;
    }
    // Element-wise prefixes of the path, longest first: "/a/b/" -> "/a/b", "/a", "".
    std::string_view candidate = path;
    for (;;) {
      while (!candidate.empty() && candidate.back() == '/') candidate.remove_suffix(1);
      if (auto it = by_key.find(candidate); it != by_key.end()) {
        if (it->second.prefix != RouteMatch::kNone) return it->second.prefix;
      }
      if (candidate.empty()) break;
      candidate = candidate.substr(0, candidate.rfind('/'));
    }
  }
  for (const auto& [route, re] : regexes) {
    if (re->Match(path, 0, path.size(), re2::RE2::ANCHOR_START, nullptr, 0)) return route;
  }
  return RouteMatch::kNone;
}

// Open addressing over string views that point into the (immutable) virtual hosts.
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
    route = vh.match(path);
    if (route == RouteMatch::kNone) route = vh.fallback;
  }
  if (route == RouteMatch::kNone) route = default_route_;
  if (route == RouteMatch::kNone) return {};
  return RouteMatch{route, routes_[route].cluster};
}

bool RouteTable::same_as(const RouteTable& other) const {
  return default_route_ == other.default_route_ && routes_ == other.routes_ &&
         clusters_ == other.clusters_ && tls_ == other.tls_;
}

// ---- RouteTableBuilder

std::uint32_t RouteTableBuilder::add_cluster(Cluster cluster) {
  table_.clusters_.push_back(std::move(cluster));
  return static_cast<std::uint32_t>(table_.clusters_.size() - 1);
}

std::uint32_t RouteTableBuilder::host_index(const std::string& host) {
  auto [it, inserted] = host_by_name_.try_emplace(host, static_cast<std::uint32_t>(hosts_.size()));
  if (inserted) hosts_.push_back(PendingHost{host, {}, {}, RouteMatch::kNone});
  return it->second;
}

void RouteTableBuilder::add_host(const std::string& host) {
  host_index(host);
}

std::uint32_t RouteTableBuilder::add_route(Route route, std::shared_ptr<const re2::RE2> regex) {
  PendingHost& host = hosts_[host_index(route.host)];
  auto index = static_cast<std::uint32_t>(table_.routes_.size());
  table_.routes_.push_back(std::move(route));
  if (regex) {
    host.regexes.emplace_back(index, std::move(regex));
  } else {
    host.routes.push_back(index);
  }
  return index;
}

std::uint32_t RouteTableBuilder::add_default(Route route, bool host_fallback) {
  auto index = static_cast<std::uint32_t>(table_.routes_.size());
  if (host_fallback) {
    hosts_[host_index(route.host)].fallback = index;
  } else {
    table_.default_route_ = index;
  }
  table_.routes_.push_back(std::move(route));
  return index;
}

bool RouteTableBuilder::has_host_fallback(const std::string& host) const {
  auto it = host_by_name_.find(host);
  return it != host_by_name_.end() && hosts_[it->second].fallback != RouteMatch::kNone;
}

void RouteTableBuilder::add_tls(TlsBinding binding) {
  table_.tls_.push_back(std::move(binding));
}

std::shared_ptr<const RouteTable> RouteTableBuilder::build() {
  auto table = std::make_shared<RouteTable>(std::move(table_));
  const std::vector<Route>& routes = table->routes_;

  // Display order: hosts by name with the host-less rules last, each host's routes in precedence
  // order, its fallback after them; the table default at the very end.
  std::vector<std::uint32_t> host_order(hosts_.size());
  for (std::uint32_t i = 0; i < host_order.size(); ++i) host_order[i] = i;
  std::sort(host_order.begin(), host_order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const std::string& x = hosts_[a].name;
    const std::string& y = hosts_[b].name;
    if (x.empty() != y.empty()) return y.empty();
    return x < y;
  });

  table->vhosts_.resize(hosts_.size());
  std::vector<std::pair<std::string_view, std::uint32_t>> exact;
  std::vector<std::pair<std::string_view, std::uint32_t>> wildcard;
  for (std::uint32_t h : host_order) {
    PendingHost& pending = hosts_[h];
    RouteTable::VirtualHost& vh = table->vhosts_[h];
    vh.name = std::move(pending.name);
    vh.fallback = pending.fallback;
    vh.regexes = std::move(pending.regexes);
    vh.entries.reserve(pending.routes.size());
    for (std::uint32_t r : pending.routes) {
      const Route& route = routes[r];
      bool is_exact = route.path_type == PathType::kExact;
      vh.entries.push_back({match_key(route.path, route.path_type), r, is_exact});
    }
    // Routes were added in declaration order, so the route index is the declaration order.
    std::stable_sort(vh.entries.begin(), vh.entries.end(), [](const auto& a, const auto& b) {
      return precedes({static_cast<std::uint32_t>(a.key.size()), a.exact, a.route},
                      {static_cast<std::uint32_t>(b.key.size()), b.exact, b.route});
    });
    if (vh.entries.size() > kLinearScanLimit) {
      vh.by_key.reserve(vh.entries.size());
      for (const auto& e : vh.entries) {
        auto& slot = vh.by_key[e.key];
        std::uint32_t& target = e.exact ? slot.exact : slot.prefix;
        if (target == RouteMatch::kNone) target = e.route;
      }
    }
    for (const auto& e : vh.entries) table->display_order_.push_back(e.route);
    for (const auto& rx : vh.regexes) table->display_order_.push_back(rx.first);
    if (vh.fallback != RouteMatch::kNone) table->display_order_.push_back(vh.fallback);

    if (vh.name.empty()) {
      table->any_host_ = h;
    } else if (vh.name.starts_with("*.")) {
      wildcard.emplace_back(std::string_view(vh.name).substr(2), h);
    } else {
      exact.emplace_back(vh.name, h);
    }
  }
  if (table->default_route_ != RouteMatch::kNone)
    table->display_order_.push_back(table->default_route_);
  table->exact_hosts_ = std::make_unique<RouteTable::HostIndex>(exact);
  table->wildcard_hosts_ = std::make_unique<RouteTable::HostIndex>(wildcard);
  return table;
}

}  // namespace portico::routing
