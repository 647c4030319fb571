// sluice as the cluster's network (issue 14), on three node namespaces with
// `sluice agent --cni` each: pods made only by sluice-cni as a runtime calls
// it get addresses from their node's podCIDR, reach each other on one node
// and across nodes (native routing and VXLAN), reach services whose backends
// are elsewhere, reach the world as their node's address, are reached from
// the world through NodePorts, and are enforced from their first packet.
#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>

#include "runtime/tc_attach.h"
#include "runtime/tcx_attach.h"
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

// ADD answers once the first tier's programs are on the pod's interface
// (classic tc filters, put there while the agent reconciled); its own
// programs follow, and then each hook runs exactly one program: the tcx
// link's where the kernel has tcx, the filters gone.
TEST_P(PodNetworking, ANewPodStartsOnTheFirstTierAndEndsWithOneProgramPerHook) {
  PodRef a = addPod("node-1", "x", "a", "app: a");
  auto endpoint = [&](const agent::AgentStatus& s) {
    for (const auto& e : s.endpoints)
      if (e.pod == "x/a") return e;
    return agent::EndpointStatus{};
  };
  agent::EndpointStatus e = endpoint(agents_["node-1"]->status());
  EXPECT_TRUE(e.attached);
  EXPECT_TRUE(e.program == "first tier" || e.program == "specialized") << e.program;
  ASSERT_TRUE(agents_["node-1"]->waitForGeneration(1));
  e = endpoint(agents_["node-1"]->status());
  EXPECT_EQ(e.program, "specialized");
  ASSERT_FALSE(e.interface.empty());
  size_t tcx = 0, tc = 0;
  std::thread inNode([&] {
    int fd = ::open(nodeNs("node-1").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) return;
    ::close(fd);
    int ifindex = int(if_nametoindex(e.interface.c_str()));
    std::string error;
    for (runtime::TcHook hook : {runtime::TcHook::Ingress, runtime::TcHook::Egress}) {
      tcx += runtime::tcxProgramIds(ifindex, hook, error).size();
      tc += runtime::attachedTcProgramId(ifindex, hook, error) > 0;
    }
  });
  inNode.join();
  if (runtime::tcxAvailable()) {
    EXPECT_EQ(tcx, 2u) << "a tcx link per hook";
    EXPECT_EQ(tc, 0u) << "the ADD's classic tc filters are gone";
  } else {
    EXPECT_EQ(tc, 2u);
    EXPECT_EQ(tcx, 0u);
  }
  TcpEchoServer sa(a.netnsPath, 80);
  PodRef b = addPod("node-1", "x", "b", "app: b");
  EXPECT_EQ(connectEventually(b.netnsPath, a.ip, 80), TcpResult::Connected);
}

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

// Node-level things the pod networking could leak: host ends, pod routes,
// tcx link pins, addresses held, and the node's IP cache entries for pods.
struct NodeFootprint {
  size_t links = 0, podRoutes = 0, linkPins = 0, allocations = 0;
  bool operator==(const NodeFootprint&) const = default;
};
std::ostream& operator<<(std::ostream& os, const NodeFootprint& f) {
  return os << "{links " << f.links << ", pod routes " << f.podRoutes << ", link pins " << f.linkPins
            << ", addresses " << f.allocations << "}";
}

class PodLifecycle : public CniCluster {
 protected:
  void SetUp() override { SetUpCluster(Routing::Native); }

  NodeFootprint footprint(const std::string& node) {
    NodeFootprint f;
    std::string links = runCommandOrThrow({"ip", "-n", nodes_[node], "-o", "link", "show"});
    for (size_t at = 0; (at = links.find(": slc", at)) != std::string::npos; ++at) ++f.links;
    std::string routes = runCommandOrThrow({"ip", "-n", nodes_[node], "route", "show", "proto", "227"});
    f.podRoutes = size_t(std::count(routes.begin(), routes.end(), '\n'));
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(bpffsRoot_ + "/" + node + "/links", ec);
         !ec && it != std::filesystem::directory_iterator(); ++it)
      ++f.linkPins;
    std::ifstream in(dir_ / "state" / node / "ipam.json");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (!text.empty()) f.allocations = nlohmann::json::parse(text)["allocations"].size();
    return f;
  }
  // The pod goes as kubelet makes it go: DEL, then its object is deleted.
  void deletePod(const PodRef& p) {
    PluginRun r = del(p);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    remove("pod-" + p.ns + "-" + p.name + ".yaml");
  }
};

