// `sluice agent`: keeps one node's datapath in step with the cluster
// (docs/agent.md).
//
// A loop (run()) waits for its state source to change, lets a burst of
// changes settle, and reconciles: lower the state for this node, update the
// pinned maps in place (addresses, identities, service backends), and
// compare what code generation would read for each endpoint (and for the
// uplink program) with what is in force (codegen::endpointCodeInputs).
// Enforcement is tiered (docs/agent.md, "Tiered enforcement"):
//   - first tier: an endpoint whose code changed (or a new one) is enforced
//     at once by programs loaded when the agent started, from policy tables
//     written for it (runtime/first_tier.h); no compile on the way;
//   - then its own specialized programs, compiled and verified on a
//     background thread for every endpoint whose code changed, replace the
//     tier's when ready, if the state has not moved on meanwhile (otherwise
//     the next compile takes the newer state).
// Each hook is replaced atomically, to-pod then from-pod — a pinned tcx
// link updated in place (runtime/tcx_attach.h) where the kernel has tcx,
// tc's replace otherwise (runtime/tc_attach.h) — so every packet meets the
// old program or the new one, never none, and the tier and the specialized
// programs of one state give the same verdicts.
// Connection tracking, affinity, counters, the IP cache and the service
// tables live in maps pinned under <bpffs-root>/<node>, shared by every
// generation (their names carry their layout version: sluice_abi.h).
// Whatever fails (lowering, compile, the verifier, an attach) leaves what is
// in force in force and is reported in status(). Programs stay attached when
// the agent dies; a restarted agent replaces them in place, without a gap,
// and detaches what belongs to pods that went away meanwhile.
//
// Local pods are found by the route to their address (a direct route through
// an interface that is neither an uplink nor the node's own: runtime/
// route_lookup.h); a pod whose interface is not there yet is retried. The
// whole agent works in the network namespace of the thread that calls run().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "agent/state_fragments.h"
#include "runtime/cni/protocol.h"
#include "codegen/codegen.h"
#include "ir/ir.h"
#include "ir/lower.h"

namespace sluice::runtime {
class FirstTier;
class LoadedNode;
enum class TcHook;
}

