// The real-traffic test: sluice's compiled programs attached with tc to the
// host-side veths of a two-node network-namespace cluster, judged by real
// TCP, UDP and SCTP traffic between the pods.
//
//   node-1 (192.168.77.1)                     node-2 (192.168.77.2)
//     x/a 10.77.1.10  app=a                     y/c 10.77.2.10  app=c
//     x/b 10.77.1.11  app=b
//
// Policies (the manifests are below; IPs come from the fixture, so the IP
// cache agrees with the addresses traffic really has):
//   x/a-egress   a may reach b on TCP 80, 81, UDP 5353, 5354, SCTP 7000, 7001,
//                and namespace y on TCP 80, UDP 5353-5354 (endPort), SCTP 7000.
//   x/b-ingress  b admits a on TCP http(80), 8080, UDP dns(5353), SCTP 7000,
//                and y/c (namespaceSelector AND podSelector) on TCP alt(81).
//   y/c-ingress  c admits x/a on TCP 80, 82, UDP 5353, SCTP 7000, and
//                10.77.1.0/24 except 10.77.1.11 (b) on UDP 5354.
// a's ingress, b's and c's egress are not isolated.
//
// These tests need root; they fail (never skip) without it.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "codegen/codegen.h"
#include "codegen/datapath/sluice_abi.h"
#include "frontend/manifest_loader.h"
#include "runtime/kernel_cluster.h"
#include "runtime/tc_attach.h"
#include "tests/kernel/netns_cluster.h"
#include "tests/kernel/traffic.h"
#include "tests/testing/datapath_modes.h"

namespace sluice::kernel_testing {
namespace {

using namespace std::chrono_literals;
using runtime::TcHook;

// How long a probe waits before calling a flow dropped. Allowed flows answer
// within a millisecond; this only bounds the denied ones.
constexpr milliseconds kDropTimeout = 500ms;

struct PodDef {
  std::string ns, name, node, ip, labels, ports;  // labels/ports: YAML flow style
  std::string key() const { return ns + "/" + name; }
  std::string fixtureName() const { return ns + "-" + name; }
};

const std::vector<PodDef>& podDefs() {
  static const std::vector<PodDef> defs = {
      {"x", "a", "node-1", "10.77.1.10", "{app: a}", "[{name: http, containerPort: 80}]"},
      {"x", "b", "node-1", "10.77.1.11", "{app: b}",
       "[{name: http, containerPort: 80}, {name: alt, containerPort: 81},"
       " {name: dns, containerPort: 5353, protocol: UDP}]"},
      {"y", "c", "node-2", "10.77.2.10", "{app: c}", "[{name: http, containerPort: 80}]"},
  };
  return defs;
}

const char* kPolicies = R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-egress, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: b}}}]
    ports:
    - {port: 80}
    - {port: 81}
    - {protocol: UDP, port: 5353}
    - {protocol: UDP, port: 5354}
    - {protocol: SCTP, port: 7000}
    - {protocol: SCTP, port: 7001}
  - to: [{namespaceSelector: {matchLabels: {ns: y}}}]
    ports:
    - {protocol: TCP, port: 80}
    - {protocol: UDP, port: 5353, endPort: 5354}
    - {protocol: SCTP, port: 7000}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-ingress, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: a}}}]
    ports:
    - {port: http}
    - {port: 8080}
    - {protocol: UDP, port: dns}
    - {protocol: SCTP, port: 7000}
  - from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {app: c}}}]
    ports: [{port: alt}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-ingress, namespace: y}
spec:
  podSelector: {matchLabels: {app: c}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: x}}, podSelector: {matchLabels: {app: a}}}]
    ports:
    - {port: 80}
    - {port: 82}
    - {protocol: UDP, port: 5353}
    - {protocol: SCTP, port: 7000}
  - from: [{ipBlock: {cidr: 10.77.1.0/24, except: [10.77.1.11/32]}}]
    ports: [{protocol: UDP, port: 5354}]
)";

