#include "ingress/upstream_http2.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ingress/access_log.hpp"
#include "ingress/http2_connection.hpp"
#include "ingress/http2_stream.hpp"
#include "ingress/upstream_exchange.hpp"
#include "ingress/worker.hpp"

namespace portico::ingress {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kReadPiece = 16 * 1024;
// A stream's receive window: what the upstream may send unasked fits in the client stream's
// ring (Http2Stream::response_body), which holds 256 KiB.
constexpr std::uint32_t kStreamWindow = 256 * 1024;
// The connection's: every stream of a full session may have its window in flight at once, so
// one slow client does not stall the calls of others on the same connection.
constexpr std::int32_t kConnectionWindow = 100 * kStreamWindow;

enum GrpcCode : int { kDeadlineExceeded = 4, kUnavailable = 14 };

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

using Fields = std::vector<std::pair<std::string, std::string>>;

class Call;

}  // namespace

// One HTTP/2 connection to an endpoint and its nghttp2 client session, shared by the calls of
// every client connection on the worker (up to kMaxStreams at once). Two coroutines drive it: the
// reader feeds what arrives to the session, whose callbacks hand each stream's frames to its
// Call (the stream's user data); the writer sends what the session has to send whenever a call
// or the reader wakes it. Owned by the endpoint's list, its coroutines and its calls; when the
// connection fails or idles out, it leaves the list and tells its calls.
class Http2UpstreamSession : public std::enable_shared_from_this<Http2UpstreamSession> {
 public:
  static constexpr std::size_t kMaxStreams = 100;

  Http2UpstreamSession(Worker& worker, UpstreamConnection connection, bool tls)
      : worker_(worker),
        connection_(std::move(connection)),
        tls_(tls),
        signal_(worker.executor()),
        last_active_(CoarseClock::now()) {}
  ~Http2UpstreamSession() {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }
  Http2UpstreamSession(const Http2UpstreamSession&) = delete;
  Http2UpstreamSession& operator=(const Http2UpstreamSession&) = delete;

  // TLS handshake (GRPCS: ALPN h2, SNI for an ExternalName target) within the connect timeout,
  // the session and its SETTINGS; starts the reader and the writer. False on failure.
  Awaitable<bool> open();
  // Takes another call now: alive, not going away, below its stream limit and the peer's.
  bool usable() const;
  const UpstreamTarget& target() const { return *connection_.target; }
  const std::shared_ptr<const UpstreamTarget>& target_ptr() const { return connection_.target; }
  bool tls() const { return tls_; }

  // ---- for calls
  // Submits a request whose frames go to `call`; the stream id, or a negative nghttp2 error.
  std::int32_t submit(Call& call, std::span<const nghttp2_nv> fields, bool with_body);
  // The call is done with stream `id`: its frames are dropped from now on, and the stream is
  // reset unless it is `closed` already.
  void detach(Call& call, std::int32_t id, bool closed);
  void consume(std::int32_t id, std::size_t n) {
    if (!dead_) nghttp2_session_consume(session_, id, n);
  }
  void resume(std::int32_t id) {
    if (!dead_) nghttp2_session_resume_data(session_, id);
  }
  void wake_writer() {
    if (writer_waiting_) signal_.cancel();
  }
  bool dead() const { return dead_; }
  // The connection is over: closed, removed from the endpoint's list, its calls told.
  void fail();

 private:
  // Each holds the session while it runs.
  Awaitable<void> read_loop(std::shared_ptr<Http2UpstreamSession> alive);
  Awaitable<void> write_loop(std::shared_ptr<Http2UpstreamSession> alive);
  // The call of stream `id`, null once it detached. Looked up by id, not kept in the stream's
  // user data: a call may detach before nghttp2 opens its stream (the HEADERS not sent yet), and
  // its frames must not reach it after.
  Call* call_of(std::int32_t id) const {
    for (const auto& [stream_id, call] : calls_) {
      if (stream_id == id) return call;
    }
    return nullptr;
  }
  Socket& socket() { return *connection_.socket; }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                       std::uint8_t, void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                                const std::uint8_t* data, std::size_t length, void* self);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                             void* self);
  static ssize_t read_request(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buffer,
                              std::size_t length, std::uint32_t* data_flags, nghttp2_data_source*,
                              void* self);

  Worker& worker_;
  UpstreamConnection connection_;
  bool tls_;
  std::optional<asio::ssl::stream<Socket&>> tls_stream_;
  nghttp2_session* session_ = nullptr;
  std::vector<std::pair<std::int32_t, Call*>> calls_;  // attached now, by stream id
  Timer signal_;
  bool writer_waiting_ = false;
  bool dead_ = false;
  std::chrono::steady_clock::time_point last_active_;  // a call attached or detached
  std::vector<std::uint8_t> out_;
  std::vector<std::uint8_t> in_;
};

