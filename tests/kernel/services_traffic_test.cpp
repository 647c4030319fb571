// Services with real traffic: sluice's programs attached with tc to the
// host-side veths of a two-node namespace cluster; pods connect to cluster
// IPs with ordinary sockets, and the datapath translates, answers and
// reverse-translates.
//
//   node-1 (192.168.77.1)                    node-2 (192.168.77.2)
//     x/client 10.77.1.10                      x/web2 10.77.2.20 (listens on 8080)
//     x/web1   10.77.1.20 (listens on 8080)
//
//   x/web    10.96.7.10:80 -> 8080 on web1 and web2 (both nodes)
//   x/empty  10.96.7.11:80, 53/UDP, no endpoints
//   x/self   10.96.7.12:80 -> 8080 on the client itself (hairpin)
//
// These tests need root; they fail (never skip) without it.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "codegen/codegen.h"
#include "frontend/manifest_loader.h"
#include "runtime/kernel_cluster.h"
#include "runtime/tc_attach.h"
#include "tests/kernel/netns_cluster.h"
#include "tests/kernel/traffic.h"

namespace sluice::kernel_testing {
namespace {

using namespace std::chrono_literals;
using runtime::TcHook;

struct PodDef {
  std::string name, node, ip;
  std::string key() const { return "x/" + name; }
};
const std::vector<PodDef> kPods = {
    {"client", "node-1", "10.77.1.10"}, {"web1", "node-1", "10.77.1.20"}, {"web2", "node-2", "10.77.2.20"}};

std::string endpoints(const std::vector<PodDef>& backends) {
  std::string y;
  for (const auto& b : backends)
    y += fmt::format("- {{addresses: [{}], conditions: {{ready: true}}, nodeName: {}, targetRef: {{kind: Pod, name: {}, "
                     "namespace: x}}}}\n",
                     b.ip, b.node, b.name);
  return y;
}

std::string manifests(const NetnsCluster& net) {
  std::string y;
  for (const auto& n : net.nodeNames()) {
    const auto& node = net.node(n);
    y += fmt::format("---\napiVersion: v1\nkind: Node\nmetadata: {{name: {0}}}\nspec: {{podCIDR: {1}}}\n"
                     "status: {{addresses: [{{type: InternalIP, address: {2}}}]}}\n",
                     node.name, node.podCidr, node.ip);
  }
  y += "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n";
  for (const auto& p : kPods)
    y += fmt::format("---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {}, namespace: x, labels: {{app: {}}}}}\n"
                     "spec: {{nodeName: {}, containers: [{{name: main, ports: [{{name: http, containerPort: 8080}}]}}]}}\n"
                     "status: {{phase: Running, podIP: {}}}\n",
                     p.name, p.name, p.node, net.podIp(p.name));
  auto service = [&](const std::string& name, const std::string& ip, const std::string& ports) {
    y += fmt::format("---\napiVersion: v1\nkind: Service\nmetadata: {{name: {}, namespace: x}}\n"
                     "spec: {{clusterIP: {}, ports: {}}}\n",
                     name, ip, ports);
  };
  auto slice = [&](const std::string& name, const std::vector<PodDef>& backends) {
    y += fmt::format("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {0}-1, namespace: x, "
                     "labels: {{kubernetes.io/service-name: {0}}}}}\naddressType: IPv4\n"
                     "ports: [{{name: http, port: 8080, protocol: TCP}}]\nendpoints:\n{1}",
                     name, endpoints(backends));
  };
  service("web", "10.96.7.10", "[{name: http, port: 80, targetPort: 8080}]");
  slice("web", {kPods[1], kPods[2]});
  service("empty", "10.96.7.11", "[{name: http, port: 80}, {name: dns, protocol: UDP, port: 53}]");
  service("self", "10.96.7.12", "[{name: http, port: 80, targetPort: 8080}]");
  slice("self", {kPods[0]});
  return y;
}

class ServicesTraffic : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "kernel tests must run as root (they fail instead of skipping)";
    net = std::make_unique<NetnsCluster>();
    net->addNode("node-1", "192.168.77.1", "10.77.1.0/24");
    net->addNode("node-2", "192.168.77.2", "10.77.2.0/24");
    for (const auto& p : kPods) net->addPod(p.node, p.name, p.ip);
    ClusterState state;
    Diagnostics diags;
    std::string yaml = manifests(*net);
    ASSERT_TRUE(loadManifestText("services-traffic.yaml", yaml, state, diags)) << diags.render() << yaml;
    state.finalize();
    kernel = std::make_unique<runtime::KernelCluster>();
    ASSERT_TRUE(kernel->build(state, diags)) << diags.render();
    for (const auto& p : kPods) ASSERT_TRUE(attach(p));
  }
  void TearDown() override {
    servers.clear();
    net.reset();
    kernel.reset();
  }