// Nodes, Namespaces and Pods written from the fixture's actual addresses.
std::string clusterManifests(const NetnsCluster& net) {
  std::string y;
  for (const auto& n : net.nodeNames()) {
    const auto& node = net.node(n);
    y += fmt::format(R"(---
apiVersion: v1
kind: Node
metadata: {{name: {0}, labels: {{kubernetes.io/hostname: {0}}}}}
spec: {{podCIDR: {1}, podCIDRs: [{1}]}}
status:
  addresses:
  - {{type: InternalIP, address: {2}}}
  - {{type: Hostname, address: {0}}}
)",
                     node.name, node.podCidr, node.ip);
  }
  for (const char* ns : {"x", "y"})
    y += fmt::format("---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {0}, labels: {{ns: {0}}}}}\n", ns);
  for (const auto& d : podDefs()) {
    const auto& pod = net.pod(d.fixtureName());
    y += fmt::format(R"(---
apiVersion: v1
kind: Pod
metadata: {{name: {}, namespace: {}, labels: {}}}
spec:
  nodeName: {}
  containers:
  - {{name: main, image: registry.example.com/echo:1, ports: {}}}
status:
  phase: Running
  hostIP: {}
  podIP: {}
  podIPs: [{{ip: {}}}]
)",
                     d.name, d.ns, d.labels, pod.node, d.ports, net.node(pod.node).ip, pod.ip, pod.ip);
  }
  return y + kPolicies;
}

uint32_t ipBe(const std::string& ip) {
  in_addr a{};
  inet_pton(AF_INET, ip.c_str(), &a);
  return a.s_addr;
}

// In both datapath modes (tests/testing/datapath_modes.h): real connections
// meet the specialized code, or the generic tables.
class RealTrafficTest : public testing::InBothDatapathModes {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "kernel tests must run as root (they fail instead of skipping)";
    net = std::make_unique<NetnsCluster>();
    net->addNode("node-1", "192.168.77.1", "10.77.1.0/24");
    net->addNode("node-2", "192.168.77.2", "10.77.2.0/24");
    for (const auto& d : podDefs()) net->addPod(d.node, d.fixtureName(), d.ip);

