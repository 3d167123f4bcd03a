#include "watch/yaml_subset_reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "watch/yaml_tree.hpp"
#include "yaml_render.hpp"

// The subset reader must read exactly what libyaml reads, or decline. Every test here holds it to
// that on some texts: what libyaml reads (documents, every node's type, plain flag, line and
// text, or the error) must be what YamlReader reads with the subset reader in front of it; and
// where the subset reader accepts a text, it must be the one document libyaml reads.

namespace portico::watch {
namespace {

namespace fs = std::filesystem;

struct Tally {
  int texts = 0;
  int accepted = 0;  // by the subset reader
};

// Holds one text to the contract; true when the subset reader accepted it.
bool agrees(std::string_view text, const std::string& label, Tally* tally = nullptr) {
  std::string libyaml = read_all(text, YamlReader::Parser::kLibyaml);
  EXPECT_EQ(read_all(text, YamlReader::Parser::kAuto), libyaml) << label << ":\n---- text\n"
                                                                << text << "\n----";
  YamlTree tree;
  bool accepted = read_yaml_subset(text, 4, tree);
  if (accepted) {
    EXPECT_EQ(render(tree) + "\n", libyaml) << label << ": accepted\n---- text\n"
                                            << text << "\n----";
  }
  if (tally != nullptr) {
    ++tally->texts;
    tally->accepted += accepted;
  }
  return accepted;
}

// The documents of a text, cut where the manifest decoder cuts (a `---` line), and the text whole.
std::vector<std::string> pieces(const std::string& text) {
  std::vector<std::string> out{text};
  std::string chunk;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("---") && (line.size() == 3 || line[3] == ' ')) {
      if (!chunk.empty()) out.push_back(chunk);
      chunk.clear();
    }
    chunk += line + "\n";
  }
  if (!chunk.empty()) out.push_back(chunk);
  return out;
}

// PORTICO_YAML_FUZZ_ROUNDS and PORTICO_YAML_FUZZ_SEED make the random tests longer or different.
int rounds() {
  const char* rounds = std::getenv("PORTICO_YAML_FUZZ_ROUNDS");
  return rounds != nullptr ? std::atoi(rounds) : 20000;
}

unsigned rounds_seed() {
  const char* seed = std::getenv("PORTICO_YAML_FUZZ_SEED");
  return seed != nullptr ? static_cast<unsigned>(std::atol(seed)) : 20261125;
}

const fs::path& source_root() {
  // CTest says where the checkout is; __FILE__ may be relative to the build directory (ccache's
  // CCACHE_BASEDIR makes it so) and is only a fallback for running the binary by hand.
  static const fs::path root = [] {
    const char* dir = std::getenv("PORTICO_SOURCE_DIR");
    return dir != nullptr && *dir != 0
               ? fs::path(dir)
               : fs::path(__FILE__).parent_path().parent_path().parent_path();
  }();
  return root;
}

// The YAML of this repository: manifest files, and the raw string literals and here-documents of
// the tests (most of them manifests, many of them broken on purpose).
std::vector<std::pair<std::string, std::string>> repository_yaml() {
  std::vector<std::pair<std::string, std::string>> texts;
  for (const char* dir : {"examples", "tests", "charts"}) {
    if (!fs::exists(source_root() / dir)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(source_root() / dir)) {
      if (!entry.is_regular_file()) continue;
      const fs::path& path = entry.path();
      if (path.string().find("node_modules") != std::string::npos) continue;
      std::string ext = path.extension().string();
      std::ifstream file(path, std::ios::binary);
      std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      std::string name = fs::relative(path, source_root()).string();
      if (ext == ".yaml" || ext == ".yml" || ext == ".json") {
        texts.emplace_back(name, content);
      } else if (ext == ".cpp") {
        for (std::size_t at = 0; (at = content.find("R\"(", at)) != std::string::npos;) {
          std::size_t end = content.find(")\"", at + 3);
          if (end == std::string::npos) break;
          texts.emplace_back(name + " literal", content.substr(at + 3, end - at - 3));
          at = end;
        }
      } else if (ext == ".sh") {
        std::istringstream in(content);
        std::string here, terminator;
        for (std::string line; std::getline(in, line);) {
          if (!terminator.empty()) {
            if (line == terminator) {
              texts.emplace_back(name + " here-document", here);
              terminator.clear();
            } else {
              here += line + "\n";
            }
          } else if (auto at = line.find("<<"); at != std::string::npos) {
            std::string word = line.substr(at + 2);
            if (word.starts_with('-')) word.erase(0, 1);
            while (!word.empty() && (word[0] == '\'' || word[0] == '"' || word[0] == ' ')) {
              word.erase(0, 1);
            }
            std::size_t stop = word.find_first_of("'\" )");
            terminator = word.substr(0, stop);
            here.clear();
          }
        }
      }
    }
  }
  return texts;
}

