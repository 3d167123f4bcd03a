// The manifest watcher against real files and real inotify: every way a manifest changes on disk
// (in place, by rename, new directories, deletion, the ConfigMap symlink swap) is served, a broken
// edit keeps what was serving, and bursts and no-op events publish little or nothing.
//
// Tests wait for behaviour (a generation, a route) with a generous timeout; they never assert how
// fast it happened.

#include "watch/manifest_watcher.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace portico::watch {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// An Ingress routing `host` + `path` to Service `service`, with the Service and its endpoints:
// everything one route needs, in one file.
std::string manifests(const std::string& name, const std::string& host, const std::string& path,
                      const std::string& service) {
  return R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: )" +
         name + R"(, namespace: default}
spec:
  rules:
  - host: )" +
         host + R"(
    http:
      paths:
      - path: )" +
         path + R"(
        pathType: Prefix
        backend:
          service:
            name: )" +
         service + R"(
            port: {number: 80}
---
apiVersion: v1
kind: Service
metadata: {name: )" +
         service + R"(, namespace: default}
spec:
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: )" +
         service + R"(-1
  namespace: default
  labels: {kubernetes.io/service-name: )" +
         service + R"(}
addressType: IPv4
ports: [{port: 8080}]
endpoints:
- addresses: [10.0.0.1]
)";
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class ManifestWatcherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { default_context_ = tls::make_default_context(); }

  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "portico-watcher-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }

  void TearDown() override {
    if (watcher_) watcher_->stop();
    watcher_.reset();
    fs::remove_all(root_);
  }

  // Starts a watcher on `paths` (default: the temp directory).
  ReloadResult start(std::vector<std::string> paths = {}) {
    ManifestWatcherOptions options;
    options.paths = paths.empty() ? std::vector<std::string>{root_.string()} : std::move(paths);
    options.log = [this](std::string_view line) {
      std::lock_guard lock(log_mutex_);
      log_.emplace_back(line);
    };
    watcher_ = std::make_unique<ManifestWatcher>(publisher_, std::move(options));
    return watcher_->start();
  }

  // Writes in place (truncate and write), as `cat > file` does.
  void write(const std::string& relative, const std::string& text) {
    fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }

  // Writes a hidden temporary file beside the target and renames it over the target, as editors
  // and configuration tools do.
  void write_by_rename(const std::string& relative, const std::string& text) {
    fs::path path = root_ / relative;
    fs::path temp = path.parent_path() / ("." + path.filename().string() + ".tmp");
    std::ofstream(temp) << text;
    fs::rename(temp, path);
  }

  // The Service a request is routed to, "404" when none.
  std::string route(const std::string& host, const std::string& path) const {
    auto snapshot = publisher_.current();
    if (!snapshot) return "no snapshot";
    routing::RouteMatch match = snapshot->table->lookup(host, path);
    if (!match) return "404";
    return snapshot->table->clusters()[match.cluster].service;
  }

  // Waits until `host` + `path` routes to `service`.
  bool serves(const std::string& host, const std::string& path, const std::string& service) {
    return eventually([&] { return route(host, path) == service; });
  }

  bool generation_passes(std::uint64_t generation) {
    return eventually([&] { return publisher_.generation() > generation; });
  }

  // Whether the serving snapshot has a diagnostic whose message contains `text`.
  bool has_diagnostic(std::string_view text) const {
    auto snapshot = publisher_.current();
    if (!snapshot) return false;
    for (const routing::Diagnostic& d : snapshot->diagnostics) {
      if (d.message.find(text) != std::string::npos) return true;
    }
    return false;
  }

  std::string diagnostics() const {
    std::string out;
    if (auto snapshot = publisher_.current()) {
      for (const auto& d : snapshot->diagnostics) out += routing::format(d) + "\n";
    }
    return out;
  }

  static tls::ContextPtr default_context_;
  fs::path root_;
  Publisher publisher_{routing::CompileOptions{}, default_context_};
  std::unique_ptr<ManifestWatcher> watcher_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

