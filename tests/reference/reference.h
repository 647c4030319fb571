// A reference evaluator of Kubernetes NetworkPolicy (networking.k8s.io/v1)
// and of CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy (cilium.io/v2,
// L3/L4) for differential tests: given a ClusterState and one new IPv4
// connection, says whether the policies allow it, and why.
//
// It is deliberately plain: a literal loop over policies, rules, peers and
// ports, each line citing the rule of the Kubernetes documentation it
// implements. It reads only the frontend's typed model (ClusterState) and
// shares nothing with ir/ or codegen/ — even label-selector matching is
// re-implemented here — so that a disagreement between this and the kernel
// points at a bug in one of them rather than at code both use.
//
// Sources: kubernetes.io/docs/concepts/services-networking/network-policies/
// ("network-policies.md" below), the NetworkPolicy API reference, KEP-2079
// (endPort), ../../shared/design/SEMANTICS.md and docs/semantics.md. The
// Cilium half lives in reference_cilium.cpp, with its own sources.
#pragma once

#include <cstdint>
#include <string>

#include "frontend/cluster_state.h"

namespace sluice::reference {

// One end of a connection: a pod (pod != nullptr) or a bare address.
//
// `ip` is the address on the packet; for a pod, use podEndpoint(), which takes
// the pod's IPv4 address. A bare address is never treated as a pod, even when
// it is some pod's IP: use endpointForAddress() to resolve an address the way
// the datapath would.
struct Endpoint {
  const Pod* pod = nullptr;
  IpAddr ip;
};

// A new connection (the first packet) from `from` to `to`. Replies of an
// allowed connection are allowed; they are not Flows.
struct Flow {
  Endpoint from, to;
  Protocol proto = Protocol::TCP;
  uint16_t port = 0;  // destination port
  // An ICMPv4 message instead (proto and port are then ignored): type
  // `icmpType`, 8 = echo request, the only type that opens a connection.
  bool icmp = false;
  uint8_t icmpType = 8;
};

enum class Verdict { Allow, Deny };

struct Explanation {
  Verdict verdict = Verdict::Deny;
  // One line, e.g. "egress of x/a: allowed by NetworkPolicy x/p spec.egress[0];
  // ingress of y/b: not isolated (no NetworkPolicy in y selects it for Ingress)".
  std::string reason;
  bool allowed() const { return verdict == Verdict::Allow; }
};

// Exceptions the Kubernetes documentation states outside the policy rules.
// Both are on by default because upstream behaviour has them; turn one off to
// compare with an implementation that deliberately does not model it.
struct Options {
  // "a pod cannot block access to itself" (network-policies.md); the upstream
  // e2e suite expects every pod→same-pod probe to succeed (AllowLoopback()).
  bool loopbackAlwaysAllowed = true;
  // network-policies.md: "When a pod is isolated for ingress, the only
  // allowed connections into the pod are those from the pod's node and those
  // allowed by the ingress list of some NetworkPolicy". A connection to a pod
  // from an address of the Node it runs on (or from a hostNetwork pod on that
  // node) skips the pod's ingress check. Egress has no such clause ("the only
  // allowed connections from the pod are those allowed by the egress list"),
  // so egress to the own node stays subject to egress policy. A Cilium deny
  // rule matching the connection still wins (docs/semantics.md).
  bool ownNodeIngressAlwaysAllowed = true;
};

// Is this pod a policy endpoint: it has an IP, is not hostNetwork, and has not
// finished (phase Succeeded or Failed). Only endpoints are isolated by
// policies, and only endpoints are selected by pod/namespace selectors.
bool isPolicyEndpoint(const Pod& pod);

// The endpoint for a pod: its first IPv4 address (0.0.0.0 if it has none).
Endpoint podEndpoint(const Pod& pod);
// A bare address (outside the cluster, a node, a hostNetwork pod, ...).
Endpoint addressEndpoint(const IpAddr& ip);
// The policy endpoint pod that owns `ip`, else a bare address.
Endpoint endpointForAddress(const ClusterState& state, const IpAddr& ip);

// Allow or Deny for a new connection, with the reason.
Explanation evaluate(const ClusterState& state, const Flow& flow, const Options& options = {});

// One direction alone, for callers that compare hook by hook (from-pod =
// egress of flow.from, to-pod = ingress of flow.to). A direction whose pod is
// not a policy endpoint allows, with a reason saying so.
Explanation evaluateEgress(const ClusterState& state, const Flow& flow);
Explanation evaluateIngress(const ClusterState& state, const Flow& flow, const Options& options = {});

// "x/a (10.244.1.10)", "203.0.113.5"; "x/a -> 203.0.113.5 80/TCP" (or "icmp type 8"); "allow" / "deny"
// (the spelling of `sluice reach --output json`).
std::string describe(const Endpoint& e);
std::string describe(const Flow& f);
const char* verdictName(Verdict v);

}  // namespace sluice::reference
