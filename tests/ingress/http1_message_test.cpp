// The HTTP/1.x parser the proxy relays with: it must accept, refuse and frame messages as Beast's
// parser (the reference it replaced on the request path) does, byte for byte, however the bytes
// arrive. Deliberate differences: it refuses what RFC 9112 lets a recipient refuse and what makes
// two parsers disagree on framing or target (see refused_by_rfc9112_rules), where Beast accepts.

#include "ingress/http1_message.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cctype>
#include <string>
#include <vector>

namespace portico::ingress {
namespace {

namespace beast = boost::beast;

// What a parser made of one message, in terms both parsers can express.
struct Outcome {
  std::string error;  // empty when the message was parsed; "need_more" when incomplete
  std::string start_line;
  std::vector<std::pair<std::string, std::string>> fields;
  bool keep_alive = false;
  bool chunked = false;
  std::string content_length = "-";
  bool done = false;
  std::string body;

  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Outcome& o) {
  out << "{error=" << o.error << " start=" << o.start_line << " fields=";
  for (const auto& [name, value] : o.fields) out << "[" << name << ": " << value << "]";
  return out << " keep_alive=" << o.keep_alive << " chunked=" << o.chunked
             << " length=" << o.content_length << " done=" << o.done << " body=" << o.body << "}";
}

std::string error_name(const boost::system::error_code& ec) {
  if (!ec) return "";
  if (ec == beast::http::error::need_more) return "need_more";
  if (ec == beast::http::error::header_limit) return "header_limit";
  return "error";  // which parse error it is may differ: both refuse the message
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whether `wire`'s header breaks one of the rules ours enforces beyond Beast's: obs-fold; a
// Transfer-Encoding that is not exactly one "chunked", repeated, with Content-Length, or in
// HTTP/1.0; (requests) Host repeated or not an authority.
bool refused_by_rfc9112_rules(std::string_view wire, bool request) {
  std::string_view header = wire.substr(0, wire.find("\r\n\r\n"));
  std::vector<std::string_view> lines;
  for (;;) {
    const auto crlf = header.find("\r\n");
    lines.push_back(header.substr(0, crlf));
    if (crlf == std::string_view::npos) break;
    header.remove_prefix(crlf + 2);
  }
  const bool http10 = lines[0].find("HTTP/1.0") != std::string_view::npos;
  int te = 0, cl = 0, host = 0;
  bool bad = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) return true;  // obs-fold
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string name = lower(line.substr(0, colon));
    std::string value = lower(line.substr(colon + 1));
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t") + 1);
    if (name == "transfer-encoding") {
      ++te;
      std::string codings;
      for (char c : value) {
        if (c != ',' && c != ' ' && c != '\t') codings += c;
      }
      bad = bad || codings != "chunked" || value.find("chunked") != value.rfind("chunked");
    } else if (name == "content-length") {
      ++cl;
    } else if (name == "host" && request) {
      ++host;
      for (char c : value) {
        bad = bad || (!std::isalnum(static_cast<unsigned char>(c)) &&
                      std::string_view("-._~%!$&'()*+;=:[]").find(c) == std::string_view::npos);
      }
    }
  }
  return bad || te > 1 || (te > 0 && (cl > 0 || http10)) || host > 1;
}

// Ours and Beast's outcomes agree, or ours refuses by one of the rules above.
bool agrees(const Outcome& ours, const Outcome& reference, std::string_view wire, bool request) {
  if (ours == reference) return true;
  return ours.error == "error" && refused_by_rfc9112_rules(wire, request);
}

// Beast's parser, keeping what it reports as it goes: the start line and the fields of the
// header as received (trailer fields are not the header's), the decoded body.
template <bool isRequest>
class Reference final : public beast::http::basic_parser<isRequest> {
 public:
  Outcome outcome;

