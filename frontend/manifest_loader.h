// Reads manifests into a ClusterState.
//
// Inputs: files (any extension), directories (recursively: *.yaml, *.yml,
// *.json, in sorted order), and "-" for stdin. Each file holds YAML (one or
// more documents) or JSON. A document is one object, or a list of objects
// (`kind: List` as `kubectl get -o yaml` prints, or any `<Kind>List`).
//
// Every problem is reported to `diags` (file:line:col, field path, what was
// expected); objects with errors are not added, but loading goes on so that
// all errors are reported at once. Unknown kinds are skipped with a note.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/diagnostics.h"
#include "frontend/cluster_state.h"

namespace sluice {

// Loads every path; returns false if any error was reported.
bool loadManifests(const std::vector<std::string>& paths, ClusterState& state, Diagnostics& diags);

// One manifest file is at most this large (a kubectl dump of 10,000 pods is
// about 100 MB): /dev/zero or an endless stream is refused, not read forever.
inline constexpr size_t kMaxManifestBytes = size_t(256) << 20;

// The manifest files under a directory, as loadManifests reads them:
// recursively, *.yaml / *.yml / *.json, sorted, skipping hidden entries (names
// starting with "."): editors' temporary files, and the timestamped copies
// behind a ConfigMap volume's symlinks, which would otherwise load twice.
// Symlinks to files are followed, symlinks to directories are not.
struct ManifestFiles {
  std::vector<std::string> files;
  // Directories that could not be listed, and manifest names that are not
  // readable regular files, with the reason: callers must not treat them as
  // absent (a policy in an unreadable directory is still a policy).
  std::vector<std::pair<std::string, std::string>> unreadable;
};
ManifestFiles manifestFilesIn(const std::string& dir);

// Reads one manifest file: a regular file of at most kMaxManifestBytes.
// FIFOs, devices and sockets are refused without blocking. On failure,
// `error` says why ("cannot read file: Permission denied").
bool readManifestFile(const std::string& path, std::string& contents, std::string& error);
bool readManifestStdin(std::string& contents, std::string& error);

// Loads one in-memory file (tests, stdin). `name` is what diagnostics print.
bool loadManifestText(const std::string& name, std::string contents, ClusterState& state,
                      Diagnostics& diags);

// Convenience: load, then finalize() the state.
struct LoadResult {
  ClusterState state;
  Diagnostics diags;
  bool ok() const { return !diags.hasErrors(); }
};
LoadResult loadCluster(const std::vector<std::string>& paths);

}  // namespace sluice
