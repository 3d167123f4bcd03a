#pragma once

// Label selectors as the API server applies them (k8s.io/apimachinery labels.Selector): a
// Service's equality map, and a workload's matchLabels + matchExpressions (In, NotIn, Exists,
// DoesNotExist; operators are case-sensitive). Requirements are ANDed; an empty selector selects
// everything, which callers that need otherwise (Services) handle before asking.

#include <string>
#include <string_view>
#include <vector>

#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"

namespace portico::routing {

enum class SelectorOperator : std::uint8_t { kEquals, kIn, kNotIn, kExists, kDoesNotExist };

struct SelectorRequirement {
  std::string key;
  SelectorOperator op = SelectorOperator::kEquals;
  std::vector<std::string> values;  // one for kEquals; sorted for kIn/kNotIn
};

class CompiledSelector {
 public:
  // An equality map (Service spec.selector, ReplicationController spec.selector).
  static CompiledSelector from_map(const StringMap& labels);

  // Validates and compiles a metav1.LabelSelector. An unknown operator (`in`, `Equals`) or a
  // value list that does not fit the operator is an error on that expression, naming `object`
  // and `field` + ".matchExpressions[i]"; returns false then (the selector is unusable, as the
  // API server would refuse the object) and `out` is left empty.
  static bool compile(const LabelSelector& selector, const std::string& object,
                      const Origin& origin, std::string_view field, Diagnostics& diagnostics,
                      CompiledSelector& out);

  // True when every requirement holds for `labels`.
  bool matches(const StringMap& labels) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<SelectorRequirement>& requirements() const { return requirements_; }

 private:
  std::vector<SelectorRequirement> requirements_;
};

// Whether every key=value of an equality selector (a Service's, or matchLabels alone) is among
// `labels`; an empty selector selects everything. CompiledSelector::from_map(selector).matches
// without building requirements.
bool map_selects(const StringMap& selector, const StringMap& labels);

// For a misspelt operator, the valid one it most likely means ("in" -> "In"), else empty.
std::string_view suggest_operator(std::string_view written);

}  // namespace portico::routing
