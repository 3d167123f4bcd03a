#pragma once

// A compact tree of one YAML document, and the reader that builds one per document of a text:
// with the subset reader (yaml_subset_reader.hpp) when the text is in the subset manifests use,
// else from libyaml's parser events.
//
// The tree is flat: nodes, the children of every collection (contiguous) and the text of every
// scalar each live in one array, reused from document to document, so reading a document costs
// no allocation per node. A scalar keeps whether it was plain (unquoted, no string tag), which a
// port number needs: `80` is a number, `"80"` a string. An alias shares the anchored node instead
// of copying it, so a tree is a graph: whoever walks it must bound how often it follows aliases.
//
// Null is the YAML core schema's: an untagged plain scalar that is empty, `~`, `null`, `Null` or
// `NULL`. Everything else keeps its text; reading it as a number or a boolean is the caller's
// business.

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

struct yaml_parser_s;  // libyaml's parser, kept out of this header

namespace portico::watch {

enum class YamlType : std::uint8_t { kNull, kScalar, kSequence, kMap };

struct YamlNode {
  YamlType type = YamlType::kNull;
  bool plain = false;       // a scalar without quotes or a string tag: may be a number or a boolean
  int line = 0;             // 1-based, in the file
  std::uint32_t first = 0;  // scalar: offset of its text in the arena; collection: first child
  std::uint32_t size = 0;   // scalar: text length; sequence: items; map: keys and values
};

class YamlTree {
 public:
  YamlTree();

  // The document's root, or nullptr when the tree holds no document.
  const YamlNode* root() const { return root_ == kNone ? nullptr : &nodes_[root_]; }
  // Distinct nodes; a node reached through aliases counts once.
  std::size_t size() const { return nodes_.size(); }
  // The i-th child of a collection (i < node.size); a map's children alternate key, value.
  const YamlNode& child(const YamlNode& node, std::uint32_t i) const {
    return nodes_[kids_[node.first + i]];
  }
  // A scalar's text; valid until the tree reads its next document.
  std::string_view text(const YamlNode& node) const {
    return std::string_view(arena_).substr(node.first, node.size);
  }

 private:
  friend class YamlReader;
  friend class YamlSubsetReader;
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

  // The calls per node are inline: they were a third of the subset reader's instructions.
  void reset();
  void add_scalar(std::string_view value, bool plain, bool null, int line) {
    if (null) {
      add(YamlType::kNull, false, line, 0, 0);
    } else {
      add(YamlType::kScalar, plain, line, static_cast<std::uint32_t>(arena_.size()),
          static_cast<std::uint32_t>(value.size()));
      arena_.append(value);
    }
  }
  void open(YamlType type, int line) {
    auto index = add(type, false, line, 0, 0);
    open_.emplace_back(index, static_cast<std::uint32_t>(pending_.size()));
  }
  // Names the node added or opened last (`&anchor`) for the aliases that follow.
  void anchor_last(std::string_view anchor);
  // False when `anchor` names no earlier node of this document.
  bool add_alias(std::string_view anchor);
  std::size_t depth() const { return open_.size(); }  // collections open at this point
  void close();

  std::uint32_t add(YamlType type, bool plain, int line, std::uint32_t first, std::uint32_t size) {
    auto index = static_cast<std::uint32_t>(nodes_.size());
    nodes_.push_back({type, plain, line, first, size});
    attach(index);
    return index;
  }
  void attach(std::uint32_t index) {
    if (!open_.empty()) {
      pending_.push_back(index);
    } else if (root_ == kNone) {
      root_ = index;
    }
  }

  std::vector<YamlNode> nodes_;
  std::vector<std::uint32_t> kids_;
  std::string arena_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> open_;  // node, start in `pending_`
  std::vector<std::uint32_t> pending_;
  std::unordered_map<std::string, std::uint32_t> anchors_;
  std::uint32_t root_ = kNone;
};

// A YAML syntax error: where libyaml noticed it (1-based line in the file) and what it says.
struct YamlSyntaxError {
  int line = 0;
  std::string message;
};

// Reads the documents of one text, one at a time. `text` must outlive the reader; `first_line` is
// the 0-based line of the text in its file, so that node lines are lines of the file.
class YamlReader {
 public:
  // kAuto: the subset reader when the whole text is in its subset (one document; several times
  // faster), else libyaml; the trees are the same. kLibyaml: libyaml only, the reference the
  // subset reader is tested against.
  enum class Parser : std::uint8_t { kAuto, kLibyaml };

  YamlReader(std::string_view text, int first_line, Parser parser = Parser::kAuto);
  ~YamlReader();
  YamlReader(const YamlReader&) = delete;
  YamlReader& operator=(const YamlReader&) = delete;

  // Reads the next document into `tree` (replacing what it held) and returns true; returns false
  // at the end of the text or at a syntax error, after which error() says which and the reader
  // reads nothing more. An alias to an anchor not defined earlier in its document is a syntax
  // error, and so are collections nested more than kMaxDepth deep. Throws std::bad_alloc when
  // libyaml runs out of memory.
  bool next(YamlTree& tree);

  // libyaml's scanner spends time proportional to the nesting depth on every token: measured,
  // 40,000 levels of `[` (80 KB) take 4 s, and time grows with the square. Manifests nest about a
  // dozen levels; 500 is the bound the decoder had before libyaml.
  static constexpr std::size_t kMaxDepth = 500;

  const std::optional<YamlSyntaxError>& error() const { return error_; }

 private:
  struct ParserDeleter {
    void operator()(yaml_parser_s* parser) const;
  };

  void start_parser();
  void fail(int line, std::string message);
  void fail_from_parser();

  std::string_view text_;
  int line_offset_;  // added to libyaml's 0-based lines: 1-based lines of the file
  Parser mode_;
  std::unique_ptr<yaml_parser_s, ParserDeleter> parser_;  // created only when libyaml reads
  std::optional<YamlSyntaxError> error_;
  bool done_ = false;
};

}  // namespace portico::watch
