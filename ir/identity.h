// Security identities: one per distinct set of security-relevant labels.
//
// Which labels count. A pod's identity labels are, each with the source "k8s:":
//   - its own labels, except the per-rollout ones that would split one
//     workload into many identities (pod-template-hash, controller-revision-hash,
//     pod-template-generation, statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index,
//     controller-uid, batch.kubernetes.io/controller-uid) — unless some policy
//     selector in the cluster mentions that key, in which case it counts;
//   - io.kubernetes.pod.namespace=<namespace>;
//   - io.cilium.k8s.namespace.labels.<key>=<value> for each namespace label;
//   - io.cilium.k8s.policy.serviceaccount=<service account>.
//
// How numbers are chosen. The number is a hash of the sorted label text
// (64-bit FNV-1a, reduced into [kFirstClusterIdentity, kLastClusterIdentity]),
// so it depends on nothing but the identity's own labels: an identity present
// before and after any change to the cluster keeps its number, whatever else
// was added or removed, and every compile of the same state is identical. Two
// label sets of one state that hash to the same number (with 1,000 identities,
// about one chance in 4,000) are separated by re-hashing the one that sorts
// later with a round counter; only then could an unrelated change renumber
// it, and the IR would show it.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "frontend/cluster_state.h"
#include "ir/ir.h"

namespace sluice::ir {

using LabelSet = std::vector<std::string>;  // sorted "source:key=value"

// Label keys that are per-rollout and left out of identities unless selected on.
bool isRolloutLabel(const std::string& key);

// Every label key that some policy selector in `state` mentions (prefixes stripped).
std::set<std::string> selectorKeys(const ClusterState& state);

LabelSet podIdentityLabels(const Pod& pod, const Namespace* ns, const std::set<std::string>& selectedKeys);

// The reserved identities with their labels ("reserved:host", ...).
std::vector<Identity> reservedIdentities();

// Numbers every label set; deterministic and independent of the other sets
// except on a hash collision (see above).
std::map<LabelSet, IdentityId> assignIdentityNumbers(const std::set<LabelSet>& labelSets);

// The raw hash (round 0), exposed for tests.
IdentityId hashIdentity(const LabelSet& labels, uint32_t round = 0);

// Reads a label out of an identity's label set: "k8s:app=web" -> key "app".
// Returns nullptr when absent. `key` has no source prefix.
const std::string* findLabel(const LabelSet& labels, const std::string& key, std::string& valueOut);

}  // namespace sluice::ir
