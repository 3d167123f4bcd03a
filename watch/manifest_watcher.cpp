#include "watch/manifest_watcher.hpp"

#include <dirent.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "watch/manifest_loader.hpp"

namespace portico::watch {
namespace {

// Directories: every way an entry can appear, change or go. IN_CLOSE_WRITE rather than IN_MODIFY,
// so that a file is read once its writer is done, not after its first write(). IN_ATTRIB covers
// touch and chmod (a file that becomes readable).
constexpr std::uint32_t kDirectoryMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                         IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB |
                                         IN_ONLYDIR;
// Files are watched themselves only when they are named as a path or are symlinks: the target may
// live in a directory that is not watched, and writes to it are seen only on its inode.
constexpr std::uint32_t kFileMask = IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

bool has_manifest_extension(std::string_view name) {
  return name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json");
}

std::string join(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (!out.ends_with('/')) out += '/';
  out += name;
  return out;
}

// A document that does not parse (a YAML syntax error, or a document that is not an object at
// all) is an error that names neither an object nor a field, because no object could be read. An
// object's own problems always name the object or at least the field (`kind`, `apiVersion`).
bool is_syntax_error(const routing::Diagnostic& d) {
  return d.severity == routing::Severity::kError && d.object.empty() && d.field.empty();
}

routing::Diagnostic warning(const std::string& file, int line, std::string object,
                            std::string message) {
  routing::Diagnostic d;
  d.severity = routing::Severity::kWarning;
  d.file = file;
  d.line = line;
  d.object = std::move(object);
  d.message = std::move(message);
  return d;
}

template <typename T>
void move_into(std::vector<T>& from, std::vector<T>& to) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  from.clear();
}

// Moves every object of `all` whose origin is one of the files into that file's set (by index).
template <typename T>
void split_by_file(std::vector<T>& all, const std::unordered_map<std::string, std::size_t>& index,
                   std::vector<routing::ObjectSet>& sets,
                   std::vector<T> routing::ObjectSet::*kind) {
  for (T& object : all) {
    auto it = index.find(object.meta.origin.file);
    if (it != index.end()) (sets[it->second].*kind).push_back(std::move(object));
  }
  all.clear();
}

// When `now` has no object named `name` but `before` has, copies the previous versions into
// `now`; returns the line of the first copied one, or -1 when nothing was copied.
template <typename T>
int carry_over(std::string_view kind, bool namespaced, const std::vector<T>& before,
               std::vector<T>& now, const std::string& name) {
  if (!name.starts_with(kind) || name.size() <= kind.size() || name[kind.size()] != ' ') return -1;
  auto named = [&](const T& object) {
    return routing::object_name(kind, object.meta, namespaced) == name;
  };
  if (std::any_of(now.begin(), now.end(), named)) return -1;
  int line = -1;
  for (const T& object : before) {
    if (!named(object)) continue;
    if (line < 0) line = object.meta.origin.line;
    now.push_back(object);
  }
  return line;
}

int carry_over(const routing::ObjectSet& before, routing::ObjectSet& now, const std::string& name) {
  int line = -1;
  for (int found :
       {carry_over("Ingress", true, before.ingresses, now.ingresses, name),
        carry_over("IngressClass", false, before.ingress_classes, now.ingress_classes, name),
        carry_over("Service", true, before.services, now.services, name),
        carry_over("EndpointSlice", true, before.endpoint_slices, now.endpoint_slices, name),
        carry_over("Endpoints", true, before.endpoints, now.endpoints, name),
        carry_over("Secret", true, before.secrets, now.secrets, name)}) {
    if (found >= 0 && line < 0) line = found;
  }
  return line;
}

}  // namespace

struct ManifestWatcher::Scan {
  std::vector<std::string> files;  // to read, in merge order
  std::set<std::string> named;     // of those, the ones named as paths (read even when missing)
  std::map<int, Watch> watches;
  std::set<std::string> dirs;
  std::set<std::string> failed_watches;
  routing::Diagnostics diagnostics;  // directories that cannot be listed
  std::set<std::pair<dev_t, ino_t>> seen_dirs;
  std::set<std::pair<dev_t, ino_t>> seen_files;
};

ManifestWatcher::ManifestWatcher(Publisher& publisher, ManifestWatcherOptions options)
    : publisher_(publisher), options_(std::move(options)) {}