constexpr std::string_view kDeployment = R"(# generated
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app1050-web
  namespace: ns-0
  labels:
    app.kubernetes.io/name: app1050
    app.kubernetes.io/part-of: portico-bench
  annotations:
    description: "a \"quoted\" \u00e9 value\tand tab"
    note: 'it''s here'
    empty: ""
spec:
  replicas: 3
  selector:
    matchLabels:
      app: app1050-web
  template:
    metadata:
      labels: {app: app1050-web, tier: "web"}
    spec:
      containers:
      - name: app
        image: registry.example.com/app1050-web:1.0.0
        args: ["--port=8080", --verbose, -v, "a, b"]
        command: []
        env:
          - name: CONFIG
            value: |
              first line
                indented

              last: line # not a comment
          - name: FOLDED
            value: >-
              folded
              text

              paragraph
          - name: NULLS
            value: ~
          -
            name: LATE
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP # a comment
        readinessProbe:
          httpGet:
            path: /healthz
            port: http
      nodeSelector:
      tolerations:
...
# trailing comment
)";

TEST(YamlSubsetReader, ReadsWhatManifestsUseExactlyAsLibyaml) {
  EXPECT_TRUE(agrees(kDeployment, "deployment"));
}

// Each case: whether the subset reader is meant to read it (false: it must decline, and libyaml
// reads it, or reports its error).
struct Case {
  std::string_view text;
  bool subset;
};

