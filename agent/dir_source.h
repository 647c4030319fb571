// `sluice agent --watch DIR`: a directory of manifests, followed as it
// changes. inotify watches every directory of the tree; any event marks the
// source dirty, and the next rescan re-reads only the files whose identity
// (device, inode, size, modification time) changed. A file is read once its
// writer closed it (IN_CLOSE_WRITE) or renamed it into place (IN_MOVED_TO, as
// editors and deployment tools do), never half-written; a ConfigMap volume's
// swap of its hidden `..data` symlink compares every file.
// Files are the ones `sluice compile DIR` reads (frontend manifestFilesIn).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <sys/types.h>

#include "agent/state_fragments.h"

namespace sluice::agent {

class DirSource {
 public:
  explicit DirSource(std::string dir) : dir_(std::move(dir)) {
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  }
  ~DirSource();
  DirSource(const DirSource&) = delete;
  DirSource& operator=(const DirSource&) = delete;

  // Sets up inotify on the tree. False with `error` when the directory cannot be watched.
  bool start(std::string& error);
  // Readable when something changed: poll() it, then drain().
  int fd() const { return inotifyFd_; }
  // Consumes pending events (adding watches on new directories); true if any arrived.
  bool drain();

  // Re-reads changed, new and removed files into `fragments`. Returns how
  // many files changed (0: nothing to do). Unreadable directories and files
  // are reported in `problems`.
  int rescan(StateFragments& fragments, std::string& problems);

 private:
  struct FileId {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    long long mtimeNs = 0;
    bool operator==(const FileId&) const = default;
  };
  void watchTree();
  std::optional<std::string> readIfChanged(const std::string& path, std::string& problems);

  std::string dir_;
  int inotifyFd_ = -1;
  std::map<std::string, int> watched_;  // directory -> watch descriptor
  std::map<std::string, FileId> files_;  // what the fragments hold
  std::set<std::string> pending_;        // files whose writer finished since the last rescan
  bool fullRescan_ = false;
  bool scannedOnce_ = false;
};

}  // namespace sluice::agent
