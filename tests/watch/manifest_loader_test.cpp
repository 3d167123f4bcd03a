#include "watch/manifest_loader.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace portico::watch {
namespace {

namespace fs = std::filesystem;

std::string service(std::string_view name) {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + std::string(name) +
         "}\nspec: {ports: [{port: 80}]}\n";
}

std::vector<std::string> service_names(const LoadResult& result) {
  std::vector<std::string> names;
  for (const routing::Service& s : result.objects.services) names.push_back(s.meta.name);
  return names;
}

class ManifestLoader : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "portico-loader-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string write(const std::string& relative, std::string_view text) {
    fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }
  std::string path(const std::string& relative) const { return (root_ / relative).string(); }

  fs::path root_;
};

TEST_F(ManifestLoader, ReadsDirectoriesRecursivelyInNameOrderKeepingOnlyManifestExtensions) {
  write("b.yaml", service("b"));
  write("a.yml", service("a"));
  write("c/z.json", R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c-z"}})");
  write("c/a.yaml", service("c-a"));
  write("d.json", R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "d"}})");
  write("notes.txt", service("ignored-txt"));
  write("e.yaml.bak", service("ignored-bak"));
  write(".hidden.yaml", service("ignored-hidden"));
  write(".git/config.yaml", service("ignored-git"));

  LoadResult result = load_manifests({root_.string()});
  EXPECT_FALSE(result.unreadable);
  EXPECT_TRUE(result.diagnostics.empty());
  EXPECT_EQ(service_names(result), (std::vector<std::string>{"a", "b", "c-a", "c-z", "d"}));
  EXPECT_EQ(result.files, (std::vector<std::string>{path("a.yml"), path("b.yaml"), path("c/a.yaml"),
                                                    path("c/z.json"), path("d.json")}));
}

TEST_F(ManifestLoader, ReadsPathsInArgumentOrderAndAFileNamedExplicitlyWhateverItsExtension) {
  std::string second = write("second.yaml", service("second"));
  std::string first = write("first.txt", service("first"));
  LoadResult result = load_manifests({first, second});
  EXPECT_EQ(service_names(result), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(result.files, (std::vector<std::string>{first, second}));
}

TEST_F(ManifestLoader, FollowsSymlinksButReadsEachFileOnce) {
  write("real/a.yaml", service("a"));
  fs::create_directory_symlink(root_ / "real", root_ / "linked");
  fs::create_directory_symlink(root_, root_ / "real" / "loop");
  LoadResult result = load_manifests({path("linked"), root_.string()});
  EXPECT_FALSE(result.unreadable);
  EXPECT_EQ(service_names(result), (std::vector<std::string>{"a"}));
  EXPECT_EQ(result.files, (std::vector<std::string>{path("linked/a.yaml")}));
}

TEST_F(ManifestLoader, APathThatDoesNotExistIsUnreadableAndNamedWithTheOsError) {
  std::string good = write("good.yaml", service("good"));
  std::string missing = path("missing.yaml");
  LoadResult result = load_manifests({missing, good});
  EXPECT_TRUE(result.unreadable);
  EXPECT_EQ(service_names(result), (std::vector<std::string>{"good"}));
  EXPECT_EQ(result.files, (std::vector<std::string>{good}));
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].severity, routing::Severity::kError);
  EXPECT_EQ(result.diagnostics[0].file, missing);
  EXPECT_EQ(result.diagnostics[0].message,
            "cannot read " + missing + ": No such file or directory");
}

TEST_F(ManifestLoader, ASyntaxErrorInOneFileDoesNotHideAnother) {
  write("a.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: [broken\n");
  write("b.yaml", service("b"));
  LoadResult result = load_manifests({root_.string()});
  EXPECT_FALSE(result.unreadable);
  EXPECT_EQ(service_names(result), (std::vector<std::string>{"b"}));
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].file, path("a.yaml"));
  EXPECT_EQ(result.files.size(), 2u);
}

TEST_F(ManifestLoader, GivesTheSameResultWhateverTheNumberOfThreads) {
  for (int i = 0; i < 40; ++i) {
    std::string name = "svc-" + std::to_string(i);
    std::string text = service(name);
    if (i % 7 == 0) text += "---\napiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: 3\n";
    write("dir-" + std::to_string(i % 3) + "/" + name + ".yaml", text);
  }
  LoadResult one = load_manifests({root_.string()}, 1);
  LoadResult four = load_manifests({root_.string()}, 4);
  EXPECT_EQ(one.files.size(), 40u);
  EXPECT_EQ(one.files, four.files);
  EXPECT_EQ(service_names(one), service_names(four));
  EXPECT_EQ(one.diagnostics.size(), 6u);
  EXPECT_EQ(one.diagnostics, four.diagnostics);
}

}  // namespace
}  // namespace portico::watch