  ::testing::AssertionResult attach(const PodDef& p) {
    const ir::NodeProgram* np = kernel->program().findNode(p.node);
    const ir::Endpoint* ep = np ? np->findEndpoint(p.key()) : nullptr;
    if (!ep) return ::testing::AssertionFailure() << "no endpoint " << p.key();
    runtime::LoadedNode* node = kernel->loaded(p.node);
    int from = node->programFd(codegen::programName(*np, *ep, ir::Direction::Egress));
    int to = node->programFd(codegen::programName(*np, *ep, ir::Direction::Ingress));
    const auto& pod = net->pod(p.name);
    std::string error;
    bool ok = false;
    net->runInNode(p.node, [&] {
      ok = runtime::attachTc(pod.hostIfindex, TcHook::Ingress, from, error) &&
           runtime::attachTc(pod.hostIfindex, TcHook::Egress, to, error);
    });
    if (!ok) return ::testing::AssertionFailure() << p.key() << ": " << error;
    return ::testing::AssertionSuccess();
  }

  std::unique_ptr<NetnsCluster> net;
  std::unique_ptr<runtime::KernelCluster> kernel;
  std::vector<std::unique_ptr<TcpEchoServer>> servers;  // after the cluster: destroyed first
};

TEST_F(ServicesTraffic, ClientReachesBackendsOnBothNodesThroughTheClusterIp) {
  servers.push_back(tcpListen(*net, "web1", 8080));
  servers.push_back(tcpListen(*net, "web2", 8080));
  // Each connection is new and chooses afresh; with two backends, 40
  // connections miss one of them with probability 2^-39.
  for (int i = 0; i < 40; ++i) ASSERT_EQ(tcpConnect(*net, "client", "10.96.7.10", 80, 2000ms), TcpResult::Connected) << i;
  EXPECT_TRUE(servers[0]->waitForAccepted(1)) << "web1 (same node) never got a connection";
  EXPECT_TRUE(servers[1]->waitForAccepted(1)) << "web2 (other node) never got a connection";
  // A long exchange over the translated connection: every echo comes back
  // from the service address (the socket is connected to it).
  TcpSession session(*net, "client", "10.96.7.10", 80, 10ms, 1000ms, 2000ms);
  ASSERT_TRUE(session.connected());
  EXPECT_TRUE(session.waitForExchanges(20, 3000ms));
  TcpSession::Stats s = session.stop();
  EXPECT_TRUE(s.stayedUp()) << s.error;
}

TEST_F(ServicesTraffic, ServiceWithoutEndpointsRefusesAtOnce) {
  // The answer comes from the datapath (a TCP RST, an ICMP port unreachable
  // for UDP), not from a timeout: the issue asks for it within 100 ms.
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(tcpConnect(*net, "client", "10.96.7.11", 80, 2000ms), TcpResult::Refused);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  EXPECT_LT(took.count(), 100) << "refused only after " << took.count() << " ms";
  EXPECT_EQ(udpProbe(*net, "client", "10.96.7.11", 53, 2000ms), UdpResult::Refused);
  // A port the cluster IP does not serve is refused the same way.
  EXPECT_EQ(tcpConnect(*net, "client", "10.96.7.10", 81, 2000ms), TcpResult::Refused);
}

TEST_F(ServicesTraffic, PodReachesItselfThroughItsService) {
  servers.push_back(tcpListen(*net, "client", 8080));
  EXPECT_EQ(tcpConnect(*net, "client", "10.96.7.12", 80, 2000ms), TcpResult::Connected);
  EXPECT_TRUE(servers[0]->waitForAccepted(1));
  TcpSession session(*net, "client", "10.96.7.12", 80, 10ms, 1000ms, 2000ms);
  ASSERT_TRUE(session.connected());
  EXPECT_TRUE(session.waitForExchanges(10, 3000ms));
  EXPECT_TRUE(session.stop().stayedUp());
}

}  // namespace
}  // namespace sluice::kernel_testing
