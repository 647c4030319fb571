// Reference evaluator: see reference.h. Every decision below cites the text it
// implements. "np.md" = kubernetes.io/docs/concepts/services-networking/network-policies/,
// "API" = the NetworkPolicy API reference (networking.k8s.io/v1).
#include "tests/reference/reference.h"

#include <algorithm>
#include <vector>

#include "tests/reference/reference_internal.h"

namespace sluice::reference {
namespace detail {

// ---- label selectors, re-implemented (not LabelSelector::matches) ----------

// metav1.LabelSelectorRequirement. matchLabels {k: v} is in the model as
// `k In [v]`, which is exactly its meaning in the API.
bool requirementMatches(const LabelRequirement& r, const Labels& labels) {
  auto it = labels.find(r.key);
  bool hasKey = it != labels.end();
  bool valueListed = hasKey && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
  switch (r.op) {
    // In: the key is present and its value is one of the values.
    case LabelRequirement::Op::In: return valueListed;
    // NotIn: the value is not one of the values — objects without the key match (SEMANTICS.md).
    case LabelRequirement::Op::NotIn: return !valueListed;
    // Exists: the key is present, whatever its value.
    case LabelRequirement::Op::Exists: return hasKey;
    // DoesNotExist: the key is absent.
    case LabelRequirement::Op::DoesNotExist: return !hasKey;
  }
  return false;
}

// API: "The requirements are ANDed." An empty selector (no requirements)
// matches every object ("An empty podSelector selects all pods", np.md).
bool selectorMatches(const LabelSelector& selector, const Labels& labels) {
  for (const LabelRequirement& r : selector.requirements)
    if (!requirementMatches(r, labels)) return false;
  return true;
}

// ---- peers and ports -----------------------------------------------------

// The pod behind an endpoint, if selectors may select it. hostNetwork pods,
// pods without an IP and finished pods are not policy endpoints, so pod and
// namespace selectors never select them (docs/semantics.md "Endpoints").
const Pod* selectablePod(const Endpoint& e) {
  return e.pod != nullptr && isPolicyEndpoint(*e.pod) ? e.pod : nullptr;
}

// The labels of a pod's Namespace object. After ClusterState::finalize()
// every namespace exists (implicit ones carry only the name label, which the
// API server sets on every namespace); a state that was not finalized gets
// that same label here.
Labels namespaceLabels(const ClusterState& state, const std::string& name) {
  if (const Namespace* ns = state.findNamespace(name)) return ns->meta.labels;
  return Labels{{"kubernetes.io/metadata.name", name}};
}

// Is `ip` inside `cidr`: the first prefixLen bits are equal. Written here
// rather than using Cidr::contains, which the lowering shares.
bool inCidr(const Cidr& cidr, const IpAddr& ip) {
  if (ip.family != cidr.addr.family) return false;
  if (ip.isV4()) {
    uint32_t mask = cidr.prefixLen == 0 ? 0 : ~uint32_t(0) << (32 - cidr.prefixLen);
    return (ip.v4HostOrder() & mask) == (cidr.addr.v4HostOrder() & mask);
  }
  for (unsigned bit = 0; bit < cidr.prefixLen; ++bit) {  // IPv6: bit by bit
    unsigned byte = bit / 8, shift = 7 - bit % 8;
    if (((ip.bytes[byte] >> shift) & 1) != ((cidr.addr.bytes[byte] >> shift) & 1)) return false;
  }
  return true;
}

// API IPBlock: an address inside `cidr` and inside none of the `except`
// CIDRs ("should not be included within an IPBlock"). Any address
// matches, pod and node IPs included (SEMANTICS.md: upstream conformance).
bool servesNamedPort(const Pod* dest, const std::string& name, Protocol proto, uint16_t port) {
  if (dest == nullptr) return false;
  for (const ContainerPort& cp : dest->ports)
    if (cp.name == name && cp.protocol == proto && cp.port == port) return true;
  return false;
}

}  // namespace detail

namespace {

using namespace detail;

bool ipBlockMatches(const IPBlock& block, const IpAddr& ip) {
  if (!inCidr(block.cidr, ip)) return false;
  for (const Cidr& ex : block.except)
    if (inCidr(ex, ip)) return false;
  return true;
}

// One item of `from` / `to`. `other` is the far end of the connection.
bool peerMatches(const ClusterState& state, const NetworkPolicy& policy, const NetworkPolicyPeer& peer,
                 const Endpoint& other) {
  // An ipBlock peer has no selectors (validation); it matches by address only.
  if (peer.ipBlock) return ipBlockMatches(*peer.ipBlock, other.ip);

  // podSelector / namespaceSelector select pods, and only pods (np.md).
  const Pod* pod = selectablePod(other);
  if (pod == nullptr) return false;

  if (peer.namespaceSelector) {
    // namespaceSelector: pods in namespaces whose labels it matches; `{}` = all namespaces.
    if (!selectorMatches(*peer.namespaceSelector, namespaceLabels(state, pod->meta.namespace_))) return false;
  } else {
    // np.md: podSelector without namespaceSelector selects "Pods in the same
    // namespace as the NetworkPolicy".
    if (pod->meta.namespace_ != policy.meta.namespace_) return false;
  }
  // Both in one item are AND'd (np.md "namespaceSelector and podSelector");
  // no podSelector = every pod of the selected namespaces.
  if (peer.podSelector && !selectorMatches(*peer.podSelector, pod->meta.labels)) return false;
  return true;
}

// One item of `ports`, against the connection's protocol and destination port.
bool portMatches(const NetworkPolicyPort& p, const Flow& flow) {
  // A port item names TCP, UDP or SCTP (validation): it never matches ICMP,
  // which only a rule without `ports` (all traffic) admits.
  if (flow.icmp) return false;
  // API: "protocol ... If not specified, this field defaults to TCP" (the model has defaulted it).
  if (p.protocol != flow.proto) return false;
  // API: "If this field is not provided, this matches all port names and numbers."
  if (!p.port) return true;
  if (!p.port->isNamed()) {
    // A number; with endPort, "the range of ports from port to endPort, inclusive" (KEP-2079).
    unsigned first = *p.port->number;
    unsigned last = p.endPort ? unsigned(*p.endPort) : first;
    return first <= flow.port && flow.port <= last;
  }
  // A named port is resolved on the destination pod: a container port with
  // that name and this protocol (SEMANTICS.md). A destination that is not a
  // policy endpoint pod, or has no such port, matches nothing here.
  return servesNamedPort(selectablePod(flow.to), p.port->name, p.protocol, flow.port);
}

// ---- one direction of one pod --------------------------------------------

// For reasons: "ipBlock 10.0.0.0/8", "namespaceSelector team=blue podSelector app=b".
std::string peerText(const NetworkPolicyPeer& peer) {
  if (peer.ipBlock) return "ipBlock " + peer.ipBlock->cidr.str() + (peer.ipBlock->except.empty() ? "" : " except ...");
  std::string s;
  if (peer.namespaceSelector) s += "namespaceSelector " + peer.namespaceSelector->str();
  if (peer.podSelector) s += std::string(s.empty() ? "" : " ") + "podSelector " + peer.podSelector->str();
  return s;
}

// For reasons: "80/TCP", "80-81/TCP", "http=8080/TCP" (a named port, as resolved), "all UDP".
std::string portText(const NetworkPolicyPort& p, const Flow& flow) {
  std::string proto = protocolName(p.protocol);
  if (!p.port) return "all " + proto;
  if (p.port->isNamed()) return p.port->name + "=" + std::to_string(flow.port) + "/" + proto;
  std::string range = std::to_string(*p.port->number);
  if (p.endPort) range += "-" + std::to_string(*p.endPort);
  return range + "/" + proto;
}

std::string joinKeys(const std::vector<const NetworkPolicy*>& policies) {
  std::string s;
  for (const NetworkPolicy* np : policies) s += (s.empty() ? "" : ", ") + np->meta.key();
  return s;
}

// Ingress of `self` (other = the source) or egress of `self` (other = the
// destination). `ownNodeExempt`: the connection comes from self's own node
// and Options exempts that from ingress policy.
Explanation evaluateDirection(const ClusterState& state, const Pod& self, Direction dir, const Endpoint& other,
                              const Flow& flow, bool ownNodeExempt = false) {
  const bool ingress = dir == Direction::Ingress;
  const std::string who = (ingress ? "ingress of " : "egress of ") + self.meta.key();
  const char* type = ingress ? "Ingress" : "Egress";
  const char* section = ingress ? "ingress" : "egress";
  const char* peersKey = ingress ? "from" : "to";

  // Cilium first: a matching deny rule wins over every allow, from any policy
  // kind (SEMANTICS.md "Deny wins over every allow"), and over the own-node
  // exception too (docs/semantics.md: "An explicit Cilium deny rule still wins").
  CiliumDirection cilium = evaluateCilium(state, self, dir, other, flow);
  if (!cilium.denied.empty()) return {Verdict::Deny, who + ": denied by " + cilium.denied};

  // np.md: "the only allowed connections into the pod are those from the
  // pod's node and those allowed by the ingress list of some NetworkPolicy".
  if (ownNodeExempt)
    return {Verdict::Allow, "ingress of " + self.meta.key() + ": from its own node " + self.nodeName +
                                ", always allowed"};

  // np.md "The two sorts of pod isolation": a pod is isolated for a direction
  // if some NetworkPolicy in its namespace selects it (spec.podSelector) and
  // has that direction in policyTypes (after defaulting: Ingress always;
  // Egress when the policy has an egress section — done by the frontend).
  std::vector<const NetworkPolicy*> selecting;
  for (const NetworkPolicy& np : state.networkPolicies) {
    if (np.meta.namespace_ != self.meta.namespace_) continue;  // policies are namespaced
    if (!selectorMatches(np.podSelector, self.meta.labels)) continue;
    if (!(ingress ? np.ingressType : np.egressType)) continue;
    selecting.push_back(&np);
  }
  // Not isolated by any policy of any kind: "all connections are allowed" in
  // that direction (Cilium rules that isolate nothing allow nothing extra).
  if (selecting.empty() && cilium.isolatedBy.empty())
    return {Verdict::Allow, who + ": not isolated (no NetworkPolicy in " + self.meta.namespace_ +
                                " selects it for " + type +
                                (state.ciliumPolicies.empty() ? "" : ", no Cilium rule isolates it") + ")"};

  // Isolated: "the only allowed connections are those allowed by the <dir>
  // list of some NetworkPolicy that applies to the pod" — the union of every
  // rule of every selecting policy. Rules of a direction missing from
  // policyTypes are ignored, which the `selecting` filter already does.
  for (const NetworkPolicy* np : selecting) {
    const std::vector<NetworkPolicyRule>& rules = ingress ? np->ingress : np->egress;
    for (size_t i = 0; i < rules.size(); ++i) {
      const NetworkPolicyRule& rule = rules[i];
      // A rule matches when its peers AND its ports match.
      // Peers are OR'd; an empty or absent list matches every source /
      // destination, addresses outside the cluster included (API).
      std::string peerWhy;
      if (rule.peers.empty()) peerWhy = std::string(peersKey) + ": all peers";
      for (size_t j = 0; j < rule.peers.size() && peerWhy.empty(); ++j)
        if (peerMatches(state, *np, rule.peers[j], other))
          peerWhy = std::string(peersKey) + "[" + std::to_string(j) + "] " + peerText(rule.peers[j]);
      if (peerWhy.empty()) continue;
      // Ports are OR'd; an empty or absent list matches every port (API).
      std::string portWhy;
      if (rule.ports.empty()) portWhy = "all ports";
      for (size_t k = 0; k < rule.ports.size() && portWhy.empty(); ++k)
        if (portMatches(rule.ports[k], flow))
          portWhy = "ports[" + std::to_string(k) + "] " + portText(rule.ports[k], flow);
      if (portWhy.empty()) continue;
      return {Verdict::Allow, who + ": allowed by NetworkPolicy " + np->meta.key() + " spec." + section + "[" +
                                  std::to_string(i) + "] (" + peerWhy + ", " + portWhy + ")"};
    }
  }
  // The allows of every kind add up (SEMANTICS.md): a Cilium allow rule of a
  // selecting rule counts even when a NetworkPolicy is what isolates, and
  // even when its own rule turned enableDefaultDeny off.
  if (!cilium.allowed.empty()) return {Verdict::Allow, who + ": allowed by " + cilium.allowed};

  std::string isolators;
  if (!selecting.empty()) isolators = "NetworkPolicy " + joinKeys(selecting);
  for (const std::string& r : cilium.isolatedBy) isolators += (isolators.empty() ? "" : ", ") + r;
  return {Verdict::Deny, who + ": denied: isolated for " + type + " by " + isolators + " and no " + section +
                             " rule matches"};
}

// Why a flow end is not subject to policy, or "" when it is.
std::string notAnEndpointWhy(const Endpoint& e, const char* dir) {
  if (e.pod == nullptr) return std::string(dir) + ": " + e.ip.str() + " is not a pod, no " + dir + " policy";
  if (e.pod->hostNetwork)
    return std::string(dir) + " of " + e.pod->meta.key() + ": hostNetwork pod, not subject to NetworkPolicy";
  if (!isPolicyEndpoint(*e.pod))
    return std::string(dir) + " of " + e.pod->meta.key() + ": not a policy endpoint (no IP, or finished)";
  return "";
}

// Is `from` the node `dest` runs on: one of that Node's addresses, or a
// hostNetwork pod scheduled there (whose traffic is the node's).
bool fromOwnNode(const ClusterState& state, const Pod& dest, const Endpoint& from) {
  if (dest.nodeName.empty() || selectablePod(from) != nullptr) return false;
  if (from.pod != nullptr && from.pod->hostNetwork && from.pod->nodeName == dest.nodeName) return true;
  const Node* node = state.findNode(dest.nodeName);
  return node != nullptr && std::find(node->ips.begin(), node->ips.end(), from.ip) != node->ips.end();
}

}  // namespace

bool isPolicyEndpoint(const Pod& pod) {
  if (pod.hostNetwork || pod.ips.empty()) return false;
  return pod.phase != PodPhase::Succeeded && pod.phase != PodPhase::Failed;
}

Endpoint podEndpoint(const Pod& pod) {
  Endpoint e{&pod, IpAddr{}};
  for (const IpAddr& ip : pod.ips)
    if (ip.isV4()) return Endpoint{&pod, ip};
  if (pod.hostIP && pod.hostIP->isV4()) e.ip = *pod.hostIP;  // a hostNetwork pod without podIP
  return e;
}

Endpoint addressEndpoint(const IpAddr& ip) { return Endpoint{nullptr, ip}; }

Endpoint endpointForAddress(const ClusterState& state, const IpAddr& ip) {
  for (const Pod& pod : state.pods)
    if (isPolicyEndpoint(pod) && std::find(pod.ips.begin(), pod.ips.end(), ip) != pod.ips.end())
      return Endpoint{&pod, ip};
  return addressEndpoint(ip);
}

Explanation evaluateEgress(const ClusterState& state, const Flow& flow) {
  // Only a policy endpoint has egress policy; anything else sends freely.
  if (std::string why = notAnEndpointWhy(flow.from, "egress"); !why.empty()) return {Verdict::Allow, why};
  return evaluateDirection(state, *flow.from.pod, Direction::Egress, flow.to, flow);
}

Explanation evaluateIngress(const ClusterState& state, const Flow& flow, const Options& options) {
  if (std::string why = notAnEndpointWhy(flow.to, "ingress"); !why.empty()) return {Verdict::Allow, why};
  const Pod& dest = *flow.to.pod;
  bool ownNode = options.ownNodeIngressAlwaysAllowed && fromOwnNode(state, dest, flow.from);
  return evaluateDirection(state, dest, Direction::Ingress, flow.from, flow, ownNode);
}

Explanation evaluate(const ClusterState& state, const Flow& flow, const Options& options) {
  // np.md: "a pod cannot block access to itself".
  if (options.loopbackAlwaysAllowed && selectablePod(flow.from) != nullptr && flow.from.pod == flow.to.pod)
    return {Verdict::Allow, flow.from.pod->meta.key() + " to itself: a pod cannot block access to itself"};
  // np.md: "for a connection from a source pod to a destination pod to be
  // allowed, both the egress policy on the source pod and the ingress policy
  // on the destination pod need to allow the connection."
  Explanation egress = evaluateEgress(state, flow);
  Explanation ingress = evaluateIngress(state, flow, options);
  Verdict v = egress.allowed() && ingress.allowed() ? Verdict::Allow : Verdict::Deny;
  return {v, egress.reason + "; " + ingress.reason};
}

std::string describe(const Endpoint& e) {
  if (e.pod == nullptr) return e.ip.str();
  return e.pod->meta.key() + (e.pod->hostNetwork ? " (hostNetwork, " : " (") + e.ip.str() + ")";
}

std::string describe(const Flow& f) {
  if (f.icmp) return describe(f.from) + " -> " + describe(f.to) + " icmp type " + std::to_string(f.icmpType);
  return describe(f.from) + " -> " + describe(f.to) + " " + std::to_string(f.port) + "/" + protocolName(f.proto);
}

const char* verdictName(Verdict v) { return v == Verdict::Allow ? "allow" : "deny"; }

}  // namespace sluice::reference
