// Self-tests of the real-traffic fixtures, without any sluice BPF: the topology
// routes TCP, UDP and SCTP between pods on one node and across nodes, a tc
// filter on a pod's host-side veth cuts exactly that pod off, and nothing is
// left behind. These need root; they fail (never skip) without it.
#include <gtest/gtest.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "tests/kernel/netns_cluster.h"
#include "tests/kernel/traffic.h"

namespace sluice::kernel_testing {
namespace {

using namespace std::chrono_literals;

constexpr milliseconds kDropTimeout = 600ms;  // how long a probe waits to call a flow dropped

ino_t nsInodeOfThisThread(const char* ns) {
  struct stat st{};
  stat((std::string("/proc/thread-self/ns/") + ns).c_str(), &st);
  return st.st_ino;
}
ino_t netnsInodeOfThisThread() { return nsInodeOfThisThread("net"); }

std::string readFirstLine(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// Two nodes, two pods each. node-a routes by podCidr, node-b per pod (/32),
// so both routing variants are exercised.
class NetnsClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "kernel tests must run as root (they fail instead of skipping)";
    cluster = std::make_unique<NetnsCluster>();
    cluster->addNode("node-a", "192.168.77.1", "10.77.1.0/24");
    cluster->addNode("node-b", "192.168.77.2");
    cluster->addPod("node-a", "a1", "10.77.1.5");
    cluster->addPod("node-a", "a2", "10.77.1.6");
    cluster->addPod("node-b", "b1", "10.77.2.5");
    cluster->addPod("node-b", "b2", "10.77.2.6");
  }

