#pragma once

// Combines the objects of several sources (the manifest files, the Kubernetes API) into one
// publication. Nothing is published until every source has delivered its first state, so that
// the data plane never serves (and /readyz never reports) a table built from half the inputs; after
// that, each update republishes the union of every source's latest objects, in source order.

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"
#include "watch/publisher.hpp"

namespace portico::watch {

class SourceSet {
 public:
  explicit SourceSet(Publisher& publisher) : publisher_(publisher) {}

  // Registers a source; call for every source before the first update(). Returns its index.
  std::size_t add(std::string name);

  // The latest state of `source`. Returns the publication's result; kUnchanged with generation 0
  // while other sources have not delivered yet. Thread-safe.
  PublishResult update(std::size_t source, routing::ObjectSet objects,
                       routing::Diagnostics diagnostics);

  Publisher& publisher() { return publisher_; }

 private:
  struct State {
    std::string name;
    std::optional<routing::ObjectSet> objects;  // empty until the first update
    routing::Diagnostics diagnostics;
  };
  Publisher& publisher_;
  std::mutex mutex_;
  std::vector<State> sources_;
};

}  // namespace portico::watch
