// Kubernetes NetworkPolicy -> IR rules for one endpoint.
//
// Semantics (SEMANTICS.md): a policy isolates the pods it selects in the
// directions of its (defaulted) policyTypes; rules of all policies are OR'd;
// peers within a rule are OR'd, namespaceSelector and podSelector inside one
// peer are AND'd; absent/empty peer and port lists mean "all"; a named port is
// resolved on the destination pod, per pod — for ingress that is the endpoint
// itself, for egress each destination pod separately.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "ir/lower_context.h"

namespace sluice::ir {
namespace {

std::string peerText(const NetworkPolicyPeer& peer, const std::string& policyNs) {
  if (peer.ipBlock) {
    std::string t = "ipBlock " + peer.ipBlock->cidr.str();
    if (!peer.ipBlock->except.empty()) {
      std::vector<std::string> ex;
      for (const auto& e : peer.ipBlock->except) ex.push_back(e.str());
      t += fmt::format(" except {}", fmt::join(ex, ","));
    }
    return t;
  }
  std::string pods = peer.podSelector ? "pods(" + peer.podSelector->str() + ")" : "all pods";
  std::string nss = peer.namespaceSelector ? "namespaces(" + peer.namespaceSelector->str() + ")"
                                           : "namespace " + policyNs;
  return pods + " in " + nss;
}

Peer resolvePeer(const LowerContext& ctx, const NetworkPolicyPeer& p, const std::string& policyNs) {
  Peer peer;
  peer.selectorText = peerText(p, policyNs);
  if (p.ipBlock) {
    peer.cidrs.push_back({p.ipBlock->cidr, p.ipBlock->except});
    peer.cidrMeaning = CidrMeaning::AnyAddress;
    return peer;
  }
  for (const IdentityInfo& info : ctx.identities) {
    if (!info.reservedName.empty()) continue;  // selectors select pods only
    bool nsOk = p.namespaceSelector ? p.namespaceSelector->matches(info.namespaceLabels) : info.namespace_ == policyNs;
    bool podOk = !p.podSelector || p.podSelector->matches(info.podLabels);
    if (nsOk && podOk) peer.identities.push_back(info.id);
  }
  return peer;
}

PortRange numericRange(const NetworkPolicyPort& p) {
  PortRange r;
  r.proto = toL4(p.protocol);
  if (p.port && p.port->number) {
    r.first = *p.port->number;
    r.last = p.endPort.value_or(r.first);
  }
  return r;  // no port: every port of the protocol
}

struct RuleBuilder {
  const LowerContext& ctx;
  const NetworkPolicy& np;
  const Pod& pod;  // the endpoint
  Direction dir;
  DirectionPolicy& out;

  std::string baseName(size_t ruleIndex) const {
    return fmt::format("np.{}.{}.{}{}", np.meta.namespace_, np.meta.name,
                       dir == Direction::Ingress ? "ingress" : "egress", ruleIndex);
  }
  std::string rulePath(size_t ruleIndex) const {
    return fmt::format("spec.{}[{}]", dir == Direction::Ingress ? "ingress" : "egress", ruleIndex);
  }

  void lowerRule(size_t ruleIndex, const NetworkPolicyRule& rule) {
    const char* peersKey = dir == Direction::Ingress ? "from" : "to";
    // One IR rule per peer, so `trace` can name the peer that admitted a packet.
    struct PeerSource {
      Peer peer;
      std::string nameSuffix, pathSuffix;
      SourceLoc loc;
      const void* source;  // the input it came from: the memo's key
    };
    std::vector<PeerSource> peers;
    if (rule.peers.empty()) {
      Peer any;
      any.any = true;
      any.selectorText = "every peer";
      peers.push_back({std::move(any), "", "", rule.loc, &rule});
    }
    for (size_t j = 0; j < rule.peers.size(); ++j)
      peers.push_back({memoPeer(ctx, &rule.peers[j], [&] { return resolvePeer(ctx, rule.peers[j], np.meta.namespace_); }),
                       fmt::format(".{}{}", peersKey, j), fmt::format(".{}[{}]", peersKey, j), rule.peers[j].loc,
                       &rule.peers[j]});

    // Ports: numeric (and absent) ports apply to every peer; named ports resolve
    // on the destination pod.
    L4Match fixed;
    std::vector<const NetworkPolicyPort*> named;
    if (rule.ports.empty()) fixed.any = true;
    for (const auto& p : rule.ports) {
      if (p.port && p.port->isNamed()) {
        if (dir == Direction::Ingress) {
          if (auto n = resolveNamedPort(pod, p.port->name, p.protocol)) {
            PortRange r{toL4(p.protocol), *n, *n, p.port->name};
            fixed.ports.push_back(r);
          }
          // Not on this pod: the port matches nothing here (other ports may still).
        } else {
          named.push_back(&p);
        }
      } else {
        fixed.ports.push_back(numericRange(p));
      }
    }

    for (auto& src : peers) {
      Provenance origin{"NetworkPolicy " + np.meta.key(), rulePath(ruleIndex) + src.pathSuffix, src.loc};
      bool emitFixed = !fixed.matchesNothing() || named.empty();
      if (emitFixed) {
        Rule r;
        r.name = baseName(ruleIndex) + src.nameSuffix;
        r.verdict = Verdict::Allow;
        r.peer = src.peer;
        r.l4 = fixed;
        r.origin = origin;
        out.rules.push_back(std::move(r));
      }
      // Egress named ports: group destination pods by the number the name resolves to.
      for (const NetworkPolicyPort* p : named) {
        for (const auto& [number, pods] : podsWithNamedPort(ctx, src.source, src.peer, p->port->name, p->protocol)) {
          Rule r;
          r.name = fmt::format("{}{}.{}-{}", baseName(ruleIndex), src.nameSuffix, p->port->name, number);
          r.verdict = Verdict::Allow;
          r.peer.pods = pods;
          r.peer.selectorText = src.peer.selectorText + " with port " + p->port->name;
          r.l4.ports.push_back(PortRange{toL4(p->protocol), number, number, p->port->name});
          r.origin = origin;
          out.rules.push_back(std::move(r));
        }
      }
    }
  }
};

}  // namespace

void lowerNetworkPolicies(const LowerContext& ctx, const Pod& pod, Endpoint& ep) {
  for (const NetworkPolicy* policy : ctx.networkPoliciesIn(pod.meta.namespace_)) {
    const NetworkPolicy& np = *policy;
    if (!np.podSelector.matches(pod.meta.labels)) continue;
    std::string name = "NetworkPolicy " + np.meta.key();
    if (np.ingressType) {
      ep.ingress.enforced = true;
      ep.ingress.enforcedBy.push_back(name);
      RuleBuilder b{ctx, np, pod, Direction::Ingress, ep.ingress};
      for (size_t i = 0; i < np.ingress.size(); ++i) b.lowerRule(i, np.ingress[i]);
    }
    if (np.egressType) {
      ep.egress.enforced = true;
      ep.egress.enforcedBy.push_back(name);
      RuleBuilder b{ctx, np, pod, Direction::Egress, ep.egress};
      for (size_t i = 0; i < np.egress.size(); ++i) b.lowerRule(i, np.egress[i]);
    }
  }
}

}  // namespace sluice::ir
