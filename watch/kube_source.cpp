#include "watch/kube_source.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <unordered_set>

#include "watch/kube_client.hpp"
#include "watch/kube_object.hpp"
#include "watch/manifest_decoder.hpp"

namespace portico::watch {

namespace asio = boost::asio;
namespace json = boost::json;
namespace http = boost::beast::http;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

// What is watched. Secrets only of type kubernetes.io/tls: a controller has no business with the
// others (and RBAC for the chart grants list on secrets, so the selector keeps the cache small).
struct Resource {
  std::string_view kind;
  std::string_view api_version;
  std::string_view prefix;  // "/api/v1" or "/apis/GROUP/VERSION"
  std::string_view plural;
  bool namespaced;
  std::string_view field_selector;
};

enum ResourceIndex : std::size_t {
  kIngressClasses,
  kIngresses,
  kServices,
  kEndpointSlices,
  kSecrets,
  kResourceCount
};

constexpr Resource kResources[kResourceCount] = {
    {"IngressClass", "networking.k8s.io/v1", "/apis/networking.k8s.io/v1", "ingressclasses", false,
     ""},
    {"Ingress", "networking.k8s.io/v1", "/apis/networking.k8s.io/v1", "ingresses", true, ""},
    {"Service", "v1", "/api/v1", "services", true, ""},
    {"EndpointSlice", "discovery.k8s.io/v1", "/apis/discovery.k8s.io/v1", "endpointslices", true,
     ""},
    {"Secret", "v1", "/api/v1", "secrets", true, "type=kubernetes.io/tls"},
};

using Entry = KubeObject;
using Store = std::map<std::string, Entry>;  // by "namespace/name" (or "name")

std::string json_string(const json::object& object, std::string_view key) {
  if (auto* v = object.if_contains(key); v != nullptr && v->is_string())
    return std::string(v->get_string());
  return {};
}

const json::object* json_object(const json::object& object, std::string_view key) {
  if (auto* v = object.if_contains(key); v != nullptr && v->is_object()) return &v->get_object();
  return nullptr;
}

struct Backoff {
  milliseconds initial, max;
  milliseconds current{0};
  std::mt19937_64 random{std::random_device{}()};
  milliseconds next() {
    current = current.count() == 0 ? initial : std::min(max, current * 2);
    // Jitter: a random 50–100% of the step, so that many controllers do not retry in step.
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    return milliseconds(static_cast<std::int64_t>(current.count() * jitter(random)));
  }
  void reset() { current = milliseconds(0); }
};

}  // namespace

struct KubeSource::Impl {
  Impl(KubeConfig config, KubeSourceOptions opts)
      : options(std::move(opts)), client(io.get_executor(), std::move(config)) {}

  struct Reflector {
    std::size_t resource;
    std::string namespace_;  // empty: all namespaces (or cluster-scoped)
    std::string resource_version;
    bool listed = false;
    bool need_list = true;
    std::set<std::string> keys;  // the keys of the store this reflector owns
  };

  KubeSourceOptions options;
  asio::io_context io{1};
  KubeClient client;
  std::vector<Reflector> reflectors;
  Store stores[kResourceCount];
  std::size_t listed_count = 0;
  bool synced = false;
  std::atomic<bool>* synced_flag = nullptr;

  // Relevance: what Ingresses that may be ours refer to. Rebuilt lazily after Ingress changes.
  bool references_dirty = true;
  std::unordered_set<std::string> referenced_services;  // "namespace/name"
  std::unordered_set<std::string> referenced_secrets;
  std::set<std::string> our_classes;

  // Debounce.
  asio::steady_timer timer{io};
  bool dirty = false;
  Clock::time_point first_dirty{}, last_event{};
  std::vector<std::function<void()>> published_callbacks;

  // Stats, read from other threads.
  std::atomic<std::uint64_t> events{0}, ignored{0}, lists{0}, relists{0}, watch_errors{0},
      publishes{0};
  std::mt19937_64 random{std::random_device{}()};

