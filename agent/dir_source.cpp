#include "agent/dir_source.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "frontend/manifest_loader.h"

namespace fs = std::filesystem;

namespace sluice::agent {

namespace {
constexpr uint32_t kEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                             IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR;
}

DirSource::~DirSource() {
  if (inotifyFd_ >= 0) ::close(inotifyFd_);
}

bool DirSource::start(std::string& error) {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    error = fmt::format("{}: not a directory", dir_);
    return false;
  }
  inotifyFd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotifyFd_ < 0) {
    error = fmt::format("inotify: {}", std::strerror(errno));
    return false;
  }
  watchTree();
  if (!watched_.count(dir_)) {
    error = fmt::format("{}: cannot watch: {}", dir_, std::strerror(errno));
    return false;
  }
  return true;
}

void DirSource::watchTree() {
  // Directories come and go (and a ConfigMap volume swaps hidden ones):
  // watch every visible directory, forget the ones that are gone.
  std::set<std::string> dirs{dir_};
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    bool hidden = it->path().filename().string().rfind('.', 0) == 0;
    if (it->is_directory(ec)) {
      if (hidden)
        it.disable_recursion_pending();
      else
        dirs.insert(it->path().string());
    }
  }
  for (auto it = watched_.begin(); it != watched_.end();) {
    if (!dirs.count(it->first)) {
      inotify_rm_watch(inotifyFd_, it->second);
      it = watched_.erase(it);
    } else {
      ++it;
    }
  }
  for (const std::string& d : dirs) {
    if (watched_.count(d)) continue;
    int wd = inotify_add_watch(inotifyFd_, d.c_str(), kEvents);
    if (wd >= 0) watched_[d] = wd;
  }
}

bool DirSource::drain() {
  alignas(inotify_event) char buf[16384];
  bool any = false, dirsChanged = false;
  std::map<int, std::string> dirOf;
  for (const auto& [dir, wd] : watched_) dirOf[wd] = dir;
  for (;;) {
    ssize_t n = ::read(inotifyFd_, buf, sizeof buf);
    if (n <= 0) break;
    any = true;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      std::string name = ev->len ? std::string(ev->name) : std::string();
      if (ev->mask & (IN_ISDIR | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW)) {
        dirsChanged = true;
        continue;
      }
      auto dir = dirOf.find(ev->wd);
      if (dir == dirOf.end() || name.empty()) continue;
      if (name[0] == '.') {
        // A hidden entry renamed into place is how a ConfigMap volume swaps
        // its contents behind unchanged symlinks: compare every file.
        if (ev->mask & (IN_MOVED_TO | IN_CREATE)) fullRescan_ = true;
        continue;
      }
      // A file counts once its writer is done with it (closed, or renamed into
      // place): reading it earlier could see half of it, and half a file can
      // be a pod without its policy.
      if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB))
        pending_.insert(dir->second + "/" + name);
    }
  }
  if (dirsChanged) {
    watchTree();
    fullRescan_ = true;
  }
  return any;
}

std::optional<std::string> DirSource::readIfChanged(const std::string& path, std::string& problems) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  FileId id{st.st_dev, st.st_ino, st.st_size, (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
  auto known = files_.find(path);
  if (known != files_.end() && known->second == id) return std::nullopt;
  std::string text, error;
  if (!readManifestFile(path, text, error)) {
    problems += fmt::format("{}: {}\n", path, error);
    return std::nullopt;
  }
  files_[path] = id;
  return text;
}

int DirSource::rescan(StateFragments& fragments, std::string& problems) {
  ManifestFiles found = manifestFilesIn(dir_);
  if (!found.unreadable.empty()) {
    // Keep what we have: a directory that cannot be read right now (being
    // replaced, or a subdirectory without permission) must not look like a
    // cluster without its objects: dropping a policy would open a hole.
    for (const auto& [where, why] : found.unreadable) problems += fmt::format("{}: {}\n", where, why);
    return 0;
  }
  const std::vector<std::string>& paths = found.files;
  bool full = fullRescan_ || !scannedOnce_;
  int changed = 0;
  std::set<std::string> present(paths.begin(), paths.end());
  for (const std::string& path : paths) {
    if (!full && !pending_.count(path)) continue;
    if (auto text = readIfChanged(path, problems)) {
      fragments.update(path, *text);
      ++changed;
    }
  }
  for (auto it = files_.begin(); it != files_.end();) {
    if (!present.count(it->first)) {
      fragments.remove(it->first);
      it = files_.erase(it);
      ++changed;
    } else {
      ++it;
    }
  }
  pending_.clear();
  fullRescan_ = false;
  scannedOnce_ = true;
  return changed;
}

}  // namespace sluice::agent
