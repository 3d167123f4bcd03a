// Path types and precedence, one case per row of the Kubernetes Ingress documentation
// ("Examples" under Path types) plus the rules the issue adds (regex, ImplementationSpecific).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/routing/compile_yaml.hpp"

namespace portico::routing {
namespace {

using testing::compile_yaml;
using testing::dump;
using testing::route_for;

struct PathSpec {
  std::string type;
  std::string path;
};

// One Ingress on host "h.example" whose i-th path goes to Service "s<i>" port 80.
std::string ingress_with_paths(const std::vector<PathSpec>& paths, bool use_regex = false) {
  std::string yaml = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n";
  if (use_regex) yaml += "  annotations:\n    nginx.ingress.kubernetes.io/use-regex: \"true\"\n";
  yaml += "spec:\n  rules:\n  - host: h.example\n    http:\n      paths:\n";
  for (std::size_t i = 0; i < paths.size(); ++i) {
    yaml += "      - path: '" + paths[i].path + "'\n        pathType: " + paths[i].type +
            "\n        backend:\n          service:\n            name: s" + std::to_string(i) +
            "\n            port:\n              number: 80\n";
  }
  return yaml;
}

struct MatchCase {
  const char* rule;  // the Kubernetes documentation row this proves
  std::vector<PathSpec> paths;
  const char* request;
  const char* expected;  // "s<i>:80" or "404"
};

class KubernetesPathExamples : public ::testing::TestWithParam<MatchCase> {};

TEST_P(KubernetesPathExamples, MatchesAsTheSpecSays) {
  const MatchCase& c = GetParam();
  auto result = compile_yaml(ingress_with_paths(c.paths));
  ASSERT_EQ(count(result.diagnostics, Severity::kError), 0u) << dump(result.diagnostics);
  EXPECT_EQ(route_for(*result.table, "h.example", c.request), c.expected) << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Spec, KubernetesPathExamples,
    ::testing::Values(
        MatchCase{"Prefix / matches all paths", {{"Prefix", "/"}}, "/anything/at/all", "s0:80"},
        MatchCase{"Exact /foo matches /foo", {{"Exact", "/foo"}}, "/foo", "s0:80"},
        MatchCase{"Exact /foo does not match /bar", {{"Exact", "/foo"}}, "/bar", "404"},
        MatchCase{"Exact /foo does not match /foo/", {{"Exact", "/foo"}}, "/foo/", "404"},
        MatchCase{"Exact /foo/ does not match /foo", {{"Exact", "/foo/"}}, "/foo", "404"},
        MatchCase{"Exact is case-sensitive", {{"Exact", "/foo"}}, "/FOO", "404"},
        MatchCase{"Prefix /foo matches /foo", {{"Prefix", "/foo"}}, "/foo", "s0:80"},
        MatchCase{"Prefix /foo matches /foo/", {{"Prefix", "/foo"}}, "/foo/", "s0:80"},
        MatchCase{"Prefix /foo/ matches /foo (trailing slash ignored)",
                  {{"Prefix", "/foo/"}},
                  "/foo",
                  "s0:80"},
        MatchCase{"Prefix /foo/ matches /foo/", {{"Prefix", "/foo/"}}, "/foo/", "s0:80"},
        MatchCase{
            "Prefix /aaa/bb does not match /aaa/bbb", {{"Prefix", "/aaa/bb"}}, "/aaa/bbb", "404"},
        MatchCase{
            "Prefix /aaa/bbb matches /aaa/bbb", {{"Prefix", "/aaa/bbb"}}, "/aaa/bbb", "s0:80"},
        MatchCase{
            "Prefix /aaa/bbb/ matches /aaa/bbb", {{"Prefix", "/aaa/bbb/"}}, "/aaa/bbb", "s0:80"},
        MatchCase{
            "Prefix /aaa/bbb matches /aaa/bbb/", {{"Prefix", "/aaa/bbb"}}, "/aaa/bbb/", "s0:80"},
        MatchCase{"Prefix /aaa/bbb matches /aaa/bbb/ccc",
                  {{"Prefix", "/aaa/bbb"}},
                  "/aaa/bbb/ccc",
                  "s0:80"},
        MatchCase{"Prefix /aaa/bbb does not match /aaa/bbbxyz",
                  {{"Prefix", "/aaa/bbb"}},
                  "/aaa/bbbxyz",
                  "404"},
        MatchCase{"Prefix is case-sensitive", {{"Prefix", "/foo"}}, "/Foo", "404"},
        MatchCase{"longest matching path wins: / and /aaa, request /aaa/ccc",
                  {{"Prefix", "/"}, {"Prefix", "/aaa"}},
                  "/aaa/ccc",
                  "s1:80"},
        MatchCase{"longest wins regardless of declaration order",
                  {{"Prefix", "/aaa"}, {"Prefix", "/"}},
                  "/aaa/ccc",
                  "s0:80"},
        MatchCase{"Exact beats Prefix of the same length",
                  {{"Prefix", "/aaa"}, {"Exact", "/aaa"}},
                  "/aaa",
                  "s1:80"},
        MatchCase{"the Prefix still serves below the Exact path",
                  {{"Prefix", "/aaa"}, {"Exact", "/aaa"}},
                  "/aaa/x",
                  "s0:80"},
        MatchCase{
            "no prefix matches /ccc", {{"Prefix", "/aaa"}, {"Prefix", "/aaa/bbb"}}, "/ccc", "404"},
        MatchCase{"the longer path wins, Exact or not",
                  {{"Exact", "/aaa/bbb"}, {"Prefix", "/aaa"}},
                  "/aaa/bbb",
                  "s0:80"},
        MatchCase{"ImplementationSpecific without use-regex is Prefix",
                  {{"ImplementationSpecific", "/docs"}},
                  "/docs/intro",
                  "s0:80"},
        MatchCase{"ImplementationSpecific without use-regex is element-wise",
                  {{"ImplementationSpecific", "/docs"}},
                  "/docsx",
                  "404"}));

TEST(RegexPaths, AreAnchoredAtTheStartAndCaseInsensitive) {
  auto result =
      compile_yaml(ingress_with_paths({{"ImplementationSpecific", "/api/v[0-9]+/"}}, true));
  ASSERT_EQ(count(result.diagnostics, Severity::kError), 0u) << dump(result.diagnostics);
  const RouteTable& table = *result.table;
  EXPECT_EQ(route_for(table, "h.example", "/api/v2/users"), "s0:80");
  EXPECT_EQ(route_for(table, "h.example", "/API/V2/users"), "s0:80");
  EXPECT_EQ(route_for(table, "h.example", "/x/api/v2/"), "404") << "anchored at the start";
  EXPECT_EQ(route_for(table, "h.example", "/api/vx/"), "404");
}

TEST(RegexPaths, ComeAfterNonRegexPathsOfTheSameHost) {
  // use-regex turns only ImplementationSpecific paths into regexes; Exact/Prefix stay as they are.
  auto result = compile_yaml(ingress_with_paths(
      {{"ImplementationSpecific", "/.*"}, {"Prefix", "/static"}, {"Exact", "/health"}}, true));
  ASSERT_EQ(count(result.diagnostics, Severity::kError), 0u) << dump(result.diagnostics);
  const RouteTable& table = *result.table;
  EXPECT_EQ(route_for(table, "h.example", "/static/app.js"), "s1:80");
  EXPECT_EQ(route_for(table, "h.example", "/health"), "s2:80");
  EXPECT_EQ(route_for(table, "h.example", "/other"), "s0:80");
}

TEST(RegexPaths, AreTriedInDeclarationOrder) {
  auto result = compile_yaml(ingress_with_paths(
      {{"ImplementationSpecific", "/a"}, {"ImplementationSpecific", "/a/b.*"}}, true));
  ASSERT_EQ(count(result.diagnostics, Severity::kError), 0u) << dump(result.diagnostics);
  EXPECT_EQ(route_for(*result.table, "h.example", "/a/bc"), "s0:80")
      << "the first declared regex that matches wins, not the longest";
}

TEST(RegexPaths, ThatDoNotCompileAreErrorsOnThatPathOnly) {
  auto result = compile_yaml(ingress_with_paths(
      {{"ImplementationSpecific", "/ok"}, {"ImplementationSpecific", "/(x"}}, true));
  EXPECT_EQ(testing::count_diagnostics(result.diagnostics, Severity::kError,
                                       "spec.rules[0].http.paths[1].path",
                                       "not a valid regular expression"),
            1)
      << dump(result.diagnostics);
  EXPECT_EQ(route_for(*result.table, "h.example", "/ok"), "s0:80");
}

TEST(RegexPaths, PorticoAnnotationPrefixIsAccepted) {
  std::string yaml = ingress_with_paths({{"ImplementationSpecific", "/v[0-9]"}});
  yaml.replace(yaml.find("  name: web\n"), 12,
               "  name: web\n  annotations:\n    portico.dev/use-regex: \"true\"\n");
  auto result = compile_yaml(yaml);
  EXPECT_EQ(route_for(*result.table, "h.example", "/v7/x"), "s0:80") << dump(result.diagnostics);
}

TEST(QueryAndHostForms, HostIsCaseInsensitiveAndPortIsIgnored) {
  auto result = compile_yaml(ingress_with_paths({{"Prefix", "/"}}));
  const RouteTable& table = *result.table;
  EXPECT_EQ(route_for(table, "H.Example", "/"), "s0:80");
  EXPECT_EQ(route_for(table, "h.example:8443", "/"), "s0:80");
  EXPECT_EQ(route_for(table, "h.example.", "/"), "s0:80") << "trailing dot of an FQDN";
  EXPECT_EQ(route_for(table, "other.example", "/"), "404");
}

// Hosts with many paths switch to a hashed index; it must agree with the linear scan.
TEST(LargeHosts, HashedIndexFollowsTheSamePrecedence) {
  std::vector<PathSpec> paths;
  for (int i = 0; i < 40; ++i) paths.push_back({"Prefix", "/p" + std::to_string(i)});
  paths.push_back({"Prefix", "/p3/deep"});  // s40
  paths.push_back({"Exact", "/p3/deep"});   // s41
  paths.push_back({"Prefix", "/"});         // s42
  paths.push_back({"Exact", "/p5/"});       // s43
  auto result = compile_yaml(ingress_with_paths(paths));
  ASSERT_EQ(count(result.diagnostics, Severity::kError), 0u) << dump(result.diagnostics);
  const RouteTable& table = *result.table;
  EXPECT_EQ(route_for(table, "h.example", "/p7"), "s7:80");
  EXPECT_EQ(route_for(table, "h.example", "/p7/x/y"), "s7:80");
  EXPECT_EQ(route_for(table, "h.example", "/p7x"), "s42:80");
  EXPECT_EQ(route_for(table, "h.example", "/p3/deep"), "s41:80");
  EXPECT_EQ(route_for(table, "h.example", "/p3/deep/"), "s40:80");
  EXPECT_EQ(route_for(table, "h.example", "/p3/deeper"), "s3:80");
  EXPECT_EQ(route_for(table, "h.example", "/p5/"), "s43:80");
  EXPECT_EQ(route_for(table, "h.example", "/p5"), "s5:80");
  EXPECT_EQ(route_for(table, "h.example", "/"), "s42:80");
  EXPECT_EQ(route_for(table, "h.example", "/p12//x"), "s12:80");
}

}  // namespace
}  // namespace portico::routing
