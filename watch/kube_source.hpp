#pragma once

// The Kubernetes API as a source of objects: list + watch of Ingress, IngressClass, Service,
// EndpointSlice and Secret (type kubernetes.io/tls only, by field selector), as a well-behaved
// controller does it, on one thread of its own.
//
// For each resource (and each watched namespace, when namespaces are named), a reflector:
//   - lists in pages (limit/continue) without a resourceVersion: a consistent read; the store for
//     that resource is replaced only once the last page is in, so no half state is published;
//   - watches from the list's resourceVersion with allowWatchBookmarks, a server timeout, and an
//     idle timeout of its own (a stalled stream is noticed); follows BOOKMARKs;
//   - after a stream ends or breaks, watches again from the last resourceVersion seen (nothing
//     missed, nothing replayed); on 410 Gone (an answer or an ERROR event) lists again;
//   - on errors waits an exponential backoff with jitter before the next try.
// Objects are decoded by the manifest decoder (the same model and validation as files). An event
// that changes nothing routing reads (only resourceVersion, managedFields or status), or that
// concerns an object no Ingress of our class can reach (another class's Ingress, a Service,
// EndpointSlice or Secret no such Ingress names), does not recompile. Relevant changes are
// debounced (holdoff, hard maximum) and published as one state; nothing is published before every
// reflector has completed its first list.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"
#include "watch/kube_config.hpp"
#include "watch/publisher.hpp"

namespace boost::asio {
class io_context;
}

namespace portico::watch {

class KubeClient;

struct KubeSourceOptions {
  std::vector<std::string> namespaces;  // empty: all namespaces
  std::string ingress_class = "portico";
  std::string controller_name = "portico.dev/ingress-controller";
  std::chrono::milliseconds holdoff{10};
  std::chrono::milliseconds max_delay{50};
  std::chrono::milliseconds request_timeout{std::chrono::seconds(60)};  // one list page
  // No byte on a watch stream for this long: the stream is given up and opened again. The API
  // server sends a BOOKMARK about once a minute, so a healthy stream is never idle this long.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(90)};
  std::chrono::seconds watch_timeout{300};  // timeoutSeconds asked, times a random 1..2 (client-go)
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{std::chrono::seconds(30)};
  unsigned page_size = 500;
  // Where states go (a SourceSet or the Publisher). Called on the source's thread.
  std::function<PublishResult(routing::ObjectSet, routing::Diagnostics)> publish;
  std::function<void(std::string_view)> log;  // problems and recoveries; may be empty
};

struct KubeSourceStats {
  std::uint64_t events = 0;        // watch events applied (BOOKMARKs not counted)
  std::uint64_t ignored = 0;       // of those, events that did not need a recompile
  std::uint64_t lists = 0;         // complete lists (first lists and relists)
  std::uint64_t relists = 0;       // lists after a 410 Gone
  std::uint64_t watch_errors = 0;  // streams that broke, stalled or were refused
  std::uint64_t publishes = 0;     // states handed to `publish`
};

// What the status writer needs of one Ingress in the store.
struct IngressStatusView {
  std::string namespace_;
  std::string name;
  std::string resource_version;
  std::string load_balancer;  // status.loadBalancer serialized as JSON ("{}" when absent)
};

class KubeSource {
 public:
  // Throws KubeConfigError when the TLS material does not load.
  KubeSource(KubeConfig config, KubeSourceOptions options);
  ~KubeSource();  // stop()s
  KubeSource(const KubeSource&) = delete;
  KubeSource& operator=(const KubeSource&) = delete;

  // Starts the thread: every reflector lists, then watches.
  void start();
  // Ends the thread (watches are cut). Idempotent.
  void stop();

  // Every reflector has completed its first list and the first state has been handed over.
  bool synced() const { return synced_.load(std::memory_order_acquire); }
  KubeSourceStats stats() const;

  // For the status writer and leader election, which run on the same thread.
  boost::asio::io_context& io();
  KubeClient& client();
  // The Ingresses in the store (call on the source's thread).
  std::vector<IngressStatusView> ingress_statuses() const;
  // Called on the source's thread after each publication, and when an Ingress's status changed.
  void on_published(std::function<void()> callback);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> started_{false};
};

}  // namespace portico::watch
