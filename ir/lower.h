// Lowering: ClusterState -> IR Program. Resolves selectors to identity sets,
// named ports on the pods that own them, policyTypes and isolation per
// direction, and each service's usable backends per node. Problems that only
// show once objects are put together (a pod on a node nobody declared, a
// policy feature the datapath cannot enforce) are reported to `diags`.
#pragma once

#include "frontend/cluster_state.h"
#include "frontend/diagnostics.h"
#include "ir/ir.h"

namespace sluice::ir {

struct LowerOptions {
  // Lower only this node's program (identities and services stay cluster-wide).
  std::string onlyNode;
};

Program lower(const ClusterState& state, Diagnostics& diags, const LowerOptions& options = {});

}  // namespace sluice::ir
