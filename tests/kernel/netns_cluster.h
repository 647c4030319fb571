// A small "cluster" of network namespaces for real-traffic kernel tests: one
// namespace per node and per pod, joined by veth pairs the way a CNI plugin
// (Calico, Cilium) joins them, and removed again even when a test fails.
//
// Topology (exactly two nodes are supported; a third addNode throws):
//
//   pod ns                node ns A                        node ns B
//   eth0 10.77.1.5/32 ──veth── lxc<tag><i>   fab<tag>0 ──veth── fab<tag>1   lxc.. ──veth── eth0 ..
//                             (no address)   192.168.77.1/24   192.168.77.2/24
//
// - Pod: eth0 has podIp/32; `169.254.1.1 dev eth0 scope link` and
//   `default via 169.254.1.1`; 169.254.1.1 is a *permanent* neighbour entry with
//   the MAC of the host-side veth, so the pod never ARPs.
// - Node: `podIp/32 dev lxc..` plus a permanent neighbour entry for the pod's
//   MAC, so the node never ARPs toward the pod either. The host-side veth has no
//   address. Traffic between pods of one node is routed by the node
//   (pod A → lxcA [from-pod, tc ingress] → forward → lxcB [to-pod, tc egress] → pod B).
// - Between nodes: the fabric veth pair, addresses nodeIp/24 (ARP as usual).
//   Node A routes every pod of node B via node B's IP: the node's podCidr if one
//   was given to addNode, else one /32 per pod.
// - Outside clients (addOutsideClient): a namespace outside the cluster, joined
//   by a veth to one node like a machine on that node's LAN:
//
//     client ns                 node ns A                  node ns B
//     eth0 192.168.78.2/24 ──veth── out<tag><i> 192.168.78.1/24
//     default via 192.168.78.1                             192.168.78.0/24 via 192.168.77.1
//
//   Node A is the client's router, so the client reaches every node address
//   (and whatever else node A routes); node B routes the client's /24 via
//   node A. The node's end and the fabric veth are the node's uplinks
//   (uplinkIfs), where a NodePort program goes.
// - ip_forward=1 in node namespaces (0 in pods), rp_filter=0 everywhere; IPv6
//   disabled by default, so that the tc hooks only see the IPv4 traffic a test
//   sends (no RS/DAD/MLD noise).
//
// Names: namespaces are `slt<pid>.<pidns>-<n>-n-<node>`, `...-p-<pod>` and `...-o-<client>`
// (<pidns> = inode of our pid namespace, so a later process can safely tell the
// leftovers of dead processes: cleanupStale()); interface names use a short tag
// `<pid%10000><n%100>` (≤ 15 chars). Interfaces are created directly inside
// their namespaces, never in the root namespace.
//
// Sockets keep their namespace alive: destroy servers/sessions that were opened
// in a pod before the cluster (declare them after it).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace sluice::kernel_testing {

// Throws std::runtime_error unless running as root: kernel tests fail loudly,
// they never skip.
void requireRoot();

// ---- running things in a namespace ----------------------------------------

// Runs fn on a fresh thread that has setns(CLONE_NEWNET)'d into the namespace
// at nsPath (e.g. /run/netns/x); the calling thread is never moved. Exceptions
// from fn are rethrown here. Only the network namespace changes: the mount
// namespace (and so /sys/fs/bpf) stays the caller's — unlike `ip netns exec`.
// Sockets created inside fn stay in that namespace after fn returns.
void runInNetns(const std::string& nsPath, const std::function<void()>& fn);

template <class F>
auto callInNetns(const std::string& nsPath, F&& f) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    runInNetns(nsPath, f);
  } else {
    std::optional<R> out;
    runInNetns(nsPath, [&] { out.emplace(f()); });
    return std::move(*out);
  }
}

// Opens a socket in the given namespace.
int socketInNetns(const std::string& nsPath, int domain, int type, int protocol);

// ---- commands ----------------------------------------------------------------

struct CommandResult {
  int status = -1;     // exit status, or -1 if it did not exit normally
  std::string output;  // stdout and stderr, interleaved
  bool ok() const { return status == 0; }
};

// Runs argv (no shell) and collects its output.
CommandResult runCommand(const std::vector<std::string>& argv);
// Same, but throws std::runtime_error with the command and its output on failure.
std::string runCommandOrThrow(const std::vector<std::string>& argv);

// ---- the cluster ---------------------------------------------------------------

enum class TcDirection {
  FromPod,  // tc ingress on the host-side veth (packets the pod sends)
  ToPod,    // tc egress on the host-side veth (packets delivered to the pod)
};

class NetnsCluster {
 public:
  struct Options {
    bool disableIpv6 = true;
  };

  struct Node {
    std::string name;
    std::string ip;       // fabric address, e.g. 192.168.77.1
    std::string podCidr;  // optional, e.g. 10.77.1.0/24; "" = /32 routes per pod
    std::string netns;    // namespace name (ip netns list)
    std::string netnsPath;
    std::string fabricIf;  // the node's end of the fabric veth ("" until 2 nodes)
    int fabricIfindex = 0;
    int index = 0;
  };

  // A machine outside the cluster, behind one node (see the topology above).
  struct OutsideClient {
    std::string name;
    std::string ip;         // e.g. 192.168.78.2
    std::string gatewayIp;  // the node's address on the client's /24 (<prefix>.1)
    std::string via;        // the node it is attached to
    std::string netns;
    std::string netnsPath;
    std::string nodeIf;     // the node's end of the veth (one of the node's uplinks)
    int nodeIfindex = 0;    // its ifindex in the node's namespace
    std::string clientIf = "eth0";
    int index = 0;
  };

