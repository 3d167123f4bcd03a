#include "ingress/access_log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <ctime>

namespace portico::ingress {

namespace {

// Writes to a pipe or socket go in pieces no larger than this, each after poll() said the sink
// has room: a write of at most PIPE_BUF bytes to a pipe with room does not block.
constexpr std::size_t kPipePiece = 4096;
constexpr auto kStopGrace = std::chrono::seconds(1);
// Spare buffers kept for the workers to swap in: no allocation per hand-off in the steady state.
constexpr std::size_t kSparesPerWorker = 2;

// The length of the UTF-8 sequence starting at text[i] if it is well-formed (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), else 0.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return n;
}

// What a JSON string's byte may become at most: "\u00XX".
constexpr std::size_t kWorstPerByte = 6;

constexpr auto kPlain = [] {
  std::array<bool, 256> table{};
  for (int c = 0x20; c < 0x7f; ++c) table[c] = c != '"' && c != '\\';
  return table;
}();

// Writes into memory the caller sized for the worst case: no capacity check per piece, which
// made a line cost twice as much as a std::string built with +=.
class LineWriter {
 public:
  explicit LineWriter(char* at) : p_(at) {}
  void raw(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void number(std::uint64_t value) { p_ = std::to_chars(p_, p_ + 20, value).ptr; }
  void optional(std::string_view s) {
    if (s.empty()) {
      raw("null");
    } else {
      string(s);
    }
  }
  void string(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    *p_++ = '"';
    std::size_t plain = 0;  // start of the run of bytes that need no escaping
    for (std::size_t i = 0; i < text.size();) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (kPlain[c]) {
        ++i;
        continue;
      }
      if (c >= 0x80) {
        if (std::size_t n = utf8_sequence(text, i); n > 0) {
          i += n;
          continue;
        }
      }
      raw(text.substr(plain, i - plain));
      *p_++ = '\\';
      switch (c) {
        case '"':
          *p_++ = '"';
          break;
        case '\\':
          *p_++ = '\\';
          break;
        case '\n':
          *p_++ = 'n';
          break;
        case '\r':
          *p_++ = 'r';
          break;
        case '\t':
          *p_++ = 't';
          break;
        default:  // other control characters, DEL, and bytes that are not UTF-8
          raw("u00");
          *p_++ = kHex[c >> 4];
          *p_++ = kHex[c & 0xf];
      }
      plain = ++i;
    }
    raw(text.substr(plain));
    *p_++ = '"';
  }
  char* end() const { return p_; }

 private:
  char* p_;
};

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  const std::size_t at = out.size();
  out.resize(at + 2 + kWorstPerByte * text.size());
  LineWriter w(out.data() + at);
  w.string(text);
  out.resize(static_cast<std::size_t>(w.end() - out.data()));
}

void format_access_line(const AccessRecord& r, std::string& out, LineClock& clock) {
  const auto since_epoch = r.start.time_since_epoch();
  const std::int64_t seconds =
      std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  if (seconds != clock.second) {
    // Once a second, not per line: gmtime_r and strftime cost more than the rest of the line.
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm;
    gmtime_r(&t, &tm);
    std::strftime(clock.date, sizeof clock.date, "%Y-%m-%dT%H:%M:%S", &tm);
    clock.second = seconds;
  }
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;

  const std::size_t strings = r.request_id.size() + r.client.size() + r.method.size() +
                              r.authority.size() + r.path.size() + r.upstream.size() +
                              r.namespace_.size() + r.ingress.size() + r.service.size();
  // Keys, punctuation, the time, six numbers of up to 20 digits: under 512 bytes.
  const std::size_t worst = 512 + kWorstPerByte * strings;
  char stack[2048];
  std::unique_ptr<char[]> heap;
  char* buffer = stack;
  if (worst > sizeof stack) {
    heap.reset(new char[worst]);
    buffer = heap.get();
  }
  LineWriter w(buffer);
  w.raw("{\"time\":\"");
  w.raw(clock.date);
  const char fraction[] = {'.',
                           static_cast<char>('0' + millis / 100),
                           static_cast<char>('0' + millis / 10 % 10),
                           static_cast<char>('0' + millis % 10),
                           'Z',
                           '"'};
  w.raw({fraction, sizeof fraction});
  w.raw(",\"request_id\":");
  w.optional(r.request_id);
  w.raw(",\"client\":");
  w.string(r.client);
  w.raw(",\"method\":");
  w.string(r.method);
  w.raw(",\"authority\":");
  w.string(r.authority);
  w.raw(",\"path\":");
  w.string(r.path);
  w.raw(",\"protocol\":");
  w.string(r.protocol);
  w.raw(",\"status\":");
  w.number(r.status);
  w.raw(",\"bytes_in\":");
  w.number(r.bytes_in);
  w.raw(",\"bytes_out\":");
  w.number(r.bytes_out);
  w.raw(",\"duration_us\":");
  w.number(static_cast<std::uint64_t>(std::max<std::int64_t>(r.duration.count(), 0)));
  w.raw(",\"upstream\":");
  w.optional(r.upstream);
  w.raw(",\"upstream_duration_us\":");
  if (r.upstream.empty()) {
    w.raw("null");
  } else {
    w.number(static_cast<std::uint64_t>(std::max<std::int64_t>(r.upstream_duration.count(), 0)));
  }
  w.raw(",\"namespace\":");
  w.optional(r.namespace_);
  w.raw(",\"ingress\":");
  w.optional(r.ingress);
  w.raw(",\"service\":");
  w.optional(r.service);
  w.raw("}\n");
  out.append(buffer, static_cast<std::size_t>(w.end() - buffer));
}

