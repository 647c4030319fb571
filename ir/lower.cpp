// Lowering driver: identities, endpoints per node, the IP -> identity table;
// policies and services are lowered by the files named in lower_context.h.
#include "ir/lower.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/text.h"
#include "ir/lower_context.h"

namespace sluice::ir {

bool isEndpointPod(const Pod& pod) {
  if (pod.hostNetwork || pod.ips.empty()) return false;
  return pod.phase != PodPhase::Succeeded && pod.phase != PodPhase::Failed;
}

const std::vector<const NetworkPolicy*>& LowerContext::networkPoliciesIn(const std::string& ns) const {
  auto [it, inserted] = networkPoliciesByNs_.try_emplace(ns);
  if (inserted)
    for (const NetworkPolicy& np : state.networkPolicies)
      if (np.meta.namespace_ == ns) it->second.push_back(&np);
  return it->second;
}

const std::vector<const CiliumPolicy*>& LowerContext::ciliumPoliciesFor(const std::string& ns) const {
  auto [it, inserted] = ciliumPoliciesByNs_.try_emplace(ns);
  if (inserted)
    for (const CiliumPolicy& cp : state.ciliumPolicies)
      if (cp.clusterwide || cp.meta.namespace_ == ns) it->second.push_back(&cp);
  return it->second;
}

const IdentityInfo* LowerContext::identity(IdentityId id) const {
  auto it = std::lower_bound(identities.begin(), identities.end(), id,
                             [](const IdentityInfo& i, IdentityId v) { return i.id < v; });
  return it != identities.end() && it->id == id ? &*it : nullptr;
}

std::optional<uint16_t> resolveNamedPort(const Pod& pod, const std::string& name, Protocol proto) {
  for (const auto& p : pod.ports)
    if (p.name == name && p.protocol == proto) return p.port;
  return std::nullopt;
}

bool peerCoversPod(const LowerContext& ctx, const Peer& peer, const PodInfo& pod) {
  if (peer.any) return true;
  if (std::binary_search(peer.identities.begin(), peer.identities.end(), pod.identity)) return true;
  for (Entity e : peer.entities)
    if (e == Entity::All || e == Entity::Cluster) return true;
  for (const auto& [owner, ip] : peer.pods)
    if (std::find(pod.pod->ips.begin(), pod.pod->ips.end(), ip) != pod.pod->ips.end()) return true;
  if (peer.cidrMeaning == CidrMeaning::OutsideCluster) return false;  // Cilium CIDRs never cover pods
  for (const auto& c : peer.cidrs)
    for (const auto& ip : pod.pod->ips) {
      if (!c.cidr.contains(ip)) continue;
      bool excepted = std::any_of(c.except.begin(), c.except.end(), [&](const Cidr& e) { return e.contains(ip); });
      if (!excepted) return true;
    }
  return false;
}

const PodsByPortNumber& podsWithNamedPort(const LowerContext& ctx, const void* peerSource, const Peer& peer,
                                          const std::string& name, Protocol proto) {
  auto [memo, inserted] = ctx.namedPortPods.try_emplace({peerSource, name, proto});
  if (!inserted) return memo->second;
  Peer sorted = peer;
  std::sort(sorted.identities.begin(), sorted.identities.end());
  PodsByPortNumber& byPort = memo->second;
  for (const auto& [key, info] : ctx.endpointPods) {
    if (!peerCoversPod(ctx, sorted, info)) continue;
    auto n = resolveNamedPort(*info.pod, name, proto);
    if (!n) continue;
    for (const auto& ip : info.pod->ips) byPort[*n].emplace_back(key, ip);
  }
  return byPort;
}

void canonicalize(Rule& rule) {
  auto& peer = rule.peer;
  std::sort(peer.identities.begin(), peer.identities.end());
  peer.identities.erase(std::unique(peer.identities.begin(), peer.identities.end()), peer.identities.end());
  std::sort(peer.entities.begin(), peer.entities.end());
  peer.entities.erase(std::unique(peer.entities.begin(), peer.entities.end()), peer.entities.end());
  std::sort(peer.pods.begin(), peer.pods.end());
  for (auto& c : peer.cidrs) std::sort(c.except.begin(), c.except.end());
  std::sort(peer.cidrs.begin(), peer.cidrs.end(),
            [](const CidrRule& a, const CidrRule& b) { return std::tie(a.cidr, a.except) < std::tie(b.cidr, b.except); });
  peer.cidrs.erase(std::unique(peer.cidrs.begin(), peer.cidrs.end()), peer.cidrs.end());
  std::sort(rule.l4.ports.begin(), rule.l4.ports.end());
  rule.l4.ports.erase(std::unique(rule.l4.ports.begin(), rule.l4.ports.end()), rule.l4.ports.end());
  std::sort(rule.l4.icmps.begin(), rule.l4.icmps.end());
  rule.l4.icmps.erase(std::unique(rule.l4.icmps.begin(), rule.l4.icmps.end()), rule.l4.icmps.end());
}

namespace {

Labels toLabels(const LabelSet& set) {
  Labels out;
  for (const auto& l : set) {
    size_t colon = l.find(':');
    size_t eq = l.find('=', colon + 1);
    out[l.substr(colon + 1, eq - colon - 1)] = l.substr(eq + 1);
  }
  return out;
}

std::string reservedNameOf(const Identity& id) { return id.labels.front().substr(std::string("reserved:").size()); }

const std::string kClusterLabel = "io.cilium.k8s.policy.cluster";

// A CiliumNetworkPolicy selector that names another cluster matches nothing
// here: sluice compiles one cluster (cluster mesh is out of scope). Said once.
void noteOtherClusterSelectors(const LowerContext& ctx) {
  auto otherCluster = [&](const LabelSelector& sel) -> const LabelRequirement* {
    for (const LabelRequirement& r : sel.requirements) {
      std::string_view key = r.key;
      for (std::string_view source : {"k8s:", "any:"})
        if (key.starts_with(source)) key.remove_prefix(source.size());
      if (key == kClusterLabel && r.op == LabelRequirement::Op::In &&
          std::find(r.values.begin(), r.values.end(), ctx.clusterName) == r.values.end())
        return &r;
    }
    return nullptr;
  };
  for (const CiliumPolicy& cp : ctx.state.ciliumPolicies)
    for (const CiliumRule& rule : cp.rules) {
      std::vector<const LabelSelector*> selectors = {&rule.endpointSelector};
      for (const auto* list : {&rule.ingress, &rule.egress})
        for (const CiliumPeerRule& peer : *list)
          for (const LabelSelector& sel : peer.endpoints) selectors.push_back(&sel);
      for (const LabelSelector* sel : selectors)
        if (const LabelRequirement* r = otherCluster(*sel)) {
          ctx.diags.note(r->loc, cp.kindName() + " " + cp.meta.key(), "",
                         fmt::format("selectors naming another cluster than '{}' ({}) match nothing: sluice "
                                     "compiles one cluster, and endpoints of cluster-mesh peers are out of its "
                                     "scope (said once; --cluster-name sets this cluster's name)",
                                     ctx.clusterName, displayText(r->key + " in (" + fmt::format("{}", fmt::join(r->values, ", ")) + ")")));
          return;
        }
    }
}

// The source is the node's first IPv4 address (its InternalIP comes first);
// a node without one cannot masquerade, which is an error rather than pods
// whose traffic leaves with an address nobody routes back.
void lowerMasquerade(const LowerContext& ctx, const LowerOptions& options, NodeProgram& np) {
  auto v4 = std::find_if(np.nodeIPs.begin(), np.nodeIPs.end(), [](const IpAddr& a) { return a.isV4(); });
  if (v4 == np.nodeIPs.end()) {
    ctx.diags.error(SourceLoc{}, "Node " + np.node, "status.addresses",
                    "masquerade needs the node's IPv4 address, and it has none");
    return;
  }
  np.masquerade.enabled = true;
  np.masquerade.nodeAddress = *v4;
  for (const Node& n : ctx.state.nodes)
    for (const Cidr& c : n.podCIDRs)
      if (c.addr.isV4()) np.masquerade.keep.push_back(c);
  for (const Cidr& c : options.nonMasqueradeCidrs)
    if (c.addr.isV4()) np.masquerade.keep.push_back(c);
  std::sort(np.masquerade.keep.begin(), np.masquerade.keep.end());
  np.masquerade.keep.erase(std::unique(np.masquerade.keep.begin(), np.masquerade.keep.end()),
                           np.masquerade.keep.end());
}

// Identities of every endpoint pod in the cluster, plus the reserved ones.
void buildIdentities(LowerContext& ctx, Program& program) {
  std::set<std::string> selected = selectorKeys(ctx.state);
  std::map<std::string, LabelSet> podLabels;  // "ns/name" -> label set
  std::set<LabelSet> sets;
  for (const Pod& pod : ctx.state.pods) {
    if (!isEndpointPod(pod)) continue;
    LabelSet labels = podIdentityLabels(pod, ctx.namespaceOf(pod.meta.namespace_), selected);
    sets.insert(labels);
    podLabels.emplace(pod.meta.key(), std::move(labels));
  }
  std::map<LabelSet, IdentityId> numbers = assignIdentityNumbers(sets);

  for (const Identity& r : reservedIdentities()) {
    program.identities.push_back(r);
    IdentityInfo info;
    info.id = r.id;
    info.reservedName = reservedNameOf(r);
    ctx.identities.push_back(std::move(info));
  }
  for (const auto& [labels, id] : numbers) {
    Identity ident;
    ident.id = id;
    ident.labels = labels;
    std::string ns;
    findLabel(labels, "io.kubernetes.pod.namespace", ns);
    ident.namespace_ = ns;
    program.identities.push_back(ident);

    IdentityInfo info;
    info.id = id;
    info.namespace_ = ns;
    info.ciliumLabels = toLabels(labels);
    // Cilium labels every local endpoint with its cluster's name
    // (SanitizePodLabels in pkg/k8s/utils/utils.go). It is the same for every
    // pod, so it stays out of the label set that numbers identities.
    info.ciliumLabels[kClusterLabel] = ctx.clusterName;
    const std::string nsPrefix = "io.cilium.k8s.namespace.labels.";
    for (const auto& [k, v] : info.ciliumLabels) {
      if (k.rfind(nsPrefix, 0) == 0) info.namespaceLabels[k.substr(nsPrefix.size())] = v;
      else if (k != "io.kubernetes.pod.namespace" && k != "io.cilium.k8s.policy.serviceaccount")
        info.podLabels[k] = v;
    }
    ctx.identities.push_back(std::move(info));
  }
  std::sort(program.identities.begin(), program.identities.end(),
            [](const Identity& a, const Identity& b) { return a.id < b.id; });
  std::sort(ctx.identities.begin(), ctx.identities.end(),
            [](const IdentityInfo& a, const IdentityInfo& b) { return a.id < b.id; });

  for (const Pod& pod : ctx.state.pods) {
    auto it = podLabels.find(pod.meta.key());
    if (it == podLabels.end()) continue;
    ctx.endpointPods[pod.meta.key()] = PodInfo{&pod, numbers.at(it->second)};
    for (const auto& ip : pod.ips) ctx.podByIp.emplace(ip, pod.meta.key());
  }
}

// The IP -> identity table is the same on every node but for which node is
// "host": built once, then each node's copy marks its own addresses.
struct ClusterIpcache {
  std::vector<IpcacheEntry> entries;                   // nodes as remote-node
  std::map<std::string, std::vector<size_t>> ofNode;  // node name -> its entries

