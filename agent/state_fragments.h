// The cluster state as the agent assembles it: one fragment per source unit
// (a manifest file of a watched directory, an object of the Kubernetes API),
// parsed once when that unit changes and merged into a ClusterState on every
// reconcile. A unit that no longer parses keeps its last good objects, so a
// bad edit never removes what was there (nothing is half-applied); its
// errors stay reported until it is fixed or removed.
#pragma once

#include <map>
#include <string>

#include "frontend/cluster_state.h"
#include "frontend/diagnostics.h"

namespace sluice::agent {

class StateFragments {
 public:
  // Parses `text` as the unit `name` (a path, or "api:Kind/ns/name"). Returns
  // false when it has errors: the unit keeps its previous objects, if any.
  bool update(const std::string& name, const std::string& text);
  void remove(const std::string& name);
  bool contains(const std::string& name) const { return units_.count(name) > 0; }
  size_t size() const { return units_.size(); }

  // Every unit's objects (a failing unit's last good ones), checked for
  // duplicates across units and finalized. `diags` gets the duplicates and the
  // warnings of units that parsed; errors of failing units are in errors().
  ClusterState merge(Diagnostics& diags) const;
  // Rendered errors of the units that failed their last update ("" if none).
  std::string errors() const;

 private:
  struct Unit {
    ClusterState state;
    bool good = false;        // `state` came from a parse without errors
    std::string lastErrors;   // rendered diagnostics of the last failed parse
    Diagnostics lastDiags;    // the same, to re-report on merge
  };
  std::map<std::string, Unit> units_;
};

}  // namespace sluice::agent
