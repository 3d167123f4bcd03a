#include "ingress/upstream_http2.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
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
// The upstream connection's receive window: the stream's window is the ring's size, so what the
// upstream may send unasked always fits there; the connection carries one stream.
constexpr std::int32_t kConnectionWindow = 1 << 20;

enum GrpcCode : int { kDeadlineExceeded = 4, kUnavailable = 14 };

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

using Fields = std::vector<std::pair<std::string, std::string>>;

// One call: the upstream connection, its nghttp2 client session, and what the two coroutines
// (the writer, which is relay_to_http2_upstream itself, and the reader) share. Lives in the
// writer's frame; the writer waits for the reader to end before it returns.
class Call {
 public:
  Call(Http2Connection& connection, Http2Stream& stream, std::chrono::milliseconds read_timeout)
      : connection_(connection), stream_(stream), read_timeout_(read_timeout) {}
  ~Call() {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  // The handshake of GRPCS: SNI for an ExternalName target, ALPN h2. False on failure.
  Awaitable<bool> handshake(const UpstreamTarget& target);
  // Creates the session and submits SETTINGS and the request. False when nghttp2 refuses.
  bool start(std::string_view host);
  // Starts the reader: it feeds what the upstream sends to the session until the connection
  // fails or is closed.
  void start_reader(const Executor& executor);
  // Moves frames out until the call ends; returns when it did, or the client's stream is gone.
  Awaitable<void> write_loop();
  // After write_loop: answers or ends the client's stream as the call's outcome says; returns
  // the HTTP status to count.
  unsigned finish();
  // Closes the connection and waits for the reader to notice.
  Awaitable<void> close();

  void answer(unsigned http_status, int grpc_status, std::string_view message);
  std::uint64_t bytes_in() const { return request_bytes_; }
  std::uint64_t bytes_out() const { return ring_put_; }

 private:
  Awaitable<void> read_loop();
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                       std::uint8_t, void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                                const std::uint8_t* data, std::size_t length, void* self);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                             void* self);
  static ssize_t read_request(nghttp2_session*, std::int32_t, std::uint8_t* buffer,
                              std::size_t length, std::uint32_t* data_flags, nghttp2_data_source*,
                              void* self);
  void submit_response_header(bool end_stream);
  void set_trailers(const Fields& fields);
  Socket& socket() { return *stream_.upstream->socket; }

  Http2Connection& connection_;
  Http2Stream& stream_;
  std::chrono::milliseconds read_timeout_;
  std::optional<asio::ssl::stream<Socket&>> tls_;
  nghttp2_session* session_ = nullptr;
  std::int32_t id_ = -1;

  Fields response_fields_;
  Fields trailer_fields_;
  unsigned response_status_ = 0;
  bool response_started_ = false;   // HEADERS submitted to the client
  bool response_complete_ = false;  // END_STREAM from the upstream
  bool upstream_closed_ = false;    // nghttp2 closed the upstream stream
  std::uint32_t upstream_error_ = NGHTTP2_NO_ERROR;
  bool broken_ = false;     // the connection failed (read/write error, protocol error)
  bool timed_out_ = false;  // nothing from the upstream for read_timeout_
  bool reader_started_ = false;
  bool reader_done_ = false;  // read_loop returned
  bool request_deferred_ = false;
  std::size_t request_offset_ = 0;  // of stream_.request_body taken into DATA frames
  std::uint64_t request_bytes_ = 0;
  std::uint64_t ring_put_ = 0;    // response body bytes put into the ring
  std::uint64_t ring_acked_ = 0;  // of those, returned to the upstream's window
  std::chrono::steady_clock::time_point last_read_;
  std::vector<std::uint8_t> out_;
  std::vector<std::uint8_t> in_;
};

