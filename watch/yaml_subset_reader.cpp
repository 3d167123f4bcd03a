#include "watch/yaml_subset_reader.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

namespace portico::watch {
namespace {

// The core schema's null, for a plain scalar.
bool is_null_text(std::string_view value) {
  if (value.size() > 4) return false;
  return value.empty() || value == "~" || value == "null" || value == "Null" || value == "NULL";
}

// YAML 1.1's indicators: a plain scalar starts with none of them, except `-`, `?` and `:` before a
// non-blank character (`-1`, `::1`; `-` only, in flow context).
constexpr std::array<bool, 256> kIndicators = [] {
  std::array<bool, 256> table{};
  for (char c : std::string_view("-?:,[]{}#&*!|>'\"%@`")) {
    table[static_cast<unsigned char>(c)] = true;
  }
  return table;
}();

bool is_indicator(char c) {
  return kIndicators[static_cast<unsigned char>(c)];
}

bool is_flow_indicator(char c) {
  return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp <= 0x7F) {
    out += static_cast<char>(cp);
  } else if (cp <= 0x7FF) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp <= 0xFFFF) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The length of the UTF-8 character at `p` (a lead byte at or above 0x80) when libyaml reads it
// as ordinary printable text, else 0: malformed or overlong UTF-8, a surrogate, a C1 control, NEL,
// LS and PS (line breaks to libyaml), the BOM, U+FFFE and U+FFFF.
int printable_utf8_length(const unsigned char* p, const unsigned char* end) {
  unsigned char c = *p;
  if (c < 0xC2 || c > 0xF4) return 0;
  int length = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (end - p < length) return 0;
  std::uint32_t cp = c & (0x7F >> length);
  for (int i = 1; i < length; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if ((length == 3 && cp < 0x800) || (length == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  bool printable = (cp >= 0xA0 && cp <= 0xD7FF && cp != 0x2028 && cp != 0x2029) ||
                   (cp >= 0xE000 && cp <= 0xFFFD && cp != 0xFEFF) || cp >= 0x10000;
  return printable ? length : 0;
}

}  // namespace

// Outside the anonymous namespace: YamlTree names it as a friend.
class YamlSubsetReader {
 public:
  YamlSubsetReader(std::string_view text, int first_line, YamlTree& tree)
      : text_(text), line_base_(first_line + 1), tree_(tree) {}

  bool read() {
    tree_.reset();
    if (!next_line() || at_end_) return false;  // an empty document: left to libyaml
    bool ok;
    if (text_[pos_] == '[' || text_[pos_] == '{') {
      ok = flow_value();
    } else if (is_entry(pos_)) {
      ok = sequence(col_, false);
    } else {
      ok = mapping(col_);
    }
    return ok && at_end_;
  }

 private:
  // Collections nested deeper are left to libyaml, which enforces YamlReader::kMaxDepth.
  static constexpr std::size_t kMaxDepth = 64;
  // libyaml forgets a possible simple key 1024 characters after its start.
  static constexpr std::size_t kMaxKeyLength = 1000;

  struct Scalar {
    std::string_view text;
    bool plain = false;
  };

  // ---- Lines

  // Moves to the next line that holds a token (skipping blank and comment lines, a first `---`
  // and a final `...`); at the end of the text, sets at_end_ and col_ = -1, which closes every
  // collection. False when the rest is outside the subset (a directive, a second document).
  bool next_line() {
    while (next_ < text_.size()) {
      std::size_t begin = next_;
      std::size_t end = line_end(begin);
      if (end == kOutsideCharacterSet) return false;
      next_ = end < text_.size() ? end + 1 : end;
      ++line_;
      std::size_t first = begin;
      while (first < end && text_[first] == ' ') ++first;
      if (first == end || text_[first] == '#') continue;
      begin_ = begin;
      end_ = end;
      if (first == begin && (text_[begin] == '-' || text_[begin] == '.')) {
        bool dashes = text_.compare(begin, 3, "---") == 0;
        if ((dashes || text_.compare(begin, 3, "...") == 0) && blank_after(begin + 3)) {
          // `---` may open the document; `...` ends it; neither may do anything else here.
          if (dashes ? started_ : !started_ || ended_) return false;
          if (!line_ends_at(begin + 3)) return false;
          started_ = true;
          ended_ = !dashes;
          continue;
        }
      }
      if (text_[first] == '%' && first == begin && !started_) return false;  // a directive
      if (ended_) return false;
      started_ = true;
      pos_ = first;
      col_ = static_cast<int>(first - begin);
      return true;
    }
    at_end_ = true;
    col_ = -1;
    return true;
  }

  // True when nothing but spaces and a comment follow `p` on the line (YAML wants a blank before
  // the comment's `#`).
  bool line_ends_at(std::size_t p) const {
    std::size_t q = p;
    while (q < end_ && text_[q] == ' ') ++q;
    return q == end_ || (text_[q] == '#' && q > p);
  }

  bool blank_after(std::size_t p) const { return p >= end_ || text_[p] == ' '; }
  bool is_entry(std::size_t p) const { return text_[p] == '-' && blank_after(p + 1); }
  bool at(char c) const { return pos_ < end_ && text_[pos_] == c; }
  void skip_spaces() {
    while (pos_ < end_ && text_[pos_] == ' ') ++pos_;
  }
  int file_line(int line) const { return line_base_ + line; }
  std::size_t find_in_line(char c, std::size_t from) const { return find_either(from, end_, c, c); }

  // The end ('\n' or the end of the text) of the line from `p`, checking on the way that every
  // character is one the reader handles: printable ASCII, and UTF-8 that libyaml reads as ordinary
  // printable text. Not a tab or CR (indentation and line-break rules the reader does not
  // implement), a control character, the BOM, or NEL/LS/PS (line breaks to libyaml); nothing
  // libyaml's reader rejects. So every byte is one column, except inside multi-byte characters,
  // which never precede a column the reader compares (indentation is spaces). Every byte of an
  // accepted text passes here once.
  static constexpr std::size_t kOutsideCharacterSet = std::string_view::npos;
  std::size_t line_end(std::size_t p) const {
    constexpr std::uint64_t kOnes = 0x0101010101010101;
    constexpr std::uint64_t kHigh = 0x8080808080808080;
    const auto* data = reinterpret_cast<const unsigned char*>(text_.data());
    const std::size_t size = text_.size();
    while (p < size) {
      // Eight bytes at a time up to the first outside [0x20, 0x7E] ('\n' is one). Computed on
      // the low seven bits, no addition carries into the next byte.
      if (std::endian::native == std::endian::little && p + 8 <= size) {
        std::uint64_t x;
        std::memcpy(&x, data + p, 8);
        std::uint64_t low = x & ~kHigh;
        std::uint64_t other = (~(low + 0x60 * kOnes) | (low + kOnes) | x) & kHigh;
        if (other == 0) {
          p += 8;
          continue;
        }
        p += static_cast<std::size_t>(std::countr_zero(other) >> 3);
      }
      unsigned char c = data[p];
      if (c >= 0x20 && c < 0x7F) {
        ++p;
      } else if (c == '\n') {
        return p;
      } else if (int length = c >= 0x80 ? printable_utf8_length(data + p, data + size) : 0) {
        p += static_cast<std::size_t>(length);
      } else {
        return kOutsideCharacterSet;
      }
    }
    return size;
  }

  // The first `a` or `b` in [p, end), or `end`. Lines and scalars are short, and glibc's memchr
  // costs more in its call than in its search at these lengths.
  std::size_t find_either(std::size_t p, std::size_t end, char a, char b) const {
    constexpr std::uint64_t kOnes = 0x0101010101010101;
    constexpr std::uint64_t kHigh = 0x8080808080808080;
    const std::uint64_t as = kOnes * static_cast<unsigned char>(a);
    const std::uint64_t bs = kOnes * static_cast<unsigned char>(b);
    // The lowest byte of the word is the first in the text only on a little-endian machine.
    for (; std::endian::native == std::endian::little && p + 8 <= end; p += 8) {
      std::uint64_t x;
      std::memcpy(&x, text_.data() + p, 8);
      // A byte equal to `a` or `b` becomes zero; the lowest flagged byte is always a true one.
      std::uint64_t xa = x ^ as;
      std::uint64_t xb = x ^ bs;
      std::uint64_t zero = (((xa - kOnes) & ~xa) | ((xb - kOnes) & ~xb)) & kHigh;
      if (zero != 0) return p + static_cast<std::size_t>(std::countr_zero(zero) >> 3);
    }
    while (p < end && text_[p] != a && text_[p] != b) ++p;
    return p;
  }

  // ---- Block collections

  // A block mapping whose keys are in column `col`, the cursor at its first key.
  bool mapping(int col) {
    if (tree_.depth() >= kMaxDepth) return false;
    tree_.open(YamlType::kMap, file_line(line_));
    for (;;) {
      if (!key() || !node_after_indicator(col, true)) return false;
      if (col_ < col) break;
      if (col_ > col || is_entry(pos_)) return false;
    }
    tree_.close();
    return true;
  }

  // A block sequence whose `-` are in column `col`, the cursor at the first. An indentless one
  // (a mapping value in the mapping's own column) ends at the mapping's next key.
  bool sequence(int col, bool indentless) {
    if (tree_.depth() >= kMaxDepth) return false;
    tree_.open(YamlType::kSequence, file_line(line_));
    for (;;) {
      ++pos_;
      if (!node_after_indicator(col, false)) return false;
      if (col_ < col) break;
      if (col_ > col) return false;
      if (!is_entry(pos_)) {
        if (indentless) break;
        return false;
      }
    }
    tree_.close();
    return true;
  }

  // A key and its `:`, which must be followed by a blank.
  bool key() {
    const std::size_t start = pos_;
    const int line = line_;
    Scalar key;
    if (!scalar(false, key)) return false;
    skip_spaces();
    if (!at(':') || !blank_after(pos_ + 1) || pos_ - start > kMaxKeyLength) return false;
    ++pos_;
    add(key, line);
    return true;
  }

  // The node after a mapping's `:` or a sequence's `-` (the cursor just past it), in a collection
  // at column `parent_col`: on the same line, on the lines below, or empty (null, on the
  // indicator's line, as libyaml places it). Leaves the cursor on the next line with a token.
  bool node_after_indicator(int parent_col, bool mapping_value) {
    const int indicator_line = line_;
    skip_spaces();
    if (pos_ < end_ && text_[pos_] != '#') return inline_node(parent_col, !mapping_value);
    if (!next_line()) return false;
    if (col_ > parent_col) return is_entry(pos_) ? sequence(col_, false) : mapping(col_);
    if (mapping_value && col_ == parent_col && is_entry(pos_)) return sequence(col_, true);
    tree_.add_scalar({}, true, true, file_line(indicator_line));
    return true;
  }

  // A node that starts on the current line after an indicator. In a sequence entry, a scalar
  // followed by `:` starts a compact mapping (`- name: x`) in its column.
  bool inline_node(int parent_col, bool in_sequence) {
    const std::size_t start = pos_;
    const char c = text_[pos_];
    if (c == '|' || c == '>') return block_scalar(parent_col);
    if (c == '[' || c == '{') return flow_value();
    Scalar value;
    if (!scalar(false, value)) return false;
    if (in_sequence) {
      const std::size_t end = pos_;
      skip_spaces();
      if (at(':') && blank_after(pos_ + 1)) {
        pos_ = start;
        col_ = static_cast<int>(start - begin_);
        return mapping(col_);
      }
      pos_ = end;
    }
    add(value, line_);
    // Whatever follows on a more indented line (a plain scalar's continuation, say) makes the
    // enclosing collection decline it.
    return line_ends_at(pos_) && next_line();
  }

  void add(const Scalar& scalar, int line) {
    tree_.add_scalar(scalar.text, scalar.plain, scalar.plain && is_null_text(scalar.text),
                     file_line(line));
  }

  // ---- Scalars

  // A one-line plain or quoted scalar at the cursor, which moves past it (a plain scalar's
  // trailing spaces stay).
  bool scalar(bool flow, Scalar& out) {
    const char c = text_[pos_];
    if (c == '\'') return single_quoted(out);
    if (c == '"') return double_quoted(out);
    if (is_indicator(c)) {
      if (blank_after(pos_ + 1)) return false;
      if (c == '-' ? flow && is_flow_indicator(text_[pos_ + 1]) : flow || (c != '?' && c != ':')) {
        return false;
      }
    }
    return plain(flow, out);
  }

  // Ends before `: `, ` #`, the end of the line and, in flow context, `,`, `]` and `}`. Flow
  // plain scalars with `:`, `?`, `#`, `[` or `{` inside are declined (libyaml versions differ).
  bool plain(bool flow, Scalar& out) {
    std::size_t p = pos_;
    std::size_t value_end = pos_;
    while (p < end_) {
      if (!flow) {  // runs without a space or a colon, eight bytes at a time
        std::size_t q = find_either(p, end_, ' ', ':');
        if (q > p) value_end = p = q;
        if (p == end_) break;
      }
      const char c = text_[p];
      if (c == ' ') {
        while (p < end_ && text_[p] == ' ') ++p;
        if (p < end_ && text_[p] == '#') break;
        continue;
      }
      if (c == ':') {
        if (blank_after(p + 1)) break;
        if (flow) return false;
      } else if (flow) {
        if (c == ',' || c == ']' || c == '}') break;
        if (c == '[' || c == '{' || c == '?' || c == '#') return false;
      }
      value_end = ++p;
    }
    out.text = text_.substr(pos_, value_end - pos_);
    out.plain = true;
    pos_ = value_end;
    return true;
  }

  // `''` is a quote; no line break.
  bool single_quoted(Scalar& out) {
    const std::size_t start = pos_ + 1;
    std::size_t p = start;
    bool copied = false;
    for (;;) {
      std::size_t q = find_in_line('\'', p);
      if (q == end_) return false;
      if (q + 1 < end_ && text_[q + 1] == '\'') {
        if (!copied) scratch_.clear();
        copied = true;
        scratch_.append(text_, p, q + 1 - p);
        p = q + 2;
        continue;
      }
      if (copied) scratch_.append(text_, p, q - p);
      out.text = copied ? std::string_view(scratch_) : text_.substr(start, q - start);
      out.plain = false;
      pos_ = q + 1;
      return true;
    }
  }

  // libyaml's escapes, except the escaped line break and `\N`, `\_`, `\L`, `\P`, `\'` (declined).
  bool double_quoted(Scalar& out) {
    const std::size_t start = pos_ + 1;
    std::size_t p = start;
    bool copied = false;
    for (;;) {
      std::size_t q = p;
      while (q < end_ && text_[q] != '"' && text_[q] != '\\') ++q;
      if (q == end_) return false;
      if (text_[q] == '"') {
        if (copied) scratch_.append(text_, p, q - p);
        out.text = copied ? std::string_view(scratch_) : text_.substr(start, q - start);
        out.plain = false;
        pos_ = q + 1;
        return true;
      }
      if (!copied) scratch_.clear();
      copied = true;
      scratch_.append(text_, p, q - p);
      if (q + 1 == end_) return false;  // an escaped line break
      p = q + 2;
      const char e = text_[q + 1];
      const std::size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
      if (digits == 0) {
        static constexpr std::string_view kEscaped = "0abtnvfre \"/\\";
        static constexpr std::string_view kMeaning("\0\a\b\t\n\v\f\r\x1B \"/\\", 13);
        std::size_t i = kEscaped.find(e);
        if (i == std::string_view::npos) return false;
        scratch_ += kMeaning[i];
        continue;
      }
      if (end_ - p < digits) return false;
      std::uint32_t cp = 0;
      for (std::size_t i = 0; i < digits; ++i) {
        int v = hex_value(text_[p + i]);
        if (v < 0) return false;
        cp = (cp << 4) | static_cast<std::uint32_t>(v);
      }
      if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
      append_utf8(scratch_, cp);
      p += digits;
    }
  }

  // ---- Block scalars

  // `|` or `>` with an optional chomping indicator, in a collection at column `parent_col`: what
  // libyaml's yaml_parser_scan_block_scalar does for an automatic indentation, line for line.
  bool block_scalar(int parent_col) {
    const int header_line = line_;
    const bool literal = text_[pos_] == '|';
    int chomping = 0;  // -1 strip, +1 keep
    std::size_t p = pos_ + 1;
    if (p < end_ && (text_[p] == '-' || text_[p] == '+')) chomping = text_[p++] == '-' ? -1 : 1;
    if (!line_ends_at(p)) return false;  // also declines an explicit indentation (`|2`)

    std::string& out = scratch_;
    out.clear();
    std::size_t s = next_;  // the line after the header
    std::size_t line_start = s;
    int breaks = 0;  // line breaks read after the header's
    int indent = 0;  // 0 until the first non-empty line sets it
    int col = 0;
    std::size_t trailing_breaks = 0;
    bool leading_break = false;
    bool leading_blank = false;
    // Eats indentation and empty lines up to the next non-empty line (or the end).
    auto eat_breaks = [&] {
      int max_indent = 0;
      for (;;) {
        line_start = s;
        while ((indent == 0 || static_cast<int>(s - line_start) < indent) && s < text_.size() &&
               text_[s] == ' ') {
          ++s;
        }
        col = static_cast<int>(s - line_start);
        if (col > max_indent) max_indent = col;
        if (s == text_.size() || text_[s] != '\n') break;
        ++s;
        ++breaks;
        ++trailing_breaks;
      }
      if (indent == 0) indent = std::max({max_indent, parent_col + 1, 1});
    };
    eat_breaks();
    while (col == indent && s < text_.size()) {
      const bool trailing_blank = text_[s] == ' ';
      if (!literal && leading_break && !leading_blank && !trailing_blank) {
        if (trailing_breaks == 0) out += ' ';
      } else if (leading_break) {
        out += '\n';
      }
      leading_break = false;
      out.append(trailing_breaks, '\n');
      trailing_breaks = 0;
      leading_blank = text_[s] == ' ';
      std::size_t e = line_end(s);
      if (e == kOutsideCharacterSet) return false;
      out.append(text_, s, e - s);
      s = e;
      if (s < text_.size()) {
        ++s;
        ++breaks;
        leading_break = true;
      }
      eat_breaks();
    }
    if (chomping != -1 && leading_break) out += '\n';
    if (chomping == 1) out.append(trailing_breaks, '\n');
    tree_.add_scalar(out, false, false, file_line(header_line));

    // Resume at the line that ended the scalar.
    next_ = line_start;
    line_ = header_line + breaks;
    return next_line();
  }

  // ---- Flow collections (on one line)

  // A flow collection after an indicator, then the end of the line.
  bool flow_value() { return flow_node() && line_ends_at(pos_) && next_line(); }

  bool flow_node() {
    const char c = text_[pos_];
    if (c != '[' && c != '{') {
      Scalar value;
      if (!scalar(true, value)) return false;
      add(value, line_);
      return true;
    }
    if (tree_.depth() >= kMaxDepth) return false;
    const bool map = c == '{';
    const char close = map ? '}' : ']';
    tree_.open(map ? YamlType::kMap : YamlType::kSequence, file_line(line_));
    ++pos_;
    skip_spaces();
    if (at(close)) {
      ++pos_;
      tree_.close();
      return true;
    }
    for (;;) {
      if (pos_ == end_) return false;
      if (map) {
        const std::size_t start = pos_;
        const char k = text_[pos_];
        if (k == '[' || k == '{') return false;  // a collection as a key
        Scalar key;
        if (!scalar(true, key)) return false;
        skip_spaces();
        if (!at(':') || pos_ - start > kMaxKeyLength) return false;
        add(key, line_);
        ++pos_;
        skip_spaces();
        if (pos_ == end_ || text_[pos_] == ',' || text_[pos_] == '}') return false;  // no value
      }
      if (!flow_node()) return false;
      skip_spaces();
      if (at(',')) {
        ++pos_;
        skip_spaces();
        if (at(close)) return false;  // a trailing comma
        continue;
      }
      if (!at(close)) return false;  // includes `:` after a sequence entry (a one-pair mapping)
      ++pos_;
      break;
    }
    tree_.close();
    return true;
  }

  std::string_view text_;
  int line_base_;  // 1-based file line of the text's first line
  YamlTree& tree_;
  std::string scratch_;  // a scalar's text when it is not a slice of the input

  int line_ = -1;          // 0-based line of the cursor in the text
  std::size_t begin_ = 0;  // the cursor's line: [begin_, end_), without its '\n'
  std::size_t end_ = 0;
  std::size_t next_ = 0;  // the start of the next line
  std::size_t pos_ = 0;   // the cursor
  int col_ = 0;           // the column of a line's first token; -1 at the end
  bool at_end_ = false;
  bool started_ = false;  // after `---` or the first token
  bool ended_ = false;    // after `...`
};

bool read_yaml_subset(std::string_view text, int first_line, YamlTree& tree) {
  return YamlSubsetReader(text, first_line, tree).read();
}

}  // namespace portico::watch