namespace sluice::agent {

class DirSource;
class ApiSource;
class MetricsServer;
class CniServer;
class Ipam;

enum class AttachMode {
  Auto,  // tcx links where the kernel has them, tc filters otherwise
  Tcx,   // tcx links (pinned under <bpffs-root>/<node>/links), updated in place
  Tc,    // classic tc filters under clsact, replaced in place
};

struct AgentOptions {
  std::string node;                          // the Node this agent serves
  std::string clusterName = ir::kDefaultClusterName;  // Cilium's --cluster-name
  std::string watchDir;                      // --watch: a manifest directory ...
  std::string kubeconfig;                    // ... or --kubeconfig: the API server ...
  bool inCluster = false;                    // ... or --in-cluster: the API server of the pod's service account
  std::string bpffsRoot = "/sys/fs/bpf/sluice";  // maps pinned under <root>/<node>
  std::vector<std::string> uplinks;          // uplink interfaces; empty: those holding the node's addresses
  AttachMode attach = AttachMode::Auto;
  std::string metricsAddress = "127.0.0.1";  // loopback only
  int metricsPort = 9964;                    // 0: any free port (status().metricsPort), -1: no endpoint
  std::chrono::milliseconds settle{10};      // quiet time that ends a burst of changes
  std::chrono::milliseconds maxDelay{200};   // a burst never delays a reconcile longer than this
  std::chrono::milliseconds retry{500};      // routes to the pods are checked again (new or replaced interfaces)
  codegen::CompileOptions compile;
  // Changed code is enforced through the first tier until its specialized
  // programs are ready (--no-first-tier: the programs in force stay until
  // then, and a new pod waits for its own).
  bool firstTier = true;
  // Pod networking (docs/cni.md). With `cni`, the agent serves sluice-cni on
  // `cniSocket`: it gives each pod an address of the node's podCIDR (state
  // under <stateDir>/<node>), makes its interface, and answers ADD once the
  // pod's programs are attached; it routes the other nodes' pod CIDRs.
  bool cni = false;
  std::string cniSocket = "/run/sluice/cni.sock";
  std::string cniConfDir;                    // the conflist is written here ("": not written)
  std::string stateDir = "/var/lib/sluice";
  enum class Routing { None, Native, Vxlan };
  Routing routing = Routing::Native;         // with `cni`: how the other nodes' pod CIDRs are reached
  bool masquerade = false;                   // pod traffic leaving the cluster gets the node's address
  std::vector<Cidr> nonMasqueradeCidrs;      // besides every pod CIDR
  std::optional<std::pair<uint16_t, uint16_t>> snatPorts;  // default: above ip_local_port_range
  std::function<void(const std::string&)> log;  // one line per event; empty = stderr
  // Tests only: alters each compiled object before it is loaded (to make the
  // verifier refuse one, say).
  std::function<void(std::vector<char>& object)> alterObject;
  // Tests only: while it returns true, no specialization starts (what the
  // first tier alone enforces can be observed).
  std::function<bool()> holdSpecialization;
};

// One reconcile's outcome and timings (milliseconds).
struct ReconcileReport {
  uint64_t number = 0;       // reconciles so far
  // "tiered" (changed code enforced through the first tier), "swapped" (new
  // specialized programs attached), "maps-updated", "unchanged", "failed".
  // A specialization finishing in the background is reported as "swapped"
  // (or "failed") too, with its compile and load times.
  std::string result;
  std::string error;         // why it failed (the last good generation stays)
  double sinceChangeMs = 0;  // from the first change of the burst to enforcement
  // tierMs: writing the first tier's tables of the endpoints whose code changed.
  double loadStateMs = 0, lowerMs = 0, syncMs = 0, tierMs = 0, compileMs = 0, loadMs = 0, swapMs = 0, totalMs = 0;
};

struct EndpointStatus {
  std::string pod;         // "ns/name"
  std::string ip;
  std::string interface;   // "" while not found
  bool attached = false;
  std::string program;     // "specialized", "first tier", or "" while not attached
  std::string problem;     // why not attached
};

struct AgentStatus {
  std::string node;
  std::string source;
  uint64_t generation = 0;     // states whose changed code was put in force (0: none yet)
  bool enforcing = false;      // a generation is attached
  // Every endpoint and the uplink run their own specialized programs for the
  // state in force (nothing left on the first tier, no compile under way).
  bool specialized = false;
  uint64_t tierEntries = 0;    // endpoints that entered the first tier so far
  std::string sourceErrors;    // manifests that do not parse (their last good objects stay)
  std::string warnings;
  ReconcileReport last;       // the last reconcile
  ReconcileReport lastSwap;   // the last time specialized programs were attached (reconcile or background)
  std::optional<ReconcileReport> lastFailure;
  // Reconciles by result, and the background compiles that finished.
  uint64_t reconciles = 0, tiered = 0, swaps = 0, mapUpdates = 0, failures = 0;
  uint64_t specializations = 0, specializationFailures = 0;
  double compileMsTotal = 0, swapMsTotal = 0;
  std::vector<EndpointStatus> endpoints;
  std::vector<std::string> uplinks;
  std::string uplinkProgram;  // interfaces it is attached to, or "" when the node needs none
  int metricsPort = 0;        // where GET /metrics and /status answer (0: nowhere)
  // Pod networking: the version of the CNI attachments the last reconcile
  // lowered, the pods of this node the state has, and the node's pod CIDRs.
  uint64_t attachmentsApplied = 0;
  std::set<std::string> localPods;
  std::vector<Cidr> podCIDRs;
  std::string cniSocket;  // "" without --cni
};

nlohmann::json toJson(const AgentStatus& status);
// Prometheus text exposition: the agent's figures plus per-endpoint packet
// counters and drops by reason, read from the pinned counters map.
std::string metricsText(const AgentStatus& status, const std::string& pinDir);

class NodeAgent {
 public:
  using Clock = std::chrono::steady_clock;
  explicit NodeAgent(AgentOptions options);
  ~NodeAgent();
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  // Runs until stop(). Returns 0 after stop(), non-zero (with the reason
  // logged) when it cannot start: no source, metrics port taken, bpffs missing.
  int run();
  void stop();                // from any thread or a signal handler's thread
  AgentStatus status() const;  // from any thread
  std::string pinDir() const { return options_.bpffsRoot + "/" + options_.node; }
  // Reconciles finished (in force or failed): cheaper to poll than status().
  uint64_t reconciles() const { return completed_.load(); }

