#include "ingress/deadline.hpp"

#include <algorithm>

namespace portico::ingress {

Deadline::Deadline(const Executor& executor, Socket& client)
    : state_(std::make_shared<State>(executor, client)) {
  wait(state_);
}

Deadline::~Deadline() {
  state_->stopped = true;
  while (state_->watches != nullptr) disarm(*state_->watches);
  state_->timer.cancel();
}

void Deadline::set(Clock::time_point& at, Clock::duration timeout) {
  // The coarse clock lags by up to a tick: a deadline may come that much early.
  at = CoarseClock::now() + timeout;
  // Deadlines mostly move later: the watchdog then wakes at the old time and sleeps again. Only
  // an earlier one re-arms the timer.
  if (at < state_->armed) {
    state_->armed = at;
    state_->timer.expires_at(at);  // cancels the pending wait; the watchdog re-reads
  }
}

Deadline::Watch::~Watch() {
  disarm(*this);
}

void Deadline::arm(Watch& watch, Socket& socket, Clock::duration timeout) {
  if (watch.state_ != state_.get()) {
    disarm(watch);
    watch.state_ = state_.get();
    watch.prev_ = nullptr;
    watch.next_ = state_->watches;
    if (watch.next_ != nullptr) watch.next_->prev_ = &watch;
    state_->watches = &watch;
  }
  if (watch.socket_ != &socket) {
    watch.socket_ = &socket;
    watch.expired_ = false;
  }
  set(watch.at_, timeout);
}

void Deadline::disarm(Watch& watch) {
  if (watch.state_ != nullptr) {
    if (watch.prev_ != nullptr) {
      watch.prev_->next_ = watch.next_;
    } else {
      watch.state_->watches = watch.next_;
    }
    if (watch.next_ != nullptr) watch.next_->prev_ = watch.prev_;
    watch.state_ = nullptr;
    watch.prev_ = watch.next_ = nullptr;
  }
  watch.socket_ = nullptr;
  watch.at_ = Clock::time_point::max();
  watch.expired_ = false;
}

void Deadline::wait(const std::shared_ptr<State>& state) {
  state->timer.expires_at(state->armed);
  state->timer.async_wait([state](const boost::system::error_code&) {
    // Woken because a deadline is due, or because an earlier one re-armed the timer.
    if (state->stopped) return;
    expire(*state);
    wait(state);
  });
}

void Deadline::expire(State& state) {
  const auto now = Clock::now();
  boost::system::error_code ignored;
  if (state.client_at <= now) {
    state.client_expired = true;
    state.client_at = Clock::time_point::max();
    if (state.client_read) {
      state.client->shutdown(Socket::shutdown_receive, ignored);
    } else {
      state.client->close(ignored);
    }
  }
  Clock::time_point next = state.client_at;
  for (Watch* w = state.watches; w != nullptr; w = w->next_) {
    if (w->at_ <= now) {
      w->expired_ = true;
      w->at_ = Clock::time_point::max();
      if (w->socket_ != nullptr) w->socket_->close(ignored);
    }
    next = std::min(next, w->at_);
  }
  state.armed = next;
}

}  // namespace portico::ingress
