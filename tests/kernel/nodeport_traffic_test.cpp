// NodePorts, external and load-balancer addresses with real traffic from
// outside the cluster: sluice's programs attached with tc (from-pod / to-pod
// on every pod's host veth, the node's uplink program on tc ingress of each of
// its uplinks), and a client namespace behind node-1 connecting with ordinary
// sockets.
//
//   outside 192.168.78.2 ── node-1 (192.168.77.1, 192.168.78.1) ── node-2 (192.168.77.2)
//                             x/web1 10.77.1.20                      x/web2 10.77.2.20
//
//   (nodePorts: TCP 8080 behind 3008x, UDP 5353 behind 3005x)
//   x/np-cluster  30080/TCP 30050/UDP  web1, web2   externalTrafficPolicy Cluster
//   x/np-local    30081/TCP 30051/UDP  web1, web2   Local
//   x/np-remote   30082/TCP 30052/UDP  web2         Cluster (from node-1: always SNATed)
//   x/np-far      30083/TCP            web2         Local (node-1 has no endpoint)
//   x/np-empty    30084/TCP 30054/UDP  none
//   x/lb          198.51.100.10:80 (LoadBalancer ingress), 198.51.100.11:80 (externalIPs), web1, web2, Cluster
//   x/lb-empty    198.51.100.12:80 (externalIPs), none
//
// The client reaches node-2's address through node-1, which only forwards:
// node-2's uplink program (on its fabric veth) serves those.
//
// These tests need root; they fail (never skip) without it.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "codegen/codegen.h"
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

const char* kN1 = "192.168.77.1";
const char* kN2 = "192.168.77.2";
const char* kOutside = "192.168.78.2";
const char* kLbIp = "198.51.100.10";
const char* kExternalIp = "198.51.100.11";
const char* kEmptyExternalIp = "198.51.100.12";

struct PodDef {
  std::string name, node, ip;
  std::string key() const { return "x/" + name; }
};
const PodDef kWeb1{"web1", "node-1", "10.77.1.20"};
const PodDef kWeb2{"web2", "node-2", "10.77.2.20"};

std::string manifests(const NetnsCluster& net) {
  std::string y = net.nodeManifests();
  y += "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n";
  for (const auto& p : {kWeb1, kWeb2})
    y += fmt::format("---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {}, namespace: x, labels: {{app: web}}}}\n"
                     "spec: {{nodeName: {}, containers: [{{name: main, ports: [{{name: http, containerPort: 8080}}, "
                     "{{name: dns, protocol: UDP, containerPort: 5353}}]}}]}}\nstatus: {{phase: Running, podIP: {}}}\n",
                     p.name, p.node, p.ip);
  // `nodePorts`: {tcp, udp}, 0 for none; `extra` goes into the spec.
  auto service = [&](const std::string& name, const std::string& clusterIp, const std::string& type, int tcpNodePort,
                     int udpNodePort, const std::string& extra, const std::vector<PodDef>& backends,
                     const std::string& status = "") {
    std::string ports = fmt::format("[{{name: http, port: 80, targetPort: 8080{}}}",
                                    tcpNodePort ? fmt::format(", nodePort: {}", tcpNodePort) : "");
    if (udpNodePort)
      ports += fmt::format(", {{name: dns, protocol: UDP, port: 53, targetPort: 5353, nodePort: {}}}", udpNodePort);
    ports += "]";
    y += fmt::format("---\napiVersion: v1\nkind: Service\nmetadata: {{name: {}, namespace: x}}\n"
                     "spec: {{type: {}, clusterIP: {}, selector: {{app: web}}, ports: {}{}}}\n{}",
                     name, type, clusterIp, ports, extra, status);
    std::string endpoints;
    for (const auto& b : backends)
      endpoints += fmt::format("- {{addresses: [{}], conditions: {{ready: true}}, nodeName: {}, targetRef: {{kind: "
                               "Pod, name: {}, namespace: x}}}}\n",
                               b.ip, b.node, b.name);
    y += fmt::format("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {0}-1, "
                     "namespace: x, labels: {{kubernetes.io/service-name: {0}}}}}\naddressType: IPv4\n"
                     "ports: [{{name: http, port: 8080, protocol: TCP}}, {{name: dns, port: 5353, protocol: UDP}}]\n"
                     "endpoints:{1}\n",
                     name, endpoints.empty() ? " []" : "\n" + endpoints);
  };
  const std::string local = ", externalTrafficPolicy: Local";
  service("np-cluster", "10.96.8.10", "NodePort", 30080, 30050, "", {kWeb1, kWeb2});
  service("np-local", "10.96.8.11", "NodePort", 30081, 30051, local, {kWeb1, kWeb2});
  service("np-remote", "10.96.8.12", "NodePort", 30082, 30052, "", {kWeb2});
  service("np-far", "10.96.8.13", "NodePort", 30083, 0, local, {kWeb2});
  service("np-empty", "10.96.8.14", "NodePort", 30084, 30054, "", {});
  service("lb", "10.96.8.15", "LoadBalancer", 30085, 0, fmt::format(", externalIPs: [{}]", kExternalIp),
          {kWeb1, kWeb2}, fmt::format("status: {{loadBalancer: {{ingress: [{{ip: {}}}]}}}}\n", kLbIp));
  service("lb-empty", "10.96.8.16", "ClusterIP", 0, 0, fmt::format(", externalIPs: [{}]", kEmptyExternalIp), {});
  return y;
}