  void log(const std::string& message) {
    if (options.log) options.log(message);
  }

  std::string path(const Reflector& r) const {
    const Resource& res = kResources[r.resource];
    std::string out(res.prefix);
    if (!r.namespace_.empty()) out += "/namespaces/" + r.namespace_;
    out += "/";
    out += res.plural;
    return out;
  }

  std::string describe(const Reflector& r) const {
    std::string out(kResources[r.resource].plural);
    if (!r.namespace_.empty()) out += " in " + r.namespace_;
    return out;
  }

  // ---- Decoding and relevance

  static Entry make_entry(const Resource& res, json::object& object) {
    return decode_kube_object(object, res.kind, res.api_version);
  }

  static std::string key_of(const json::object& object) {
    const json::object* meta = json_object(object, "metadata");
    if (meta == nullptr) return {};
    std::string ns = json_string(*meta, "namespace"), name = json_string(*meta, "name");
    return ns.empty() ? name : ns + "/" + name;
  }

  bool may_be_ours(const routing::Ingress& ingress) const {
    std::string cls;
    if (ingress.ingress_class_name) {
      cls = *ingress.ingress_class_name;
    } else if (auto it = ingress.meta.annotations.find("kubernetes.io/ingress.class");
               it != ingress.meta.annotations.end()) {
      cls = it->second;
    }
    return cls.empty() || cls == options.ingress_class || our_classes.contains(cls);
  }

  void rebuild_references() {
    if (!references_dirty) return;
    references_dirty = false;
    our_classes.clear();
    for (const auto& [key, entry] : stores[kIngressClasses]) {
      for (const auto& c : entry.decoded.objects.ingress_classes) {
        if (c.controller == options.controller_name) our_classes.insert(c.meta.name);
      }
    }
    referenced_services.clear();
    referenced_secrets.clear();
    auto add_backend = [this](const std::string& ns, const routing::IngressBackend& b) {
      if (b.has_service) referenced_services.insert(ns + "/" + b.service_name);
    };
    for (const auto& [key, entry] : stores[kIngresses]) {
      for (const auto& ingress : entry.decoded.objects.ingresses) {
        if (!may_be_ours(ingress)) continue;
        const std::string& ns = ingress.meta.namespace_;
        if (ingress.default_backend) add_backend(ns, *ingress.default_backend);
        for (const auto& rule : ingress.rules)
          for (const auto& p : rule.paths) add_backend(ns, p.backend);
        for (const auto& tls : ingress.tls) {
          if (!tls.secret_name.empty()) referenced_secrets.insert(ns + "/" + tls.secret_name);
        }
      }
    }
  }

  // Whether replacing `before` by `after` (either may be null) can change the table.
  bool relevant(std::size_t resource, const Entry* before, const Entry* after) {
    if (before != nullptr && after != nullptr && before->fingerprint == after->fingerprint)
      return false;
    switch (resource) {
      case kIngressClasses:
        references_dirty = true;
        return true;
      case kIngresses: {
        bool ours = false;
        for (const Entry* e : {before, after}) {
          if (e == nullptr) continue;
          for (const auto& ingress : e->decoded.objects.ingresses) ours |= may_be_ours(ingress);
          if (e->decoded.objects.ingresses.empty()) ours = true;  // a diagnostic to show
        }
        if (ours) references_dirty = true;
        return ours;
      }
      case kServices:
      case kEndpointSlices:
      case kSecrets: {
        rebuild_references();
        for (const Entry* e : {before, after}) {
          if (e == nullptr) continue;
          const auto& o = e->decoded.objects;
          for (const auto& s : o.services)
            if (referenced_services.contains(s.meta.namespace_ + "/" + s.meta.name)) return true;
          for (const auto& s : o.endpoint_slices)
            if (referenced_services.contains(s.meta.namespace_ + "/" + s.service_name)) return true;
          for (const auto& s : o.secrets)
            if (referenced_secrets.contains(s.meta.namespace_ + "/" + s.meta.name)) return true;
        }
        return false;
      }
    }
    return true;
  }