    std::string yaml = clusterManifests(*net);
    ClusterState state;
    Diagnostics diags;
    ASSERT_TRUE(loadManifestText("real-traffic.yaml", yaml, state, diags)) << diags.render() << "\n" << yaml;
    state.finalize();
    kernel = std::make_unique<runtime::KernelCluster>();
    ASSERT_TRUE(kernel->build(state, diags, options())) << diags.render();
    ASSERT_TRUE(testing::LoadedInMode(*kernel, mode()));
    ASSERT_EQ(kernel->program().nodes.size(), 2u);
  }

  void TearDown() override {
    // Sockets first (they pin their namespaces), then the namespaces (which
    // takes the veths and their tc filters along), then the programs and maps.
    servers.clear();
    udpServers.clear();
    net.reset();
    kernel.reset();
  }

  const PodDef& def(const std::string& key) const {
    for (const auto& d : podDefs())
      if (d.key() == key) return d;
    throw std::invalid_argument("no pod " + key);
  }
  std::string fx(const std::string& key) const { return def(key).fixtureName(); }
  std::string ip(const std::string& key) const { return def(key).ip; }

  int programFd(const std::string& key, ir::Direction dir) {
    const PodDef& d = def(key);
    const ir::NodeProgram* np = kernel->program().findNode(d.node);
    const ir::Endpoint* ep = np ? np->findEndpoint(key) : nullptr;
    runtime::LoadedNode* node = kernel->loaded(d.node);
    if (!ep || !node) return -1;
    return node->programFd(codegen::programName(*np, *ep, dir));
  }

  static uint32_t programId(int fd) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
  }

  // Attaches (or re-attaches: replace) a pod's two programs on its host-side
  // veth, from inside its node's namespace.
  ::testing::AssertionResult attachPod(const std::string& key) {
    const auto& pod = net->pod(def(key).fixtureName());
    int from = programFd(key, ir::Direction::Egress), to = programFd(key, ir::Direction::Ingress);
    if (from < 0 || to < 0) return ::testing::AssertionFailure() << "programs of " << key << " are not loaded";
    std::string error;
    bool ok = false;
    net->runInNode(pod.node, [&] {
      ok = runtime::attachTc(pod.hostIfindex, TcHook::Ingress, from, error) &&
           runtime::attachTc(pod.hostIfindex, TcHook::Egress, to, error);
    });
    if (!ok) return ::testing::AssertionFailure() << key << ": " << error;
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult attachAll() {
    for (const auto& d : podDefs())
      if (auto r = attachPod(d.key()); !r) return r;
    return ::testing::AssertionSuccess();
  }

  int64_t attachedId(const std::string& key, TcHook hook) {
    const auto& pod = net->pod(def(key).fixtureName());
    std::string error;
    int64_t id = -1;
    net->runInNode(pod.node, [&] { id = runtime::attachedTcProgramId(pod.hostIfindex, hook, error); });
    EXPECT_GE(id, 0) << error;
    return id;
  }

  // Packets counted by an endpoint's hook with the given outcome (all CPUs).
  uint64_t counted(const std::string& key, ir::Direction dir, sluice_outcome outcome) {
    runtime::LoadedNode* node = kernel->loaded(def(key).node);
    int fd = node ? node->mapFd(SLUICE_MAP_COUNTERS) : -1;
    if (fd < 0) return 0;
    sluice_counter_key k{};
    k.endpoint_addr = ipBe(ip(key));
    k.direction = dir == ir::Direction::Egress ? 1 : 0;
    k.outcome = uint8_t(outcome);
    int cpus = libbpf_num_possible_cpus();
    std::vector<sluice_counter_value> values(cpus > 0 ? cpus : 1);
    if (bpf_map_lookup_elem(fd, &k, values.data()) != 0) return 0;
    uint64_t sum = 0;
    for (const auto& v : values) sum += v.packets;
    return sum;
  }

  bool traceAllows(const std::string& from, const std::string& to, ir::L4Proto proto, uint16_t port) {
    runtime::FlowQuery q;
    q.fromPod = from;
    q.toPod = to;
    q.proto = proto;
    q.port = port;
    runtime::FlowTrace t = kernel->trace(q);
    EXPECT_TRUE(t.ok) << t.error;
    return t.allowed;
  }

  void listenTcp(const std::string& key, std::initializer_list<uint16_t> ports) {
    for (uint16_t p : ports) servers.push_back(tcpListen(*net, fx(key), p));
  }
  void listenUdp(const std::string& key, std::initializer_list<uint16_t> ports) {
    for (uint16_t p : ports) udpServers.push_back(udpListen(*net, fx(key), p));
  }
  // Every listener the tests use.
  void listenAll() {
    listenTcp("x/a", {80});
    listenTcp("x/b", {80, 81, 8080});
    listenTcp("y/c", {80, 82});
    listenUdp("x/a", {5353});
    listenUdp("x/b", {5353, 5354});
    listenUdp("y/c", {5353, 5354});
  }

  TcpResult tcp(const std::string& from, const std::string& to, uint16_t port, milliseconds timeout) {
    return tcpConnect(*net, fx(from), ip(to), port, timeout);
  }
  UdpResult udp(const std::string& from, const std::string& to, uint16_t port, milliseconds timeout) {
    return udpProbe(*net, fx(from), ip(to), port, timeout);
  }
  bool sctp(const std::string& from, const std::string& to, uint16_t port, milliseconds timeout) {
    return sctpInitDelivered(*net, fx(from), fx(to), port, timeout);
  }

  std::unique_ptr<NetnsCluster> net;
  std::unique_ptr<runtime::KernelCluster> kernel;
  // Declared after the cluster, cleared first in TearDown.
  std::vector<std::unique_ptr<TcpEchoServer>> servers;
  std::vector<std::unique_ptr<UdpEchoServer>> udpServers;
};
SLUICE_IN_BOTH_DATAPATH_MODES(RealTrafficTest);

