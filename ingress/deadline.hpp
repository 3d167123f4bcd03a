#pragma once

// Timeouts for one client connection and the upstream connection it is using, kept by a single
// watchdog timer per client connection. beast::tcp_stream arms a timer for every read and write
// (a timer-queue insert and cancel per operation: measurable per request); here setting a
// deadline only stores a time point, and the watchdog wakes when the earliest deadline is due and
// closes the socket whose deadline passed, which fails its pending operation.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace portico::ingress {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts the watchdog on `executor` for `client`. The socket must outlive this object.
  Deadline(boost::asio::any_io_executor executor, boost::asio::ip::tcp::socket& client);
  ~Deadline();  // stops the watchdog
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // The client's next operation must finish within `timeout`.
  void client(Clock::duration timeout) { set(state_->client_at, timeout); }
  // The upstream connection in use; its next operation must finish within `timeout`.
  void upstream(boost::asio::ip::tcp::socket& socket, Clock::duration timeout) {
    if (state_->upstream != &socket) {
      state_->upstream = &socket;
      state_->upstream_expired = false;
    }
    set(state_->upstream_at, timeout);
  }
  // The upstream connection is no longer watched (going back to the pool, or closed).
  void release_upstream() {
    state_->upstream = nullptr;
    state_->upstream_at = Clock::time_point::max();
    state_->upstream_expired = false;
  }
  // No deadline for the client (a WebSocket tunnel is idle as long as its peers like).
  void clear_client() { state_->client_at = Clock::time_point::max(); }
  bool client_expired() const { return state_->client_expired; }
  bool upstream_expired() const { return state_->upstream_expired; }

 private:
  struct State {
    boost::asio::steady_timer timer;
    boost::asio::ip::tcp::socket* client;
    boost::asio::ip::tcp::socket* upstream = nullptr;
    Clock::time_point client_at = Clock::time_point::max();
    Clock::time_point upstream_at = Clock::time_point::max();
    Clock::time_point armed = Clock::time_point::max();
    bool client_expired = false;
    bool upstream_expired = false;
    bool stopped = false;
    State(boost::asio::any_io_executor executor, boost::asio::ip::tcp::socket& socket)
        : timer(executor), client(&socket) {}
  };
  static boost::asio::awaitable<void> watch(std::shared_ptr<State> state);
  void set(Clock::time_point& at, Clock::duration timeout);

  std::shared_ptr<State> state_;
};

}  // namespace portico::ingress
