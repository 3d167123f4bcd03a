#include "ingress/serve_command.hpp"

#include <boost/program_options.hpp>
#include <iostream>

#include "ingress/server.hpp"
#include "routing/compiler.hpp"
#include "tls/cert_store.hpp"
#include "watch/manifest_watcher.hpp"
#include "watch/publisher.hpp"

namespace portico::ingress {

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage =
    "usage: portico serve --manifests PATH [--manifests PATH ...] [options]\n"
    "\n"
    "Serves HTTP/1.1 and HTTP/2 (h2 over TLS, h2c with prior knowledge) by the routing table\n"
    "compiled from the manifests, and reloads it when they change (or on SIGHUP).\n";

}  // namespace

int run_serve_command(const std::vector<std::string>& args) {
  ServeConfig config;
  std::string http = "0.0.0.0:8080", https = "0.0.0.0:8443", admin = "127.0.0.1:9901";
  std::string grace = "30s", connect = "5s", upstream = "60s", idle = "75s", header = "30s";
  std::string balance = "round-robin", access_log = "on";
  po::options_description options("options");
  options.add_options()("help,h", "show this help")(
      "manifests", po::value<std::vector<std::string>>(&config.manifests)->composing(),
      "manifest file or directory (watched; repeatable)")(
      "http-addr", po::value<std::string>(&http)->default_value(http), "plain listener, or off")(
      "https-addr", po::value<std::string>(&https)->default_value(https), "TLS listener, or off")(
      "admin-addr", po::value<std::string>(&admin)->default_value(admin),
      "/healthz /readyz /routes /metrics, or off")(
      "workers", po::value<unsigned>(&config.workers)->default_value(0),
      "worker threads (0: one per core)")(
      "ingress-class", po::value<std::string>(&config.ingress_class)->default_value("portico"),
      "the IngressClass served")("load-balance",
                                 po::value<std::string>(&balance)->default_value(balance),
                                 "round-robin or least-request")(
      "shutdown-grace", po::value<std::string>(&grace)->default_value(grace),
      "how long SIGTERM waits for requests in flight")(
      "connect-timeout", po::value<std::string>(&connect)->default_value(connect),
      "upstream connect timeout")("upstream-timeout",
                                  po::value<std::string>(&upstream)->default_value(upstream),
                                  "upstream response timeout (504 after it)")(
      "idle-timeout", po::value<std::string>(&idle)->default_value(idle),
      "client keep-alive idle timeout")("request-header-timeout",
                                        po::value<std::string>(&header)->default_value(header),
                                        "time allowed for a request header")(
      "access-log", po::value<std::string>(&access_log)->default_value(access_log),
      "on (JSON lines on stdout) or off")(
      "log-level", po::value<std::string>(&config.log_level)->default_value("info"),
      "error, warn, info or debug");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "portico serve: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << options;
    return 0;
  }
  auto fail = [](const std::string& message) {
    std::cerr << "portico serve: " << message << "\n";
    return 2;
  };
  if (config.manifests.empty()) return fail("at least one --manifests PATH is required");
  std::string error;
  if (!parse_listen_address(http, config.http, error)) return fail("--http-addr " + error);
  if (!parse_listen_address(https, config.https, error)) return fail("--https-addr " + error);
  if (!parse_listen_address(admin, config.admin, error)) return fail("--admin-addr " + error);
  for (auto [text, target, flag] :
       {std::tuple{&grace, &config.shutdown_grace, "--shutdown-grace"},
        std::tuple{&connect, &config.connect_timeout, "--connect-timeout"},
        std::tuple{&upstream, &config.upstream_timeout, "--upstream-timeout"},
        std::tuple{&idle, &config.idle_timeout, "--idle-timeout"},
        std::tuple{&header, &config.request_header_timeout, "--request-header-timeout"}}) {
    if (!parse_duration(*text, *target))
      return fail(std::string(flag) + " \"" + *text + "\": accepted: 30s, 500ms, 2m");
  }
  if (balance == "round-robin") {
    config.load_balancing = LoadBalancing::kRoundRobin;
  } else if (balance == "least-request") {
    config.load_balancing = LoadBalancing::kLeastRequest;
  } else {
    return fail("--load-balance \"" + balance + "\": accepted: round-robin, least-request");
  }
  if (access_log != "on" && access_log != "off")
    return fail("--access-log \"" + access_log + "\": accepted: on, off");
  config.access_log = access_log == "on";

  routing::CompileOptions compile_options;
  compile_options.ingress_class = config.ingress_class;
  watch::Publisher publisher(compile_options, tls::make_default_context());
  const bool verbose = config.log_level == "debug" || config.log_level == "info";
  publisher.on_publish(
      [verbose](const watch::Snapshot& snapshot, const watch::PublishResult& result) {
        if (!verbose) return;
        std::cerr << "portico: table generation " << snapshot.generation << " published in "
                  << std::chrono::duration_cast<std::chrono::microseconds>(result.duration).count()
                  << " us (" << snapshot.table->routes().size() << " routes, " << result.errors
                  << " errors, " << result.warnings << " warnings)\n";
        for (const auto& d : snapshot.diagnostics) {
          if (d.severity != routing::Severity::kInfo) std::cerr << "  " << format(d) << "\n";
        }
      });

  watch::ManifestWatcherOptions watch_options;
  watch_options.paths = config.manifests;
  watch_options.log = [](std::string_view line) { std::cerr << "portico: " << line << "\n"; };
  watch::ManifestWatcher watcher(publisher, watch_options);
  watch::ReloadResult first = watcher.start();
  if (first.unreadable)
    std::cerr << "portico: some manifests could not be read; serving what could\n";

  try {
    Server server(config, publisher);
    server.listen();
    return server.run([&watcher] { watcher.reload(); });
  } catch (const std::exception& e) {
    return fail(std::string("cannot start: ") + e.what());
  }
}

}  // namespace portico::ingress
