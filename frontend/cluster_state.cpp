#include "frontend/cluster_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "base/diagnostics.h"

namespace sluice {

const char* protocolName(Protocol p) {
  switch (p) {
    case Protocol::TCP: return "TCP";
    case Protocol::UDP: return "UDP";
    case Protocol::SCTP: return "SCTP";
  }
  return "TCP";
}

template <typename T>
static const T* findByKey(const std::vector<T>& list, const std::string& key) {
  auto it = std::lower_bound(list.begin(), list.end(), key,
                             [](const T& obj, const std::string& k) { return obj.meta.key() < k; });
  return it != list.end() && it->meta.key() == key ? &*it : nullptr;
}

const Namespace* ClusterState::findNamespace(const std::string& name) const {
  return findByKey(namespaces, name);
}
const Node* ClusterState::findNode(const std::string& name) const { return findByKey(nodes, name); }
const Service* ClusterState::findService(const std::string& ns, const std::string& name) const {
  return findByKey(services, ns + "/" + name);
}

template <typename T>
static void sortByKey(std::vector<T>& list) {
  std::stable_sort(list.begin(), list.end(), [](const T& a, const T& b) { return a.meta.key() < b.meta.key(); });
}

void ClusterState::finalize() {
  // Namespaces that objects live in but that were not given: the API server
  // would refuse such objects, but offline inputs are often partial. Create them
  // with only the name label so namespaceSelectors still behave.
  std::set<std::string> known;
  for (const auto& ns : namespaces) known.insert(ns.meta.name);
  auto ensure = [&](const ObjectMeta& m) {
    if (m.namespace_.empty() || known.count(m.namespace_)) return;
    known.insert(m.namespace_);
    Namespace ns;
    ns.meta.name = m.namespace_;
    ns.meta.labels["kubernetes.io/metadata.name"] = m.namespace_;
    ns.meta.loc = m.loc;
    ns.implicit = true;
    namespaces.push_back(std::move(ns));
  };
  for (const auto& p : pods) ensure(p.meta);
  for (const auto& s : services) ensure(s.meta);
  for (const auto& p : networkPolicies) ensure(p.meta);
  for (const auto& p : ciliumPolicies) ensure(p.meta);
  sortByKey(namespaces);
  sortByKey(pods);
  sortByKey(nodes);
  sortByKey(services);
  sortByKey(endpointSlices);
  sortByKey(endpoints);
  sortByKey(networkPolicies);
  std::stable_sort(ciliumPolicies.begin(), ciliumPolicies.end(), [](const CiliumPolicy& a, const CiliumPolicy& b) {
    return std::pair(a.clusterwide, a.meta.key()) < std::pair(b.clusterwide, b.meta.key());
  });
}

template <typename T>
static void reportDuplicates(std::vector<T>& list, const std::string& kind, Diagnostics& diags) {
  std::map<std::string, SourceLoc> seen;
  std::vector<T> unique;
  for (auto& obj : list) {
    auto [it, inserted] = seen.emplace(obj.meta.key(), obj.meta.loc);
    if (inserted) {
      unique.push_back(std::move(obj));
      continue;
    }
    diags.error(obj.meta.loc, kind + " " + obj.meta.key(), "metadata.name",
                fmt::format("duplicate object: already defined at {}", it->second.str()));
  }
  list = std::move(unique);
}

void checkDuplicates(ClusterState& s, Diagnostics& diags) {
  reportDuplicates(s.namespaces, "Namespace", diags);
  reportDuplicates(s.pods, "Pod", diags);
  reportDuplicates(s.nodes, "Node", diags);
  reportDuplicates(s.services, "Service", diags);
  reportDuplicates(s.endpointSlices, "EndpointSlice", diags);
  reportDuplicates(s.endpoints, "Endpoints", diags);
  reportDuplicates(s.networkPolicies, "NetworkPolicy", diags);
  std::vector<CiliumPolicy> cnp, ccnp;
  for (auto& p : s.ciliumPolicies) (p.clusterwide ? ccnp : cnp).push_back(std::move(p));
  reportDuplicates(cnp, "CiliumNetworkPolicy", diags);
  reportDuplicates(ccnp, "CiliumClusterwideNetworkPolicy", diags);
  s.ciliumPolicies = std::move(cnp);
  for (auto& p : ccnp) s.ciliumPolicies.push_back(std::move(p));
  // Two pods claiming one IP would make the IP → identity table ambiguous.
  std::map<IpAddr, const Pod*> owner;
  for (const auto& pod : s.pods) {
    if (pod.hostNetwork || pod.phase == PodPhase::Succeeded || pod.phase == PodPhase::Failed) continue;
    for (const auto& ip : pod.ips) {
      auto [it, inserted] = owner.emplace(ip, &pod);
      if (!inserted)
        diags.error(pod.meta.loc, "Pod " + pod.meta.key(), "status.podIP",
                    fmt::format("IP {} is already used by pod {} ({})", ip.str(), it->second->meta.key(),
                                it->second->meta.loc.str()));
    }
  }
}

static std::string labelsStr(const Labels& l) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : l) parts.push_back(k + "=" + v);
  return "{" + fmt::format("{}", fmt::join(parts, ", ")) + "}";
}

std::string ClusterState::dump() const {
  std::string out;
  for (const auto& ns : namespaces)
    out += fmt::format("namespace {} {}{}\n", ns.meta.name, labelsStr(ns.meta.labels), ns.implicit ? " implicit" : "");
  for (const auto& n : nodes) {
    std::vector<std::string> ips;
    for (const auto& ip : n.ips) ips.push_back(ip.str());
    out += fmt::format("node {} ips [{}] {}\n", n.meta.name, fmt::join(ips, ", "), labelsStr(n.meta.labels));
  }
  for (const auto& p : pods) {
    std::vector<std::string> ips;
    for (const auto& ip : p.ips) ips.push_back(ip.str());
    out += fmt::format("pod {} node {} ips [{}]{} {}\n", p.meta.key(), p.nodeName.empty() ? "-" : p.nodeName,
                       fmt::join(ips, ", "), p.hostNetwork ? " hostNetwork" : "", labelsStr(p.meta.labels));
  }
  for (const auto& s : services) out += fmt::format("service {} ports {}\n", s.meta.key(), s.ports.size());
  for (const auto& e : endpointSlices)
    out += fmt::format("endpointslice {} service {} endpoints {}\n", e.meta.key(), e.serviceName, e.endpoints.size());
  for (const auto& e : endpoints) out += fmt::format("endpoints {} subsets {}\n", e.meta.key(), e.subsets.size());
  for (const auto& p : networkPolicies)
    out += fmt::format("networkpolicy {} selector {} ingress {} egress {}\n", p.meta.key(), p.podSelector.str(),
                       p.ingress.size(), p.egress.size());
  for (const auto& p : ciliumPolicies)
    out += fmt::format("{} {} rules {}\n", p.clusterwide ? "ccnp" : "cnp", p.meta.key(), p.rules.size());
  return out;
}

}  // namespace sluice
