// Deterministic random clusters for differential tests, written as YAML text
// so that every case goes through the frontend like a user's manifests.
//
// The same seed gives the same text on every platform and standard library:
// only std::mt19937_64 (whose output the standard fixes) is used, through the
// small helpers in random_cluster.cpp — never std::*_distribution or
// std::shuffle, whose results differ between implementations.
//
// Shape (upstream e2e style): nodes n1, n2 (InternalIP 192.168.{1,2}.y, podCIDR
// 10.244.{1,2}.0/24); namespaces x, y and maybe z, with labels from
// team∈{red,blue}, env∈{prod,dev}; pods with labels from app∈{a,b,c},
// tier∈{web,db}, container ports named http/metrics/dns (or unnamed) on 80, 81,
// 8080, 53 over TCP/UDP/SCTP, sometimes hostNetwork (podIP = the node's
// address), sometimes Pending, sometimes a finished pod; and NetworkPolicies
// mixing every corner of networking.k8s.io/v1 (see randomClusterYaml). With
// RandomOptions::ciliumPolicies, also Services and Cilium policies
// (random_cilium.cpp).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "frontend/cluster_state.h"
#include "tests/reference/reference.h"

namespace sluice::reference {

struct RandomOptions {
  int minNamespaces = 2, maxNamespaces = 3;  // from x, y, z
  int minPods = 3, maxPods = 8;              // the first two are always running endpoints
  int maxPolicies = 4;                       // 0..maxPolicies
  int maxRules = 3;                          // per direction, when a direction has rules
  int maxPeers = 3;                          // per rule, when `from`/`to` has items
  int maxPorts = 3;                          // per rule, when `ports` has items
  bool hostNetworkPods = true;  // sometimes a hostNetwork pod (never selected, never isolated)
  bool pendingPods = true;      // sometimes phase Pending (still an endpoint: fail closed)
  bool finishedPods = true;     // sometimes a Succeeded pod, at times holding a live pod's IP
  bool implicitNamespaces = true;  // sometimes a namespace without its Namespace object
  // CiliumNetworkPolicies and CiliumClusterwideNetworkPolicies, plus what
  // their rules name: Services with and without selectors, EndpointSlices or
  // legacy Endpoints, sometimes default/kubernetes, pods with a service
  // account. Off by default: with it off no draw changes, so every
  // NetworkPolicy-only seed keeps its exact text.
  bool ciliumPolicies = false;
  int maxCiliumPolicies = 3;  // 1..max (sometimes none)
  int maxCiliumRules = 2;     // per ingress/ingressDeny/egress/egressDeny list
};

// One cluster: Node, Namespace, Pod and NetworkPolicy documents (then Service,
// EndpointSlice, Endpoints, CiliumNetworkPolicy and
// CiliumClusterwideNetworkPolicy ones) separated by `---`. Always loads without errors (warnings are possible: an absent
// podSelector, rules of a direction missing from explicit policyTypes).
std::string randomClusterYaml(uint64_t seed, const RandomOptions& options = {});

struct FlowOptions {
  int outsidePercent = 20;  // flows with one end a bare address (outside, a node, an unused pod-CIDR address)
  bool selfFlows = true;    // allow from == to (the reference allows loopback)
  int servedPortPercent = 40;  // to a pod: one of its container ports (number and protocol)
  // ICMP echo requests (type 8) instead of TCP/UDP/SCTP. 0 draws nothing, so
  // the flows of existing seeds stay the same.
  int icmpPercent = 0;
  // Bare addresses also include finished pods' IPs that no endpoint holds
  // (known to the cluster, yet world to Cilium).
  bool finishedPodAddresses = false;
};

// `n` new connections on ports {53, 80, 81, 8080, 9000} over TCP/UDP/SCTP,
// often (servedPortPercent) a container port of the destination pod.
// Every flow has at least one end that is a policy endpoint pod (an Endpoint
// with `pod` set, its IPv4 address as `ip`); the other end is such a pod or a
// bare address (pod == nullptr): 203.0.113.5, 203.0.113.77, 198.51.100.7,
// 10.244.3.9 (inside the pod range, no pod), or a node's InternalIP (the node
// itself or a hostNetwork pod on it). Pointers refer into `state`.
std::vector<Flow> randomFlows(const ClusterState& state, uint64_t seed, size_t n, const FlowOptions& options = {});

// What the Cilium differential test draws (and the generator's tests check):
// Cilium policies with NetworkPolicies, echo requests, finished pods' addresses.
RandomOptions ciliumRandomOptions();
FlowOptions ciliumFlowOptions();

// Portable uniform helpers over mt19937_64 (exposed for the tests that build
// their own random inputs).
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  // Uniform in [0, n), n > 0, by rejection (no modulo bias).
  uint64_t below(uint64_t n);
  // Uniform in [lo, hi].
  int range(int lo, int hi) { return lo + int(below(uint64_t(hi - lo) + 1)); }
  // True with probability percent/100.
  bool chance(int percent) { return int(below(100)) < percent; }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

 private:
  std::mt19937_64 engine_;
};

}  // namespace sluice::reference