  // ---- Events

  void changed() {
    auto now = Clock::now();
    if (!dirty) first_dirty = now;
    dirty = true;
    last_event = now;
    timer.cancel();
  }

  // Applies one watch event line. False ends the stream (an ERROR event).
  bool apply_event(Reflector& r, std::string_view line) {
    boost::system::error_code ec;
    json::value event = json::parse(line, ec);
    if (ec || !event.is_object()) {
      log("watch " + describe(r) + ": an event that is not JSON; watching again");
      return false;
    }
    auto& e = event.get_object();
    std::string type = json_string(e, "type");
    auto* object_value = e.if_contains("object");
    if (object_value == nullptr || !object_value->is_object()) {
      log("watch " + describe(r) + ": a " + type + " event without an object; watching again");
      return false;
    }
    json::object& object = object_value->get_object();
    if (type == "ERROR") {
      std::int64_t code = 0;
      if (auto* c = object.if_contains("code"); c != nullptr && c->is_int64())
        code = c->get_int64();
      if (code == 410) {
        r.need_list = true;
        log("watch " + describe(r) + ": resourceVersion " + r.resource_version +
            " is too old (410 Gone): listing again");
      } else {
        log("watch " + describe(r) + ": error event: " + json_string(object, "message"));
      }
      return false;
    }
    std::string rv;
    if (auto* meta = json_object(object, "metadata")) rv = json_string(*meta, "resourceVersion");
    if (type == "BOOKMARK") {
      if (!rv.empty()) r.resource_version = rv;
      return true;
    }
    std::string key = key_of(object);
    if (key.empty()) return true;
    ++events;
    Store& store = stores[r.resource];
    auto it = store.find(key);
    bool matters = false;
    if (type == "DELETED") {
      if (it != store.end()) {
        matters = relevant(r.resource, &it->second, nullptr);
        store.erase(it);
        r.keys.erase(key);
      }
    } else if (type == "ADDED" || type == "MODIFIED") {
      Entry entry = make_entry(kResources[r.resource], object);
      if (it == store.end()) {
        matters = relevant(r.resource, nullptr, &entry);
        store.emplace(key, std::move(entry));
        r.keys.insert(key);
      } else {
        matters = relevant(r.resource, &it->second, &entry);
        // Someone else rewrote an Ingress's status: let the status writer look (no recompile).
        if (entry.load_balancer != it->second.load_balancer)
          for (auto& callback : published_callbacks) callback();
        it->second = std::move(entry);
      }
    }
    if (!rv.empty()) r.resource_version = rv;
    if (matters) {
      changed();
    } else {
      ++ignored;
    }
    return true;
  }

  // ---- Reflector

