#include "ingress/http2_connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/beast/http/field.hpp>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "ingress/worker.hpp"

namespace portico::ingress {

namespace asio = boost::asio;

namespace {

// Per-stream receive window: what one request may have in flight towards a slow upstream.
constexpr std::uint32_t kStreamWindow = 1 << 20;
// Connection receive window: bounds the request body bytes one connection can make us hold,
// large enough that one stalled upload does not stop the others.
constexpr std::int32_t kConnectionWindow = 8 << 20;
// A header list past --max-header-bytes (our SETTINGS_MAX_HEADER_LIST_SIZE) is answered 431;
// one this many times past it is not a client that read our setting but an HPACK bomb (a few
// bytes of indexed references that decode to megabytes), and the connection ends. nghttp2 bounds
// each field (64 KiB) and the dynamic table (our SETTINGS_HEADER_TABLE_SIZE, 4 KiB), never the
// whole list.
constexpr std::uint64_t kHeaderBombFactor = 4;
// Response body bytes a connection buffers for a client slower than its upstreams, over all
// streams: one fast download fills its ring, 128 stalled ones cannot make it 128 rings.
constexpr std::size_t kResponseBudget = 2 << 20;
// Between the shutdown notice and the real GOAWAY: about a round trip, so that requests the
// client sent before it saw the notice are still accepted (RFC 9113 section 6.8).
constexpr auto kGoawayDelay = std::chrono::milliseconds(1000);
// Finished stream objects kept for the next requests, per worker thread (a connection that goes
// idle holds none). Each keeps at most a few small buffers (Http2Stream::reset).
constexpr std::size_t kSpareStreams = 256;

// The worker thread's spare stream objects. Their timers are bound to the worker's io_context,
// the only one this thread runs; they are destroyed when the thread ends, before it.
std::vector<std::unique_ptr<Http2Stream>>& spare_streams() {
  thread_local std::vector<std::unique_ptr<Http2Stream>> spare;
  return spare;
}

// nghttp2's allocations (a stream's state, queued frames, header copies: a few per request)
// come from free lists per size class, kept per worker thread: with a hundred streams in flight
// glibc's per-thread cache (7 blocks a size) overflows, and every allocation takes its slow path.
// A block starts with a header naming its class; blocks over the largest class go to malloc.
class FrameMemory {
 public:
  static void* allocate(std::size_t size, void*) {
    const unsigned c = class_of(size);
    if (c == kLarge) return with_header(std::malloc(kHeader + size), kLarge);
    Lists& lists = free_lists();
    if (Block* block = lists.head[c]) {
      lists.head[c] = block->next;
      --lists.count[c];
      return with_header(block, c);
    }
    return with_header(std::malloc(kHeader + (kSmallest << c)), c);
  }
  static void release(void* pointer, void*) {
    if (pointer == nullptr) return;
    void* block = static_cast<char*>(pointer) - kHeader;
    const unsigned c = *static_cast<unsigned*>(block);
    Lists& lists = free_lists();
    if (c == kLarge || lists.count[c] >= kKept) {
      std::free(block);
      return;
    }
    auto* free_block = static_cast<Block*>(block);
    free_block->next = lists.head[c];
    lists.head[c] = free_block;
    ++lists.count[c];
  }
  static void* allocate_zeroed(std::size_t n, std::size_t size, void* user) {
    if (size != 0 && n > SIZE_MAX / size) return nullptr;
    void* pointer = allocate(n * size, user);
    if (pointer != nullptr) std::memset(pointer, 0, n * size);
    return pointer;
  }
  static void* reallocate(void* pointer, std::size_t size, void* user) {
    if (pointer == nullptr) return allocate(size, user);
    void* block = static_cast<char*>(pointer) - kHeader;
    const unsigned c = *static_cast<unsigned*>(block);
    if (c == kLarge) {
      void* grown = std::realloc(block, kHeader + size);
      return grown == nullptr ? nullptr : static_cast<char*>(grown) + kHeader;
    }
    if (size <= (kSmallest << c)) return pointer;
    void* moved = allocate(size, user);
    if (moved != nullptr) {
      std::memcpy(moved, pointer, kSmallest << c);
      release(pointer, user);
    }
    return moved;
  }