  explicit ClusterIpcache(const LowerContext& ctx) {
    for (const auto& [key, info] : ctx.endpointPods)
      for (const auto& ip : info.pod->ips) entries.push_back({Cidr::host(ip), info.identity, "pod " + key});
    for (const Node& n : ctx.state.nodes)
      for (const auto& ip : n.ips) entries.push_back({Cidr::host(ip), reserved::kRemoteNode, "node " + n.meta.name});
    std::sort(entries.begin(), entries.end(), [](const IpcacheEntry& a, const IpcacheEntry& b) {
      return std::tie(a.prefix, a.owner) < std::tie(b.prefix, b.owner);
    });
    // A node IP that is also a pod IP was already reported by the frontend; keep the first.
    entries.erase(std::unique(entries.begin(), entries.end(),
                              [](const IpcacheEntry& a, const IpcacheEntry& b) { return a.prefix == b.prefix; }),
                  entries.end());
    for (size_t i = 0; i < entries.size(); ++i)
      if (entries[i].owner.rfind("node ", 0) == 0) ofNode[entries[i].owner.substr(5)].push_back(i);
  }

  std::vector<IpcacheEntry> forNode(const std::string& node) const {
    std::vector<IpcacheEntry> out = entries;
    if (auto it = ofNode.find(node); it != ofNode.end())
      for (size_t i : it->second) out[i].identity = reserved::kHost;
    return out;
  }
};

void sortRules(DirectionPolicy& dp) {
  // Deny rules first (they win over any allow); otherwise the lowering order,
  // which follows the sorted policies and their document order.
  std::stable_partition(dp.rules.begin(), dp.rules.end(), [](const Rule& r) { return r.verdict == Verdict::Deny; });
  std::sort(dp.enforcedBy.begin(), dp.enforcedBy.end());
  dp.enforcedBy.erase(std::unique(dp.enforcedBy.begin(), dp.enforcedBy.end()), dp.enforcedBy.end());
  for (auto& r : dp.rules) canonicalize(r);
}

}  // namespace

const Endpoint* NodeProgram::findEndpoint(const std::string& key) const {
  for (const auto& e : endpoints)
    if (e.key() == key) return &e;
  return nullptr;
}

const Identity* Program::findIdentity(IdentityId id) const {
  for (const auto& i : identities)
    if (i.id == id) return &i;
  return nullptr;
}

const NodeProgram* Program::findNode(const std::string& name) const {
  for (const auto& n : nodes)
    if (n.node == name) return &n;
  return nullptr;
}

Program lower(const ClusterState& state, Diagnostics& diags, const LowerOptions& options) {
  Program program;
  LowerContext ctx(state, diags, options.clusterName);
  buildIdentities(ctx, program);
  noteOtherClusterSelectors(ctx);

  // Nodes: every Node object, and every node a pod names even without one.
  std::map<std::string, const Node*> nodes;
  for (const Node& n : state.nodes) nodes[n.meta.name] = &n;
  for (const Pod& pod : state.pods) {
    if (!isEndpointPod(pod)) continue;
    if (pod.nodeName.empty()) {
      diags.warning(pod.meta.loc, "Pod " + pod.meta.key(), "spec.nodeName",
                    "pod has an IP but no node; it is known as a peer but no node enforces its policy");
      continue;
    }
    if (!nodes.count(pod.nodeName)) {
      diags.note(pod.nodeNameLoc, "Pod " + pod.meta.key(), "spec.nodeName",
                 fmt::format("node '{}' has no Node object; its addresses are unknown", pod.nodeName));
      nodes[pod.nodeName] = nullptr;
    }
  }
  if (!options.onlyNode.empty() && !nodes.count(options.onlyNode)) {
    diags.error(SourceLoc{}, "", "", fmt::format("no node named '{}' in the input (nodes: {})", options.onlyNode,
                                                  [&] {
                                                    std::vector<std::string> names;
                                                    for (auto& [n, _] : nodes) names.push_back(n);
                                                    return names.empty() ? std::string("none")
                                                                         : fmt::format("{}", fmt::join(names, ", "));
                                                  }()));
    return program;
  }

  const ClusterIpcache ipcache(ctx);
  for (const auto& [name, node] : nodes) {
    if (!options.onlyNode.empty() && name != options.onlyNode) continue;
    NodeProgram np;
    np.node = name;
    if (node) {
      np.nodeIPs = node->ips;
      np.podCIDRs = node->podCIDRs;
    }
    if (options.masquerade) lowerMasquerade(ctx, options, np);
    for (const auto& [key, info] : ctx.endpointPods) {
      const Pod& pod = *info.pod;
      if (pod.nodeName != name) continue;
      Endpoint ep;
      ep.namespace_ = pod.meta.namespace_;
      ep.name = pod.meta.name;
      ep.ips = pod.ips;
      ep.identity = info.identity;
      ep.loc = pod.meta.loc;
      for (const auto& p : pod.ports)
        if (!p.name.empty()) ep.namedPorts.push_back({p.name, toL4(p.protocol), p.port});
      std::sort(ep.namedPorts.begin(), ep.namedPorts.end(),
                [](const NamedPort& a, const NamedPort& b) { return a.name < b.name; });
      lowerNetworkPolicies(ctx, pod, ep);
      lowerCiliumPolicies(ctx, pod, ep);
      sortRules(ep.ingress);
      sortRules(ep.egress);
      np.endpoints.push_back(std::move(ep));
    }
    np.ipcache = ipcache.forNode(name);
    np.services = lowerServices(ctx, name);
    program.nodes.push_back(std::move(np));
  }
  return program;
}

}  // namespace sluice::ir