tls::ContextPtr ManifestWatcherTest::default_context_;

TEST_F(ManifestWatcherTest, InitialLoadPublishesGenerationOneWithTheRoutesOfTheFiles) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-a"));
  write("sub/b.yml", manifests("b", "b.example", "/", "svc-b"));
  write("notes.txt", manifests("c", "c.example", "/", "svc-c"));

  ReloadResult result = start();
  EXPECT_EQ(result.publish.outcome, PublishResult::Outcome::kPublished);
  EXPECT_EQ(result.files, 2u);
  EXPECT_FALSE(result.unreadable);
  EXPECT_EQ(publisher_.generation(), 1u) << "published before start() returns";
  EXPECT_EQ(route("a.example", "/x"), "svc-a");
  EXPECT_EQ(route("b.example", "/x"), "svc-b");
  EXPECT_EQ(route("c.example", "/x"), "404") << "only *.yaml, *.yml and *.json are read";
  EXPECT_EQ(diagnostics(), "");
}

TEST_F(ManifestWatcherTest, ModifyingAFileInPlaceRepublishes) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-a"));
  start();
  write("a.yaml", manifests("a", "a.example", "/", "svc-a2"));
  EXPECT_TRUE(serves("a.example", "/", "svc-a2"));
  EXPECT_GE(publisher_.generation(), 2u);
}

TEST_F(ManifestWatcherTest, WriteToTempThenRenameRepublishes) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-a"));
  start();
  write_by_rename("a.yaml", manifests("a", "a.example", "/", "svc-renamed"));
  EXPECT_TRUE(serves("a.example", "/", "svc-renamed"));
  write_by_rename("a.yaml", manifests("a", "a.example", "/", "svc-renamed-again"));
  EXPECT_TRUE(serves("a.example", "/", "svc-renamed-again"));
}

TEST_F(ManifestWatcherTest, AFileInASubdirectoryCreatedAfterStartIsServed) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-a"));
  start();
  fs::create_directories(root_ / "team" / "deeper");
  write("team/deeper/new.yaml", manifests("n", "new.example", "/", "svc-new"));
  EXPECT_TRUE(serves("new.example", "/", "svc-new"));
  // The new directory is watched from now on.
  write("team/deeper/new.yaml", manifests("n", "new.example", "/", "svc-new2"));
  EXPECT_TRUE(serves("new.example", "/", "svc-new2"));
  EXPECT_EQ(route("a.example", "/"), "svc-a");
}

TEST_F(ManifestWatcherTest, DeletingAFileRemovesItsRoutes) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-a"));
  write("b.yaml", manifests("b", "b.example", "/", "svc-b"));
  start();
  fs::remove(root_ / "b.yaml");
  EXPECT_TRUE(serves("b.example", "/", "404"));
  EXPECT_EQ(route("a.example", "/"), "svc-a");
  EXPECT_EQ(diagnostics(), "") << "a deleted file is not an unreadable one";
}

TEST_F(ManifestWatcherTest, DeletingASubdirectoryRemovesItsRoutes) {
  write("team/a.yaml", manifests("a", "a.example", "/", "svc-a"));
  start();
  fs::remove_all(root_ / "team");
  EXPECT_TRUE(serves("a.example", "/", "404"));
}