  asio::awaitable<void> sleep(milliseconds duration) {
    asio::steady_timer t(io, duration);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // Lists every page into a new store; replaces this reflector's part of the store when the last
  // page is in. False (and a log line) on failure.
  asio::awaitable<bool> list(Reflector& r) {
    const Resource& res = kResources[r.resource];
    Store fresh;
    std::string continue_token, rv;
    for (;;) {
      std::string target = path(r) + "?limit=" + std::to_string(options.page_size);
      if (!res.field_selector.empty()) target += "&fieldSelector=" + url_encode(res.field_selector);
      if (!continue_token.empty()) target += "&continue=" + url_encode(continue_token);
      KubeResponse response;
      try {
        response =
            co_await client.request(http::verb::get, target, {}, {}, options.request_timeout);
      } catch (const std::exception& e) {
        log("list " + describe(r) + ": " + e.what());
        co_return false;
      }
      if (response.status == 410 && !continue_token.empty()) {
        log("list " + describe(r) + ": the continue token expired (410 Gone): listing again");
        fresh.clear();
        continue_token.clear();
        continue;
      }
      if (response.status != 200) {
        log("list " + describe(r) + ": " + std::to_string(response.status) + " " +
            status_message(response.body));
        co_return false;
      }
      boost::system::error_code ec;
      json::value body = json::parse(response.body, ec);
      if (ec || !body.is_object()) {
        log("list " + describe(r) + ": the answer is not JSON");
        co_return false;
      }
      auto& list = body.get_object();
      if (auto* meta = json_object(list, "metadata")) {
        rv = json_string(*meta, "resourceVersion");
        continue_token = json_string(*meta, "continue");
      } else {
        continue_token.clear();
      }
      if (auto* items = list.if_contains("items"); items != nullptr && items->is_array()) {
        for (auto& item : items->get_array()) {
          if (!item.is_object()) continue;
          std::string key = key_of(item.get_object());
          if (!key.empty()) fresh.emplace(key, make_entry(res, item.get_object()));
        }
      }
      if (continue_token.empty()) break;
    }
    // Replace this reflector's objects; a change counts when anything differs.
    Store& store = stores[r.resource];
    bool matters = !r.listed;
    for (const std::string& key : r.keys) {
      auto old = store.find(key);
      if (old == store.end()) continue;
      auto now = fresh.find(key);
      if (relevant(r.resource, &old->second, now == fresh.end() ? nullptr : &now->second))
        matters = true;
      store.erase(old);
    }
    r.keys.clear();
    for (auto& [key, entry] : fresh) {
      if (!matters && relevant(r.resource, nullptr, &entry)) matters = true;
      r.keys.insert(key);
      store.insert_or_assign(key, std::move(entry));
    }
    r.resource_version = rv;
    r.need_list = false;
    ++lists;
    if (!r.listed) {
      r.listed = true;
      ++listed_count;
    }
    if (matters) changed();
    co_return true;
  }

  static std::string status_message(const std::string& body) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (!ec && v.is_object()) {
      std::string message = json_string(v.get_object(), "message");
      if (!message.empty()) return message;
    }
    return body.substr(0, 200);
  }

  asio::awaitable<void> run_reflector(Reflector& r) {
    Backoff backoff{options.backoff_initial, options.backoff_max};
    for (;;) {
      if (r.need_list) {
        bool relist = r.listed;
        if (!co_await list(r)) {
          co_await sleep(backoff.next());
          continue;
        }
        if (relist) ++relists;
        backoff.reset();
      }
      const Resource& res = kResources[r.resource];
      std::uniform_int_distribution<std::int64_t> spread(options.watch_timeout.count(),
                                                         2 * options.watch_timeout.count());
      std::string target = path(r) + "?watch=1&allowWatchBookmarks=true&resourceVersion=" +
                           url_encode(r.resource_version) +
                           "&timeoutSeconds=" + std::to_string(spread(random));
      if (!res.field_selector.empty()) target += "&fieldSelector=" + url_encode(res.field_selector);
      KubeStreamResult result = co_await client.stream(
          target, options.idle_timeout,
          [this, &r](std::string_view line) { return apply_event(r, line); });
      if (r.need_list) continue;  // 410 in an ERROR event: list at once
      using End = KubeStreamResult::End;
      if (result.end == End::kClosed) {
        backoff.reset();
        continue;  // the server's timeout: watch again from where we are
      }
      ++watch_errors;
      if (result.end == End::kStatus) {
        if (result.status == 410) {
          r.need_list = true;
          log("watch " + describe(r) + ": 410 Gone: listing again");
          continue;
        }
        log("watch " + describe(r) + ": " + std::to_string(result.status) + " " +
            status_message(result.body));
      } else if (result.end == End::kIdle) {
        log("watch " + describe(r) + ": nothing received for " +
            std::to_string(options.idle_timeout.count()) + " ms: watching again from " +
            r.resource_version);
      } else if (result.end == End::kError) {
        log("watch " + describe(r) + ": " + result.error + ": watching again from " +
            r.resource_version);
      }
      co_await sleep(result.end == End::kIdle ? milliseconds(0) : backoff.next());
    }
  }

