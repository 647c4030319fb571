// Pod-to-pod reachability of one cluster state through the real programs,
// with one probe per distinct flow instead of one per pod pair.
//
// Pods are grouped into classes whose flows cannot differ: endpoints with the
// same identity, the same ingress and egress policy text, the same named
// ports, and the same membership in every address-specific part of the
// policies (CIDR peers, per-pod peer lists); hostNetwork pods by that
// membership alone. A flow between two endpoints does not depend on their
// nodes (each node's table maps a pod's address to the same identity), so a
// class spans nodes; a flow with a hostNetwork pod at either end depends on
// whether both are on one node (the node's address is `host` there,
// `remote-node` elsewhere), so that relation is part of the flow's key. Each
// distinct (source class, destination class, relation, port) is traced once,
// on representatives chosen so that as few nodes as possible are compiled.
// `exhaustive` makes every pod its own class: the reference the grouped
// answer is tested against.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/diagnostics.h"
#include "codegen/codegen.h"
#include "frontend/cluster_state.h"
#include "ir/ir.h"
#include "ir/lower.h"
#include "review/review_model.h"

namespace sluice::runtime {
class KernelCluster;
}

namespace sluice::review {

struct ReachOptions {
  codegen::DatapathMode datapath = codegen::DatapathMode::Specialized;
  std::string clusterName = ir::kDefaultClusterName;
  bool exhaustive = false;
  unsigned jobs = 1;  // nodes compiled at once
};

struct ReachStats {
  size_t pods = 0, classes = 0;
  size_t pairsWanted = 0;  // pod pairs asked for, times probes
  size_t traced = 0;       // probes run through the programs
  size_t nodesCompiled = 0, nodes = 0, endpointsCompiled = 0;
  double lowerMs = 0, compileMs = 0, traceMs = 0;
};

class Reachability {
 public:
  Reachability();
  ~Reachability();
  Reachability(const Reachability&) = delete;
  Reachability& operator=(const Reachability&) = delete;

  // Lowers `state` and groups its running pods. False on errors (in `diags`).
  bool prepare(const ClusterState& state, Diagnostics& diags, const ReachOptions& options);

  const ir::Program& program() const { return program_; }
  // Every endpoint and hostNetwork pod with an IPv4 address, sorted ("ns/name").
  const std::vector<std::string>& pods() const { return podKeys_; }
  int podIndex(const std::string& key) const;
  // What a pod's flows depend on; a pod whose signature is the same in two
  // states has the same verdict towards every pod whose signature is too.
  const std::string& signature(size_t pod) const { return pods_[pod].signature; }
  const ClusterState& state() const { return *state_; }
  bool isEndpoint(size_t pod) const { return pods_[pod].endpoint != nullptr; }

  // Traces every (from, to) pod pair for which `wanted` is true (all when it
  // is empty), on every probe. Compiles and loads only the programs of the
  // representatives it runs. With `onlyHook`, runs only the source's from-pod
  // program (Egress) or the destination's to-pod program (Ingress) of each
  // pair: one side's verdict, compiling only that side. May be called again
  // for more pairs; what was traced is kept. False with `error` when a probe
  // could not run.
  bool evaluate(const std::function<bool(size_t, size_t)>& wanted, const std::vector<PortProbe>& probes,
                Diagnostics& diags, std::string& error, std::optional<ir::Direction> onlyHook = {});

  // The parts of signature(): the pod as a peer (identity, addresses, node),
  // and its own policy in each direction.
  const std::string& peerSignature(size_t pod) const { return pods_[pod].peerSignature; }
  const std::string& policySignature(size_t pod, ir::Direction d) const {
    return d == ir::Direction::Ingress ? pods_[pod].ingressSignature : pods_[pod].egressSignature;
  }

  // Every port of every proxied service with an IPv4 cluster IP, sorted by
  // service (headless and ExternalName services have none).
  struct ServicePort {
    std::string service;  // "ns/name"
    PortProbe probe;
  };
  const std::vector<ServicePort>& servicePorts() const { return servicePorts_; }
  // Also trace, from every pod for which `client` is true, every service
  // port: one real connection through the cluster IP per (pod class, node),
  // then, because the datapath picks a backend at random, each backend the
  // client's node would pick from, so the verdict does not depend on the draw:
  // allow when every backend allows, deny when none does, partial between.
  // Call before evaluate(); every node with such a client is compiled.
  void alsoServices(std::function<bool(size_t)> client) { serviceClients_ = std::move(client), withServices_ = true; }

  // After evaluate(), for a pair it covered: the flow, named after the pair.
  Flow flow(size_t from, size_t to, size_t probe) const;
  Verdict verdict(size_t from, size_t to, size_t probe) const;
  // After evaluate(..., onlyHook): that hook's verdict for the pair.
  Verdict hookVerdict(size_t from, size_t to, size_t probe, ir::Direction hook) const;
  Flow serviceFlow(size_t from, size_t servicePort) const;

  // The pods grouped as a reader sees them (namespace and identity).
  const std::vector<Workload>& workloads() const { return workloads_; }
  size_t workloadOf(size_t pod) const { return pods_[pod].workload; }

  const ReachStats& stats() const { return stats_; }

 private:
  struct PodInfo {
    std::string key, node;
    IpAddr ip;
    const ir::Endpoint* endpoint = nullptr;  // null for hostNetwork pods
    std::string signature, peerSignature, ingressSignature, egressSignature;
    uint32_t klass = 0;
    size_t workload = 0;
  };
  struct Rep {
    uint32_t from = 0, to = 0;  // pod indices
  };
  uint64_t flowKey(size_t from, size_t to) const;
  void formClasses();
  void formWorkloads();
  bool chooseRepresentatives(const std::vector<uint64_t>& keys, std::unordered_map<uint64_t, Rep>& reps,
                             std::string& error, std::optional<ir::Direction> onlyHook) const;

  bool evaluateServices(runtime::KernelCluster& cluster, std::string& error);
  const ir::ServicePort* nodeServicePort(size_t pod, const ServicePort& sp) const;
  bool backs(size_t pod, const ServicePort& sp) const;  // the pod is a backend of the port on its node
  uint64_t serviceKey(size_t from) const;

  ReachOptions options_;
  std::vector<ServicePort> servicePorts_;
  bool withServices_ = false;
  std::function<bool(size_t)> serviceClients_;
  std::unordered_map<uint64_t, std::vector<Flow>> serviceResults_;  // (class, node) -> per service port
  std::unordered_map<uint64_t, Flow> ownServiceResults_;           // (pod, service port), where they differ
  std::unordered_map<std::string, uint32_t> nodeIndex_;
  const ClusterState* state_ = nullptr;
  ir::Program program_;
  std::vector<PodInfo> pods_;
  std::vector<std::string> podKeys_;
  std::vector<std::vector<uint32_t>> classMembers_;
  std::vector<Workload> workloads_;
  size_t probeCount_ = 0;
  // (flow key, probe) -> the traced flow of the key's representatives.
  std::unordered_map<uint64_t, std::vector<Flow>> results_;
  std::unordered_map<uint64_t, std::vector<Verdict>> hookResults_[2];  // by ir::Direction
  bool servicesDone_ = false;
  ReachStats stats_;
};

}  // namespace sluice::review