 private:
  using string_view = beast::string_view;
  void on_request_impl(beast::http::verb, string_view method, string_view target, int version,
                       boost::system::error_code&) override {
    outcome.start_line =
        std::string(method) + " " + std::string(target) + " " + std::to_string(version);
  }
  void on_response_impl(int status, string_view reason, int version,
                        boost::system::error_code&) override {
    outcome.start_line =
        std::to_string(status) + " " + std::string(reason) + " " + std::to_string(version);
  }
  void on_field_impl(beast::http::field, string_view name, string_view value,
                     boost::system::error_code&) override {
    if (!this->is_header_done()) outcome.fields.emplace_back(name, value);
  }
  void on_header_impl(boost::system::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&,
                         boost::system::error_code&) override {}
  std::size_t on_body_impl(string_view body, boost::system::error_code&) override {
    outcome.body += body;
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, boost::system::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body,
                                 boost::system::error_code&) override {
    outcome.body += body;
    return body.size();
  }
  void on_finish_impl(boost::system::error_code&) override {}
};

template <bool isRequest>
Outcome with_beast(std::string_view wire, bool head_response = false) {
  Reference<isRequest> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(boost::none);
  parser.eager(true);
  if (head_response) parser.skip(true);
  boost::system::error_code ec;
  parser.put(boost::asio::const_buffer(wire.data(), wire.size()), ec);
  Outcome refused;
  refused.error = ec && ec != beast::http::error::need_more ? error_name(ec) : "need_more";
  if ((ec && ec != beast::http::error::need_more) || !parser.is_header_done()) return refused;
  Outcome o = std::move(parser.outcome);
  o.keep_alive = parser.keep_alive();
  o.chunked = parser.chunked();
  if (auto length = parser.content_length()) o.content_length = std::to_string(*length);
  o.done = parser.is_done();
  return o;
}

// Ours, fed `wire` in pieces of `step` bytes (all of it at once when 0).
template <bool isRequest>
Outcome with_ours(std::string_view wire, std::size_t step = 0, bool head_response = false) {
  MessageHead head;
  std::vector<std::string_view> pieces;
  MessageParser<isRequest> parser(head, pieces);
  if (head_response) parser.skip_body();
  Outcome o;
  boost::system::error_code ec;
  std::size_t available = step == 0 ? wire.size() : std::min(step, wire.size());
  std::size_t used = 0;
  for (;;) {
    used = parser.put_header(wire.substr(0, available), ec);
    if (ec != beast::http::error::need_more || available == wire.size()) break;
    available = std::min(wire.size(), available + step);
  }
  o.error = error_name(ec);
  if (ec) return o;
  std::string_view rest = wire.substr(used);
  // Bytes "arrived" so far, of those not taken yet.
  std::size_t arrived = step == 0 ? rest.size() : std::min(step, rest.size());
  while (!parser.is_done()) {
    const std::size_t n = parser.put_body(rest.substr(0, arrived), ec);
    if (ec) {
      o.error = error_name(ec);
      return o;
    }
    rest.remove_prefix(n);
    arrived -= n;
    if (n == 0 || arrived == 0) {
      if (arrived == rest.size()) break;  // nothing more will come
      arrived = step == 0 ? rest.size() : std::min(rest.size(), arrived + step);
    }
  }
  if constexpr (isRequest) {
    o.start_line = std::string(head.method_string()) + " " + std::string(head.target()) + " " +
                   std::to_string(head.version());
  } else {
    o.start_line = std::to_string(head.status()) + " " + std::string(head.reason()) + " " +
                   std::to_string(head.version());
  }
  for (std::size_t i = 0; i < head.size(); ++i) o.fields.emplace_back(head[i].name, head[i].value);
  o.keep_alive = parser.keep_alive();
  o.chunked = parser.chunked();
  if (auto length = parser.content_length()) o.content_length = std::to_string(*length);
  o.done = parser.is_done();
  for (std::string_view piece : pieces) o.body += piece;
  return o;
}

const std::vector<std::string> kRequests = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /path?q=1#f HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    "GET / HTTP/1.1\r\nConnection: Keep-Alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "CUSTOM-Verb_1 /x HTTP/1.1\r\n\r\n",
    "GET http://a.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n",
    "POST /u HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    "POST /u HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
    "POST /u HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    "POST /u HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc",
    "POST /u HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "POST /u HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "POST /u HTTP/1.1\r\nContent-Length: 3,4\r\n\r\nabcd",
    "POST /u HTTP/1.1\r\nContent-Length: 3,,3\r\n\r\nabc",
    "POST /u HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    "POST /u HTTP/1.1\r\nContent-Length: 1a\r\n\r\n",
    "POST /u HTTP/1.1\r\nContent-Length:\r\n\r\n",
    "POST /u HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: "
    "x\r\n\r\n",
    "POST /u HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "POST /u HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
    "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    "POST /u HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    "GET / HTTP/1.1\r\nX-Empty:\r\nX-Spaces:   a b   \r\nX-Tab:\tt\t\r\n\r\n",
    "GET / HTTP/1.1\r\nX-Obs: é\r\n\r\n",
    "GET / HTTP/1.1\r\nX-Fold: a\r\n  b\r\n\tc\r\nY: d\r\n\r\n",
    "GET / HTTP/1.1\r\nX-Fold:\r\n b\r\n\r\n",
    "GET / HTTP/1.1\r\nX-Fold: a\r\n \r\n\r\n",
    // refused
    "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
    "GET / HTTP/1.1\r\n: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\nb\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n",
    "GET / HTTP/1.1\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\n\r\n",
    "GET  / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1 \r\n\r\n",
    "GET /a b HTTP/1.1\r\n\r\n",
    "GET / HTTP/2.0\r\n\r\n",
    "GET / HTTP/0.9\r\n\r\n",
    "GET / http/1.1\r\n\r\n",
    "GET / HTTP/1.12\r\n\r\n",
    "GET /\r\n\r\n",
    "G@T / HTTP/1.1\r\n\r\n",
    " GET / HTTP/1.1\r\n\r\n",
    "\r\nGET / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nConnection: a b\r\n\r\n",
    "GET / HTTP/1.1\r\nConnection: ,close,\r\n\r\n",
    "GARBAGE\r\n\r\n",
    // incomplete
    "GET / HTTP/1.1\r\nHost: a\r\n",
    "GET / HTTP/1.1\r\n",
    "GE",
    "",
};

