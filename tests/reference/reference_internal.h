// What reference.cpp (NetworkPolicy, the verdict) and reference_cilium.cpp
// (CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy) share. Internal to
// the reference evaluator: tests use reference.h.
#pragma once

#include <string>
#include <vector>

#include "tests/reference/reference.h"

namespace sluice::reference::detail {

enum class Direction { Ingress, Egress };

// metav1.LabelSelectorRequirement and LabelSelector, re-implemented (not
// LabelSelector::matches): see reference.cpp.
bool requirementMatches(const LabelRequirement& r, const Labels& labels);
bool selectorMatches(const LabelSelector& selector, const Labels& labels);

// The pod behind an endpoint, if it is a policy endpoint (selectors may select it).
const Pod* selectablePod(const Endpoint& e);

// The labels of a namespace (kubernetes.io/metadata.name at least).
Labels namespaceLabels(const ClusterState& state, const std::string& name);

// Is `ip` inside `cidr`, bit by bit (not Cidr::contains, which the lowering uses).
bool inCidr(const Cidr& cidr, const IpAddr& ip);

// Does `dest` serve `port` under the container port name `name` with this protocol.
bool servesNamedPort(const Pod* dest, const std::string& name, Protocol proto, uint16_t port);

// What the Cilium policies say about one direction of one endpoint pod.
struct CiliumDirection {
  std::string denied;                   // the first deny rule that matches ("" = none)
  std::vector<std::string> isolatedBy;  // each selecting rule that isolates the direction
  std::string allowed;                  // the first allow rule that matches ("" = none)
};

// `self` is the endpoint pod whose direction is decided; `other` is the far end.
CiliumDirection evaluateCilium(const ClusterState& state, const Pod& self, Direction dir, const Endpoint& other,
                               const Flow& flow);

}  // namespace sluice::reference::detail
