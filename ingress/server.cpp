#include "ingress/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "ingress/build_info.hpp"
#include "routing/route_report.hpp"

namespace portico::ingress {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
}

// The admin listener: health, readiness, the current routes and metrics, on its own thread so
// that a scrape never competes with a worker's requests.
class Server::Admin {
 public:
  Admin(Server& server, const ListenAddress& address) : server_(server) {
    tcp::endpoint endpoint(asio::ip::make_address(address.host), address.port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
  }

  void start() {
    asio::co_spawn(io_, accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  void stop() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::uint16_t port() const { return port_; }

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
      if (ec) co_return;
      asio::co_spawn(io_, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::empty_body> request;
      stream.expires_after(std::chrono::seconds(30));
      auto [ec, n] = co_await http::async_read(stream, buffer, request, kNoThrow);
      if (ec) co_return;
      http::response<http::string_body> response = answer(request);
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, response, kNoThrow);
      if (wec || !request.keep_alive()) co_return;
    }
  }

  http::response<http::string_body> answer(const http::request<http::empty_body>& request) {
    std::string_view target = request.target();
    target = target.substr(0, target.find('?'));
    http::response<http::string_body> response{http::status::ok, 11};
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    auto snapshot = server_.publisher_.current();
    if (target == "/healthz") {
      response.body() = "ok\n";
    } else if (target == "/readyz") {
      // Ready once the first table is published.
      if (snapshot) {
        response.body() = "ready\n";
      } else {
        response.result(http::status::service_unavailable);
        response.body() = "not ready: no routing table published yet\n";
      }
    } else if (target == "/routes") {
      if (!snapshot) {
        response.result(http::status::service_unavailable);
        response.body() = "no routing table published yet\n";
      } else {
        response.set(http::field::content_type, "application/json");
        routing::render_json(*snapshot->table, snapshot->diagnostics, {}, response.body());
      }
    } else if (target == "/metrics") {
      response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response.body() = server_.metrics_text();
    } else {
      response.result(http::status::not_found);
      response.body() = "not found; try /healthz, /readyz, /routes, /metrics\n";
    }
    return response;
  }

  Server& server_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  std::uint16_t port_ = 0;
  std::thread thread_;
};

Server::Server(ServeConfig config, watch::Publisher& publisher)
    : config_(std::move(config)), publisher_(publisher) {
  unsigned n =
      config_.workers != 0 ? config_.workers : std::max(1u, std::thread::hardware_concurrency());
  if (config_.request_metrics) series_ = std::make_unique<RequestSeriesRegistry>(n);
  if (config_.access_log) {
    std::string error;
    access_log_ = AccessLog::open(config_.access_log_sink, n, error);
    if (!access_log_) throw std::runtime_error("--access-log " + error);
  }
  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(
        i, config_, publisher_, RequestRecorders{series_.get(), access_log_.get()}));
  }
}

Server::~Server() {
  for (auto& w : workers_) w->stop();
  if (admin_) admin_->stop();
}

void Server::listen() {
  // The first worker binds (port 0 picks a free one); the others join the same ports.
  workers_[0]->listen();
  if (config_.http.enabled()) config_.http.port = workers_[0]->http_port();
  if (config_.https.enabled()) config_.https.port = workers_[0]->https_port();
  for (std::size_t i = 1; i < workers_.size(); ++i) workers_[i]->listen();
  if (config_.admin.enabled()) {
    admin_ = std::make_unique<Admin>(*this, config_.admin);
    admin_port_ = admin_->port();
  }
}

std::uint16_t Server::http_port() const {
  return workers_[0]->http_port();
}
std::uint16_t Server::https_port() const {
  return workers_[0]->https_port();
}