// In both datapath modes (tests/testing/datapath_modes.h).
class NodePortTraffic : public testing::InBothDatapathModes {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "kernel tests must run as root (they fail instead of skipping)";
    net = std::make_unique<NetnsCluster>();
    net->addNode("node-1", kN1, "10.77.1.0/24");
    net->addNode("node-2", kN2, "10.77.2.0/24");
    for (const auto& p : {kWeb1, kWeb2}) net->addPod(p.node, p.name, p.ip);
    net->addOutsideClient("outside", kOutside, "node-1");
    ClusterState state;
    Diagnostics diags;
    std::string yaml = manifests(*net) + extraManifests();
    ASSERT_TRUE(loadManifestText("nodeport-traffic.yaml", yaml, state, diags)) << diags.render() << yaml;
    state.finalize();
    kernel = std::make_unique<runtime::KernelCluster>();
    ASSERT_TRUE(kernel->build(state, diags, options())) << diags.render();
    ASSERT_TRUE(testing::LoadedInMode(*kernel, mode()));
    for (const auto& p : {kWeb1, kWeb2}) ASSERT_TRUE(attachPod(p));
    for (const auto& n : net->nodeNames()) ASSERT_TRUE(attachUplinks(n));
  }
  void TearDown() override {
    tcp.clear();
    udp.clear();
    net.reset();
    kernel.reset();
  }
  virtual std::string extraManifests() { return ""; }

  ::testing::AssertionResult attachPod(const PodDef& p) {
    const ir::NodeProgram* np = kernel->program().findNode(p.node);
    const ir::Endpoint* ep = np ? np->findEndpoint(p.key()) : nullptr;
    if (!ep) return ::testing::AssertionFailure() << "no endpoint " << p.key();
    runtime::LoadedNode* node = kernel->loaded(p.node);
    int from = node->programFd(codegen::programName(*np, *ep, ir::Direction::Egress));
    int to = node->programFd(codegen::programName(*np, *ep, ir::Direction::Ingress));
    int ifindex = net->hostIfindex(p.name);
    std::string error;
    bool ok = false;
    net->runInNode(p.node, [&] {
      ok = runtime::attachTc(ifindex, TcHook::Ingress, from, error) &&
           runtime::attachTc(ifindex, TcHook::Egress, to, error);
    });
    if (!ok) return ::testing::AssertionFailure() << p.key() << ": " << error;
    return ::testing::AssertionSuccess();
  }

  // The node's uplink program on tc ingress of every interface the world
  // reaches it by: its outside clients' veths and the fabric (replies of
  // SNATed connections come back there, and clients of node-2 arrive there).
  ::testing::AssertionResult attachUplinks(const std::string& node) {
    int fd = kernel->uplinkFd(node);
    if (fd < 0) return ::testing::AssertionFailure() << node << " has no uplink program";
    std::vector<NetnsCluster::Uplink> uplinks = net->uplinkIfs(node);
    if (uplinks.empty()) return ::testing::AssertionFailure() << node << " has no uplink";
    std::string error;
    bool ok = true;
    net->runInNode(node, [&] {
      for (const auto& u : uplinks) ok = ok && runtime::attachTc(u.ifindex, TcHook::Ingress, fd, error);
    });
    if (!ok) return ::testing::AssertionFailure() << node << ": " << error;
    return ::testing::AssertionSuccess();
  }

  void serveBoth() {
    for (const auto& p : {kWeb1, kWeb2}) {
      tcp[p.name] = tcpListen(*net, p.name, 8080);
      udp[p.name] = udpListen(*net, p.name, 5353);
    }
  }
  // n TCP connections from outside to ip:port, each new (a fresh source port),
  // all expected to connect.
  void connectMany(const std::string& ip, uint16_t port, int n) {
    for (int i = 0; i < n; ++i)
      ASSERT_EQ(tcpConnect(*net, "outside", ip, port, 2000ms), TcpResult::Connected) << ip << ":" << port << " #" << i;
  }
  // Waits until the servers accepted `total` connections, then returns the
  // source addresses each saw.
  std::map<std::string, std::multiset<std::string>> tcpPeers(uint64_t total) {
    auto deadline = std::chrono::steady_clock::now() + 2s;
    auto accepted = [&] {
      uint64_t n = 0;
      for (const auto& [name, s] : tcp) n += s->accepted();
      return n;
    };
    while (accepted() < total && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
    std::map<std::string, std::multiset<std::string>> out;
    for (const auto& [name, s] : tcp)
      for (const auto& peer : s->peers()) out[name].insert(peer);
    return out;
  }
  std::map<std::string, std::multiset<std::string>> udpPeers() {
    std::map<std::string, std::multiset<std::string>> out;
    for (const auto& [name, s] : udp)
      for (const auto& peer : s->peers()) out[name].insert(peer);
    return out;
  }
  // A long exchange over one connection: every echo must come back, from
  // the address the client connected to (the socket is connected to it).
  ::testing::AssertionResult echoes(const std::string& ip, uint16_t port) {
    TcpSession session(*net, "outside", ip, port, 10ms, 1000ms, 2000ms);
    if (!session.connected()) return ::testing::AssertionFailure() << ip << ":" << port << ": no connection";
    bool got = session.waitForExchanges(20, 3000ms);
    TcpSession::Stats s = session.stop();
    if (!got || !s.stayedUp())
      return ::testing::AssertionFailure() << ip << ":" << port << ": " << s.exchanges << " exchanges, " << s.stalls
                                           << " stalls, " << (s.broken ? s.error : "not broken");
    return ::testing::AssertionSuccess();
  }

  std::unique_ptr<NetnsCluster> net;
  std::unique_ptr<runtime::KernelCluster> kernel;
  // After the cluster: their sockets keep namespaces alive, so they go first.
  std::map<std::string, std::unique_ptr<TcpEchoServer>> tcp;
  std::map<std::string, std::unique_ptr<UdpEchoServer>> udp;
};
SLUICE_IN_BOTH_DATAPATH_MODES(NodePortTraffic);

