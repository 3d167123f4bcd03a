#pragma once

// HTTP/1.x messages as the proxy relays them. A header is parsed in one pass into a flat store
// that is reused message after message (Beast's parser and http::fields call back, allocate
// and index per field); body bytes are handed out as views into the read buffer, so a relayed
// body is not copied. What goes out is written as text into a reused string and sent with the
// body views in one gathered write (Beast's serializer walks nested buffer-sequence views:
// half of a request's instructions before).

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ingress/executor.hpp"

namespace portico::ingress {

namespace http = boost::beast::http;

template <bool isRequest>
class MessageParser;

// Header limit for requests and responses alike, by default.
inline constexpr std::uint32_t kHeaderLimit = 64 * 1024;

// How large a header may be; beyond any of these the parser fails with http::error::
// header_limit (a client gets 414 for the request line, else 431). The defaults are those of
// upstream responses: no field count (a backend may set many cookies), and the bytes of a
// request line do not apply.
struct HeaderLimits {
  std::uint32_t request_line = 8 * 1024;  // with its CRLF; requests only
  std::uint32_t bytes = kHeaderLimit;     // the whole header, the empty line included
  std::uint32_t fields = ~std::uint32_t{0};
};

// The id of the fields the proxy interprets (Host, Connection, Keep-Alive, Proxy-Connection,
// TE, Trailer, Transfer-Encoding, Upgrade, Expect, Content-Length, Cookie) by name, in any
// case; http::field::unknown for any other. `name` is a token (RFC 9110 section 5.6.2), as
// both parsers ensure.
http::field field_id(std::string_view name);

// The start line and the fields of one message, in the order received. clear() keeps the
// storage, so a connection's messages after the first allocate nothing.
class MessageHead {
 public:
  struct Field {
    http::field id;          // see field_id()
    std::string_view name;   // as received
    std::string_view value;  // without surrounding whitespace
  };

  void clear();
  // Copies (appending to the message's text) and sets.
  void set_request_line(http::verb method, std::string_view method_string, std::string_view target,
                        unsigned version);
  void set_status_line(unsigned status, std::string_view reason, unsigned version);
  void add(http::field id, std::string_view name, std::string_view value);

  http::verb method() const { return method_; }
  std::string_view method_string() const { return view(method_string_); }
  std::string_view target() const { return view(target_or_reason_); }
  unsigned status() const { return status_; }
  std::string_view reason() const { return view(target_or_reason_); }
  unsigned version() const { return version_; }

  std::size_t size() const { return entries_.size(); }
  Field operator[](std::size_t i) const {
    const Entry& e = entries_[i];
    return {e.id, view(e.name), view(e.value)};
  }
  // The value of the first field `id`.
  std::optional<std::string_view> find(http::field id) const;
  // Whether a comma-separated value of some `id` field is `token` (any case).
  bool has_token(http::field id, std::string_view token) const;
  // Whether a Connection field may name other fields (it has tokens besides close, keep-alive
  // and upgrade): only then is each field looked up in it.
  bool connection_names_fields() const { return names_fields_; }
  // Field `i` as it was received, "Name: value" up to and with its CRLF, when it is one line in
  // the text (every parsed field); empty otherwise (a field add()ed). Consecutive fields are
  // adjacent: a run of them can be copied in one piece.
  std::string_view line(std::size_t i) const {
    const Entry& e = entries_[i];
    if (e.line_end == 0) return {};
    return {text_.data() + e.name.offset, e.line_end - e.name.offset};
  }

 private:
  // The parser copies a header's bytes in one piece and refers to them.
  template <bool>
  friend class MessageParser;
  struct Span {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
  };
  struct Entry {
    http::field id;
    Span name;
    Span value;
    std::uint32_t line_end = 0;  // offset just past the line's CRLF; 0 when not one line
  };
  std::string_view view(Span s) const { return {text_.data() + s.offset, s.length}; }
  Span store(std::string_view s);