int Server::run(std::function<void()> on_hangup) {
  asio::io_context control{1};
  asio::signal_set stop_signals(control, SIGTERM, SIGINT);
  asio::signal_set hangup(control, SIGHUP);
  asio::steady_timer flush_timer(control);
  bool draining = false;

  std::function<void()> wait_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      on_hangup();
      wait_hangup();
    });
  };
  wait_hangup();
  // The access log is buffered by stdio and flushed here, off the workers' path.
  std::function<void()> flush = [&] {
    std::fflush(stdout);
    flush_timer.expires_after(std::chrono::milliseconds(100));
    flush_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) flush();
    });
  };
  flush();

  if (access_log_) access_log_->start();
  for (auto& w : workers_) w->start();
  if (admin_) admin_->start();
  std::cerr << "portico: serving";
  if (config_.http.enabled()) std::cerr << " http on " << config_.http.host << ":" << http_port();
  if (config_.https.enabled())
    std::cerr << ", https on " << config_.https.host << ":" << https_port();
  if (admin_) std::cerr << ", admin on " << config_.admin.host << ":" << admin_port_;
  std::cerr << " (" << workers_.size() << " workers)" << std::endl;

  asio::steady_timer drain_timer(control);
  auto deadline = std::chrono::steady_clock::now();
  std::function<void()> check_drained = [&] {
    std::size_t open = 0;
    for (auto& w : workers_) open += w->connection_count();
    if (open == 0 || std::chrono::steady_clock::now() >= deadline) {
      if (open > 0)
        std::cerr << "portico: grace period over, closing " << open << " connections" << std::endl;
      control.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) check_drained();
    });
  };
  stop_signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec || draining) return;
    draining = true;
    std::cerr << "portico: signal " << signal << ", draining (grace "
              << config_.shutdown_grace.count() << " ms)" << std::endl;
    deadline = std::chrono::steady_clock::now() + config_.shutdown_grace;
    for (auto& w : workers_) w->begin_drain();
    check_drained();
  });
  control.run();

  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
  if (admin_) admin_->stop();
  if (access_log_) {
    for (auto& w : workers_) w->flush_access_log();
    access_log_->stop();
  }
  std::fflush(stdout);
  std::cerr << "portico: stopped" << std::endl;
  return 0;
}

