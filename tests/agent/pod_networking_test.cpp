// sluice as the cluster's network (issue 14), on three node namespaces with
// `sluice agent --cni` each: pods made only by sluice-cni as a runtime calls
// it get addresses from their node's podCIDR, reach each other on one node
// and across nodes (native routing and VXLAN), reach services whose backends
// are elsewhere, reach the world as their node's address, are reached from
// the world through NodePorts, and are enforced from their first packet.
#include <gtest/gtest.h>

#include "tests/agent/cni_cluster.h"

namespace sluice::agent_testing {
namespace {

using kernel_testing::TcpEchoServer;
using kernel_testing::TcpResult;
using kernel_testing::tcpConnectFrom;

bool inCidr(const std::string& ip, const std::string& cidr) {
  return Cidr::parse(cidr)->contains(Cidr::host(*IpAddr::parse(ip)));
}

// Retries a connection that should succeed: routes and remote identities
// settle within moments of a change; a denied one is asserted once.
TcpResult connectEventually(const std::string& fromNs, const std::string& ip, uint16_t port,
                            std::chrono::milliseconds within = 5s) {
  auto deadline = std::chrono::steady_clock::now() + within;
  TcpResult r = TcpResult::Error;
  while (std::chrono::steady_clock::now() < deadline) {
    r = tcpConnectFrom(fromNs, ip, port, 500ms);
    if (r == TcpResult::Connected) return r;
    std::this_thread::sleep_for(50ms);
  }
  return r;
}

class PodNetworking : public CniCluster, public ::testing::WithParamInterface<agent::AgentOptions::Routing> {
 protected:
  void SetUp() override { SetUpCluster(GetParam()); }
};

std::string routingName(const ::testing::TestParamInfo<agent::AgentOptions::Routing>& info) {
  return info.param == agent::AgentOptions::Routing::Vxlan ? "vxlan" : "native";
}
INSTANTIATE_TEST_SUITE_P(Routing, PodNetworking,
                         ::testing::Values(agent::AgentOptions::Routing::Native, agent::AgentOptions::Routing::Vxlan),
                         routingName);

TEST_P(PodNetworking, PodsGetTheirNodesAddressesAndTalkOnOneNodeAndAcrossNodes) {
  PodRef a = addPod("node-1", "x", "a", "app: a");
  PodRef b = addPod("node-1", "x", "b", "app: b");
  PodRef c = addPod("node-2", "y", "c", "app: c");
  PodRef d = addPod("node-3", "y", "d", "app: d");
  EXPECT_TRUE(inCidr(a.ip, "10.91.1.0/24")) << a.ip;
  EXPECT_TRUE(inCidr(b.ip, "10.91.1.0/24")) << b.ip;
  EXPECT_NE(a.ip, b.ip);
  EXPECT_TRUE(inCidr(c.ip, "10.91.2.0/24")) << c.ip;
  EXPECT_TRUE(inCidr(d.ip, "10.91.3.0/24")) << d.ip;

  TcpEchoServer sb(b.netnsPath, 80), sc(c.netnsPath, 80), sd(d.netnsPath, 80);
  EXPECT_EQ(connectEventually(a.netnsPath, b.ip, 80), TcpResult::Connected) << "same node";
  EXPECT_EQ(connectEventually(a.netnsPath, c.ip, 80), TcpResult::Connected) << "node-1 to node-2";
  EXPECT_EQ(connectEventually(a.netnsPath, d.ip, 80), TcpResult::Connected) << "node-1 to node-3";
  EXPECT_EQ(connectEventually(c.netnsPath, d.ip, 80), TcpResult::Connected) << "node-2 to node-3";
  // Pods see each other's own addresses: nothing inside the cluster is masqueraded.
  ASSERT_TRUE(sc.waitForAccepted(1));
  EXPECT_EQ(sc.peers().front(), a.ip);
  if (GetParam() == Routing::Vxlan) {
    // The traffic between nodes went through the VXLAN device.
    std::string stats = runCommandOrThrow({"ip", "-n", nodes_["node-1"], "-s", "link", "show", "sluice_vxlan"});
    EXPECT_EQ(stats.find("TX:  bytes packets errors dropped carrier collsns \n         0"), std::string::npos)
        << stats;
  } else {
    std::string routes = runCommandOrThrow({"ip", "-n", nodes_["node-1"], "route", "show", "proto", "228"});
    EXPECT_NE(routes.find("10.91.2.0/24 via 192.168.90.2"), std::string::npos) << routes;
    EXPECT_NE(routes.find("10.91.3.0/24 via 192.168.90.3"), std::string::npos) << routes;
  }
}

// The pod's policy is in force when ADD returns: a pod created under a
// deny-all policy is unreachable from that instant (its server listens
// before ADD, so a connection that got through would be accepted).
TEST_P(PodNetworking, PolicyHoldsFromTheFirstPacket) {
  PodRef a = addPod("node-1", "x", "a", "app: a");
  write("deny.yaml", R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Ingress]
)");
  PodRef open = addPod("node-2", "x", "open", "app: open");
  PodRef s = preparePod("node-2", "y", "s", "app: s");
  TcpEchoServer server(s.netnsPath, 80);
  PluginRun r = runPlugin(nodeNs(s.node), cniEnv("ADD", s), netconf(s.node));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  std::string address = r.json()["ips"][0]["address"].get<std::string>();
  std::string ip = address.substr(0, address.find('/'));
  // At once, before anything else happens: denied (dropped), not refused, not connected.
  EXPECT_EQ(tcpConnectFrom(a.netnsPath, ip, 80, 1s), TcpResult::TimedOut);
  EXPECT_EQ(server.accepted(), 0u);
  // The pod's own node may still reach it (kubelet's probes).
  EXPECT_EQ(tcpConnectFrom(nodeNs("node-2"), ip, 80, 1s), TcpResult::Connected);
  TcpEchoServer control(open.netnsPath, 80);
  EXPECT_EQ(connectEventually(a.netnsPath, open.ip, 80), TcpResult::Connected);
}

TEST_P(PodNetworking, PodsReachTheWorldAsTheirNodesAddress) {
  PodRef a = addPod("node-1", "x", "a", "app: a");
  PodRef c = addPod("node-2", "y", "c", "app: c");
  TcpEchoServer world(nsPath(world_), 8080);
  EXPECT_EQ(connectEventually(a.netnsPath, "203.0.113.1", 8080), TcpResult::Connected);
  EXPECT_EQ(connectEventually(c.netnsPath, "203.0.113.1", 8080), TcpResult::Connected);
  ASSERT_TRUE(world.waitForAccepted(2));
  EXPECT_EQ(world.peers()[0], "192.168.90.1");
  EXPECT_EQ(world.peers()[1], "192.168.90.2");
}

TEST_P(PodNetworking, ServicesWithBackendsOnOtherNodesAndNodePortsFromTheWorld) {
  PodRef a = addPod("node-1", "x", "a", "app: a");
  PodRef web = addPod("node-3", "x", "web", "app: web", "[{name: http, containerPort: 8080}]");
  TcpEchoServer server(web.netnsPath, 8080);
  write("service.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: x}\nspec:\n  type: NodePort\n"
                        "  clusterIP: 10.96.9.10\n  selector: {app: web}\n"
                        "  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30090}]\n"
                        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, "
                        "namespace: x, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\n"
                        "ports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n- addresses: [" +
                            web.ip + "]\n  conditions: {ready: true}\n  nodeName: node-3\n");
  EXPECT_EQ(connectEventually(a.netnsPath, "10.96.9.10", 80), TcpResult::Connected) << "cluster IP, backend on node-3";
  ASSERT_TRUE(server.waitForAccepted(1));
  EXPECT_EQ(server.peers().front(), a.ip) << "a pod's connection to a service keeps its address";
  EXPECT_EQ(connectEventually(nsPath(world_), "192.168.90.1", 30090), TcpResult::Connected)
      << "NodePort of node-1, backend on node-3";
  EXPECT_EQ(connectEventually(nsPath(world_), "192.168.90.3", 30090), TcpResult::Connected)
      << "NodePort of the backend's node";
}

// DEL undoes ADD: interface, routes, address, the agent's endpoint; twice is fine.
TEST_P(PodNetworking, DelRemovesEverythingAndIsIdempotent) {
  PodRef a = addPod("node-1", "x", "a", "app: a");
  std::string host = runtime::hostInterfaceName(a.containerID, "eth0");
  ASSERT_NE(runCommandOrThrow({"ip", "-n", nodes_["node-1"], "link", "show"}).find(host), std::string::npos);
  PluginRun r = del(a);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(runCommandOrThrow({"ip", "-n", nodes_["node-1"], "link", "show"}).find(host), std::string::npos);
  EXPECT_EQ(runCommandOrThrow({"ip", "-n", nodes_["node-1"], "route", "show", "proto", "227"}), "");
  EXPECT_EQ(runCommandOrThrow({"ip", "-n", a.netns, "addr", "show"}).find("10.91."), std::string::npos);
  EXPECT_EQ(del(a).status, 0) << "DEL again";
  // The address is free again, and CHECK knows the container no more.
  PluginRun c = check(a);
  EXPECT_NE(c.status, 0);
  EXPECT_EQ(c.json()["code"], 3) << c.out;
}

TEST_P(PodNetworking, CheckReportsARemovedRoute) {
  PodRef a = addPod("node-1", "x", "a", "app: a");
  PluginRun ok = check(a);
  EXPECT_EQ(ok.status, 0) << ok.out << ok.err;
  ip({"-n", a.netns, "route", "del", "default"});
  PluginRun bad = check(a);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.json()["msg"].get<std::string>().find("default route"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace sluice::agent_testing
