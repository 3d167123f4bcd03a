#include "watch/kube_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>

namespace portico::watch {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxResponseBody = 1024 * 1024 * 1024;  // a list of everything, bounded

bool is_ip(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

std::string_view to_string(KubeStreamResult::End end) {
  switch (end) {
    case KubeStreamResult::End::kClosed:
      return "closed by the server";
    case KubeStreamResult::End::kStopped:
      return "stopped";
    case KubeStreamResult::End::kIdle:
      return "idle timeout";
    case KubeStreamResult::End::kError:
      return "error";
    case KubeStreamResult::End::kStatus:
      return "refused";
  }
  return "?";
}

std::string url_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

struct KubeClient::Tls {
  asio::ssl::context context{asio::ssl::context::tls_client};
};

struct KubeClient::Connection {
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  std::optional<beast::tcp_stream> plain;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

KubeClient::KubeClient(asio::any_io_executor executor, KubeConfig config)
    : executor_(std::move(executor)), config_(std::move(config)), tls_(std::make_unique<Tls>()) {
  auto& ctx = tls_->context;
  boost::system::error_code ec;
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  if (config_.insecure_skip_verify) {
    ctx.set_verify_mode(asio::ssl::verify_none);
  } else {
    ctx.set_verify_mode(asio::ssl::verify_peer);
    if (!config_.ca_pem.empty()) {
      ctx.add_certificate_authority(asio::buffer(config_.ca_pem), ec);
      if (ec)
        throw KubeConfigError(config_.source +
                              ": the CA certificate does not load: " + ec.message());
    } else {
      ctx.set_default_verify_paths(ec);
    }
  }
  if (!config_.client_cert_pem.empty()) {
    ctx.use_certificate_chain(asio::buffer(config_.client_cert_pem), ec);
    if (ec)
      throw KubeConfigError(config_.source +
                            ": the client certificate does not load: " + ec.message());
    ctx.use_private_key(asio::buffer(config_.client_key_pem), asio::ssl::context::pem, ec);
    if (ec)
      throw KubeConfigError(config_.source + ": the client key does not load: " + ec.message());
  }
}

KubeClient::~KubeClient() = default;

asio::awaitable<std::unique_ptr<KubeClient::Connection>> KubeClient::connect(
    std::chrono::milliseconds timeout) {
  auto connection = std::make_unique<Connection>();
  tcp::resolver resolver(executor_);
  auto [rec, endpoints] = co_await resolver.async_resolve(config_.host, config_.port, kNoThrow);
  if (rec) throw boost::system::system_error(rec, "resolving " + config_.host);
  if (config_.tls) {
    connection->tls.emplace(executor_, tls_->context);
  } else {
    connection->plain.emplace(executor_);
  }
  beast::tcp_stream& lowest = connection->lowest();
  lowest.expires_after(timeout);
  auto [cec, endpoint] = co_await lowest.async_connect(endpoints, kNoThrow);
  if (cec)
    throw boost::system::system_error(cec, "connecting to " + config_.host + ":" + config_.port);
  lowest.socket().set_option(tcp::no_delay(true));
  if (config_.tls) {
    const std::string& name =
        config_.tls_server_name.empty() ? config_.host : config_.tls_server_name;
    SSL* ssl = connection->tls->native_handle();
    if (!is_ip(name)) SSL_set_tlsext_host_name(ssl, name.c_str());
    if (!config_.insecure_skip_verify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      if (is_ip(name)) {
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      } else {
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
      }
    }
    auto [hec] =
        co_await connection->tls->async_handshake(asio::ssl::stream_base::client, kNoThrow);
    if (hec) throw boost::system::system_error(hec, "TLS handshake with " + config_.host);
  }
  co_return connection;
}

namespace {

template <class Stream>
asio::awaitable<KubeResponse> exchange(Stream& stream, beast::tcp_stream& lowest,
                                       beast::flat_buffer& buffer,
                                       http::request<http::string_body>& request,
                                       std::chrono::milliseconds timeout, bool& keep_alive) {
  lowest.expires_after(timeout);
  auto [wec, written] = co_await http::async_write(stream, request, kNoThrow);
  if (wec) throw boost::system::system_error(wec, "sending a request");
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  auto [rec, read] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  if (rec) throw boost::system::system_error(rec, "reading an answer");
  lowest.expires_never();
  keep_alive = parser.get().keep_alive();
  co_return KubeResponse{parser.get().result_int(), std::move(parser.get().body())};
}

}  // namespace

asio::awaitable<KubeResponse> KubeClient::request_once(http::verb verb, const std::string& target,
                                                       const std::string& body,
                                                       const std::string& content_type,
                                                       std::chrono::milliseconds timeout) {
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, config_.host);
  request.set(http::field::user_agent, "portico");
  request.set(http::field::accept, "application/json");
  if (std::string token = config_.token.get(); !token.empty())
    request.set(http::field::authorization, "Bearer " + token);
  if (!body.empty() || verb == http::verb::post || verb == http::verb::put ||
      verb == http::verb::patch) {
    request.set(http::field::content_type, content_type);
    request.body() = body;
  }
  request.prepare_payload();
  request.keep_alive(true);

  // A kept-alive connection the server closed meanwhile fails at once; then one fresh try.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Connection> connection = std::move(idle_);
    bool reused = connection != nullptr;
    if (!connection) connection = co_await connect(timeout);
    bool keep_alive = false;
    try {
      // (No co_await inside ?: : GCC 12 destroys such temporaries twice.)
      KubeResponse response;
      if (connection->tls) {
        response = co_await exchange(*connection->tls, connection->lowest(), connection->buffer,
                                     request, timeout, keep_alive);
      } else {
        response = co_await exchange(*connection->plain, connection->lowest(), connection->buffer,
                                     request, timeout, keep_alive);
      }
      if (keep_alive) idle_ = std::move(connection);
      co_return response;
    } catch (const boost::system::system_error&) {
      if (!reused) throw;
    }
  }
  throw boost::system::system_error(asio::error::connection_aborted, "request");
}

asio::awaitable<KubeResponse> KubeClient::request(http::verb verb, std::string target,
                                                  std::string body, std::string content_type,
                                                  std::chrono::milliseconds timeout) {
  KubeResponse response = co_await request_once(verb, target, body, content_type, timeout);
  if (response.status == 401 && !config_.token.path().empty()) {
    config_.token.refresh();
    response = co_await request_once(verb, target, body, content_type, timeout);
  }
  co_return response;
}

namespace {

template <class Stream>
asio::awaitable<KubeStreamResult> read_stream(
    Stream& stream, beast::tcp_stream& lowest, beast::flat_buffer& buffer,
    http::request<http::empty_body>& request, std::chrono::milliseconds idle_timeout,
    const std::function<bool(std::string_view)>& on_line) {
  KubeStreamResult result;
  lowest.expires_after(idle_timeout);
  auto [wec, written] = co_await http::async_write(stream, request, kNoThrow);
  if (wec) {
    result.end = KubeStreamResult::End::kError;
    result.error = "sending the watch request: " + wec.message();
    co_return result;
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  lowest.expires_after(idle_timeout);
  auto [hec, header_bytes] = co_await http::async_read_header(stream, buffer, parser, kNoThrow);
  if (hec) {
    result.end =
        hec == beast::error::timeout ? KubeStreamResult::End::kIdle : KubeStreamResult::End::kError;
    result.error = "reading the watch answer: " + hec.message();
    co_return result;
  }
  result.status = parser.get().result_int();
  const bool ok = result.status == 200;
  std::string line;
  char chunk[16 * 1024];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    lowest.expires_after(idle_timeout);
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, kNoThrow);
    std::size_t got = sizeof chunk - parser.get().body().size;
    if (ec == http::error::need_buffer) ec = {};
    if (ok) {
      std::string_view data(chunk, got);
      while (!data.empty()) {
        auto newline = data.find('\n');
        if (newline == std::string_view::npos) {
          line.append(data);
          break;
        }
        line.append(data.substr(0, newline));
        data.remove_prefix(newline + 1);
        if (!line.empty() && !on_line(line)) {
          result.end = KubeStreamResult::End::kStopped;
          co_return result;
        }
        line.clear();
      }
    } else if (result.body.size() < 64 * 1024) {
      result.body.append(chunk, got);
    }
    if (ec) {
      if (ec == beast::error::timeout) {
        result.end = KubeStreamResult::End::kIdle;
      } else if (ec == http::error::end_of_stream || ec == asio::error::eof ||
                 ec == asio::ssl::error::stream_truncated) {
        result.end = ok ? KubeStreamResult::End::kError : KubeStreamResult::End::kStatus;
        result.error = "the connection closed in the middle of the stream";
      } else {
        result.end = KubeStreamResult::End::kError;
        result.error = "reading the watch stream: " + ec.message();
      }
      co_return result;
    }
  }
  if (ok && !line.empty()) on_line(line);
  result.end = ok ? KubeStreamResult::End::kClosed : KubeStreamResult::End::kStatus;
  co_return result;
}

}  // namespace