// One datagram from the outside client to ip:port with the given TTL (resent
// every 200 ms until `timeout`); the TTL its echo arrived with, -1 if none came.
int udpEchoTtl(const NetnsCluster& net, const std::string& ip, uint16_t port, int ttl,
               std::chrono::milliseconds timeout) {
  int fd = socketInNetns(net.clientNetnsPath("outside"), AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int one = 1;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &to.sin_addr);
  if (setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) != 0 ||
      setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof one) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    close(fd);
    return -2;
  }
  const char msg[] = "sluice-ttl";
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int got = -1;
  while (got < 0 && std::chrono::steady_clock::now() < deadline) {
    if (send(fd, msg, sizeof msg, 0) < 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    char buf[64], control[64];
    iovec iov{buf, sizeof buf};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    if (recvmsg(fd, &m, 0) <= 0) continue;  // an error queued by ICMP, say: keep trying
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) std::memcpy(&got, CMSG_DATA(c), sizeof got);
  }
  close(fd);
  return got;
}

std::string str(const std::multiset<std::string>& s) {
  std::map<std::string, int> counts;
  for (const auto& x : s) ++counts[x];
  std::string out;
  for (const auto& [k, n] : counts) out += fmt::format("{}{}x{}", out.empty() ? "" : " ", n, k);
  return out.empty() ? "(none)" : out;
}

// All of `seen` is `addr`, and there is at least one.
::testing::AssertionResult AllFrom(const std::multiset<std::string>& seen, const std::string& addr) {
  if (seen.empty()) return ::testing::AssertionFailure() << "no connection arrived";
  if (seen.count(addr) != seen.size()) return ::testing::AssertionFailure() << "sources: " << str(seen);
  return ::testing::AssertionSuccess();
}

// ---- externalTrafficPolicy: Cluster ------------------------------------------------