TEST_F(ManifestWatcherTest, AConfigMapSymlinkSwapServesTheNewContent) {
  // The layout kubelet gives a ConfigMap volume.
  write("..2026_a/x.yaml", manifests("x", "x.example", "/", "svc-old"));
  fs::create_directory_symlink("..2026_a", root_ / "..data");
  fs::create_symlink("..data/x.yaml", root_ / "x.yaml");
  start();
  EXPECT_EQ(route("x.example", "/"), "svc-old");
  EXPECT_EQ(publisher_.current()->table->ingresses().size(), 1u) << "read once, not three times";

  write("..2026_b/x.yaml", manifests("x", "x.example", "/", "svc-new"));
  fs::create_directory_symlink("..2026_b", root_ / "..data_tmp");
  fs::rename(root_ / "..data_tmp", root_ / "..data");
  EXPECT_TRUE(serves("x.example", "/", "svc-new"));
  fs::remove_all(root_ / "..2026_a");  // kubelet removes the old version afterwards

  // And again: the watch survives the swap.
  write("..2026_c/x.yaml", manifests("x", "x.example", "/", "svc-newer"));
  fs::create_directory_symlink("..2026_c", root_ / "..data_tmp");
  fs::rename(root_ / "..data_tmp", root_ / "..data");
  EXPECT_TRUE(serves("x.example", "/", "svc-newer"));
}

TEST_F(ManifestWatcherTest, AFileNamedAsAPathIsWatchedAcrossReplacementByRename) {
  write("conf/routes.yaml", manifests("r", "r.example", "/", "svc-1"));
  std::string file = (root_ / "conf/routes.yaml").string();
  start({file});
  EXPECT_EQ(route("r.example", "/"), "svc-1");
  write_by_rename("conf/routes.yaml", manifests("r", "r.example", "/", "svc-2"));
  EXPECT_TRUE(serves("r.example", "/", "svc-2"));
  write("conf/routes.yaml", manifests("r", "r.example", "/", "svc-3"));  // the new inode
  EXPECT_TRUE(serves("r.example", "/", "svc-3"));
  write_by_rename("conf/routes.yaml", manifests("r", "r.example", "/", "svc-4"));
  EXPECT_TRUE(serves("r.example", "/", "svc-4"));
  // Only the named file counts in its directory.
  std::uint64_t generation = publisher_.generation();
  std::uint64_t reloads = watcher_->reloads();
  write("conf/other.yaml", manifests("o", "o.example", "/", "svc-o"));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(watcher_->reloads(), reloads);
  EXPECT_EQ(publisher_.generation(), generation);
}

TEST_F(ManifestWatcherTest, AMissingPathIsADiagnosticAndLoadsWhenItAppears) {
  std::string file = (root_ / "later.yaml").string();
  ReloadResult result = start({file});
  EXPECT_TRUE(result.unreadable);
  EXPECT_TRUE(has_diagnostic("cannot read")) << diagnostics();
  write_by_rename("later.yaml", manifests("l", "l.example", "/", "svc-l"));
  EXPECT_TRUE(serves("l.example", "/", "svc-l"));
  EXPECT_FALSE(has_diagnostic("cannot read")) << diagnostics();
}

TEST_F(ManifestWatcherTest, AFileThatStopsParsingKeepsServingItsLastObjects) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-a"));
  write("b.yaml", manifests("b", "b.example", "/", "svc-b"));
  start();
  std::uint64_t generation = publisher_.generation();
  write("a.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: broken\n  oops: [\n");
  ASSERT_TRUE(generation_passes(generation)) << "the new diagnostics are published";
  EXPECT_EQ(route("a.example", "/"), "svc-a");
  std::string path = (root_ / "a.yaml").string();
  EXPECT_TRUE(
      has_diagnostic("file " + path + " does not parse; serving the objects it last yielded"))
      << diagnostics();

  // Other files still change while one is broken, and the broken one keeps serving.
  write("b.yaml", manifests("b", "b.example", "/", "svc-b2"));
  EXPECT_TRUE(serves("b.example", "/", "svc-b2"));
  EXPECT_EQ(route("a.example", "/"), "svc-a");

  // Fixed: the fix serves and the warning goes.
  write("a.yaml", manifests("a", "a.example", "/", "svc-a-fixed"));
  EXPECT_TRUE(serves("a.example", "/", "svc-a-fixed"));
  EXPECT_FALSE(has_diagnostic("does not parse")) << diagnostics();
}