 private:
  static constexpr std::size_t kHeader = 16;  // keeps malloc's alignment
  static constexpr std::size_t kSmallest = 32;
  static constexpr unsigned kClasses = 8;  // 32 bytes to 4 KiB
  static constexpr unsigned kLarge = kClasses;
  static constexpr std::size_t kKept = 512;  // blocks kept per class and thread
  struct Block {
    Block* next;
  };
  struct Lists {
    Block* head[kClasses] = {};
    std::size_t count[kClasses] = {};
    ~Lists() {
      for (Block* block : head) {
        while (block != nullptr) {
          Block* next = block->next;
          std::free(block);
          block = next;
        }
      }
    }
  };
  static Lists& free_lists() {
    thread_local Lists lists;
    return lists;
  }
  static unsigned class_of(std::size_t size) {
    unsigned c = 0;
    while (c < kClasses && (kSmallest << c) < size) ++c;
    return c;
  }
  static void* with_header(void* block, unsigned c) {
    if (block == nullptr) return nullptr;
    *static_cast<unsigned*>(block) = c;
    return static_cast<char*>(block) + kHeader;
  }
};

bool connection_specific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade";
}

}  // namespace

Http2Connection::Http2Connection(Worker& worker, const ConnectionInfo& info, Deadline& deadline)
    : worker_(worker),
      info_(info),
      deadline_(deadline),
      writer_signal_(worker.executor()),
      reader_signal_(worker.executor()),
      flood_(CoarseClock::now()),
      last_activity_(CoarseClock::now()) {}

Http2Connection::~Http2Connection() {
  if (info_.idle != nullptr) *info_.idle = false;
}

bool Http2Connection::start() {
  // One callback table and option set for every session; nghttp2 copies both.
  struct Setup {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_option* option = nullptr;
    Setup() {
      if (nghttp2_session_callbacks_new(&callbacks) != 0 || nghttp2_option_new(&option) != 0)
        return;
      nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, &on_begin_frame);
      nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &on_begin_headers);
      nghttp2_session_callbacks_set_on_header_callback(callbacks, &on_header);
      nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &on_frame_recv);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &on_data_chunk_recv);
      nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, &on_frame_send);
      nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &on_stream_close);
      // Window updates follow what was written to the upstream, not what arrived.
      nghttp2_option_set_no_auto_window_update(option, 1);
      // nghttp2's own flood limits, set to their defaults on purpose (see http2_flood_guard.hpp
      // for what each leaves open): SETTINGS/PING ACKs queued, SETTINGS entries per frame,
      // client resets (token bucket), CONTINUATIONs per header block. Ours trip first.
      nghttp2_option_set_max_outbound_ack(option, 1000);
      nghttp2_option_set_max_settings(option, 32);
      nghttp2_option_set_stream_reset_rate_limit(option, 1000, 33);
      nghttp2_option_set_max_continuations(option, 8);
      // Left on (nghttp2's default), and relied upon: RFC 9113 section 8 message checks. A
      // request with a missing, repeated, unknown or misplaced pseudo-header field, an upper-case
      // or invalid field name, a field value with NUL/CR/LF or leading/trailing whitespace, a
      // connection-specific field (connection, keep-alive, proxy-connection, transfer-encoding,
      // upgrade, te other than "trailers"), an invalid :authority/host, a content-length that
      // disagrees with the DATA, or DATA on a HEAD/GET... is reset with RST_STREAM(PROTOCOL_ERROR)
      // before it reaches on_frame_recv; our callbacks never see it as a request.
    }
    ~Setup() {
      nghttp2_session_callbacks_del(callbacks);
      nghttp2_option_del(option);
    }
  };
  static const Setup setup;
  if (setup.callbacks == nullptr || setup.option == nullptr) return false;
  static nghttp2_mem memory{nullptr, &FrameMemory::allocate, &FrameMemory::release,
                            &FrameMemory::allocate_zeroed, &FrameMemory::reallocate};

  nghttp2_session* raw = nullptr;
  if (nghttp2_session_server_new3(&raw, setup.callbacks, this, setup.option, &memory) != 0)
    return false;
  session_.reset(raw);
  // Beyond MAX_CONCURRENT_STREAMS, once acknowledged, nghttp2 answers a new stream with
  // GOAWAY(PROTOCOL_ERROR) (RFC 9113 section 5.1.2 allows a stream error; a client that ignores
  // an acknowledged setting is broken or hostile); before the ACK with RST_STREAM(REFUSED_STREAM).
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, worker_.config().http2_max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, worker_.config().max_header_bytes},
  };
  if (nghttp2_submit_settings(session_.get(), NGHTTP2_FLAG_NONE, settings, std::size(settings)) !=
      0)
    return false;
  if (nghttp2_session_set_local_window_size(session_.get(), NGHTTP2_FLAG_NONE, 0,
                                            kConnectionWindow) != 0)
    return false;
  update_idle();
  return true;
}