TEST(YamlSubsetReader, HandWrittenCasesAgreeWithLibyaml) {
  const Case cases[] = {
      // plain scalars
      {"a: b\n", true},
      {"a: b c  d  \n", true},
      {"a: b#c\n", true},
      {"a: b #c\n", true},
      {"a: http://x:80/y?z=1&w\n", true},
      {"a: ::1\n", true},
      {"a: -1\n", true},
      {"a: -\n", false},
      {"a: ?x\n", true},
      {"a: :x\n", true},
      {"a: b: c\n", false},
      {"a: b:\n", false},
      {"a: b]\n", true},
      {"a: b, c}\n", true},
      {"a: ~\nb: null\nc: Null\nd: NULL\ne: nULL\nf:\ng: ''\n", true},
      {"~: a\nnull: b\n", true},
      {"a  : b\n", true},
      {"a:b\n", false},
      {"a b: c d\n", true},
      {"-a: b\n", true},
      {"-: b\n", true},
      {"---x: 1\n", true},
      {"...x: 1\n", true},
      {"a: @x\n", false},
      {"a: `x\n", false},
      {"a: %x\n", false},
      {"a: &x b\n", false},
      {"a: *x\n", false},
      {"a: !!str 80\n", false},
      {"<<: {a: 1}\n", true},
      // continuation lines: plain multi-line scalars are declined
      {"a: b\n  c\n", false},
      {"a: b\n\n  c\nd: e\n", false},
      {"a: b\n  # comment\nd: e\n", true},
      {"- a\n - b\n", false},
      {"a:\n- b\n - c\n", false},
      {"a: \"b\"\n  c\n", false},
      // quoted scalars
      {"a: 'b '' c'\n", true},
      {"a: ''''\n", true},
      {"a: \"b \\\" \\\\ \\/ \\0 \\a \\b \\t \\n \\v \\f \\r \\e \\  c\"\n", true},
      {"a: \"\\x41\\u00e9\\U0001F600\"\n", true},
      {"a: \"\\uD800\"\n", false},
      {"a: \"\\xZZ\"\n", false},
      {"a: \"\\q\"\n", false},
      {"a: \"\\N\\_\\L\\P\"\n", false},
      {"a: \"b\n  c\"\n", false},
      {"a: 'b\n  c'\n", false},
      {"a: \"b\" c\n", false},
      {"a: \"b\"#c\n", false},
      {"a: \"b\" #c\n", true},
      {"\"a b\": c\n'd': e\n\"\": f\n", true},
      {"\"a\":b\n", false},
      {"'a' : b\n", true},
      {"a: \"é ü 日本 😀\"\nb: é\n", true},
      // block structure
      {"a:\n  b:\n    c: d\n  e: f\ng: h\n", true},
      {"a:\n- b\n- c\nd: e\n", true},
      {"a:\n  - b\n  - c\nd: e\n", true},
      {"- a\n- b\n", true},
      {"  a: b\n  c: d\n", true},
      {"  a: b\nc: d\n", false},
      {"a: b\n  c: d\n", false},
      {"a:\n    b: c\n  d: e\n", false},
      {"a:\n  - b\n  c: d\n", false},
      {"- a\nb: c\n", false},
      {"a: b\n- c\n", false},
      {"- name: a\n  value: b\n- name: c\n", true},
      {"-   name: a\n    value: b\n", true},
      {"- name: a\n value: b\n", false},
      {"- a:\n  - b\n- c\n", true},
      {"- a:\n    b: c\n", true},
      {"- - a\n  - b\n", false},
      {"-\n  - a\n", true},
      {"-\n  a: b\n", true},
      {"-\n- a\n", true},
      {"- # comment\n  a: b\n", true},
      {"a: # comment\n  b: c\n", true},
      {"a:\n  b\n", false},
      {"a:\n  [b]\n", false},
      {"a:\n  \"b\"\n", false},
      {"a:\n# comment\n\n   # indented comment\nb: c\n", true},
      {"? a\n: b\n", false},
      {"a: - b\n", false},
      // documents
      {"--- \na: b\n", true},
      {"# c\n---\n# d\na: b\n...\n# e\n", true},
      {"--- # comment\na: b\n", true},
      {"--- a\n", false},
      {"--- |\n  a\n", false},
      {"a: b\n---\nc: d\n", false},
      {"a: b\n...\nc: d\n", false},
      {"---\n---\na: b\n", false},
      {"%YAML 1.1\n---\na: b\n", false},
      {"", false},
      {"# only a comment\n", false},
      {"---\n", false},
      {"a\n", false},
      {"'a'\n", false},
      {"a: b", true},
      {"a:", true},
      {"- a", true},
      {"-", true},
      // flow collections on one line
      {"a: []\nb: {}\nc: [ ]\nd: { }\n", true},
      {"a: [b, 'c', \"d\", ~, 1, -2, [e, f], {g: h}]\n", true},
      {"a: {b: c, 'd': e, \"f\":g, \"h\": [1, 2]}\n", true},
      {"[a, b]\n", true},
      {"{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"n\": 80}\n", true},
      {"{\"a\":1,\"b\":[true,false,null]}", true},
      {"a: [b, c] # comment\n", true},
      {"a: [b, c]#comment\n", false},
      {"a: [b, c] d\n", false},
      {"a: [b,\n  c]\n", false},
      {"a: [b: c]\n", false},
      {"a: [b, ]\n", false},
      {"a: [, b]\n", false},
      {"a: [b,, c]\n", false},
      {"a: {b}\n", false},
      {"a: {b: }\n", false},
      {"a: {b:c}\n", false},
      {"a: [b:c]\n", false},
      {"a: [http://x]\n", false},
      {"a: [-]\n", false},
      {"a: [- b]\n", false},
      {"a: [? b]\n", false},
      {"a: [b #c]\n", false},
      {"a: [b#c]\n", false},
      {"a: [[]]\n", true},
      {"a: [b]: c\n", false},
      {"[a]: b\n", false},
      {"a: ]\n", false},
      {"a: }\n", false},
      {"a: ,b\n", false},
      // block scalars
      {"a: |\n  b\n  c\nd: e\n", true},
      {"a: |-\n  b\n\n\nd: e\n", true},
      {"a: |+\n  b\n\n\nd: e\n", true},
      {"a: >\n  b\n  c\n\n  d\n   e\n  f\n", true},
      {"a: >-\n  b\n  c\n", true},
      {"a: >+\n  b\n\n", true},
      {"a: |\n\n  \n    b\n  c\n", false},
      {"a: |\n     \n  b\n", false},
      {"a: |\n   \n  \n   b\n", true},
      {"a: |\nb: c\n", true},
      {"a: |\n", true},
      {"a: |", true},
      {"a: |\n  b", true},
      {"a: |-\n  b", true},
      {"a: |2\n   b\n", false},
      {"a: |-2\n   b\n", false},
      {"a: | # comment\n  b\n", true},
      {"a: |# comment\n  b\n", false},
      {"a: |x\n", false},
      {"a: |\n  b\n # less indented comment\nc: d\n", true},
      {"a: |\n  b\n # c\n d\n", false},
      {"a: |\n  # not a comment\n  ---\n  ...\n", true},
      {"- |\n b\n", true},
      {"- a: |\n    b\n  c: d\n", true},
      {"a:\n- >\n  b\n\n  c\n", true},
      {"a: >\n\n  b\n\n\n  c\n  \n", true},
      {"a: >\n  b\n    c\n  d\n", true},
      {"a: |\n\tb\n", false},
      // characters
      {"a: b\r\n", false},
      {"a:\tb\n", false},
      {"\xEF\xBB\xBF"
       "a: b\n",
       false},
      {"a: b\xC2\x85"
       "c\n",
       false},
      {"a: b\xE2\x80\xA8"
       "c\n",
       false},
      {"a: \xC0\xAF\n", false},
      {"a: \xED\xA0\x80\n", false},
      {"a: \xF4\x90\x80\x80\n", false},
      {"a: \xE2\x82\n", false},
      {"a: \x01\n", false},
      {"a: \x7F\n", false},
      {std::string_view("a: b\0c\n", 7), false},
      {"a: \xC2\xA0\n", true},
      {"a: \xEF\xBF\xBE\n", false},
      // a key libyaml forgets after 1024 characters
      {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: b\n", true},
  };
  for (const Case& c : cases) {
    std::string label = "case \"" + printable(c.text) + "\"";
    EXPECT_EQ(agrees(c.text, label), c.subset) << label;
  }
  for (std::size_t n : {999u, 1000u, 1001u, 1024u, 1025u, 1100u}) {
    std::string key(n, 'k');
    agrees(key + ": v\n", "a key of " + std::to_string(n) + " characters");
    agrees("\"" + key + "\": v\n", "a quoted key of " + std::to_string(n) + " characters");
    agrees("a: {" + key + ": v}\n", "a flow key of " + std::to_string(n) + " characters");
  }
}

// The character check reads eight bytes at a time: every character it must decline, and some it
// must accept, at every offset in a word, and split across two.
TEST(YamlSubsetReader, ChecksEveryCharacterWhateverItsOffset) {
  const std::string_view characters[] = {"\t", "\r", "\x01", "\x7F", "\xC2\x85",    "\xC2\xA0",
                                         "é",  "😀",  "\xFF", "\xC3", "\xEF\xBB\xBF"};
  for (std::string_view c : characters) {
    for (std::size_t at = 0; at < 20; ++at) {
      std::string value = std::string(at, 'v') + std::string(c) + "w";
      agrees("k: " + value + "\nl: m\n", "value " + printable(value));
      agrees("k: |\n  " + value + "\n", "block scalar " + printable(value));
      agrees("# " + value + "\nk: v\n", "comment " + printable(value));
    }
  }
}

TEST(YamlSubsetReader, DeclinesNestingDeeperThanItsBoundAndLibyamlStillReportsIt) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += std::string(static_cast<std::size_t>(2 * i), ' ') + "a:\n";
  deep += std::string(200, ' ') + "b: c\n";
  EXPECT_FALSE(agrees(deep, "100 nested mappings"));
  EXPECT_FALSE(agrees("a: " + std::string(600, '[') + std::string(600, ']') + "\n", "600 ["));
}