TEST_F(ManifestWatcherTest, AnObjectThatBecomesInvalidKeepsItsLastValidVersion) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-a") + "---\n" +
                      manifests("z", "z.example", "/", "svc-z"));
  start();
  // Ingress "a" gets a field of the wrong type (the decoder leaves it out); Ingress "z" changes.
  std::string edited = manifests("a", "a.example", "/", "svc-a");
  edited.replace(edited.find("  rules:"), 8, "  rules: not-a-list\n  unused:");
  write("a.yaml", edited + "---\n" + manifests("z", "z.example", "/", "svc-z2"));
  EXPECT_TRUE(serves("z.example", "/", "svc-z2"));
  EXPECT_EQ(route("a.example", "/"), "svc-a") << diagnostics();
  EXPECT_TRUE(has_diagnostic("serving its last valid version")) << diagnostics();
  bool named = false;
  for (const routing::Diagnostic& d : publisher_.current()->diagnostics) {
    named = named || (d.severity == routing::Severity::kWarning && d.object == "Ingress default/a");
  }
  EXPECT_TRUE(named) << diagnostics();

  // Still kept on the next reload (the kept version stays the file's last valid one).
  write("b.yaml", manifests("b", "b.example", "/", "svc-b"));
  EXPECT_TRUE(serves("b.example", "/", "svc-b"));
  EXPECT_EQ(route("a.example", "/"), "svc-a") << diagnostics();

  // Removing the object from the file removes it: only a failing object is kept.
  write("a.yaml", manifests("z", "z.example", "/", "svc-z2"));
  EXPECT_TRUE(serves("a.example", "/", "404"));
}

TEST_F(ManifestWatcherTest, ABurstOfWritesPublishesFewTimesAndServesTheLastContent) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-0"));
  start();
  std::uint64_t before = publisher_.generation();
  for (int i = 1; i <= 50; ++i) {
    write("a.yaml", manifests("a", "a.example", "/", "svc-" + std::to_string(i)));
  }
  EXPECT_TRUE(serves("a.example", "/", "svc-50"));
  std::this_thread::sleep_for(100ms);  // any reload still due has happened
  EXPECT_EQ(route("a.example", "/"), "svc-50");
  EXPECT_LE(publisher_.generation() - before, 5u);
}

TEST_F(ManifestWatcherTest, TouchingAFilePublishesNothing) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-a"));
  start();
  std::uint64_t reloads = watcher_->reloads();
  std::string path = (root_ / "a.yaml").string();
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), nullptr, 0), 0);
  ASSERT_TRUE(eventually([&] { return watcher_->reloads() > reloads; })) << "the touch is seen";
  EXPECT_EQ(publisher_.generation(), 1u);
  EXPECT_GE(publisher_.stats().unchanged, 1u);
}

TEST_F(ManifestWatcherTest, HiddenAndOtherFilesDoNotReload) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-a"));
  start();
  std::uint64_t reloads = watcher_->reloads();
  write(".a.yaml.swp", "editor state");
  write("README.md", "notes");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(watcher_->reloads(), reloads);
}

TEST_F(ManifestWatcherTest, ReloadForcesAReload) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-a"));
  start();
  std::uint64_t reloads = watcher_->reloads();
  watcher_->reload();
  EXPECT_TRUE(eventually([&] { return watcher_->reloads() > reloads; }));
  EXPECT_EQ(publisher_.generation(), 1u);
}

TEST_F(ManifestWatcherTest, StopEndsTheThreadAndLaterChangesAreNotSeen) {
  write("a.yaml", manifests("a", "a.example", "/", "svc-a"));
  start();
  watcher_->stop();
  watcher_->stop();    // idempotent
  watcher_->reload();  // ignored after stop
  write("a.yaml", manifests("a", "a.example", "/", "svc-b"));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(route("a.example", "/"), "svc-a");
}

}  // namespace
}  // namespace portico::watch
