#include "ingress/serve_config.hpp"

#include <charconv>
#include <string_view>

namespace portico::ingress {

bool parse_listen_address(const std::string& text, ListenAddress& out, std::string& error) {
  if (text == "off") {
    out = {};
    return true;
  }
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos) {
      error = "\"" + text + "\": accepted: HOST:PORT, [IPv6]:PORT, :PORT or off";
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      error = "\"" + text + "\": accepted: HOST:PORT, [IPv6]:PORT, :PORT or off";
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) host = "0.0.0.0";
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    error = "\"" + text + "\": the port must be a number 0-65535";
    return false;
  }
  out.host = host;
  out.port = static_cast<std::uint16_t>(value);
  return true;
}

bool parse_size(const std::string& text, std::uint64_t& out) {
  std::string_view digits = text;
  std::uint64_t unit = 1;
  if (!digits.empty()) {
    switch (digits.back() | 0x20) {
      case 'k':
        unit = 1024;
        break;
      case 'm':
        unit = 1024 * 1024;
        break;
      case 'g':
        unit = 1024 * 1024 * 1024;
        break;
      default:
        break;
    }
    if (unit != 1) digits.remove_suffix(1);
  }
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      value > ~std::uint64_t{0} / unit)
    return false;
  out = value * unit;
  return true;
}

bool parse_duration(const std::string& text, std::chrono::milliseconds& out) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value < 0) return false;
  std::string unit(end, text.data() + text.size());
  double ms;
  if (unit.empty() || unit == "s") {
    ms = value * 1000;
  } else if (unit == "ms") {
    ms = value;
  } else if (unit == "m") {
    ms = value * 60'000;
  } else if (unit == "h") {
    ms = value * 3'600'000;
  } else {
    return false;
  }
  out = std::chrono::milliseconds(static_cast<long long>(ms));
  return true;
}

}  // namespace portico::ingress