TEST_P(NodePortTraffic, ClusterPolicyReachesBothNodesAndSnatsTheRemoteOne) {
  serveBoth();
  // 40 new connections through node-1: missing a backend has probability 2^-39.
  connectMany(kN1, 30080, 40);
  auto peers = tcpPeers(40);
  // The local backend sees the client itself; the other node's sees node-1,
  // so that its replies come back through node-1 to be turned back.
  EXPECT_TRUE(AllFrom(peers["web1"], kOutside)) << "web1 (node-1)";
  EXPECT_TRUE(AllFrom(peers["web2"], kN1)) << "web2 (node-2)";
  EXPECT_EQ(peers["web1"].size() + peers["web2"].size(), 40u);
  // Data both ways, over the SNATed path (np-remote: web2 only).
  EXPECT_TRUE(echoes(kN1, 30082));
  EXPECT_TRUE(echoes(kN1, 30080));
}

TEST_P(NodePortTraffic, ClusterPolicyThroughTheOtherNode) {
  // node-2's address: node-1 only forwards; node-2's uplink (on its fabric
  // veth) translates, SNATs to node-2 for web1, and routes the replies back
  // out of the interface they came in by.
  serveBoth();
  connectMany(kN2, 30080, 40);
  auto peers = tcpPeers(40);
  EXPECT_TRUE(AllFrom(peers["web1"], kN2)) << "web1 (node-1)";
  EXPECT_TRUE(AllFrom(peers["web2"], kOutside)) << "web2 (node-2)";
  EXPECT_TRUE(echoes(kN2, 30080));
}

TEST_P(NodePortTraffic, ClusterPolicyUdp) {
  serveBoth();
  for (int i = 0; i < 40; ++i) ASSERT_EQ(udpProbe(*net, "outside", kN1, 30050, 2000ms), UdpResult::Reply) << i;
  auto peers = udpPeers();
  EXPECT_TRUE(AllFrom(peers["web1"], kOutside)) << "web1 (node-1)";
  EXPECT_TRUE(AllFrom(peers["web2"], kN1)) << "web2 (node-2)";
  // Only SNATed (np-remote): every datagram's echo comes back.
  for (int i = 0; i < 10; ++i) ASSERT_EQ(udpProbe(*net, "outside", kN1, 30052, 2000ms), UdpResult::Reply) << i;
}

TEST_P(NodePortTraffic, RoutedPacketsCostAHopAsForwardedOnesDo) {
  // The uplink program forwards a SNATed packet itself (the stack would drop
  // its source, the node's own address, as a martian), so it must count the
  // hop as the stack would. web2 reached directly is two hops away (node-1,
  // node-2); through node-1's NodePort also two. The echo comes back with 64
  // minus the same two hops.
  serveBoth();
  for (const auto& [ip, port] : std::vector<std::pair<std::string, uint16_t>>{{kWeb2.ip, 5353}, {kN1, 30052}}) {
    EXPECT_EQ(udpEchoTtl(*net, ip, port, 2, 600ms), -1) << ip << ": a TTL of 2 outlived two hops";
    EXPECT_EQ(udpEchoTtl(*net, ip, port, 3, 2000ms), 62) << ip;
  }
  // The local backend's replies are routed by its from-pod program: one hop,
  // as web1 reached directly.
  EXPECT_EQ(udpEchoTtl(*net, kWeb1.ip, 5353, 64, 2000ms), 63);
  EXPECT_EQ(udpEchoTtl(*net, kN1, 30051, 64, 2000ms), 63);
}

// ---- externalTrafficPolicy: Local ----------------------------------------------------

TEST_P(NodePortTraffic, LocalPolicyKeepsTheClientAndStaysOnTheNode) {
  serveBoth();
  connectMany(kN1, 30081, 20);
  auto peers = tcpPeers(20);
  EXPECT_TRUE(AllFrom(peers["web1"], kOutside)) << "web1 (node-1)";
  EXPECT_TRUE(peers["web2"].empty()) << "node-1 sent a Local service's connection to node-2: " << str(peers["web2"]);
  EXPECT_TRUE(echoes(kN1, 30081));
  peers = tcpPeers(21);
  size_t web1 = peers["web1"].size();
  EXPECT_EQ(web1, 21u);
  // Through node-2: its own endpoint only.
  connectMany(kN2, 30081, 20);
  peers = tcpPeers(41);
  EXPECT_EQ(peers["web1"].size(), web1) << "node-2 sent a Local service's connection to node-1";
  EXPECT_TRUE(AllFrom(peers["web2"], kOutside)) << "web2 (node-2)";
  // UDP, both nodes.
  for (const char* node : {kN1, kN2})
    for (int i = 0; i < 5; ++i) ASSERT_EQ(udpProbe(*net, "outside", node, 30051, 2000ms), UdpResult::Reply) << node;
  auto u = udpPeers();
  EXPECT_TRUE(AllFrom(u["web1"], kOutside));
  EXPECT_TRUE(AllFrom(u["web2"], kOutside));
}