// ---- AccessLog::Buffer

void AccessLog::Buffer::append(const AccessRecord& record) {
  format_access_line(record, text_, clock_);
  ++lines_;
  if (text_.size() >= kHandOffBytes) hand_off();
}

void AccessLog::Buffer::hand_off() {
  if (text_.empty()) return;
  {
    std::lock_guard lock(log_.mutex_);
    if (queued_ + text_.size() > kQueueLimit) {
      log_.dropped_.fetch_add(lines_, std::memory_order_relaxed);
      text_.clear();
    } else {
      queued_ += text_.size();
      log_.queue_.push_back({std::move(text_), lines_, this});
      if (!log_.spares_.empty()) {
        text_ = std::move(log_.spares_.back());
        log_.spares_.pop_back();
      } else {
        text_ = std::string();
      }
    }
  }
  lines_ = 0;
  if (text_.capacity() < 2 * kHandOffBytes) text_.reserve(2 * kHandOffBytes);
  log_.wake_.notify_one();
}

// ---- AccessLog

std::unique_ptr<AccessLog> AccessLog::open(const std::string& where, unsigned workers,
                                           std::string& error) {
  if (where == "stdout") return std::make_unique<AccessLog>(STDOUT_FILENO, false, workers);
  const int fd = ::open(where.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "\"" + where + "\": cannot open for appending: " + std::strerror(errno);
    return nullptr;
  }
  return std::make_unique<AccessLog>(fd, true, workers);
}

AccessLog::AccessLog(int fd, bool own_fd, unsigned workers) : fd_(fd), own_fd_(own_fd) {
  struct stat st {};
  regular_file_ = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  for (unsigned i = 0; i < workers; ++i)
    buffers_.push_back(std::unique_ptr<Buffer>(new Buffer(*this)));
}

AccessLog::~AccessLog() {
  stop();
  if (own_fd_) ::close(fd_);
}

void AccessLog::start() {
  thread_ = std::thread([this] { run(); });
}

void AccessLog::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void AccessLog::run() {
  // A reader that went away (EPIPE) must not kill the process: SIGPIPE is thread-directed, so
  // blocking it here is enough, and write() fails instead.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);

  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kFlushInterval, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
    }
    for (Pending& p : batch) {
      if (write_all(p.text)) {
        written_.fetch_add(p.lines, std::memory_order_relaxed);
      } else {
        dropped_.fetch_add(p.lines, std::memory_order_relaxed);
      }
    }
    std::lock_guard lock(mutex_);
    for (Pending& p : batch) {
      p.from->queued_ -= p.text.size();
      p.text.clear();
      if (spares_.size() < kSparesPerWorker * buffers_.size()) spares_.push_back(std::move(p.text));
    }
    batch.clear();
  }
}

bool AccessLog::write_all(std::string_view bytes) {
  if (giving_up_.load()) return false;
  std::chrono::steady_clock::time_point stuck_since{};
  while (!bytes.empty()) {
    if (!regular_file_) {
      pollfd p{fd_, POLLOUT, 0};
      const int ready = ::poll(&p, 1, 100);
      if (ready < 0 && errno != EINTR) return false;
      if (ready <= 0) {
        // A blocked sink: wait (the workers drop meanwhile), unless the process is stopping.
        bool stopping;
        {
          std::lock_guard lock(mutex_);
          stopping = stopping_;
        }
        if (stopping && giving_up_.load()) return false;
        if (stopping) {
          const auto now = std::chrono::steady_clock::now();
          if (stuck_since == std::chrono::steady_clock::time_point{}) stuck_since = now;
          if (now - stuck_since >= kStopGrace) {
            giving_up_.store(true);
            return false;
          }
        }
        continue;
      }
      if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 && (p.revents & POLLOUT) == 0)
        return false;
    }
    const std::size_t piece = regular_file_ ? bytes.size() : std::min(bytes.size(), kPipePiece);
    const ssize_t n = ::write(fd_, bytes.data(), piece);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace portico::ingress
