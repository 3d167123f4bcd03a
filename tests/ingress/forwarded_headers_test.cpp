// What the proxy changes in forwarded headers (RFC 9110 7.6), and the serve flags' parsers.

#include "ingress/forwarded_headers.hpp"

#include <gtest/gtest.h>

#include <boost/beast/core/string.hpp>

#include "ingress/serve_config.hpp"

namespace portico::ingress {
namespace {

// A message parsed from its HTTP/1.1 text, as the proxy receives it.
template <bool isRequest>
struct Parsed {
  MessageHead head;
  std::vector<std::string_view> body;
  explicit Parsed(std::string_view text) {
    MessageParser<isRequest> parser(head, body);
    boost::system::error_code ec;
    text.remove_prefix(parser.put_header(text, ec));
    EXPECT_FALSE(ec) << ec.message() << " in " << text;
    while (!ec && !text.empty() && !parser.is_done()) {
      const std::size_t n = parser.put_body(text, ec);
      EXPECT_FALSE(ec) << ec.message() << " in " << text;
      if (n == 0) break;
      text.remove_prefix(n);
    }
  }
  // The value of every field named `name`, joined with "|"; "-" when there is none.
  std::string values(std::string_view name) const {
    std::string out;
    for (std::size_t i = 0; i < head.size(); ++i) {
      if (!boost::beast::iequals(head[i].name, name)) continue;
      if (!out.empty()) out += '|';
      out += head[i].value;
    }
    return out.empty() ? "-" : out;
  }
};

ForwardContext context(bool upgrade = false) {
  return ForwardContext{"192.0.2.7", "https", "shop.test", 8443, upgrade};
}

// What the upstream receives for `request`, parsed again.
Parsed<true> forwarded(std::string_view request, bool upgrade = false,
                       Framing framing = Framing::kNone, std::uint64_t length = 0) {
  Parsed<true> in(request);
  std::string out;
  RequestId generated;
  append_upstream_request(out, in.head, context(upgrade), framing, length, generated);
  return Parsed<true>(out);
}

TEST(UpstreamRequest, HopByHopFieldsAndTheFieldsConnectionNamesAreRemoved) {
  auto out = forwarded(
      "GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\nConnection: keep-alive, X-Private, close\r\n"
      "X-Private: secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
      "TE: trailers\r\nTrailer: X-Checksum\r\nUpgrade: h2c\r\nExpect: 100-continue\r\n"
      "X-Kept: yes\r\n\r\n");
  for (const char* gone : {"Connection", "X-Private", "Keep-Alive", "Proxy-Connection", "TE",
                           "Trailer", "Transfer-Encoding", "Upgrade", "Expect"})
    EXPECT_EQ(out.values(gone), "-") << gone;
  EXPECT_EQ(out.values("Host"), "shop.test") << "Host is kept";
  EXPECT_EQ(out.values("X-Kept"), "yes");
  EXPECT_EQ(out.head.method_string(), "GET");
  EXPECT_EQ(out.head.target(), "/a?b=1");
  EXPECT_EQ(out.head.version(), 11u);
}

TEST(UpstreamRequest, WebSocketUpgradeKeepsUpgradeAndConnection) {
  auto out = forwarded(
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true);
  EXPECT_EQ(out.values("Upgrade"), "websocket");
  EXPECT_EQ(out.values("Connection"), "upgrade");
}

TEST(UpstreamRequest, XForwardedForIsAppendedAndTheOthersAreSet) {
  auto out = forwarded(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1\r\n"
      "X-Forwarded-Proto: forged\r\nx-forwarded-for: 198.51.100.2\r\n\r\n");
  EXPECT_EQ(out.values("X-Forwarded-For"), "203.0.113.1, 198.51.100.2, 192.0.2.7");
  EXPECT_EQ(out.values("X-Forwarded-Proto"), "https");
  EXPECT_EQ(out.values("X-Forwarded-Host"), "shop.test");
  EXPECT_EQ(out.values("X-Forwarded-Port"), "8443");
  EXPECT_EQ(forwarded("GET / HTTP/1.1\r\nHost: a\r\n\r\n").values("X-Forwarded-For"), "192.0.2.7");
}

TEST(UpstreamRequest, RequestIdIsGeneratedWhenAbsentOrEmptyAndKeptWhenSent) {
  Parsed<true> fresh("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string out;
  RequestId generated;
  std::string_view id =
      append_upstream_request(out, fresh.head, context(), Framing::kNone, 0, generated);
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(Parsed<true>(out).values("X-Request-ID"), id);
  EXPECT_NE(make_request_id().view(), make_request_id().view());
  Parsed<true> sent("GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: abc\r\n\r\n");
  out.clear();
  EXPECT_EQ(append_upstream_request(out, sent.head, context(), Framing::kNone, 0, generated),
            "abc");
  EXPECT_EQ(Parsed<true>(out).values("X-Request-ID"), "abc");
  auto empty = forwarded("GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID:\r\n\r\n");
  EXPECT_EQ(empty.values("X-Request-ID").size(), 32u);
}

TEST(UpstreamRequest, BodyFramingIsTheProxysOwn) {
  auto chunked =
      forwarded("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", false,
                Framing::kChunked);
  EXPECT_EQ(chunked.values("Transfer-Encoding"), "chunked");
  auto length = forwarded("POST / HTTP/1.1\r\nHost: a\r\n\r\n", false, Framing::kLength, 12);
  EXPECT_EQ(length.values("Content-Length"), "12");
  auto kept = forwarded("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", false,
                        Framing::kLength, 3);
  EXPECT_EQ(kept.values("Content-Length"), "3") << "one Content-Length, as received";
}

TEST(ClientResponse, HopByHopFieldsAreRemovedAndPersistenceIsTheVersions) {
  Parsed<false> in(
      "HTTP/1.1 200 Fine\r\nConnection: X-Internal\r\nX-Internal: 1\r\nKeep-Alive: timeout=5\r\n"
      "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  std::string out;
  append_client_response(out, in.head, 11, Framing::kChunked, false, false);
  Parsed<false> http11(out + "0\r\n\r\n");
  EXPECT_EQ(http11.head.status(), 200u);
  EXPECT_EQ(http11.head.reason(), "Fine");
  EXPECT_EQ(http11.values("X-Internal"), "-");
  EXPECT_EQ(http11.values("Keep-Alive"), "-");
  EXPECT_EQ(http11.values("Content-Type"), "text/plain");
  EXPECT_EQ(http11.values("Transfer-Encoding"), "chunked");
  EXPECT_EQ(http11.values("Connection"), "close");
  out.clear();
  append_client_response(out, in.head, 10, Framing::kClose, true, false);
  EXPECT_NE(out.find("HTTP/1.0 200 Fine\r\n"), std::string::npos);
  EXPECT_NE(out.find("Connection: keep-alive\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos);
}

TEST(BodyPieces, ChunkedBodiesAreDecodedAndFramedAgainAsOneChunk) {
  Parsed<true> in(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n");
  ASSERT_EQ(in.body.size(), 2u);
  EXPECT_EQ(in.values("X-Trailer"), "-") << "trailers are not relayed";
  std::vector<boost::asio::const_buffer> buffers;
  std::string head = "H";
  gather(buffers, head, in.body, Framing::kChunked, true);
  std::string wire;
  for (const auto& b : buffers) wire.append(static_cast<const char*>(b.data()), b.size());
  EXPECT_EQ(wire, "H5\r\nabcde\r\n0\r\n\r\n");
  head.clear();
  gather(buffers, head, in.body, Framing::kLength, false);
  wire.clear();
  for (const auto& b : buffers) wire.append(static_cast<const char*>(b.data()), b.size());
  EXPECT_EQ(wire, "abcde");
}

TEST(HttpsRedirect, DropsTheHostPortAndNamesTheHttpsPortUnless443) {
  EXPECT_EQ(https_redirect_location("shop.test:8080", "/a?b=1", 8443),
            "https://shop.test:8443/a?b=1");
  EXPECT_EQ(https_redirect_location("shop.test", "/", 443), "https://shop.test/");
  EXPECT_EQ(https_redirect_location("[::1]:80", "/x", 443), "https://[::1]/x");
}

TEST(ServeFlags, ListenAddresses) {
  ListenAddress address;
  std::string error;
  ASSERT_TRUE(parse_listen_address("127.0.0.1:8080", address, error));
  EXPECT_EQ(address.host, "127.0.0.1");
  EXPECT_EQ(address.port, 8080);
  ASSERT_TRUE(parse_listen_address(":9901", address, error));
  EXPECT_EQ(address.host, "0.0.0.0");
  ASSERT_TRUE(parse_listen_address("[::1]:443", address, error));
  EXPECT_EQ(address.host, "::1");
  ASSERT_TRUE(parse_listen_address("off", address, error));
  EXPECT_FALSE(address.enabled());
  EXPECT_FALSE(parse_listen_address("8080", address, error));
  EXPECT_NE(error.find("accepted"), std::string::npos);
  EXPECT_FALSE(parse_listen_address("host:99999", address, error));
}

TEST(ServeFlags, Durations) {
  std::chrono::milliseconds d{};
  ASSERT_TRUE(parse_duration("30s", d));
  EXPECT_EQ(d.count(), 30000);
  ASSERT_TRUE(parse_duration("500ms", d));
  EXPECT_EQ(d.count(), 500);
  ASSERT_TRUE(parse_duration("2m", d));
  EXPECT_EQ(d.count(), 120000);
  ASSERT_TRUE(parse_duration("1.5", d));
  EXPECT_EQ(d.count(), 1500);
  EXPECT_FALSE(parse_duration("soon", d));
  ASSERT_TRUE(parse_duration("12h", d));
  EXPECT_EQ(d.count(), 12 * 3600 * 1000);
  EXPECT_FALSE(parse_duration("5d", d));
}

TEST(ServeFlags, SizesAsNginxWritesThem) {
  std::uint64_t n = 7;
  ASSERT_TRUE(parse_size("1m", n));
  EXPECT_EQ(n, 1024u * 1024);
  ASSERT_TRUE(parse_size("512K", n));
  EXPECT_EQ(n, 512u * 1024);
  ASSERT_TRUE(parse_size("2g", n));
  EXPECT_EQ(n, 2ull * 1024 * 1024 * 1024);
  ASSERT_TRUE(parse_size("1000", n));
  EXPECT_EQ(n, 1000u);
  ASSERT_TRUE(parse_size("0", n));
  EXPECT_EQ(n, 0u);
  for (const char* bad : {"", "m", "1x", "-1", "1.5m", "1 m", "99999999999999999999g"})
    EXPECT_FALSE(parse_size(bad, n)) << bad;
}

}  // namespace
}  // namespace portico::ingress
