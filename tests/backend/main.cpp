// portico_test_backend: an HTTP/1.1 and WebSocket backend for Portico's integration tests and
// benchmarks that reports exactly what it received (routes in session.cpp).
//
//   portico_test_backend --listen HOST:PORT [--name NAME] [--threads N] [--record-limit N]
//
// Binds, prints exactly one line "listening HOST:PORT" (the bound port, so PORT 0 works) on
// stdout, and serves until SIGTERM or SIGINT, then prints "in flight at exit: N" (requests it
// read and did not finish answering) and exits 0. Bad arguments exit 2, a failed
// bind exits 1, both with a message on stderr.

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "json_text.hpp"
#include "request_log.hpp"
#include "session.hpp"

namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using portico::test_backend::RequestLog;
using portico::test_backend::SessionConfig;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kUsage =
    "usage: portico_test_backend --listen HOST:PORT [--name NAME] [--threads N] "
    "[--record-limit N]\n"
    "  --listen        address to bind, e.g. 127.0.0.1:0 or [::1]:8080 (default 127.0.0.1:0)\n"
    "  --name          value of the X-Backend header (default \"backend\")\n"
    "  --threads       I/O threads, one io_context each (default 1)\n"
    "  --record-limit  requests kept for /__requests, oldest dropped; 0 disables (default "
    "10000)\n";

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "0";
  std::string name = "backend";
  unsigned threads = 1;
  std::size_t record_limit = 10000;
};

std::optional<std::uint64_t> parse_count(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

// Splits "host:port" or "[v6]:port".
bool parse_listen(std::string_view text, Options& options) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return false;
  std::string_view host = text.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  if (host.empty()) return false;
  options.host = host;
  options.port = text.substr(colon + 1);
  return true;
}

// The name goes verbatim into a header value, so only visible ASCII is accepted.
bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (const char c : name) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

// Returns the options, or nullopt after printing why not.
std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    std::string_view flag = argument;
    std::optional<std::string_view> value;
    if (const std::size_t equals = flag.find('='); equals != std::string_view::npos) {
      value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
    } else if (flag != "--help" && i + 1 < argc) {
      value = argv[++i];
    }
    bool ok = value.has_value();
    if (flag == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (flag == "--listen" && ok) {
      ok = parse_listen(*value, options);
    } else if (flag == "--name" && ok) {
      ok = valid_name(*value);
      options.name = *value;
    } else if (flag == "--threads" && ok) {
      const auto threads = parse_count(*value);
      ok = threads && *threads >= 1 && *threads <= 256;
      if (ok) options.threads = static_cast<unsigned>(*threads);
    } else if (flag == "--record-limit" && ok) {
      const auto limit = parse_count(*value);
      ok = limit.has_value();
      if (ok) options.record_limit = *limit;
    } else {
      ok = false;
    }
    if (!ok) {
      std::cerr << "portico_test_backend: bad argument " << argument;
      if (value && argument == flag) std::cerr << " " << *value;
      std::cerr << "\n" << kUsage;
      return std::nullopt;
    }
  }
  return options;
}

using Contexts = std::vector<std::unique_ptr<asio::io_context>>;

// Accepts on the first context and hands each connection to the next context in turn, so
// every connection lives on one thread and needs no strand.
asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Contexts& contexts,
                                  const SessionConfig& config) {
  asio::steady_timer backoff(acceptor.get_executor());
  std::size_t next = 0;
  for (;;) {
    asio::io_context& target = *contexts[next];
    next = (next + 1) % contexts.size();
    auto [ec, socket] = co_await acceptor.async_accept(target.get_executor(), kNoThrow);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: retrying at once would spin a core.
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kNoThrow);
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    asio::co_spawn(target, portico::test_backend::serve_connection(std::move(socket), config),
                   [](std::exception_ptr error) {
                     if (!error) return;
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       std::cerr << "portico_test_backend: connection failed: " << e.what() << "\n";
                     }
                   });
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options) return 2;
  std::signal(SIGPIPE, SIG_IGN);

  // Declared before the contexts: sessions reference them until the contexts are destroyed.
  RequestLog log(options->record_limit);
  SessionConfig config{options->name, {}, &log};
  portico::test_backend::append_json_string(config.name_json, config.name);

  Contexts contexts;
  for (unsigned i = 0; i < options->threads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
  }
  asio::io_context& main_context = *contexts.front();

  tcp::acceptor acceptor(main_context);
  error_code ec;
  tcp::resolver resolver(main_context);
  const auto endpoints = resolver.resolve(
      options->host, options->port, tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (!ec && endpoints.empty()) ec = asio::error::host_not_found;
  if (!ec) {
    const tcp::endpoint endpoint = endpoints.begin()->endpoint();
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  const tcp::endpoint bound = ec ? tcp::endpoint() : acceptor.local_endpoint(ec);
  if (ec) {
    std::cerr << "portico_test_backend: cannot listen on " << options->host << ":" << options->port
              << ": " << ec.message() << "\n";
    return 1;
  }
  std::cout << "listening " << bound << std::endl;

  asio::signal_set signals(main_context, SIGINT, SIGTERM);
  signals.async_wait([&contexts](const error_code& error, int) {
    if (error) return;
    for (auto& context : contexts) context->stop();
  });
  asio::co_spawn(main_context, accept_loop(acceptor, contexts, config), asio::detached);

  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& context : contexts) guards.push_back(asio::make_work_guard(*context));
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < contexts.size(); ++i) {
    threads.emplace_back([&context = *contexts[i]] { context.run(); });
  }
  main_context.run();
  for (auto& thread : threads) thread.join();
  std::cout << "in flight at exit: " << portico::test_backend::requests_in_flight.load()
            << std::endl;
  return 0;
}
