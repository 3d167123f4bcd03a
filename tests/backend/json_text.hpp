#pragma once

#include <string>
#include <string_view>

namespace portico::test_backend {

// Appends `text` to `out` as a quoted JSON string.
//
// Valid UTF-8 is copied through unchanged; `"`, `\` and control characters are escaped. A byte
// that is not part of a valid UTF-8 sequence (header values may carry any obs-text byte) is
// written as `\u00XX`, i.e. read as Latin-1, so the output is always valid JSON that strict
// parsers accept. Never fails.
void append_json_string(std::string& out, std::string_view text);

}  // namespace portico::test_backend