asio::awaitable<KubeStreamResult> KubeClient::stream(
    std::string target, std::chrono::milliseconds idle_timeout,
    std::function<bool(std::string_view)> on_line) {
  for (int attempt = 0;; ++attempt) {
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, config_.host);
    request.set(http::field::user_agent, "portico");
    request.set(http::field::accept, "application/json");
    if (std::string token = config_.token.get(); !token.empty())
      request.set(http::field::authorization, "Bearer " + token);
    std::unique_ptr<Connection> connection;
    KubeStreamResult result;
    try {
      connection = co_await connect(idle_timeout);
    } catch (const boost::system::system_error& e) {
      result.end = e.code() == beast::error::timeout ? KubeStreamResult::End::kIdle
                                                     : KubeStreamResult::End::kError;
      result.error = e.what();
      co_return result;
    }
    if (connection->tls) {
      result = co_await read_stream(*connection->tls, connection->lowest(), connection->buffer,
                                    request, idle_timeout, on_line);
    } else {
      result = co_await read_stream(*connection->plain, connection->lowest(), connection->buffer,
                                    request, idle_timeout, on_line);
    }
    if (result.end == KubeStreamResult::End::kStatus && result.status == 401 && attempt == 0 &&
        !config_.token.path().empty()) {
      config_.token.refresh();
      continue;
    }
    co_return result;
  }
}

}  // namespace portico::watch
