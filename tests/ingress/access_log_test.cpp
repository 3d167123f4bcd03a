// The access log's line format: valid JSON whatever the request held, nulls for what is absent,
// and the writer: lines handed off reach the sink; a sink nobody reads drops, never blocks.

#include "ingress/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>

namespace portico::ingress {
namespace {

std::string quoted(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

TEST(JsonString, PlainTextPassesThrough) {
  EXPECT_EQ(quoted("/api/v1?x=1"), "\"/api/v1?x=1\"");
}

TEST(JsonString, QuotesBackslashesAndControlCharactersAreEscaped) {
  EXPECT_EQ(quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(quoted(std::string_view("\n\r\t\x01\x7f\0", 6)), R"("\n\r\t\u0001\u007f\u0000")");
}

TEST(JsonString, WellFormedUtf8IsKept) {
  EXPECT_EQ(quoted("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST(JsonString, BytesThatAreNotUtf8BecomeLatin1Escapes) {
  EXPECT_EQ(quoted("\xff"), R"("\u00ff")");
  EXPECT_EQ(quoted("\xc3"), R"("\u00c3")");                                // truncated sequence
  EXPECT_EQ(quoted("\xc0\xaf"), R"("\u00c0\u00af")");                      // overlong '/'
  EXPECT_EQ(quoted("\xed\xa0\x80"), R"("\u00ed\u00a0\u0080")");            // a UTF-16 surrogate
  EXPECT_EQ(quoted("\xf4\x90\x80\x80"), R"("\u00f4\u0090\u0080\u0080")");  // above U+10FFFF
  EXPECT_EQ(quoted("a\xe2\x82z"), R"("a\u00e2\u0082z")");
}

AccessRecord record() {
  AccessRecord r;
  r.start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'764'063'712'017));
  r.client = "10.0.0.1";
  r.method = "GET";
  r.authority = "shop.test";
  r.path = "/";
  r.protocol = "HTTP/2";
  r.status = 404;
  r.bytes_in = 10;
  r.bytes_out = 20;
  r.duration = std::chrono::microseconds(30);
  return r;
}

TEST(AccessLine, AbsentValuesAreNull) {
  std::string line;
  LineClock clock;
  format_access_line(record(), line, clock);
  EXPECT_EQ(line,
            R"({"time":"2025-11-25T09:41:52.017Z","request_id":null,"client":"10.0.0.1",)"
            R"("method":"GET","authority":"shop.test","path":"/","protocol":"HTTP/2","status":404,)"
            R"("bytes_in":10,"bytes_out":20,"duration_us":30,"upstream":null,)"
            R"("upstream_duration_us":null,"namespace":null,"ingress":null,"service":null})"
            "\n");
}

TEST(AccessLine, AProxiedRequestNamesItsUpstreamAndRoute) {
  AccessRecord r = record();
  r.status = 200;
  r.request_id = "abc";
  r.upstream = "127.0.0.1:8080";
  r.upstream_duration = std::chrono::microseconds(25);
  r.namespace_ = "shop";
  r.ingress = "web";
  r.service = "api";
  std::string line;
  LineClock clock;
  format_access_line(r, line, clock);
  EXPECT_NE(line.find(R"("request_id":"abc")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("upstream":"127.0.0.1:8080","upstream_duration_us":25,)"
                      R"("namespace":"shop","ingress":"web","service":"api"})"),
            std::string::npos)
      << line;
}

TEST(AccessLogWriter, LinesHandedOffReachTheSink) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    AccessLog log(fds[1], true, 1);
    log.start();
    log.buffer(0).append(record());
    log.buffer(0).append(record());
    log.buffer(0).hand_off();
    log.stop();
    EXPECT_EQ(log.written_lines(), 2u);
    EXPECT_EQ(log.dropped_lines(), 0u);
  }
  std::string text(4096, '\0');
  const ssize_t n = ::read(fds[0], text.data(), text.size());
  ASSERT_GT(n, 0);
  text.resize(static_cast<std::size_t>(n));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  ::close(fds[0]);
}

TEST(AccessLogWriter, ASinkNobodyReadsDropsLinesInsteadOfBlocking) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);  // the read end stays open and unread
  AccessLog log(fds[1], true, 1);
  log.start();
  // Far more than the pipe and the worker's queue hold: append() must come back every time.
  const std::size_t lines = 3 * AccessLog::kQueueLimit / 200;
  for (std::size_t i = 0; i < lines; ++i) log.buffer(0).append(record());
  log.buffer(0).hand_off();
  log.stop();  // gives up on the blocked pipe
  EXPECT_GT(log.dropped_lines(), 0u);
  EXPECT_EQ(log.written_lines() + log.dropped_lines(), lines);
  ::close(fds[0]);
}

}  // namespace
}  // namespace portico::ingress
