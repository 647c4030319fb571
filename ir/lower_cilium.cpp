// CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy -> IR rules for one endpoint.
//
// Semantics (SEMANTICS.md, Cilium 1.16): a CNP's endpointSelector selects pods
// of its namespace, a CCNP's pods of every namespace. A direction is isolated
// by a selecting rule with a non-empty allow or deny list for it, unless
// enableDefaultDeny says otherwise. A rule has at most one kind of L3 field
// (the parser rejects mixing, as Cilium does); its items are OR'd and AND'd
// with toPorts; no L3 field means every peer. In a CNP an endpoint
// selector that does not name io.kubernetes.pod.namespace is confined to the
// policy's namespace. CIDR rules match only addresses outside the cluster.
// Endpoint selectors select pod identities; a `reserved:<name>` key selects
// that reserved identity instead. Deny rules win (ordering in lower.cpp).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

#include "ir/lower_context.h"

namespace sluice::ir {
namespace {

const std::string kNamespaceKey = "io.kubernetes.pod.namespace";
const std::string kNamespaceLabelsPrefix = "io.cilium.k8s.namespace.labels.";

std::string stripSource(const std::string& key, std::string* source = nullptr) {
  size_t colon = key.find(':');
  if (colon == std::string::npos) {
    if (source) *source = "any";
    return key;
  }
  if (source) *source = key.substr(0, colon);
  return key.substr(colon + 1);
}

// The key as Cilium's namespace checks see it: only the k8s source and
// "any" (no source, or `any:`) count; `container:io.kubernetes...` does not.
std::optional<std::string> k8sOrAnyKey(const std::string& key) {
  std::string source;
  std::string bare = stripSource(key, &source);
  if (source == "k8s" || source == "any") return bare;
  return std::nullopt;
}

bool mentionsNamespace(const LabelSelector& sel) {
  return std::any_of(sel.requirements.begin(), sel.requirements.end(), [](const LabelRequirement& r) {
    return k8sOrAnyKey(r.key) == kNamespaceKey;
  });
}

bool mentionsNamespaceLabels(const LabelSelector& sel) {
  return std::any_of(sel.requirements.begin(), sel.requirements.end(), [](const LabelRequirement& r) {
    auto key = k8sOrAnyKey(r.key);
    return key && key->starts_with(kNamespaceLabelsPrefix);
  });
}

// Does a Cilium selector select this identity?
bool ciliumSelects(const LabelSelector& sel, const IdentityInfo& info) {
  bool namesReserved = false;
  for (const auto& r : sel.requirements) {
    std::string source;
    std::string key = stripSource(r.key, &source);
    if (source == "reserved") {
      bool positive = r.op == LabelRequirement::Op::In || r.op == LabelRequirement::Op::Exists;
      bool isIt = info.reservedName == key;
      if (positive) namesReserved = true;
      if (positive != isIt) return false;
      continue;
    }
    LabelRequirement plain = r;
    plain.key = key;
    if (!plain.matches(info.ciliumLabels)) return false;
  }
  // Without a reserved: key, a selector selects pods only.
  return namesReserved || info.reservedName.empty();
}

bool mentionsReserved(const LabelSelector& sel) {
  return std::any_of(sel.requirements.begin(), sel.requirements.end(), [](const LabelRequirement& r) {
    std::string source;
    stripSource(r.key, &source);
    return source == "reserved";
  });
}

// Cilium adds the policy's namespace to a CNP's peer selector unless it
// names the pod namespace or namespace labels itself, or selects a reserved
// identity (which has none): getEndpointSelector in
// pkg/k8s/apis/cilium.io/utils/utils.go. (A CCNP's gets "namespace exists",
// which is what ciliumSelects does for a selector without reserved: keys.)
LabelSelector confineToNamespace(LabelSelector sel, const CiliumPolicy& cp) {
  if (cp.clusterwide || mentionsNamespace(sel) || mentionsNamespaceLabels(sel) || mentionsReserved(sel)) return sel;
  LabelRequirement r;
  r.key = "k8s:" + kNamespaceKey;
  r.op = LabelRequirement::Op::In;
  r.values = {cp.meta.namespace_};
  sel.requirements.push_back(std::move(r));
  return sel;
}

std::vector<int32_t> kafkaKeys(const sluice::KafkaRule& k) {
  if (k.role == "produce") return {0, 3, 18};
  if (k.role == "consume") return {1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18};
  if (k.apiKey) return {*k.apiKey};
  return {};
}

L7Rules lowerL7(const CiliumPortRule& pr) {
  L7Rules l7;
  for (const auto& h : pr.http) {
    ir::HttpRule r{h.method, h.path, h.host, h.headers, {}};
    for (const auto& m : h.headerMatches) r.headerMatches.emplace_back(m.name, m.value);
    l7.http.push_back(std::move(r));
  }
  for (const auto& k : pr.kafka) l7.kafka.push_back({kafkaKeys(k), k.apiVersion, k.clientID, k.topic});
  return l7;
}

// The addresses a Service's endpoints name: from its EndpointSlices, or its
// legacy Endpoints when it has none; endpoints that are neither ready nor
// serving (KEP-1672 defaults) are left out.
std::vector<IpAddr> serviceEndpointAddresses(const ClusterState& state, const std::string& ns,
                                             const std::string& name) {
  std::vector<IpAddr> out;
  auto usable = [](const EndpointConditions& c) {
    bool ready = c.ready.value_or(true);
    return ready || c.serving.value_or(ready);
  };
  bool sliced = false;
  for (const auto& slice : state.endpointSlices) {
    if (slice.meta.namespace_ != ns || slice.serviceName != name) continue;
    sliced = true;
    for (const auto& e : slice.endpoints)
      if (usable(e.conditions)) out.insert(out.end(), e.addresses.begin(), e.addresses.end());
  }
  if (!sliced)
    for (const auto& legacy : state.endpoints)
      if (legacy.meta.namespace_ == ns && legacy.meta.name == name)
        for (const auto& subset : legacy.subsets)
          for (const auto& e : subset.addresses)
            if (usable(e.conditions)) out.insert(out.end(), e.addresses.begin(), e.addresses.end());
  return out;
}

struct CiliumBuilder {
  const LowerContext& ctx;
  const CiliumPolicy& cp;
  const Pod& pod;
  Direction dir;
  DirectionPolicy& out;

