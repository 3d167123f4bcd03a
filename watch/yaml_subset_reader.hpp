#pragma once

// A fast reader for the YAML that manifests are made of, building the same YamlTree that libyaml's
// events build, and declining everything else so that libyaml reads it instead.
//
// Contract: read_yaml_subset() either returns true with `tree` holding exactly what YamlReader
// reads with libyaml from `text` (one document: the same nodes in the same order, with the same
// types, plain flags, texts and lines), or returns false, with `tree` in an unspecified state, for
// any text that is not in the subset below, including every text libyaml rejects. It never fails
// otherwise; the caller falls back to libyaml for the whole text.
//
// The subset: one document, optionally after a `---` line and before a `...` line, whose root is a
// block mapping or sequence (or a one-line flow collection); blank and comment lines anywhere;
// block mappings whose keys are one-line plain or quoted scalars, block sequences (indented or not
// under a key), compact mappings in sequence entries (`- name: x`); values that are one-line plain,
// single- or double-quoted scalars, one-line flow collections (`[]`, `{}`, `[a, "b"]`,
// `{a: 1, "b": [c]}`), or literal and folded block scalars (`|`, `>-`, `|+`, without an explicit
// indentation). Printable ASCII and valid UTF-8 only (no tab, CR, BOM or Unicode line break).
// Declined: anchors, aliases, tags, directives, `?` keys, plain scalars that continue on the next
// line, quoted scalars or flow collections over several lines, `- - x`, empty documents, scalar
// roots, and anything libyaml would report as an error.

#include <string_view>

#include "watch/yaml_tree.hpp"

namespace portico::watch {

// `first_line` is the 0-based line of `text` in its file, as for YamlReader.
bool read_yaml_subset(std::string_view text, int first_line, YamlTree& tree);

}  // namespace portico::watch
