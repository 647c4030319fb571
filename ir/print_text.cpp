#include <fmt/format.h>

#include <iostream>

#include "ir/print.h"

namespace sluice::ir {

const char* entityName(Entity e) {
  switch (e) {
    case Entity::Host: return "host";
    case Entity::RemoteNode: return "remote-node";
    case Entity::Cluster: return "cluster";
    case Entity::World: return "world";
    case Entity::All: return "all";
    case Entity::Health: return "health";
    case Entity::Init: return "init";
    case Entity::Unmanaged: return "unmanaged";
    case Entity::KubeApiserver: return "kube-apiserver";
    case Entity::Ingress: return "ingress";
  }
  return "?";
}

std::optional<Entity> entityFromName(const std::string& name) {
  for (Entity e : {Entity::Host, Entity::RemoteNode, Entity::Cluster, Entity::World, Entity::All, Entity::Health,
                   Entity::Init, Entity::Unmanaged, Entity::KubeApiserver, Entity::Ingress})
    if (name == entityName(e)) return e;
  return std::nullopt;
}

const char* l4ProtoName(L4Proto p) {
  switch (p) {
    case L4Proto::TCP: return "TCP";
    case L4Proto::UDP: return "UDP";
    case L4Proto::SCTP: return "SCTP";
    case L4Proto::ICMP: return "ICMP";
    case L4Proto::ICMPv6: return "ICMPv6";
  }
  return "?";
}

L4Proto toL4(Protocol p) {
  switch (p) {
    case Protocol::TCP: return L4Proto::TCP;
    case Protocol::UDP: return L4Proto::UDP;
    case Protocol::SCTP: return L4Proto::SCTP;
  }
  return L4Proto::TCP;
}

const char* frontendKindName(FrontendKind k) {
  switch (k) {
    case FrontendKind::ClusterIP: return "cluster-ip";
    case FrontendKind::NodePort: return "node-port";
    case FrontendKind::ExternalIP: return "external-ip";
    case FrontendKind::LoadBalancer: return "load-balancer";
  }
  return "?";
}

static std::string pad(int indent) { return std::string(size_t(indent), ' '); }

template <typename T, typename F>
static std::string joined(const std::vector<T>& items, F&& each, const char* sep = ",") {
  std::string out;
  for (const auto& x : items) {
    if (!out.empty()) out += sep;
    out += each(x);
  }
  return out;
}

static std::string ips(const std::vector<IpAddr>& v) {
  return joined(v, [](const IpAddr& a) { return a.str(); });
}

std::string str(const Identity& id) {
  if (id.isReserved()) return fmt::format("identity {} {}", id.id, fmt::join(id.labels, " "));
  return fmt::format("identity {} namespace {} labels {}", id.id, id.namespace_, fmt::join(id.labels, " "));
}

std::string str(const Peer& peer) {
  if (peer.any) return "any";
  if (peer.matchesNothing()) return "none";
  std::vector<std::string> parts;
  if (!peer.identities.empty())
    parts.push_back("identities{" + joined(peer.identities, [](IdentityId i) { return std::to_string(i); }) + "}");
  if (!peer.entities.empty())
    parts.push_back("entities{" + joined(peer.entities, [](Entity e) { return std::string(entityName(e)); }) + "}");
  if (!peer.cidrs.empty()) {
    const char* meaning = peer.cidrMeaning == CidrMeaning::AnyAddress ? "cidrs" : "world-cidrs";
    parts.push_back(fmt::format("{}{{{}}}", meaning, joined(peer.cidrs, [](const CidrRule& c) {
                                  std::string s = c.cidr.str();
                                  for (const auto& e : c.except) s += " except " + e.str();
                                  return s;
                                })));
  }
  if (!peer.pods.empty())
    parts.push_back("addresses{" + joined(peer.pods, [](const auto& p) { return p.first + "=" + p.second.str(); }) +
                    "}");
  return fmt::format("{}", fmt::join(parts, " | "));
}

static std::string str(const PortRange& r) {
  std::string s = l4ProtoName(r.proto);
  if (r.allPorts()) s += "/*";
  else if (r.first == r.last) s += fmt::format("/{}", r.first);
  else s += fmt::format("/{}-{}", r.first, r.last);
  if (!r.fromName.empty()) s += "(" + r.fromName + ")";
  return s;
}

std::string str(const L4Match& l4) {
  if (l4.any) return "any";
  if (l4.matchesNothing()) return "none";
  std::vector<std::string> parts;
  for (const auto& p : l4.ports) parts.push_back(str(p));
  for (const auto& i : l4.icmps) parts.push_back(fmt::format("{}/type{}", l4ProtoName(i.proto), i.type));
  return "{" + fmt::format("{}", fmt::join(parts, ",")) + "}";
}

std::string str(const L7Rules& l7) {
  std::vector<std::string> parts;
  for (const auto& h : l7.http) {
    std::string s = fmt::format("http{{method={:?} path={:?} host={:?}", h.method, h.path, h.host);
    for (const auto& hd : h.headers) s += fmt::format(" header={:?}", hd);
    for (const auto& [name, value] : h.headerMatches)
      s += value ? fmt::format(" headerMatch={:?}={:?}", name, *value) : fmt::format(" headerMatch={:?}", name);
    parts.push_back(s + "}");
  }
  for (const auto& k : l7.kafka) {
    std::string s = "kafka{apiKeys=" + (k.apiKeys.empty() ? std::string("*") : fmt::format("{}", fmt::join(k.apiKeys, ",")));
    if (k.apiVersion) s += fmt::format(" apiVersion={}", *k.apiVersion);
    if (!k.clientID.empty()) s += fmt::format(" clientID={:?}", k.clientID);
    if (!k.topic.empty()) s += fmt::format(" topic={:?}", k.topic);
    parts.push_back(s + "}");
  }
  return fmt::format("{}", fmt::join(parts, " "));
}

std::string str(const Rule& rule) {
  std::string s = fmt::format("{} {} peer {} ports {}", rule.verdict == Verdict::Allow ? "allow" : "deny", rule.name,
                              str(rule.peer), str(rule.l4));
  if (!rule.l7.empty()) s += " l7 " + str(rule.l7);
  s += fmt::format("  # {} {} @ {}", rule.origin.policy, rule.origin.path, rule.origin.loc.fileLine());
  if (!rule.peer.selectorText.empty()) s += " (" + rule.peer.selectorText + ")";
  return s;
}

std::string str(const DirectionPolicy& dp, Direction dir, int indent) {
  const char* name = dir == Direction::Ingress ? "ingress" : "egress";
  std::string out = pad(indent) + name;
  if (dp.enforced) out += fmt::format(" enforced by {}", fmt::join(dp.enforcedBy, ", "));
  else out += " not isolated";
  out += "\n";
  for (const auto& r : dp.rules) out += pad(indent + 2) + str(r) + "\n";
  return out;
}

std::string str(const Endpoint& ep, int indent) {
  std::string out = fmt::format("{}endpoint {} identity {} ip {}  # @ {}\n", pad(indent), ep.key(), ep.identity,
                                ips(ep.ips), ep.loc.fileLine());
  for (const auto& p : ep.namedPorts)
    out += fmt::format("{}named-port {} {}/{}\n", pad(indent + 2), p.name, l4ProtoName(p.proto), p.port);
  out += str(ep.ingress, Direction::Ingress, indent + 2);
  out += str(ep.egress, Direction::Egress, indent + 2);
  return out;
}

std::string str(const IpcacheEntry& e) {
  return fmt::format("ipcache {} identity {} {}", e.prefix.str(), e.identity, e.owner);
}

static std::string str(const Backend& b, const char* what) {
  std::string s = fmt::format("{} {}:{}", what, b.ip.str(), b.port);
  if (!b.pod.empty()) s += " pod " + b.pod;
  if (!b.node.empty()) s += " node " + b.node;
  if (b.local) s += " local";
  if (b.terminating) s += " terminating";
  return s;
}

static bool sameBackends(const std::vector<Backend>& a, const std::vector<Backend>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].ip != b[i].ip || a[i].port != b[i].port) return false;
  return true;
}