  // ---- Publishing

  void publish_now() {
    routing::ObjectSet objects;
    routing::Diagnostics diagnostics;
    for (const Store& store : stores) {
      for (const auto& [key, entry] : store) {
        routing::ObjectSet copy = entry.decoded.objects;
        objects.merge(std::move(copy));
        diagnostics.insert(diagnostics.end(), entry.decoded.diagnostics.begin(),
                           entry.decoded.diagnostics.end());
      }
    }
    if (options.publish) options.publish(std::move(objects), std::move(diagnostics));
    ++publishes;
    for (auto& callback : published_callbacks) callback();
  }

  asio::awaitable<void> run_publisher() {
    for (;;) {
      auto now = Clock::now();
      bool ready = listed_count == reflectors.size();
      if (!dirty || !ready) {
        timer.expires_at(Clock::time_point::max());
      } else {
        auto deadline = std::min(last_event + options.holdoff, first_dirty + options.max_delay);
        if (now >= deadline) {
          dirty = false;
          publish_now();
          if (!synced) {
            synced = true;
            synced_flag->store(true, std::memory_order_release);
          }
          continue;
        }
        timer.expires_at(deadline);
      }
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
};

KubeSource::KubeSource(KubeConfig config, KubeSourceOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(options))) {
  impl_->synced_flag = &synced_;
  auto& namespaces = impl_->options.namespaces;
  for (std::size_t i = 0; i < kResourceCount; ++i) {
    if (!kResources[i].namespaced || namespaces.empty()) {
      impl_->reflectors.push_back({i, {}, {}, false, true, {}});
    } else {
      for (const auto& ns : namespaces) impl_->reflectors.push_back({i, ns, {}, false, true, {}});
    }
  }
}

KubeSource::~KubeSource() {
  stop();
}

void KubeSource::start() {
  if (started_.exchange(true)) return;
  for (auto& r : impl_->reflectors)
    asio::co_spawn(impl_->io, impl_->run_reflector(r), asio::detached);
  asio::co_spawn(impl_->io, impl_->run_publisher(), asio::detached);
  thread_ = std::thread([this] {
    for (;;) {
      try {
        impl_->io.run();
        return;
      } catch (const std::exception& e) {
        impl_->log(std::string("kube source: unexpected exception: ") + e.what());
      }
    }
  });
}

void KubeSource::stop() {
  impl_->io.stop();
  if (thread_.joinable()) thread_.join();
}

KubeSourceStats KubeSource::stats() const {
  KubeSourceStats s;
  s.events = impl_->events.load();
  s.ignored = impl_->ignored.load();
  s.lists = impl_->lists.load();
  s.relists = impl_->relists.load();
  s.watch_errors = impl_->watch_errors.load();
  s.publishes = impl_->publishes.load();
  return s;
}

asio::io_context& KubeSource::io() {
  return impl_->io;
}
KubeClient& KubeSource::client() {
  return impl_->client;
}

std::vector<IngressStatusView> KubeSource::ingress_statuses() const {
  std::vector<IngressStatusView> out;
  for (const auto& [key, entry] : impl_->stores[kIngresses]) {
    for (const auto& ingress : entry.decoded.objects.ingresses) {
      out.push_back({ingress.meta.namespace_, ingress.meta.name, entry.resource_version,
                     entry.load_balancer});
    }
  }
  return out;
}

void KubeSource::on_published(std::function<void()> callback) {
  impl_->published_callbacks.push_back(std::move(callback));
}

}  // namespace portico::watch
