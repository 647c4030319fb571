// Reference evaluator, Cilium half: CiliumNetworkPolicy (CNP) and
// CiliumClusterwideNetworkPolicy (CCNP) at L3/L4, for one direction of one
// endpoint pod. reference.cpp combines it with NetworkPolicy.
//
// Like the NetworkPolicy half it reads only the frontend's typed model and
// re-implements every match (selectors, entities, CIDRs, services, ports);
// nothing comes from ir/ or codegen/. Sources, cited below:
//   "SEM"   ../../shared/design/SEMANTICS.md (Cilium 1.16 facts)
//   "DOC"   docs/semantics.md (sluice's choices)
//   "L3"    docs.cilium.io policy/language, "Layer 3 Examples" (endpoints,
//           entities, IP/CIDR, services), "Layer 4 Examples" (ports, ICMP)
//   "K8S"   docs.cilium.io policy/kubernetes (namespaces, service accounts,
//           the labels Cilium derives from Kubernetes)
//   "DENY"  docs.cilium.io policy/language "Deny Policies"
//   "EDD"   the CRD's enableDefaultDeny field (Cilium 1.15+)
//   "UTILS" cilium pkg/k8s/apis/cilium.io/utils getEndpointSelector (how a
//           CNP's peer selectors are confined to its namespace)
#include <algorithm>
#include <string>
#include <vector>

#include "tests/reference/reference_internal.h"

