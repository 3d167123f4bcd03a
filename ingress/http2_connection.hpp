#pragma once

// The protocol half of an HTTP/2 server connection: an nghttp2 server session driven by memory
// buffers (the nghttpx way: bytes in with mem_recv, frames out with mem_send), the streams it
// carries, and the connection's policies (SETTINGS, flow control, GOAWAY on drain and on idle
// timeout). It does no I/O of its own: serve_http2 feeds it what the socket delivers and writes
// what collect() gathers, so the same code serves h2c and h2 over TLS.
//
// Everything runs on the worker's thread. Each request stream runs as its own coroutine
// (relay_http2_stream) on the same executor; the connection object must outlive them all, so its
// owner calls abort() and waits until running_tasks() is zero before destroying it.

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ingress/connection.hpp"
#include "ingress/deadline.hpp"
#include "ingress/executor.hpp"
#include "ingress/http2_flood_guard.hpp"
#include "ingress/http2_stream.hpp"

namespace portico::ingress {

class Worker;

class Http2Connection {
 public:
  // `deadline` watches the client's socket; the streams' upstream connections join it.
  Http2Connection(Worker& worker, const ConnectionInfo& info, Deadline& deadline);
  ~Http2Connection();
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  // Creates the session and queues the server's SETTINGS. False when nghttp2 cannot allocate.
  bool start();

  // ---- for the connection's I/O loops (serve_http2)
  // Feeds bytes received from the client. False on a fatal error: close the connection.
  bool receive(const std::uint8_t* data, std::size_t size);
  // Appends frames ready to go out to `out` until it holds about `limit` bytes, so that small
  // frames leave in one write. False on a fatal error.
  bool collect(std::vector<std::uint8_t>& out, std::size_t limit);
  // Nothing more to read or write: GOAWAY went out and every stream is closed, or a fatal error.
  bool finished() const;
  // Applies the drain (GOAWAY once the worker drains) and the idle timeout (GOAWAY and close
  // when no request made progress for idle_timeout). Cheap; called on every turn of the writer.
  void tick();
  // Tells the streams that the connection is gone: their upstream connections are closed.
  void abort();
  // The writer marks the time a write is in flight: a connection with output pending is not idle.
  void set_writing(bool writing);

  // The client misbehaved (a flood, a header block bomb): GOAWAY(ENHANCE_YOUR_CALM) is queued,
  // what the client sends from now on is dropped, and the connection ends once it went out.
  bool calming() const { return calming_; }
  // A fatal error happened or abort() was called: the I/O loops should stop.
  bool closing() const { return failed_ || aborted_; }
  std::size_t running_tasks() const { return running_tasks_; }
  // Too many stream coroutines still winding down (a client resetting streams as fast as it
  // opens them): the reader stops reading until some finish.
  bool reading_paused() const;
  // The writer sleeps here until wake_writer() or `timeout`.
  Awaitable<void> wait_for_work(std::chrono::milliseconds timeout);
  // The reader sleeps here while reading_paused().
  Awaitable<void> wait_for_tasks();
  void wake_writer() {
    if (writer_waiting_) {
      writer_waiting_ = false;
      writer_signal_.cancel();
    }
  }
  // wake_writer() when there is something to write, or the connection may be finished.
  void wake_writer_if_needed();

  // ---- for the stream coroutines
  Worker& worker() const { return worker_; }
  const ConnectionInfo& info() const { return info_; }
  Deadline& deadline() const { return deadline_; }
  // Queues the response HEADERS (`fields` starts with ":status"); with a body, DATA frames are
  // then taken from stream.response_body until response_eof.
  void submit_response(Http2Stream& stream, std::span<const nghttp2_nv> fields, bool with_body);
  // Queues an interim 100 (Continue) response: the client may send the request body.
  void submit_continue(Http2Stream& stream);
  // `added` new response body bytes (or the end of them) are in the ring.
  void resume_body(Http2Stream& stream, std::size_t added);
  // The response bytes buffered by all streams reached the connection's budget: streams with
  // something buffered already wait before reading more from their upstreams.
  bool over_budget() const;
  // `size` request body bytes were written to the upstream: the client may send that much more.
  void consume(Http2Stream& stream, std::size_t size);
  // RST_STREAM with `error_code` (an nghttp2_error_code), unless the stream is already closed.
  void reset(Http2Stream& stream, std::uint32_t error_code);

 private:
  struct SessionDeleter {
    void operator()(nghttp2_session* session) const { nghttp2_session_del(session); }
  };

  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* self);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                       std::uint8_t flags, void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id,
                                const std::uint8_t* data, std::size_t length, void* self);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                             void* self);
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buffer,
                           std::size_t length, std::uint32_t* data_flags,
                           nghttp2_data_source* source, void* self);

  Http2Stream* find(std::int32_t stream_id);
  // Takes one request header field. False: the header list is a bomb (kHeaderBombLimit).
  bool header(Http2Stream& stream, std::string_view name, std::string_view value);
  void start_tasks();
  void task_finished(Http2Stream& stream);
  // Returns the window of every body byte the stream still holds; later bytes too.
  void release_body(Http2Stream& stream);
  void erase(Http2Stream& stream);
  std::unique_ptr<Http2Stream> new_stream(std::int32_t stream_id);
  void update_idle();
  // Queues GOAWAY(ENHANCE_YOUR_CALM) and ends the session once it is sent. The callback that
  // calls it returns NGHTTP2_ERR_CALLBACK_FAILURE, so mem_recv stops at the offending frame.
  void calm();
  void buffered_less(std::size_t n);

  Worker& worker_;
  const ConnectionInfo& info_;
  Deadline& deadline_;
  Timer writer_signal_;
  Timer reader_signal_;
  bool writer_waiting_ = false;
  bool reader_waiting_ = false;
  // The streams, in no order (each knows its slot); found by id through nghttp2's stream user
  // data, which is there while nghttp2 has the stream open.
  std::vector<std::unique_ptr<Http2Stream>> streams_;
  std::vector<std::int32_t> ready_;  // header complete during mem_recv: start after it returns
  std::size_t running_tasks_ = 0;
  std::size_t response_buffered_ = 0;  // in all the streams' rings
  bool failed_ = false;
  bool aborted_ = false;
  bool writing_ = false;
  bool shutdown_notice_sent_ = false;
  bool goaway_sent_ = false;
  bool calming_ = false;
  unsigned continuations_ = 0;  // CONTINUATION frames of the header block being received
  Http2FloodGuard flood_;
  std::chrono::steady_clock::time_point last_activity_;  // of requests, not of PINGs
  std::chrono::steady_clock::time_point notice_sent_at_;
  // Declared last: destroyed first, while the streams its data sources point to still exist.
  std::unique_ptr<nghttp2_session, SessionDeleter> session_;
};

}  // namespace portico::ingress
