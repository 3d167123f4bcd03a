#pragma once

// Test support: a YAML tree as one line of text (every node's type, plain flag, line and text),
// so that two readers can be compared with ==. Used by the subset reader's differential test and
// its fuzzer.

#include <cstdio>
#include <string>
#include <string_view>

#include "watch/yaml_tree.hpp"

namespace portico::watch {

inline std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    }
  }
  return out;
}

inline void render(const YamlTree& tree, const YamlNode& node, std::string& out, int& budget) {
  if (--budget < 0) return;  // an alias cycle
  static constexpr char kTypes[] = {'~', 's', 'q', 'm'};
  out += kTypes[static_cast<int>(node.type)];
  out += node.plain ? "p" : "";
  out += '@' + std::to_string(node.line);
  if (node.type == YamlType::kScalar) {
    out += "'" + printable(tree.text(node)) + "'";
  } else if (node.type != YamlType::kNull) {
    out += '(';
    for (std::uint32_t i = 0; i < node.size; ++i) {
      render(tree, tree.child(node, i), out, budget);
      out += ' ';
    }
    out += ')';
  }
}

// Every node of a tree, in document order, and how many distinct nodes it holds.
inline std::string render(const YamlTree& tree) {
  if (tree.root() == nullptr) return "no document";
  std::string out;
  int budget = 100000;
  render(tree, *tree.root(), out, budget);
  return out + " #" + std::to_string(tree.size());
}

// What a YamlReader reads from a text: its documents, then its error.
inline std::string read_all(std::string_view text, YamlReader::Parser parser) {
  YamlReader reader(text, 4, parser);
  YamlTree tree;
  std::string out;
  while (reader.next(tree)) out += render(tree) + "\n";
  if (const auto& error = reader.error()) {
    out += "error at " + std::to_string(error->line) + ": " + error->message + "\n";
  }
  return out;
}

}  // namespace portico::watch