bool Http2Connection::receive(const std::uint8_t* data, std::size_t size) {
  if (failed_ || aborted_) return false;
  if (calming_) return true;  // the GOAWAY is queued: the rest is not even parsed
  const auto result = nghttp2_session_mem_recv(session_.get(), data, size);
  if (result == NGHTTP2_ERR_FLOODED || result == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
    calm();  // nghttp2 gave up without a GOAWAY; the session can still send one
  } else if (result < 0 && !calming_) {
    failed_ = true;
    return false;
  }
  if (calming_) {
    ready_.clear();
    wake_writer();
    return true;
  }
  start_tasks();
  wake_writer_if_needed();
  return true;
}

void Http2Connection::wake_writer_if_needed() {
  // Most requests need nothing written at once (their responses come later); the writer is
  // woken only for frames to send, or to notice that the connection is finished.
  if (failed_ || aborted_ || nghttp2_session_want_write(session_.get()) != 0 ||
      nghttp2_session_want_read(session_.get()) == 0)
    wake_writer();
}

bool Http2Connection::collect(std::vector<std::uint8_t>& out, std::size_t limit) {
  if (failed_) return false;
  while (out.size() < limit) {
    const std::uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
    if (n < 0) {
      failed_ = true;
      return false;
    }
    if (n == 0) break;
    out.insert(out.end(), data, data + n);
  }
  return true;
}

bool Http2Connection::finished() const {
  return failed_ || (nghttp2_session_want_read(session_.get()) == 0 &&
                     nghttp2_session_want_write(session_.get()) == 0);
}

void Http2Connection::tick() {
  if (failed_ || aborted_ || goaway_sent_) return;
  const auto now = CoarseClock::now();
  if (worker_.draining()) {
    if (!shutdown_notice_sent_) {
      shutdown_notice_sent_ = true;
      notice_sent_at_ = now;
      nghttp2_submit_shutdown_notice(session_.get());
    } else if (now - notice_sent_at_ >= kGoawayDelay) {
      // Streams up to the last one processed still finish; the session ends after them.
      goaway_sent_ = true;
      nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                            nghttp2_session_get_last_proc_stream_id(session_.get()),
                            NGHTTP2_NO_ERROR, nullptr, 0);
    }
  } else if (running_tasks_ == 0 && now - last_activity_ >= worker_.config().idle_timeout) {
    // Idle: no request in progress and no request or response bytes moved for the timeout.
    // Streams may still be open (a header never completed, a client that stopped granting
    // window); terminating, not just GOAWAY, closes the connection after the frame anyway.
    goaway_sent_ = true;
    nghttp2_session_terminate_session(session_.get(), NGHTTP2_NO_ERROR);
  }
}

void Http2Connection::calm() {
  if (calming_) return;
  calming_ = true;
  WorkerMetrics::add(worker_.metrics().http2_floods);
  // GOAWAY names the last stream processed; streams up to it are dropped with the connection,
  // as they would be on a protocol error: a client that floods is not owed its responses.
  if (nghttp2_session_terminate_session(session_.get(), NGHTTP2_ENHANCE_YOUR_CALM) != 0)
    failed_ = true;
  wake_writer();
}

void Http2Connection::abort() {
  aborted_ = true;
  for (auto& stream : streams_) stream->abandon();
  reader_signal_.cancel();
  update_idle();
}

void Http2Connection::set_writing(bool writing) {
  writing_ = writing;
  update_idle();
}

bool Http2Connection::reading_paused() const {
  // Stream coroutines may outlive their nghttp2 stream for a moment (a reset closes the upstream
  // connection, the coroutine sees it on its next resumption); past twice the concurrent
  // streams, stop reading.
  return running_tasks_ >= 2 * std::size_t{worker_.config().http2_max_concurrent_streams} &&
         !aborted_;
}

Awaitable<void> Http2Connection::wait_for_work(std::chrono::milliseconds timeout) {
  writer_signal_.expires_after(timeout);
  writer_waiting_ = true;
  co_await writer_signal_.async_wait(kAwaitNoThrow);
  writer_waiting_ = false;
}

