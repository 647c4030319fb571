// A whole cluster's programs loaded into this kernel (nothing attached), for
// `verify`, `trace`, `reach` and the tests: every node compiled and loaded
// with its maps pinned under a private bpffs directory that is removed when
// the object goes away. A flow is traced by running one synthesized packet of
// a new connection through the real programs on its path: the source pod's
// from-pod program on its node, then the destination pod's to-pod program;
// from outside to a NodePort or external address, the node's uplink program
// first.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "codegen/codegen.h"
#include "frontend/cluster_state.h"
#include "base/diagnostics.h"
#include "ir/ir.h"
#include "ir/lower.h"
#include "runtime/loader.h"
#include "runtime/test_run.h"

namespace sluice::runtime {

struct FlowQuery {
  std::string fromPod;          // "ns/name", or empty when `fromIp` is used
  std::string toPod;            // "ns/name", or empty when `toIp` is used
  std::optional<IpAddr> toIp;   // an address (a pod's address means that pod; a service's, that service)
  std::string toService;        // "ns/name": the service's cluster IP (on `port`), when neither of the above
  ir::L4Proto proto = ir::L4Proto::TCP;
  uint16_t port = 80;
  std::optional<IpAddr> fromIp;  // instead of fromPod: an address (a pod's means that pod)
  // Run one hook only, of a pod-to-pod flow: the source's from-pod program
  // (Egress) or the destination's to-pod program (Ingress), as if the other
  // had passed the packet unchanged. Unset: every hook on the path.
  std::optional<ir::Direction> onlyHook;
};

struct HookStep {
  std::string hook;     // "from-pod", "to-pod", or "uplink" (the node's from_netdev program)
  std::string endpoint; // "ns/name"
  std::string node;
  std::string program;
  RunResult run;
  const ir::Rule* rule = nullptr;  // the deciding rule, when one decided
  std::string explanation;         // one line a person can read
};

struct FlowTrace {
  bool ok = false;
  std::string error;
  bool allowed = false;
  std::string from, to;   // "ns/name" or an address
  IpAddr srcIp, dstIp;
  std::vector<HookStep> steps;  // the hooks the packet met, in order
  std::string note;             // e.g. a pod reaching itself never leaves its namespace
  // When a service address was the destination:
  std::string service;          // "ns/name" of the service that translated or answered the packet
  std::string backend;          // "ip:port" it was translated to
  std::string backendPod;       // "ns/name" of that backend, when it is a known pod
  std::string masqueradedAs;    // "ip:port" the connection leaves with, when the from-pod program masqueraded it
  bool rejected = false;        // answered by the datapath instead (TCP RST / ICMP port unreachable)
};

// A pod the flows of `trace` and `reach` start and end at: every endpoint
// with an IPv4 address (its first), and every running hostNetwork pod with
// an address (an endpoint's entry wins a shared key).
struct RunningPod {
  std::string node;
  IpAddr ip;
  const ir::Endpoint* endpoint = nullptr;  // into the program; null for hostNetwork pods
};
std::map<std::string, RunningPod> runningPods(const ir::Program& program, const ClusterState& state);

struct ClusterOptions {
  codegen::CompileOptions compile;
  std::string onlyNode;  // compile and load one node only
  std::string clusterName = ir::kDefaultClusterName;  // see ir::LowerOptions
  bool masquerade = false;                             // see ir::LowerOptions
  std::vector<Cidr> nonMasqueradeCidrs;
  std::optional<std::pair<uint16_t, uint16_t>> snatPorts;  // default: runtime::snatPortRange()
  // Compile and load only these nodes (every node is still lowered, so every
  // pod's address and identity are known); a flow through a node left out
  // fails with "not loaded". Unset: every node.
  std::optional<std::set<std::string>> compileNodes;
  // Of those nodes, compile only these endpoints' programs ("ns/name"); every
  // pod's address and identity are still known to every node's tables.
  std::optional<std::set<std::string>> compileEndpoints;
  unsigned jobs = 1;  // nodes compiled at once
};

class KernelCluster {
 public:
  KernelCluster();
  ~KernelCluster();
  KernelCluster(const KernelCluster&) = delete;
  KernelCluster& operator=(const KernelCluster&) = delete;

  // Lowers, compiles and loads. Problems go to `diags`; returns false on any error.
  bool build(const ClusterState& state, Diagnostics& diags, const ClusterOptions& options = {});
  // The same from an already lowered `program` (of `state`, with `options`'
  // lowering options): callers that inspect the IR first lower it once.
  bool build(ir::Program program, const ClusterState& state, Diagnostics& diags, const ClusterOptions& options = {});

  const ir::Program& program() const { return program_; }
  const std::vector<codegen::CompiledNode>& compiled() const { return compiled_; }
  LoadedNode* loaded(const std::string& node);

  FlowTrace trace(const FlowQuery& query);
  // The fd of a node's uplink program (from_netdev), -1 when it has none.
  int uplinkFd(const std::string& node) const {
    auto it = uplinks_.find(node);
    return it == uplinks_.end() ? -1 : it->second.fd;
  }

  // Every endpoint pod and hostNetwork pod with an IP, sorted ("ns/name").
  std::vector<std::string> runningPods() const;

 private:
  struct Hook {
    std::string program;
    int fd = -1;
  };
  struct PodPlace : RunningPod {
    Hook fromPod, toPod;  // unset for hostNetwork pods
  };
  const PodPlace* findPod(const std::string& key) const;
  const PodPlace* findByIp(const IpAddr& ip) const;
  HookStep runHook(const PodPlace& at, ir::Direction dir, const std::vector<uint8_t>& packet);
  std::optional<IpAddr> clusterIpOf(const std::string& service, std::string& error) const;
  void noteService(FlowTrace& t, const std::string& node, const RunResult& run, std::vector<uint8_t>& packet,
                   const PodPlace*& dst) const;

  ir::Program program_;
  std::vector<ir::NodeProgram> compiledNodes_;  // what was compiled: nodes with the endpoints asked for
  std::vector<codegen::CompiledNode> compiled_;
  std::map<std::string, std::unique_ptr<LoadedNode>> loaded_;
  // Indexed once in build(): `trace` runs once per pod pair in `reach`.
  std::map<std::string, Hook> uplinks_;   // node -> its uplink program (nodes with NodePort / external frontends)
  std::map<std::string, PodPlace> pods_;  // endpoints and hostNetwork pods, by "ns/name"
  std::map<IpAddr, std::string> podByIp_;  // an endpoint's address wins over a hostNetwork pod's
  std::string pinRoot_;
  uint16_t nextPort_;
};

}  // namespace sluice::runtime
