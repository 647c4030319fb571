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
#include <system_error>
#include <vector>

#include "frontend/cluster_state.h"
#include "frontend/diagnostics.h"

namespace sluice {

// Loads every path; returns false if any error was reported.
bool loadManifests(const std::vector<std::string>& paths, ClusterState& state, Diagnostics& diags);

// The manifest files under a directory, as loadManifests reads them:
// recursively, *.yaml / *.yml / *.json, sorted, skipping hidden entries (names
// starting with "."): editors' temporary files, and the timestamped copies
// behind a ConfigMap volume's symlinks, which would otherwise load twice.
std::vector<std::string> manifestFilesIn(const std::string& dir, std::error_code& ec);

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