struct Flow {
  const char* from;
  const char* to;
  uint16_t port;
  bool allowed;
  const char* why;
};
std::string describe(const char* proto, const Flow& f) {
  return fmt::format("{} {} -> {}:{} ({})", proto, f.from, f.to, f.port, f.why);
}

const std::vector<Flow> kTcpFlows = {
    {"x/a", "x/b", 80, true, "same node: a's egress and b's ingress allow"},
    {"x/a", "x/b", 81, false, "same node: a's egress allows, b's ingress denies"},
    {"x/a", "x/b", 8080, false, "same node: b's ingress allows, a's egress denies"},
    {"x/b", "x/a", 80, true, "same node: unisolated; replies pass a's isolated egress"},
    {"x/a", "y/c", 80, true, "cross node: both allow"},
    {"x/a", "y/c", 82, false, "cross node: c's ingress allows, a's egress denies"},
    {"x/b", "y/c", 80, false, "cross node: c's ingress denies b"},
    {"y/c", "x/b", 81, true, "cross node: named port alt, namespaceSelector AND podSelector"},
    {"y/c", "x/b", 80, false, "cross node: b admits c only on alt"},
    {"y/c", "x/a", 80, true, "cross node: replies pass a's isolated egress"},
};
const std::vector<Flow> kUdpFlows = {
    {"x/a", "x/b", 5353, true, "same node: named port dns"},
    {"x/a", "x/b", 5354, false, "same node: a's egress allows, b's ingress denies"},
    {"x/a", "y/c", 5353, true, "cross node"},
    {"x/a", "y/c", 5354, true, "cross node: endPort on egress, ipBlock on ingress"},
    {"x/b", "y/c", 5354, false, "cross node: b is the ipBlock's except"},
    {"y/c", "x/a", 5353, true, "cross node: replies pass a's isolated egress"},
};
const std::vector<Flow> kSctpFlows = {
    {"x/a", "x/b", 7000, true, "same node"},
    {"x/a", "x/b", 7001, false, "same node: a's egress allows, b's ingress denies"},
    {"x/a", "y/c", 7000, true, "cross node"},
    {"x/b", "y/c", 7000, false, "cross node: c's ingress denies b"},
};

TEST_P(RealTrafficTest, IpcacheKnowsTheFixturesNodesAndPods) {
  // The node's own address is the host, the other node a remote node, pods
  // their identities: what the programs look up for real packets.
  for (const auto& n : net->nodeNames()) {
    runtime::LoadedNode* node = kernel->loaded(n);
    ASSERT_NE(node, nullptr) << n;
    int fd = node->mapFd(SLUICE_MAP_IPCACHE);
    ASSERT_GE(fd, 0);
    for (const auto& other : net->nodeNames()) {
      sluice_ipcache_key k{ipBe(net->node(other).ip)};
      sluice_ipcache_value v{};
      ASSERT_EQ(bpf_map_lookup_elem(fd, &k, &v), 0) << n << " does not know node " << other;
      EXPECT_EQ(v.identity, other == n ? ir::reserved::kHost : ir::reserved::kRemoteNode) << n << " / " << other;
    }
    for (const auto& d : podDefs()) {
      sluice_ipcache_key k{ipBe(d.ip)};
      sluice_ipcache_value v{};
      ASSERT_EQ(bpf_map_lookup_elem(fd, &k, &v), 0) << n << " does not know pod " << d.key();
      EXPECT_GE(v.identity, ir::kFirstClusterIdentity) << d.key();
    }
  }
}

