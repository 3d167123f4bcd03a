#pragma once

// Budgets for the HTTP/2 frames a client can send without asking for any work: each kind may
// arrive `limit` times per window; past that the connection is a flood and its owner answers
// GOAWAY(ENHANCE_YOUR_CALM) (RFC 9113 section 5.4.1; the code nghttp2 and nginx use).
//
// What libnghttp2 1.52.0-1+deb12u3 (Debian 12) does by itself, and why these budgets exist anyway:
// - RST_STREAM: a token bucket (burst 1000, 33/s, the CVE-2023-44487 backport), whose GOAWAY
//   says INTERNAL_ERROR. It sees only client RST_STREAMs, not streams nghttp2 resets because of
//   the client's own protocol errors (the "MadeYouReset" variant), and allows 1000 at once.
// - SETTINGS and PING: ACKs are queued up to 1000 (max_outbound_ack), then the session fails
//   (NGHTTP2_ERR_FLOODED, no GOAWAY). A client that reads its ACKs can send them forever.
// - PRIORITY, WINDOW_UPDATE, empty DATA / CONTINUATION: no limit at all (CVE-2019-9513,
//   -9518 class).
// - CONTINUATION: at most 8 per header block (CVE-2024-28182 backport), then the session fails
//   without a GOAWAY; kMaxContinuations below stops it first, with one.
//
// Cost: an increment and a compare per counted frame; the clock is read only when a count
// reaches its limit (the window then restarts if it is over).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "ingress/executor.hpp"

namespace portico::ingress {

class Http2FloodGuard {
 public:
  enum Kind : unsigned {
    kReset,         // a stream closed with an error before its response: client RST_STREAM, or
                    // nghttp2's RST_STREAM for the client's protocol error
    kSettings,      // SETTINGS frames (ACKs included)
    kPing,          // PING frames
    kPriority,      // PRIORITY frames
    kWindowUpdate,  // WINDOW_UPDATE frames beyond those the DATA we send justifies
    kEmptyFrame,    // DATA without END_STREAM and CONTINUATION without END_HEADERS, both empty
    kKinds
  };

  // A CONTINUATION count above this for one header block is a flood. The header list is at most
  // 64 KiB (SETTINGS_MAX_HEADER_LIST_SIZE), which fits in a HEADERS and 4 CONTINUATIONs of the
  // default 16 KiB frame size; nghttp2 itself gives up after 8, without a GOAWAY.
  static constexpr unsigned kMaxContinuations = 6;

  explicit Http2FloodGuard(std::chrono::steady_clock::time_point now) { starts_.fill(now); }

  // Counts one frame of `kind`. False: over budget, the client floods.
  bool count(Kind kind) {
    if (++counts_[kind] < kLimits[kind]) return true;
    return roll(kind);
  }
  // A DATA frame went out: the client may send WINDOW_UPDATEs (stream and connection) for it.
  void data_sent() {
    auto& n = counts_[kWindowUpdate];
    n = n > 2 ? n - 2 : 0;
  }

 private:
  static constexpr auto kWindow = std::chrono::seconds(10);
  // Per window. Browsers send one SETTINGS and a few PINGs per connection; RFC 7540 priority
  // users a PRIORITY per stream; a page torn down cancels up to max-concurrent-streams streams.
  static constexpr std::array<std::uint32_t, kKinds> kLimits{400, 100, 100, 1000, 1000, 100};

  bool roll(Kind kind) {
    const auto now = CoarseClock::now();
    if (now - starts_[kind] < kWindow) return false;
    starts_[kind] = now;
    counts_[kind] = 0;
    return true;
  }

  std::array<std::uint32_t, kKinds> counts_{};
  std::array<std::chrono::steady_clock::time_point, kKinds> starts_{};
};

}  // namespace portico::ingress