namespace {

// One call: a client stream relayed on a stream of a shared Http2UpstreamSession. Lives in the
// frame of relay_to_http2_upstream, which detaches it from the session before it goes.
class Call {
 public:
  Call(Http2Connection& connection, Http2Stream& stream, std::chrono::milliseconds read_timeout)
      : connection_(connection), stream_(stream), read_timeout_(read_timeout) {}
  ~Call() { detach(); }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  // Submits the request on `session`. False when the session refused it.
  bool start(std::shared_ptr<Http2UpstreamSession> session, std::string_view host);
  // Relays until the upstream's stream is closed, the session fails, the client's stream is
  // gone or the read timeout passes.
  Awaitable<void> run();
  // After run: answers or ends the client's stream as the call's outcome says; returns the HTTP
  // status to count.
  unsigned finish();
  void detach();

  void answer(unsigned http_status, int grpc_status, std::string_view message);
  std::uint64_t bytes_in() const { return request_bytes_; }
  std::uint64_t bytes_out() const { return ring_put_; }

  // ---- from the session's callbacks (never throw)
  void on_header(const nghttp2_frame& frame, std::string_view name, std::string_view value);
  void on_headers_end(bool end_stream);
  void on_data(const std::uint8_t* data, std::size_t length, bool& fits);
  void on_data_end();
  void on_close(std::uint32_t error_code);
  void on_session_failed() {
    broken_ = true;
    stream_.wake();
  }
  ssize_t read_request(std::uint8_t* buffer, std::size_t length, std::uint32_t* data_flags);

 private:
  void submit_response_header(bool end_stream);
  void set_trailers(const Fields& fields);

  Http2Connection& connection_;
  Http2Stream& stream_;
  std::chrono::milliseconds read_timeout_;
  std::shared_ptr<Http2UpstreamSession> session_;
  std::int32_t id_ = -1;

  Fields response_fields_;
  Fields trailer_fields_;
  unsigned response_status_ = 0;
  bool response_started_ = false;   // HEADERS submitted to the client
  bool response_complete_ = false;  // END_STREAM from the upstream
  bool upstream_closed_ = false;    // the session closed the upstream stream
  std::uint32_t upstream_error_ = NGHTTP2_NO_ERROR;
  bool broken_ = false;     // the session's connection failed
  bool timed_out_ = false;  // nothing from the upstream for read_timeout_
  bool request_deferred_ = false;
  std::size_t request_offset_ = 0;  // of stream_.request_body taken into DATA frames
  std::uint64_t request_bytes_ = 0;
  std::uint64_t ring_put_ = 0;    // response body bytes put into the ring
  std::uint64_t ring_acked_ = 0;  // of those, returned to the upstream's window
  std::chrono::steady_clock::time_point last_read_;
};

}  // namespace

// ---- Http2UpstreamSession