TEST(YamlSubsetReader, AgreesWithLibyamlOnEveryYamlTextOfTheRepository) {
  auto texts = repository_yaml();
  ASSERT_GT(texts.size(), 50u) << "found too few texts under " << source_root();
  Tally tally;
  for (const auto& [name, text] : texts) {
    for (const std::string& piece : pieces(text)) agrees(piece, name, &tally);
  }
  // Most test manifests are in the subset; many are broken on purpose.
  EXPECT_GT(tally.accepted * 2, tally.texts) << tally.accepted << " of " << tally.texts;
}

// Random edits of manifests: characters and fragments that matter to YAML, inserted, deleted and
// moved, lines re-indented; thousands of near-manifests, most of them broken.
TEST(YamlSubsetReader, AgreesWithLibyamlOnMutatedManifests) {
  std::vector<std::string> seeds{std::string(kDeployment)};
  for (const auto& [name, text] : repository_yaml()) {
    for (const std::string& piece : pieces(text)) {
      if (piece.size() < 4000) seeds.push_back(piece);
    }
  }
  static const std::vector<std::string> fragments = {" ",        "  ",       "\n",
                                                     "\n\n",     "\n  \n",   ":",
                                                     ": ",       " #",       "#",
                                                     "-",        "- ",       "? ",
                                                     "'",        "\"",       "''",
                                                     "\\",       "\\n",      "\\x4",
                                                     "\\u00e9",  "[",        "]",
                                                     "{",        "}",        ",",
                                                     ", ",       "[a, b]",   "{a: 1}",
                                                     "|",        "|-",       ">",
                                                     ">+",       "|2",       "&a ",
                                                     "*a",       "!!str ",   "~",
                                                     "null",     "---",      "...",
                                                     "\n---\n",  "\n...\n",  "%",
                                                     "@",        "\t",       "\r",
                                                     "\xC3\xA9", "\xC2\x85", "\xEF\xBB\xBF",
                                                     "\xFF",     "0",        "a",
                                                     "Z",        "é",        "\n  - x\n",
                                                     "\n- x\n",  "\nk: v\n", "\n    deep: v\n",
                                                     "\n  |\n"};
  std::mt19937 random(rounds_seed());
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(random);
  };
  Tally tally;
  for (int round = 0; round < rounds(); ++round) {
    std::string text = seeds[pick(seeds.size())];
    int edits = 1 + static_cast<int>(pick(3));
    for (int e = 0; e < edits && !text.empty(); ++e) {
      std::size_t at = pick(text.size() + 1);
      switch (pick(6)) {
        case 0:
        case 1:
          text.insert(at, fragments[pick(fragments.size())]);
          break;
        case 2:
          text.erase(std::min(at, text.size() - 1), 1 + pick(3));
          break;
        case 3: {  // re-indent a line
          std::size_t line = text.rfind('\n', at == 0 ? 0 : at - 1);
          line = line == std::string::npos ? 0 : line + 1;
          if (pick(2) == 0) {
            text.insert(line, 1 + pick(3), ' ');
          } else if (line < text.size() && text[line] == ' ') {
            text.erase(line, 1);
          }
          break;
        }
        case 4: {  // duplicate a line
          std::size_t begin = text.rfind('\n', at == 0 ? 0 : at - 1);
          begin = begin == std::string::npos ? 0 : begin + 1;
          std::size_t end = text.find('\n', begin);
          end = end == std::string::npos ? text.size() : end + 1;
          text.insert(begin, text.substr(begin, end - begin));
          break;
        }
        default:  // cut the text short
          text.resize(at);
          break;
      }
    }
    agrees(text, "mutation round " + std::to_string(round), &tally);
    if (HasFailure()) break;
  }
  EXPECT_GT(tally.accepted * 10, tally.texts) << tally.accepted << " of " << tally.texts;
}