  std::string text_;  // every string of the message, back to back
  std::vector<Entry> entries_;
  http::verb method_ = http::verb::unknown;
  Span method_string_;
  Span target_or_reason_;
  unsigned status_ = 0;
  unsigned version_ = 11;
  bool names_fields_ = false;
};

// Parses one message. The header, once all of it is there, in one pass into `head` (which it
// clears), at least as strictly as Beast's parser (RFC 9112: CRLF line endings, token names, no
// control characters in values) but without its per-field callbacks and
// checks, which made it a third of an HTTP/1.1 request's instructions. The body as views into the
// bytes given to put_body(), appended to `body` (decoded: chunked bodies go through Beast's
// parser); the views stay valid until the caller consumes those bytes. Trailer fields are
// dropped. Framing follows RFC 9112 section 6.3, as Beast's parser does, and a request whose
// Stricter than Beast where two parsers could disagree on a message's framing or target (RFC
// 9112; the request smuggling vectors): obs-fold, Transfer-Encoding other than exactly one
// "chunked", with Content-Length or in HTTP/1.0, and (requests) a Host that is repeated or not
// an authority are all refused.
template <bool isRequest>
class MessageParser {
 public:
  MessageParser(MessageHead& head, std::vector<std::string_view>& body,
                const HeaderLimits& limits = {});
  ~MessageParser();
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  // A response to HEAD: no body whatever its header says. Before the header is parsed.
  void skip_body() { skip_ = true; }
  bool skips_body() const { return skip_; }

  // Parses the header if `data` holds all of it: returns its size, or 0 with `ec` set:
  // http::error::need_more (not all there, and within the limits so far), header_limit, or a
  // parse error (bad_method, bad_target, bad_version, bad_status, bad_reason, bad_field,
  // bad_value, bad_line_ending, bad_content_length, multiple_content_length,
  // bad_transfer_encoding).
  std::size_t put_header(std::string_view data, boost::system::error_code& ec);
  // Parses body bytes: the body bytes among them go to the body views. Returns how many bytes
  // it took (framing included): fewer than given when the message ends within `data`, or when
  // a chunk's framing is incomplete (then `ec` is clear: call again with more). Errors: Beast's
  // chunk errors.
  std::size_t put_body(std::string_view data, boost::system::error_code& ec);
  // The stream ended: the end of a body that lasts until then; of any other, too early
  // (http::error::partial_message).
  void put_eof(boost::system::error_code& ec);

  bool is_header_done() const { return header_done_; }
  bool is_done() const { return done_; }
  // As Beast's basic_parser::keep_alive: HTTP/1.1 unless "Connection: close", HTTP/1.0 only
  // with "Connection: keep-alive"; never for a body that lasts until the connection closes.
  bool keep_alive() const;
  bool chunked() const { return chunked_; }
  std::optional<std::uint64_t> content_length() const;
  bool need_eof() const { return need_eof_; }
  // The header_limit error was for the request line (414 rather than 431).
  bool line_too_long() const { return line_too_long_; }

 private:
  class Chunks;  // Beast's parser, decoding a chunked body
  // Parses the start line, `line` (up to its LF). Returns its size, or 0 with `ec` set.
  std::size_t parse_start_line(std::string_view line, boost::system::error_code& ec);
  void on_field(http::field id, std::string_view value, boost::system::error_code& ec);

  MessageHead& head_;
  std::vector<std::string_view>& body_;
  std::unique_ptr<Chunks> chunks_;
  std::size_t parsed_ = 0;  // bytes of the header parsed so far (complete lines)
  HeaderLimits limits_;
  std::uint64_t length_ = 0;     // Content-Length
  std::uint64_t remaining_ = 0;  // of the Content-Length body
  bool skip_ = false;
  bool header_done_ = false;
  bool done_ = false;
  bool http11_ = false;
  bool has_length_ = false;
  bool chunked_ = false;
  bool transfer_encoding_ = false;
  bool need_eof_ = false;
  bool close_ = false;
  bool keep_alive_token_ = false;
  bool host_ = false;
  bool line_too_long_ = false;
};

using RequestParser = MessageParser<true>;
using ResponseParser = MessageParser<false>;

// Reads messages one after the other from a stream (a client's requests, or an upstream's
// responses), through `buffer`, which keeps what arrived beyond the current message. It does no
// I/O itself: the caller reads where it says, as long as it says so, e.g.
//
//   while (!reader.header_ready(ec)) {
//     auto [read_ec, n] = co_await stream.async_read_some(reader.space(), kAwaitNoThrow);
//     reader.received(n, read_ec);
//   }
//
// (a coroutine per step would cost a frame allocation per read).
template <bool isRequest>
class MessageReader {
 public:
  // Reads ask for at least `min_read` bytes of buffer space; body reads grow that up to 64 KiB
  // while they keep filling it.
  MessageReader(boost::beast::flat_buffer& buffer, std::size_t min_read)
      : buffer_(buffer), min_read_(min_read) {}

  // A new message. `skip_body`: a response to HEAD, which has no body whatever its fields say.
  void start(bool skip_body = false);
  // The limits of the headers to come (default: HeaderLimits{}).
  void limit(const HeaderLimits& limits) { limits_ = limits; }