Awaitable<bool> Http2UpstreamSession::open() {
  if (tls_) {
    tls_stream_.emplace(socket(), upstream_tls_context());
    SSL* ssl = tls_stream_->native_handle();
    // SNI only for a name we dialled (ExternalName): an endpoint address has no name of its
    // own, and ingress-nginx sends none by default (proxy-ssl-server-name off).
    if (!target().dns_name.empty()) SSL_set_tlsext_host_name(ssl, target().dns_name.c_str());
    static constexpr unsigned char kAlpn[] = {2, 'h', '2'};
    SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn);
    // The handshake counts against the connect timeout: expiry closes the socket.
    Timer timer(worker_.executor(), worker_.config().connect_timeout);
    auto self = shared_from_this();
    timer.async_wait([self](const boost::system::error_code& ec) {
      if (!ec) self->connection_.close();
    });
    auto [ec] =
        co_await tls_stream_->async_handshake(asio::ssl::stream_base::client, kAwaitNoThrow);
    timer.cancel();
    if (ec) co_return false;
    const unsigned char* selected = nullptr;
    unsigned selected_length = 0;
    SSL_get0_alpn_selected(ssl, &selected, &selected_length);
    if (selected_length != 2 || std::memcmp(selected, "h2", 2) != 0) co_return false;
  }

  struct Setup {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_option* option = nullptr;
    Setup() {
      if (nghttp2_session_callbacks_new(&callbacks) != 0 || nghttp2_option_new(&option) != 0)
        return;
      nghttp2_session_callbacks_set_on_header_callback(callbacks, &on_header);
      nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &on_frame_recv);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &on_data_chunk_recv);
      nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &on_stream_close);
      // The upstream gets window back as each client takes its body, not as it arrives.
      nghttp2_option_set_no_auto_window_update(option, 1);
    }
    ~Setup() {
      nghttp2_session_callbacks_del(callbacks);
      nghttp2_option_del(option);
    }
  };
  static const Setup setup;
  if (setup.callbacks == nullptr || setup.option == nullptr) co_return false;
  if (nghttp2_session_client_new2(&session_, setup.callbacks, this, setup.option) != 0)
    co_return false;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0 ||
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) != 0)
    co_return false;
  asio::co_spawn(worker_.executor(), read_loop(shared_from_this()), asio::detached);
  asio::co_spawn(worker_.executor(), write_loop(shared_from_this()), asio::detached);
  co_return true;
}

bool Http2UpstreamSession::usable() const {
  return !dead_ && session_ != nullptr && calls_.size() < kMaxStreams &&
         nghttp2_session_check_request_allowed(session_) != 0 &&
         calls_.size() <
             nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

std::int32_t Http2UpstreamSession::submit(Call& call, std::span<const nghttp2_nv> fields,
                                          bool with_body) {
  if (dead_) return NGHTTP2_ERR_INVALID_STATE;
  nghttp2_data_provider provider{};
  provider.read_callback = &read_request;
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, fields.data(), fields.size(),
                                                 with_body ? &provider : nullptr, nullptr);
  if (id > 0) {
    calls_.emplace_back(id, &call);
    last_active_ = CoarseClock::now();
    wake_writer();
  }
  return id;
}

void Http2UpstreamSession::detach(Call& call, std::int32_t id, bool closed) {
  std::erase_if(calls_, [&call](const auto& entry) { return entry.second == &call; });
  last_active_ = CoarseClock::now();
  if (dead_ || id <= 0 || closed) return;
  // Still open: the client went away or the call timed out; the upstream stops working on it.
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  wake_writer();
}

void Http2UpstreamSession::fail() {
  if (dead_) return;
  dead_ = true;
  connection_.close();
  signal_.cancel();
  std::erase_if(target().endpoint->http2_sessions,
                [this](const auto& session) { return session.get() == this; });
  for (const auto& [id, call] : calls_) call->on_session_failed();
}

Awaitable<void> Http2UpstreamSession::read_loop(std::shared_ptr<Http2UpstreamSession> /*alive*/) {
  in_.resize(kReadPiece);
  while (!dead_) {
    boost::system::error_code ec;
    std::size_t n = 0;
    if (tls_stream_) {
      auto [read_ec, read_n] =
          co_await tls_stream_->async_read_some(asio::buffer(in_), kAwaitNoThrow);
      ec = read_ec;
      n = read_n;
    } else {
      auto [read_ec, read_n] = co_await socket().async_read_some(asio::buffer(in_), kAwaitNoThrow);
      ec = read_ec;
      n = read_n;
    }
    if (ec || dead_ || nghttp2_session_mem_recv(session_, in_.data(), n) < 0) break;
    if (nghttp2_session_want_write(session_) != 0) wake_writer();
  }
  fail();
}