TEST_P(RealTrafficTest, PoliciesDecideRealConnections) {
  listenAll();
  // Without programs the fixture carries every flow: a refused flow below is
  // refused by sluice, not by a missing listener or route.
  for (const auto& f : kTcpFlows)
    ASSERT_EQ(tcp(f.from, f.to, f.port, 2000ms), TcpResult::Connected) << "no programs yet: " << describe("TCP", f);
  for (const auto& f : kUdpFlows)
    ASSERT_EQ(udp(f.from, f.to, f.port, 2000ms), UdpResult::Reply) << "no programs yet: " << describe("UDP", f);
  for (const auto& f : kSctpFlows)
    ASSERT_TRUE(sctp(f.from, f.to, f.port, 2000ms)) << "no programs yet: " << describe("SCTP", f);

  ASSERT_TRUE(attachAll());
  for (const auto& d : podDefs()) {
    EXPECT_EQ(attachedId(d.key(), TcHook::Ingress), programId(programFd(d.key(), ir::Direction::Egress))) << d.key();
    EXPECT_EQ(attachedId(d.key(), TcHook::Egress), programId(programFd(d.key(), ir::Direction::Ingress))) << d.key();
  }

  for (const auto& f : kTcpFlows) {
    // A completed handshake proves the SYN-ACK came back through the hooks too.
    TcpResult r = tcp(f.from, f.to, f.port, f.allowed ? 2000ms : kDropTimeout);
    EXPECT_EQ(r, f.allowed ? TcpResult::Connected : TcpResult::TimedOut) << describe("TCP", f);
    EXPECT_EQ(traceAllows(f.from, f.to, ir::L4Proto::TCP, f.port), f.allowed) << "trace: " << describe("TCP", f);
  }
  for (const auto& f : kUdpFlows) {
    UdpResult r = udp(f.from, f.to, f.port, f.allowed ? 2000ms : kDropTimeout);
    EXPECT_EQ(r, f.allowed ? UdpResult::Reply : UdpResult::TimedOut) << describe("UDP", f);
    EXPECT_EQ(traceAllows(f.from, f.to, ir::L4Proto::UDP, f.port), f.allowed) << "trace: " << describe("UDP", f);
  }
  for (const auto& f : kSctpFlows) {
    bool delivered = sctp(f.from, f.to, f.port, f.allowed ? 2000ms : kDropTimeout);
    EXPECT_EQ(delivered, f.allowed) << describe("SCTP", f);
    EXPECT_EQ(traceAllows(f.from, f.to, ir::L4Proto::SCTP, f.port), f.allowed) << "trace: " << describe("SCTP", f);
  }
}

TEST_P(RealTrafficTest, SameNodeFlowMeetsBothPolicies) {
  // Where a same-node connection is stopped says whose policy stopped it:
  // the server's to-pod when only its ingress denies, the client's from-pod
  // when only its egress denies.
  listenAll();
  ASSERT_TRUE(attachAll());
  auto bDenied = [&] { return counted("x/b", ir::Direction::Ingress, SLUICE_OUT_NEW_DENIED); };
  auto aAllowed = [&] { return counted("x/a", ir::Direction::Egress, SLUICE_OUT_NEW_ALLOWED); };
  auto aDenied = [&] { return counted("x/a", ir::Direction::Egress, SLUICE_OUT_NEW_DENIED); };

  uint64_t b0 = bDenied(), a0 = aAllowed(), d0 = aDenied();
  EXPECT_EQ(tcp("x/a", "x/b", 81, kDropTimeout), TcpResult::TimedOut);
  EXPECT_GT(aAllowed(), a0) << "a's egress should have allowed the SYN";
  EXPECT_GT(bDenied(), b0) << "b's ingress should have dropped the SYN";
  EXPECT_EQ(aDenied(), d0);

  b0 = bDenied(), a0 = aAllowed(), d0 = aDenied();
  EXPECT_EQ(tcp("x/a", "x/b", 8080, kDropTimeout), TcpResult::TimedOut);
  EXPECT_GT(aDenied(), d0) << "a's egress should have dropped the SYN";
  EXPECT_EQ(bDenied(), b0) << "the SYN should never have reached b's hook";

  // Both allow: the reply path needs no policy of its own.
  EXPECT_EQ(tcp("x/a", "x/b", 80, 2000ms), TcpResult::Connected);
  EXPECT_TRUE(servers[1]->waitForAccepted(1));  // x/b:80
}