  const std::vector<std::string> pods{"a1", "a2", "b1", "b2"};
  std::unique_ptr<NetnsCluster> cluster;
};

TEST_F(NetnsClusterTest, TopologyNamesAndAccessors) {
  EXPECT_EQ(NetnsCluster::listNetns(cluster->netnsPrefix()).size(), 6u);
  EXPECT_EQ(cluster->netnsNames().size(), 6u);
  for (const auto& p : pods) {
    const auto& pod = cluster->pod(p);
    EXPECT_LE(pod.hostIf.size(), 15u) << pod.hostIf;
    EXPECT_GT(pod.hostIfindex, 0);
    EXPECT_GT(pod.podIfindex, 0);
    // The ifindex is the one in the node's namespace.
    int seen = 0;
    cluster->runInNode(pod.node, [&] { seen = static_cast<int>(if_nametoindex(pod.hostIf.c_str())); });
    EXPECT_EQ(seen, cluster->hostIfindex(p));
    // ... and the host veth does not exist in the root namespace.
    EXPECT_EQ(if_nametoindex(pod.hostIf.c_str()), 0u);
  }
  for (const auto& n : cluster->nodeNames()) {
    EXPECT_LE(cluster->node(n).fabricIf.size(), 15u);
    EXPECT_GE(cluster->nodeNetnsFd(n), 0);
    std::string forwarding, rpFilter;
    cluster->runInNode(n, [&] {
      forwarding = readFirstLine("/proc/sys/net/ipv4/ip_forward");
      rpFilter = readFirstLine("/proc/sys/net/ipv4/conf/all/rp_filter");
    });
    EXPECT_EQ(forwarding, "1") << n;
    EXPECT_EQ(rpFilter, "0") << n;
  }
  // Per-namespace sysctls really landed per namespace: pods do not forward.
  std::string podForwarding;
  cluster->runInPod("a1", [&] { podForwarding = readFirstLine("/proc/sys/net/ipv4/ip_forward"); });
  EXPECT_EQ(podForwarding, "0");
  EXPECT_THROW(cluster->addNode("node-c", "192.168.77.3"), std::logic_error);
  EXPECT_THROW(cluster->addPod("node-a", "bad", "10.99.0.1"), std::invalid_argument);  // outside podCidr
  EXPECT_THROW(cluster->pod("nope"), std::invalid_argument);
}

TEST_F(NetnsClusterTest, RunInDoesNotMoveTheCallingThread) {
  ino_t before = netnsInodeOfThisThread();
  ino_t inside = 0;
  cluster->runInPod("a1", [&] { inside = netnsInodeOfThisThread(); });
  EXPECT_NE(inside, before);
  EXPECT_EQ(netnsInodeOfThisThread(), before);
  EXPECT_EQ(callInNetns(cluster->podNetnsPath("a1"), [] { return netnsInodeOfThisThread(); }), inside);
  ino_t inNode = 0;
  cluster->runIn("node-a", [&] { inNode = netnsInodeOfThisThread(); });
  EXPECT_NE(inNode, before);
  EXPECT_NE(inNode, inside);
  // Unlike `ip netns exec`, only the network namespace changes: the mount
  // namespace (and so the caller's /sys/fs/bpf) stays.
  ino_t mntOutside = nsInodeOfThisThread("mnt"), mntInside = 0;
  cluster->runInNode("node-b", [&] { mntInside = nsInodeOfThisThread("mnt"); });
  EXPECT_EQ(mntInside, mntOutside);
  EXPECT_THROW(cluster->runIn("nobody", [] {}), std::invalid_argument);
  EXPECT_THROW(cluster->runInPod("a1", [] { throw std::runtime_error("boom"); }), std::runtime_error);
  EXPECT_THROW(runInNetns("/var/run/netns/does-not-exist-sluice", [] {}), std::runtime_error);
}

TEST_F(NetnsClusterTest, TcpConnectsSameNodeAndCrossNode) {
  std::vector<std::unique_ptr<TcpEchoServer>> servers;
  for (const auto& p : pods) servers.push_back(tcpListen(*cluster, p, 80));
  for (const auto& from : pods)
    for (const auto& to : pods) {
      if (from == to) continue;
      EXPECT_EQ(tcpConnect(*cluster, from, cluster->podIp(to), 80), TcpResult::Connected)
          << from << " -> " << to;
    }
}

TEST_F(NetnsClusterTest, UdpExchangesSameNodeAndCrossNode) {
  std::vector<std::unique_ptr<UdpEchoServer>> servers;
  for (const auto& p : pods) servers.push_back(udpListen(*cluster, p, 81));
  for (const auto& from : pods)
    for (const auto& to : pods) {
      if (from == to) continue;
      EXPECT_TRUE(udpExchange(*cluster, from, cluster->podIp(to), 81)) << from << " -> " << to;
    }
  for (const auto& s : servers) EXPECT_GE(s->datagrams(), 3u);
}

TEST_F(NetnsClusterTest, SctpInitDeliveredSameNodeAndCrossNode) {
  for (const auto& from : pods)
    for (const auto& to : pods) {
      if (from == to) continue;
      auto arrival = sctpInitArrival(*cluster, from, cluster->podIp(to), 80, to);
      ASSERT_TRUE(arrival.has_value()) << from << " -> " << to;
      EXPECT_EQ(arrival->srcIp, cluster->podIp(from));
      EXPECT_EQ(arrival->dstIp, cluster->podIp(to));
      EXPECT_EQ(arrival->dstPort, 80);
    }
  EXPECT_TRUE(sctpInitDelivered(*cluster, "a1", "b2", 5000));
  // Observed in the wrong pod: not delivered there.
  EXPECT_FALSE(sctpInitArrival(*cluster, "a1", cluster->podIp("b1"), 80, "b2", kDropTimeout));
}

TEST_F(NetnsClusterTest, NoListenerIsRefused) {
  EXPECT_EQ(tcpConnect(*cluster, "a1", cluster->podIp("a2"), 9), TcpResult::Refused);
  EXPECT_EQ(tcpConnect(*cluster, "a1", cluster->podIp("b1"), 9), TcpResult::Refused);
  EXPECT_EQ(udpProbe(*cluster, "a1", cluster->podIp("b1"), 9), UdpResult::Refused);
  // No such pod: node-a has no route for it (node-b's pods are /32 routes) and
  // answers with ICMP net unreachable.
  EXPECT_EQ(tcpConnect(*cluster, "a1", "10.77.2.99", 80, kDropTimeout), TcpResult::Unreachable);
}

TEST_F(NetnsClusterTest, TcDropToPodCutsOffOnlyThatPod) {
  auto tcp = tcpListen(*cluster, "a2", 80);
  auto udp = udpListen(*cluster, "a2", 81);
  auto tcpB2 = tcpListen(*cluster, "b2", 80);
  cluster->dropAtHostVeth("a2", TcDirection::ToPod);
  for (const char* from : {"a1", "b1"}) {  // same node, cross node
    EXPECT_EQ(tcpConnect(*cluster, from, cluster->podIp("a2"), 80, kDropTimeout), TcpResult::TimedOut) << from;
    EXPECT_EQ(udpProbe(*cluster, from, cluster->podIp("a2"), 81, kDropTimeout), UdpResult::TimedOut) << from;
    EXPECT_FALSE(sctpInitDelivered(*cluster, from, "a2", 80, kDropTimeout)) << from;
  }
  // a2's own egress still leaves (the filter is on the to-pod side only) ...
  EXPECT_TRUE(sctpInitDelivered(*cluster, "a2", "b2", 80));
  // ... and the other pods are unaffected.
  EXPECT_EQ(tcpConnect(*cluster, "a1", cluster->podIp("b2"), 80), TcpResult::Connected);

  cluster->clearTcAtHostVeth("a2");
  EXPECT_EQ(tcpConnect(*cluster, "b1", cluster->podIp("a2"), 80), TcpResult::Connected);
  EXPECT_TRUE(udpExchange(*cluster, "a1", cluster->podIp("a2"), 81));
  EXPECT_TRUE(sctpInitDelivered(*cluster, "b1", "a2", 80));
}

TEST_F(NetnsClusterTest, TcDropFromPodSilencesThatPod) {
  auto tcp = tcpListen(*cluster, "b1", 80);
  cluster->dropAtHostVeth("a1", TcDirection::FromPod);
  EXPECT_EQ(tcpConnect(*cluster, "a1", cluster->podIp("b1"), 80, kDropTimeout), TcpResult::TimedOut);
  EXPECT_FALSE(sctpInitDelivered(*cluster, "a1", "a2", 80, kDropTimeout));
  EXPECT_EQ(tcpConnect(*cluster, "a2", cluster->podIp("b1"), 80), TcpResult::Connected);
  cluster->clearTcAtHostVeth("a1");
  EXPECT_EQ(tcpConnect(*cluster, "a1", cluster->podIp("b1"), 80), TcpResult::Connected);
}

TEST_F(NetnsClusterTest, LongLivedSessionReportsStallsAndSurvives) {
  auto server = tcpListen(*cluster, "b1", 8080);
  TcpSession steady(*cluster, "a1", cluster->podIp("b1"), 8080, 10ms);
  TcpSession cut(*cluster, "a2", cluster->podIp("b1"), 8080, 10ms, 200ms);
  ASSERT_TRUE(steady.connected());
  ASSERT_TRUE(cut.connected());
  EXPECT_TRUE(steady.waitForExchanges(10, 5s));
  EXPECT_TRUE(cut.waitForExchanges(10, 5s));

  // Cut a2 off for a while (its packets leave through its host veth's ingress).
  cluster->dropAtHostVeth("a2", TcDirection::FromPod);
  std::this_thread::sleep_for(700ms);
  cluster->clearTcAtHostVeth("a2");
  EXPECT_TRUE(cut.waitForExchanges(5, 10s)) << "TCP did not recover after the drop was removed";
  EXPECT_TRUE(steady.waitForExchanges(5, 5s));

  TcpSession::Stats s = steady.stop();
  EXPECT_TRUE(s.stayedUp()) << "stalls " << s.stalls << " broken " << s.broken << " " << s.error;
  EXPECT_GE(s.exchanges, 15u);
  TcpSession::Stats c = cut.stop();
  EXPECT_FALSE(c.stayedUp());
  EXPECT_GE(c.stalls, 1u);
  EXPECT_FALSE(c.broken) << c.error;

  // Refused sessions report it.
  TcpSession refused(*cluster, "a1", cluster->podIp("b2"), 8080);
  EXPECT_FALSE(refused.connected());
  EXPECT_EQ(refused.stats().connect, TcpResult::Refused);
  EXPECT_FALSE(refused.stop().stayedUp());
}

TEST_F(NetnsClusterTest, EphemeralListenPort) {
  auto server = tcpListen(*cluster, "b2", 0);
  ASSERT_NE(server->port(), 0);
  EXPECT_EQ(tcpConnect(*cluster, "a1", cluster->podIp("b2"), server->port()), TcpResult::Connected);
  EXPECT_TRUE(server->waitForAccepted(1));
  EXPECT_EQ(server->accepted(), 1u);
}

TEST_F(NetnsClusterTest, OutsideClientReachesBothNodesAndIsAnswered) {
  const auto& out = cluster->addOutsideClient("out", "192.168.78.2", "node-a");
  EXPECT_EQ(out.gatewayIp, "192.168.78.1");
  EXPECT_EQ(NetnsCluster::listNetns(cluster->netnsPrefix()).size(), 7u);
  // Uplinks: node-a's fabric veth and the client's veth; node-b's fabric veth.
  auto a = cluster->uplinkIfs("node-a");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].name, cluster->node("node-a").fabricIf);
  EXPECT_EQ(a[1].name, out.nodeIf);
  EXPECT_GT(a[1].ifindex, 0);
  ASSERT_EQ(cluster->uplinkIfs("node-b").size(), 1u);
  // Both node addresses, and a pod of each node (node-b routes the client's
  // /24 back through node-a), over TCP and UDP.
  std::string nodeA = runCommandOrThrow({"ip", "-n", cluster->node("node-a").netns, "-o", "addr"});
  EXPECT_NE(nodeA.find("192.168.78.1/24"), std::string::npos) << nodeA;
  for (const char* pod : {"a1", "b1"}) {
    auto tcp = tcpListen(*cluster, pod, 80);
    auto udp = udpListen(*cluster, pod, 53);
    EXPECT_EQ(tcpConnect(*cluster, "out", cluster->podIp(pod), 80), TcpResult::Connected) << pod;
    EXPECT_TRUE(udpExchange(*cluster, "out", cluster->podIp(pod), 53)) << pod;
    ASSERT_TRUE(tcp->waitForAccepted(1));
    EXPECT_EQ(tcp->peers(), std::vector<std::string>{"192.168.78.2"}) << pod << " saw the client's own address";
  }
  for (const char* node : {"192.168.77.1", "192.168.77.2"})
    EXPECT_EQ(tcpConnect(*cluster, "out", node, 9), TcpResult::Refused) << node << " answers (nothing listens)";
  EXPECT_THROW(cluster->addOutsideClient("other", "192.168.78.3", "node-b"), std::invalid_argument)
      << "a second client on the same /24";
  EXPECT_THROW(cluster->addOutsideClient("a1", "192.168.79.2", "node-b"), std::invalid_argument) << "a pod's name";
}