ManifestWatcher::~ManifestWatcher() {
  stop();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

ReloadResult ManifestWatcher::start() {
  if (started_.exchange(true)) throw std::logic_error("ManifestWatcher::start() called twice");
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  for (const std::string& path : options_.paths) {
    if (path == "-") log("manifest watcher: stdin (\"-\") cannot be watched; it is not read");
  }
  // A reload() asked for during the first load is kept in the eventfd for the thread.
  running_.store(true, std::memory_order_release);
  ReloadResult result = reload_now();
  thread_ = std::thread([this] { run(); });
  return result;
}

void ManifestWatcher::reload() noexcept {
  if (!running_.load(std::memory_order_acquire)) return;
  reload_requested_.store(true, std::memory_order_release);
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void ManifestWatcher::stop() {
  if (!thread_.joinable()) return;
  running_.store(false, std::memory_order_release);
  stop_requested_.store(true, std::memory_order_release);
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
}

void ManifestWatcher::log(std::string_view message) const {
  if (!options_.log) return;
  try {
    options_.log(message);
  } catch (...) {
    // A failing log sink must not stop the watcher.
  }
}

void ManifestWatcher::run() noexcept {
  using Clock = std::chrono::steady_clock;
  bool pending = false;
  Clock::time_point first{}, last{};
  while (!stop_requested_.load(std::memory_order_acquire)) {
    try {
      int timeout = -1;
      if (pending) {
        auto deadline = std::min(last + options_.holdoff, first + options_.max_delay);
        auto now = Clock::now();
        timeout = deadline <= now
                      ? 0
                      : static_cast<int>(
                            std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count());
      }
      pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, timeout) < 0 && errno != EINTR) {
        log(std::string("manifest watcher: poll failed: ") + std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // not a busy loop
        continue;
      }
      if (fds[1].revents & POLLIN) {
        std::uint64_t count = 0;
        [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof count);
      }
      if (stop_requested_.load(std::memory_order_acquire)) break;
      if ((fds[0].revents & POLLIN) && drain_events()) {
        auto now = Clock::now();
        if (!pending) first = now;
        last = now;
        pending = true;
      }
      bool forced = reload_requested_.exchange(false, std::memory_order_acq_rel);
      if (forced || (pending && Clock::now() >= std::min(last + options_.holdoff,
                                                         first + options_.max_delay))) {
        // Events that arrive while this runs wait in the inotify queue and start the next round.
        pending = false;
        reload_now();
      }
    } catch (const std::exception& e) {
      log(std::string("manifest watcher: reload failed: ") + e.what());
    } catch (...) {
      log("manifest watcher: reload failed: unknown exception");
    }
  }
}

bool ManifestWatcher::drain_events() {
  // Big enough for hundreds of events per read; aligned as the kernel writes inotify_event.
  alignas(inotify_event) char buffer[64 * 1024];
  bool any = false;
  for (;;) {
    ssize_t n = ::read(inotify_fd_, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        log(std::string("manifest watcher: reading inotify events failed: ") +
            std::strerror(errno));
        any = true;  // events may have been lost: reload to be sure
      }
      break;
    }
    if (n == 0) break;
    for (char* p = buffer; p < buffer + n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(p);
      p += sizeof(inotify_event) + event->len;
      if (event->mask & IN_Q_OVERFLOW) {
        log("manifest watcher: inotify queue overflowed; reloading every file");
        any = true;
        continue;
      }
      auto it = watches_.find(event->wd);
      if (it == watches_.end()) continue;
      if (event->mask & IN_IGNORED) {  // the watched inode is gone; the next scan re-watches
        watches_.erase(it);
        continue;
      }
      std::string_view name = event->len > 0 ? std::string_view(event->name) : std::string_view();
      if (relevant(it->second, event->mask, name)) any = true;
    }
  }
  return any;
}