Awaitable<void> Http2Connection::wait_for_tasks() {
  reader_signal_.expires_after(std::chrono::seconds(1));
  reader_waiting_ = true;
  co_await reader_signal_.async_wait(kAwaitNoThrow);
  reader_waiting_ = false;
}

void Http2Connection::submit_response(Http2Stream& stream, std::span<const nghttp2_nv> fields,
                                      bool with_body) {
  if (stream.closed || aborted_) return;
  nghttp2_data_provider provider{};
  provider.source.ptr = &stream;
  provider.read_callback = &read_body;
  if (nghttp2_submit_response(session_.get(), stream.id, fields.data(), fields.size(),
                              with_body ? &provider : nullptr) != 0) {
    reset(stream, NGHTTP2_INTERNAL_ERROR);
    return;
  }
  response_buffered_ += stream.response_body.size();  // a generated body is there already
  stream.response_submitted = true;
  wake_writer();
}

void Http2Connection::submit_continue(Http2Stream& stream) {
  if (stream.closed || aborted_) return;
  static const char kName[] = ":status";
  static const char kValue[] = "100";
  const nghttp2_nv status{const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(kName)),
                          const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(kValue)),
                          sizeof(kName) - 1, sizeof(kValue) - 1, NGHTTP2_NV_FLAG_NONE};
  nghttp2_submit_headers(session_.get(), NGHTTP2_FLAG_NONE, stream.id, nullptr, &status, 1,
                         nullptr);
  wake_writer();
}

void Http2Connection::resume_body(Http2Stream& stream, std::size_t added) {
  response_buffered_ += added;
  if (stream.closed || aborted_) return;
  if (stream.data_deferred) {
    stream.data_deferred = false;
    nghttp2_session_resume_data(session_.get(), stream.id);
  }
  wake_writer();
}

bool Http2Connection::over_budget() const {
  return response_buffered_ >= kResponseBudget;
}

void Http2Connection::buffered_less(std::size_t n) {
  const bool was_over = over_budget();
  response_buffered_ -= std::min(n, response_buffered_);
  if (was_over && !over_budget()) {
    for (auto& stream : streams_) {
      if (stream->task_running) stream->wake();
    }
  }
}

void Http2Connection::consume(Http2Stream& stream, std::size_t size) {
  size = std::min(size, stream.unconsumed);
  if (size == 0 || aborted_) return;
  stream.unconsumed -= size;
  nghttp2_session_consume(session_.get(), stream.id, size);
  wake_writer();
}

void Http2Connection::reset(Http2Stream& stream, std::uint32_t error_code) {
  if (stream.closed || aborted_) return;
  stream.reset_by_us = true;
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream.id, error_code);
  wake_writer();
}

Http2Stream* Http2Connection::find(std::int32_t stream_id) {
  return static_cast<Http2Stream*>(nghttp2_session_get_stream_user_data(session_.get(), stream_id));
}

bool Http2Connection::header(Http2Stream& stream, std::string_view name, std::string_view value) {
  // RFC 9113 section 6.5.2 counts 32 bytes of overhead per field.
  // Beyond the limits the stream is answered 431 (it is a client's mistake as in HTTP/1.1,
  // not the connection's); the fields are no longer kept.
  stream.header_bytes += name.size() + value.size() + 32;
  const ServeConfig& config = worker_.config();
  if (stream.header_bytes > config.max_header_bytes ||
      ++stream.header_fields > config.max_header_fields)
    stream.header_too_large = true;
  if (stream.header_too_large)
    return stream.header_bytes <= kHeaderBombFactor * config.max_header_bytes;
  if (!name.empty() && name.front() == ':') {
    if (name == ":method") {
      stream.method = value;
    } else if (name == ":path") {
      stream.path = value;
    } else if (name == ":authority") {
      stream.authority = value;
    } else if (name == ":scheme") {
      stream.scheme = value;
    }
    return true;
  }
  if (name == "host") {
    stream.host_field = value;
  } else if (name == "cookie") {
    if (!stream.cookie.empty()) stream.cookie += "; ";
    stream.cookie += value;
  } else if (!connection_specific(name)) {
    stream.request.add(http::string_to_field(name), name, value);
  }
  return true;
}