  Peer resolvePeer(const CiliumPeerRule& pr) const {
    Peer peer;
    std::vector<std::string> text;
    if (pr.emptyPeerList) {
      peer.selectorText = "an empty L3 list ([]): selects no peer";
      return peer;
    }
    if (!pr.hasL3()) {
      // Only toPorts/icmps: every peer. Neither: nothing (SEMANTICS.md).
      peer.any = !pr.toPorts.empty() || !pr.icmps.empty();
      peer.selectorText = peer.any ? "every peer" : "empty rule: admits nothing";
      return peer;
    }
    for (const auto& raw : pr.endpoints) {
      LabelSelector sel = confineToNamespace(raw, cp);
      text.push_back("endpoints(" + sel.str() + ")");
      // A CCNP's peer selector gets "namespace exists" from Cilium: it never
      // selects an endpoint of no namespace (a container without a pod).
      bool podsOfNamespaces = cp.clusterwide && !mentionsNamespace(sel) && !mentionsReserved(sel);
      for (const IdentityInfo& info : ctx.identities)
        if (ciliumSelects(sel, info) && !(podsOfNamespaces && info.namespace_.empty()))
          peer.identities.push_back(info.id);
    }
    for (const auto& e : pr.entities) {
      text.push_back("entity " + e);
      addEntity(e, peer);
    }
    for (const auto& c : pr.cidrs) {
      peer.cidrs.push_back({c.cidr, c.except});
      text.push_back("cidr " + c.cidr.str());
    }
    peer.cidrMeaning = CidrMeaning::OutsideCluster;
    for (const auto& ref : pr.services) addServices(ref, peer, text);
    peer.selectorText = fmt::format("{}", fmt::join(text, " or "));
    return peer;
  }