Awaitable<bool> Call::handshake(const UpstreamTarget& target) {
  tls_.emplace(socket(), upstream_tls_context());
  SSL* ssl = tls_->native_handle();
  // SNI only for a name we dialled (ExternalName): an endpoint address has no name of its own,
  // and ingress-nginx sends none by default (proxy-ssl-server-name off).
  if (!target.dns_name.empty()) SSL_set_tlsext_host_name(ssl, target.dns_name.c_str());
  static constexpr unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn);
  Deadline::Watch watch;
  connection_.deadline().arm(watch, socket(), read_timeout_);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, kAwaitNoThrow);
  Deadline::disarm(watch);
  if (ec) co_return false;
  const unsigned char* selected = nullptr;
  unsigned selected_length = 0;
  SSL_get0_alpn_selected(ssl, &selected, &selected_length);
  co_return selected_length == 2 && std::memcmp(selected, "h2", 2) == 0;
}

bool Call::start(std::string_view host) {
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
      // The upstream gets window back as the client takes the body, not as it arrives.
      nghttp2_option_set_no_auto_window_update(option, 1);
    }
    ~Setup() {
      nghttp2_session_callbacks_del(callbacks);
      nghttp2_option_del(option);
    }
  };
  static const Setup setup;
  if (setup.callbacks == nullptr || setup.option == nullptr) return false;
  if (nghttp2_session_client_new2(&session_, setup.callbacks, this, setup.option) != 0)
    return false;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
       static_cast<std::uint32_t>(std::min<std::size_t>(stream_.response_body.room(), 1 << 30))},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0 ||
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) != 0)
    return false;

  std::vector<nghttp2_nv> nv;
  nv.reserve(stream_.request.size() + 6);
  nv.push_back(make_nv(":method", stream_.method));
  nv.push_back(make_nv(":scheme", tls_ ? "https" : "http"));
  nv.push_back(make_nv(":authority", host));
  nv.push_back(make_nv(":path", stream_.path));
  // The client's fields as received (te: trailers among them); connection-specific ones were
  // dropped on arrival.
  for (std::size_t i = 0; i < stream_.request.size(); ++i) {
    const auto field = stream_.request[i];
    nv.push_back(make_nv(field.name, field.value));
  }
  if (!stream_.cookie.empty()) nv.push_back(make_nv("cookie", stream_.cookie));
  nghttp2_data_provider provider{};
  provider.read_callback = &read_request;
  const bool with_body = !stream_.request_complete || !stream_.request_body.empty();
  id_ = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                               with_body ? &provider : nullptr, nullptr);
  last_read_ = CoarseClock::now();
  return id_ > 0;
}

void Call::start_reader(const Executor& executor) {
  reader_started_ = true;
  asio::co_spawn(executor, read_loop(), [this](std::exception_ptr) {
    broken_ = true;
    reader_done_ = true;
    stream_.wake();
  });
}

Awaitable<void> Call::read_loop() {
  in_.resize(kReadPiece);
  for (;;) {
    boost::system::error_code ec;
    std::size_t n = 0;
    if (tls_) {
      auto [read_ec, read_n] = co_await tls_->async_read_some(asio::buffer(in_), kAwaitNoThrow);
      ec = read_ec;
      n = read_n;
    } else {
      auto [read_ec, read_n] = co_await socket().async_read_some(asio::buffer(in_), kAwaitNoThrow);
      ec = read_ec;
      n = read_n;
    }
    if (ec || stream_.closed) break;
    last_read_ = CoarseClock::now();
    if (nghttp2_session_mem_recv(session_, in_.data(), n) < 0) break;
    stream_.wake();
  }
}

Awaitable<void> Call::write_loop() {
  for (;;) {
    if (stream_.closed || broken_ || timed_out_) co_return;
    // Window back to the upstream for what the client took out of the ring.
    const std::uint64_t drained = ring_put_ - stream_.response_body.size();
    if (drained > ring_acked_ && !upstream_closed_) {
      nghttp2_session_consume(session_, id_, drained - ring_acked_);
      ring_acked_ = drained;
    }
    if (request_deferred_ &&
        (stream_.request_body.size() > request_offset_ || stream_.request_complete)) {
      request_deferred_ = false;
      nghttp2_session_resume_data(session_, id_);
    }
    out_.clear();
    for (;;) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        broken_ = true;
        co_return;
      }
      if (n == 0) break;
      out_.insert(out_.end(), data, data + n);
    }
    if (!out_.empty()) {
      boost::system::error_code ec;
      if (tls_) {
        auto [write_ec, n] = co_await asio::async_write(*tls_, asio::buffer(out_), kAwaitNoThrow);
        ec = write_ec;
      } else {
        auto [write_ec, n] =
            co_await asio::async_write(socket(), asio::buffer(out_), kAwaitNoThrow);
        ec = write_ec;
      }
      if (ec) broken_ = true;
      continue;  // more may have become ready meanwhile
    }
    if (upstream_closed_ || response_complete_) co_return;
    // proxy-read-timeout: the time since the upstream last sent anything (ingress-nginx's
    // grpc_read_timeout), whether or not the call is waiting for the client.
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

