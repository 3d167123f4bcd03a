#include "ingress/forwarded_headers.hpp"

#include <boost/beast/http/field.hpp>
#include <random>
#include <vector>

namespace portico::ingress {

namespace http = boost::beast::http;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Removes the fields the Connection header names (comma-separated tokens), except "upgrade"
// handling, which the caller decides, and "close"/"keep-alive", which name no field.
void erase_connection_tokens(http::fields& fields) {
  std::vector<std::string> names;
  for (auto it = fields.find(http::field::connection);
       it != fields.end() && it->name() == http::field::connection; ++it) {
    std::string_view value = it->value();
    while (!value.empty()) {
      auto comma = value.find(',');
      std::string_view token = value.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
        token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
        token.remove_suffix(1);
      if (!token.empty() && !iequals(token, "close") && !iequals(token, "keep-alive") &&
          !iequals(token, "upgrade"))
        names.emplace_back(token);
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  for (const std::string& name : names) fields.erase(name);
}

void erase_hop_by_hop(http::fields& fields, bool upgrade) {
  erase_connection_tokens(fields);
  fields.erase(http::field::connection);
  fields.erase(http::field::keep_alive);
  fields.erase("Proxy-Connection");
  fields.erase(http::field::te);
  fields.erase(http::field::trailer);
  fields.erase(http::field::transfer_encoding);
  if (upgrade) {
    fields.set(http::field::connection, "upgrade");
  } else {
    fields.erase(http::field::upgrade);
  }
}

}  // namespace

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

std::string make_request_id() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    std::uint64_t bits = generator();
    for (int i = 0; i < 16; ++i) {
      id[half * 16 + i] = kHex[bits & 0xf];
      bits >>= 4;
    }
  }
  return id;
}

std::string prepare_upstream_request(http::fields& fields, const ForwardContext& context) {
  erase_hop_by_hop(fields, context.upgrade);
  fields.erase(http::field::expect);

  auto xff = fields.find("X-Forwarded-For");
  if (xff != fields.end()) {
    std::string value(xff->value());
    value += ", ";
    value += context.client_address;
    fields.set("X-Forwarded-For", value);
  } else {
    fields.set("X-Forwarded-For", context.client_address);
  }
  fields.set("X-Forwarded-Proto", context.proto);
  fields.set("X-Forwarded-Host", context.host);
  fields.set("X-Forwarded-Port", std::to_string(context.port));

  auto id = fields.find("X-Request-ID");
  if (id != fields.end() && !id->value().empty()) return std::string(id->value());
  std::string generated = make_request_id();
  fields.set("X-Request-ID", generated);
  return generated;
}

void prepare_client_response(http::fields& fields, bool upgrade) {
  erase_hop_by_hop(fields, upgrade);
}

}  // namespace portico::ingress