namespace sluice::reference::detail {
namespace {

const std::string kNamespaceKey = "io.kubernetes.pod.namespace";

// ---- who the far end is --------------------------------------------------

// The far end of a connection as Cilium's identities see it from the node
// of the enforcing pod: an endpoint pod, or one reserved identity.
struct Peer {
  const Pod* pod = nullptr;  // an endpoint pod (its labels decide)
  std::string reserved;      // else "host", "remote-node", "kube-apiserver" or "world"
  IpAddr ip;
  bool kubeApiserver = false;  // an address of Service default/kubernetes's endpoints
};

bool nodeHasIp(const Node& node, const IpAddr& ip) {
  return std::find(node.ips.begin(), node.ips.end(), ip) != node.ips.end();
}

// The addresses behind a Service by its endpoints objects: its EndpointSlices
// (label kubernetes.io/service-name), or its legacy Endpoints when it has no
// slice (DOC "Services": "A Service uses its legacy Endpoints only when it has
// no EndpointSlice"). Like Cilium's endpoint parsing, an endpoint that is
// neither ready nor serving is left out (a nil `ready` reads as true, a nil
// `serving` as `ready`: KEP-1672); legacy notReadyAddresses are not ready.
bool readyOrServing(const EndpointConditions& c) {
  bool ready = c.ready.value_or(true);
  return ready || c.serving.value_or(ready);
}

std::vector<IpAddr> serviceAddresses(const ClusterState& state, const std::string& ns, const std::string& name) {
  std::vector<IpAddr> out;
  bool haveSlice = false;
  for (const EndpointSlice& slice : state.endpointSlices) {
    if (slice.meta.namespace_ != ns || slice.serviceName != name) continue;
    haveSlice = true;
    for (const SliceEndpoint& e : slice.endpoints)
      if (readyOrServing(e.conditions)) out.insert(out.end(), e.addresses.begin(), e.addresses.end());
  }
  if (haveSlice) return out;
  for (const Endpoints& eps : state.endpoints) {
    if (eps.meta.namespace_ != ns || eps.meta.name != name) continue;
    for (const EndpointsSubset& subset : eps.subsets)
      for (const SliceEndpoint& e : subset.addresses)
        if (readyOrServing(e.conditions)) out.insert(out.end(), e.addresses.begin(), e.addresses.end());
  }
  return out;
}

bool contains(const std::vector<IpAddr>& v, const IpAddr& ip) { return std::find(v.begin(), v.end(), ip) != v.end(); }

// L3 "Entities Based": host = the local node; remote-node = the other nodes;
// world = everything outside the cluster; kube-apiserver = the API server's
// addresses (Cilium reads the endpoints of default/kubernetes). A node's
// addresses are its InternalIP and ExternalIP (a hostNetwork pod sends from
// them). An address that is an endpoint pod's is that pod (the datapath
// resolves addresses), whatever the Flow called it.
Peer peerOf(const ClusterState& state, const Pod& self, const Endpoint& other) {
  Peer p;
  p.ip = other.ip;
  p.kubeApiserver = contains(serviceAddresses(state, "default", "kubernetes"), other.ip);
  p.pod = selectablePod(other);
  if (p.pod == nullptr) p.pod = selectablePod(endpointForAddress(state, other.ip));
  if (p.pod != nullptr) return p;
  const Node* own = state.findNode(self.nodeName);
  if (own != nullptr && nodeHasIp(*own, other.ip)) {
    p.reserved = "host";
    return p;
  }
  for (const Node& n : state.nodes)
    if (nodeHasIp(n, other.ip)) {
      p.reserved = "remote-node";
      return p;
    }
  // An API server outside the cluster gets its own identity in Cilium, so it
  // is not world (choice; the generator puts it on a node address).
  p.reserved = p.kubeApiserver ? "kube-apiserver" : "world";
  return p;
}

// ---- Cilium label selectors ----------------------------------------------

// "k8s:app" -> source "k8s", key "app"; no source means `any` (SEM: "Label
// keys may carry a source prefix (k8s:, any:); unprefixed matches any source").
// Validated label keys contain no ':', so the first one ends the source.
void splitSource(const std::string& raw, std::string& source, std::string& key) {
  size_t colon = raw.find(':');
  source = colon == std::string::npos ? "any" : raw.substr(0, colon);
  key = colon == std::string::npos ? raw : raw.substr(colon + 1);
}

bool isPositive(const LabelRequirement& r) {
  return r.op == LabelRequirement::Op::In || r.op == LabelRequirement::Op::Exists;
}

bool hasPositiveReserved(const LabelSelector& sel) {
  for (const LabelRequirement& r : sel.requirements) {
    std::string source, key;
    splitSource(r.key, source, key);
    if (source == "reserved" && isPositive(r)) return true;
  }
  return false;
}

// K8S: the labels Cilium derives for a pod, all of source k8s: its own
// labels, io.kubernetes.pod.namespace, io.cilium.k8s.namespace.labels.<k> for
// each label of its namespace, io.cilium.k8s.policy.serviceaccount.
Labels podCiliumLabels(const ClusterState& state, const Pod& pod) {
  Labels l = pod.meta.labels;
  l[kNamespaceKey] = pod.meta.namespace_;
  for (const auto& [k, v] : namespaceLabels(state, pod.meta.namespace_)) l["io.cilium.k8s.namespace.labels." + k] = v;
  l["io.cilium.k8s.policy.serviceaccount"] = pod.serviceAccount;  // the frontend defaults it to "default"
  // CIL SanitizePodLabels (pkg/k8s/utils/utils.go): the cluster's name, by
  // default "default" (pkg/defaults/cluster.go).
  l["io.cilium.k8s.policy.cluster"] = "default";
  return l;
}

// Does a Cilium selector select the peer. Each requirement is matched in its
// source: a pod's labels are all k8s ones, a reserved identity's only label is
// reserved:<name> (value ""). DOC "Cilium": "Endpoint selectors select pod
// identities. A key with the reserved: source selects that reserved identity
// instead" — so a selector without a positive reserved: requirement never
// selects a reserved identity, and one with it never selects a pod.
bool ciliumSelects(const ClusterState& state, const LabelSelector& sel, const Peer& peer) {
  const bool namesReserved = hasPositiveReserved(sel);
  if ((peer.pod != nullptr) == namesReserved) return false;
  Labels k8s, reserved;
  if (peer.pod != nullptr) k8s = podCiliumLabels(state, *peer.pod);
  else reserved[peer.reserved] = "";
  for (const LabelRequirement& r : sel.requirements) {
    std::string source, key;
    splitSource(r.key, source, key);
    LabelRequirement bare = r;
    bare.key = key;
    // `any` looks in every source; other sources only in their own.
    Labels in;
    if (source == "k8s" || source == "any") in.insert(k8s.begin(), k8s.end());
    if (source == "reserved" || source == "any") in.insert(reserved.begin(), reserved.end());
    if (!requirementMatches(bare, in)) return false;
  }
  return true;
}

// Is a CNP's peer selector confined to the policy's namespace. SEM/L3: "a
// fromEndpoints/toEndpoints selector that does not mention
// io.kubernetes.pod.namespace (with or without the k8s: prefix) is restricted
// to the policy's namespace"; a CCNP's never is. UTILS: a selector with any
// reserved: key is left alone ("The k8s prefix must not be added to reserved
// labels" returns before the namespace is added), so `reserved:host` in a
// CNP selects the host, not nothing.
bool confinedToNamespace(const CiliumPolicy& cp, const LabelSelector& sel) {
  if (cp.clusterwide) return false;
  for (const LabelRequirement& r : sel.requirements) {
    std::string source, key;
    splitSource(r.key, source, key);
    if (source == "reserved") return false;
    // CIL getEndpointSelector (pkg/k8s/apis/cilium.io/utils/utils.go): a key
    // of the k8s or any source naming the pod namespace or a namespace label.
    bool k8sOrAny = source == "k8s" || source == "any";
    if (k8sOrAny && (key == kNamespaceKey || key.starts_with("io.cilium.k8s.namespace.labels."))) return false;
  }
  return true;
}

// ---- L3 --------------------------------------------------------------------

// L3 "Entities Based" over the peer. SEM: "cluster = all pods and nodes";
// the API server's addresses are cluster too (Cilium's cluster entity
// includes kube-apiserver). health, init, unmanaged, ingress: identities
// sluice never gives an address; none: nothing.
bool entityMatches(const std::string& entity, const Peer& p) {
  if (entity == "all") return true;
  if (entity == "world") return p.reserved == "world";
  if (entity == "cluster") return p.pod != nullptr || p.reserved == "host" || p.reserved == "remote-node" ||
                                  p.kubeApiserver;
  if (entity == "host") return p.reserved == "host";
  if (entity == "remote-node") return p.reserved == "remote-node";
  if (entity == "kube-apiserver") return p.kubeApiserver;
  return false;
}

// L3 "IP/CIDR based" + SEM: CIDR rules "do not match cluster pods or node IPs,
// even when the prefix covers them" (DOC: "match only addresses whose
// identity is world"). An except prefix takes its addresses out.
bool cidrMatches(const CiliumCIDRRule& c, const Peer& p) {
  if (p.reserved != "world" || !inCidr(c.cidr, p.ip)) return false;
  for (const Cidr& ex : c.except)
    if (inCidr(ex, p.ip)) return false;
  return true;
}

// A k8sServiceSelector's selector over a Service's labels (which are k8s
// labels: an `any` or `k8s` key matches them, other sources match nothing).
bool serviceSelectorMatches(const LabelSelector& sel, const Labels& labels) {
  for (const LabelRequirement& r : sel.requirements) {
    std::string source, key;
    splitSource(r.key, source, key);
    LabelRequirement bare = r;
    bare.key = key;
    if (!requirementMatches(bare, source == "k8s" || source == "any" ? labels : Labels{})) return false;
  }
  return true;
}

// L3 "Services based": toServices names Services by name (k8sService) or by
// their labels (k8sServiceSelector); an empty namespace means the CNP's own,
// and for a CCNP every namespace. A Service with a selector stands for the
// endpoint pods of its namespace that the selector matches (Cilium turns the
// rule into toEndpoints with that selector); one without stands for the
// addresses of its endpoints, matched by address whatever identity they have.
std::string servicesMatch(const ClusterState& state, const CiliumPolicy& cp, const CiliumServiceRef& ref,
                          const Peer& p) {
  const std::string ns = ref.namespace_.empty() ? (cp.clusterwide ? "" : cp.meta.namespace_) : ref.namespace_;
  for (const Service& svc : state.services) {
    if (!ns.empty() && svc.meta.namespace_ != ns) continue;
    if (ref.selector ? !serviceSelectorMatches(*ref.selector, svc.meta.labels) : svc.meta.name != ref.name) continue;
    if (svc.selector && !svc.selector->empty()) {
      if (p.pod == nullptr || p.pod->meta.namespace_ != svc.meta.namespace_) continue;
      bool all = true;
      for (const auto& [k, v] : *svc.selector) {
        auto it = p.pod->meta.labels.find(k);
        all = all && it != p.pod->meta.labels.end() && it->second == v;
      }
      if (all) return "service " + svc.meta.key() + " selects the pod";
    } else if (contains(serviceAddresses(state, svc.meta.namespace_, svc.meta.name), p.ip)) {
      return "service " + svc.meta.key() + " has endpoint " + p.ip.str();
    }
  }
  return "";
}

// The L3 part of one peer rule: why it admits the peer, or "". SEM: "Within
// one rule, the L3 fields (endpoints, entities, CIDR, CIDRSet) are OR'd ...; a
// rule with only toPorts admits every peer; a rule with neither admits
// nothing". CIL SetAggregatedSelectors (pkg/policy/api/ingress.go): an
// endpoints, CIDR, CIDRSet or entities list given empty selects no peer for
// the whole rule; toServices: [] counts as absent.
std::string l3Matches(const ClusterState& state, const CiliumPolicy& cp, const CiliumPeerRule& pr, bool ingress,
                      const Peer& p) {
  const std::string from = ingress ? "from" : "to";
  if (pr.emptyPeerList) return "";
  bool hasL3 = !pr.endpoints.empty() || !pr.cidrs.empty() || !pr.entities.empty() || !pr.services.empty();
  if (!hasL3) return pr.toPorts.empty() && pr.icmps.empty() ? "" : "every peer";
  for (size_t i = 0; i < pr.endpoints.size(); ++i) {
    const LabelSelector& sel = pr.endpoints[i];
    if (confinedToNamespace(cp, sel) && (p.pod == nullptr || p.pod->meta.namespace_ != cp.meta.namespace_)) continue;
    if (ciliumSelects(state, sel, p))
      return from + "Endpoints[" + std::to_string(i) + "] " + sel.str() +
             (confinedToNamespace(cp, sel) ? " in " + cp.meta.namespace_ : "");
  }
  for (const std::string& e : pr.entities)
    if (entityMatches(e, p)) return from + "Entities " + e;
  for (const CiliumCIDRRule& c : pr.cidrs)
    if (cidrMatches(c, p)) return from + "CIDR " + c.cidr.str() + (c.except.empty() ? "" : " except ...");
  for (const CiliumServiceRef& ref : pr.services)
    if (std::string why = servicesMatch(state, cp, ref, p); !why.empty()) return "toServices " + why;
  return "";
}

// ---- L4 --------------------------------------------------------------------

// The L4 part of one peer rule: why it admits the flow, or "". L4: no toPorts
// and no icmps = every protocol and port, ICMP included. A port entry:
// protocol TCP/UDP/SCTP, ANY or absent = all three (SEM); port 0 = every port
// (the parser sets allPorts); endPort makes a range; a name resolves on the
// destination pod's container ports of that protocol (for ingress the pod
// itself, for egress the destination) and a destination without it never
// matches. icmps: ICMPv4 of that type.
std::string l4Matches(const CiliumPeerRule& pr, const Flow& flow, const Pod* dest) {
  if (pr.toPorts.empty() && pr.icmps.empty()) return "all ports";
  for (size_t k = 0; k < pr.toPorts.size() && !flow.icmp; ++k) {
    const CiliumPortRule& rule = pr.toPorts[k];
    const std::string at = "toPorts[" + std::to_string(k) + "]";
    // A toPorts item without ports (`toPorts: [{}]`): every TCP, UDP and SCTP
    // port, as the frontend's model says ("empty: all ports"); not ICMP,
    // which only icmps names. (The generator does not write it: Cilium's
    // meaning of it is undocumented.)
    if (rule.ports.empty()) return at + " all ports";
    for (const CiliumPortProtocol& pp : rule.ports) {
      if (std::find(pp.protocols.begin(), pp.protocols.end(), flow.proto) == pp.protocols.end()) continue;
      const std::string proto = protocolName(flow.proto);
      if (pp.allPorts) return at + " all " + proto;
      if (pp.port.isNamed()) {
        if (servesNamedPort(dest, pp.port.name, flow.proto, flow.port))
          return at + " " + pp.port.name + "=" + std::to_string(flow.port) + "/" + proto;
        continue;
      }
      unsigned first = *pp.port.number, last = pp.endPort ? unsigned(*pp.endPort) : first;
      if (first <= flow.port && flow.port <= last)
        return at + " " + std::to_string(first) + (pp.endPort ? "-" + std::to_string(last) : "") + "/" + proto;
    }
  }
  for (const IcmpField& f : pr.icmps)
    if (flow.icmp && f.family == IpAddr::Family::V4 && f.type == flow.icmpType)
      return "icmps type " + std::to_string(f.type);
  return "";
}

}  // namespace

CiliumDirection evaluateCilium(const ClusterState& state, const Pod& self, Direction dir, const Endpoint& other,
                               const Flow& flow) {
  CiliumDirection out;
  if (state.ciliumPolicies.empty()) return out;
  const bool ingress = dir == Direction::Ingress;
  const Peer peer = peerOf(state, self, other);
  const Peer selfPeer{&self, "", {}, false};
  // The destination pod, on which named ports resolve.
  const Pod* dest = ingress ? &self : peer.pod;

  for (const CiliumPolicy& cp : state.ciliumPolicies) {
    // SEM: "A CNP's endpointSelector selects pods of the CNP's namespace; a
    // CCNP's, pods of every namespace. spec and each item of specs are
    // separate rules."
    if (!cp.clusterwide && cp.meta.namespace_ != self.meta.namespace_) continue;
    for (const CiliumRule& rule : cp.rules) {
      // (Host policies, nodeSelector, are refused by the frontend.)
      if (!ciliumSelects(state, rule.endpointSelector, selfPeer)) continue;
      const std::string name = cp.kindName() + " " + cp.meta.key() + " " + rule.path;
      // SEM: "A direction becomes default-deny for selected pods when a
      // selecting rule has a non-empty ingress or ingressDeny list (resp.
      // egress), unless enableDefaultDeny turns it off" (EDD: default true).
      bool section = ingress ? rule.ingressSectionPresent : rule.egressSectionPresent;
      std::optional<bool> defaultDeny = ingress ? rule.defaultDenyIngress : rule.defaultDenyEgress;
      if (section && defaultDeny.value_or(true)) out.isolatedBy.push_back(name);

      // The parser keeps allow and deny items in one list (deny flagged),
      // allow items first; each list counts its own index.
      size_t allowIndex = 0, denyIndex = 0;
      for (const CiliumPeerRule& pr : ingress ? rule.ingress : rule.egress) {
        const std::string list = std::string(ingress ? "ingress" : "egress") + (pr.deny ? "Deny" : "");
        const size_t index = pr.deny ? denyIndex++ : allowIndex++;
        std::string& slot = pr.deny ? out.denied : out.allowed;
        if (!slot.empty()) continue;  // the first match of each kind is the reason
        std::string l3 = l3Matches(state, cp, pr, ingress, peer);
        if (l3.empty()) continue;
        std::string l4 = l4Matches(pr, flow, dest);
        if (l4.empty()) continue;
        // DENY: a deny rule drops what it matches whatever allows it — even in
        // a rule whose enableDefaultDeny is false (that only drops the
        // implicit default deny).
        slot = name + "." + list + "[" + std::to_string(index) + "] (" + l3 + ", " + l4 + ")";
      }
    }
  }
  return out;
}

}  // namespace sluice::reference::detail