Awaitable<void> Call::close() {
  if (stream_.upstream) stream_.upstream->close();
  while (reader_started_ && !reader_done_) co_await stream_.wait(std::chrono::seconds(1));
  tls_.reset();
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
             "portico: no response from the upstream within "
             "proxy-read-timeout");
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

// ---- nghttp2 callbacks: never throw into nghttp2 (C).

int Call::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                    std::uint8_t, void* self) {
  auto& call = *static_cast<Call*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != call.id_) return 0;
  try {
    std::string field_name(reinterpret_cast<const char*>(name), name_length);
    std::string field_value(reinterpret_cast<const char*>(value), value_length);
    if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
      call.response_fields_.emplace_back(std::move(field_name), std::move(field_value));
    } else if (call.response_started_) {
      call.trailer_fields_.emplace_back(std::move(field_name), std::move(field_value));
    } else {
      // A final response after 1xx interim ones (which are not relayed).
      call.response_fields_.emplace_back(std::move(field_name), std::move(field_value));
    }
  } catch (...) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

int Call::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto& call = *static_cast<Call*>(self);
  if (frame->hd.stream_id != call.id_) return 0;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  try {
    if (frame->hd.type == NGHTTP2_HEADERS) {
      if (!call.response_started_) {
        const bool interim = !call.response_fields_.empty() &&
                             call.response_fields_.front().first == ":status" &&
                             call.response_fields_.front().second.starts_with('1');
        if (interim) {
          call.response_fields_.clear();
        } else {
          call.submit_response_header(end_stream);
        }
      } else if (end_stream) {
        call.set_trailers(call.trailer_fields_);
      }
    } else if (frame->hd.type == NGHTTP2_DATA && end_stream) {
      call.stream_.response_eof = true;
      call.connection_.resume_body(call.stream_, 0);
    }
  } catch (...) {
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  if (end_stream) call.response_complete_ = true;
  return 0;
}

int Call::on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                             const std::uint8_t* data, std::size_t length, void* self) {
  auto& call = *static_cast<Call*>(self);
  if (stream_id != call.id_ || call.stream_.closed) return 0;
  BodyRing& ring = call.stream_.response_body;
  std::size_t added = 0;
  // The stream's window is the ring's size and the ring only shrinks as window goes back, so
  // the data fits; an upstream sending past its window is a protocol error nghttp2 catches.
  while (added < length && ring.room() > 0) {
    std::size_t region_length = 0;
    char* region = ring.writable(length - added, region_length);
    if (region_length == 0) break;
    std::memcpy(region, data + added, region_length);
    ring.commit(region_length);
    added += region_length;
  }
  if (added < length) return NGHTTP2_ERR_CALLBACK_FAILURE;
  call.ring_put_ += added;
  call.connection_.resume_body(call.stream_, added);
  return 0;
}

int Call::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                          void* self) {
  auto& call = *static_cast<Call*>(self);
  if (stream_id != call.id_) return 0;
  call.upstream_closed_ = true;
  call.upstream_error_ = error_code;
  return 0;
}

