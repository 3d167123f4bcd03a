// HTTP/2 front end, the I/O half: moves bytes between the client's socket (plain or TLS) and
// the connection's nghttp2 session. A reader coroutine feeds whatever arrives to mem_recv; the
// writer (this coroutine) drains mem_send into one buffer and writes it, one write in flight at
// a time, so the frames produced while a write was in flight leave together in the next one.
// Stream coroutines never touch the socket: they submit to nghttp2 and wake the writer.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <exception>
#include <type_traits>
#include <vector>

#include "ingress/connection.hpp"
#include "ingress/http2_connection.hpp"
#include "ingress/worker.hpp"

namespace portico::ingress {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 64 * 1024;
// Output gathered per write: several DATA frames, few enough that a write stays short.
constexpr std::size_t kWriteChunk = 128 * 1024;
// How often a quiet connection looks at the drain flag and its idle deadline.
constexpr auto kTick = std::chrono::milliseconds(1000);

template <typename Stream>
asio::awaitable<void> read_frames(Stream& stream, Http2Connection& connection) {
  std::vector<std::uint8_t> chunk(kReadChunk);
  for (;;) {
    while (connection.reading_paused()) co_await connection.wait_for_tasks();
    if (connection.closing()) co_return;
    // No read deadline: an open HTTP/2 connection may be quiet; the idle policy closes it.
    beast::get_lowest_layer(stream).expires_never();
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(chunk), kNoThrow);
    if (n > 0 && !connection.receive(chunk.data(), n)) co_return;
    if (ec) co_return;
  }
}

template <typename Stream>
asio::awaitable<void> write_frames(Stream& stream, Http2Connection& connection,
                                   const bool& reader_done, const ServeConfig& config) {
  std::vector<std::uint8_t> out;
  out.reserve(kWriteChunk + 32 * 1024);
  for (;;) {
    if (reader_done || connection.closing()) co_return;
    connection.tick();
    out.clear();
    if (!connection.collect(out, kWriteChunk)) co_return;
    if (!out.empty()) {
      connection.set_writing(true);
      // Only the write gets this deadline: a read is always pending, and basic_stream applies
      // expires_after to the operations not yet pending.
      beast::get_lowest_layer(stream).expires_after(config.upstream_timeout);
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), kNoThrow);
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
asio::awaitable<void> serve_http2(Worker& worker, Stream& stream, beast::flat_buffer& buffer,
                                  const ConnectionInfo& info) {
  constexpr auto kProtocol = static_cast<std::size_t>(Protocol::kHttp2);
  WorkerMetrics& metrics = worker.metrics();
  WorkerMetrics::add(metrics.open_connections[kProtocol]);
  struct Closing {
    WorkerMetrics& m;
    ~Closing() { WorkerMetrics::sub(m.open_connections[kProtocol]); }
  } closing{metrics};
  auto& socket = beast::get_lowest_layer(stream);
  socket.expires_never();  // the sniffing / handshake deadline is over

  Http2Connection connection(worker, info);
  if (!connection.start()) co_return;
  bool reader_done = false;
  if (buffer.size() > 0) {
    // h2c with prior knowledge: the preface and maybe more were read while sniffing.
    auto bytes = buffer.data();
    reader_done = !connection.receive(static_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    buffer.consume(buffer.size());
  }
  if (!reader_done) {
    asio::co_spawn(worker.io(), read_frames(stream, connection),
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
    socket.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
  socket.socket().cancel(ignored);
  while (!reader_done || connection.running_tasks() > 0) co_await connection.wait_for_work(kTick);
}

template asio::awaitable<void> serve_http2<PlainStream>(Worker&, PlainStream&, beast::flat_buffer&,
                                                        const ConnectionInfo&);
template asio::awaitable<void> serve_http2<TlsStream>(Worker&, TlsStream&, beast::flat_buffer&,
                                                      const ConnectionInfo&);

}  // namespace portico::ingress