  // A node's interface towards the rest of the world, in the node's namespace.
  struct Uplink {
    std::string name;
    int ifindex = 0;
  };

  struct Pod {
    std::string name;
    std::string node;
    std::string ip;
    std::string netns;
    std::string netnsPath;
    std::string hostIf;   // host-side veth, in the node's namespace
    int hostIfindex = 0;  // its ifindex in the node's namespace
    std::string hostMac;
    std::string podIf = "eth0";
    int podIfindex = 0;  // ifindex of eth0 in the pod's namespace
    std::string podMac;
    int index = 0;
  };

  NetnsCluster();
  explicit NetnsCluster(Options options);
  ~NetnsCluster();  // destroy()
  NetnsCluster(const NetnsCluster&) = delete;
  NetnsCluster& operator=(const NetnsCluster&) = delete;

  // Adds a node namespace. The second node is wired to the first by the fabric
  // veth pair; both must have addresses in the same /24.
  const Node& addNode(const std::string& name, const std::string& nodeIp,
                      const std::string& podCidr = "");
  // Adds a pod namespace attached to `node` (see the topology above).
  const Pod& addPod(const std::string& node, const std::string& name, const std::string& podIp);

  // Adds a client outside the cluster whose router is node `via`: clientIp/24
  // on its side, <prefix>.1/24 on the node's (the /24 must not be the fabric's
  // or another client's). Both nodes must exist.
  const OutsideClient& addOutsideClient(const std::string& name, const std::string& clientIp,
                                        const std::string& via);

  const Node& node(const std::string& name) const;
  const Pod& pod(const std::string& name) const;
  const OutsideClient& outsideClient(const std::string& name) const;
  // The node's uplinks: the fabric veth and its outside clients' veths.
  std::vector<Uplink> uplinkIfs(const std::string& node) const;
  // A pod's or an outside client's namespace: where the probes of traffic.h run.
  const std::string& clientNetnsPath(const std::string& podOrClient) const;
  std::vector<std::string> nodeNames() const;  // in the order added
  std::vector<std::string> podNames() const;   // in the order added
  // The nodes as Kubernetes Node objects (name, podCIDR, InternalIP), YAML documents.
  std::string nodeManifests() const;

  const std::string& hostIfName(const std::string& pod) const { return this->pod(pod).hostIf; }
  int hostIfindex(const std::string& pod) const { return this->pod(pod).hostIfindex; }
  const std::string& podIp(const std::string& pod) const { return this->pod(pod).ip; }
  const std::string& nodeNetnsPath(const std::string& node) const { return this->node(node).netnsPath; }
  const std::string& podNetnsPath(const std::string& pod) const { return this->pod(pod).netnsPath; }
  // An O_RDONLY fd of the node's namespace, owned by the cluster (valid until destroy()).
  int nodeNetnsFd(const std::string& node) const;

  // Runs fn in the node's / pod's namespace on a dedicated thread (see runInNetns).
  void runInNode(const std::string& node, const std::function<void()>& fn) const;
  void runInPod(const std::string& pod, const std::function<void()>& fn) const;
  // Either of the above by name; throws if the name is both a node and a pod, or neither.
  void runIn(const std::string& nodeOrPod, const std::function<void()>& fn) const;

  // `ip netns exec <node ns> argv...`; fine for iproute2/tc, not for bpffs users.
  CommandResult execInNode(const std::string& node, const std::vector<std::string>& argv) const;
  std::string execInNodeOrThrow(const std::string& node, const std::vector<std::string>& argv) const;
  CommandResult execInPod(const std::string& pod, const std::vector<std::string>& argv) const;

  // Adds (once) a clsact qdisc on the pod's host-side veth and a tc filter that
  // drops every packet in the given direction, without eBPF: a classic-BPF
  // `ret #TC_ACT_SHOT` in direct-action mode (this kernel has neither
  // cls_matchall nor act_gact).
  void dropAtHostVeth(const std::string& pod, TcDirection dir);
  // Removes the clsact qdisc (and with it every tc filter/program) from the pod's host veth.
  void clearTcAtHostVeth(const std::string& pod);

  const std::string& netnsPrefix() const { return nsPrefix_; }  // "slt12345.4026531836-0-"
  const std::string& ifTag() const { return ifTag_; }            // e.g. "234500"
  std::vector<std::string> netnsNames() const;                    // all namespaces created

  // Deletes every namespace of the cluster; idempotent, never throws (reports to stderr).
  void destroy();

  // ---- static helpers ----
  static std::string netnsPathOf(const std::string& nsName);  // /run/netns/<name>
  static std::vector<std::string> listNetns(const std::string& prefix = "");
  // Deletes every namespace whose name starts with prefix; returns how many.
  static int cleanupByPrefix(const std::string& prefix);
  // Deletes namespaces of this library (`slt<pid>.<pidns>-...`) whose process is
  // gone (same pid namespace only); the constructor calls it.
  static int cleanupStale();

 private:
  std::string addNetns(const std::string& name);
  void setSysctls(const std::string& nsPath, bool forwarding) const;
  void wireFabric();
  void routePodFrom(const Node& other, const Pod& p);
  static std::string ip4Prefix24(const std::string& ip);

  Options options_;
  std::string nsPrefix_;
  std::string ifTag_;
  std::vector<std::string> netns_;  // creation order
  std::map<std::string, int> nsFds_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Pod>> pods_;
  std::vector<std::unique_ptr<OutsideClient>> outside_;
  bool destroyed_ = false;
};

}  // namespace sluice::kernel_testing