// 200 pods made and removed on one node, four at a time (as a runtime
// starts and stops pods): nothing stays (interfaces, routes, link pins,
// addresses), and pods of the last round still work.
TEST_F(PodLifecycle, TwoHundredAddDelCyclesLeakNothing) {
  PodRef peer = addPod("node-2", "x", "peer", "app: peer");
  NodeFootprint before = footprint("node-1");
  std::set<std::string> addresses;
  constexpr int kRounds = 50, kAtOnce = 4;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<PodRef> pods;
    for (int k = 0; k < kAtOnce; ++k)
      pods.push_back(preparePod("node-1", "x", "cycle" + std::to_string(round * kAtOnce + k), "app: cycle"));
    std::vector<PluginRun> runs(pods.size());
    std::vector<std::thread> threads;
    for (size_t k = 0; k < pods.size(); ++k) threads.emplace_back([&, k] { runs[k] = add(pods[k]); });
    for (auto& t : threads) t.join();
    for (size_t k = 0; k < pods.size(); ++k) {
      ASSERT_EQ(runs[k].status, 0) << "round " << round << ": " << runs[k].out << runs[k].err;
      addresses.insert(pods[k].ip);
    }
    if (round % 10 == 0 || round == kRounds - 1) {
      TcpEchoServer server(pods[0].netnsPath, 80);
      EXPECT_EQ(connectEventually(peer.netnsPath, pods[0].ip, 80), TcpResult::Connected) << "round " << round;
    }
    for (const PodRef& p : pods) {
      deletePod(p);
      runCommandOrThrow({"ip", "netns", "del", p.netns});
      namespaces_.erase(std::find(namespaces_.begin(), namespaces_.end(), p.netns));
    }
  }
  EXPECT_GT(addresses.size(), 100u) << "a released address is not handed out again at once";
  EXPECT_EQ(addresses.size(), size_t(200)) << "200 pods, and the pool of 253 addresses is walked round";
  // The agent has reconciled the last removal by the time the footprint is back.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (footprint("node-1") != before && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(footprint("node-1"), before);
  auto s = agents_["node-1"]->status();
  EXPECT_EQ(s.endpoints.size(), 0u);
}

// Twenty ADDs at once on one node: twenty distinct addresses, all enforced.
TEST_F(PodLifecycle, TwentyConcurrentAddsGetDistinctAddresses) {
  std::vector<PodRef> pods;
  for (int i = 0; i < 20; ++i) pods.push_back(preparePod("node-2", "y", "p" + std::to_string(i), "app: many"));
  std::vector<PluginRun> runs(pods.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < pods.size(); ++i)
    threads.emplace_back([&, i] { runs[i] = runPlugin(nodeNs("node-2"), cniEnv("ADD", pods[i]), netconf("node-2")); });
  for (auto& t : threads) t.join();
  std::set<std::string> addresses;
  for (size_t i = 0; i < runs.size(); ++i) {
    ASSERT_EQ(runs[i].status, 0) << runs[i].out << runs[i].err;
    std::string a = runs[i].json()["ips"][0]["address"].get<std::string>();
    addresses.insert(a);
    EXPECT_TRUE(inCidr(a.substr(0, a.find('/')), "10.91.2.0/24")) << a;
  }
  EXPECT_EQ(addresses.size(), 20u);
  auto s = agents_["node-2"]->status();
  size_t attached = 0;
  for (const auto& e : s.endpoints) attached += e.attached;
  EXPECT_EQ(attached, 20u);
}

// ADDs while the agent is restarted: each either succeeds, enforced, or
// fails with a CNI error the runtime retries; nothing half-made is left.
TEST_F(PodLifecycle, AddsWhileTheAgentRestartsSucceedEnforcedOrFail) {
  write("deny.yaml", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all, namespace: y}\n"
                     "spec: {podSelector: {}, policyTypes: [Ingress]}\n");
  PodRef client = addPod("node-1", "x", "client", "app: client");
  std::atomic<bool> done{false};
  std::vector<std::pair<PodRef, PluginRun>> results;
  std::mutex mu;
  std::thread adder([&] {
    for (int i = 0; !done && i < 40; ++i) {
      PodRef p = preparePod("node-3", "y", "r" + std::to_string(i), "app: restarted");
      PluginRun r = runPlugin(nodeNs("node-3"), cniEnv("ADD", p), netconf("node-3"));
      std::lock_guard<std::mutex> lock(mu);
      results.push_back({p, r});
    }
  });
  for (int restart = 0; restart < 3; ++restart) {
    std::this_thread::sleep_for(700ms);
    agents_["node-3"]->stop();
    std::this_thread::sleep_for(300ms);
    startAgent("node-3");
  }
  std::this_thread::sleep_for(1s);
  done = true;
  adder.join();
  ASSERT_TRUE(agents_["node-3"]->waitForReconcileAfter(0));
  size_t ok = 0, failed = 0;
  for (auto& [p, r] : results) {
    std::string host = runtime::hostInterfaceName(p.containerID, "eth0");
    bool hostEnd = runCommandOrThrow({"ip", "-n", nodes_["node-3"], "link", "show"}).find(host) != std::string::npos;
    if (r.status == 0) {
      ++ok;
      std::string a = r.json()["ips"][0]["address"].get<std::string>();
      std::string ip = a.substr(0, a.find('/'));
      EXPECT_TRUE(hostEnd) << p.name;
      // Enforced: the deny-all policy of y holds for it.
      TcpEchoServer server(p.netnsPath, 80);
      EXPECT_EQ(tcpConnectFrom(client.netnsPath, ip, 80, 500ms), TcpResult::TimedOut) << p.name;
    } else {
      ++failed;
      nlohmann::json j = r.json();
      EXPECT_TRUE(j.is_object() && j.contains("code")) << "not a CNI error: " << r.out << r.err;
      // What a runtime does after a failed ADD: DEL, which must clean up.
      PluginRun d = del(p);
      EXPECT_EQ(d.status, 0) << d.out << d.err;
      EXPECT_EQ(runCommandOrThrow({"ip", "-n", nodes_["node-3"], "link", "show"}).find(host), std::string::npos)
          << p.name << " left its interface";
    }
  }
  EXPECT_GT(ok, 0u);
  EXPECT_GT(failed, 0u) << "no ADD met a restart";
}

}  // namespace
}  // namespace sluice::agent_testing
