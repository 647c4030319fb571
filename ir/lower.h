// Lowering: ClusterState -> IR Program. Resolves selectors to identity sets,
// named ports on the pods that own them, policyTypes and isolation per
// direction, and each service's usable backends per node. Problems that only
// show once objects are put together (a pod on a node nobody declared, a
// policy feature the datapath cannot enforce) are reported to `diags`.
#pragma once

#include "frontend/cluster_state.h"
#include "base/diagnostics.h"
#include "ir/ir.h"

namespace sluice::ir {

// Cilium's default --cluster-name (pkg/defaults/cluster.go).
inline constexpr const char* kDefaultClusterName = "default";

struct LowerOptions {
  // Lower only this node's program (identities and services stay cluster-wide).
  std::string onlyNode;
  // Cilium's --cluster-name: every pod carries the label
  // io.cilium.k8s.policy.cluster=<name> for CiliumNetworkPolicy selectors.
  std::string clusterName = kDefaultClusterName;
  // Masquerade pod traffic to destinations outside every pod CIDR and these.
  bool masquerade = false;
  std::vector<Cidr> nonMasqueradeCidrs;
};

Program lower(const ClusterState& state, Diagnostics& diags, const LowerOptions& options = {});

}  // namespace sluice::ir
