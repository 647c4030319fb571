// Internal to ir/: what every lowering step shares — the identity of every
// pod, the labels each identity is matched by, and lookups by pod and IP.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "frontend/cluster_state.h"
#include "frontend/diagnostics.h"
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

struct LowerContext {
  const ClusterState& state;
  Diagnostics& diags;
  std::vector<IdentityInfo> identities;          // sorted by id; reserved first
  std::map<std::string, PodInfo> endpointPods;   // "ns/name" -> pod with an identity
  std::map<IpAddr, std::string> podByIp;         // endpoint pod IPs -> "ns/name"

  const IdentityInfo* identity(IdentityId id) const;
  const Namespace* namespaceOf(const std::string& name) const { return state.findNamespace(name); }
};

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

// Endpoint pods covered by `peer` that have a container port `name`/`proto`,
// grouped by the number the name resolves to on each ("ns/name", address).
std::map<uint16_t, std::vector<std::pair<std::string, IpAddr>>> podsWithNamedPort(const LowerContext& ctx,
                                                                                    const Peer& peer,
                                                                                    const std::string& name,
                                                                                    Protocol proto);

// Sorts and de-duplicates the sets inside a rule so its text form is canonical.
void canonicalize(Rule& rule);

}  // namespace sluice::ir
