#include "ingress/upstream_pool.hpp"

#include <sys/socket.h>

#include <openssl/sha.h>

#include <algorithm>
#include <cerrno>

namespace portico::ingress {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// How long a peak of connections in use keeps its idle connections pooled after it.
constexpr auto kPeakPeriod = std::chrono::seconds(10);

// Points per endpoint on the hash ring. nginx's `hash ... consistent` (ketama) uses 160; with
// that many the share of keys per endpoint stays within a few percent of 1/n.
constexpr std::uint32_t kRingPoints = 160;

// splitmix64's finalizer: spreads FNV-1a's weak low bits over the whole word.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

std::uint64_t hash_key(std::string_view key) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return mix(h);
}

std::uint64_t affinity_token(const UpstreamTarget& target) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(target.key.data()), target.key.size(), digest);
  std::uint64_t token = 0;
  for (int i = 0; i < 8; ++i) token = (token << 8) | digest[i];
  return token;
}

void UpstreamPool::update(const routing::RouteTable& table) {
  std::unordered_map<std::string, ClusterState> next;
  std::unordered_map<std::string, std::shared_ptr<UpstreamEndpoint>> endpoints;
  by_index_.assign(table.clusters().size(), nullptr);
  table_ = &table;
  for (std::size_t i = 0; i < table.clusters().size(); ++i) {
    const routing::Cluster& cluster = table.clusters()[i];
    auto [it, inserted] = next.try_emplace(cluster.key);
    ClusterState& state = it->second;
    if (inserted) {
      if (auto old = by_key_.find(cluster.key); old != by_key_.end()) state.next = old->second.next;
      for (const routing::Endpoint& e : cluster.endpoints) {
        if (!e.ready) continue;
        UpstreamTarget target;
        target.port = e.port;
        target.key = e.address + ":" + std::to_string(e.port);
        boost::system::error_code ec;
        auto address = asio::ip::make_address(e.address, ec);
        if (ec || cluster.external_name) {
          target.dns_name = e.address;
        } else {
          target.address = tcp::endpoint(address, e.port);
        }
        // Pooled connections and load stay with an endpoint that is still there.
        std::shared_ptr<UpstreamEndpoint>& endpoint = endpoints[target.key];
        if (!endpoint) {
          auto old = endpoints_.find(target.key);
          endpoint = old != endpoints_.end() ? old->second : std::make_shared<UpstreamEndpoint>();
        }
        target.endpoint = endpoint;
        state.ready.push_back(std::make_shared<const UpstreamTarget>(std::move(target)));
      }
    }
    by_index_[i] = &state;
  }
  by_key_ = std::move(next);
  // Pooled connections to endpoints that are gone are closed; requests still using one do not
  // give it back.
  for (auto& [key, endpoint] : endpoints_) {
    if (endpoints.count(key) == 0) {
      endpoint->live = false;
      endpoint->idle.clear();
      endpoint->http2_sessions.clear();  // calls in progress keep theirs
    }
  }
  endpoints_ = std::move(endpoints);
}

// Consistent hashing on a ring rather than jump hash or Maglev: an endpoint that leaves moves
// only its own keys (jump hash can only drop the last bucket, so removing one in the middle of
// the list would move keys between endpoints that stayed), the ring is placed by the endpoints'
// addresses so every worker and replica agrees without coordination, it is what nginx's
// `hash ... consistent` and ingress-nginx's chash balancer do, and a lookup is a binary search
// over n*160 points (Maglev's O(1) lookup needs a 65537-entry table per cluster and per worker).
std::size_t UpstreamPool::pick_hashed(ClusterState& state, std::uint64_t key) {
  if (state.ring.empty()) {
    state.ring.reserve(state.ready.size() * kRingPoints);
    for (std::uint32_t i = 0; i < state.ready.size(); ++i) {
      const std::uint64_t base = hash_key(state.ready[i]->key);
      for (std::uint32_t p = 0; p < kRingPoints; ++p)
        state.ring.emplace_back(mix(base + (p + 1) * 0x9e3779b97f4a7c15ull), i);
    }
    std::sort(state.ring.begin(), state.ring.end());
  }
  auto it = std::lower_bound(state.ring.begin(), state.ring.end(),
                             std::pair<std::uint64_t, std::uint32_t>{key, 0});
  if (it == state.ring.end()) it = state.ring.begin();
  return it->second;
}

std::size_t UpstreamPool::pick_sticky(ClusterState& state, std::uint64_t token) {
  if (state.tokens.empty()) {
    state.tokens.reserve(state.ready.size());
    for (const auto& target : state.ready) state.tokens.push_back(affinity_token(*target));
  }
  for (std::size_t i = 0; i < state.tokens.size(); ++i) {
    if (state.tokens[i] == token) return i;
  }
  return kNoIndex;
}

