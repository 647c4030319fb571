// What random_cluster.cpp (nodes, namespaces, pods, NetworkPolicies) and
// random_cilium.cpp (Services, EndpointSlices, Cilium policies) share.
// Internal to the generator: tests use random_cluster.h.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tests/reference/random_cluster.h"

namespace sluice::reference::gen {

using Vocab = std::vector<std::pair<std::string, std::vector<std::string>>>;

struct GenNode {
  std::string name, ip, podCIDR;
  int index = 0;  // 1 or 2: the third octet of its addresses
};

struct GenPort {
  std::string name;      // "" = unnamed
  int number = 0;
  std::string protocol;  // "" = absent (TCP)
  bool sidecar = false;  // in a second container
};

struct GenPod {
  std::string ns, name, phase;
  const GenNode* node = nullptr;
  bool hostNetwork = false, finished = false, podIPs = false;
  std::string ip;
  Labels labels;
  std::vector<GenPort> ports;
  std::string serviceAccount;  // "" = absent ("default")
};

// "{app: a, tier: web}"
inline std::string flowMap(const Labels& labels) {
  std::string s;
  for (const auto& [k, v] : labels) s += (s.empty() ? "" : ", ") + k + ": " + v;
  return "{" + s + "}";
}

// "[a, b]"
inline std::string flowList(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return "[" + s + "]";
}

// The cluster drawn so far, and where the Cilium part goes on drawing and writing.
struct CiliumInput {
  Rng& rng;
  const RandomOptions& opt;
  const std::vector<GenNode>& nodes;
  const std::vector<std::string>& namespaces;
  const std::vector<GenPod>& pods;
  std::string& out;
};

// Services with and without selectors, their EndpointSlices or legacy
// Endpoints, sometimes default/kubernetes (for toServices and the
// kube-apiserver entity); then CiliumNetworkPolicies and
// CiliumClusterwideNetworkPolicies.
void writeCiliumPart(CiliumInput& in);

}  // namespace sluice::reference::gen