const std::vector<std::string> kResponses = {
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 Very  Fine \r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nxx",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nuntil the end",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nuntil the end",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nab",
    "HTTP/1.1 200 OK\r\n\r\nuntil the end",
    "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nab",
    "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nab",
    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nab",
    "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Tue, 25 Nov 2026 07:00:00 GMT\r\n"
    "Content-Type: text/plain\r\nContent-Length: 23\r\nConnection: keep-alive\r\n\r\n"
    "hello from the backend\n",
    "HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
    // refused
    "HTTP/1.1 20 OK\r\n\r\n",
    "HTTP/1.1 2000 OK\r\n\r\n",
    "HTTP/1.1 200\r\n\r\n",
    "HTTP/1.1 200 O\x01K\r\n\r\n",
    "HTTP/1.1  200 OK\r\n\r\n",
    "HTTP/2 200 OK\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    "HTTP/1.1 200 OK\r\nBad Field: x\r\n\r\n",
    "ICY 200 OK\r\n\r\n",
    // incomplete
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
    "HTTP/1.1 200 OK\r\n",
};

TEST(MessageParser, RequestsAsBeastParsesThem) {
  for (const std::string& wire : kRequests) {
    Outcome beast_outcome = with_beast<true>(wire);
    for (std::size_t step : {0, 1, 2, 7}) {
      EXPECT_PRED4(agrees, with_ours<true>(wire, step), beast_outcome, wire, true)
          << "request (" << step << " bytes at a time): " << wire;
    }
  }
}

TEST(MessageParser, ResponsesAsBeastParsesThem) {
  for (const std::string& wire : kResponses) {
    Outcome beast_outcome = with_beast<false>(wire);
    for (std::size_t step : {0, 1, 3}) {
      EXPECT_PRED4(agrees, with_ours<false>(wire, step), beast_outcome, wire, false)
          << "response (" << step << " bytes at a time): " << wire;
    }
    EXPECT_PRED4(agrees, with_ours<false>(wire, 0, true), with_beast<false>(wire, true), wire,
                 false)
        << "response to HEAD: " << wire;
  }
}

// RFC 9112 and the request smuggling vectors: each refused, whether or not Beast accepts it.
TEST(MessageParser, AmbiguousFramingAndTargetAreRefused) {
  const std::vector<std::string> requests = {
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET / HTTP/1.1\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
      std::string("GET / HTTP/1.1\r\nHost: a\0\r\n\r\n", 28),
      "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
  };
  for (const std::string& wire : requests) {
    for (std::size_t step : {0, 1}) {
      EXPECT_EQ(with_ours<true>(wire, step).error, "error") << step << ": " << wire;
    }
  }
  const std::vector<std::string> responses = {
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nuntil the end",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nab",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nab",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
      "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
  };
  for (const std::string& wire : responses) {
    EXPECT_EQ(with_ours<false>(wire).error, "error") << wire;
  }
  // Still accepted: one chunked in any case, empty list elements, a Host with a port or an
  // IPv6 literal, equal Content-Length values.
  for (const std::string& wire :
       {std::string("POST / HTTP/1.1\r\nTransfer-Encoding: ,Chunked\r\n\r\n0\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nHost: a.test:8080\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nHost:\r\n\r\n"),
        std::string("POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nz")}) {
    EXPECT_EQ(with_ours<true>(wire).error, "") << wire;
  }
}