std::string Server::metrics_text() const {
  std::string out;
  auto sum = [&](auto member) {
    std::uint64_t total = 0;
    for (const auto& w : workers_) total += member(w->metrics_view());
    return total;
  };
  auto line = [&](std::string_view name, std::string_view labels, std::uint64_t value) {
    out += name;
    if (!labels.empty()) {
      out += '{';
      out += labels;
      out += '}';
    }
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  };
  out += "# HELP portico_http_responses_total Responses sent to clients, by status class.\n";
  out += "# TYPE portico_http_responses_total counter\n";
  static constexpr const char* kClasses[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int c = 1; c < 6; ++c) {
    line("portico_http_responses_total", std::string("code=\"") + kClasses[c] + "\"",
         sum([c](const WorkerMetrics& m) { return m.responses_by_class[c].load(); }));
  }
  out += "# HELP portico_http_protocol_requests_total Requests received, by protocol.\n";
  out += "# TYPE portico_http_protocol_requests_total counter\n";
  line("portico_http_protocol_requests_total", "protocol=\"http1\"",
       sum([](const WorkerMetrics& m) { return m.requests_by_protocol[0].load(); }));
  line("portico_http_protocol_requests_total", "protocol=\"http2\"",
       sum([](const WorkerMetrics& m) { return m.requests_by_protocol[1].load(); }));
  out += "# HELP portico_open_connections Client connections open, by protocol and TLS.\n";
  out += "# TYPE portico_open_connections gauge\n";
  for (std::size_t p = 0; p < 2; ++p) {
    for (std::size_t tls = 0; tls < 2; ++tls) {
      line("portico_open_connections",
           std::string(p == 0 ? "protocol=\"http1\"" : "protocol=\"http2\"") +
               (tls != 0 ? ",tls=\"true\"" : ",tls=\"false\""),
           sum([p, tls](const WorkerMetrics& m) { return m.open_connections[p][tls].load(); }));
    }
  }
  out +=
      "# HELP portico_connections_refused_total Client connections closed at once: the "
      "worker had --max-connections-per-worker.\n";
  out += "# TYPE portico_connections_refused_total counter\n";
  line("portico_connections_refused_total", "",
       sum([](const WorkerMetrics& m) { return m.connections_refused.load(); }));
  out += "# HELP portico_upstream_errors_total Upstream failures, by kind.\n";
  out += "# TYPE portico_upstream_errors_total counter\n";
  line("portico_upstream_errors_total", "kind=\"connect\"",
       sum([](const WorkerMetrics& m) { return m.upstream_connect_errors.load(); }));
  line("portico_upstream_errors_total", "kind=\"timeout\"",
       sum([](const WorkerMetrics& m) { return m.upstream_timeouts.load(); }));
  line("portico_upstream_errors_total", "kind=\"bad_response\"",
       sum([](const WorkerMetrics& m) { return m.upstream_bad_responses.load(); }));
  out +=
      "# HELP portico_http2_floods_total HTTP/2 connections closed with "
      "GOAWAY(ENHANCE_YOUR_CALM): floods, Rapid Reset, header bombs.\n";
  out += "# TYPE portico_http2_floods_total counter\n";
  line("portico_http2_floods_total", "",
       sum([](const WorkerMetrics& m) { return m.http2_floods.load(); }));
  out += "# HELP portico_upstream_retries_total Requests retried on another connection.\n";
  out += "# TYPE portico_upstream_retries_total counter\n";
  line("portico_upstream_retries_total", "",
       sum([](const WorkerMetrics& m) { return m.upstream_retries.load(); }));
  out += "# HELP portico_bytes_total Body and header bytes, by direction.\n";
  out += "# TYPE portico_bytes_total counter\n";
  line("portico_bytes_total", "direction=\"in\"",
       sum([](const WorkerMetrics& m) { return m.bytes_in.load(); }));
  line("portico_bytes_total", "direction=\"out\"",
       sum([](const WorkerMetrics& m) { return m.bytes_out.load(); }));

  auto snapshot = publisher_.current();
  if (series_) series_->render(snapshot ? snapshot->table : nullptr, out);
  if (series_) {
    out += "# HELP portico_metrics_label_sets Label sets (namespace, ingress, service) known.\n";
    out += "# TYPE portico_metrics_label_sets gauge\n";
    line("portico_metrics_label_sets", "", series_->size());
  }
  if (access_log_) {
    out +=
        "# HELP portico_access_log_lines_total Access log lines, written or dropped (the "
        "sink was too slow).\n";
    out += "# TYPE portico_access_log_lines_total counter\n";
    line("portico_access_log_lines_total", "result=\"written\"", access_log_->written_lines());
    line("portico_access_log_lines_total", "result=\"dropped\"", access_log_->dropped_lines());
  }
  if (snapshot) {
    out +=
        "# HELP portico_cluster_endpoints Endpoints of each backend Service port, by "
        "readiness.\n";
    out += "# TYPE portico_cluster_endpoints gauge\n";
    for (const routing::Cluster& c : snapshot->table->clusters()) {
      std::string labels = "namespace=\"" + c.namespace_ + "\",service=\"" + c.service +
                           "\",port=\"" + std::string(c.key.substr(c.key.rfind(':') + 1)) + "\"";
      const std::size_t ready = c.ready_count();
      line("portico_cluster_endpoints", labels + ",state=\"ready\"", ready);
      line("portico_cluster_endpoints", labels + ",state=\"not_ready\"",
           c.endpoints.size() - ready);
    }
  }

  watch::PublisherStats stats = publisher_.stats();
  out += "# HELP portico_table_publications_total Routing table (re)compilations, by result.\n";
  out += "# TYPE portico_table_publications_total counter\n";
  line("portico_table_publications_total", "result=\"published\"", stats.published);
  line("portico_table_publications_total", "result=\"unchanged\"", stats.unchanged);
  line("portico_table_publications_total", "result=\"failed\"", stats.failed);
  out += "# HELP portico_table_generation The generation of the table being served.\n";
  out += "# TYPE portico_table_generation gauge\n";
  line("portico_table_generation", "", publisher_.generation());
  out +=
      "# HELP portico_last_reload_success_timestamp_seconds When the last table was published.\n";
  out += "# TYPE portico_last_reload_success_timestamp_seconds gauge\n";
  {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f",
                  std::chrono::duration<double>(stats.last_success.time_since_epoch()).count());
    out += "portico_last_reload_success_timestamp_seconds ";
    out += seconds;
    out += '\n';
  }
  out += "# HELP portico_build_info The running build: version and commit (1).\n";
  out += "# TYPE portico_build_info gauge\n";
  line("portico_build_info",
       "version=\"" + std::string(build_version()) + "\",commit=\"" + std::string(build_commit()) +
           "\"",
       1);
  if (config_.extra_metrics) out += config_.extra_metrics();
  return out;
}

}  // namespace portico::ingress
