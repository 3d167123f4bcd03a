// Routes (every response, including 100 Continue and 101 Switching Protocols, carries
// `X-Backend: NAME`):
//   /__health            200 "ok"
//   /__requests          GET: JSON array of {method,target,headers,body_bytes} of every request
//                        received (except /__requests); DELETE: clears it
//   /status/NNN          status NNN (200-599) with a small body
//   /bytes/N[?chunked=1] N bytes, byte i = 'a' + i % 26, Content-Length or chunked
//   /delay/MS            waits MS milliseconds, then answers like the default route
//   /close-mid-response  Content-Length: 1000000, 100 bytes of body, then FIN
//   /reset               RST (SO_LINGER 0), no answer
//   /garbage             "this is not http\r\n\r\n", then FIN
//   /ws                  WebSocket echo when the request is an upgrade, else 426
//   anything else        200 JSON echo of what was received (see respond_echo)
// Every request body is read in full, streamed through SHA-256, before the route answers.

#include "session.hpp"

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string_view>
#include <tuple>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "json_text.hpp"
#include "sha256_stream.hpp"

namespace portico::test_backend {

std::atomic<long> requests_in_flight{0};

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Size of one body read and of one generated body write: large enough that a 1 GiB transfer
// is ~16k syscalls, small enough that memory per connection stays bounded.
constexpr std::size_t kPieceSize = 64 * 1024;
// Beast's default (8 KiB) is below what proxies forward; 64 KiB matches common proxy limits.
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kWebSocketMessageLimit = 64 * 1024 * 1024;
constexpr std::uint64_t kMaxDelayMs = 60 * 60 * 1000;
// Lingering close: closing with unread input makes the kernel send RST, which can destroy a
// response (e.g. a 400) before the client reads it. Drain for a bounded time and size first.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr std::size_t kLingerMaxBytes = 1024 * 1024;
constexpr std::size_t kCloseMidResponseBytes = 100;

using FieldsAllocator = std::pmr::polymorphic_allocator<char>;
using RequestParser = http::request_parser<http::buffer_body, FieldsAllocator>;

// Pattern of every generated body: a piece starting at offset o is this array from o % 26.
const std::array<char, kPieceSize + 26>& body_pattern() {
  static const auto pattern = [] {
    std::array<char, kPieceSize + 26> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>('a' + i % 26);
    return bytes;
  }();
  return pattern;
}

template <class Unsigned>
void append_number(std::string& out, Unsigned value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

// Parses a whole decimal string; nothing else (no sign, spaces or suffix) is accepted.
std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  std::uint64_t value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || result.ec != std::errc() || result.ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

bool consume_prefix(std::string_view& text, std::string_view prefix) {
  if (!text.starts_with(prefix)) return false;
  text.remove_prefix(prefix.size());
  return true;
}

bool has_query_parameter(std::string_view query, std::string_view parameter) {
  while (!query.empty()) {
    const std::size_t end = query.find('&');
    if (query.substr(0, end) == parameter) return true;
    if (end == std::string_view::npos) break;
    query.remove_prefix(end + 1);
  }
  return false;
}

// Splits a request target into path and query; an absolute-form target (RFC 9112 section
// 3.2.2, sent to proxies) is routed by its path.
std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  if (!target.starts_with('/')) {
    if (const std::size_t scheme = target.find("://"); scheme != std::string_view::npos) {
      const std::size_t slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) return {target, {}};
  return {target.substr(0, question), target.substr(question + 1)};
}

std::string_view reason_phrase(unsigned status) {
  const auto reason = http::obsolete_reason(http::int_to_status(status));
  return reason.starts_with('<') ? std::string_view("Unknown") : std::string_view(reason);
}

class Connection {
 public:
  Connection(tcp::socket socket, const SessionConfig& config)
      : socket_(std::move(socket)),
        config_(config),
        arena_(arena_storage_.data(), arena_storage_.size()),
        body_buffer_(std::make_unique<char[]>(kPieceSize)) {}

  asio::awaitable<void> run();

 private:
  // What the connection does after a route answered.
  enum class Next {
    kKeepAlive,  // read the next request
    kClose,      // close gracefully (FIN, then drain)
    kDone,       // the socket is already closed or broken
  };

  void start_request();
  asio::awaitable<bool> read_body();
  asio::awaitable<void> fail(error_code ec);
  void build_headers_json();
  void record();

  asio::awaitable<Next> respond();
  asio::awaitable<Next> respond_echo();
  asio::awaitable<Next> respond_status(std::string_view code);
  asio::awaitable<Next> respond_bytes(std::uint64_t size, bool chunked);
  asio::awaitable<Next> respond_delay(std::uint64_t milliseconds);
  asio::awaitable<Next> respond_requests();
  asio::awaitable<Next> respond_close_mid_response();
  asio::awaitable<Next> respond_garbage();
  asio::awaitable<void> serve_websocket();
  asio::awaitable<Next> send_response(unsigned status, std::string_view content_type,
                                      std::string_view body, bool keep_alive);
  asio::awaitable<Next> send_response(unsigned status, std::string_view content_type,
                                      std::string_view body) {
    return send_response(status, content_type, body, parser_->get().keep_alive());
  }

  void begin_head(unsigned status);
  void end_head(bool keep_alive);
  template <class Buffers>
  asio::awaitable<bool> write(const Buffers& buffers);
  asio::awaitable<void> linger_close();
  void reset_close();

  tcp::socket socket_;
  const SessionConfig& config_;
  beast::flat_buffer buffer_;
  // Per-request arena for Beast's header fields: one release per request instead of one
  // allocation per header.
  std::array<char, 8 * 1024> arena_storage_;
  std::pmr::monotonic_buffer_resource arena_;
  std::optional<RequestParser> parser_;
  std::unique_ptr<char[]> body_buffer_;
  Sha256Stream digest_;
  std::uint64_t body_bytes_ = 0;
  std::uint64_t requests_ = 0;  // requests begun on this connection
  unsigned version_ = 11;       // of the current request
  bool head_method_ = false;
  std::string_view path_;   // into the current request's target
  std::string_view query_;  // into the current request's target
  // Reused across requests so the hot path does not allocate once capacities settle.
  std::string head_;
  std::string body_;
  std::string headers_json_;
};

asio::awaitable<void> Connection::run() {
  for (;;) {
    start_request();
    auto [ec, unused] = co_await http::async_read_header(socket_, buffer_, *parser_, kNoThrow);
    if (ec) {
      co_await fail(ec);
      co_return;
    }
    ++requests_;
    // Counted until this request's response is written (or the connection ends).
    struct InFlight {
      InFlight() { requests_in_flight.fetch_add(1, std::memory_order_relaxed); }
      ~InFlight() { requests_in_flight.fetch_sub(1, std::memory_order_relaxed); }
      InFlight(const InFlight&) = delete;
      InFlight& operator=(const InFlight&) = delete;
    } in_flight;
    const auto& request = parser_->get();
    version_ = request.version();
    head_method_ = request.method() == http::verb::head;
    std::tie(path_, query_) = split_target(request.target());
    if (path_ == "/ws" && websocket::is_upgrade(request)) {
      build_headers_json();
      record();
      co_await serve_websocket();
      co_return;
    }
    if (!co_await read_body()) co_return;
    build_headers_json();
    record();
    switch (co_await respond()) {
      case Next::kKeepAlive:
        break;
      case Next::kClose:
        co_await linger_close();
        co_return;
      case Next::kDone:
        co_return;
    }
  }
}

void Connection::start_request() {
  parser_.reset();
  arena_.release();  // only after the parser that allocated from it is gone
  parser_.emplace(std::piecewise_construct, std::make_tuple(),
                  std::make_tuple(FieldsAllocator(&arena_)));
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(boost::none);
  version_ = 11;
  head_method_ = false;
  path_ = query_ = {};
  body_bytes_ = 0;
  digest_.reset();
}

// Reads the whole body through a fixed buffer, hashing as it goes. Returns false when the
// connection is finished (the error was already handled).
asio::awaitable<bool> Connection::read_body() {
  if (parser_->is_done()) co_return true;
  const auto& request = parser_->get();
  // RFC 9110 section 10.1.1: a 1.0 client's expectation is ignored.
  if (version_ >= 11 && beast::iequals(request[http::field::expect], "100-continue")) {
    head_.assign("HTTP/1.1 100 Continue\r\nX-Backend: ");
    head_ += config_.name;
    head_ += "\r\n\r\n";
    if (!co_await write(asio::buffer(head_))) co_return false;
  }
  while (!parser_->is_done()) {
    auto& body = parser_->get().body();
    body.data = body_buffer_.get();
    body.size = kPieceSize;
    auto [ec, unused] = co_await http::async_read(socket_, buffer_, *parser_, kNoThrow);
    const std::size_t received = kPieceSize - parser_->get().body().size;
    digest_.update(body_buffer_.get(), received);
    body_bytes_ += received;
    if (ec && ec != http::error::need_buffer) {
      co_await fail(ec);
      co_return false;
    }
  }
  co_return true;
}

// A malformed request gets 400 and a close; a peer that went away (end_of_stream between
// requests, partial_message or a socket error mid-request) gets nothing.
asio::awaitable<void> Connection::fail(error_code ec) {
  const bool parse_error =
      ec.category() == http::make_error_code(http::error::bad_method).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message;
  if (!parse_error) co_return;
  body_.assign("bad request: ");
  body_ += ec.message();
  body_ += '\n';
  head_method_ = false;
  if (co_await send_response(400, "text/plain", body_, false) == Next::kClose) {
    co_await linger_close();
  }
}

void Connection::build_headers_json() {
  headers_json_.clear();
  headers_json_ += '[';
  bool first = true;
  for (const auto& field : parser_->get()) {
    if (!first) headers_json_ += ',';
    first = false;
    headers_json_ += '[';
    append_json_string(headers_json_, field.name_string());
    headers_json_ += ',';
    append_json_string(headers_json_, field.value());
    headers_json_ += ']';
  }
  headers_json_ += ']';
}

// Needs build_headers_json() first.
void Connection::record() {
  if (!config_.log->enabled() || path_ == "/__requests") return;
  const auto& request = parser_->get();
  std::string summary;
  summary.reserve(headers_json_.size() + request.target().size() + 96);
  summary += "{\"method\":";
  append_json_string(summary, request.method_string());
  summary += ",\"target\":";
  append_json_string(summary, request.target());
  summary += ",\"headers\":";
  summary += headers_json_;
  summary += ",\"body_bytes\":";
  append_number(summary, body_bytes_);
  summary += '}';
  config_.log->record(std::move(summary));
}

asio::awaitable<Connection::Next> Connection::respond() {
  std::string_view rest = path_;
  if (rest == "/__health") co_return co_await send_response(200, "text/plain", "ok");
  if (rest == "/__requests") co_return co_await respond_requests();
  if (consume_prefix(rest, "/status/")) co_return co_await respond_status(rest);
  if (consume_prefix(rest, "/bytes/")) {
    const auto size = parse_decimal(rest);
    if (!size) co_return co_await send_response(400, "text/plain", "bad byte count\n");
    co_return co_await respond_bytes(*size, has_query_parameter(query_, "chunked=1"));
  }
  if (consume_prefix(rest, "/delay/")) {
    const auto milliseconds = parse_decimal(rest);
    if (!milliseconds) co_return co_await send_response(400, "text/plain", "bad delay\n");
    co_return co_await respond_delay(*milliseconds);
  }
  if (rest == "/close-mid-response") co_return co_await respond_close_mid_response();
  if (rest == "/reset") {
    reset_close();
    co_return Next::kDone;
  }
  if (rest == "/garbage") co_return co_await respond_garbage();
  if (rest == "/ws") {
    co_return co_await send_response(426, "text/plain", "websocket upgrade required\n");
  }
  co_return co_await respond_echo();
}

// The default route: {"backend","method","target","version","headers" (name/value pairs in
// received order, trailers last),"body_bytes","body_sha256","connection_requests"}.
asio::awaitable<Connection::Next> Connection::respond_echo() {
  const auto& request = parser_->get();
  body_.clear();
  body_ += "{\"backend\":";
  body_ += config_.name_json;
  body_ += ",\"method\":";
  append_json_string(body_, request.method_string());
  body_ += ",\"target\":";
  append_json_string(body_, request.target());
  body_ += version_ == 10 ? ",\"version\":\"1.0\"" : ",\"version\":\"1.1\"";
  body_ += ",\"headers\":";
  body_ += headers_json_;
  body_ += ",\"body_bytes\":";
  append_number(body_, body_bytes_);
  body_ += ",\"body_sha256\":\"";
  digest_.append_hex(body_);
  body_ += "\",\"connection_requests\":";
  append_number(body_, requests_);
  body_ += '}';
  co_return co_await send_response(200, "application/json", body_);
}

asio::awaitable<Connection::Next> Connection::respond_status(std::string_view code) {
  const auto status = parse_decimal(code);
  // 1xx would be an interim response; anything outside 200-599 is not a status clients parse.
  if (!status || *status < 200 || *status > 599) {
    co_return co_await send_response(400, "text/plain", "status must be 200-599\n");
  }
  body_.assign("status ");
  append_number(body_, *status);
  body_ += '\n';
  co_return co_await send_response(static_cast<unsigned>(*status), "text/plain", body_);
}

// Streams the pattern in kPieceSize writes, each awaited before the next: the socket's send
// buffer is the only backpressure needed and memory does not depend on `size`.
asio::awaitable<Connection::Next> Connection::respond_bytes(std::uint64_t size, bool chunked) {
  const bool keep_alive = parser_->get().keep_alive();
  chunked = chunked && version_ >= 11;  // RFC 9112 section 7.1: never chunked to 1.0
  begin_head(200);
  head_ += "Content-Type: application/octet-stream\r\n";
  if (chunked) {
    head_ += "Transfer-Encoding: chunked\r\n";
  } else {
    head_ += "Content-Length: ";
    append_number(head_, size);
    head_ += "\r\n";
  }
  end_head(keep_alive);
  if (head_method_) {
    if (!co_await write(asio::buffer(head_))) co_return Next::kDone;
    co_return keep_alive ? Next::kKeepAlive : Next::kClose;
  }

  const auto& pattern = body_pattern();
  static constexpr std::string_view kCrlf = "\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  char chunk_line[24];
  std::uint64_t offset = 0;
  bool head_sent = false;
  while (offset < size || !head_sent) {
    const auto piece = static_cast<std::size_t>(std::min<std::uint64_t>(kPieceSize, size - offset));
    std::size_t chunk_line_size = 0;
    if (chunked && piece != 0) {
      const auto result = std::to_chars(chunk_line, chunk_line + sizeof chunk_line, piece, 16);
      chunk_line_size = static_cast<std::size_t>(result.ptr - chunk_line);
      chunk_line[chunk_line_size++] = '\r';
      chunk_line[chunk_line_size++] = '\n';
    }
    const bool last = offset + piece == size;
    const std::array<asio::const_buffer, 5> buffers = {
        asio::buffer(head_.data(), head_sent ? 0 : head_.size()),
        asio::buffer(chunk_line, chunk_line_size),
        asio::buffer(pattern.data() + offset % 26, piece),
        asio::buffer(kCrlf.data(), chunk_line_size != 0 ? kCrlf.size() : 0),
        asio::buffer(kLastChunk.data(), chunked && last ? kLastChunk.size() : 0),
    };
    if (!co_await write(buffers)) co_return Next::kDone;
    head_sent = true;
    offset += piece;
  }
  co_return keep_alive ? Next::kKeepAlive : Next::kClose;
}

asio::awaitable<Connection::Next> Connection::respond_delay(std::uint64_t milliseconds) {
  asio::steady_timer timer(socket_.get_executor());
  timer.expires_after(std::chrono::milliseconds(std::min(milliseconds, kMaxDelayMs)));
  auto [ec] = co_await timer.async_wait(kNoThrow);
  if (ec) co_return Next::kDone;
  co_return co_await respond_echo();
}

asio::awaitable<Connection::Next> Connection::respond_requests() {
  const auto method = parser_->get().method();
  if (method == http::verb::get || method == http::verb::head) {
    body_ = config_.log->to_json();
    co_return co_await send_response(200, "application/json", body_);
  }
  if (method == http::verb::delete_) {
    body_.assign("{\"cleared\":");
    append_number(body_, config_.log->clear());
    body_ += '}';
    co_return co_await send_response(200, "application/json", body_);
  }
  co_return co_await send_response(405, "text/plain", "GET or DELETE\n");
}

asio::awaitable<Connection::Next> Connection::respond_close_mid_response() {
  begin_head(200);
  head_ += "Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n";
  end_head(true);
  const std::array<asio::const_buffer, 2> buffers = {
      asio::buffer(head_), asio::buffer(body_pattern().data(), kCloseMidResponseBytes)};
  if (!co_await write(buffers)) co_return Next::kDone;
  co_return Next::kClose;
}

asio::awaitable<Connection::Next> Connection::respond_garbage() {
  static constexpr std::string_view kGarbage = "this is not http\r\n\r\n";
  if (!co_await write(asio::buffer(kGarbage.data(), kGarbage.size()))) co_return Next::kDone;
  co_return Next::kClose;
}

asio::awaitable<void> Connection::serve_websocket() {
  websocket::stream<tcp::socket> ws(std::move(socket_));
  ws.set_option(websocket::stream_base::decorator(
      [this](websocket::response_type& response) { response.set("X-Backend", config_.name); }));
  ws.read_message_max(kWebSocketMessageLimit);
  // Bytes a client pipelined after its upgrade request (before our 101) would be in buffer_
  // and are not handed to the WebSocket stream; RFC 6455 section 4.1 forbids sending them.
  if (auto [ec] = co_await ws.async_accept(parser_->get(), kNoThrow); ec) co_return;
  beast::flat_buffer message;
  for (;;) {
    // Ends with websocket::error::closed after Beast answered the peer's close frame.
    auto [read_ec, read_size] = co_await ws.async_read(message, kNoThrow);
    if (read_ec) co_return;
    ws.text(ws.got_text());
    auto [write_ec, written] = co_await ws.async_write(message.data(), kNoThrow);
    if (write_ec) co_return;
    message.consume(message.size());
  }
}

// Sends a complete response. 204 and 304 never carry a body (and 204 no Content-Length,
// RFC 9110 section 8.6); HEAD gets the headers GET would get.
asio::awaitable<Connection::Next> Connection::send_response(unsigned status,
                                                            std::string_view content_type,
                                                            std::string_view body,
                                                            bool keep_alive) {
  const bool no_content = status == 204 || status == 304;
  begin_head(status);
  if (!no_content) {
    head_ += "Content-Type: ";
    head_ += content_type;
    head_ += "\r\nContent-Length: ";
    append_number(head_, body.size());
    head_ += "\r\n";
  }
  end_head(keep_alive);
  const bool send_body = !no_content && !head_method_;
  const std::array<asio::const_buffer, 2> buffers = {
      asio::buffer(head_), asio::buffer(body.data(), send_body ? body.size() : 0)};
  if (!co_await write(buffers)) co_return Next::kDone;
  co_return keep_alive ? Next::kKeepAlive : Next::kClose;
}

void Connection::begin_head(unsigned status) {
  // Always HTTP/1.1: RFC 9110 section 6.2, a server sends its own version; 1.0 clients are
  // served within what 1.0 understands (no chunking, explicit keep-alive).
  head_.assign("HTTP/1.1 ");
  append_number(head_, status);
  head_ += ' ';
  head_ += reason_phrase(status);
  head_ += "\r\nX-Backend: ";
  head_ += config_.name;
  head_ += "\r\n";
}

void Connection::end_head(bool keep_alive) {
  if (!keep_alive) {
    head_ += "Connection: close\r\n";
  } else if (version_ == 10) {
    head_ += "Connection: keep-alive\r\n";
  }
  head_ += "\r\n";
}

template <class Buffers>
asio::awaitable<bool> Connection::write(const Buffers& buffers) {
  auto [ec, written] = co_await asio::async_write(socket_, buffers, kNoThrow);
  co_return !ec;
}

asio::awaitable<void> Connection::linger_close() {
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  asio::steady_timer deadline(socket_.get_executor());
  deadline.expires_after(kLingerTime);
  for (std::size_t drained = 0; drained < kLingerMaxBytes;) {
    auto result =
        co_await (socket_.async_read_some(asio::buffer(body_buffer_.get(), kPieceSize), kNoThrow) ||
                  deadline.async_wait(kNoThrow));
    if (result.index() != 0) break;
    auto [ec, size] = std::get<0>(result);
    if (ec) break;
    drained += size;
  }
  socket_.close(ignored);
}

void Connection::reset_close() {
  error_code ignored;
  socket_.set_option(asio::socket_base::linger(true, 0), ignored);
  socket_.close(ignored);
}

}  // namespace

asio::awaitable<void> serve_connection(tcp::socket socket, const SessionConfig& config) {
  Connection connection(std::move(socket), config);
  co_await connection.run();
}

}  // namespace portico::test_backend