  // Entities stay symbolic (the datapath matches them by identity class),
  // except where an entity names addresses rather than a class.
  void addEntity(const std::string& name, Peer& peer) const {
    if (name == "world-ipv4") {
      peer.entities.push_back(Entity::World);  // the datapath is IPv4-only: world-ipv4 = world
      return;
    }
    std::optional<Entity> ent = entityFromName(name);
    if (!ent) return;  // none, world-ipv6: nothing an IPv4 packet can come from
    peer.entities.push_back(*ent);
    // kube-apiserver is an address set: the endpoints of default/kubernetes,
    // whatever else they are (a node, or an address outside the cluster).
    // Cilium's cluster entity includes it too.
    if (*ent != Entity::KubeApiserver && *ent != Entity::Cluster) return;
    for (const IpAddr& ip : serviceEndpointAddresses(ctx.state, "default", "kubernetes")) {
      // `cluster` covers pods and nodes already: only an API server outside adds to it.
      if (*ent == Entity::Cluster && (ctx.podByIp.count(ip) || isNodeAddress(ip))) continue;
      peer.pods.emplace_back("kube-apiserver", ip);
    }
  }

  // toServices: a service with a selector means the pods it selects in its
  // namespace (Cilium translates it to an endpoint selector); one without a
  // selector means the addresses of its endpoints (Cilium's generated CIDRs),
  // which is how external services — headless ones included — are reached.
  void addServices(const CiliumServiceRef& ref, Peer& peer, std::vector<std::string>& text) const {
    if (!ref.selector && ref.name.empty()) {
      text.push_back("toServices {} (no service)");  // Cilium: an empty entry translates to no peer
      return;
    }
    std::string ns = ref.namespace_.empty() ? cp.meta.namespace_ : ref.namespace_;
    text.push_back(ref.selector ? fmt::format("services({}) in {}", ref.selector->str(), ns.empty() ? "*" : ns)
                                : fmt::format("service {}/{}", ns.empty() ? "*" : ns, ref.name));
    std::optional<LabelSelector> bySelector = ref.selector;  // keys may carry a source prefix (k8s:app)
    if (bySelector)
      for (auto& r : bySelector->requirements) r.key = stripSource(r.key);
    for (const sluice::Service& svc : ctx.state.services) {
      if (!ns.empty() && svc.meta.namespace_ != ns) continue;
      bool wanted = bySelector ? bySelector->matches(svc.meta.labels) : svc.meta.name == ref.name;
      if (!wanted) continue;
      if (svc.selector && !svc.selector->empty()) {
        for (const IdentityInfo& info : ctx.identities)
          if (info.namespace_ == svc.meta.namespace_ && selectsAll(*svc.selector, info.podLabels))
            peer.identities.push_back(info.id);
      } else {
        for (const IpAddr& ip : serviceEndpointAddresses(ctx.state, svc.meta.namespace_, svc.meta.name))
          peer.pods.emplace_back("service " + svc.meta.key(), ip);
      }
    }
  }

  bool isNodeAddress(const IpAddr& ip) const {
    for (const Node& n : ctx.state.nodes)
      if (std::find(n.ips.begin(), n.ips.end(), ip) != n.ips.end()) return true;
    return false;
  }

  static bool selectsAll(const Labels& selector, const Labels& labels) {
    for (const auto& [k, v] : selector) {
      auto it = labels.find(k);
      if (it == labels.end() || it->second != v) return false;
    }
    return true;
  }

  void emit(std::string name, std::string path, SourceLoc loc, const CiliumPeerRule& pr, const Peer& peer,
            L4Match l4, L7Rules l7) {
    Rule r;
    r.name = std::move(name);
    r.verdict = pr.deny ? Verdict::Deny : Verdict::Allow;
    r.peer = peer;
    r.l4 = std::move(l4);
    r.l7 = std::move(l7);
    r.origin = Provenance{cp.kindName() + " " + cp.meta.key(), std::move(path), std::move(loc)};
    out.rules.push_back(std::move(r));
  }

