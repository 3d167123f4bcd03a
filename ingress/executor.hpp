#pragma once

// The executor, socket, timer and coroutine types of everything that runs on a worker thread.
// They name io_context's own executor rather than the type-erased any_io_executor: every
// completion then dispatches through a direct call instead of a function table, and copying an
// executor is copying a pointer (copies and calls through the type-erased one showed at several
// percent of a request's instructions).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <ctime>

namespace portico::ingress {

using Executor = boost::asio::io_context::executor_type;
using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, Executor>;
using Timer = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;
template <typename T = void>
using Awaitable = boost::asio::awaitable<T, Executor>;

// The time to the kernel's tick (a few milliseconds), on steady_clock's scale: for deadlines and
// idle times of seconds. Reading it is a memory read; steady_clock reads the TSC, which is slow
// in a virtual machine (~2% of a request's CPU time at 8 reads per request).
struct CoarseClock {
  static std::chrono::steady_clock::time_point now() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) +
                                                 std::chrono::nanoseconds(ts.tv_nsec));
  }
};

// Completion token of every co_await of an asynchronous operation on the request path: errors
// come back as values (the first element of a tuple), never as exceptions. A deferred operation
// is awaited directly, where use_awaitable would allocate a coroutine frame for each one.
inline constexpr auto kAwaitNoThrow = boost::asio::as_tuple(boost::asio::deferred);

// Writes as much of `buffers` as `socket` takes now, without waiting (sockets are made
// non-blocking when accepted or connected): a small write usually completes here, with no operation
// to queue and no coroutine to suspend (an asynchronous write completes through the scheduler even
// when its first attempt wrote everything). Returns the bytes written; `ec` is set on an error
// other than would_block.
template <typename ConstBuffers>
std::size_t write_now(Socket& socket, const ConstBuffers& buffers, boost::system::error_code& ec) {
  const std::size_t n = socket.write_some(buffers, ec);
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) ec = {};
  return ec ? 0 : n;
}

}  // namespace portico::ingress
