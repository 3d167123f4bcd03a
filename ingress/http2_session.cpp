// HTTP/2 front end, the I/O half: moves bytes between the client's socket (plain or TLS) and
// the connection's nghttp2 session. A reader coroutine feeds whatever arrives to mem_recv; the
// writer (this coroutine) drains mem_send into one buffer and writes it, one write in flight at
// a time, so the frames produced while a write was in flight leave together in the next one.
// Stream coroutines never touch the socket: they submit to nghttp2 and wake the writer.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>
#include <exception>
#include <type_traits>
#include <vector>

#include "ingress/connection.hpp"
#include "ingress/http1_message.hpp"
#include "ingress/http2_connection.hpp"
#include "ingress/worker.hpp"

namespace portico::ingress {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
// Output gathered per write: several DATA frames, few enough that a write stays short.
constexpr std::size_t kWriteChunk = 128 * 1024;
// How often a quiet connection looks at the drain flag and its idle deadline.
constexpr auto kTick = std::chrono::milliseconds(1000);

template <typename Stream>
Awaitable<void> read_frames(Stream& stream, Http2Connection& connection) {
  // Not a vector: 64 KiB zeroed per connection showed in profiles of short connections.
  std::unique_ptr<std::uint8_t[]> chunk(new std::uint8_t[kReadChunk]);
  for (;;) {
    while (connection.reading_paused()) co_await connection.wait_for_tasks();
    if (connection.closing()) co_return;
    // No read deadline: an open HTTP/2 connection may be quiet; the idle policy closes it.
    auto [ec, n] =
        co_await stream.async_read_some(asio::buffer(chunk.get(), kReadChunk), kAwaitNoThrow);
    if (n > 0 && !connection.receive(chunk.get(), n)) co_return;
    if (ec) co_return;
  }
}

template <typename Stream>
Awaitable<void> write_frames(Stream& stream, Http2Connection& connection, const bool& reader_done,
                             const ServeConfig& config) {
  std::vector<std::uint8_t> out;
  out.reserve(kWriteChunk + 32 * 1024);
  std::vector<asio::const_buffer> buffers;
  for (;;) {
    if (reader_done || connection.closing()) co_return;
    connection.tick();
    out.clear();
    if (!connection.collect(out, kWriteChunk)) co_return;
    if (!out.empty()) {
      connection.set_writing(true);
      // Only the write has a deadline: a read is always pending, and may wait as long as the
      // connection is allowed to be idle.
      connection.deadline().client(config.upstream_timeout);
      buffers.assign(1, asio::buffer(out));
      std::size_t written = 0;
      boost::system::error_code ec;
      if (!write_at_once(stream, buffers, written, ec)) {
        auto [wec, wn] = co_await asio::async_write(stream, std::span(buffers), kAwaitNoThrow);
        ec = wec;
      }
      connection.deadline().clear_client();
      connection.set_writing(false);
      if (ec) co_return;
      continue;
    }
    if (connection.finished()) co_return;
    co_await connection.wait_for_work(kTick);
  }
}

}  // namespace

template <typename Stream>
Awaitable<void> serve_http2(Worker& worker, Stream& stream, beast::flat_buffer& buffer,
                            const ConnectionInfo& info, Deadline& deadline) {
  constexpr auto kProtocol = static_cast<std::size_t>(Protocol::kHttp2);
  WorkerMetrics& metrics = worker.metrics();
  WorkerMetrics::Counter& open = metrics.open_connections[kProtocol][info.tls ? 1 : 0];
  WorkerMetrics::add(open);
  struct Closing {
    WorkerMetrics::Counter& open;
    ~Closing() { WorkerMetrics::sub(open); }
  } closing{open};
  Socket& socket = lowest_layer(stream);
  deadline.clear_client();  // the sniffing / handshake deadline is over

  Http2Connection connection(worker, info, deadline);
  if (!connection.start()) co_return;
  bool reader_done = false;
  if (buffer.size() > 0) {
    // h2c with prior knowledge: the preface and maybe more were read while sniffing.
    auto bytes = buffer.data();
    reader_done = !connection.receive(static_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    buffer.consume(buffer.size());
  }
  if (!reader_done) {
    asio::co_spawn(worker.executor(), read_frames(stream, connection),
                   [&reader_done, &connection](std::exception_ptr) {
                     reader_done = true;
                     connection.wake_writer();
                   });
    co_await write_frames(stream, connection, reader_done, worker.config());
  }

  // The stream coroutines and the reader refer to `connection` and `stream`: stop them and wait.
  connection.abort();
  boost::system::error_code ignored;
  if constexpr (std::is_same_v<Stream, PlainStream>) {
    // FIN after the last frame (a GOAWAY), so the client reads it before the close.
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  }
  socket.cancel(ignored);
  while (!reader_done || connection.running_tasks() > 0) co_await connection.wait_for_work(kTick);
}

template Awaitable<void> serve_http2<PlainStream>(Worker&, PlainStream&, beast::flat_buffer&,
                                                  const ConnectionInfo&, Deadline&);
template Awaitable<void> serve_http2<TlsStream>(Worker&, TlsStream&, beast::flat_buffer&,
                                                const ConnectionInfo&, Deadline&);

}  // namespace portico::ingress
