#pragma once

// The publisher: turns a set of objects into the Snapshot the data plane serves. It compiles the
// objects, builds the certificate store for the table's TLS bindings, and swaps the new snapshot
// in with one pointer store. Workers poll generation() (one atomic load) on every request and call
// current() only when it moved; neither ever waits for a compile, which runs before any lock that
// readers take.
//
// A recompile that changes nothing is not published: when the new table is same_as() the current
// one, the bound Secrets' certificate and key text are unchanged and the diagnostics are equal,
// the current snapshot stays and the result says kUnchanged. A change of diagnostics alone (a file
// that stopped parsing while its last objects keep serving) publishes a snapshot that reuses the
// current table and certificate store, so that what the admin endpoints and logs show is never
// stale; routes_changed/certs_changed tell the two kinds of publication apart.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "routing/compiler.hpp"
#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"
#include "tls/cert_store.hpp"
#include "watch/snapshot.hpp"

namespace portico::watch {

struct PublishResult {
  enum class Outcome { kPublished, kUnchanged, kFailed };
  Outcome outcome = Outcome::kUnchanged;
  std::uint64_t generation = 0;          // the generation serving after the call (0: none yet)
  bool routes_changed = false;           // kPublished: the table differs from the previous one
  bool certs_changed = false;            // kPublished: the certificate store was rebuilt
  std::chrono::nanoseconds duration{0};  // compile + certificate store + swap
  std::size_t errors = 0;                // diagnostics of the new state, by severity
  std::size_t warnings = 0;
  std::string failure;  // kFailed: why (the previous snapshot keeps serving)
};

std::string_view to_string(PublishResult::Outcome outcome);

// Counters for metrics; a consistent-enough view (each field is read atomically on its own).
struct PublisherStats {
  std::uint64_t published = 0;
  std::uint64_t unchanged = 0;
  std::uint64_t failed = 0;
  std::chrono::nanoseconds last_duration{0};
  // When the last call that ended with a snapshot serving (kPublished or kUnchanged) returned;
  // the epoch before the first one.
  std::chrono::system_clock::time_point last_success;
};

class Publisher {
 public:
  using Observer = std::function<void(const Snapshot&, const PublishResult&)>;

  // `default_context` is the certificate for names no Secret covers (normally from
  // tls::make_default_context(); null means none, as CertStore::build() defines).
  Publisher(routing::CompileOptions options, tls::ContextPtr default_context);
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Compiles `objects` and publishes the result as generation()+1, unless nothing changed (see
  // above). `decoder_diagnostics` come first in the snapshot's diagnostics, then the compiler's,
  // then the certificate store's. Calls from several threads are serialized. Never throws: if the
  // compile or the certificate store fails (an exception: out of memory, OpenSSL failing), the
  // result is kFailed and the current snapshot keeps serving. Observers are called before it
  // returns, after the swap.
  PublishResult publish(const routing::ObjectSet& objects,
                        routing::Diagnostics decoder_diagnostics);

  // The snapshot serving now: null before the first successful publish(), never null after it.
  std::shared_ptr<const Snapshot> current() const {
    return current_.load(std::memory_order_acquire);
  }

  // The generation of current() (0 before the first publication). One atomic load: cheap enough
  // for every request. It is stored after the snapshot, so a reader that sees generation g and then
  // calls current() gets generation g or newer.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Adds an observer (logs, metrics). Observers run on the thread that called publish(), after
  // every call that leaves a snapshot serving: with the new snapshot when kPublished, with the one
  // still serving when kUnchanged or kFailed (not at all for a failure before the first
  // publication). They must not call publish() or on_publish(); an exception they throw is
  // swallowed.
  void on_publish(Observer observer);

  PublisherStats stats() const;

 private:
  // The text of the Secrets the table's TLS bindings name, in binding order: what decides whether
  // the certificate store must be rebuilt when the bindings themselves did not change.
  struct TlsInput {
    std::string secret;  // "namespace/name"
    std::string crt;
    std::string key;
    bool string_data = false;
    bool operator==(const TlsInput&) const = default;
  };
  static std::vector<TlsInput> tls_inputs(const routing::RouteTable& table,
                                          const routing::ObjectSet& objects);

  PublishResult publish_locked(const routing::ObjectSet& objects,
                               routing::Diagnostics decoder_diagnostics);
  void notify(const Snapshot& snapshot, const PublishResult& result);

  const routing::CompileOptions options_;
  const tls::ContextPtr default_context_;

  std::mutex publish_mutex_;  // serializes publish(); readers never take it
  // Guarded by publish_mutex_: what the current snapshot was built from.
  std::vector<TlsInput> tls_inputs_;
  routing::Diagnostics cert_diagnostics_;  // from the build of the current certificate store

  std::atomic<std::shared_ptr<const Snapshot>> current_;
  std::atomic<std::uint64_t> generation_{0};

  std::mutex observers_mutex_;
  std::vector<Observer> observers_;

  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> unchanged_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::int64_t> last_duration_ns_{0};
  std::atomic<std::int64_t> last_success_ns_{0};  // system_clock, since the epoch
};

}  // namespace portico::watch