 private:
  struct Specialization;
  static constexpr uint64_t kTierSerial = ~uint64_t(0);
  void log(const std::string& line) const;
  bool setUp(std::string& error);
  bool sourceChanged();        // drains the source's notifications
  bool loadState(const ClusterState*& state, std::string& problems);  // state: valid until the next call
  void reconcile(Clock::time_point firstChange);
  // Tiers (node_agent_tiers.cpp).
  bool loadFirstTier(const ir::NodeProgram& node, std::string& error);
  bool codeIsCurrent(const std::string& endpoint) const;  // its own programs enforce the state in force
  // The endpoints (and uplink) whose own programs are stale, as a compile
  // job; null when there are none (or only ones that failed as they are).
  std::unique_ptr<Specialization> specializationFor(Clock::time_point firstChange, bool retryFailed);
  void startSpecialization();  // on a background thread, when none is under way
  void finishSpecialization(); // the background compile is done: install, attach, report
  // Takes the job's programs for the endpoints whose code inputs are still
  // those it compiled, and attaches them. Returns whether enforcement moved.
  bool installSpecialization(Specialization& job);
  void publishSpecialization(const ReconcileReport& report);
  // Attaches the uplink's programs for the state in force (the tier's until
  // its own are ready), or detaches them when the node needs none. Returns
  // whether what the uplink enforces changed. Uses the uplinks that
  // attachEndpoints(), called just before, found.
  bool syncUplink();
  void swapUplink(int uplinkFd);  // -1: detach
  // One hook, with tcx or tc (useTcx_). `firstHere`: the first attach on this
  // interface, which also removes what the other mechanism left there.
  bool attachHook(int ifindex, runtime::TcHook hook, int progFd, bool firstHere, std::string& error);
  bool detachHook(int ifindex, runtime::TcHook hook, std::string& error);  // both mechanisms
  std::string linkPin(int ifindex, runtime::TcHook hook) const;
  // Puts on each endpoint's interface the programs for the state in force:
  // its own when compiled for it, else the first tier's, else (without the
  // tier) whatever it has until its own are ready. Returns whether the state
  // enforced on some interface changed.
  bool attachEndpoints();
  void detachGone(const ir::NodeProgram& next);
  void detachStrays();
  void refreshUplinks(const std::vector<IpAddr>& nodeIPs);
  void publish(const ReconcileReport& report);
  void refreshStatusLocked();  // placement and generation into status_; statusMu_ held

  // Pod networking (node_agent_cni.cpp).
  bool setUpPodNetworking(std::string& error);
  cni::Response handleCni(const cni::Request& request);
  cni::Response cniAdd(const cni::Request& request);
  cni::Response cniDel(const cni::Request& request);
  cni::Response cniCheck(const cni::Request& request);
  cni::Response cniStatus();
  cni::Response cniGc(const cni::Request& request);
  // The attachments for the next merge, and the version they are (cniMu_ taken).
  uint64_t localAttachments(std::vector<StateFragments::LocalAttachment>& out);
  // Tells the loop that the attachments changed (any thread).
  void wake();
  void syncRoutes(const ClusterState& state);
  // ADD: the first tier's programs on a new pod's host interface, before its
  // entry exists (they drop until then), while the loop reconciles.
  void preAttachFirstTier(int ifindex, const std::string& ifname);
  bool takePreAttached(int ifindex, const std::string& ifname);  // the loop: whether it was
  // Removes an attachment's interface and address (cniMu_ held).
  void forgetAttachment(const std::string& containerID, const std::string& ifname, const std::string& hostIfname);

