// libFuzzer: what an HTTP/2 client sends after the connection preface, into the server side of
// the proxy's HTTP/2 connection (Http2Connection: nghttp2's server session with the project's
// callbacks, header validation, flow control and stream bookkeeping) without sockets. The bytes
// go in as reads cut by the first input byte's seed; between reads the worker's io_context runs
// what is ready (the stream coroutines, which answer 404, 308 or 503 from the routes without
// touching the network: no route has an endpoint) and the connection's output is collected, as
// serve_http2's writer would. At the end the connection is aborted and every stream task must
// wind down.

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "ingress/connection.hpp"
#include "ingress/deadline.hpp"
#include "ingress/http2_connection.hpp"
#include "ingress/serve_config.hpp"
#include "ingress/worker.hpp"
#include "tls/cert_store.hpp"
#include "watch/manifest_decoder.hpp"
#include "watch/publisher.hpp"

namespace {

using namespace portico;

// A TLS host (plain requests get 308), a host whose Service has no endpoints (503), and nothing
// else (404). No endpoint anywhere: the fuzzer never connects to anything.
constexpr std::string_view kManifests = R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: default}
spec:
  ingressClassName: portico
  tls: [{hosts: [secure.example], secretName: missing}]
  rules:
  - host: app.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: secure.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{port: 80}]
)";

routing::CompileOptions one_thread() {
  routing::CompileOptions options;
  options.threads = 1;
  return options;
}

struct Setup {
  ingress::ServeConfig config;
  watch::Publisher publisher{one_thread(), tls::make_default_context()};
  ingress::Worker worker{0, config, publisher};
  Setup() {
    auto decoded = watch::decode_manifests(kManifests, "fuzz.yaml");
    publisher.publish(decoded.objects, {});
    if (publisher.current() == nullptr) std::abort();
  }
};

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Setup* setup = new Setup;  // lives as long as the process, like a worker
  if (size < 1) return 0;
  unsigned seed = data[0];
  ++data;
  --size;
  ingress::Worker& worker = setup->worker;
  boost::asio::io_context& io = worker.io();
  ingress::Socket client(worker.executor());  // never opened: nothing reads or writes it
  ingress::ConnectionInfo info{"192.0.2.1", 80, false, nullptr};
  std::vector<std::uint8_t> out;
  {
    ingress::Deadline deadline(worker.executor(), client);
    ingress::Http2Connection connection(worker, info, deadline);
    if (!connection.start()) std::abort();
    auto run_ready = [&] {
      io.restart();
      io.poll();
      out.clear();
      return connection.collect(out, 128 * 1024);
    };
    bool open = connection.receive(reinterpret_cast<const std::uint8_t*>(kPreface.data()),
                                   kPreface.size()) &&
                run_ready();
    std::size_t offset = 0;
    while (open && offset < size && !connection.finished()) {
      seed = seed * 1103515245u + 12345u;
      const std::size_t n = std::min<std::size_t>(size - offset, 1 + (seed >> 16) % 512);
      open = connection.receive(data + offset, n);
      offset += n;
      // Like the reader, which stops while too many stream tasks wind down.
      for (int turn = 0; open && turn < 8; ++turn) {
        open = run_ready();
        if (!connection.reading_paused()) break;
      }
    }
    connection.abort();
    for (int turn = 0; turn < 64 && connection.running_tasks() > 0; ++turn) {
      io.restart();
      io.poll();
    }
    if (connection.running_tasks() != 0) std::abort();  // a stream task that never ends
  }
  io.restart();
  io.poll();  // the deadline's watchdog sees that it stopped
  return 0;
}