TEST_P(RealTrafficTest, ConnectionsSurviveTwentyReattachments) {
  listenAll();
  ASSERT_TRUE(attachAll());
  // Cross-node through a's isolated egress and c's isolated ingress, and
  // same-node through a's egress and b's ingress.
  TcpSession cross(*net, fx("x/a"), ip("y/c"), 80, 10ms, 1000ms, 2000ms);
  TcpSession local(*net, fx("x/a"), ip("x/b"), 80, 10ms, 1000ms, 2000ms);
  ASSERT_TRUE(cross.connected());
  ASSERT_TRUE(local.connected());
  ASSERT_TRUE(cross.waitForExchanges(3, 2000ms));
  ASSERT_TRUE(local.waitForExchanges(3, 2000ms));

  std::vector<std::pair<std::string, int64_t>> before;
  for (const auto& d : podDefs())
    for (TcHook h : {TcHook::Ingress, TcHook::Egress}) before.emplace_back(d.key(), attachedId(d.key(), h));

  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(attachAll()) << "round " << round;
    std::this_thread::sleep_for(15ms);  // let exchanges run between swaps
  }
  EXPECT_TRUE(cross.waitForExchanges(5, 2000ms));
  EXPECT_TRUE(local.waitForExchanges(5, 2000ms));
  TcpSession::Stats c = cross.stop(), l = local.stop();
  EXPECT_TRUE(c.stayedUp()) << "cross-node: stalls " << c.stalls << ", broken " << c.broken << " " << c.error;
  EXPECT_TRUE(l.stayedUp()) << "same-node: stalls " << l.stalls << ", broken " << l.broken << " " << l.error;
  EXPECT_GE(c.exchanges, 10u);
  EXPECT_GE(l.exchanges, 10u);

  // The same filter, the same program: replaced in place, nothing added.
  size_t i = 0;
  for (const auto& d : podDefs())
    for (TcHook h : {TcHook::Ingress, TcHook::Egress}) {
      EXPECT_EQ(attachedId(d.key(), h), before[i].second) << d.key() << " " << runtime::toString(h);
      ++i;
    }
  std::string filters = net->execInNodeOrThrow("node-1", {"tc", "filter", "show", "dev", net->hostIfName(fx("x/a")),
                                                          "ingress"});
  size_t bpfFilters = 0;
  for (size_t at = filters.find("handle 0x5c1"); at != std::string::npos; at = filters.find("handle 0x5c1", at + 1))
    ++bpfFilters;
  EXPECT_EQ(bpfFilters, 1u) << filters;

  // And policy still holds for new connections.
  EXPECT_EQ(tcp("x/a", "x/b", 81, kDropTimeout), TcpResult::TimedOut);
  EXPECT_EQ(tcp("x/a", "y/c", 80, 2000ms), TcpResult::Connected);
}