  // Parses the buffered bytes of the header (into head()). True when the header is complete or
  // failed (`ec` set): http::error::end_of_stream when the stream ended before the first byte,
  // partial_message when it ended later, Beast's parse errors (header_limit: see limits()), or
  // the stream's error. False when more bytes are needed. Interim responses (1xx but 101) are
  // skipped.
  bool header_ready(boost::system::error_code& ec);
  // Makes body bytes available in pieces(). True when there are some, when the message is done,
  // or when it failed (`ec` set: partial_message when the stream ended before the end of the
  // body, Beast's parse errors, or the stream's error). False when more bytes are needed. Call
  // with no pieces pending (after consume()).
  bool body_ready(boost::system::error_code& ec);
  // Where the next read goes.
  boost::asio::mutable_buffer space();
  // The read into space() completed with `n` bytes and `error`.
  void received(std::size_t n, const boost::system::error_code& error);

  // The pieces were relayed: their bytes leave the buffer.
  void consume();
  // Copies up to `size` bytes of the pieces to `out`, consuming them; returns how many.
  std::size_t take(char* out, std::size_t size);

  const MessageHead& head() const { return head_; }
  const MessageParser<isRequest>& parser() const { return *parser_; }
  bool done() const { return parser_->is_done(); }
  std::span<const std::string_view> pieces() const { return pieces_; }
  std::size_t header_bytes() const { return header_bytes_; }

 private:
  // Parses what the buffer holds beyond the parsed bytes. False on a parse error (in `ec`).
  bool parse(boost::system::error_code& ec);

  boost::beast::flat_buffer& buffer_;
  std::size_t min_read_;
  std::size_t body_read_ = 0;  // space the next body read asks for
  std::size_t last_space_ = 0;
  std::size_t parsed_ = 0;  // bytes at the front of the buffer that the pieces come from
  std::size_t header_bytes_ = 0;
  boost::system::error_code read_error_;  // the last read's, seen after the bytes before it
  HeaderLimits limits_;
  MessageHead head_;
  std::vector<std::string_view> pieces_;
  std::optional<MessageParser<isRequest>> parser_;
};

using RequestReader = MessageReader<true>;
using ResponseReader = MessageReader<false>;

// ---- writing

void append_number(std::string& out, std::uint64_t n);
// "Name: value\r\n"
inline void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += std::string_view(": ");
  out += value;
  out += std::string_view("\r\n");
}
// "HTTP/1.x NNN Reason\r\n"; the standard reason when `reason` is empty.
void append_status_line(std::string& out, unsigned version, unsigned status,
                        std::string_view reason);

// How a body is framed on the side it is written to.
enum class Framing : std::uint8_t {
  kNone,     // no body
  kLength,   // Content-Length: the bytes as they are
  kChunked,  // Transfer-Encoding: chunked
  kClose,    // until the connection closes (HTTP/1.0 without a length)
};

// Gathers one write into `buffers` (cleared first): `head` (header text, possibly empty), then
// the body `pieces`, framed as one chunk when `framing` is kChunked, with the last chunk after
// them when `last`. The chunk-size line is appended to `head`, so `head` must not change until
// the write completes.
void gather(std::vector<boost::asio::const_buffer>& buffers, std::string& head,
            std::span<const std::string_view> pieces, Framing framing, bool last);

// Writes what `stream` takes of `buffers` at once (plain sockets only: see write_now), adding
// it to `written`. True when that was everything or failed (`ec` set); false when the rest,
// left in `buffers`, is to be written asynchronously.
template <typename Stream>
bool write_at_once(Stream& stream, std::vector<boost::asio::const_buffer>& buffers,
                   std::size_t& written, boost::system::error_code& ec) {
  ec = {};
  if constexpr (std::is_same_v<Stream, Socket>) {
    std::size_t total = 0;
    for (const auto& b : buffers) total += b.size();
    const std::size_t n = write_now(stream, buffers, ec);
    written += n;
    if (ec || n == total) return true;
    // Drop what went out.
    std::size_t drop = n;
    std::size_t first = 0;
    while (drop > 0 && drop >= buffers[first].size()) drop -= buffers[first++].size();
    buffers.erase(buffers.begin(), buffers.begin() + static_cast<std::ptrdiff_t>(first));
    if (drop > 0) buffers.front() += drop;
  }
  return false;
}

// Free space at the end of `buffer` for the next read: everything free, at least `at_least`
// bytes (moving the data to the front, or growing, when there is less).
boost::asio::mutable_buffer read_space(boost::beast::flat_buffer& buffer, std::size_t at_least);

}  // namespace portico::ingress
