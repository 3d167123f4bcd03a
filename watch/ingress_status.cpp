#include "watch/ingress_status.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "watch/kube_client.hpp"
#include "watch/kube_source.hpp"

namespace portico::watch {

namespace asio = boost::asio;
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

json::object address_entry(const std::string& address) {
  boost::system::error_code ec;
  asio::ip::make_address(address, ec);
  return ec ? json::object{{"hostname", address}} : json::object{{"ip", address}};
}

// status.loadBalancer as we want it: {"ingress":[...]} in a stable order, or {} when no address.
json::object load_balancer(const std::vector<json::object>& entries) {
  if (entries.empty()) return {};
  std::map<std::string, json::object> sorted;
  for (const auto& e : entries) sorted.emplace(json::serialize(e), e);
  json::array list;
  for (auto& [key, e] : sorted) list.push_back(e);
  return json::object{{"ingress", std::move(list)}};
}

}  // namespace

struct IngressStatusWriter::Impl : std::enable_shared_from_this<Impl> {
  Impl(KubeSource& source, Publisher& publisher, IngressStatusOptions options)
      : source(source), publisher(publisher), options(std::move(options)), timer(source.io()) {}

  KubeSource& source;
  Publisher& publisher;
  IngressStatusOptions options;
  asio::steady_timer timer;
  bool leading = false;
  bool pending = true;
  std::atomic<std::uint64_t> writes{0};

  void log(const std::string& line) {
    if (options.log) options.log(line);
  }

  void wake() {
    pending = true;
    timer.cancel();
  }

  asio::awaitable<std::optional<json::object>> desired() {
    std::vector<json::object> entries;
    if (!options.publish_addresses.empty()) {
      for (const auto& a : options.publish_addresses) entries.push_back(address_entry(a));
      co_return load_balancer(entries);
    }
    if (options.publish_service.empty()) co_return std::nullopt;
    auto slash = options.publish_service.find('/');
    std::string target = "/api/v1/namespaces/" + options.publish_service.substr(0, slash) +
                         "/services/" + options.publish_service.substr(slash + 1);
    KubeResponse got = co_await source.client().request(http::verb::get, target);
    if (got.status != 200) {
      log("ingress status: reading Service " + options.publish_service + ": " +
          std::to_string(got.status));
      co_return std::nullopt;
    }
    boost::system::error_code ec;
    json::value service = json::parse(got.body, ec);
    if (ec || !service.is_object()) co_return std::nullopt;
    const json::value* lb = service.find_pointer("/status/loadBalancer/ingress", ec);
    if (lb != nullptr && lb->is_array()) {
      for (const auto& item : lb->get_array()) {
        if (!item.is_object()) continue;
        json::object e;
        for (const char* key : {"ip", "hostname"}) {
          if (auto* v = item.get_object().if_contains(key); v && v->is_string()) e[key] = *v;
        }
        if (!e.empty()) entries.push_back(std::move(e));
      }
    }
    if (entries.empty()) {
      const json::value* ips = service.find_pointer("/spec/externalIPs", ec);
      if (ips != nullptr && ips->is_array()) {
        for (const auto& ip : ips->get_array())
          if (ip.is_string()) entries.push_back(address_entry(std::string(ip.get_string())));
      }
    }
    if (entries.empty()) {
      const json::value* ip = service.find_pointer("/spec/clusterIP", ec);
      if (ip != nullptr && ip->is_string() && ip->get_string() != "None" &&
          !ip->get_string().empty())
        entries.push_back(address_entry(std::string(ip->get_string())));
    }
    co_return load_balancer(entries);
  }

  asio::awaitable<void> sync() {
    auto snapshot = publisher.current();
    if (!snapshot) co_return;
    std::optional<json::object> want = co_await desired();
    if (!want) co_return;
    std::set<std::pair<std::string, std::string>> served;
    for (const auto& ref : snapshot->table->ingresses()) {
      if (ref.file.empty()) served.emplace(ref.namespace_, ref.name);
    }
    for (const IngressStatusView& view : source.ingress_statuses()) {
      if (!leading) co_return;
      if (!served.contains({view.namespace_, view.name})) continue;
      boost::system::error_code ec;
      json::value have = json::parse(view.load_balancer, ec);
      if (!ec && have == json::value(*want)) continue;
      std::string target =
          "/apis/networking.k8s.io/v1/namespaces/" + view.namespace_ + "/ingresses/" + view.name;
      KubeResponse got = co_await source.client().request(http::verb::get, target);
      if (got.status != 200) continue;
      json::value ingress = json::parse(got.body, ec);
      if (ec || !ingress.is_object()) continue;
      json::object& object = ingress.get_object();
      json::object status;
      if (auto* s = object.if_contains("status"); s && s->is_object()) status = s->get_object();
      status["loadBalancer"] = *want;
      object["status"] = std::move(status);
      KubeResponse put = co_await source.client().request(http::verb::put, target + "/status",
                                                          json::serialize(object));
      if (put.status == 200) {
        ++writes;
      } else if (put.status != 409) {
        log("ingress status: updating Ingress " + view.namespace_ + "/" + view.name + ": " +
            std::to_string(put.status));
      }
    }
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    for (;;) {
      if (leading && pending) {
        pending = false;
        try {
          co_await sync();
        } catch (const std::exception& e) {
          log(std::string("ingress status: ") + e.what());
          pending = true;
        }
      }
      timer.expires_after(pending ? std::chrono::milliseconds(1000) : options.resync);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) pending = true;  // the periodic resync
    }
  }
};

IngressStatusWriter::IngressStatusWriter(KubeSource& source, Publisher& publisher,
                                         IngressStatusOptions options)
    : impl_(std::make_shared<Impl>(source, publisher, std::move(options))) {}

IngressStatusWriter::~IngressStatusWriter() = default;

void IngressStatusWriter::start() {
  std::weak_ptr<Impl> weak = impl_;
  impl_->source.on_published([weak] {
    if (auto impl = weak.lock()) impl->wake();
  });
  asio::co_spawn(impl_->source.io(), impl_->run(), asio::detached);
}

void IngressStatusWriter::set_leading(bool leading) {
  impl_->leading = leading;
  if (leading) impl_->wake();
}

std::uint64_t IngressStatusWriter::writes() const {
  return impl_->writes.load();
}

}  // namespace portico::watch