  void lowerPeerRule(size_t specIndex, const std::string& listName, size_t index, const CiliumPeerRule& pr) {
    std::string base = fmt::format("{}.{}.spec{}.{}{}", cp.clusterwide ? "ccnp" : "cnp",
                                   cp.clusterwide ? cp.meta.name : cp.meta.namespace_ + "." + cp.meta.name, specIndex,
                                   listName, index);
    const std::string& rulePath = cp.rules[specIndex].path;
    std::string path = fmt::format("{}.{}[{}]", rulePath.empty() ? "spec" : rulePath, listName, index);
    const Peer& peer = memoPeer(ctx, &pr, [&] { return resolvePeer(pr); });
    if (pr.toPorts.empty() && pr.icmps.empty()) {
      L4Match any;
      any.any = true;
      emit(base, path, pr.loc, pr, peer, any, {});
      return;
    }
    for (size_t k = 0; k < pr.toPorts.size(); ++k) {
      const CiliumPortRule& ports = pr.toPorts[k];
      std::string name = fmt::format("{}.ports{}", base, k);
      std::string p = fmt::format("{}.toPorts[{}]", path, k);
      L4Match l4;
      std::vector<const CiliumPortProtocol*> named;
      if (ports.ports.empty()) {
        for (Protocol proto : {Protocol::TCP, Protocol::UDP, Protocol::SCTP})
          l4.ports.push_back(PortRange{toL4(proto), 0, 65535, ""});
      }
      for (const auto& pp : ports.ports) {
        for (Protocol proto : pp.protocols) {
          if (pp.allPorts) {
            l4.ports.push_back(PortRange{toL4(proto), 0, 65535, ""});
          } else if (pp.port.isNamed()) {
            if (dir == Direction::Ingress) {
              if (auto n = resolveNamedPort(pod, pp.port.name, proto))
                l4.ports.push_back(PortRange{toL4(proto), *n, *n, pp.port.name});
            } else {
              named.push_back(&pp);
            }
          } else {
            uint16_t first = *pp.port.number;
            l4.ports.push_back(PortRange{toL4(proto), first, pp.endPort.value_or(first), ""});
          }
        }
      }
      if (!l4.matchesNothing() || named.empty()) emit(name, p, ports.loc, pr, peer, l4, lowerL7(ports));
      for (const CiliumPortProtocol* pp : named)
        for (Protocol proto : pp->protocols)
          for (const auto& [number, pods] : podsWithNamedPort(ctx, &pr, peer, pp->port.name, proto)) {
            Peer perPod;
            perPod.pods = pods;
            perPod.selectorText = peer.selectorText + " with port " + pp->port.name;
            L4Match one;
            one.ports.push_back(PortRange{toL4(proto), number, number, pp->port.name});
            emit(fmt::format("{}.{}-{}", name, pp->port.name, number), p, pp->loc, pr, perPod, one, lowerL7(ports));
          }
    }
    if (!pr.icmps.empty()) {
      L4Match l4;
      for (const auto& ic : pr.icmps)
        l4.icmps.push_back(IcmpType{ic.family == IpAddr::Family::V4 ? L4Proto::ICMP : L4Proto::ICMPv6, ic.type});
      emit(base + ".icmps", path + ".icmps", pr.icmps.front().loc, pr, peer, l4, {});
    }
  }
};

}  // namespace

void lowerCiliumPolicies(const LowerContext& ctx, const Pod& pod, Endpoint& ep) {
  const IdentityInfo* self = ctx.identity(ep.identity);
  if (!self) return;
  for (const CiliumPolicy* policy : ctx.ciliumPoliciesFor(pod.meta.namespace_)) {
    const CiliumPolicy& cp = *policy;
    std::string policyName = cp.kindName() + " " + cp.meta.key();
    for (size_t s = 0; s < cp.rules.size(); ++s) {
      const CiliumRule& rule = cp.rules[s];
      if (!ciliumSelects(rule.endpointSelector, *self)) continue;
      for (Direction dir : {Direction::Ingress, Direction::Egress}) {
        bool ingress = dir == Direction::Ingress;
        DirectionPolicy& dp = ingress ? ep.ingress : ep.egress;
        bool section = ingress ? rule.ingressSectionPresent : rule.egressSectionPresent;
        std::optional<bool> defaultDeny = ingress ? rule.defaultDenyIngress : rule.defaultDenyEgress;
        if (section && defaultDeny.value_or(true)) {
          dp.enforced = true;
          dp.enforcedBy.push_back(policyName);
        }
        CiliumBuilder b{ctx, cp, pod, dir, dp};
        const auto& list = ingress ? rule.ingress : rule.egress;
        size_t allowIndex = 0, denyIndex = 0;
        for (const CiliumPeerRule& pr : list) {
          std::string listName = std::string(ingress ? "ingress" : "egress") + (pr.deny ? "Deny" : "");
          b.lowerPeerRule(s, listName, pr.deny ? denyIndex++ : allowIndex++, pr);
        }
      }
    }
  }
}

}  // namespace sluice::ir
