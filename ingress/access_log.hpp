#pragma once

// The access log: one JSON object per line and per request, on standard output or appended to a
// file. A worker formats its lines into a buffer of its own and hands a full buffer (32 KiB, or
// whatever it holds every 100 ms) to the log's writer thread, which does the write(2) calls. A
// worker never waits for the sink: when more than kQueueLimit bytes of a worker's lines wait for
// the writer (the sink is slow or blocked), a buffer handed off is dropped instead, and its lines
// are counted (dropped_lines(), exported as portico_access_log_dropped_lines_total).
//
// Every string is escaped as RFC 8259 requires; bytes that are not UTF-8 are written as \u00XX
// (their Latin-1 reading), so that every line is valid JSON whatever a client sent. Absent values
// (no upstream answered, no route matched, no request id) are null.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace portico::ingress {

struct AccessRecord {
  std::chrono::system_clock::time_point start;
  std::string_view request_id;  // empty: none (null)
  std::string_view client;
  std::string_view method;
  std::string_view authority;
  std::string_view path;
  std::string_view protocol;  // "HTTP/1.1", "HTTP/1.0", "HTTP/2"
  unsigned status = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::chrono::microseconds duration{0};
  std::string_view upstream;                       // "ip:port"; empty: no upstream answered (null)
  std::chrono::microseconds upstream_duration{0};  // to the upstream's response header
  // Of the route; all empty when no route matched (null).
  std::string_view namespace_;
  std::string_view ingress;
  std::string_view service;
};

// The date part of the time field, formatted once per second.
struct LineClock {
  std::int64_t second = -1;
  char date[24] = {};  // "YYYY-MM-DDTHH:MM:SS"
};

// Appends `record` as one JSON line (with its '\n').
void format_access_line(const AccessRecord& record, std::string& out, LineClock& clock);
// Appends `text` as a JSON string, quotes included.
void append_json_string(std::string& out, std::string_view text);

class AccessLog {
 public:
  static constexpr std::size_t kHandOffBytes = 32 * 1024;
  static constexpr std::size_t kQueueLimit = 4 * 1024 * 1024;  // per worker
  static constexpr auto kFlushInterval = std::chrono::milliseconds(100);

  // `where`: "stdout", or a file path (opened for appending, created 0644). Null with `error`
  // set when the file cannot be opened.
  static std::unique_ptr<AccessLog> open(const std::string& where, unsigned workers,
                                         std::string& error);
  AccessLog(int fd, bool own_fd, unsigned workers);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // One worker's side; used from that worker's thread only (or after it stopped).
  class Buffer {
   public:
    void append(const AccessRecord& record);
    // Hands what the buffer holds to the writer (or drops it, see above). Never blocks but for
    // the log's lock, held for a few pointer moves.
    void hand_off();

   private:
    friend class AccessLog;
    explicit Buffer(AccessLog& log) : log_(log) { text_.reserve(2 * kHandOffBytes); }
    AccessLog& log_;
    std::string text_;
    std::uint64_t lines_ = 0;
    std::size_t queued_ = 0;  // this worker's bytes waiting for the writer; under log_.mutex_
    LineClock clock_;
  };

  Buffer& buffer(unsigned worker) { return *buffers_[worker]; }
  void start();
  // Writes what was handed off and stops the writer; gives up on lines the sink does not take
  // within a second (they count as dropped).
  void stop();

  std::uint64_t written_lines() const { return written_.load(std::memory_order_relaxed); }
  std::uint64_t dropped_lines() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Pending {
    std::string text;
    std::uint64_t lines;
    Buffer* from;
  };
  void run();
  bool write_all(std::string_view bytes);

  const int fd_;
  const bool own_fd_;
  bool regular_file_ = false;
  std::vector<std::unique_ptr<Buffer>> buffers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Pending> queue_;          // under mutex_
  std::vector<std::string> spares_;     // empty strings with capacity; under mutex_
  bool stopping_ = false;               // under mutex_
  std::atomic<bool> giving_up_{false};  // stopping, and the sink took nothing for kStopGrace
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace portico::ingress
