#include "watch/publisher.hpp"

#include <exception>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace portico::watch {
namespace {

std::int64_t ticks(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string_view to_string(PublishResult::Outcome outcome) {
  switch (outcome) {
    case PublishResult::Outcome::kPublished:
      return "published";
    case PublishResult::Outcome::kUnchanged:
      return "unchanged";
    case PublishResult::Outcome::kFailed:
      return "failed";
  }
  return "unknown";
}

Publisher::Publisher(routing::CompileOptions options, tls::ContextPtr default_context)
    : options_(std::move(options)), default_context_(std::move(default_context)) {}

void Publisher::on_publish(Observer observer) {
  std::lock_guard lock(observers_mutex_);
  observers_.push_back(std::move(observer));
}

PublisherStats Publisher::stats() const {
  PublisherStats stats;
  stats.published = published_.load(std::memory_order_relaxed);
  stats.unchanged = unchanged_.load(std::memory_order_relaxed);
  stats.failed = failed_.load(std::memory_order_relaxed);
  stats.last_duration = std::chrono::nanoseconds(last_duration_ns_.load(std::memory_order_relaxed));
  stats.last_success = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(last_success_ns_.load(std::memory_order_relaxed))));
  return stats;
}

std::vector<Publisher::TlsInput> Publisher::tls_inputs(const routing::RouteTable& table,
                                                       const routing::ObjectSet& objects) {
  std::vector<TlsInput> inputs;
  if (table.tls().empty()) return inputs;
  std::unordered_map<std::string, std::vector<const routing::Secret*>> by_name;
  for (const routing::Secret& secret : objects.secrets) {
    by_name[secret.meta.namespace_ + '/' + secret.meta.name].push_back(&secret);
  }
  std::unordered_set<std::string_view> seen;
  for (const routing::TlsBinding& binding : table.tls()) {
    if (!seen.insert(binding.secret).second) continue;
    auto it = by_name.find(binding.secret);
    if (it == by_name.end()) {
      inputs.push_back({binding.secret, {}, {}, false});
      continue;
    }
    // Every Secret of that name, in input order: which one the store takes is its business, and
    // any of them changing must rebuild it.
    for (const routing::Secret* secret : it->second) {
      inputs.push_back({binding.secret, secret->tls_crt, secret->tls_key, secret->string_data});
    }
  }
  return inputs;
}

PublishResult Publisher::publish(const routing::ObjectSet& objects,
                                 routing::Diagnostics decoder_diagnostics) {
  std::lock_guard lock(publish_mutex_);
  auto started = std::chrono::steady_clock::now();
  PublishResult result;
  try {
    result = publish_locked(objects, std::move(decoder_diagnostics));
  } catch (const std::exception& e) {
    result = {};
    result.outcome = PublishResult::Outcome::kFailed;
    result.failure = e.what();
  } catch (...) {
    result = {};
    result.outcome = PublishResult::Outcome::kFailed;
    result.failure = "unknown exception";
  }
  result.generation = generation();
  result.duration = std::chrono::steady_clock::now() - started;

  last_duration_ns_.store(result.duration.count(), std::memory_order_relaxed);
  switch (result.outcome) {
    case PublishResult::Outcome::kPublished:
      published_.fetch_add(1, std::memory_order_relaxed);
      break;
    case PublishResult::Outcome::kUnchanged:
      unchanged_.fetch_add(1, std::memory_order_relaxed);
      break;
    case PublishResult::Outcome::kFailed:
      failed_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  if (result.outcome != PublishResult::Outcome::kFailed) {
    last_success_ns_.store(ticks(std::chrono::system_clock::now()), std::memory_order_relaxed);
  }
  if (auto snapshot = current()) notify(*snapshot, result);
  return result;
}

PublishResult Publisher::publish_locked(const routing::ObjectSet& objects,
                                        routing::Diagnostics decoder_diagnostics) {
  PublishResult result;
  routing::CompileResult compiled = routing::compile(objects, options_);
  std::vector<TlsInput> inputs = tls_inputs(*compiled.table, objects);
  std::shared_ptr<const Snapshot> previous = current();

  bool routes_changed = !previous || !compiled.table->same_as(*previous->table);
  // The store depends on the bindings (hosts -> Secret) and the Secrets' text only; a route
  // change elsewhere must not cost a rebuild of every SSL_CTX.
  bool certs_changed =
      !previous || !(compiled.table->tls() == previous->table->tls()) || inputs != tls_inputs_;

  std::shared_ptr<const tls::CertStore> certs;
  routing::Diagnostics cert_diagnostics;
  if (certs_changed) {
    certs = tls::CertStore::build(compiled.table->tls(), objects.secrets, default_context_,
                                  cert_diagnostics);
    if (!certs) throw std::runtime_error("the certificate store could not be built");
  } else {
    certs = previous->certs;
    cert_diagnostics = cert_diagnostics_;
  }

  routing::Diagnostics diagnostics = std::move(decoder_diagnostics);
  diagnostics.reserve(diagnostics.size() + compiled.diagnostics.size() + cert_diagnostics.size());
  diagnostics.insert(diagnostics.end(), std::make_move_iterator(compiled.diagnostics.begin()),
                     std::make_move_iterator(compiled.diagnostics.end()));
  diagnostics.insert(diagnostics.end(), cert_diagnostics.begin(), cert_diagnostics.end());
  result.errors = routing::count(diagnostics, routing::Severity::kError);
  result.warnings = routing::count(diagnostics, routing::Severity::kWarning);

  if (!routes_changed && !certs_changed && diagnostics == previous->diagnostics) {
    result.outcome = PublishResult::Outcome::kUnchanged;
    return result;
  }

  auto snapshot = std::make_shared<Snapshot>();
  // An unchanged table is not swapped for its equal twin: workers keep the object they hold.
  if (routes_changed) {
    snapshot->table = std::move(compiled.table);
  } else {
    snapshot->table = previous->table;
  }
  snapshot->certs = std::move(certs);
  snapshot->diagnostics = std::move(diagnostics);
  snapshot->generation = generation() + 1;
  snapshot->published_at = std::chrono::system_clock::now();
  std::uint64_t next = snapshot->generation;

  tls_inputs_ = std::move(inputs);
  cert_diagnostics_ = std::move(cert_diagnostics);
  // Snapshot first, generation second: a reader that sees the new generation finds its snapshot.
  current_.store(std::move(snapshot), std::memory_order_release);
  generation_.store(next, std::memory_order_release);

  result.outcome = PublishResult::Outcome::kPublished;
  result.routes_changed = routes_changed;
  result.certs_changed = certs_changed;
  return result;
}

void Publisher::notify(const Snapshot& snapshot, const PublishResult& result) {
  std::vector<Observer> observers;
  {
    std::lock_guard lock(observers_mutex_);
    observers = observers_;
  }
  for (const Observer& observer : observers) {
    try {
      observer(snapshot, result);
    } catch (...) {
      // An observer is a log line or a metric; it must not turn a publication into a failure.
    }
  }
}

}  // namespace portico::watch
