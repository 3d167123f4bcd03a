#pragma once

// Watches manifest files and directories (the --manifests paths) with inotify and republishes
// through a Publisher whenever they change.
//
// What it sees: writes (IN_CLOSE_WRITE), creations, deletions, renames in either direction and
// attribute changes (touch, chmod) of files in the watched directories, recursively; new
// subdirectories are watched as they appear; an editor's write-to-temp-then-rename and the
// Kubernetes ConfigMap volume update (files are links `x.yaml -> ..data/x.yaml`, and an update
// renames a new `..data` link over the old one) are seen through the directory itself. A path
// named as a single file is watched through its parent directory too, so replacing it by rename
// (or creating it later) is seen. Directory entries whose names start with '.' are not read (as in
// load_manifests(): hidden files, and the ConfigMap's `..data`/`..<timestamp>` entries that would
// otherwise present every file three times), but a change to a `..` entry does trigger a reload.
//
// When: the first event starts a holdoff; each further event extends it, up to a hard maximum
// after the first event; then one reload handles the whole burst.
//
// A reload reads every file again (load_manifests(), in parallel) and keeps state per file, so
// that a bad edit never takes down what was serving:
//   - a file with a YAML syntax error (or that exists but cannot be read) keeps serving the objects
//     it last yielded, with a warning "file X does not parse; serving the objects it last
//     yielded" (when it never parsed, what it yields now serves);
//   - an object that now fails to decode (an error diagnostic naming "Kind ns/name") keeps its
//     last valid version from the same file, with a warning saying so;
//   - a file that is gone drops its objects.
// Files are then merged in a deterministic order (paths in argument order, directory entries
// sorted by name) and handed to Publisher::publish(), which skips no-op recompiles.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"
#include "watch/publisher.hpp"

namespace portico::watch {

struct ManifestWatcherOptions {
  std::vector<std::string> paths;  // files and directories; "-" (stdin) is skipped (not watchable)
  std::chrono::milliseconds holdoff{10};    // quiet time that ends a burst of events
  std::chrono::milliseconds max_delay{50};  // a reload starts at most this long after an event
  unsigned threads = 0;                     // decoding threads (0: one per core)
  // Problems of the watcher itself (a directory that cannot be watched, an inotify queue
  // overflow, an unexpected exception). Called from the watcher thread (and from start()). May be
  // empty.
  std::function<void(std::string_view)> log;
  // Where reloads go instead of the Publisher's publish() (a SourceSet merging several sources).
  std::function<PublishResult(const routing::ObjectSet&, routing::Diagnostics)> publish;
};

// The outcome of one reload.
struct ReloadResult {
  PublishResult publish;
  std::size_t files = 0;    // manifest files found
  bool unreadable = false;  // a named path or a file is missing or unreadable (diagnostics say)
};

class ManifestWatcher {
 public:
  // `publisher` must outlive the watcher.
  ManifestWatcher(Publisher& publisher, ManifestWatcherOptions options);
  ~ManifestWatcher();  // stop()s
  ManifestWatcher(const ManifestWatcher&) = delete;
  ManifestWatcher& operator=(const ManifestWatcher&) = delete;

  // Sets up inotify, loads and publishes every path once on the calling thread (so the first
  // snapshot exists when it returns, unless result.publish says kFailed), then starts the watcher
  // thread.
  // Missing paths are not fatal: they are diagnostics, and they are watched for (their parent
  // directory is), so they load when they appear. Throws std::system_error when inotify, the
  // eventfd or the thread cannot be created, std::logic_error when called twice.
  ReloadResult start();

  // Asks the watcher thread to reload now, without a holdoff. Only stores to an atomic and writes
  // to an eventfd, so it is safe from a signal handler; does nothing before start() or after
  // stop() (a call during start()'s first load is served once the thread runs).
  void reload() noexcept;

  // Ends the watcher thread and waits for it (a reload in progress finishes first). Idempotent.
  void stop();

  // Reloads done so far, including the one of start() (for tests and metrics).
  std::uint64_t reloads() const { return reloads_.load(std::memory_order_acquire); }

 private:
  // What one inotify watch descriptor stands for. One directory can be several of these at once
  // (a directory named as a path and the parent of a file named as a path).
  struct Watch {
    std::string path;
    bool tree = false;            // a directory read recursively: every manifest in it counts
    std::set<std::string> names;  // parent of files named as paths: only these names count
    bool file = false;            // the file itself (its target, when a symlink)
  };
  // The last state a file yielded, kept while it is broken.
  struct FileState {
    routing::ObjectSet objects;
  };
  struct Scan;  // what one walk of the paths found

  void run() noexcept;
  ReloadResult reload_now();
  Scan scan();
  void add_watch(const std::string& path, std::uint32_t mask, Scan& scan,
                 const std::function<void(Watch&)>& role);
  void walk(const std::string& dir, Scan& scan);
  // Reads pending inotify events; true when one of them can change what a reload reads.
  bool drain_events();
  bool relevant(const Watch& watch, std::uint32_t mask, std::string_view name) const;
  void log(std::string_view message) const;

  Publisher& publisher_;
  const ManifestWatcherOptions options_;
  int inotify_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: reload() and stop() wake the poll
  std::thread thread_;
  std::atomic<bool> started_{false};
  std::atomic<bool> running_{false};  // the thread runs and listens to reload()
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> reload_requested_{false};
  std::atomic<std::uint64_t> reloads_{0};

  // Owned by the watcher thread (by start() before the thread exists).
  std::map<int, Watch> watches_;            // by watch descriptor
  std::set<std::string> watched_dirs_;      // tree directories, to recognize their removal
  std::set<std::string> failed_watches_;    // logged once until they succeed again
  std::map<std::string, FileState> files_;  // by path as listed
};

}  // namespace portico::watch