void Http2Connection::start_tasks() {
  for (std::int32_t id : ready_) {
    Http2Stream* stream = find(id);
    if (stream == nullptr || stream->closed) continue;
    stream->task_running = true;
    ++running_tasks_;
    asio::co_spawn(worker_.executor(), relay_http2_stream(*this, *stream),
                   [this, stream](std::exception_ptr) { task_finished(*stream); });
  }
  ready_.clear();
}

void Http2Connection::task_finished(Http2Stream& stream) {
  stream.task_running = false;
  --running_tasks_;
  last_activity_ = CoarseClock::now();
  stream.upstream.reset();
  if (!stream.closed) {
    // Every path of the relay answers; this is the backstop for one that threw.
    if (!stream.response_submitted) reset(stream, NGHTTP2_INTERNAL_ERROR);
    release_body(stream);
  } else {
    erase(stream);
  }
  wake_writer_if_needed();
  if (reader_waiting_) reader_signal_.cancel();
}

void Http2Connection::release_body(Http2Stream& stream) {
  stream.discard_body = true;
  stream.request_body.clear();
  if (stream.unconsumed > 0 && !aborted_)
    nghttp2_session_consume(session_.get(), stream.id, stream.unconsumed);
  stream.unconsumed = 0;
}

std::unique_ptr<Http2Stream> Http2Connection::new_stream(std::int32_t stream_id) {
  std::unique_ptr<Http2Stream> stream;
  auto& spare = spare_streams();
  if (!spare.empty()) {
    stream = std::move(spare.back());
    spare.pop_back();
  } else {
    stream = std::make_unique<Http2Stream>(worker_.executor());
  }
  stream->id = stream_id;
  return stream;
}

void Http2Connection::erase(Http2Stream& erased) {
  const std::size_t slot = erased.slot;
  if (slot >= streams_.size() || streams_[slot].get() != &erased) return;
  // nghttp2 may still have the stream (its response is queued): it must not lead here anymore.
  if (session_) nghttp2_session_set_stream_user_data(session_.get(), erased.id, nullptr);
  const std::size_t left = erased.response_body.size();
  std::unique_ptr<Http2Stream> stream = std::move(streams_[slot]);
  if (slot + 1 != streams_.size()) {
    streams_[slot] = std::move(streams_.back());
    streams_[slot]->slot = slot;
  }
  streams_.pop_back();
  if (auto& spare = spare_streams(); spare.size() < kSpareStreams) {
    stream->upstream.reset();
    stream->reset(0);
    spare.push_back(std::move(stream));
  }
  buffered_less(left);
  last_activity_ = CoarseClock::now();
  update_idle();
}

void Http2Connection::update_idle() {
  // An idle connection is one a drain may close outright: no stream, nothing being written.
  if (info_.idle != nullptr) *info_.idle = streams_.empty() && !writing_ && !aborted_;
}

// ---- nghttp2 callbacks. They never throw into nghttp2 (C): allocation failures become a
// stream reset or a failed session.

int Http2Connection::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  using Guard = Http2FloodGuard;
  bool ok = true;
  switch (hd->type) {
    case NGHTTP2_DATA:
      if (hd->length == 0 && (hd->flags & NGHTTP2_FLAG_END_STREAM) == 0)
        ok = c.flood_.count(Guard::kEmptyFrame);
      break;
    case NGHTTP2_HEADERS:
      c.continuations_ = 0;
      break;
    case NGHTTP2_CONTINUATION:
      ok = ++c.continuations_ <= Guard::kMaxContinuations &&
           (hd->length != 0 || (hd->flags & NGHTTP2_FLAG_END_HEADERS) != 0 ||
            c.flood_.count(Guard::kEmptyFrame));
      break;
    case NGHTTP2_SETTINGS:
      ok = c.flood_.count(Guard::kSettings);
      break;
    case NGHTTP2_PING:
      ok = c.flood_.count(Guard::kPing);
      break;
    case NGHTTP2_PRIORITY:
      ok = c.flood_.count(Guard::kPriority);
      break;
    case NGHTTP2_WINDOW_UPDATE:
      ok = c.flood_.count(Guard::kWindowUpdate);
      break;
    default:
      break;
  }
  if (ok) return 0;
  c.calm();
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

