#include "ingress/http1_message.hpp"

#include <array>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <cctype>
#include <charconv>
#include <cstring>

namespace portico::ingress {

using namespace std::string_view_literals;

namespace asio = boost::asio;
namespace beast = boost::beast;

// ---- MessageHead

void MessageHead::clear() {
  text_.clear();
  entries_.clear();
  names_fields_ = false;
  method_ = http::verb::unknown;
  method_string_ = {};
  target_or_reason_ = {};
  status_ = 0;
  version_ = 11;
}

MessageHead::Span MessageHead::store(std::string_view s) {
  Span span{static_cast<std::uint32_t>(text_.size()), static_cast<std::uint32_t>(s.size())};
  text_ += s;
  return span;
}

void MessageHead::set_request_line(http::verb method, std::string_view method_string,
                                   std::string_view target, unsigned version) {
  if (text_.capacity() == 0) text_.reserve(1024);
  method_ = method;
  method_string_ = store(method_string);
  target_or_reason_ = store(target);
  version_ = version;
}

void MessageHead::set_status_line(unsigned status, std::string_view reason, unsigned version) {
  if (text_.capacity() == 0) text_.reserve(1024);
  status_ = status;
  target_or_reason_ = store(reason);
  version_ = version;
}

void MessageHead::add(http::field id, std::string_view name, std::string_view value) {
  if (entries_.capacity() == 0) entries_.reserve(16);
  Span n = store(name);
  entries_.push_back({id, n, store(value), 0});
  if (id == http::field::connection) names_fields_ = true;  // maybe: looked at when needed
}

std::optional<std::string_view> MessageHead::find(http::field id) const {
  for (const Entry& e : entries_) {
    if (e.id == id) return view(e.value);
  }
  return std::nullopt;
}

bool MessageHead::has_token(http::field id, std::string_view token) const {
  for (const Entry& e : entries_) {
    if (e.id != id) continue;
    std::string_view value = view(e.value);
    while (!value.empty()) {
      auto comma = value.find(',');
      std::string_view item = value.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (beast::iequals(item, token)) return true;
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return false;
}

// ---- MessageParser

namespace {

using error = http::error;

// RFC 9110 section 5.6.2: tchar.
constexpr auto kToken = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();
// A field value's and a reason phrase's octets: HTAB, SP, VCHAR, obs-text.
constexpr auto kText = [] {
  std::array<bool, 256> table{};
  table['\t'] = true;
  for (int c = 0x20; c < 0x7f; ++c) table[c] = true;
  for (int c = 0x80; c < 0x100; ++c) table[c] = true;
  return table;
}();
// A request target's octets (as Beast's parser takes them): VCHAR and obs-text.
constexpr auto kTarget = [] {
  std::array<bool, 256> table{};
  for (int c = 0x21; c < 0x7f; ++c) table[c] = true;
  for (int c = 0x80; c < 0x100; ++c) table[c] = true;
  return table;
}();

bool token(char c) {
  return kToken[static_cast<unsigned char>(c)];
}
bool text(char c) {
  return kText[static_cast<unsigned char>(c)];
}

// Whether token `s` is `lower` (lower-case letters and '-') in any case. Setting bit 0x20 folds
// exactly the upper-case letters among token characters.
bool named_as(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (static_cast<char>(s[i] | 0x20) != lower[i]) return false;
  }
  return true;
}

}  // namespace

// Beast's table (string_to_field) costs a hash per field; few fields matter here.
http::field field_id(std::string_view name) {
  // By length and first letter first: most fields are none of these.
  const char first = static_cast<char>(name.empty() ? 0 : (name[0] | 0x20));
  auto is = [&](std::string_view known) { return first == known[0] && named_as(name, known); };
  switch (name.size()) {
    case 2:
      if (is("te")) return http::field::te;
      break;
    case 4:
      if (is("host")) return http::field::host;
      break;
    case 6:
      if (is("expect")) return http::field::expect;
      if (is("cookie")) return http::field::cookie;
      break;
    case 7:
      if (is("upgrade")) return http::field::upgrade;
      if (is("trailer")) return http::field::trailer;
      break;
    case 10:
      if (is("connection")) return http::field::connection;
      if (is("keep-alive")) return http::field::keep_alive;
      break;
    case 14:
      if (is("content-length")) return http::field::content_length;
      break;
    case 16:
      if (is("proxy-connection")) return http::field::proxy_connection;
      break;
    case 17:
      if (is("transfer-encoding")) return http::field::transfer_encoding;
      break;
    default:
      break;
  }
  return http::field::unknown;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `each` with every element of a comma-separated list, trimmed (empty ones too).
template <typename Each>
void for_each_element(std::string_view list, Each each) {
  for (;;) {
    const auto comma = list.find(',');
    each(trim(list.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

// The first octet from `p` on that is not text (see kText), before `end` (which holds one: the
// line's CR or LF). Eight octets at a time while none is a control character or DEL.
const char* skip_text(const char* p, const char* end) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  while (end - p >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    // A byte below 0x20, or equal to 0x7f (bit-twiddling "hasless" and "haszero"; exact for
    // telling whether there is one).
    const std::uint64_t control = (w - kOnes * 0x20) & ~w & kHighs;
    const std::uint64_t del = ((w ^ (kOnes * 0x7f)) - kOnes) & ~(w ^ (kOnes * 0x7f)) & kHighs;
    if ((control | del) != 0) break;
    p += 8;
  }
  while (text(*p)) ++p;
  return p;
}

// "HTTP/1.0" or "HTTP/1.1" at `p`: 10 or 11; 0 for anything else.
unsigned parse_version(const char* p, const char* end) {
  if (end - p < 8 || std::memcmp(p, "HTTP/1.", 7) != 0) return 0;
  if (p[7] == '1') return 11;
  if (p[7] == '0') return 10;
  return 0;
}

// A Host value: uri-host [ ":" port ] (RFC 9110 section 7.2), empty allowed: reg-name,
// IP-literal and IPv4 octets (unreserved, pct-encoded, sub-delims but the comma, ":[]").
bool valid_host(std::string_view host) {
  static constexpr auto kHost = [] {
    std::array<bool, 256> table{};
    for (int c = '0'; c <= '9'; ++c) table[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
    for (char c : std::string_view("-._~%!$&'()*+;=:[]"))
      table[static_cast<unsigned char>(c)] = true;
    return table;
  }();
  for (char c : host) {
    if (!kHost[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

}  // namespace

// Beast's parser fed a made-up header and then the chunked body.
template <bool isRequest>
class MessageParser<isRequest>::Chunks final : public http::basic_parser<false> {
 public:
  explicit Chunks(std::vector<std::string_view>& body) : body_(body) {
    header_limit(kHeaderLimit);  // for trailer fields (dropped)
    body_limit(boost::none);
    boost::system::error_code ec;
    static constexpr std::string_view kHeader =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    put(boost::asio::const_buffer(kHeader.data(), kHeader.size()), ec);
    eager(true);
  }
  // Between two chunks (or before the first): what comes next is a chunk-size line, or the
  // end of the body.
  bool between_chunks() const { return remain_ == 0; }

 private:
  using string_view = beast::string_view;
  void on_request_impl(http::verb, string_view, string_view, int,
                       boost::system::error_code&) override {}
  void on_response_impl(int, string_view, int, boost::system::error_code&) override {}
  void on_field_impl(http::field, string_view, string_view, boost::system::error_code&) override {}
  void on_header_impl(boost::system::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&,
                         boost::system::error_code&) override {}
  std::size_t on_body_impl(string_view body, boost::system::error_code&) override {
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t size, string_view, boost::system::error_code&) override {
    remain_ = size;
  }
  std::size_t on_chunk_body_impl(std::uint64_t remain, string_view body,
                                 boost::system::error_code&) override {
    if (!body.empty()) body_.emplace_back(body.data(), body.size());
    remain_ = remain - body.size();
    return body.size();
  }
  void on_finish_impl(boost::system::error_code&) override {}

  std::vector<std::string_view>& body_;
  std::uint64_t remain_ = 0;  // of the current chunk's data
};

template <bool isRequest>
MessageParser<isRequest>::MessageParser(MessageHead& head, std::vector<std::string_view>& body,
                                        const HeaderLimits& limits)
    : head_(head), body_(body), limits_(limits) {
  head_.clear();
}

template <bool isRequest>
MessageParser<isRequest>::~MessageParser() = default;

template <bool isRequest>
std::size_t MessageParser<isRequest>::parse_start_line(std::string_view line,
                                                       boost::system::error_code& ec) {
  // `line` ends with its LF. The scans below stop at the CR (or earlier, at an invalid octet).
  const char* const base = line.data();
  const char* const end = base + line.size();
  const char* p = base;
  auto span = [&](const char* first, const char* last) {
    return MessageHead::Span{static_cast<std::uint32_t>(first - base),
                             static_cast<std::uint32_t>(last - first)};
  };
  if constexpr (isRequest) {
    // method SP request-target SP HTTP-version CRLF
    const char* method = p;
    while (token(*p)) ++p;
    if (p == method || *p != ' ') {
      ec = error::bad_method;
      return 0;
    }
    head_.method_string_ = span(method, p);
    const char* target = ++p;
    while (kTarget[static_cast<unsigned char>(*p)]) ++p;
    if (p == target || *p != ' ') {
      ec = error::bad_target;
      return 0;
    }
    head_.target_or_reason_ = span(target, p);
    ++p;
    const unsigned version = parse_version(p, end);
    if (version == 0 || end - p != 10 || p[8] != '\r') {
      ec = error::bad_version;
      return 0;
    }
    head_.method_ = http::string_to_verb({method, head_.method_string_.length});
    head_.version_ = version;
  } else {
    // HTTP-version SP 3DIGIT SP reason-phrase CRLF
    const unsigned version = parse_version(p, end);
    if (version == 0 || end - p < 10 || p[8] != ' ') {
      ec = error::bad_version;
      return 0;
    }
    p += 9;
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (end - p < 4 || !digit(p[0]) || !digit(p[1]) || !digit(p[2]) || p[3] != ' ') {
      ec = error::bad_status;
      return 0;
    }
    head_.status_ = static_cast<unsigned>((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
    p += 4;
    const char* reason = p;
    p = skip_text(p, end);
    if (*p != '\r') {
      ec = error::bad_reason;
      return 0;
    }
    if (p + 2 != end) {
      ec = error::bad_line_ending;
      return 0;
    }
    head_.target_or_reason_ = span(reason, p);
    head_.version_ = version;
  }
  http11_ = head_.version_ >= 11;
  return line.size();
}

template <bool isRequest>
void MessageParser<isRequest>::on_field(http::field id, std::string_view value,
                                        boost::system::error_code& ec) {
  switch (id) {
    case http::field::connection:
    case http::field::proxy_connection: {
      bool valid = true;
      for_each_element(value, [&](std::string_view element) {
        if (element.empty()) return;
        for (char c : element) valid = valid && token(c);
        if (!valid) return;
        if (named_as(element, "close")) {
          close_ = true;
        } else if (named_as(element, "keep-alive")) {
          keep_alive_token_ = true;
        } else if (!named_as(element, "upgrade") && id == http::field::connection) {
          head_.names_fields_ = true;  // a field to remove as hop-by-hop
        }
      });
      if (!valid) ec = error::bad_value;
      return;
    }
    case http::field::host:
      // RFC 9112 section 3.2: exactly one Host, and a valid authority in it; a list or a
      // second one is a way to route on one and forward the other.
      if constexpr (isRequest) {
        if (host_ || !valid_host(value)) ec = error::bad_value;
        host_ = true;
      }
      return;
    case http::field::content_length: {
      if (transfer_encoding_) {
        ec = error::bad_content_length;
        return;
      }
      // A list of equal numbers is one (RFC 9110 section 8.6); so are repeated fields.
      for_each_element(value, [&](std::string_view element) {
        if (ec) return;
        std::uint64_t n = 0;
        auto [end, parse_ec] = std::from_chars(element.data(), element.data() + element.size(), n);
        if (element.empty() || parse_ec != std::errc() || end != element.data() + element.size()) {
          ec = error::bad_content_length;
        } else if (has_length_ && n != length_) {
          ec = error::multiple_content_length;
        } else {
          has_length_ = true;
          length_ = n;
        }
      });
      return;
    }
    case http::field::transfer_encoding: {
      // RFC 9112 section 6.1: with Content-Length, in HTTP/1.0, or more than once, the framing
      // is ambiguous. Only "chunked" itself is taken: a coding before it could not be undone
      // by this proxy, which re-frames every body, and each other form (a second chunked, a
      // coding after it) is one more way for two parsers to disagree on where a message ends.
      if (transfer_encoding_ || has_length_ || !http11_) {
        ec = error::bad_transfer_encoding;
        return;
      }
      transfer_encoding_ = true;
      int codings = 0;
      for_each_element(value, [&](std::string_view element) {
        if (element.empty()) return;
        ++codings;
        if (!named_as(element, "chunked")) ec = error::bad_transfer_encoding;
      });
      if (codings != 1) ec = error::bad_transfer_encoding;
      chunked_ = !ec;
      return;
    }
    default:
      return;
  }
}

template <bool isRequest>
std::size_t MessageParser<isRequest>::put_header(std::string_view data,
                                                 boost::system::error_code& ec) {
  ec = {};
  // Complete lines are parsed as they arrive, each once (`parsed_`); nothing is taken until the
  // whole header is there.
  const std::size_t window = std::min<std::size_t>(data.size(), limits_.bytes);
  const char* const base = data.data();
  const char* const limit = base + window;
  // The end (just past the LF) of the line starting at `p`, or null when it has not all come.
  auto line_end = [&](const char* p) -> const char* {
    const void* lf = std::memchr(p, '\n', static_cast<std::size_t>(limit - p));
    return lf == nullptr ? nullptr : static_cast<const char*>(lf) + 1;
  };
  auto too_large = [&]() -> std::size_t {
    ec = error::header_limit;
    return 0;
  };
  auto more = [&]() -> std::size_t {
    ec = window >= limits_.bytes ? error::header_limit : error::need_more;
    return 0;
  };
  using Span = MessageHead::Span;
  auto span = [&](const char* first, const char* last) {
    return Span{static_cast<std::uint32_t>(first - base), static_cast<std::uint32_t>(last - first)};
  };

  if (parsed_ == 0) {
    const char* end = line_end(base);
    // A request line beyond its limit is refused whether or not its end has come (414).
    if (isRequest &&
        (end == nullptr ? window : static_cast<std::size_t>(end - base)) > limits_.request_line) {
      line_too_long_ = true;
      return too_large();
    }
    if (end == nullptr) return more();
    if (parse_start_line({base, static_cast<std::size_t>(end - base)}, ec) == 0) return 0;
    parsed_ = static_cast<std::size_t>(end - base);
  }
  for (;;) {
    const char* p = base + parsed_;
    if (limit - p < 2) return more();
    if (p[0] == '\r') {
      if (p[1] != '\n') {
        ec = error::bad_line_ending;
        return 0;
      }
      parsed_ += 2;
      break;  // the empty line: the end of the header
    }
    // field-name ":" OWS field-value OWS CRLF, then obs-fold lines (RFC 9112 section 5.2). Its
    // end is known once the octet after its last line is there.
    const char* end = line_end(p);
    if (end == nullptr) return more();
    const char* name = p;
    while (token(*p)) ++p;  // stops at the LF at the latest
    if (p == name || *p != ':') {
      ec = error::bad_field;
      return 0;
    }
    const Span name_span = span(name, p);
    ++p;
    while (*p == ' ' || *p == '\t') ++p;
    const char* value = p;
    p = skip_text(p, end);
    if (*p != '\r' || p + 2 != end) {
      ec = *p == '\r' ? error::bad_line_ending : error::bad_value;
      return 0;
    }
    const char* value_end = p;
    while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t')) --value_end;
    const Span value_span = span(value, value_end);
    const std::string_view value_text(value, value_span.length);
    const std::uint32_t verbatim_end = static_cast<std::uint32_t>(end - base);
    p = end;
    // obs-fold (a next line starting with SP or HTAB) is refused with that line, whose name is
    // then empty: RFC 9112 section 5.2 lets a recipient reject it, and joining it is one more
    // way for two parsers to disagree on a value.
    const http::field id = field_id({name, name_span.length});
    if (head_.entries_.size() >= limits_.fields) return too_large();
    if (head_.entries_.capacity() == 0) head_.entries_.reserve(16);
    head_.entries_.push_back({id, name_span, value_span, verbatim_end});
    on_field(id, value_text, ec);
    if (ec) return 0;
    parsed_ = static_cast<std::size_t>(p - base);
  }

  // The header is all there: one copy of it; the head's strings refer to it.
  const std::size_t size = parsed_;
  head_.text_.assign(base, size);

  header_done_ = true;
  const unsigned status = head_.status_;
  if (skip_ || (!isRequest && (status / 100 == 1 || status == 204 || status == 304))) {
    done_ = true;
  } else if (has_length_) {
    remaining_ = length_;
    done_ = length_ == 0;
  } else if (chunked_) {
    chunks_ = std::make_unique<Chunks>(body_);
  } else if (isRequest) {
    done_ = true;
  } else {
    need_eof_ = true;
  }
  return size;
}

template <bool isRequest>
std::size_t MessageParser<isRequest>::put_body(std::string_view data,
                                               boost::system::error_code& ec) {
  ec = {};
  if (done_ || data.empty()) return 0;
  if (chunks_) {
    // Beast's parser asserts (in debug builds) when the last chunk, once seen, comes again in
    // fewer than 5 octets. A chunk-size line and the end of a body always take 5 or more (CRLF
    // of the data before, or the empty line after): waiting for that many delays nothing.
    if (chunks_->between_chunks() && data.size() < 5) return 0;
    const std::size_t n = chunks_->put(boost::asio::const_buffer(data.data(), data.size()), ec);
    if (ec == error::need_more) ec = {};
    if (chunks_->is_done()) done_ = true;
    return n;
  }
  std::size_t n = data.size();
  if (!need_eof_) {
    n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n));
    remaining_ -= n;
    done_ = remaining_ == 0;
  }
  if (n > 0) body_.emplace_back(data.data(), n);
  return n;
}

template <bool isRequest>
void MessageParser<isRequest>::put_eof(boost::system::error_code& ec) {
  ec = {};
  if (done_) return;
  if (header_done_ && need_eof_) {
    done_ = true;
  } else {
    ec = error::partial_message;
  }
}

template <bool isRequest>
bool MessageParser<isRequest>::keep_alive() const {
  if (http11_ ? close_ : !keep_alive_token_) return false;
  return !need_eof_;
}

template <bool isRequest>
std::optional<std::uint64_t> MessageParser<isRequest>::content_length() const {
  if (!has_length_) return std::nullopt;
  return length_;
}

template class MessageParser<true>;
template class MessageParser<false>;

// ---- MessageReader

namespace {

// Body reads grow to this while they fill the buffer: fewer reads for a large body.
constexpr std::size_t kMaxBodyRead = 64 * 1024;

}  // namespace

template <bool isRequest>
void MessageReader<isRequest>::start(bool skip_body) {
  pieces_.clear();
  parsed_ = 0;
  header_bytes_ = 0;
  body_read_ = min_read_;
  read_error_ = {};
  parser_.emplace(head_, pieces_, limits_);
  if (skip_body) parser_->skip_body();
}

template <bool isRequest>
bool MessageReader<isRequest>::header_ready(boost::system::error_code& ec) {
  ec = {};
  while (buffer_.size() > 0) {
    // The body stays in the buffer.
    const std::size_t n =
        parser_->put_header({static_cast<const char*>(buffer_.data().data()), buffer_.size()}, ec);
    if (ec == http::error::need_more) {
      ec = {};
      break;
    }
    if (ec) return true;
    buffer_.consume(n);
    header_bytes_ += n;
    if constexpr (!isRequest) {
      // An interim response (100 Continue, 103 Early Hints) is not the answer: skip it.
      const unsigned status = head_.status();
      if (status >= 100 && status < 200 && status != 101) {
        const bool skip = parser_->skips_body();
        parser_.emplace(head_, pieces_, limits_);
        if (skip) parser_->skip_body();
        continue;
      }
    }
    return true;
  }
  if (!read_error_) return false;
  if (read_error_ != boost::asio::error::eof) {
    ec = read_error_;
  } else {
    ec = buffer_.size() > 0 ? http::error::partial_message : http::error::end_of_stream;
  }
  return true;
}

template <bool isRequest>
bool MessageReader<isRequest>::parse(boost::system::error_code& ec) {
  const std::size_t size = buffer_.size() - parsed_;
  if (size == 0 || parser_->is_done()) return true;
  const char* data = static_cast<const char*>(buffer_.data().data()) + parsed_;
  parsed_ += parser_->put_body({data, size}, ec);
  return !ec;
}

template <bool isRequest>
bool MessageReader<isRequest>::body_ready(boost::system::error_code& ec) {
  ec = {};
  if (!parse(ec)) return true;
  if (!pieces_.empty() || parser_->is_done()) return true;
  if (read_error_) {
    if (read_error_ == boost::asio::error::eof) {
      // The end of a body that lasts until the connection closes; of any other, too early.
      parser_->put_eof(ec);
    } else {
      ec = read_error_;
    }
    return true;
  }
  // Nothing to hand out: what was parsed is framing.
  buffer_.consume(parsed_);
  parsed_ = 0;
  return false;
}

template <bool isRequest>
boost::asio::mutable_buffer MessageReader<isRequest>::space() {
  const auto space =
      read_space(buffer_, parser_->is_header_done() ? body_read_ : std::size_t{min_read_});
  last_space_ = space.size();
  return space;
}

template <bool isRequest>
void MessageReader<isRequest>::received(std::size_t n, const boost::system::error_code& error) {
  buffer_.commit(n);
  read_error_ = error;
  if (n == last_space_ && parser_->is_header_done() && body_read_ < kMaxBodyRead)
    body_read_ = std::min(kMaxBodyRead, body_read_ * 2);
}

template <bool isRequest>
void MessageReader<isRequest>::consume() {
  buffer_.consume(parsed_);
  parsed_ = 0;
  pieces_.clear();
}

template <bool isRequest>
std::size_t MessageReader<isRequest>::take(char* out, std::size_t size) {
  std::size_t taken = 0;
  std::size_t used = 0;
  for (; used < pieces_.size() && taken < size; ++used) {
    std::string_view& piece = pieces_[used];
    const std::size_t n = std::min(piece.size(), size - taken);
    std::memcpy(out + taken, piece.data(), n);
    taken += n;
    if (n < piece.size()) {
      piece.remove_prefix(n);
      break;
    }
  }
  if (used == pieces_.size()) {
    consume();
  } else {
    pieces_.erase(pieces_.begin(), pieces_.begin() + static_cast<std::ptrdiff_t>(used));
  }
  return taken;
}

template class MessageReader<true>;
template class MessageReader<false>;

// ---- writing

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

void append_status_line(std::string& out, unsigned version, unsigned status,
                        std::string_view reason) {
  out += version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
  append_number(out, status);
  out += ' ';
  if (reason.empty()) reason = http::obsolete_reason(static_cast<http::status>(status));
  out += reason;
  out += "\r\n"sv;
}

void gather(std::vector<asio::const_buffer>& buffers, std::string& head,
            std::span<const std::string_view> pieces, Framing framing, bool last) {
  buffers.clear();
  std::size_t size = 0;
  for (std::string_view piece : pieces) size += piece.size();
  const bool chunked = framing == Framing::kChunked;
  if (chunked && size > 0) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, size, 16);
    head.append(digits, end);
    head += "\r\n"sv;
  }
  if (!head.empty()) buffers.emplace_back(head.data(), head.size());
  for (std::string_view piece : pieces) buffers.emplace_back(piece.data(), piece.size());
  if (chunked) {
    static constexpr std::string_view kChunkEnd = "\r\n";
    static constexpr std::string_view kChunkEndAndLast = "\r\n0\r\n\r\n";
    static constexpr std::string_view kLast = "0\r\n\r\n";
    std::string_view tail = size > 0 ? (last ? kChunkEndAndLast : kChunkEnd) : (last ? kLast : "");
    if (!tail.empty()) buffers.emplace_back(tail.data(), tail.size());
  }
}

asio::mutable_buffer read_space(beast::flat_buffer& buffer, std::size_t at_least) {
  std::size_t free = buffer.capacity() - buffer.size();
  return buffer.prepare(free < at_least ? at_least : free);
}

}  // namespace portico::ingress
