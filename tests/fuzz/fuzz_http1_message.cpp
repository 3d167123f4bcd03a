// libFuzzer: HTTP/1.1 messages as a client (requests) or an upstream (responses) sends them,
// through MessageReader and MessageParser as the sessions use them: the header, then the body
// (Content-Length, chunked, or until the stream ends), message after message on one connection.
//
// The first byte chooses the side (bit 0: response), a response to HEAD (bit 1) and how the bytes
// are cut into reads (the rest: a seed for the read sizes, so a header or a chunk-size line is
// split at every place). Besides not crashing or reading out of bounds, the framing must hold:
// a finished Content-Length body has exactly that many bytes, and a body never has more bytes
// than were sent.

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "ingress/http1_message.hpp"

namespace {

using portico::ingress::MessageReader;

template <bool isRequest>
void run(std::string_view input, bool head_response, unsigned seed) {
  boost::beast::flat_buffer buffer;
  MessageReader<isRequest> reader(buffer, 512);
  std::size_t offset = 0;
  // Reads of 1 to 64 bytes, varying with the seed; the last one reports the end of the stream.
  auto read = [&] {
    auto space = reader.space();
    seed = seed * 1103515245u + 12345u;
    std::size_t n =
        std::min<std::size_t>({space.size(), input.size() - offset, 1 + (seed >> 16) % 64});
    std::memcpy(space.data(), input.data() + offset, n);
    offset += n;
    reader.received(n,
                    offset == input.size() ? boost::asio::error::eof : boost::system::error_code());
  };
  for (int message = 0; message < 64; ++message) {
    reader.start(!isRequest && head_response);
    boost::system::error_code ec;
    while (!reader.header_ready(ec)) read();
    if (ec) return;
    const auto& parser = reader.parser();
    std::size_t body = 0;
    while (!reader.done()) {
      if (!reader.body_ready(ec)) {
        read();
        continue;
      }
      if (ec) return;
      for (std::string_view piece : reader.pieces()) body += piece.size();
      if (body > input.size()) std::abort();
      if (message % 2 == 0) {
        reader.consume();
      } else {
        char out[7];  // the HTTP/2 side takes body bytes in small copies
        while (!reader.pieces().empty()) reader.take(out, sizeof out);
      }
    }
    // 1xx, 204 and 304 responses have no body whatever their Content-Length says.
    bool bodiless = parser.skips_body();
    if constexpr (!isRequest) {
      const unsigned status = reader.head().status();
      bodiless = bodiless || status / 100 == 1 || status == 204 || status == 304;
    }
    if (auto length = parser.content_length(); length && !bodiless && body != *length) std::abort();
    if (!parser.keep_alive()) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (input.empty()) return 0;
  if ((mode & 1) == 0) {
    run<true>(input, false, mode >> 2);
  } else {
    run<false>(input, (mode & 2) != 0, mode >> 2);
  }
  return 0;
}