// Random documents from a grammar of what the subset reads, with random indentation, blank and
// comment lines, and block scalars of every chomping, with lines indented more, less and not at
// all.
class DocumentGenerator {
 public:
  explicit DocumentGenerator(unsigned seed) : random_(seed) {}

  std::string document() {
    out_.clear();
    if (chance(4)) out_ += chance(2) ? "---\n" : "# head\n--- # c\n";
    if (chance(2)) {
      mapping(0, 0);
    } else {
      sequence(0, 0);
    }
    if (chance(6)) out_ += "...\n";
    return out_;
  }

 private:
  bool chance(int one_in) { return pick(static_cast<std::size_t>(one_in)) == 0; }
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_);
  }
  void indent(int col) { out_.append(static_cast<std::size_t>(std::max(col, 0)), ' '); }
  void noise(int col) {
    if (chance(8)) out_ += "\n";
    if (chance(10)) out_ += std::string(pick(6), ' ') + "\n";
    if (chance(10)) {
      indent(col + static_cast<int>(pick(4)) - 1);
      out_ += "# comment\n";
    }
  }
  int jitter(int col) { return chance(25) ? col + static_cast<int>(pick(3)) - 1 : col; }

  std::string scalar_text(bool flow) {
    static const std::vector<std::string> plain = {"a",
                                                   "b c",
                                                   "80",
                                                   "-1",
                                                   "1.5",
                                                   "true",
                                                   "~",
                                                   "null",
                                                   "",
                                                   "http://x:8/y",
                                                   "a#b",
                                                   "a:b",
                                                   "x y  z",
                                                   "é",
                                                   "::1",
                                                   "?x",
                                                   ":x",
                                                   "a'b",
                                                   "a\"b",
                                                   "-x",
                                                   "a]",
                                                   "a}",
                                                   "a,b",
                                                   "a, b",
                                                   "'q'",
                                                   "\"d\"",
                                                   "'it''s'",
                                                   "\"\\t\\x41\\u00e9\"",
                                                   "\"a # b\"",
                                                   "'a: b'",
                                                   "\"\"",
                                                   "''",
                                                   "[]",
                                                   "{}",
                                                   "[a, b]",
                                                   "{a: b}",
                                                   "[\"x\", {k: v}]",
                                                   "a #c",
                                                   "\"a\" # c",
                                                   "a b ",
                                                   "- a",
                                                   "[a,",
                                                   "*x",
                                                   "!t",
                                                   "&a b",
                                                   "|",
                                                   "@x",
                                                   "b: c"};
    const std::string& s = plain[pick(plain.size())];
    if (flow && (s.empty() || s.find_first_of(":#,[]{}") != std::string::npos)) return "x";
    return s;
  }

  void key() {
    static const std::vector<std::string> keys = {"a",     "name",    "app.kubernetes.io/name",
                                                  "'q k'", "\"d k\"", "k l",
                                                  "-k",    "~",       "null",
                                                  "80",    "\"\"",    "a#b",
                                                  "k "};
    out_ += keys[pick(keys.size())];
  }

  void block_scalar(int parent_col) {
    static const std::vector<std::string> headers = {"|", "|-", "|+", ">", ">-", ">+", "| # c"};
    out_ += headers[pick(headers.size())] + "\n";
    int base = parent_col + 1 + static_cast<int>(pick(3));
    std::size_t lines = pick(6);
    for (std::size_t i = 0; i < lines; ++i) {
      switch (pick(6)) {
        case 0:
          out_ += "\n";
          break;
        case 1:
          indent(static_cast<int>(pick(static_cast<std::size_t>(base + 3))));
          out_ += "\n";
          break;
        case 2:
          indent(base + 1 + static_cast<int>(pick(3)));
          out_ += "more indented\n";
          break;
        case 3:
          indent(base);
          out_ += "# not a comment: [x]\n";
          break;
        default:
          indent(base);
          out_ += "text " + std::to_string(i) + "\n";
      }
    }
  }

  void value(int col, int depth, bool in_sequence) {
    std::size_t kind = depth > 4 ? pick(3) : pick(6);
    if (kind == 0) {
      out_ += ' ' + scalar_text(false) + (chance(8) ? "  # c" : "") + "\n";
    } else if (kind == 1) {
      out_ += ' ';
      block_scalar(col);
    } else if (kind == 2) {
      out_ += " [" + scalar_text(true) + ", " + scalar_text(true) + "]\n";
    } else if (kind == 3 || !in_sequence) {
      out_ += chance(6) ? " # c\n" : "\n";
      noise(col);
      if (chance(3) && !in_sequence) {
        sequence(jitter(col), depth + 1);  // indentless
      } else if (chance(2)) {
        sequence(jitter(col + 1 + static_cast<int>(pick(3))), depth + 1);
      } else {
        mapping(jitter(col + 1 + static_cast<int>(pick(3))), depth + 1);
      }
    } else {  // a compact mapping in the sequence entry
      int inner = col + 1 + static_cast<int>(pick(2));
      out_.append(static_cast<std::size_t>(inner - col - 1), ' ');
      compact_mapping(inner, depth + 1);
    }
  }

  void compact_mapping(int col, int depth) {
    std::size_t entries = 1 + pick(3);
    for (std::size_t i = 0; i < entries; ++i) {
      if (i > 0) indent(jitter(col));
      key();
      out_ += ":";
      value(col, depth, false);
    }
  }

  void mapping(int col, int depth) {
    std::size_t entries = 1 + pick(4);
    for (std::size_t i = 0; i < entries; ++i) {
      noise(col);
      indent(i == 0 ? col : jitter(col));
      key();
      out_ += ":";
      if (chance(8)) {
        out_ += "\n";  // empty
        continue;
      }
      value(col, depth, false);
    }
  }

  void sequence(int col, int depth) {
    std::size_t entries = 1 + pick(4);
    for (std::size_t i = 0; i < entries; ++i) {
      noise(col);
      indent(i == 0 ? col : jitter(col));
      out_ += "-";
      if (chance(8)) {
        out_ += "\n";
        continue;
      }
      value(col, depth, true);
    }
  }

  std::mt19937 random_;
  std::string out_;
};