std::string str(const Service& svc, int indent) {
  std::string p = pad(indent + 2);
  std::string out = fmt::format("{}service {}  # @ {}\n", pad(indent), svc.key(), svc.loc.fileLine());
  for (const auto& ip : svc.clusterIPs) out += fmt::format("{}frontend cluster-ip {}\n", p, ip.str());
  for (const auto& ip : svc.externalIPs) out += fmt::format("{}frontend external-ip {}\n", p, ip.str());
  for (const auto& ip : svc.loadBalancerIPs) out += fmt::format("{}frontend load-balancer {}\n", p, ip.str());
  if (svc.clientIPAffinity) out += fmt::format("{}affinity client-ip timeout {}s\n", p, svc.affinityTimeoutSeconds);
  auto tp = [](TrafficPolicy t) { return t == TrafficPolicy::Local ? "Local" : "Cluster"; };
  out += fmt::format("{}traffic-policy internal {} external {}\n", p, tp(svc.internalTrafficPolicy),
                     tp(svc.externalTrafficPolicy));
  for (const auto& port : svc.ports) {
    out += fmt::format("{}port {} {}/{} target {}", p, port.name.empty() ? "-" : port.name, l4ProtoName(port.proto),
                       port.port, port.targetPort);
    if (port.nodePort) out += fmt::format(" node-port {}", *port.nodePort);
    out += port.backends.empty() ? " no-backends\n" : "\n";
    for (const auto& b : port.backends) out += p + "  " + str(b, "backend") + "\n";
    if (!sameBackends(port.backends, port.externalBackends)) {
      if (port.externalBackends.empty()) out += p + "  external no-backends\n";
      for (const auto& b : port.externalBackends) out += p + "  " + str(b, "external-backend") + "\n";
    }
  }
  return out;
}

