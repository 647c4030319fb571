#include "ir/identity.h"

#include <algorithm>

namespace sluice::ir {

bool isRolloutLabel(const std::string& key) {
  static const std::set<std::string> keys = {
      "pod-template-hash",   "controller-revision-hash", "pod-template-generation",
      "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index", "controller-uid",
      "batch.kubernetes.io/controller-uid",
  };
  return keys.count(key) > 0;
}

static std::string stripSource(const std::string& key) {
  for (const char* prefix : {"k8s:", "any:"})
    if (key.rfind(prefix, 0) == 0) return key.substr(std::string(prefix).size());
  return key;
}

std::set<std::string> selectorKeys(const ClusterState& state) {
  std::set<std::string> keys;
  auto add = [&](const LabelSelector& s) {
    for (const auto& r : s.requirements) keys.insert(stripSource(r.key));
  };
  for (const auto& np : state.networkPolicies) {
    add(np.podSelector);
    for (const auto* rules : {&np.ingress, &np.egress})
      for (const auto& rule : *rules)
        for (const auto& peer : rule.peers) {
          if (peer.podSelector) add(*peer.podSelector);
        }
  }
  for (const auto& cp : state.ciliumPolicies)
    for (const auto& rule : cp.rules) {
      add(rule.endpointSelector);
      for (const auto* peers : {&rule.ingress, &rule.egress})
        for (const auto& peer : *peers)
          for (const auto& sel : peer.endpoints) add(sel);
    }
  return keys;
}

LabelSet podIdentityLabels(const Pod& pod, const Namespace* ns, const std::set<std::string>& selectedKeys) {
  LabelSet out;
  for (const auto& [k, v] : pod.meta.labels) {
    if (isRolloutLabel(k) && !selectedKeys.count(k)) continue;
    out.push_back("k8s:" + k + "=" + v);
  }
  // A container without a pod (sluice-cni without pod arguments) has no
  // Kubernetes labels at all, as in Cilium: no namespace, no service account.
  if (!pod.meta.namespace_.empty()) {
    out.push_back("k8s:io.kubernetes.pod.namespace=" + pod.meta.namespace_);
    if (ns)
      for (const auto& [k, v] : ns->meta.labels) out.push_back("k8s:io.cilium.k8s.namespace.labels." + k + "=" + v);
    out.push_back("k8s:io.cilium.k8s.policy.serviceaccount=" + pod.serviceAccount);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<Identity> reservedIdentities() {
  return {
      {reserved::kHost, {"reserved:host"}, ""},
      {reserved::kWorld, {"reserved:world"}, ""},
      {reserved::kUnmanaged, {"reserved:unmanaged"}, ""},
      {reserved::kHealth, {"reserved:health"}, ""},
      {reserved::kInit, {"reserved:init"}, ""},
      {reserved::kRemoteNode, {"reserved:remote-node"}, ""},
      {reserved::kKubeApiserver, {"reserved:kube-apiserver"}, ""},
      {reserved::kIngress, {"reserved:ingress"}, ""},
  };
}

IdentityId hashIdentity(const LabelSet& labels, uint32_t round) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  auto mix = [&](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ull;
  };
  for (const auto& l : labels) {
    for (char c : l) mix(static_cast<unsigned char>(c));
    mix('\n');
  }
  for (int i = 0; i < 4; ++i) mix(static_cast<unsigned char>(round >> (8 * i)));
  // Fold the high bits in: FNV's low bits alone are weak for short inputs.
  h ^= h >> 32;
  const uint64_t span = uint64_t(kLastClusterIdentity) - kFirstClusterIdentity + 1;
  return IdentityId(kFirstClusterIdentity + h % span);
}

std::map<LabelSet, IdentityId> assignIdentityNumbers(const std::set<LabelSet>& labelSets) {
  std::map<LabelSet, IdentityId> out;
  std::set<IdentityId> taken;
  // std::set iterates in sorted order: collisions resolve the same way every time.
  for (const auto& labels : labelSets) {
    uint32_t round = 0;
    IdentityId id = hashIdentity(labels, round);
    while (taken.count(id)) id = hashIdentity(labels, ++round);
    taken.insert(id);
    out.emplace(labels, id);
  }
  return out;
}

const std::string* findLabel(const LabelSet& labels, const std::string& key, std::string& valueOut) {
  for (const auto& l : labels) {
    size_t colon = l.find(':');
    size_t eq = l.find('=', colon + 1);
    if (eq == std::string::npos) continue;
    if (l.compare(colon + 1, eq - colon - 1, key) == 0) {
      valueOut = l.substr(eq + 1);
      return &l;
    }
  }
  return nullptr;
}

}  // namespace sluice::ir
