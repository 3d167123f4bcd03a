#include "ingress/serve_command.hpp"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdlib>
#include <iostream>

#include "ingress/publication_metrics.hpp"
#include "ingress/server.hpp"
#include "routing/compiler.hpp"
#include "tls/cert_store.hpp"
#include "tls/ticket_keys.hpp"
#include "watch/ingress_status.hpp"
#include "watch/kube_source.hpp"
#include "watch/leader_election.hpp"
#include "watch/manifest_watcher.hpp"
#include "watch/publisher.hpp"
#include "watch/source_set.hpp"

namespace portico::ingress {

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage =
    "usage: portico serve --manifests PATH [--manifests PATH ...] [options]\n"
    "       portico serve --kube [--kubeconfig PATH] [--manifests PATH ...] [options]\n"
    "\n"
    "Serves HTTP/1.1 and HTTP/2 (h2 over TLS, h2c with prior knowledge) by the routing table\n"
    "compiled from the manifests and/or the Kubernetes API, and follows their changes (manifests\n"
    "also on SIGHUP).\n";

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != 0 ? std::string(value) : fallback;
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "portico";
  return name;
}

}  // namespace

int run_serve_command(const std::vector<std::string>& args) {
  ServeConfig config;
  std::string http = "0.0.0.0:8080", https = "0.0.0.0:8443", admin = "127.0.0.1:9901";
  std::string grace = "30s", connect = "5s", upstream = "60s", idle = "75s", header = "30s";
  std::string handshake = "10s", ticket_rotation = "12h";
  std::string balance = "round-robin", access_log = "stdout", request_metrics = "on";
  std::string body_size = "1m", body_read = "60s";
  std::uint64_t request_line = config.max_request_line, header_bytes = config.max_header_bytes,
                header_fields = config.max_header_fields;
  bool kube = false;
  std::string kubeconfig, controller_name = "portico.dev/ingress-controller", publish_service;
  std::string update_status = "on", election_id = "portico-leader", election_namespace;
  std::string watch_idle = "90s";
  unsigned page_size = 500;
  std::vector<std::string> watch_namespaces, publish_addresses;
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
      "max-request-line", po::value<std::uint64_t>(&request_line)->default_value(request_line),
      "bytes of an HTTP/1.1 request line, CRLF included (414 beyond)")(
      "max-header-bytes", po::value<std::uint64_t>(&header_bytes)->default_value(header_bytes),
      "bytes of a request header (431 beyond; HTTP/2: SETTINGS_MAX_HEADER_LIST_SIZE)")(
      "max-header-fields", po::value<std::uint64_t>(&header_fields)->default_value(header_fields),
      "fields of a request header (431 beyond)")(
      "max-body-size", po::value<std::string>(&body_size)->default_value(body_size),
      "request body limit, e.g. 1m, 512k, 0 (unlimited); 413 beyond. A route's proxy-body-size "
      "annotation overrides it")("body-read-timeout",
                                 po::value<std::string>(&body_read)->default_value(body_read),
                                 "longest wait for more of a request body (408 after it)")(
      "max-connections-per-worker",
      po::value<std::size_t>(&config.max_connections_per_worker)->default_value(16'384),
      "client connections per worker; beyond, new ones are accepted and closed at once")(
      "max-keepalive-requests",
      po::value<std::size_t>(&config.max_keepalive_requests)->default_value(1'000),
      "requests per HTTP/1.1 connection, the last answered with Connection: close (0: no limit)")(
      "tls-handshake-timeout", po::value<std::string>(&handshake)->default_value(handshake),
      "time allowed for a TLS handshake")(
      "tls-ticket-key-rotation",
      po::value<std::string>(&ticket_rotation)->default_value(ticket_rotation),
      "a new session ticket key this often (tickets of the previous key still resume)")(
      "http2-max-concurrent-streams",
      po::value<std::uint32_t>(&config.http2_max_concurrent_streams)->default_value(128),
      "SETTINGS_MAX_CONCURRENT_STREAMS of HTTP/2 connections")(
      "access-log", po::value<std::string>(&access_log)->default_value(access_log),
      "JSON lines: stdout, a file PATH (appended), or off")(
      "request-metrics", po::value<std::string>(&request_metrics)->default_value(request_metrics),
      "on or off: /metrics series by Ingress and Service (requests, durations, bytes)")(
      "log-level", po::value<std::string>(&config.log_level)->default_value("info"),
      "error, warn, info or debug");
  po::options_description cluster("cluster mode");
  cluster.add_options()("kube", po::bool_switch(&kube),
                        "follow the Kubernetes API (in-cluster configuration unless --kubeconfig)")(
      "kubeconfig", po::value<std::string>(&kubeconfig), "kubeconfig file (implies --kube)")(
      "watch-namespace", po::value<std::vector<std::string>>(&watch_namespaces)->composing(),
      "namespace to watch (repeatable; default: all)")(
      "controller-name", po::value<std::string>(&controller_name)->default_value(controller_name),
      "the IngressClass spec.controller that is ours")(
      "publish-service", po::value<std::string>(&publish_service),
      "NAMESPACE/NAME of our Service, whose address goes into Ingress status")(
      "publish-status-address",
      po::value<std::vector<std::string>>(&publish_addresses)->composing(),
      "address(es) for Ingress status instead of --publish-service (repeatable, or commas)")(
      "update-status", po::value<std::string>(&update_status)->default_value(update_status),
      "on or off: write Ingress status (the leader only)")(
      "election-id", po::value<std::string>(&election_id)->default_value(election_id),
      "name of the Lease for leader election")(
      "election-namespace", po::value<std::string>(&election_namespace),
      "namespace of the Lease (default: $POD_NAMESPACE, else the service account's)")(
      "watch-idle-timeout", po::value<std::string>(&watch_idle)->default_value(watch_idle),
      "a watch stream silent this long is opened again")(
      "list-page-size", po::value<unsigned>(&page_size)->default_value(page_size),
      "objects per page of a list (limit)");
  options.add(cluster);
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
  if (!kubeconfig.empty()) kube = true;
  if (config.manifests.empty() && !kube)
    return fail("at least one --manifests PATH (or --kube) is required");
  if (update_status != "on" && update_status != "off")
    return fail("--update-status \"" + update_status + "\": accepted: on, off");
  if (!publish_service.empty() && (publish_service.find('/') == std::string::npos ||
                                   publish_service.front() == '/' || publish_service.back() == '/'))
    return fail("--publish-service \"" + publish_service + "\": accepted: NAMESPACE/NAME");
  {
    std::vector<std::string> split;
    for (const auto& a : publish_addresses) {
      std::size_t start = 0;
      for (;;) {
        auto comma = a.find(',', start);
        std::string part = a.substr(start, comma == std::string::npos ? comma : comma - start);
        if (!part.empty()) split.push_back(part);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    publish_addresses = std::move(split);
  }
  std::chrono::milliseconds watch_idle_timeout{};
  if (page_size == 0) return fail("--list-page-size 0: accepted: 1 or more");
  std::string error;
  if (!parse_listen_address(http, config.http, error)) return fail("--http-addr " + error);
  if (!parse_listen_address(https, config.https, error)) return fail("--https-addr " + error);
  if (!parse_listen_address(admin, config.admin, error)) return fail("--admin-addr " + error);
  for (auto [text, target, flag] :
       {std::tuple{&grace, &config.shutdown_grace, "--shutdown-grace"},
        std::tuple{&connect, &config.connect_timeout, "--connect-timeout"},
        std::tuple{&upstream, &config.upstream_timeout, "--upstream-timeout"},
        std::tuple{&idle, &config.idle_timeout, "--idle-timeout"},
        std::tuple{&header, &config.request_header_timeout, "--request-header-timeout"},
        std::tuple{&body_read, &config.body_read_timeout, "--body-read-timeout"},
        std::tuple{&handshake, &config.tls_handshake_timeout, "--tls-handshake-timeout"},
        std::tuple{&ticket_rotation, &config.tls_ticket_key_rotation, "--tls-ticket-key-rotation"},
        std::tuple{&watch_idle, &watch_idle_timeout, "--watch-idle-timeout"}}) {
    if (!parse_duration(*text, *target))
      return fail(std::string(flag) + " \"" + *text + "\": accepted: 30s, 500ms, 2m, 12h");
  }
  if (!parse_size(body_size, config.max_body_size))
    return fail("--max-body-size \"" + body_size +
                "\": accepted: bytes, or a number with k, m or g");
  for (auto [value, target, flag, least] :
       {std::tuple{request_line, &config.max_request_line, "--max-request-line", 16u},
        std::tuple{header_bytes, &config.max_header_bytes, "--max-header-bytes", 64u},
        std::tuple{header_fields, &config.max_header_fields, "--max-header-fields", 1u}}) {
    // The parser keeps offsets into a header in 32 bits; a gigabyte is beyond any sane header.
    if (value < least || value > (1u << 30))
      return fail(std::string(flag) + " " + std::to_string(value) +
                  ": accepted: " + std::to_string(least) + " to 1073741824");
    *target = static_cast<std::uint32_t>(value);
  }
  if (config.max_connections_per_worker == 0)
    return fail("--max-connections-per-worker 0: accepted: 1 or more");
  if (config.tls_handshake_timeout.count() <= 0)
    return fail("--tls-handshake-timeout \"" + handshake + "\": accepted: more than 0, like 10s");
  if (config.tls_ticket_key_rotation < std::chrono::seconds(1))
    return fail("--tls-ticket-key-rotation \"" + ticket_rotation +
                "\": accepted: 1s or more, like 12h");
  if (config.http2_max_concurrent_streams == 0 || config.http2_max_concurrent_streams > 10000)
    return fail("--http2-max-concurrent-streams " +
                std::to_string(config.http2_max_concurrent_streams) + ": accepted: 1 to 10000");
  if (balance == "round-robin") {
    config.load_balancing = LoadBalancing::kRoundRobin;
  } else if (balance == "least-request") {
    config.load_balancing = LoadBalancing::kLeastRequest;
  } else {
    return fail("--load-balance \"" + balance + "\": accepted: round-robin, least-request");
  }
  // "on" is what earlier versions (and the chart) say for stdout.
  if (access_log.empty()) return fail("--access-log \"\": accepted: stdout, off, or a file path");
  config.access_log = access_log != "off";
  config.access_log_sink = access_log == "on" ? "stdout" : access_log;
  if (request_metrics != "on" && request_metrics != "off")
    return fail("--request-metrics \"" + request_metrics + "\": accepted: on, off");
  config.request_metrics = request_metrics == "on";

  routing::CompileOptions compile_options;
  compile_options.ingress_class = config.ingress_class;
  // In a cluster an IngressClass is ours only when its spec.controller says so; standalone
  // manifests may name any controller.
  if (kube) compile_options.controller_name = controller_name;
  tls::set_ticket_key_rotation(config.tls_ticket_key_rotation);  // before any context exists
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

  auto publications = std::make_shared<PublicationMetrics>();
  publisher.on_publish([publications](const watch::Snapshot&, const watch::PublishResult& result) {
    publications->observe(result);
  });

  auto log = [](std::string_view line) { std::cerr << "portico: " << line << "\n"; };
  watch::SourceSet sources(publisher);
  std::size_t manifest_source = 0, kube_source_index = 0;
  if (!config.manifests.empty()) manifest_source = sources.add("manifests");
  if (kube) kube_source_index = sources.add("kubernetes");

  // Cluster mode: the API source, and (unless --update-status off) leader election and the
  // Ingress status writer on the same thread.
  std::unique_ptr<watch::KubeSource> kube_source;
  std::unique_ptr<watch::LeaderElection> election;
  std::unique_ptr<watch::IngressStatusWriter> status_writer;
  if (kube) {
    watch::KubeConfig kube_config;
    try {
      kube_config =
          kubeconfig.empty() ? watch::load_in_cluster_config() : watch::load_kubeconfig(kubeconfig);
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    std::string service_account_namespace = kube_config.namespace_;
    watch::KubeSourceOptions kube_options;
    kube_options.namespaces = watch_namespaces;
    kube_options.ingress_class = config.ingress_class;
    kube_options.controller_name = controller_name;
    kube_options.idle_timeout = watch_idle_timeout;
    kube_options.page_size = page_size;
    kube_options.log = log;
    kube_options.publish = [&sources, kube_source_index](routing::ObjectSet objects,
                                                         routing::Diagnostics diagnostics) {
      return sources.update(kube_source_index, std::move(objects), std::move(diagnostics));
    };
    try {
      kube_source = std::make_unique<watch::KubeSource>(std::move(kube_config), kube_options);
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    if (update_status == "on" && (!publish_service.empty() || !publish_addresses.empty())) {
      watch::IngressStatusOptions status_options;
      status_options.publish_service = publish_service;
      status_options.publish_addresses = publish_addresses;
      status_options.log = log;
      status_writer =
          std::make_unique<watch::IngressStatusWriter>(*kube_source, publisher, status_options);
      watch::LeaderElectionOptions election_options;
      election_options.name = election_id;
      election_options.namespace_ = !election_namespace.empty()
                                        ? election_namespace
                                        : env_or("POD_NAMESPACE", service_account_namespace);
      if (election_options.namespace_.empty()) election_options.namespace_ = "default";
      election_options.identity = env_or("POD_NAME", host_name());
      election_options.log = log;
      election_options.on_change = [writer = status_writer.get()](bool leading) {
        writer->set_leading(leading);
      };
      election = std::make_unique<watch::LeaderElection>(kube_source->io(), kube_source->client(),
                                                         election_options);
    }
  }

  if (kube_source) {
    config.extra_metrics = [source = kube_source.get(), election = election.get()] {
      watch::KubeSourceStats s = source->stats();
      std::string out;
      auto metric = [&out](const char* name, const char* type, const char* help,
                           std::uint64_t value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
               name + " " + std::to_string(value) + "\n";
      };
      metric("portico_kube_watch_events_total", "counter",
             "Watch events applied (bookmarks not counted).", s.events);
      metric("portico_kube_watch_events_ignored_total", "counter",
             "Watch events that could not change the table and did not recompile.", s.ignored);
      metric("portico_kube_lists_total", "counter", "Complete lists, first ones included.",
             s.lists);
      metric("portico_kube_relists_total", "counter", "Lists after 410 Gone.", s.relists);
      metric("portico_kube_watch_errors_total", "counter",
             "Watch streams that broke, stalled or were refused.", s.watch_errors);
      metric("portico_kube_synced", "gauge",
             "1 once every resource has been listed and the first table published.",
             source->synced() ? 1 : 0);
      if (election)
        metric("portico_leader", "gauge", "1 while this process holds the Lease.",
               election->leading() ? 1 : 0);
      return out;
    };
  }

  config.extra_metrics = [publications, sources_metrics = std::move(config.extra_metrics)] {
    std::string out;
    publications->render(out);
    if (sources_metrics) out += sources_metrics();
    return out;
  };

  std::unique_ptr<watch::ManifestWatcher> watcher;
  if (!config.manifests.empty()) {
    watch::ManifestWatcherOptions watch_options;
    watch_options.paths = config.manifests;
    watch_options.log = log;
    if (kube) {
      watch_options.publish = [&sources, manifest_source](const routing::ObjectSet& objects,
                                                          routing::Diagnostics diagnostics) {
        return sources.update(manifest_source, objects, std::move(diagnostics));
      };
    }
    watcher = std::make_unique<watch::ManifestWatcher>(publisher, watch_options);
    watch::ReloadResult first = watcher->start();
    if (first.unreadable)
      std::cerr << "portico: some manifests could not be read; serving what could\n";
  }
  if (kube_source) {
    if (status_writer) status_writer->start();
    if (election) election->start();
    kube_source->start();
  }

  int status = 0;
  try {
    Server server(config, publisher);
    server.listen();
    status = server.run([&watcher] {
      if (watcher) watcher->reload();
    });
  } catch (const std::exception& e) {
    status = fail(std::string("cannot start: ") + e.what());
  }
  if (election) election->release();
  if (kube_source) kube_source->stop();
  return status;
}

}  // namespace portico::ingress
