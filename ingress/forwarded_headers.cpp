#include "ingress/forwarded_headers.hpp"

#include <array>
#include <boost/beast/core/string.hpp>
#include <cstring>
#include <random>

namespace portico::ingress {

using namespace std::string_view_literals;

namespace beast = boost::beast;

namespace {

constexpr std::string_view kForwardedFor = "X-Forwarded-For";
constexpr std::string_view kForwardedProto = "X-Forwarded-Proto";
constexpr std::string_view kForwardedHost = "X-Forwarded-Host";
constexpr std::string_view kForwardedPort = "X-Forwarded-Port";
constexpr std::string_view kRequestId = "X-Request-ID";

bool named(const MessageHead::Field& field, std::string_view name) {
  return field.id == http::field::unknown && field.name.size() == name.size() &&
         beast::iequals(field.name, name);
}

// The fields the proxy sets itself, whatever the client sent.
bool forwarded_field(const MessageHead::Field& field) {
  if (field.id != http::field::unknown || field.name.size() < 15 || field.name.size() > 17)
    return false;
  return named(field, kForwardedFor) || named(field, kForwardedProto) ||
         named(field, kForwardedHost) || named(field, kForwardedPort);
}

// Appends the fields kept, in order. Fields still as received go in runs: the lines of
// consecutive ones are adjacent in the message's text, copied in one piece.
class FieldCopier {
 public:
  FieldCopier(std::string& out, const MessageHead& head) : out_(out), head_(head) {}
  void keep(std::size_t i) {
    const std::string_view line = head_.line(i);
    if (!line.empty() && run_.data() + run_.size() == line.data()) {
      run_ = {run_.data(), run_.size() + line.size()};
      return;
    }
    flush();
    if (!line.empty()) {
      run_ = line;
    } else {
      const auto field = head_[i];
      append_field(out_, field.name, field.value);
    }
  }
  void flush() {
    out_ += run_;
    run_ = {};
  }

 private:
  std::string& out_;
  const MessageHead& head_;
  std::string_view run_;
};

}  // namespace

RequestId make_request_id() {
  // splitmix64 over a per-thread counter seeded from the OS: ids are to be unique, not secret;
  // the function is a bijection, so a thread never repeats one.
  thread_local std::uint64_t state =
      (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  static constexpr auto kHexPairs = [] {
    std::array<char, 512> table{};
    constexpr char kHex[] = "0123456789abcdef";
    for (int b = 0; b < 256; ++b) {
      table[2 * b] = kHex[b >> 4];
      table[2 * b + 1] = kHex[b & 0xf];
    }
    return table;
  }();
  RequestId id;
  for (int half = 0; half < 2; ++half) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (int i = 0; i < 8; ++i) {
      std::memcpy(id.text + half * 16 + 2 * i, &kHexPairs[2 * (z & 0xff)], 2);
      z >>= 8;
    }
  }
  return id;
}

HopByHop::HopByHop(const MessageHead& head, bool upgrade)
    : head_(head), upgrade_(upgrade), connection_(head.connection_names_fields()) {}

bool HopByHop::operator()(const MessageHead::Field& field) const {
  switch (field.id) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
      return true;
    case http::field::upgrade:
      return !upgrade_;
    default:
      break;
  }
  // "close", "keep-alive" and "upgrade" name no field (Upgrade is the caller's decision).
  return connection_ && !beast::iequals(field.name, "close") &&
         !beast::iequals(field.name, "keep-alive") && !beast::iequals(field.name, "upgrade") &&
         head_.has_token(http::field::connection, field.name);
}

std::string_view append_upstream_request(std::string& out, const MessageHead& request,
                                         const ForwardContext& context, Framing framing,
                                         std::uint64_t length, RequestId& generated,
                                         std::string_view target) {
  out += request.method_string();
  out += ' ';
  out += target.empty() ? request.target() : target;
  out += " HTTP/1.1\r\n"sv;

  const HopByHop hop_by_hop(request, context.upgrade);
  std::string_view id;  // the client's, unless empty
  for (std::size_t i = 0; i < request.size(); ++i) {
    const auto field = request[i];
    if (named(field, kRequestId)) {
      id = field.value;
      break;
    }
  }
  bool has_length = false;
  bool has_forwarded_for = false;
  FieldCopier copy(out, request);
  for (std::size_t i = 0; i < request.size(); ++i) {
    const auto field = request[i];
    if (field.id == http::field::expect || hop_by_hop(field)) continue;
    if (forwarded_field(field)) {
      has_forwarded_for = has_forwarded_for || named(field, kForwardedFor);
      continue;
    }
    // An empty X-Request-ID is replaced by a generated one.
    if (id.empty() && named(field, kRequestId)) continue;
    if (field.id == http::field::content_length) has_length = true;
    copy.keep(i);
  }
  copy.flush();
  if (context.upgrade) out += "Connection: upgrade\r\n"sv;

  out += kForwardedFor;
  out += ": "sv;
  if (has_forwarded_for) {
    for (std::size_t i = 0; i < request.size(); ++i) {
      const auto field = request[i];
      if (!named(field, kForwardedFor)) continue;
      out += field.value;
      out += ", "sv;
    }
  }
  out += context.client_address;
  out += "\r\n"sv;
  append_field(out, kForwardedProto, context.proto);
  append_field(out, kForwardedHost, context.host);
  out += kForwardedPort;
  out += ": "sv;
  append_number(out, context.port);
  out += "\r\n"sv;
  if (id.empty()) {
    generated = make_request_id();
    id = generated.view();
    append_field(out, kRequestId, id);
  }
  if (framing == Framing::kChunked) {
    out += "Transfer-Encoding: chunked\r\n"sv;
  } else if (framing == Framing::kLength && !has_length) {
    out += "Content-Length: "sv;
    append_number(out, length);
    out += "\r\n"sv;
  }
  out += "\r\n"sv;
  return id;
}

void append_client_response(std::string& out, const MessageHead& response, unsigned version,
                            Framing framing, bool keep_alive, bool upgrade, SetFields set) {
  append_status_line(out, version, response.status(), response.reason());
  const HopByHop hop_by_hop(response, upgrade);
  FieldCopier copy(out, response);
  for (std::size_t i = 0; i < response.size(); ++i) {
    if (!hop_by_hop(response[i]) && (set.empty() || !is_set_field(set, response[i].name)))
      copy.keep(i);
  }
  copy.flush();
  for (const auto& [name, value] : set) append_field(out, name, value);
  if (upgrade) {
    out += "Connection: upgrade\r\n"sv;
  } else {
    if (framing == Framing::kChunked) out += "Transfer-Encoding: chunked\r\n"sv;
    if (version >= 11 && !keep_alive) out += "Connection: close\r\n"sv;
    if (version < 11 && keep_alive) out += "Connection: keep-alive\r\n"sv;
  }
  out += "\r\n"sv;
}

bool is_set_field(SetFields set, std::string_view name) {
  for (const auto& field : set) {
    if (beast::iequals(field.first, name)) return true;
  }
  return false;
}

std::string https_redirect_location(std::string_view host, std::string_view target,
                                    std::uint16_t https_port) {
  std::string_view name = host;
  if (!name.empty() && name.front() == '[') {
    name = name.substr(0, name.find(']') + 1);  // an IPv6 literal keeps its brackets
  } else {
    name = name.substr(0, name.find(':'));
  }
  std::string location = "https://";
  location += name;
  if (https_port != 443 && https_port != 0) location += ":" + std::to_string(https_port);
  location += target;
  return location;
}

}  // namespace portico::ingress
