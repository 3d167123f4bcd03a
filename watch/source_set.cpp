#include "watch/source_set.hpp"

#include <utility>

namespace portico::watch {

std::size_t SourceSet::add(std::string name) {
  std::lock_guard lock(mutex_);
  sources_.push_back({std::move(name), std::nullopt, {}});
  return sources_.size() - 1;
}

PublishResult SourceSet::update(std::size_t source, routing::ObjectSet objects,
                                routing::Diagnostics diagnostics) {
  std::lock_guard lock(mutex_);
  if (sources_.size() == 1) {  // nothing to merge with: no copy
    sources_[0].objects.emplace();
    return publisher_.publish(objects, std::move(diagnostics));
  }
  State& state = sources_.at(source);
  state.objects = std::move(objects);
  state.diagnostics = std::move(diagnostics);
  routing::ObjectSet all;
  routing::Diagnostics all_diagnostics;
  for (const State& s : sources_) {
    if (!s.objects) return PublishResult{};  // a source that has not delivered yet
    routing::ObjectSet copy = *s.objects;
    all.merge(std::move(copy));
    all_diagnostics.insert(all_diagnostics.end(), s.diagnostics.begin(), s.diagnostics.end());
  }
  return publisher_.publish(all, std::move(all_diagnostics));
}

}  // namespace portico::watch