// ---- without the fixture -----------------------------------------------------------

TEST(NetnsClusterLifecycle, DestroyLeavesNoNamespacesOrLinks) {
  ASSERT_EQ(geteuid(), 0u) << "kernel tests must run as root (they fail instead of skipping)";
  std::string prefix, tag;
  {
    NetnsCluster c;
    prefix = c.netnsPrefix();
    tag = c.ifTag();
    c.addNode("n1", "192.168.78.1");
    c.addPod("n1", "p1", "10.78.1.5");  // before the second node: routes come later
    c.addNode("n2", "192.168.78.2", "10.78.2.0/24");
    c.addPod("n2", "p2", "10.78.2.5");
    auto server = tcpListen(c, "p2", 80);
    EXPECT_EQ(tcpConnect(c, "p1", "10.78.2.5", 80), TcpResult::Connected);
    auto back = tcpListen(c, "p1", 80);
    EXPECT_EQ(tcpConnect(c, "p2", "10.78.1.5", 80), TcpResult::Connected);
    EXPECT_EQ(NetnsCluster::listNetns(prefix).size(), 4u);
    // Servers go before the cluster (they hold sockets in its namespaces).
  }
  EXPECT_TRUE(NetnsCluster::listNetns(prefix).empty());
  std::string list = runCommandOrThrow({"ip", "netns", "list"});
  EXPECT_EQ(list.find(prefix), std::string::npos) << list;
  std::string links = runCommandOrThrow({"ip", "-o", "link", "show"});
  EXPECT_EQ(links.find("lxc" + tag), std::string::npos) << links;
  EXPECT_EQ(links.find("fab" + tag), std::string::npos) << links;
}