TEST(MessageParser, TransferCodingThatIsNotATokenIsRefused) {
  EXPECT_EQ(with_ours<false>("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked:\r\n\r\n").error,
            "error");
}

TEST(MessageParser, HeaderLimitIs64KiB) {
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(kHeaderLimit, 'a') + "\r\n\r\n";
  EXPECT_EQ(with_ours<true>(big).error, "header_limit");
  EXPECT_EQ(with_beast<true>(big).error, "header_limit");
  std::string fits = "GET / HTTP/1.1\r\nX: " + std::string(kHeaderLimit - 100, 'a') + "\r\n\r\n";
  EXPECT_EQ(with_ours<true>(fits).error, "");
}

// Parses `wire` (all of it at once) with `limits`: the error, and whether it was the line's.
std::pair<std::string, bool> with_limits(std::string_view wire, const HeaderLimits& limits) {
  MessageHead head;
  std::vector<std::string_view> pieces;
  RequestParser parser(head, pieces, limits);
  boost::system::error_code ec;
  parser.put_header(wire, ec);
  return {error_name(ec), parser.line_too_long()};
}

TEST(MessageParser, RequestLineLimitIsItsOwn) {
  const HeaderLimits limits{.request_line = 64, .bytes = 1024, .fields = 100};
  const std::string at_limit = "GET /" + std::string(64 - 16, 'a') + " HTTP/1.1\r\n";
  ASSERT_EQ(at_limit.size(), 64u);
  EXPECT_EQ(with_limits(at_limit + "\r\n", limits), std::pair(std::string(""), false));
  const std::string over = "GET /" + std::string(64 - 15, 'a') + " HTTP/1.1\r\n";
  EXPECT_EQ(with_limits(over + "\r\n", limits), std::pair(std::string("header_limit"), true));
  // Refused before its end has come: a long line need not be waited for.
  const std::string longer = "GET /" + std::string(200, 'a') + " HTTP/1.1\r\n\r\n";
  EXPECT_EQ(with_limits(longer.substr(0, 65), limits),
            std::pair(std::string("header_limit"), true));
  EXPECT_EQ(with_limits(longer.substr(0, 64), limits), std::pair(std::string("need_more"), false));
}

TEST(MessageParser, HeaderBytesAndFieldsLimits) {
  const HeaderLimits limits{.request_line = 64, .bytes = 100, .fields = 3};
  std::string three = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  EXPECT_EQ(with_limits(three, limits), std::pair(std::string(""), false));
  std::string four = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
  EXPECT_EQ(with_limits(four, limits), std::pair(std::string("header_limit"), false));
  // 100 bytes with the empty line: accepted; 101: refused, complete or not.
  std::string exact = "GET / HTTP/1.1\r\nX: " + std::string(100 - 23, 'v') + "\r\n\r\n";
  ASSERT_EQ(exact.size(), 100u);
  EXPECT_EQ(with_limits(exact, limits), std::pair(std::string(""), false));
  std::string over = "GET / HTTP/1.1\r\nX: " + std::string(100 - 22, 'v') + "\r\n\r\n";
  EXPECT_EQ(with_limits(over, limits), std::pair(std::string("header_limit"), false));
  EXPECT_EQ(with_limits(over.substr(0, 100), limits),
            std::pair(std::string("header_limit"), false));
}

TEST(MessageParser, UpstreamResponsesHaveNoFieldCountByDefault) {
  std::string response = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 500; ++i) response += "Set-Cookie: c" + std::to_string(i) + "=v\r\n";
  response += "Content-Length: 0\r\n\r\n";
  EXPECT_EQ(with_ours<false>(response).error, "");
}

