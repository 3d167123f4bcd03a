#include "watch/yaml_tree.hpp"

#include <yaml.h>

#include <algorithm>
#include <cstdio>
#include <new>

#include "watch/yaml_subset_reader.hpp"

namespace portico::watch {
namespace {

std::uint32_t u32(std::size_t n) {
  return static_cast<std::uint32_t>(n);
}

std::string_view view(const yaml_char_t* text, std::size_t size) {
  return {reinterpret_cast<const char*>(text), size};
}

std::string_view view(const yaml_char_t* text) {
  return text == nullptr ? std::string_view()
                         : std::string_view(reinterpret_cast<const char*>(text));
}

// An untagged plain scalar, or one tagged as a number or a boolean, may be read as either; a quoted
// one or one with any other tag (`!!str 80`) is a string.
bool is_plain(const yaml_event_t& event) {
  std::string_view tag = view(event.data.scalar.tag);
  if (tag.empty()) return event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  return tag == YAML_INT_TAG || tag == YAML_BOOL_TAG || tag == YAML_FLOAT_TAG;
}

// The core schema's null, for an untagged plain scalar (an empty node is an empty plain scalar).
bool is_null(const yaml_event_t& event, std::string_view value) {
  return event.data.scalar.tag == nullptr && event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
         (value.empty() || value == "~" || value == "null" || value == "Null" || value == "NULL");
}

// Owns one event: libyaml allocates its anchor, tag and value.
struct Event {
  yaml_event_t raw{};
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() { yaml_event_delete(&raw); }
};

}  // namespace

// ---- YamlTree

// Room for a typical manifest document (about 75 nodes, 1 KB of text) several times over: a tree
// is made per file, and growing its arrays from nothing cost more than reading the document.
YamlTree::YamlTree() {
  nodes_.reserve(256);
  kids_.reserve(256);
  arena_.reserve(2048);
  open_.reserve(32);
  pending_.reserve(128);
}

void YamlTree::reset() {
  nodes_.clear();
  kids_.clear();
  arena_.clear();
  open_.clear();
  pending_.clear();
  anchors_.clear();
  root_ = kNone;
}

// An anchor names its node from its start, so a collection can alias itself (walkers bound that);
// the last definition of a name wins.
void YamlTree::anchor_last(std::string_view anchor) {
  anchors_.insert_or_assign(std::string(anchor), u32(nodes_.size() - 1));
}

bool YamlTree::add_alias(std::string_view anchor) {
  // A key copied per alias: aliases are rare in manifests.
  auto it = anchors_.find(std::string(anchor));
  if (it == anchors_.end()) return false;
  attach(it->second);
  return true;
}

// Children are collected on one stack and copied to `kids_` when their parent ends, so that every
// collection's children are contiguous without an allocation per collection.
void YamlTree::close() {
  if (open_.empty()) return;
  auto [index, start] = open_.back();
  open_.pop_back();
  YamlNode& node = nodes_[index];
  node.first = u32(kids_.size());
  node.size = u32(pending_.size() - start);
  kids_.insert(kids_.end(), pending_.begin() + start, pending_.end());
  pending_.resize(start);
}

// ---- YamlReader

void YamlReader::ParserDeleter::operator()(yaml_parser_s* parser) const {
  yaml_parser_delete(parser);
  delete parser;
}

YamlReader::YamlReader(std::string_view text, int first_line, Parser parser)
    : text_(text), line_offset_(first_line + 1), mode_(parser) {}

YamlReader::~YamlReader() = default;

void YamlReader::start_parser() {
  auto parser = std::make_unique<yaml_parser_t>();
  // Initialization fails only to allocate, and then frees what it had allocated.
  if (yaml_parser_initialize(parser.get()) == 0) throw std::bad_alloc();
  parser_.reset(parser.release());
  yaml_parser_set_input_string(parser_.get(), reinterpret_cast<const unsigned char*>(text_.data()),
                               text_.size());
}

bool YamlReader::next(YamlTree& tree) {
  tree.reset();
  if (done_) return false;
  if (!parser_) {
    // The subset reader reads the whole text as one document, or nothing: then libyaml reads it
    // from the start.
    if (mode_ == Parser::kAuto && read_yaml_subset(text_, line_offset_ - 1, tree)) {
      done_ = true;
      return true;
    }
    tree.reset();
    start_parser();
  }
  for (;;) {
    Event event;
    if (yaml_parser_parse(parser_.get(), &event.raw) == 0) {
      fail_from_parser();
      return false;
    }
    const yaml_event_t& e = event.raw;
    int line = line_offset_ + static_cast<int>(e.start_mark.line);
    switch (e.type) {
      case YAML_STREAM_START_EVENT:
      case YAML_DOCUMENT_START_EVENT:
        break;
      case YAML_NO_EVENT:  // only after the end of the stream
      case YAML_STREAM_END_EVENT:
        done_ = true;
        return false;
      case YAML_DOCUMENT_END_EVENT:
        return true;
      case YAML_ALIAS_EVENT:
        if (!tree.add_alias(view(e.data.alias.anchor))) {
          fail(line, "the referenced anchor is not defined");
          return false;
        }
        break;
      case YAML_SCALAR_EVENT: {
        std::string_view value = view(e.data.scalar.value, e.data.scalar.length);
        tree.add_scalar(value, is_plain(e), is_null(e, value), line);
        if (e.data.scalar.anchor != nullptr) tree.anchor_last(view(e.data.scalar.anchor));
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT:
        if (tree.depth() == kMaxDepth) {
          fail(line, "collections nested more than " + std::to_string(kMaxDepth) + " deep");
          return false;
        }
        if (e.type == YAML_SEQUENCE_START_EVENT) {
          tree.open(YamlType::kSequence, line);
          if (e.data.sequence_start.anchor != nullptr) {
            tree.anchor_last(view(e.data.sequence_start.anchor));
          }
        } else {
          tree.open(YamlType::kMap, line);
          if (e.data.mapping_start.anchor != nullptr) {
            tree.anchor_last(view(e.data.mapping_start.anchor));
          }
        }
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        tree.close();
        break;
    }
  }
}

void YamlReader::fail(int line, std::string message) {
  done_ = true;
  error_ = YamlSyntaxError{line, std::move(message)};
}

void YamlReader::fail_from_parser() {
  const yaml_parser_t& p = *parser_;
  if (p.error == YAML_MEMORY_ERROR) throw std::bad_alloc();
  std::string_view problem = p.problem != nullptr ? p.problem : "invalid YAML";
  if (p.error == YAML_READER_ERROR) {
    // Encoding errors carry a byte offset instead of a mark.
    std::size_t offset = std::min(p.problem_offset, text_.size());
    auto newlines =
        std::count(text_.begin(), text_.begin() + static_cast<std::ptrdiff_t>(offset), '\n');
    std::string message(problem);
    if (p.problem_value >= 0) {
      char value[16];
      std::snprintf(value, sizeof value, " (0x%X)", static_cast<unsigned>(p.problem_value));
      message += value;
    }
    fail(line_offset_ + static_cast<int>(newlines), std::move(message));
    return;
  }
  // libyaml wants an explicit `---` after the first document; anything else there is text that
  // follows a complete document (`{...},` in JSON).
  if (problem == "did not find expected <document start>") {
    fail(line_offset_ + static_cast<int>(p.problem_mark.line),
         "unexpected text after the end of the document");
    return;
  }
  std::string message(problem);
  if (p.context != nullptr) {
    message += ' ';
    message += p.context;
    if (p.context_mark.line != p.problem_mark.line) {
      message += " that began on line ";
      message += std::to_string(line_offset_ + static_cast<int>(p.context_mark.line));
    }
  }
  fail(line_offset_ + static_cast<int>(p.problem_mark.line), std::move(message));
}

}  // namespace portico::watch