std::shared_ptr<const UpstreamTarget> UpstreamPool::pick(const routing::RouteTable& table,
                                                         std::uint32_t cluster,
                                                         const UpstreamTarget* exclude,
                                                         const Affinity* affinity) {
  ClusterState* found = nullptr;
  if (&table == table_) {
    if (cluster < by_index_.size()) found = by_index_[cluster];
  } else if (cluster < table.clusters().size()) {
    // A request that started before the last reload: same cluster by key, newest endpoints.
    auto it = by_key_.find(table.clusters()[cluster].key);
    if (it != by_key_.end()) found = &it->second;
  }
  if (found == nullptr) return nullptr;
  ClusterState& state = *found;
  const std::size_t n = state.ready.size();
  if (n == 0) return nullptr;
  if (n == 1) return state.ready[0];
  if (affinity != nullptr) {
    std::size_t chosen = kNoIndex;
    if (affinity->kind == Affinity::Kind::kHash) {
      chosen = pick_hashed(state, affinity->key);
    } else if (affinity->kind == Affinity::Kind::kCookie && affinity->has_key) {
      chosen = pick_sticky(state, affinity->key);
    }
    if (chosen != kNoIndex && state.ready[chosen].get() != exclude) return state.ready[chosen];
  }
  if (config_.load_balancing == LoadBalancing::kLeastRequest) {
    // Power of two choices: two distinct random endpoints, the one with fewer requests in flight.
    std::size_t a = random_() % n;
    std::size_t b = (a + 1 + random_() % (n - 1)) % n;
    const auto& x = state.ready[a];
    const auto& y = state.ready[b];
    if (x.get() == exclude) return y;
    if (y.get() == exclude) return x;
    return x->endpoint->in_flight <= y->endpoint->in_flight ? x : y;
  }
  const auto* chosen = &state.ready[state.next++ % n];
  if (chosen->get() == exclude) chosen = &state.ready[state.next++ % n];
  return *chosen;
}

std::unique_ptr<Socket> UpstreamPool::take(const UpstreamTarget& target, bool tls) {
  UpstreamEndpoint& endpoint = *target.endpoint;
  if (endpoint.idle.empty()) return nullptr;
  auto now = CoarseClock::now();
  for (std::size_t i = endpoint.idle.size(); i-- > 0;) {
    if (endpoint.idle[i].tls != tls) continue;
    UpstreamEndpoint::Idle idle = std::move(endpoint.idle[i]);
    endpoint.idle.erase(endpoint.idle.begin() + static_cast<std::ptrdiff_t>(i));
    if (now - idle.since > config_.upstream_idle_timeout) continue;
    // A connection idle for a while may have been closed by the upstream's keep-alive timeout:
    // such a one reads as EOF (or an error) without blocking, an open one would block. Recently
    // used ones skip the check (a syscall per request); a request without body that meets a
    // just-closed one is retried on a new connection.
    if (now - idle.since < std::chrono::seconds(1)) return std::move(idle.socket);
    char byte;
    ssize_t n = ::recv(idle.socket->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::move(idle.socket);
  }
  return nullptr;
}

void UpstreamPool::give_back(UpstreamConnection& connection) {
  if (!connection.socket) return;
  UpstreamEndpoint& endpoint = *connection.target->endpoint;
  std::unique_ptr<Socket> socket = std::move(connection.socket);
  --endpoint.in_use;
  if (!endpoint.live) return;
  const auto now = CoarseClock::now();
  endpoint.peak = std::max(endpoint.peak, endpoint.in_use + 1);
  if (now - endpoint.period_start > kPeakPeriod) {
    // A new period: what was pooled for an older, larger peak goes, the oldest first.
    endpoint.period_start = now;
    endpoint.peak = endpoint.in_use + 1;
    const std::size_t keep = std::max(config_.upstream_idle_per_endpoint, endpoint.peak);
    if (endpoint.idle.size() > keep) {
      const auto excess = static_cast<std::ptrdiff_t>(endpoint.idle.size() - keep);
      endpoint.idle.erase(endpoint.idle.begin(), endpoint.idle.begin() + excess);
    }
  }
  if (endpoint.idle.size() >= std::max(config_.upstream_idle_per_endpoint, endpoint.peak)) return;
  endpoint.idle.push_back({std::move(socket), now, connection.tls});
}

void UpstreamPool::close_idle() {
  for (auto& [key, endpoint] : endpoints_) {
    endpoint->idle.clear();
    endpoint->http2_sessions.clear();
  }
}

std::size_t UpstreamPool::idle_connections() const {
  std::size_t n = 0;
  for (const auto& [key, endpoint] : endpoints_) n += endpoint->idle.size();
  return n;
}

}  // namespace portico::ingress