  AgentOptions options_;
  std::unique_ptr<DirSource> dir_;
  std::unique_ptr<ApiSource> api_;
  std::unique_ptr<MetricsServer> metrics_;
  StateFragments fragments_;
  // What is in force: the state, each endpoint's programs, the uplink's.
  std::shared_ptr<const ir::Program> program_;  // shared with a background compile's snapshot
  ir::NodeProgram node_;
  uint64_t generation_ = 0;
  struct EndpointCode {
    std::string key;  // codegen::endpointCodeInputs when compiled
    int fromFd = -1, toFd = -1;  // owned
    uint64_t serial = 0;         // > 0, unique per compiled pair (fds are reused numbers)
    void close();
  };
  std::map<std::string, EndpointCode> code_;  // each endpoint's specialized programs
  std::map<std::string, std::string> keys_;   // each endpoint's code inputs in the state in force
  uint64_t nextSerial_ = 1;
  std::string uplinkWanted_;  // the uplink's code inputs in the state in force ("": none needed)
  std::string uplinkKey_;     // those its specialized program was compiled for
  int uplinkFd_ = -1;         // that program (owned), -1: none
  uint64_t uplinkSerial_ = 0;
  uint64_t uplinkAttachedSerial_ = 0;  // what the uplinks run (kTierSerial: the tier's, 0: nothing)
  bool uplinkSynced_ = false;          // attached (or detached) once since the start
  std::string uplinkEnforced_;         // the code inputs the attached uplink program enforces
  // The first tier: its programs, its tables, and the node's pinned maps
  // (every sync goes through its LoadedNode).
  std::unique_ptr<runtime::FirstTier> tier_;
  std::unique_ptr<codegen::CompiledNode> tierObject_;
  // The background compile of specialized programs, at most one at a time.
  std::unique_ptr<Specialization> job_;
  std::thread jobThread_;
  int jobFd_ = -1;  // eventfd: the job is done
  std::map<std::string, std::string> failedKeys_;  // a failed job's endpoints' keys: not retried as they are
  std::string failedUplinkKey_;
  struct Placement {
    int ifindex = 0;
    std::string ifname;
    uint64_t serial = 0;     // the programs attached: EndpointCode::serial, or kTierSerial
    std::string enforced;    // the code inputs they enforce
    bool classicTc = false;  // held by classic tc filters (an ADD's early attach), even where tcx is used
  };
  std::map<std::string, Placement> placed_;  // endpoint key -> interface its programs are on
  std::map<std::string, std::string> unplaced_;  // endpoint key -> why not (yet)
  std::vector<int> uplinkIfindexes_;
  std::vector<std::string> uplinkNames_;
  std::set<int> uplinkAttached_;
  bool straysChecked_ = false;
  bool useTcx_ = false;
  int wakeFd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> cniWake_{false};  // the attachments changed since the last reconcile
  std::unique_ptr<CniServer> cniServer_;
  std::unique_ptr<Ipam> ipam_;
  std::mutex cniMu_;                  // ipam_ and attachmentsVersion_ (CNI threads and the loop)
  uint64_t attachmentsVersion_ = 0;
  // Host interfaces a CNI ADD puts the first tier's programs on while the
  // loop reconciles (by ifindex): the loop takes them as placed instead of
  // attaching again, waiting for an attach under way. ADDs attach in
  // parallel (each tcx attach waits for an RCU grace period).
  struct PreAttach {
    std::string ifname;
    bool done = false, ok = false;
  };
  std::mutex attachMu_;
  std::condition_variable preAttachDone_;
  std::map<int, PreAttach> preAttached_;
  std::string routesApplied_;         // what syncRoutes last made, to skip netlink when nothing changed
  uint64_t attachmentsLowered_ = 0;   // the attachments version the reconcile under way lowered
  std::set<std::string> localPods_;   // its state's pods on this node
  std::vector<Cidr> podCIDRs_;        // and this node's pod CIDRs
  uint32_t podMtu_ = 0;
  std::atomic<uint64_t> reconciles_{0}, completed_{0};
  mutable std::mutex statusMu_;
  std::condition_variable statusChanged_;  // status_ changed (CNI ADDs wait for their endpoint)
  AgentStatus status_;
};

}  // namespace sluice::agent
