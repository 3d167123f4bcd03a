#pragma once

// Timeouts for one client connection and the upstream connections it is using, kept by a single
// watchdog timer per client connection. Arming a timer for every read and write (as
// beast::tcp_stream does) is a timer-queue insert and cancel per operation, measurable per
// request; here setting a deadline only stores a time point, and the watchdog wakes when the
// earliest deadline is due and closes the socket whose deadline passed, which fails its pending
// operation.

#include <chrono>
#include <memory>

#include "ingress/executor.hpp"

namespace portico::ingress {

class Deadline {
  struct State;

 public:
  using Clock = std::chrono::steady_clock;

  // An upstream socket followed by the watchdog (one per HTTP/2 stream; HTTP/1.1 uses the
  // built-in one below). Its owner disarms it before the socket goes away; a watch destroyed
  // armed disarms itself (the Deadline may be gone by then: it disarms the watches it has).
  class Watch {
   public:
    Watch() = default;
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    // The deadline passed and the socket was closed.
    bool expired() const { return expired_; }

   private:
    friend class Deadline;
    State* state_ = nullptr;  // while armed
    Socket* socket_ = nullptr;
    Clock::time_point at_ = Clock::time_point::max();
    Watch* prev_ = nullptr;
    Watch* next_ = nullptr;
    bool expired_ = false;
  };

  // Starts the watchdog for `client`. The socket must outlive this object.
  Deadline(const Executor& executor, Socket& client);
  ~Deadline();  // stops the watchdog; disarms every watch still armed
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // The client's next operation must finish within `timeout`; when it does not, the socket is
  // closed.
  void client(Clock::duration timeout) {
    state_->client_read = false;
    set(state_->client_at, timeout);
  }
  // The client's reads must finish within `timeout`; when they do not, the socket is shut down
  // for receiving only: the read ends as at EOF (client_expired() tells) and the caller can
  // still answer (408), after setting client() for that write.
  void client_read(Clock::duration timeout) {
    state_->client_read = true;
    set(state_->client_at, timeout);
  }
  // No deadline for the client (an HTTP/2 connection between writes, a WebSocket tunnel).
  void clear_client() { state_->client_at = Clock::time_point::max(); }
  bool client_expired() const { return state_->client_expired; }

  // `socket`'s next operation must finish within `timeout`; a watch armed for another socket
  // before follows this one from now on.
  void arm(Watch& watch, Socket& socket, Clock::duration timeout);
  // The socket is no longer watched (going back to the pool, or closed).
  static void disarm(Watch& watch);

  // The upstream connection of an HTTP/1.1 client connection (one at a time).
  void upstream(Socket& socket, Clock::duration timeout) { arm(upstream_, socket, timeout); }
  void release_upstream() { disarm(upstream_); }
  bool upstream_expired() const { return upstream_.expired(); }

 private:
  struct State {
    Timer timer;
    Socket* client;
    Watch* watches = nullptr;  // armed watches, a doubly linked list
    Clock::time_point client_at = Clock::time_point::max();
    Clock::time_point armed = Clock::time_point::max();
    bool client_expired = false;
    bool client_read = false;  // shut down for receiving when due, rather than closed
    bool stopped = false;
    State(const Executor& executor, Socket& socket) : timer(executor), client(&socket) {}
  };
  static void wait(const std::shared_ptr<State>& state);
  static void expire(State& state);
  void set(Clock::time_point& at, Clock::duration timeout);

  std::shared_ptr<State> state_;
  Watch upstream_;
};

}  // namespace portico::ingress
