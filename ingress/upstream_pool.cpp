#include "ingress/upstream_pool.hpp"

#include <sys/socket.h>

#include <unordered_set>

namespace portico::ingress {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

void UpstreamPool::update(const routing::RouteTable& table) {
  std::unordered_set<std::string> live_endpoints;
  std::unordered_map<std::string, ClusterState> next;
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
        live_endpoints.insert(target.key);
        state.ready.push_back(std::make_shared<const UpstreamTarget>(std::move(target)));
      }
    }
    by_index_[i] = &state;
  }
  by_key_ = std::move(next);
  // Pooled connections to endpoints that are gone are closed; the others stay.
  for (auto it = idle_.begin(); it != idle_.end();) {
    if (live_endpoints.count(it->first) == 0) {
      it = idle_.erase(it);
    } else {
      ++it;
    }
  }
}

std::shared_ptr<const UpstreamTarget> UpstreamPool::pick(const routing::RouteTable& table,
                                                         std::uint32_t cluster,
                                                         const UpstreamTarget* exclude) {
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
  if (config_.load_balancing == LoadBalancing::kLeastRequest) {
    // Power of two choices: two distinct random endpoints, the one with fewer requests in flight.
    std::size_t a = random_() % n;
    std::size_t b = (a + 1 + random_() % (n - 1)) % n;
    const auto& x = state.ready[a];
    const auto& y = state.ready[b];
    if (x.get() == exclude) return y;
    if (y.get() == exclude) return x;
    return in_flight_[x->key] <= in_flight_[y->key] ? x : y;
  }
  const auto* chosen = &state.ready[state.next++ % n];
  if (chosen->get() == exclude) chosen = &state.ready[state.next++ % n];
  return *chosen;
}

UpstreamPool::Connection UpstreamPool::take(const UpstreamTarget& target) {
  auto it = idle_.find(target.key);
  if (it == idle_.end()) return nullptr;
  auto now = std::chrono::steady_clock::now();
  while (!it->second.empty()) {
    Idle idle = std::move(it->second.back());
    it->second.pop_back();
    if (now - idle.since > config_.upstream_idle_timeout) continue;
    // A connection idle for a while may have been closed by the upstream's keep-alive timeout:
    // such a one reads as EOF (or an error) without blocking, an open one would block. Recently
    // used ones skip the check (a syscall per request); a request without body that meets a
    // just-closed one is retried on a new connection.
    if (now - idle.since < std::chrono::seconds(1)) return std::move(idle.stream);
    char byte;
    ssize_t n = ::recv(idle.stream->socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::move(idle.stream);
  }
  return nullptr;
}

void UpstreamPool::give_back(const UpstreamTarget& target, Connection stream) {
  auto& list = idle_[target.key];
  if (list.size() >= config_.upstream_idle_per_endpoint) return;
  stream->expires_never();
  list.push_back({std::move(stream), std::chrono::steady_clock::now()});
}

std::size_t UpstreamPool::idle_connections() const {
  std::size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

}  // namespace portico::ingress
