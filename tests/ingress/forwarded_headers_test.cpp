// What the proxy changes in forwarded headers (RFC 9110 7.6), and the serve flags' parsers.

#include "ingress/forwarded_headers.hpp"

#include <gtest/gtest.h>

#include "ingress/serve_config.hpp"

namespace portico::ingress {
namespace {

namespace http = boost::beast::http;

ForwardContext context(bool upgrade = false) {
  return ForwardContext{"192.0.2.7", "https", "shop.test", 8443, upgrade};
}

TEST(UpstreamRequest, HopByHopFieldsAndTheFieldsConnectionNamesAreRemoved) {
  http::fields fields;
  fields.set(http::field::host, "shop.test");
  fields.set(http::field::connection, "keep-alive, X-Private, close");
  fields.set("X-Private", "secret");
  fields.set(http::field::keep_alive, "timeout=5");
  fields.set("Proxy-Connection", "keep-alive");
  fields.set(http::field::te, "trailers");
  fields.set(http::field::trailer, "X-Checksum");
  fields.set(http::field::transfer_encoding, "chunked");
  fields.set(http::field::upgrade, "h2c");
  fields.set(http::field::expect, "100-continue");
  fields.set("X-Kept", "yes");
  prepare_upstream_request(fields, context());
  for (const char* gone : {"Connection", "X-Private", "Keep-Alive", "Proxy-Connection", "TE",
                           "Trailer", "Transfer-Encoding", "Upgrade", "Expect"})
    EXPECT_EQ(fields.count(gone), 0u) << gone;
  EXPECT_EQ(fields[http::field::host], "shop.test") << "Host is kept";
  EXPECT_EQ(fields["X-Kept"], "yes");
}

TEST(UpstreamRequest, WebSocketUpgradeKeepsUpgradeAndConnection) {
  http::fields fields;
  fields.set(http::field::connection, "Upgrade");
  fields.set(http::field::upgrade, "websocket");
  prepare_upstream_request(fields, context(true));
  EXPECT_EQ(fields[http::field::upgrade], "websocket");
  EXPECT_EQ(fields[http::field::connection], "upgrade");
}

TEST(UpstreamRequest, XForwardedForIsAppendedAndTheOthersAreSet) {
  http::fields fields;
  fields.set("X-Forwarded-For", "203.0.113.1");
  fields.set("X-Forwarded-Proto", "forged");
  prepare_upstream_request(fields, context());
  EXPECT_EQ(fields["X-Forwarded-For"], "203.0.113.1, 192.0.2.7");
  EXPECT_EQ(fields["X-Forwarded-Proto"], "https");
  EXPECT_EQ(fields["X-Forwarded-Host"], "shop.test");
  EXPECT_EQ(fields["X-Forwarded-Port"], "8443");
}

TEST(UpstreamRequest, RequestIdIsGeneratedWhenAbsentAndKeptWhenSent) {
  http::fields fresh;
  std::string id = prepare_upstream_request(fresh, context());
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(fresh["X-Request-ID"], id);
  EXPECT_NE(make_request_id(), make_request_id());
  http::fields sent;
  sent.set("X-Request-ID", "abc");
  EXPECT_EQ(prepare_upstream_request(sent, context()), "abc");
}

TEST(ClientResponse, HopByHopFieldsAreRemoved) {
  http::fields fields;
  fields.set(http::field::connection, "X-Internal");
  fields.set("X-Internal", "1");
  fields.set(http::field::keep_alive, "timeout=5");
  fields.set(http::field::content_type, "text/plain");
  prepare_client_response(fields, false);
  EXPECT_EQ(fields.count("X-Internal"), 0u);
  EXPECT_EQ(fields.count(http::field::keep_alive), 0u);
  EXPECT_EQ(fields[http::field::content_type], "text/plain");
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
  EXPECT_FALSE(parse_duration("5h", d));
}

}  // namespace
}  // namespace portico::ingress