TEST_P(RealTrafficTest, AttachAndDetachInterface) {
  listenAll();
  ASSERT_TRUE(attachAll());
  const auto& a = net->pod(fx("x/a"));
  std::string error;

  // Detaching a's from-pod lifts its egress policy: a -> c:82 (c admits it) connects.
  EXPECT_EQ(tcp("x/a", "y/c", 82, kDropTimeout), TcpResult::TimedOut);
  bool ok = false;
  net->runInNode(a.node, [&] { ok = runtime::detachTc(a.hostIfindex, TcHook::Ingress, error); });
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(attachedId("x/a", TcHook::Ingress), 0);
  EXPECT_NE(attachedId("x/a", TcHook::Egress), 0) << "the other hook stays";
  EXPECT_EQ(tcp("x/a", "y/c", 82, 2000ms), TcpResult::Connected);
  // Detaching again is not an error.
  net->runInNode(a.node, [&] { ok = runtime::detachTc(a.hostIfindex, TcHook::Ingress, error); });
  EXPECT_TRUE(ok) << error;
  // Re-attaching restores it.
  ASSERT_TRUE(attachPod("x/a"));
  EXPECT_EQ(tcp("x/a", "y/c", 82, kDropTimeout), TcpResult::TimedOut);

  // An interface without any qdisc: nothing attached, detach is a no-op.
  const auto& c = net->pod(fx("y/c"));
  int64_t id = -1;
  net->runInPod(c.name, [&] {
    id = runtime::attachedTcProgramId(c.podIfindex, TcHook::Egress, error);
    ok = runtime::detachTc(c.podIfindex, TcHook::Egress, error);
  });
  EXPECT_EQ(id, 0) << error;
  EXPECT_TRUE(ok) << error;

  // A plain `ingress` qdisc has one block for both directions: attaching
  // there would judge the wrong packets, so attachTc refuses.
  ASSERT_TRUE(net->execInPod(c.name, {"tc", "qdisc", "add", "dev", "eth0", "ingress"}).ok());
  std::string refused;
  net->runInPod(c.name, [&] {
    ok = runtime::attachTc(c.podIfindex, TcHook::Egress, programFd("y/c", ir::Direction::Ingress), refused);
  });
  EXPECT_FALSE(ok);
  EXPECT_NE(refused.find("clsact"), std::string::npos) << refused;
  EXPECT_EQ(net->execInPod(c.name, {"tc", "filter", "show", "dev", "eth0", "ingress"}).output, "");
  EXPECT_TRUE(net->execInPod(c.name, {"tc", "qdisc", "del", "dev", "eth0", "ingress"}).ok());

  // Errors name the hook and the interface, and say why.
  net->runInNode(a.node, [&] {
    std::string e1, e2, e3, e4;
    EXPECT_FALSE(runtime::attachTc(999999, TcHook::Egress, programFd("x/a", ir::Direction::Ingress), e1));
    EXPECT_NE(e1.find("egress"), std::string::npos) << e1;
    EXPECT_NE(e1.find("999999"), std::string::npos) << e1;
    EXPECT_FALSE(runtime::detachTc(999999, TcHook::Ingress, e2));
    EXPECT_NE(e2.find("ingress"), std::string::npos) << e2;
    EXPECT_NE(e2.find("999999"), std::string::npos) << e2;
    EXPECT_FALSE(runtime::attachTc(a.hostIfindex, TcHook::Ingress, -1, e3));
    EXPECT_NE(e3.find(a.hostIf), std::string::npos) << e3;
    // A map is not a program: the kernel refuses, and the error says where.
    int mapFd = kernel->loaded("node-1")->mapFd(SLUICE_MAP_IPCACHE);
    EXPECT_FALSE(runtime::attachTc(a.hostIfindex, TcHook::Ingress, mapFd, e4));
    EXPECT_NE(e4.find(a.hostIf), std::string::npos) << e4;
    EXPECT_NE(e4.find("ingress"), std::string::npos) << e4;
  });
  // The refused attach left the working program in place.
  EXPECT_EQ(attachedId("x/a", TcHook::Ingress), programId(programFd("x/a", ir::Direction::Egress)));
  EXPECT_EQ(tcp("x/a", "y/c", 82, kDropTimeout), TcpResult::TimedOut);
}


// ICMP errors about an allowed connection belong to it: a's isolated egress
// must pass the "port unreachable" a sends back for UDP to a closed port, so
// the client is refused rather than left waiting (the same path carries
// "fragmentation needed" for path-MTU discovery).
TEST_P(RealTrafficTest, IcmpErrorsOfAllowedFlowsPassIsolatedHooks) {
  listenAll();
  EXPECT_EQ(udp("y/c", "x/a", 5999, 1000ms), UdpResult::Refused) << "no programs yet";
  ASSERT_TRUE(attachAll());
  EXPECT_EQ(udp("y/c", "x/a", 5999, 1000ms), UdpResult::Refused) << "cross node";
  EXPECT_EQ(udp("x/b", "x/a", 5999, 1000ms), UdpResult::Refused) << "same node";
  // A TCP RST is a packet of the tracked connection, so it does pass.
  EXPECT_EQ(tcp("y/c", "x/a", 5999, 1000ms), TcpResult::Refused);
}

}  // namespace
}  // namespace sluice::kernel_testing
