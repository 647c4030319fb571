// The cluster state as the agent assembles it: one fragment per source unit
// (a manifest file of a watched directory, an object of the Kubernetes API),
// parsed once when that unit changes and merged into a ClusterState on every
// reconcile. A unit that no longer parses keeps its last good objects, so a
// bad edit never removes what was there (nothing is half-applied); its
// errors stay reported until it is fixed or removed.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "frontend/cluster_state.h"
#include "base/diagnostics.h"

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
  // Incremental: the objects of units changed since the last merge are
  // replaced in the previous result (a full rebuild when duplicates are
  // involved, so "the first definition wins" means the same either way).
  // The reference stays valid until the next merge.
  const ClusterState& merge(Diagnostics& diags);
  // Rendered errors of the units that failed their last update ("" if none).
  std::string errors() const;

  // What sluice-cni attached on this node that the cluster state may not say
  // yet, applied on every merge: a local pod's address (before kubelet
  // publishes status.podIP; the attachment wins over a stale one), and
  // containers without pod arguments (`ctr run --cni`), which become
  // endpoints of no namespace and no labels, named after their container ID.
  struct LocalAttachment {
    std::string podNamespace;  // "" for a container without a pod
    std::string podName;
    std::string containerID;
    IpAddr address;
    bool operator==(const LocalAttachment&) const = default;
  };
  void setLocalAttachments(const std::string& node, std::vector<LocalAttachment> attachments);

 private:
  struct Unit {
    ClusterState state;
    bool good = false;        // `state` came from a parse without errors
    std::string lastErrors;   // rendered diagnostics of the last failed parse
    Diagnostics lastDiags;    // the same, to re-report on merge
  };
  void rebuild(Diagnostics& diags);
  void applyLocalAttachments();
  std::string unitOfPod(const std::string& ns, const std::string& name) const;

  std::map<std::string, Unit> units_;
  ClusterState merged_;
  std::set<std::string> dirty_;  // units updated or removed since merged_
  bool mergedValid_ = false;      // merged_ holds every unit as of the last merge, without duplicates
  std::string node_;
  std::vector<LocalAttachment> attachments_;
};

}  // namespace sluice::agent