TEST(NetnsClusterLifecycle, OutsideClientsAreRemovedToo) {
  ASSERT_EQ(geteuid(), 0u) << "kernel tests must run as root (they fail instead of skipping)";
  std::string prefix, tag;
  try {
    NetnsCluster c;
    prefix = c.netnsPrefix();
    tag = c.ifTag();
    c.addNode("n1", "192.168.78.1");
    c.addNode("n2", "192.168.78.2");
    c.addOutsideClient("o", "192.168.79.2", "n2");
    EXPECT_EQ(NetnsCluster::listNetns(prefix).size(), 3u);
    throw std::runtime_error("a failing test body");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(NetnsCluster::listNetns(prefix).empty());
  std::string links = runCommandOrThrow({"ip", "-o", "link", "show"});
  EXPECT_EQ(links.find("out" + tag), std::string::npos) << links;
}

TEST(NetnsClusterLifecycle, CleansUpWhenTheTestBodyThrows) {
  ASSERT_EQ(geteuid(), 0u);
  std::string prefix;
  try {
    NetnsCluster c;
    prefix = c.netnsPrefix();
    c.addNode("n1", "192.168.79.1");
    c.addPod("n1", "p1", "10.79.1.5");
    c.addPod("n1", "p1", "10.79.1.6");  // duplicate: throws
    FAIL() << "duplicate pod accepted";
  } catch (const std::invalid_argument&) {
  }
  EXPECT_TRUE(NetnsCluster::listNetns(prefix).empty());
}

TEST(NetnsClusterLifecycle, StaleNamespacesOfDeadProcessesAreRemoved) {
  ASSERT_EQ(geteuid(), 0u);
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);  // now a dead pid (reuse this soon is very unlikely)
  struct stat st{};
  stat("/proc/self/ns/pid", &st);
  std::string stale = "slt" + std::to_string(child) + "." + std::to_string(st.st_ino) + "-0-n-x";
  runCommandOrThrow({"ip", "netns", "add", stale});
  // Namespaces of a live process (ours) with the same shape are kept.
  std::string live = "slt" + std::to_string(getpid()) + "." + std::to_string(st.st_ino) + "-999-n-x";
  runCommandOrThrow({"ip", "netns", "add", live});
  { NetnsCluster c; }  // the constructor sweeps stale namespaces
  EXPECT_TRUE(NetnsCluster::listNetns(stale).empty());
  EXPECT_EQ(NetnsCluster::listNetns(live).size(), 1u);
  EXPECT_EQ(NetnsCluster::cleanupByPrefix(live), 1);
  EXPECT_TRUE(NetnsCluster::listNetns(live).empty());
  NetnsCluster::cleanupByPrefix(stale);
}

TEST(SctpPacket, Crc32cAndInitLayout) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32c(reinterpret_cast<const uint8_t*>(check.data()), check.size()), 0xE3069283u);
  std::vector<uint8_t> p = buildSctpInit(40000, 80, 0x01020304);
  ASSERT_EQ(p.size(), 32u);
  EXPECT_EQ(p[0] << 8 | p[1], 40000);
  EXPECT_EQ(p[2] << 8 | p[3], 80);
  EXPECT_EQ(p[12], 1);                // INIT
  EXPECT_EQ(p[14] << 8 | p[15], 20);  // chunk length
  EXPECT_TRUE(sctpChecksumOk(p.data(), p.size()));
  p[20] ^= 1;
  EXPECT_FALSE(sctpChecksumOk(p.data(), p.size()));
  EXPECT_THROW(buildSctpInit(1, 2, 0), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::kernel_testing