Awaitable<void> Http2UpstreamSession::write_loop(std::shared_ptr<Http2UpstreamSession> /*alive*/) {
  const auto idle_timeout = worker_.config().upstream_idle_timeout;
  while (!dead_) {
    out_.clear();
    for (;;) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        fail();
        co_return;
      }
      if (n == 0) break;
      out_.insert(out_.end(), data, data + n);
    }
    if (!out_.empty()) {
      boost::system::error_code ec;
      if (tls_stream_) {
        auto [write_ec, n] =
            co_await asio::async_write(*tls_stream_, asio::buffer(out_), kAwaitNoThrow);
        ec = write_ec;
      } else {
        auto [write_ec, n] =
            co_await asio::async_write(socket(), asio::buffer(out_), kAwaitNoThrow);
        ec = write_ec;
      }
      if (ec) break;
      continue;  // more may be ready meanwhile
    }
    if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0)
      break;  // GOAWAY both ways, nothing left
    const auto now = CoarseClock::now();
    if (calls_.empty() && now - last_active_ >= idle_timeout) break;  // idle: closed
    signal_.expires_after(calls_.empty() ? idle_timeout : std::chrono::milliseconds(60'000));
    writer_waiting_ = true;
    co_await signal_.async_wait(kAwaitNoThrow);
    writer_waiting_ = false;
  }
  fail();
}

int Http2UpstreamSession::on_header(nghttp2_session*, const nghttp2_frame* frame,
                                    const std::uint8_t* name, std::size_t name_length,
                                    const std::uint8_t* value, std::size_t value_length,
                                    std::uint8_t, void* self) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Call* call = static_cast<Http2UpstreamSession*>(self)->call_of(frame->hd.stream_id);
  if (call == nullptr) return 0;
  try {
    call->on_header(*frame, {reinterpret_cast<const char*>(name), name_length},
                    {reinterpret_cast<const char*>(value), value_length});
  } catch (...) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

int Http2UpstreamSession::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  Call* call = static_cast<Http2UpstreamSession*>(self)->call_of(frame->hd.stream_id);
  if (call == nullptr) return 0;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  try {
    if (frame->hd.type == NGHTTP2_HEADERS) {
      call->on_headers_end(end_stream);
    } else if (end_stream) {
      call->on_data_end();
    }
  } catch (...) {
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

int Http2UpstreamSession::on_data_chunk_recv(nghttp2_session* session, std::uint8_t,
                                             std::int32_t stream_id, const std::uint8_t* data,
                                             std::size_t length, void* self) {
  Call* call = static_cast<Http2UpstreamSession*>(self)->call_of(stream_id);
  if (call == nullptr) {
    // Nobody reads it (a detached call): the connection's window must not shrink for it.
    nghttp2_session_consume(session, stream_id, length);
    return 0;
  }
  bool fits = true;
  call->on_data(data, length, fits);
  if (!fits) {
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_FLOW_CONTROL_ERROR);
    nghttp2_session_consume(session, stream_id, length);
  }
  return 0;
}

int Http2UpstreamSession::on_stream_close(nghttp2_session*, std::int32_t stream_id,
                                          std::uint32_t error_code, void* self) {
  auto& s = *static_cast<Http2UpstreamSession*>(self);
  if (Call* call = s.call_of(stream_id)) call->on_close(error_code);
  return 0;
}

