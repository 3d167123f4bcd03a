#include "ingress/deadline.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace portico::ingress {

namespace asio = boost::asio;

Deadline::Deadline(asio::any_io_executor executor, asio::ip::tcp::socket& client)
    : state_(std::make_shared<State>(executor, client)) {
  asio::co_spawn(executor, watch(state_), asio::detached);
}

Deadline::~Deadline() {
  state_->stopped = true;
  state_->timer.cancel();
}

void Deadline::set(Clock::time_point& at, Clock::duration timeout) {
  at = Clock::now() + timeout;
  // Deadlines mostly move later: the watchdog then wakes at the old time and sleeps again. Only
  // an earlier one re-arms the timer.
  if (at < state_->armed) {
    state_->armed = at;
    state_->timer.expires_at(at);  // cancels the pending wait; the watchdog re-reads
  }
}

asio::awaitable<void> Deadline::watch(std::shared_ptr<State> state) {
  for (;;) {
    state->armed = std::min(state->client_at, state->upstream_at);
    state->timer.expires_at(state->armed);
    co_await state->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (state->stopped) co_return;
    auto now = Clock::now();
    boost::system::error_code ignored;
    if (state->client_at <= now) {
      state->client_expired = true;
      state->client_at = Clock::time_point::max();
      state->client->close(ignored);
    }
    if (state->upstream != nullptr && state->upstream_at <= now) {
      state->upstream_expired = true;
      state->upstream_at = Clock::time_point::max();
      state->upstream->close(ignored);
    }
  }
}

}  // namespace portico::ingress