ssize_t Call::read_request(nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t length,
                           std::uint32_t* data_flags, nghttp2_data_source*, void* self) {
  auto& call = *static_cast<Call*>(self);
  Http2Stream& stream = call.stream_;
  std::vector<char>& body = stream.request_body;
  const std::size_t n = std::min(length, body.size() - call.request_offset_);
  std::memcpy(buffer, body.data() + call.request_offset_, n);
  call.request_offset_ += n;
  if (call.request_offset_ == body.size()) {
    body.clear();
    call.request_offset_ = 0;
  }
  // The client may send as much more as went into frames.
  if (n > 0) call.connection_.consume(stream, n);
  call.request_bytes_ += n;
  if (body.empty() && stream.request_complete) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  } else if (n == 0) {
    call.request_deferred_ = true;
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
  const Http2Stream& stream;
  const routing::RouteTable& table;
  const routing::RouteMatch& match;
  std::string_view host;
  std::string_view client;
  bool on = false;
  std::chrono::steady_clock::time_point started{};
  std::chrono::system_clock::time_point started_wall{};
  std::chrono::steady_clock::time_point upstream_ready{};

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
    write_access_log(AccessRecord{
        started_wall, request_id, client, stream.method, host, path, "HTTP/2", status,
        stream.header_bytes + bytes_in, bytes_out, since(started),
        stream.upstream ? std::string_view(stream.upstream->target->key) : "",
        upstream_ready == std::chrono::steady_clock::time_point{} ? std::chrono::microseconds(0)
                                                                  : since(upstream_ready),
        ingress.namespace_, ingress.name, table.clusters()[match.cluster].service});
  }
};

}  // namespace

Awaitable<void> relay_to_http2_upstream(Http2Connection& connection, Http2Stream& stream,
                                        const routing::RouteTable& table,
                                        const routing::RouteMatch& match, std::string_view host) {
  Worker& worker = connection.worker();
  const routing::Policy& policy = table.policy_of(table.routes()[match.route]);
  const bool tls = policy.backend_protocol == routing::BackendProtocol::kGrpcs;
  const std::chrono::milliseconds read_timeout =
      policy.read_timeout_s ? std::chrono::milliseconds(*policy.read_timeout_s * 1000)
                            : worker.config().upstream_timeout;
  Call call(connection, stream, read_timeout);
  CallLog log{stream, table, match, host, connection.info().client_address};
  if (worker.config().access_log) {
    log.on = true;
    log.started = std::chrono::steady_clock::now();
    log.started_wall = std::chrono::system_clock::now();
  }

  // ---- connection: always a new one (connections of this kind are not pooled)
  UpstreamFailure failure = UpstreamFailure::kNone;
  std::shared_ptr<const UpstreamTarget> target;
  take_upstream(worker, table, match.cluster, /*fresh=*/true, target, failure);
  if (target)
    stream.upstream = co_await connect_upstream(worker, table, match.cluster, target, failure);
  if (stream.closed) co_return;
  if (!stream.upstream) {
    const unsigned status = status_for(failure);
    call.answer(status, kUnavailable,
                failure == UpstreamFailure::kNoEndpoints
                    ? "portico: no ready endpoint"
                    : "portico: upstream connect error or timeout");
    co_return log.write(status, 0, 0);
  }
  InFlight in_flight;
  in_flight.start(stream.upstream->target);
  if (tls && !co_await call.handshake(*stream.upstream->target)) {
    co_await call.close();
    if (stream.closed) co_return;
    WorkerMetrics::add(worker.metrics().upstream_connect_errors);
    call.answer(502, kUnavailable,
                "portico: TLS handshake with the upstream failed or did not select h2");
    co_return log.write(502, 0, 0);
  }
  if (!call.start(host)) {
    co_await call.close();
    call.answer(502, kUnavailable, "portico: could not start the upstream session");
    co_return log.write(502, 0, 0);
  }
  if (log.on) log.upstream_ready = std::chrono::steady_clock::now();

  // ---- the call: the reader feeds the session, this coroutine writes and waits
  call.start_reader(worker.executor());
  co_await call.write_loop();
  const unsigned status = call.finish();
  if (status == 504 || status == 502) {
    if (status == 504) WorkerMetrics::add(worker.metrics().upstream_timeouts);
    WorkerMetrics::add(worker.metrics().upstream_bad_responses);
  }
  WorkerMetrics::add(worker.metrics().bytes_in, call.bytes_in());
  WorkerMetrics::add(worker.metrics().bytes_out, call.bytes_out());
  log.write(status, call.bytes_in(), call.bytes_out());
  co_await call.close();
  stream.upstream.reset();
}

}  // namespace portico::ingress