TEST_P(NodePortTraffic, LocalPolicyWithoutALocalEndpointDrops) {
  // kube-proxy drops these (a load balancer's health check steers clients
  // away from such a node): no answer at all, not a refusal.
  serveBoth();
  EXPECT_EQ(tcpConnect(*net, "outside", kN1, 30083, 1000ms), TcpResult::TimedOut);
  EXPECT_EQ(tcp["web2"]->accepted(), 0u);
  // node-2 holds the endpoint: served there.
  EXPECT_EQ(tcpConnect(*net, "outside", kN2, 30083, 2000ms), TcpResult::Connected);
  EXPECT_TRUE(AllFrom(tcpPeers(1)["web2"], kOutside));
}

// ---- no endpoint: rejected on the uplink ------------------------------------------------

TEST_P(NodePortTraffic, NoEndpointIsRefusedAtOnce) {
  // The issue's bound: "connection refused" within 100 ms (a TCP RST from
  // the uplink, not a timeout).
  for (const char* node : {kN1, kN2}) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(tcpConnect(*net, "outside", node, 30084, 2000ms), TcpResult::Refused) << node;
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    EXPECT_LT(took.count(), 100) << node << ": refused only after " << took.count() << " ms";
    EXPECT_EQ(udpProbe(*net, "outside", node, 30054, 2000ms), UdpResult::Refused) << node;
  }
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(tcpConnect(*net, "outside", kEmptyExternalIp, 80, 2000ms), TcpResult::Refused);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  EXPECT_LT(took.count(), 100) << "external IP refused only after " << took.count() << " ms";
}

// ---- external and load-balancer addresses -------------------------------------------------

TEST_P(NodePortTraffic, LoadBalancerAndExternalAddresses) {
  // The client's router is node-1, so these addresses arrive on its uplink,
  // as they would from a load balancer in VIP mode or a routed external IP.
  serveBoth();
  connectMany(kLbIp, 80, 20);
  connectMany(kExternalIp, 80, 20);
  auto peers = tcpPeers(40);
  EXPECT_TRUE(AllFrom(peers["web1"], kOutside)) << "web1 (node-1)";
  EXPECT_TRUE(AllFrom(peers["web2"], kN1)) << "web2 (node-2)";
  EXPECT_TRUE(echoes(kLbIp, 80));
  // Its NodePort works too, on both nodes.
  EXPECT_TRUE(echoes(kN1, 30085));
  EXPECT_TRUE(echoes(kN2, 30085));
}

// ---- the backends' NetworkPolicy --------------------------------------------------------

// web pods admit only the outside client's network, on 8080.
class NodePortTrafficPolicy : public NodePortTraffic {
  std::string extraManifests() override {
    return "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: outside-only, namespace: x}\n"
           "spec:\n  podSelector: {matchLabels: {app: web}}\n"
           "  ingress: [{from: [{ipBlock: {cidr: 192.168.78.0/24}}], ports: [{port: 8080}]}]\n";
  }
};
SLUICE_IN_BOTH_DATAPATH_MODES(NodePortTrafficPolicy);

TEST_P(NodePortTrafficPolicy, IpBlockAdmitsTheClientWhenTheSourceIsKept) {
  serveBoth();
  // Local keeps the client's address: the ipBlock matches, on either node.
  connectMany(kN1, 30081, 10);
  connectMany(kN2, 30081, 10);
  auto peers = tcpPeers(20);
  EXPECT_TRUE(AllFrom(peers["web1"], kOutside));
  EXPECT_TRUE(AllFrom(peers["web2"], kOutside));
  // Cluster, backend on the node the client came in by: not SNATed either.
  connectMany(kN2, 30082, 5);
  EXPECT_EQ(tcpPeers(25)["web2"].size(), 15u);
}

TEST_P(NodePortTrafficPolicy, IpBlockDoesNotAdmitASnatedConnection) {
  // Cluster, backend on another node: the backend sees node-1's address, which
  // the ipBlock does not cover, so its ingress policy drops the connection.
  // Kubernetes documents this: with externalTrafficPolicy Cluster the source
  // may be a node's, and policies on client addresses need Local.
  serveBoth();
  EXPECT_EQ(tcpConnect(*net, "outside", kN1, 30082, 1000ms), TcpResult::TimedOut);
  EXPECT_EQ(tcp["web2"]->accepted(), 0u);
}

}  // namespace
}  // namespace sluice::kernel_testing
