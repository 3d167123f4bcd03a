#include "routing/label_selector.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace portico::routing {

namespace {

constexpr std::array<std::pair<std::string_view, SelectorOperator>, 4> kOperators = {{
    {"In", SelectorOperator::kIn},
    {"NotIn", SelectorOperator::kNotIn},
    {"Exists", SelectorOperator::kExists},
    {"DoesNotExist", SelectorOperator::kDoesNotExist},
}};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string_view suggest_operator(std::string_view written) {
  for (const auto& [name, op] : kOperators) {
    if (equal_ignoring_case(name, written)) return name;
  }
  // Spellings from other selector syntaxes (kubectl's set-based "notin", SQL-ish "Exist").
  if (equal_ignoring_case(written, "Exist")) return "Exists";
  if (equal_ignoring_case(written, "NotExists") || equal_ignoring_case(written, "DoesNotExists"))
    return "DoesNotExist";
  return {};
}

CompiledSelector CompiledSelector::from_map(const StringMap& labels) {
  CompiledSelector out;
  out.requirements_.reserve(labels.size());
  for (const auto& [key, value] : labels) {
    out.requirements_.push_back({key, SelectorOperator::kEquals, {value}});
  }
  return out;
}

bool CompiledSelector::compile(const LabelSelector& selector, const std::string& object,
                               const Origin& origin, std::string_view field,
                               Diagnostics& diagnostics, CompiledSelector& out) {
  CompiledSelector result = from_map(selector.match_labels);
  bool ok = true;
  for (std::size_t i = 0; i < selector.match_expressions.size(); ++i) {
    const LabelSelectorRequirement& written = selector.match_expressions[i];
    auto fail = [&](std::string_view sub, std::string message) {
      ok = false;
      Diagnostic& d = diagnostics.emplace_back();
      d.file = origin.file;
      d.line = written.line != 0 ? written.line : origin.line;
      d.object = object;
      d.field =
          std::string(field) + ".matchExpressions[" + std::to_string(i) + "]." + std::string(sub);
      d.message = std::move(message);
    };
    const auto* found = std::find_if(kOperators.begin(), kOperators.end(),
                                     [&](const auto& entry) { return entry.first == written.op; });
    if (found == kOperators.end()) {
      std::string message = "unknown operator \"" + written.op + "\"";
      if (std::string_view hint = suggest_operator(written.op); !hint.empty()) {
        message += "; did you mean \"" + std::string(hint) + "\"? (operators are case-sensitive)";
      } else {
        message += "; accepted: In, NotIn, Exists, DoesNotExist";
      }
      fail("operator", std::move(message));
      continue;
    }
    if (written.key.empty()) {
      fail("key", "missing; every expression needs a label key");
      continue;
    }
    SelectorOperator op = found->second;
    bool set_based = op == SelectorOperator::kIn || op == SelectorOperator::kNotIn;
    if (set_based && written.values.empty()) {
      fail("values", "must not be empty for operator " + written.op);
      continue;
    }
    if (!set_based && !written.values.empty()) {
      fail("values", "must be empty for operator " + written.op);
      continue;
    }
    SelectorRequirement& requirement = result.requirements_.emplace_back();
    requirement.key = written.key;
    requirement.op = op;
    requirement.values = written.values;
    std::sort(requirement.values.begin(), requirement.values.end());
  }
  if (ok) out = std::move(result);
  return ok;
}

bool map_selects(const StringMap& selector, const StringMap& labels) {
  for (const auto& [key, value] : selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

bool CompiledSelector::matches(const StringMap& labels) const {
  for (const SelectorRequirement& r : requirements_) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    switch (r.op) {
      case SelectorOperator::kEquals:
        if (!has || it->second != r.values.front()) return false;
        break;
      case SelectorOperator::kIn:
        if (!has || !std::binary_search(r.values.begin(), r.values.end(), it->second)) return false;
        break;
      case SelectorOperator::kNotIn:
        // A pod without the label satisfies NotIn (labels.Selector semantics).
        if (has && std::binary_search(r.values.begin(), r.values.end(), it->second)) return false;
        break;
      case SelectorOperator::kExists:
        if (!has) return false;
        break;
      case SelectorOperator::kDoesNotExist:
        if (has) return false;
        break;
    }
  }
  return true;
}

}  // namespace portico::routing