ssize_t Http2UpstreamSession::read_request(nghttp2_session*, std::int32_t stream_id,
                                           std::uint8_t* buffer, std::size_t length,
                                           std::uint32_t* data_flags, nghttp2_data_source*,
                                           void* self) {
  // By stream id, never the data source: a call that detached is gone.
  Call* call = static_cast<Http2UpstreamSession*>(self)->call_of(stream_id);
  if (call == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return call->read_request(buffer, length, data_flags);
}

namespace {

// ---- Call

bool Call::start(std::shared_ptr<Http2UpstreamSession> session, std::string_view host) {
  session_ = std::move(session);
  std::vector<nghttp2_nv> nv;
  nv.reserve(stream_.request.size() + 6);
  nv.push_back(make_nv(":method", stream_.method));
  nv.push_back(make_nv(":scheme", session_->tls() ? "https" : "http"));
  nv.push_back(make_nv(":authority", host));
  nv.push_back(make_nv(":path", stream_.path));
  // The client's fields as received (te: trailers among them); connection-specific ones were
  // dropped on arrival.
  for (std::size_t i = 0; i < stream_.request.size(); ++i) {
    const auto field = stream_.request[i];
    nv.push_back(make_nv(field.name, field.value));
  }
  if (!stream_.cookie.empty()) nv.push_back(make_nv("cookie", stream_.cookie));
  const bool with_body = !stream_.request_complete || !stream_.request_body.empty();
  last_read_ = CoarseClock::now();
  id_ = session_->submit(*this, nv, with_body);
  return id_ > 0;
}

void Call::detach() {
  if (!session_) return;
  session_->detach(*this, id_, upstream_closed_);
  session_.reset();
}

Awaitable<void> Call::run() {
  for (;;) {
    if (stream_.closed || broken_ || upstream_closed_) co_return;
    // Window back to the upstream for what the client took out of the ring.
    const std::uint64_t drained = ring_put_ - stream_.response_body.size();
    bool wake = false;
    if (drained > ring_acked_) {
      session_->consume(id_, drained - ring_acked_);
      ring_acked_ = drained;
      wake = true;
    }
    if (request_deferred_ &&
        (stream_.request_body.size() > request_offset_ || stream_.request_complete)) {
      request_deferred_ = false;
      session_->resume(id_);
      wake = true;
    }
    if (wake) session_->wake_writer();
    // proxy-read-timeout: the time since the upstream last sent anything on this call
    // (ingress-nginx's grpc_read_timeout), whether or not the call is waiting for the client.
    const auto now = CoarseClock::now();
    if (now - last_read_ >= read_timeout_) {
      timed_out_ = true;
      co_return;
    }
    co_await stream_.wait(
        std::chrono::duration_cast<std::chrono::milliseconds>(read_timeout_ - (now - last_read_)) +
        std::chrono::milliseconds(10));
  }
}

void Call::answer(unsigned http_status, int grpc_status, std::string_view message) {
  if (stream_.closed || stream_.response_submitted) return;
  connection_.worker().metrics().count_response(http_status);
  const std::string code = std::to_string(grpc_status);
  const nghttp2_nv nv[] = {
      make_nv(":status", "200"),    make_nv("content-type", "application/grpc"),
      make_nv("grpc-status", code), make_nv("grpc-message", message),
      make_nv("server", "portico"),
  };
  connection_.submit_response(stream_, nv, false);
}

unsigned Call::finish() {
  // The client may have its whole response, and the stream be closed, already.
  if (response_complete_) return response_status_;
  if (stream_.closed) return 499;  // the client went away (nginx's code for it)
  if (!response_started_) {
    if (timed_out_) {
      answer(504, kDeadlineExceeded,
             "portico: no response from the upstream within proxy-read-timeout");
      return 504;
    }
    answer(502, kUnavailable,
           upstream_closed_ ? "portico: the upstream reset the call"
                            : "portico: the upstream connection failed before a response");
    return 502;
  }
  if (timed_out_ && !stream_.response_eof) {
    // The header went out; a gRPC client still reads a status from trailers after the body.
    set_trailers({{"grpc-status", std::to_string(kDeadlineExceeded)},
                  {"grpc-message", "portico: upstream read timed out (proxy-read-timeout)"}});
    return response_status_;
  }
  connection_.reset(stream_, upstream_error_ != NGHTTP2_NO_ERROR
                                 ? upstream_error_
                                 : static_cast<std::uint32_t>(NGHTTP2_INTERNAL_ERROR));
  return response_status_;
}

void Call::submit_response_header(bool end_stream) {
  response_started_ = true;
  std::vector<nghttp2_nv> nv;
  nv.reserve(response_fields_.size());
  for (const auto& [name, value] : response_fields_) {
    if (name == ":status") {
      response_status_ = 0;
      for (char c : value) response_status_ = response_status_ * 10 + (c - '0');
    }
    nv.push_back(make_nv(name, value));
  }
  if (response_status_ == 0) response_status_ = 502;
  connection_.worker().metrics().count_response(response_status_);
  if (end_stream) stream_.response_eof = true;
  connection_.submit_response(stream_, nv, !end_stream);
}

void Call::set_trailers(const Fields& fields) {
  stream_.trailer_fields = fields;
  stream_.trailer_nv.clear();
  for (const auto& [name, value] : stream_.trailer_fields)
    stream_.trailer_nv.push_back(make_nv(name, value));
  stream_.response_eof = true;
  connection_.resume_body(stream_, 0);
}

void Call::on_header(const nghttp2_frame& frame, std::string_view name, std::string_view value) {
  last_read_ = CoarseClock::now();
  // Response fields (and those of a final response after 1xx interim ones, which are not
  // relayed), then trailer fields.
  if (frame.headers.cat == NGHTTP2_HCAT_RESPONSE || !response_started_) {
    response_fields_.emplace_back(name, value);
  } else {
    trailer_fields_.emplace_back(name, value);
  }
}

void Call::on_headers_end(bool end_stream) {
  if (!response_started_) {
    const bool interim = !response_fields_.empty() && response_fields_.front().first == ":status" &&
                         response_fields_.front().second.starts_with('1');
    if (interim) {
      response_fields_.clear();
    } else {
      submit_response_header(end_stream);
    }
  } else if (end_stream) {
    set_trailers(trailer_fields_);
  }
  if (end_stream) response_complete_ = true;
  stream_.wake();
}

void Call::on_data(const std::uint8_t* data, std::size_t length, bool& fits) {
  last_read_ = CoarseClock::now();
  if (stream_.closed) {
    session_->consume(id_, length);
    return;
  }
  BodyRing& ring = stream_.response_body;
  std::size_t added = 0;
  // The stream's window is the ring's size and goes back only as the ring drains, so the data
  // fits; an upstream sending past its window is a protocol error nghttp2 catches.
  while (added < length && ring.room() > 0) {
    std::size_t region_length = 0;
    char* region = ring.writable(length - added, region_length);
    if (region_length == 0) break;
    std::memcpy(region, data + added, region_length);
    ring.commit(region_length);
    added += region_length;
  }
  ring_put_ += added;
  ring_acked_ += length - added;  // what did not fit is dropped, its window returned
  fits = added == length;
  connection_.resume_body(stream_, added);
}

void Call::on_data_end() {
  response_complete_ = true;
  stream_.response_eof = true;
  connection_.resume_body(stream_, 0);
  stream_.wake();
}

void Call::on_close(std::uint32_t error_code) {
  upstream_closed_ = true;
  upstream_error_ = error_code;
  stream_.wake();
}

ssize_t Call::read_request(std::uint8_t* buffer, std::size_t length, std::uint32_t* data_flags) {
  std::vector<char>& body = stream_.request_body;
  const std::size_t n = std::min(length, body.size() - request_offset_);
  std::memcpy(buffer, body.data() + request_offset_, n);
  request_offset_ += n;
  if (request_offset_ == body.size()) {
    body.clear();
    request_offset_ = 0;
  }
  // The client may send as much more as went into frames.
  if (n > 0) connection_.consume(stream_, n);
  request_bytes_ += n;
  if (body.empty() && stream_.request_complete) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  } else if (n == 0) {
    request_deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

}  // namespace

asio::ssl::context& upstream_tls_context() {
  static asio::ssl::context context = [] {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    // proxy-ssl-verify is off by default in ingress-nginx: the upstream's certificate is not
    // checked (the endpoints of a Service rarely hold a certificate for the address we dial).
    ctx.set_verify_mode(asio::ssl::verify_none);
    return ctx;
  }();
  return context;
}

namespace {

// The access log line of a call (when the log is on): as the HTTP/2 relay writes it, with the
// HTTP status the outcome stands for.
struct CallLog {
  Worker& worker;
  std::uint32_t series;  // the request's label set (metrics)
  const Http2Stream& stream;
  const routing::RouteTable& table;
  const routing::RouteMatch& match;
  std::string_view host;
  std::string_view client;
  bool on = false;
  std::chrono::steady_clock::time_point started{};
  std::chrono::system_clock::time_point started_wall{};
  std::chrono::steady_clock::time_point upstream_ready{};
  std::string_view upstream{};  // "address:port" of the endpoint

  void write(unsigned status, std::uint64_t bytes_in, std::uint64_t bytes_out) const {
    if (!on) return;
    const routing::Route& route = table.routes()[match.route];
    const routing::IngressRef& ingress = table.ingress_of(route);
    const std::string_view path = std::string_view(stream.path).substr(0, stream.path.find('?'));
    const auto now = std::chrono::steady_clock::now();
    const auto since = [&](std::chrono::steady_clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::microseconds>(now - t);
    };
    std::string_view request_id;  // the client's X-Request-ID, if any: passed on unchanged
    for (std::size_t i = 0; i < stream.request.size() && request_id.empty(); ++i) {
      if (stream.request[i].name == "x-request-id") request_id = stream.request[i].value;
    }
    worker.finish_request(
        AccessRecord{started_wall, request_id, client, stream.method, host, path, "HTTP/2", status,
                     stream.header_bytes + bytes_in, bytes_out, since(started),
                     stream.upstream ? std::string_view(stream.upstream->target->key) : "",
                     upstream_ready == std::chrono::steady_clock::time_point{}
                         ? std::chrono::microseconds(0)
                         : since(upstream_ready),
                     ingress.namespace_, ingress.name, table.clusters()[match.cluster].service},
        series);
  }
};

}  // namespace

Awaitable<void> relay_to_http2_upstream(Http2Connection& connection, Http2Stream& stream,
                                        const routing::RouteTable& table,
                                        const routing::RouteMatch& match, std::string_view host,
                                        std::uint32_t series) {
  Worker& worker = connection.worker();
  const routing::Policy& policy = table.policy_of(table.routes()[match.route]);
  const bool tls = policy.backend_protocol == routing::BackendProtocol::kGrpcs;
  const std::chrono::milliseconds read_timeout =
      policy.read_timeout_s ? std::chrono::milliseconds(*policy.read_timeout_s * 1000)
                            : worker.config().upstream_timeout;
  Call call(connection, stream, read_timeout);
  CallLog log{worker, series, stream, table, match, host, connection.info().client_address};
  if (worker.config().records_requests()) {
    log.on = true;
    log.started = std::chrono::steady_clock::now();
    log.started_wall = std::chrono::system_clock::now();
  }

  // ---- a session: a shared connection to the endpoint with room for the call, else a new one
  UpstreamFailure failure = UpstreamFailure::kNone;
  std::shared_ptr<const UpstreamTarget> target;
  take_upstream(worker, table, match.cluster, /*fresh=*/true, target, failure);
  if (!target) {
    call.answer(503, kUnavailable, "portico: no ready endpoint");
    co_return log.write(503, 0, 0);
  }
  std::shared_ptr<Http2UpstreamSession> session;
  for (const auto& candidate : target->endpoint->http2_sessions) {
    if (candidate->tls() == tls && candidate->usable()) {
      session = candidate;
      break;
    }
  }
  if (!session) {
    std::optional<UpstreamConnection> connection =
        co_await connect_upstream(worker, table, match.cluster, target, failure);
    if (stream.closed) co_return;
    if (!connection) {
      const unsigned status = status_for(failure);
      call.answer(status, kUnavailable, "portico: upstream connect error or timeout");
      co_return log.write(status, 0, 0);
    }
    auto fresh = std::make_shared<Http2UpstreamSession>(worker, std::move(*connection), tls);
    const bool opened = co_await fresh->open();
    if (!opened) {
      fresh->fail();
      if (stream.closed) co_return;
      WorkerMetrics::add(worker.metrics().upstream_connect_errors);
      call.answer(502, kUnavailable,
                  tls ? "portico: TLS handshake with the upstream failed or did not select h2"
                      : "portico: could not start an HTTP/2 session with the upstream");
      co_return log.write(502, 0, 0);
    }
    if (fresh->target().endpoint->live) fresh->target().endpoint->http2_sessions.push_back(fresh);
    session = std::move(fresh);
  }
  log.upstream = session->target().key;
  InFlight in_flight;
  in_flight.start(session->target_ptr());
  if (stream.closed) co_return;
  if (!call.start(session, host)) {
    call.answer(502, kUnavailable, "portico: the upstream session refused the call");
    co_return log.write(502, 0, 0);
  }
  if (log.on) log.upstream_ready = std::chrono::steady_clock::now();

  // ---- the call: the session's reader hands it the upstream's frames; this coroutine returns
  // flow-control window and request body as the client moves, until the call ends
  co_await call.run();
  const unsigned status = call.finish();
  if (status == 504 || status == 502) {
    if (status == 504) WorkerMetrics::add(worker.metrics().upstream_timeouts);
    WorkerMetrics::add(worker.metrics().upstream_bad_responses);
  }
  WorkerMetrics::add(worker.metrics().bytes_in, call.bytes_in());
  WorkerMetrics::add(worker.metrics().bytes_out, call.bytes_out());
  log.write(status, call.bytes_in(), call.bytes_out());
  call.detach();
}

}  // namespace portico::ingress