TEST(YamlSubsetReader, AgreesWithLibyamlOnGeneratedDocuments) {
  DocumentGenerator generator(rounds_seed());
  Tally tally;
  for (int round = 0; round < rounds() && !HasFailure(); ++round) {
    agrees(generator.document(), "generated document " + std::to_string(round), &tally);
  }
  EXPECT_GT(tally.accepted * 10, tally.texts) << tally.accepted << " of " << tally.texts;
}

// PORTICO_YAML_CORPUS: directories of manifests to hold the reader to as well (the benchmark's
// generated sets, a cluster's `kubectl get -o yaml` dumps); documents cut at `---` lines.
TEST(YamlSubsetReader, AgreesWithLibyamlOnTheCorpusInTheEnvironment) {
  const char* corpus = std::getenv("PORTICO_YAML_CORPUS");
  if (corpus == nullptr) GTEST_SKIP() << "PORTICO_YAML_CORPUS is not set";
  Tally tally;
  std::istringstream dirs(corpus);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream file(entry.path(), std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      auto all = pieces(text);
      for (std::size_t i = 1; i < all.size() && !HasFailure(); ++i) {
        agrees(all[i], entry.path().string(), &tally);
      }
    }
  }
  std::cout << tally.accepted << " of " << tally.texts << " documents read by the subset reader\n";
}

}  // namespace
}  // namespace portico::watch