std::string str(const NodeProgram& node) {
  std::string out = fmt::format("node {}\n", node.node);
  for (const auto& ip : node.nodeIPs) out += fmt::format("  address {}\n", ip.str());
  for (const auto& c : node.podCIDRs) out += fmt::format("  pod-cidr {}\n", c.str());
  if (node.masquerade.enabled) {
    std::vector<std::string> keep;
    for (const auto& c : node.masquerade.keep) keep.push_back(c.str());
    out += fmt::format("  masquerade to {} except {{{}}}\n", node.masquerade.nodeAddress.str(), fmt::join(keep, ","));
  }
  for (const auto& ep : node.endpoints) out += str(ep, 2);
  for (const auto& e : node.ipcache) out += "  " + str(e) + "\n";
  out += fmt::format("  ipcache default identity {} world\n", reserved::kWorld);
  for (const auto& s : node.services) out += str(s, 2);
  return out;
}

std::string str(const Program& program, const std::string& onlyNode) {
  std::string out = "sluice-ir 1\n";
  for (const auto& id : program.identities) out += str(id) + "\n";
  for (const auto& n : program.nodes) {
    if (!onlyNode.empty() && n.node != onlyNode) continue;
    out += "\n" + str(n);
  }
  return out;
}

template <typename T>
void dump(const T& x) {
  std::cerr << str(x) << "\n";
}
template void dump(const Identity&);
template void dump(const Peer&);
template void dump(const L4Match&);
template void dump(const Rule&);
template void dump(const Endpoint&);
template void dump(const Service&);
template void dump(const NodeProgram&);
template void dump(const Program&);

}  // namespace sluice::ir
