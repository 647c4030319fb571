// Emits the LLVM IR of one endpoint direction's decision from its plan
// (decision_plan.h). Functions are named after the endpoint and the rules so
// `sluice compile --emit-llvm` reads back to the policy:
//
//   @"policy.shop/web.ingress"(identity, addr, proto, port) -> decision
//   @"policy.shop/web.ingress.allow.identity"  switch on identity
//   @"policy.shop/web.ingress.allow.address"   binary search on address
//   @"rule.np.shop.allow-web.ingress0.from0"   L4 tree of one rule (or "rules.<first>+N")
#pragma once

#include <string>

#include "codegen/decision_plan.h"

namespace llvm {
class Function;
class Module;
}  // namespace llvm

namespace sluice::codegen {

class DebugInfo;

// Returns i32 (i32 identity, i32 addr_host_order, i32 proto, i32 port) -> decision (sluice_abi.h).
// For ingress, connections from the pod's own node (identity host) are always
// allowed, as Kubernetes requires ("the only allowed connections into the pod
// are those from the pod's node and those allowed by the ingress list"; kubelet
// probes depend on it); explicit deny rules still win.
llvm::Function* emitDecision(llvm::Module& m, DebugInfo& di, const std::string& name,
                             const ir::DirectionPolicy& policy, const DirectionPlan& plan, ir::Direction direction);

}  // namespace sluice::codegen