// Single-byte changes of valid messages: both parsers accept or refuse each the same way.
TEST(MessageParser, MutatedMessagesAsBeastParsesThem) {
  const std::string request =
      "POST /a?b HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc";
  const std::string chunked =
      "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
  const char replacements[] = {'\0', '\t', '\n', '\r', ' ',    ':',    ',',   ';',
                               '0',  '9',  'A',  'z',  '\x7f', '\x80', '\xff'};
  for (std::size_t i = 0; i < request.size(); ++i) {
    for (char c : replacements) {
      std::string wire = request;
      wire[i] = c;
      EXPECT_PRED4(agrees, with_ours<true>(wire), with_beast<true>(wire), wire, true)
          << "request: " << wire;
      wire = chunked.substr(0, std::min(i, chunked.size() - 1)) + c +
             chunked.substr(std::min(i, chunked.size() - 1) + 1);
      // (A request whose Transfer-Encoding lost its "chunked" is refused by ours only.)
      if (wire.find("Transfer-Encoding: chunked") != std::string::npos ||
          wire.find("Transfer-Encoding") == std::string::npos) {
        EXPECT_PRED4(agrees, with_ours<true>(wire), with_beast<true>(wire), wire, true)
            << "chunked request: " << wire;
      }
    }
  }
  for (std::size_t i = 0; i < response.size(); ++i) {
    for (char c : replacements) {
      std::string wire = response;
      wire[i] = c;
      EXPECT_PRED4(agrees, with_ours<false>(wire), with_beast<false>(wire), wire, false)
          << "response: " << wire;
    }
  }
}

// Whether the codings of a Transfer-Encoding field in `wire` (if any) are tokens.
bool transfer_codings_are_tokens(std::string_view wire) {
  const auto at = wire.find("Transfer-Encoding:");
  if (at == std::string_view::npos) return true;
  std::string_view value = wire.substr(at + 18);
  value = value.substr(0, value.find("\r\n"));
  while (!value.empty()) {
    std::string_view element = value.substr(0, value.find(','));
    value.remove_prefix(std::min(value.size(), element.size() + 1));
    element = element.substr(0, element.find(';'));
    while (!element.empty() && (element.front() == ' ' || element.front() == '\t'))
      element.remove_prefix(1);
    while (!element.empty() && (element.back() == ' ' || element.back() == '\t'))
      element.remove_suffix(1);
    for (char c : element) {
      if (!std::isalnum(static_cast<unsigned char>(c)) &&
          std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos)
        return false;
    }
  }
  return true;
}

// Octets inserted and removed anywhere: the same again.
TEST(MessageParser, MessagesWithOctetsInsertedOrRemovedAsBeastParsesThem) {
  const std::vector<std::string> requests = {
      "GET /a HTTP/1.1\r\nHost: a\r\nX-Fold: b\r\n c\r\nContent-Length: 1\r\n\r\nz",
      "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"};
  const std::vector<std::string> responses = {
      "HTTP/1.1 404 Not Found\r\nContent-Length: 1, 1\r\nConnection: close\r\n\r\nz",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n"};
  const char inserted[] = {'\t', '\n', '\r', ' ', ':', ',', '1', 'x'};
  auto check = [&](const std::string& wire, auto request) {
    Outcome ours, reference;
    if constexpr (decltype(request)::value) {
      ours = with_ours<true>(wire);
      reference = with_beast<true>(wire);
    } else {
      ours = with_ours<false>(wire);
      reference = with_beast<false>(wire);
    }
    // Ours refuses a transfer coding that is not a token; Beast reads "chunked:" as chunked and
    // "c hunked" as another coding.
    if (ours.error == "error" && !transfer_codings_are_tokens(wire)) return;
    EXPECT_PRED4(agrees, ours, reference, wire, decltype(request)::value)
        << (decltype(request)::value ? "request: " : "response: ") << wire;
  };
  for (const std::string& message : requests) {
    for (std::size_t i = 0; i <= message.size(); ++i) {
      if (i < message.size()) check(message.substr(0, i) + message.substr(i + 1), std::true_type{});
      for (char c : inserted) check(message.substr(0, i) + c + message.substr(i), std::true_type{});
    }
  }
  for (const std::string& message : responses) {
    for (std::size_t i = 0; i <= message.size(); ++i) {
      if (i < message.size())
        check(message.substr(0, i) + message.substr(i + 1), std::false_type{});
      for (char c : inserted)
        check(message.substr(0, i) + c + message.substr(i), std::false_type{});
    }
  }
}

}  // namespace
}  // namespace portico::ingress
