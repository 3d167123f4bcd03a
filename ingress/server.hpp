#pragma once

// The running proxy: N workers, the admin listener, and the process's signals (SIGTERM/SIGINT:
// graceful shutdown; SIGHUP: reload).

#include <functional>
#include <memory>
#include <vector>

#include "ingress/access_log.hpp"
#include "ingress/request_series.hpp"
#include "ingress/serve_config.hpp"
#include "ingress/worker.hpp"
#include "watch/publisher.hpp"

namespace portico::ingress {

class Server {
 public:
  // Opens the access log: throws std::runtime_error naming --access-log when its file cannot be
  // opened.
  Server(ServeConfig config, watch::Publisher& publisher);
  ~Server();

  // Binds every listener. Throws std::system_error when a port cannot be bound.
  void listen();
  // Serves until SIGTERM/SIGINT, then drains for up to the grace period. `on_hangup` runs on
  // SIGHUP. Returns the process exit status (0 after a clean drain).
  int run(std::function<void()> on_hangup);

  std::uint16_t http_port() const;
  std::uint16_t https_port() const;
  std::uint16_t admin_port() const { return admin_port_; }

  // Prometheus text for /metrics.
  std::string metrics_text() const;

 private:
  class Admin;
  ServeConfig config_;
  watch::Publisher& publisher_;
  // Before the workers, which record into them: destroyed after.
  std::unique_ptr<RequestSeriesRegistry> series_;
  std::unique_ptr<AccessLog> access_log_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<Admin> admin_;
  std::uint16_t admin_port_ = 0;
};

}  // namespace portico::ingress