int Http2Connection::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  try {
    std::unique_ptr<Http2Stream> stream = c.new_stream(frame->hd.stream_id);
    stream->slot = c.streams_.size();
    c.streams_.push_back(std::move(stream));
    nghttp2_session_set_stream_user_data(c.session_.get(), frame->hd.stream_id,
                                         c.streams_.back().get());
  } catch (...) {
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  c.last_activity_ = CoarseClock::now();
  c.update_idle();
  return 0;
}

int Http2Connection::on_header(nghttp2_session*, const nghttp2_frame* frame,
                               const std::uint8_t* name, std::size_t name_length,
                               const std::uint8_t* value, std::size_t value_length, std::uint8_t,
                               void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Http2Stream* stream = c.find(frame->hd.stream_id);
  // Trailer fields (a second HEADERS) are not forwarded: HTTP/1.1 upstreams rarely take them.
  if (stream == nullptr || stream->headers_complete) return 0;
  try {
    if (c.header(*stream, {reinterpret_cast<const char*>(name), name_length},
                 {reinterpret_cast<const char*>(value), value_length}))
      return 0;
  } catch (...) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  c.calm();
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

int Http2Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) return 0;
  Http2Stream* stream = c.find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    stream->headers_complete = true;
    stream->request_complete = end_stream;
    try {
      c.ready_.push_back(stream->id);
    } catch (...) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
  } else if (end_stream) {
    stream->request_complete = true;
    stream->wake();
  }
  return 0;
}

int Http2Connection::on_data_chunk_recv(nghttp2_session* session, std::uint8_t,
                                        std::int32_t stream_id, const std::uint8_t* data,
                                        std::size_t length, void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  Http2Stream* stream = c.find(stream_id);
  if (stream == nullptr || stream->discard_body || stream->closed) {
    nghttp2_session_consume(session, stream_id, length);
    return 0;
  }
  try {
    stream->request_body.insert(stream->request_body.end(), data, data + length);
  } catch (...) {
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  stream->unconsumed += length;
  c.last_activity_ = CoarseClock::now();
  stream->wake();
  return 0;
}

int Http2Connection::on_frame_send(nghttp2_session* session, const nghttp2_frame* frame,
                                   void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  if (frame->hd.type == NGHTTP2_DATA) c.flood_.data_sent();
  if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0)
    return 0;
  Http2Stream* stream = c.find(frame->hd.stream_id);
  if (stream != nullptr) stream->response_complete = true;
  if (stream != nullptr && !stream->request_complete && !stream->closed) {
    // The response is complete before the request body (a 404 to an upload): RFC 9113 section
    // 8.1 lets the server stop the rest with RST_STREAM(NO_ERROR).
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

int Http2Connection::on_stream_close(nghttp2_session*, std::int32_t stream_id,
                                     std::uint32_t error_code, void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  Http2Stream* stream = c.find(stream_id);
  if (stream == nullptr) return 0;
  // Rapid Reset (CVE-2023-44487): streams opened and cancelled before they were answered cost us
  // a request each and count against no concurrency limit. Our own resets do not count.
  if (error_code != NGHTTP2_NO_ERROR && !stream->response_complete && !stream->reset_by_us &&
      !c.calming_ && !c.flood_.count(Http2FloodGuard::kReset)) {
    c.calm();
  }
  c.release_body(*stream);
  if (stream->task_running) {
    stream->abandon();  // the coroutine finishes, then task_finished erases the stream
  } else {
    c.erase(*stream);
  }
  return 0;
}

ssize_t Http2Connection::read_body(nghttp2_session* session, std::int32_t, std::uint8_t* buffer,
                                   std::size_t length, std::uint32_t* data_flags,
                                   nghttp2_data_source* source, void* self) {
  auto& stream = *static_cast<Http2Stream*>(source->ptr);
  auto& c = *static_cast<Http2Connection*>(self);
  c.last_activity_ = CoarseClock::now();
  std::size_t n = stream.response_body.take(buffer, length);
  c.buffered_less(n);
  if (stream.response_eof && stream.response_body.size() == 0) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    // Trailers end the stream instead of the last DATA frame (gRPC's status).
    if (!stream.trailer_nv.empty() &&
        nghttp2_submit_trailer(session, stream.id, stream.trailer_nv.data(),
                               stream.trailer_nv.size()) == 0)
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
  } else if (n == 0) {
    stream.data_deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n > 0) stream.wake();  // room for the next piece from the upstream
  return static_cast<ssize_t>(n);
}

}  // namespace portico::ingress