bool ManifestWatcher::relevant(const Watch& watch, std::uint32_t mask,
                               std::string_view name) const {
  if (name.empty()) return true;  // the watched directory or file itself changed or went
  // A ConfigMap update renames a new `..data` link over the old one: the only event it makes in
  // the directory the files are listed from.
  if (name.starts_with("..")) return true;
  if (watch.names.count(std::string(name)) > 0) return true;
  if (!watch.tree || name.front() == '.') return false;  // hidden: editor swap and temp files
  if ((mask & IN_ISDIR) || has_manifest_extension(name)) return true;
  // A symlink to a directory reports no IN_ISDIR.
  std::string path = join(watch.path, name);
  if (watched_dirs_.count(path) > 0) return true;
  struct stat st {};
  return (mask & (IN_CREATE | IN_MOVED_TO)) && ::stat(path.c_str(), &st) == 0 &&
         S_ISDIR(st.st_mode);
}

void ManifestWatcher::add_watch(const std::string& path, std::uint32_t mask, Scan& scan,
                                const std::function<void(Watch&)>& role) {
  // The same inode always gets the same descriptor, so re-adding is how a scan keeps a watch.
  int wd = ::inotify_add_watch(inotify_fd_, path.c_str(), mask);
  if (wd < 0) {
    int error = errno;
    scan.failed_watches.insert(path);
    if (failed_watches_.count(path) == 0) {
      std::string message = "manifest watcher: cannot watch " + path + ": " + std::strerror(error);
      if (error == ENOSPC) message += " (raise the sysctl fs.inotify.max_user_watches)";
      message += "; changes there are seen only on the next reload";
      log(message);
    }
    return;
  }
  Watch& watch = scan.watches[wd];
  if (watch.path.empty()) watch.path = path;
  role(watch);
}

void ManifestWatcher::walk(const std::string& dir, Scan& scan) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return;
  // Symlinks are followed, so a link to an ancestor would otherwise recurse forever.
  if (!scan.seen_dirs.insert({st.st_dev, st.st_ino}).second) return;
  // Watch before listing: an entry created after the listing then makes an event.
  add_watch(dir, kDirectoryMask, scan, [](Watch& w) { w.tree = true; });
  scan.dirs.insert(dir);
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) {
    routing::Diagnostic& d = scan.diagnostics.emplace_back();
    d.file = dir;
    d.message = "cannot read " + dir + ": " + std::strerror(errno);
    return;
  }
  std::vector<std::pair<std::string, bool>> entries;  // name, is a symlink
  while (const dirent* entry = ::readdir(handle)) {
    if (entry->d_name[0] == '.') continue;  // see the header: hidden and ConfigMap `..` entries
    entries.emplace_back(entry->d_name, entry->d_type == DT_LNK || entry->d_type == DT_UNKNOWN);
  }
  ::closedir(handle);
  std::sort(entries.begin(), entries.end());
  for (const auto& [name, maybe_link] : entries) {
    std::string path = join(dir, name);
    if (::stat(path.c_str(), &st) != 0) {
      // A dangling link, or an entry that just went: reading it says which.
      if (has_manifest_extension(name)) scan.files.push_back(path);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      walk(path, scan);
    } else if (S_ISREG(st.st_mode) && has_manifest_extension(name)) {
      if (!scan.seen_files.insert({st.st_dev, st.st_ino}).second) continue;
      scan.files.push_back(path);
      struct stat lst {};
      if (maybe_link && ::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
        add_watch(path, kFileMask, scan, [](Watch& w) { w.file = true; });
      }
    }
  }
}

ManifestWatcher::Scan ManifestWatcher::scan() {
  Scan scan;
  for (const std::string& path : options_.paths) {
    if (path == "-") continue;
    struct stat st {};
    bool exists = ::stat(path.c_str(), &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
      walk(path, scan);
      continue;
    }
    // A file (or nothing yet): its directory tells when it is replaced, created or removed.
    std::filesystem::path as_path(path);
    std::string parent = as_path.parent_path().string();
    if (parent.empty()) parent = ".";
    std::string name = as_path.filename().string();
    add_watch(parent, kDirectoryMask, scan, [&](Watch& w) { w.names.insert(name); });
    if (exists && !scan.seen_files.insert({st.st_dev, st.st_ino}).second) continue;
    scan.files.push_back(path);
    scan.named.insert(path);
    if (exists) add_watch(path, kFileMask, scan, [](Watch& w) { w.file = true; });
  }
  // Drop the watches nothing wants any more (a subdirectory moved out of the tree).
  for (const auto& [wd, watch] : watches_) {
    if (scan.watches.count(wd) == 0) ::inotify_rm_watch(inotify_fd_, wd);
  }
  return scan;
}

