#pragma once

// Reads manifests from files, directories (recursively: *.yaml, *.yml, *.json) and stdin ("-"),
// decoding files in parallel. Files are decoded independently: a syntax error in one never hides
// another. Objects come out in a deterministic order (paths in argument order, directory entries
// sorted by name), whatever the number of threads. Symlinks are followed; each file is read once
// however many ways it is reached; entries whose names start with '.' are skipped inside
// directories (this also keeps a ConfigMap volume's `..data` links from doubling every object).

#include <string>
#include <vector>

#include "watch/manifest_decoder.hpp"

namespace portico::watch {

struct LoadResult {
  routing::ObjectSet objects;
  routing::Diagnostics diagnostics;
  bool unreadable = false;  // a named path does not exist or cannot be read (diagnostic says which)
  std::vector<std::string> files;  // every file read, in order
};

// `threads` = 0: one per core.
LoadResult load_manifests(const std::vector<std::string>& paths, unsigned threads = 0);

}  // namespace portico::watch
