// Internal to ir/: what every lowering step shares — the identity of every
// pod, the labels each identity is matched by, and lookups by pod and IP.
#pragma once

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "frontend/cluster_state.h"
#include "base/diagnostics.h"
#include "ir/identity.h"
#include "ir/ir.h"

namespace sluice::ir {

struct IdentityInfo {
  IdentityId id = 0;
  std::string namespace_;     // empty for reserved identities
  Labels podLabels;           // the pod's identity-relevant labels, no prefix
  Labels namespaceLabels;
  Labels ciliumLabels;        // everything Cilium selectors see, no prefix
  std::string reservedName;   // "host", "world", ... for reserved identities
};

// A pod that is a policy endpoint somewhere in the cluster.
struct PodInfo {
  const Pod* pod = nullptr;
  IdentityId identity = 0;
};

// Pods grouped by the number a named port resolves to on each: ("ns/name", address).
using PodsByPortNumber = std::map<uint16_t, std::vector<std::pair<std::string, IpAddr>>>;

struct LowerContext {
  LowerContext(const ClusterState& state, Diagnostics& diags, std::string clusterName)
      : state(state), diags(diags), clusterName(std::move(clusterName)) {}

  const ClusterState& state;
  Diagnostics& diags;
  const std::string clusterName;  // the value of every pod's io.cilium.k8s.policy.cluster label
  std::vector<IdentityInfo> identities;          // sorted by id; reserved first
  std::map<std::string, PodInfo> endpointPods;   // "ns/name" -> pod with an identity
  std::map<IpAddr, std::string> podByIp;         // endpoint pod IPs -> "ns/name"

  const IdentityInfo* identity(IdentityId id) const;
  const Namespace* namespaceOf(const std::string& name) const { return state.findNamespace(name); }

  // The policies that may select a pod of `ns`, in input order: its
  // namespace's NetworkPolicies; its CNPs and every CCNP. Built once, so a
  // pod is matched against its namespace's policies, not the cluster's.
  const std::vector<const NetworkPolicy*>& networkPoliciesIn(const std::string& ns) const;
  const std::vector<const CiliumPolicy*>& ciliumPoliciesFor(const std::string& ns) const;

  // Memos, keyed by the address of the peer in the (immutable) ClusterState:
  // what a peer resolves to depends on its policy, not on the endpoint it is
  // lowered for, and a policy selecting 100 pods used to resolve each of its
  // peers 100 times against every identity (most of lowering, measured).
  mutable std::map<const void*, Peer> resolvedPeers;
  mutable std::map<std::tuple<const void*, std::string, Protocol>, PodsByPortNumber> namedPortPods;

 private:
  mutable std::map<std::string, std::vector<const NetworkPolicy*>> networkPoliciesByNs_;
  mutable std::map<std::string, std::vector<const CiliumPolicy*>> ciliumPoliciesByNs_;
};

// What `peerSource` (a peer of the input, identified by address) resolves to,
// computed by `resolve` the first time.
template <typename Resolve>
const Peer& memoPeer(const LowerContext& ctx, const void* peerSource, Resolve&& resolve) {
  auto it = ctx.resolvedPeers.find(peerSource);
  if (it == ctx.resolvedPeers.end()) it = ctx.resolvedPeers.emplace(peerSource, resolve()).first;
  return it->second;
}

// Is this pod a policy endpoint: has an IP, not hostNetwork, not finished.
bool isEndpointPod(const Pod& pod);

// Policy lowering, one file each. They append rules to the endpoint's
// DirectionPolicy and set `enforced`.
void lowerNetworkPolicies(const LowerContext& ctx, const Pod& pod, Endpoint& ep);
void lowerCiliumPolicies(const LowerContext& ctx, const Pod& pod, Endpoint& ep);
std::vector<Service> lowerServices(const LowerContext& ctx, const std::string& node);

// Resolve a named port on a pod for a protocol; nullopt when the pod lacks it.
std::optional<uint16_t> resolveNamedPort(const Pod& pod, const std::string& name, Protocol proto);

// Does a rule's peer cover this endpoint pod (by identity, entity or address)?
bool peerCoversPod(const LowerContext& ctx, const Peer& peer, const PodInfo& pod);

// Endpoint pods covered by `peer` (resolved from `peerSource`, the memo's
// key) that have a container port `name`/`proto`, grouped by the number the
// name resolves to on each.
const PodsByPortNumber& podsWithNamedPort(const LowerContext& ctx, const void* peerSource, const Peer& peer,
                                          const std::string& name, Protocol proto);

// Sorts and de-duplicates the sets inside a rule so its text form is canonical.
void canonicalize(Rule& rule);

}  // namespace sluice::ir
