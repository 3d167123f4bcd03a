// Label selectors as the API server applies them: equality maps, matchLabels +
// matchExpressions with case-sensitive operators.

#include "routing/label_selector.hpp"

#include <gtest/gtest.h>

namespace portico::routing {
namespace {

LabelSelector selector(StringMap match_labels, std::vector<LabelSelectorRequirement> expressions) {
  LabelSelector s;
  s.match_labels = std::move(match_labels);
  s.match_expressions = std::move(expressions);
  return s;
}

struct MatchCase {
  const char* rule;
  LabelSelector selector;
  StringMap labels;
  bool matches;
};

TEST(LabelSelector, MatchesAsKubernetesDoes) {
  const std::vector<MatchCase> cases = {
      {"matchLabels all equal",
       selector({{"app", "cart"}}, {}),
       {{"app", "cart"}, {"x", "y"}},
       true},
      {"matchLabels value differs", selector({{"app", "cart"}}, {}), {{"app", "shop"}}, false},
      {"matchLabels key missing", selector({{"app", "cart"}}, {}), {{"tier", "web"}}, false},
      {"In holds", selector({}, {{"env", "In", {"prod", "stage"}, 0}}), {{"env", "stage"}}, true},
      {"In fails on other value",
       selector({}, {{"env", "In", {"prod"}, 0}}),
       {{"env", "dev"}},
       false},
      {"In fails without the label", selector({}, {{"env", "In", {"prod"}, 0}}), {}, false},
      {"NotIn holds without the label", selector({}, {{"env", "NotIn", {"prod"}, 0}}), {}, true},
      {"NotIn fails on a listed value",
       selector({}, {{"env", "NotIn", {"prod"}, 0}}),
       {{"env", "prod"}},
       false},
      {"Exists", selector({}, {{"canary", "Exists", {}, 0}}), {{"canary", ""}}, true},
      {"Exists fails", selector({}, {{"canary", "Exists", {}, 0}}), {}, false},
      {"DoesNotExist", selector({}, {{"canary", "DoesNotExist", {}, 0}}), {{"a", "b"}}, true},
      {"DoesNotExist fails",
       selector({}, {{"canary", "DoesNotExist", {}, 0}}),
       {{"canary", "1"}},
       false},
      {"requirements are ANDed",
       selector({{"app", "cart"}}, {{"env", "In", {"prod"}, 0}}),
       {{"app", "cart"}, {"env", "dev"}},
       false},
  };
  for (const MatchCase& c : cases) {
    Diagnostics diagnostics;
    CompiledSelector compiled;
    ASSERT_TRUE(CompiledSelector::compile(c.selector, "Deployment a/b", {}, "spec.selector",
                                          diagnostics, compiled))
        << c.rule;
    EXPECT_EQ(compiled.matches(c.labels), c.matches) << c.rule;
  }
}

TEST(LabelSelector, MapSelectsAsTheCompiledEqualitySelectorDoes) {
  const std::vector<std::pair<StringMap, StringMap>> cases = {
      {{}, {}},
      {{}, {{"app", "cart"}}},
      {{{"app", "cart"}}, {}},
      {{{"app", "cart"}}, {{"app", "cart"}}},
      {{{"app", "cart"}}, {{"app", "cart"}, {"tier", "web"}}},
      {{{"app", "cart"}}, {{"app", "carts"}}},
      {{{"app", "cart"}}, {{"App", "cart"}}},
      {{{"app", ""}}, {{"app", ""}}},
      {{{"app", ""}}, {}},
      {{{"app", "cart"}, {"tier", "web"}}, {{"app", "cart"}}},
      {{{"app", "cart"}, {"tier", "web"}}, {{"app", "cart"}, {"tier", "web"}, {"v", "2"}}},
      {{{"app", "cart"}, {"tier", "web"}}, {{"app", "cart"}, {"tier", "db"}}},
  };
  for (const auto& [selector, labels] : cases) {
    EXPECT_EQ(map_selects(selector, labels), CompiledSelector::from_map(selector).matches(labels))
        << ::testing::PrintToString(selector) << " on " << ::testing::PrintToString(labels);
  }
  EXPECT_TRUE(map_selects({}, {{"any", "thing"}}));  // empty selects everything
  EXPECT_FALSE(map_selects({{"app", "cart"}}, {{"app", "shop"}}));
}

TEST(LabelSelector, EqualityMapSelectsSupersets) {
  CompiledSelector s = CompiledSelector::from_map({{"app", "cart"}, {"tier", "web"}});
  EXPECT_TRUE(s.matches({{"app", "cart"}, {"tier", "web"}, {"version", "2"}}));
  EXPECT_FALSE(s.matches({{"app", "cart"}}));
}

TEST(LabelSelector, OperatorIsCaseSensitiveWithDidYouMean) {
  Diagnostics diagnostics;
  CompiledSelector compiled;
  EXPECT_FALSE(CompiledSelector::compile(selector({}, {{"env", "in", {"prod"}, 7}}),
                                         "Deployment shop/cart", {"m.yaml", 1}, "spec.selector",
                                         diagnostics, compiled));
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].field, "spec.selector.matchExpressions[0].operator");
  EXPECT_EQ(diagnostics[0].object, "Deployment shop/cart");
  EXPECT_EQ(diagnostics[0].line, 7);
  EXPECT_NE(diagnostics[0].message.find("did you mean \"In\""), std::string::npos);
  EXPECT_EQ(suggest_operator("doesnotexist"), "DoesNotExist");
  EXPECT_EQ(suggest_operator("Between"), "");
}

TEST(LabelSelector, ValuesMustFitTheOperator) {
  Diagnostics diagnostics;
  CompiledSelector compiled;
  EXPECT_FALSE(CompiledSelector::compile(selector({}, {{"env", "In", {}, 0}}), "x", {},
                                         "spec.selector", diagnostics, compiled));
  EXPECT_FALSE(CompiledSelector::compile(selector({}, {{"env", "Exists", {"a"}, 0}}), "x", {},
                                         "spec.selector", diagnostics, compiled));
  ASSERT_EQ(diagnostics.size(), 2u);
  EXPECT_EQ(diagnostics[0].field, "spec.selector.matchExpressions[0].values");
}

}  // namespace
}  // namespace portico::routing