ReloadResult ManifestWatcher::reload_now() {
  Scan scan = this->scan();
  watches_ = std::move(scan.watches);
  watched_dirs_ = std::move(scan.dirs);
  failed_watches_ = std::move(scan.failed_watches);

  LoadResult load = load_manifests(scan.files, options_.threads);

  // Split what the loader merged back into files: the per-file state below needs it.
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < scan.files.size(); ++i) index.emplace(scan.files[i], i);
  std::vector<routing::ObjectSet> objects_of(scan.files.size());
  std::vector<routing::Diagnostics> diagnostics_of(scan.files.size());
  routing::ObjectSet& loaded = load.objects;
  using routing::ObjectSet;
  split_by_file(loaded.ingresses, index, objects_of, &ObjectSet::ingresses);
  split_by_file(loaded.ingress_classes, index, objects_of, &ObjectSet::ingress_classes);
  split_by_file(loaded.services, index, objects_of, &ObjectSet::services);
  split_by_file(loaded.endpoint_slices, index, objects_of, &ObjectSet::endpoint_slices);
  split_by_file(loaded.endpoints, index, objects_of, &ObjectSet::endpoints);
  split_by_file(loaded.secrets, index, objects_of, &ObjectSet::secrets);
  routing::Diagnostics other;  // not about one of the files (none expected)
  for (routing::Diagnostic& d : load.diagnostics) {
    auto it = index.find(d.file);
    (it != index.end() ? diagnostics_of[it->second] : other).push_back(std::move(d));
  }
  std::set<std::string> read(load.files.begin(), load.files.end());

  ReloadResult result;
  result.files = scan.files.size();
  ObjectSet all;
  routing::Diagnostics diagnostics;
  std::map<std::string, FileState> next;
  auto keep_previous = [&](const std::string& file, const FileState& previous,
                           std::string_view why) {
    ObjectSet copy = previous.objects;
    all.merge(std::move(copy));
    diagnostics.push_back(
        warning(file, 0, {},
                "file " + file + " " + std::string(why) + "; serving the objects it last yielded"));
    next[file] = previous;
  };

  for (std::size_t i = 0; i < scan.files.size(); ++i) {
    const std::string& file = scan.files[i];
    ObjectSet& now = objects_of[i];
    routing::Diagnostics& found = diagnostics_of[i];
    auto previous = files_.find(file);
    bool had = previous != files_.end();

    if (read.count(file) == 0) {
      struct stat st {};
      bool gone = ::lstat(file.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR);
      bool named = scan.named.count(file) > 0;
      // A file that went between the listing and the read: its removal event brings another
      // reload, and "cannot read" would only be noise until then.
      if (gone && !named) continue;
      result.unreadable = true;
      move_into(found, diagnostics);
      if (!gone && had) keep_previous(file, previous->second, "cannot be read");
      continue;
    }

    bool broken = std::any_of(found.begin(), found.end(), is_syntax_error);
    if (broken && had) {
      move_into(found, diagnostics);
      keep_previous(file, previous->second, "does not parse");
      continue;
    }
    if (!broken && had) {
      // An object that fails to decode is left out by the decoder; serve its last valid version.
      std::set<std::string> tried;
      routing::Diagnostics kept;
      for (const routing::Diagnostic& d : found) {
        if (d.severity != routing::Severity::kError || d.object.empty()) continue;
        if (!tried.insert(d.object).second) continue;
        int line = carry_over(previous->second.objects, now, d.object);
        if (line < 0) continue;
        kept.push_back(warning(file, line, d.object,
                               "does not decode; serving its last valid version from " + file));
      }
      move_into(kept, found);
    }
    move_into(found, diagnostics);
    // A file that never parsed serves what it yields now, but is not remembered as "last good".
    if (!broken) next[file].objects = now;
    all.merge(std::move(now));
  }
  if (!scan.diagnostics.empty()) result.unreadable = true;
  move_into(scan.diagnostics, diagnostics);
  move_into(other, diagnostics);
  files_ = std::move(next);

  result.publish = options_.publish ? options_.publish(all, std::move(diagnostics))
                                    : publisher_.publish(all, std::move(diagnostics));
  reloads_.fetch_add(1, std::memory_order_acq_rel);
  return result;
}

}  // namespace portico::watch
