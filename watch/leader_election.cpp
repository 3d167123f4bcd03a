#include "watch/leader_election.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <ctime>
#include <future>
#include <random>

#include "watch/kube_client.hpp"

namespace portico::watch {

namespace asio = boost::asio;
namespace json = boost::json;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

// A MicroTime as the API server writes it: RFC 3339 in UTC with microseconds.
std::string micro_time_now() {
  auto now = std::chrono::system_clock::now();
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch());
  std::time_t seconds = micros.count() / 1'000'000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char out[40];
  std::size_t n = std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(out + n, sizeof out - n, ".%06lldZ",
                static_cast<long long>(micros.count() % 1'000'000));
  return out;
}

}  // namespace

struct LeaderElection::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, KubeClient& client, LeaderElectionOptions options,
       std::atomic<bool>& leading)
      : io(io), client(client), options(std::move(options)), leading(leading) {}

  asio::io_context& io;
  KubeClient& client;
  LeaderElectionOptions options;
  std::atomic<bool>& leading;
  bool stopping = false;
  std::string observed_record;  // the Lease spec as last read, to notice it change
  Clock::time_point observed_time{};
  std::mt19937_64 random{std::random_device{}()};

  std::string path() const {
    return "/apis/coordination.k8s.io/v1/namespaces/" + options.namespace_ + "/leases/" +
           options.name;
  }

  void log(const std::string& line) {
    if (options.log) options.log(line);
  }

  void set_leading(bool value) {
    if (leading.exchange(value) == value) return;
    log(value ? "leader election: " + options.identity + " now leads (Lease " + options.namespace_ +
                    "/" + options.name + ")"
              : "leader election: " + options.identity + " stopped leading");
    if (options.on_change) options.on_change(value);
  }

  json::object spec(const std::string& now, const json::object* old) {
    json::object s;
    s["holderIdentity"] = options.identity;
    s["leaseDurationSeconds"] =
        std::chrono::duration_cast<std::chrono::seconds>(options.lease_duration).count();
    s["renewTime"] = now;
    std::string old_holder;
    std::int64_t transitions = 0;
    if (old != nullptr) {
      if (auto* h = old->if_contains("holderIdentity"); h && h->is_string())
        old_holder = h->get_string();
      if (auto* t = old->if_contains("leaseTransitions"); t && t->is_int64())
        transitions = t->get_int64();
      if (auto* a = old->if_contains("acquireTime"); a && old_holder == options.identity)
        s["acquireTime"] = *a;
    }
    if (old_holder != options.identity) {
      s["acquireTime"] = now;
      if (old != nullptr && !old_holder.empty()) ++transitions;
    }
    s["leaseTransitions"] = transitions;
    return s;
  }

  // One round: true when we hold the Lease after it.
  asio::awaitable<bool> try_acquire_or_renew() {
    KubeResponse got = co_await client.request(http::verb::get, path());
    std::string now = micro_time_now();
    if (got.status == 404) {
      json::object lease;
      lease["apiVersion"] = "coordination.k8s.io/v1";
      lease["kind"] = "Lease";
      lease["metadata"] = json::object{{"name", options.name}, {"namespace", options.namespace_}};
      lease["spec"] = spec(now, nullptr);
      std::string target =
          "/apis/coordination.k8s.io/v1/namespaces/" + options.namespace_ + "/leases";
      KubeResponse created =
          co_await client.request(http::verb::post, target, json::serialize(lease));
      co_return created.status == 201 || created.status == 200;
    }
    if (got.status != 200) {
      log("leader election: reading the Lease: " + std::to_string(got.status));
      co_return false;
    }
    boost::system::error_code ec;
    json::value value = json::parse(got.body, ec);
    if (ec || !value.is_object()) co_return false;
    json::object& lease = value.get_object();
    json::object old_spec;
    if (auto* s = lease.if_contains("spec"); s && s->is_object()) old_spec = s->get_object();
    std::string record = json::serialize(old_spec);
    auto steady_now = Clock::now();
    if (record != observed_record) {
      observed_record = record;
      observed_time = steady_now;
    }
    std::string holder;
    if (auto* h = old_spec.if_contains("holderIdentity"); h && h->is_string())
      holder = h->get_string();
    std::chrono::milliseconds duration = options.lease_duration;
    if (auto* d = old_spec.if_contains("leaseDurationSeconds"); d && d->is_int64())
      duration = std::chrono::seconds(d->get_int64());
    if (!holder.empty() && holder != options.identity && observed_time + duration > steady_now)
      co_return false;  // held by another, and renewed recently enough
    lease["spec"] = spec(now, &old_spec);
    KubeResponse put = co_await client.request(http::verb::put, path(), json::serialize(lease));
    if (put.status == 200) {
      observed_record = json::serialize(lease["spec"]);
      observed_time = Clock::now();
      co_return true;
    }
    if (put.status != 409) log("leader election: writing the Lease: " + std::to_string(put.status));
    co_return false;
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    Clock::time_point last_renew{};
    while (!stopping) {
      bool ok = false;
      try {
        ok = co_await try_acquire_or_renew();
      } catch (const std::exception& e) {
        log(std::string("leader election: ") + e.what());
      }
      if (stopping) break;
      auto now = Clock::now();
      if (ok) {
        last_renew = now;
        set_leading(true);
      } else if (leading.load() && now - last_renew >= options.renew_deadline) {
        set_leading(false);
      }
      // Candidates wait a little longer than the period, at random (client-go's jitter 1.2), so
      // that they do not all ask at once.
      auto wait = options.retry_period;
      if (!leading.load()) {
        std::uniform_real_distribution<double> jitter(1.0, 1.2);
        wait = std::chrono::milliseconds(
            static_cast<std::int64_t>(options.retry_period.count() * jitter(random)));
      }
      asio::steady_timer timer(io, wait);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  asio::awaitable<void> release(std::shared_ptr<std::promise<void>> done) {
    auto self = shared_from_this();
    stopping = true;
    if (leading.load()) {
      try {
        KubeResponse got =
            co_await client.request(http::verb::get, path(), {}, {}, std::chrono::seconds(1));
        boost::system::error_code ec;
        json::value value = json::parse(got.body, ec);
        if (got.status == 200 && !ec && value.is_object()) {
          json::object& lease = value.get_object();
          json::object s;
          s["holderIdentity"] = "";
          s["leaseDurationSeconds"] = 1;
          s["renewTime"] = micro_time_now();
          if (auto* old = lease.if_contains("spec"); old && old->is_object()) {
            auto& o = old->get_object();
            if (auto* h = o.if_contains("holderIdentity");
                h && h->is_string() && h->get_string() == options.identity) {
              if (auto* t = o.if_contains("leaseTransitions")) s["leaseTransitions"] = *t;
              lease["spec"] = s;
              co_await client.request(http::verb::put, path(), json::serialize(lease),
                                      "application/json", std::chrono::seconds(1));
            }
          }
        }
      } catch (const std::exception& e) {
        log(std::string("leader election: releasing the Lease: ") + e.what());
      }
      set_leading(false);
    }
    done->set_value();
  }
};

LeaderElection::LeaderElection(asio::io_context& io, KubeClient& client,
                               LeaderElectionOptions options)
    : impl_(std::make_shared<Impl>(io, client, std::move(options), leading_)) {}

LeaderElection::~LeaderElection() = default;

void LeaderElection::start() {
  asio::co_spawn(impl_->io, impl_->run(), asio::detached);
}

void LeaderElection::release() {
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  asio::co_spawn(impl_->io, impl_->release(done), asio::detached);
  future.wait_for(std::chrono::seconds(2));
}

}  // namespace portico::watch
