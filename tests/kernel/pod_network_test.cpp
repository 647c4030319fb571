// Pod and node networking in the kernel (runtime/pod_network.h,
// runtime/node_network.h, runtime/netns.h): veth pairs made by
// createPodInterface from inside a "node" namespace for "pod" namespaces,
// routes across two nodes on one L2 segment, natively and through VXLAN,
// judged by real pings; iproute2 only observes and perturbs.
//
//   pod ns "p-a"           node ns "n-a"                         node ns "n-b"           pod ns "p-b"
//   eth0 10.77.1.5/32 ─ slc… (ee:ee:…)   sfa<pid> 192.168.77.1/24 ── sfb<pid> 192.168.77.2/24   slc… ─ eth0 10.77.2.5/32
//                          podCIDR 10.77.1.0/24                      podCIDR 10.77.2.0/24
//
// Every namespace is named slt<pid>.<pidns>-9xx-<role> (NetnsCluster's scheme,
// so NetnsCluster::cleanupStale removes the leftovers of a killed run) and
// deleted by its guard even when a test fails. Nothing is created in the
// test's own namespace.
//
// These tests need root; they fail (never skip) without it.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/rtnetlink.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "base/net.h"
#include "runtime/netlink.h"
#include "runtime/netns.h"
#include "runtime/node_network.h"
#include "runtime/pod_network.h"
#include "tests/kernel/netns_cluster.h"

namespace sluice::runtime {
namespace {

using kernel_testing::CommandResult;
using kernel_testing::runCommand;
using kernel_testing::runCommandOrThrow;

IpAddr ip(const char* text) { return *IpAddr::parse(text); }
Cidr cidr(const char* text) { return *Cidr::parse(text); }

uint64_t inodeOf(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// ---- fixtures ---------------------------------------------------------------------

// A named network namespace (`ip netns add`), deleted on destruction.
class TestNetns {
 public:
  explicit TestNetns(const std::string& role) {
    kernel_testing::requireRoot();
    static std::once_flag stale;
    std::call_once(stale, [] { kernel_testing::NetnsCluster::cleanupStale(); });
    static std::atomic<unsigned> counter{0};
    name_ = fmt::format("slt{}.{}-{}-{}", getpid(), inodeOf("/proc/self/ns/pid"), 900 + counter++ % 100, role);
    runCommandOrThrow({"ip", "netns", "add", name_});
    path_ = "/var/run/netns/" + name_;
  }
  ~TestNetns() {
    CommandResult r = runCommand({"ip", "netns", "del", name_});
    if (!r.ok()) std::fprintf(stderr, "ip netns del %s: %s\n", name_.c_str(), r.output.c_str());
  }
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }

  // `ip -n <ns> args...`, throwing on failure.
  std::string ip(std::vector<std::string> args) const {
    args.insert(args.begin(), {"ip", "-n", name_});
    return runCommandOrThrow(args);
  }
  CommandResult tryIp(std::vector<std::string> args) const {
    args.insert(args.begin(), {"ip", "-n", name_});
    return runCommand(args);
  }
  CommandResult exec(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"ip", "netns", "exec", name_});
    return runCommand(argv);
  }

  // Runs f in this namespace with runtime::runInNetns and returns its result;
  // throws when the namespace cannot be entered.
  template <class F>
  auto in(F&& f) const -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    std::string error;
    if constexpr (std::is_void_v<R>) {
      if (!runInNetns(path_, f, error)) throw std::runtime_error(error);
    } else {
      std::optional<R> out;
      if (!runInNetns(path_, [&] { out.emplace(f()); }, error)) throw std::runtime_error(error);
      return std::move(*out);
    }
  }

 private:
  std::string name_;
  std::string path_;
};

CommandResult runPing(const TestNetns& from, const std::string& to, int count, const std::string& size) {
  std::vector<std::string> argv{"ping", "-n", "-q", "-c", std::to_string(count), "-i", "0.2", "-W", "2"};
  if (!size.empty()) argv.insert(argv.end(), {"-M", "do", "-s", size});
  argv.push_back(to);
  return from.exec(argv);
}

// Every echo request answered (ping exits 0 when any is; -q prints the count).
bool ping(const TestNetns& from, const std::string& to, int count = 2, const std::string& size = "") {
  CommandResult r = runPing(from, to, count, size);
  bool all = r.ok() && r.output.find(fmt::format("{} received", count)) != std::string::npos;
  if (!all) std::fprintf(stderr, "ping %s from %s: %s\n", to.c_str(), from.name().c_str(), r.output.c_str());
  return all;
}

// No echo request answered.
bool unreachable(const TestNetns& from, const std::string& to) { return !runPing(from, to, 1, "").ok(); }

std::string routesOfProtocol(const TestNetns& ns, uint8_t protocol) {
  return ns.ip({"-4", "route", "show", "proto", std::to_string(protocol)});
}

std::vector<std::string> hostEnds(const TestNetns& node) {
  return node.in([] {
    std::string error;
    auto names = linksWithPrefix(kHostInterfacePrefix, error);
    if (!error.empty()) throw std::runtime_error(error);
    return names;
  });
}

// Links in a namespace other than lo.
std::string linksBesidesLo(const TestNetns& ns) {
  std::string out;
  for (const auto& name : ns.in([] {
         std::string error;
         return linksWithPrefix("", error);
       }))
    if (name != "lo") out += name + " ";
  return out;
}

struct Created {
  bool ok = false;
  PodInterface pod;
  std::string error;
};

Created createIn(const TestNetns& node, const PodInterfaceSpec& spec) {
  return node.in([&] {
    Created c;
    c.ok = createPodInterface(spec, c.pod, c.error);
    return c;
  });
}

bool deleteIn(const TestNetns& node, const std::string& hostIfname, std::string& error) {
  return node.in([&] { return deletePodInterface(hostIfname, error); });
}

bool checkIn(const TestNetns& node, const PodInterfaceSpec& spec, std::string& problem) {
  return node.in([&] { return checkPodInterface(spec, problem); });
}

PodInterfaceSpec podSpec(const TestNetns& pod, const std::string& containerId, const char* address,
                         uint32_t mtu = 0) {
  PodInterfaceSpec spec;
  spec.netns = pod.path();
  spec.ifname = "eth0";
  spec.hostIfname = hostInterfaceName(containerId, spec.ifname);
  spec.address = ip(address);
  spec.mtu = mtu;
  return spec;
}

// Strict reverse-path filtering, the strictest a node may have: the layout
// needs no exception from it.
void strictRpFilter(const TestNetns& ns) {
  ns.in([] {
    std::string error;
    for (const char* conf : {"all", "default"})
      if (!setSysctl(fmt::format("net/ipv4/conf/{}/rp_filter", conf), "1", error)) throw std::runtime_error(error);
  });
}

// A node namespace with an address on lo (what the pods ping).
struct OneNode {
  TestNetns node{"n"};
  OneNode() {
    node.ip({"link", "set", "lo", "up"});
    node.ip({"addr", "add", "10.200.0.1/32", "dev", "lo"});
    strictRpFilter(node);
  }
};

// Two node namespaces joined by a veth pair: one L2 segment, 192.168.77.0/24.
struct TwoNodes {
  TestNetns a{"n-a"};
  TestNetns b{"n-b"};
  std::string fabricA = fmt::format("sfa{}", getpid());
  std::string fabricB = fmt::format("sfb{}", getpid());
  TwoNodes() {
    runCommandOrThrow({"ip", "link", "add", fabricA, "netns", a.name(), "type", "veth", "peer", "name", fabricB,
                       "netns", b.name()});
    for (auto [ns, dev, address] :
         {std::tuple{&a, fabricA, "192.168.77.1/24"}, std::tuple{&b, fabricB, "192.168.77.2/24"}}) {
      ns->ip({"link", "set", "lo", "up"});
      ns->ip({"addr", "add", address, "dev", dev});
      ns->ip({"link", "set", dev, "up"});
      ns->in([] {
        std::string error;
        if (!enableForwarding(error)) throw std::runtime_error(error);
      });
      strictRpFilter(*ns);
    }
  }
};

struct LinkCounters {
  uint64_t rxPackets = 0, txPackets = 0;
};

LinkCounters countersOf(const TestNetns& ns, const std::string& dev) {
  auto j = nlohmann::json::parse(ns.ip({"-s", "-j", "link", "show", "dev", dev}));
  return {j.at(0).at("stats64").at("rx").at("packets").get<uint64_t>(),
          j.at(0).at("stats64").at("tx").at("packets").get<uint64_t>()};
}

// ---- names and namespaces ------------------------------------------------------------

TEST(PodNetworkTest, HostInterfaceNameIsStableShortAndDistinct) {
  std::string a = hostInterfaceName("3f0e0c2b7a1d", "eth0");
  EXPECT_EQ(a, hostInterfaceName("3f0e0c2b7a1d", "eth0"));
  EXPECT_EQ(a.size(), 15u);
  EXPECT_EQ(a.rfind("slc", 0), 0u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef", 3), std::string::npos) << a;
  EXPECT_NE(a, hostInterfaceName("3f0e0c2b7a1d", "eth1"));
  EXPECT_NE(a, hostInterfaceName("3f0e0c2b7a1e", "eth0"));
  // Neither a container ID nor an interface name holds a slash: the joined key is unambiguous.
  // Pinned: a later version must name an earlier version's links the same.
  EXPECT_EQ(hostInterfaceName("abc", "eth0"), "slc69de51a688dd");
}

TEST(NetnsTest, RunsOnAThreadInsideTheNamespaceAndLeavesTheCallerAlone) {
  kernel_testing::requireRoot();
  TestNetns ns("x");
  uint64_t before = inodeOf("/proc/thread-self/ns/net");
  uint64_t inside = ns.in([] { return inodeOf("/proc/thread-self/ns/net"); });
  EXPECT_EQ(inside, inodeOf(ns.path()));
  EXPECT_NE(inside, before);
  EXPECT_EQ(inodeOf("/proc/thread-self/ns/net"), before);
  // /proc/sys/net follows the thread: the namespace's own lo.
  std::string error;
  ns.ip({"link", "set", "lo", "up"});
  EXPECT_EQ(ns.in([] { return ifindexOf("lo"); }), 1);
  EXPECT_TRUE(ns.in([&] { return setSysctl("net/ipv4/conf/lo/forwarding", "1", error); })) << error;
  EXPECT_EQ(ns.in([&] { return getSysctl("net/ipv4/conf/lo/forwarding", error); }), "1");

  Netns handle;
  EXPECT_FALSE(handle.open("/var/run/netns/slt-no-such-namespace", error));
  EXPECT_EQ(error, "cannot open the network namespace /var/run/netns/slt-no-such-namespace: No such file or directory");
  EXPECT_FALSE(handle.open("/proc/self/ns/uts", error));
  EXPECT_EQ(error, "/proc/self/ns/uts is not a network namespace");
  EXPECT_FALSE(handle.open("/proc/self/status", error));
  EXPECT_NE(error.find("/proc/self/status is not a namespace"), std::string::npos) << error;
  EXPECT_FALSE(runInNetns(ns.path(), [] { throw std::runtime_error("boom"); }, error));
  EXPECT_EQ(error, "in the network namespace " + ns.path() + ": boom");
  ASSERT_TRUE(handle.open(ns.path(), error)) << error;
  Netns moved = std::move(handle);
  EXPECT_FALSE(handle.isOpen());
  EXPECT_TRUE(moved.run([] {}, error)) << error;
}

// ---- one node ------------------------------------------------------------------------------

TEST(PodNetworkTest, CreatePingCheckDelete) {
  OneNode n;
  TestNetns pod("p");
  PodInterfaceSpec spec = podSpec(pod, "ctr-create", "10.77.1.5", 1400);
  Created c = createIn(n.node, spec);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(c.pod.hostMac, "ee:ee:ee:ee:ee:ee");
  EXPECT_GT(c.pod.hostIfindex, 0);
  EXPECT_GT(c.pod.podIfindex, 0);
  auto eth0 = nlohmann::json::parse(pod.ip({"-j", "link", "show", "dev", "eth0"})).at(0);
  EXPECT_EQ(c.pod.podMac, eth0.at("address"));
  EXPECT_EQ(c.pod.podIfindex, eth0.at("ifindex"));

  // Real traffic both ways.
  EXPECT_TRUE(ping(pod, "10.200.0.1"));
  EXPECT_TRUE(ping(n.node, "10.77.1.5"));

  // The pod's view.
  std::string podAddr = pod.ip({"-4", "-o", "addr", "show", "dev", "eth0"});
  EXPECT_NE(podAddr.find("inet 10.77.1.5/32 "), std::string::npos) << podAddr;
  std::string podRoutes = pod.ip({"-4", "route", "show"});
  EXPECT_NE(podRoutes.find("default via 169.254.1.1 dev eth0 proto 227 onlink"), std::string::npos) << podRoutes;
  EXPECT_NE(podRoutes.find("169.254.1.1 dev eth0 proto 227 scope link"), std::string::npos) << podRoutes;
  std::string podNeigh = pod.ip({"neigh", "show", "dev", "eth0"});
  EXPECT_NE(podNeigh.find("169.254.1.1 lladdr ee:ee:ee:ee:ee:ee PERMANENT"), std::string::npos) << podNeigh;
  EXPECT_NE(pod.ip({"-o", "link", "show", "dev", "eth0"}).find("mtu 1400"), std::string::npos);
  EXPECT_NE(pod.ip({"-o", "link", "show", "dev", "lo"}).find("UP"), std::string::npos);

  // The node's view.
  EXPECT_EQ(routesOfProtocol(n.node, kRouteProtocolPod), "10.77.1.5 dev " + spec.hostIfname + " scope link \n");
  std::string hostLink = n.node.ip({"-o", "link", "show", "dev", spec.hostIfname});
  EXPECT_NE(hostLink.find("mtu 1400"), std::string::npos) << hostLink;
  EXPECT_NE(hostLink.find("state UP"), std::string::npos) << hostLink;
  std::string hostNeigh = n.node.ip({"neigh", "show", "dev", spec.hostIfname});
  EXPECT_NE(hostNeigh.find("10.77.1.5 lladdr " + c.pod.podMac + " PERMANENT"), std::string::npos) << hostNeigh;
  std::string error;
  EXPECT_EQ(n.node.in([&] { return getSysctl("net/ipv4/conf/" + spec.hostIfname + "/forwarding", error); }), "1");
  EXPECT_EQ(hostEnds(n.node), std::vector<std::string>{spec.hostIfname});
  EXPECT_EQ(n.node.in([&] { return ifindexOf(spec.hostIfname); }), c.pod.hostIfindex);

  std::string problem;
  EXPECT_TRUE(checkIn(n.node, spec, problem)) << problem;

  // Delete: nothing left on either side; again: still success.
  ASSERT_TRUE(deleteIn(n.node, spec.hostIfname, error)) << error;
  EXPECT_TRUE(hostEnds(n.node).empty());
  EXPECT_EQ(routesOfProtocol(n.node, kRouteProtocolPod), "");
  EXPECT_EQ(linksBesidesLo(pod), "");
  EXPECT_EQ(pod.ip({"-4", "route", "show"}), "");
  EXPECT_TRUE(deleteIn(n.node, spec.hostIfname, error)) << error;
  EXPECT_FALSE(checkIn(n.node, spec, problem));
  EXPECT_EQ(problem, "the host interface " + spec.hostIfname + " is missing; interface eth0 in the container is missing");
}

TEST(PodNetworkTest, FailedCreatesLeaveNothingBehind) {
  OneNode n;
  TestNetns pod("p");
  PodInterfaceSpec spec = podSpec(pod, "ctr-fail", "10.77.1.6");
  auto nothingLeft = [&](const char* when) {
    SCOPED_TRACE(when);
    EXPECT_TRUE(hostEnds(n.node).empty());
    EXPECT_EQ(routesOfProtocol(n.node, kRouteProtocolPod), "");
    EXPECT_EQ(n.node.ip({"-4", "neigh", "show"}), "");
  };

  // The name is taken in the container: refused before anything is made.
  pod.ip({"link", "add", "eth0", "type", "veth", "peer", "name", "other0"});
  Created c = createIn(n.node, spec);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.error, "interface eth0 already exists in the container");
  nothingLeft("eth0 exists");
  pod.ip({"link", "del", "eth0"});

  // A failure at the last steps (the node already routes the address): the
  // pair, the container's address and routes are all gone again.
  n.node.ip({"route", "add", "10.77.1.6/32", "dev", "lo"});
  c = createIn(n.node, spec);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.error, "a route to 10.77.1.6/32 already exists in the node: is the address in use by another pod?");
  EXPECT_TRUE(hostEnds(n.node).empty());
  EXPECT_EQ(linksBesidesLo(pod), "");
  EXPECT_EQ(pod.ip({"-4", "route", "show"}), "");
  n.node.ip({"route", "del", "10.77.1.6/32", "dev", "lo"});
  nothingLeft("route conflict");

  // No such namespace.
  PodInterfaceSpec gone = spec;
  gone.netns = "/var/run/netns/slt-no-such-pod";
  c = createIn(n.node, gone);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.error, "cannot open the network namespace /var/run/netns/slt-no-such-pod: No such file or directory");
  nothingLeft("no namespace");

  // Bad names.
  PodInterfaceSpec longName = spec;
  longName.ifname = "a-much-too-long-name";
  c = createIn(n.node, longName);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.error, "'a-much-too-long-name' is not a valid interface name");

  // A leftover host end of the same container (an ADD that died half-way) is replaced.
  n.node.ip({"link", "add", spec.hostIfname, "type", "veth", "peer", "name", "leftover0"});
  c = createIn(n.node, spec);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(n.node.tryIp({"link", "show", "leftover0"}).status, 1);
  EXPECT_TRUE(ping(pod, "10.200.0.1", 1));
  std::string error;
  EXPECT_TRUE(deleteIn(n.node, spec.hostIfname, error)) << error;
  nothingLeft("after the replacement");

  // Not a veth of ours: neither replaced nor deleted.
  n.node.ip({"link", "add", spec.hostIfname, "type", "bridge"});
  c = createIn(n.node, spec);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.error, "a link named " + spec.hostIfname + " exists in the node and is not a veth (kind 'bridge')");
  EXPECT_FALSE(deleteIn(n.node, spec.hostIfname, error));
  EXPECT_EQ(error, spec.hostIfname + " is not a veth (kind 'bridge'); not deleting it");
  n.node.ip({"link", "del", spec.hostIfname});
}

TEST(PodNetworkTest, CheckNamesWhatIsMissing) {
  OneNode n;
  TestNetns pod("p");
  PodInterfaceSpec spec = podSpec(pod, "ctr-check", "10.77.1.7");
  Created c = createIn(n.node, spec);
  ASSERT_TRUE(c.ok) << c.error;
  std::string problem;
  ASSERT_TRUE(checkIn(n.node, spec, problem)) << problem;

  pod.ip({"route", "del", "default"});
  EXPECT_FALSE(checkIn(n.node, spec, problem));
  EXPECT_EQ(problem, "the default route via 169.254.1.1 in the container is missing");
  pod.ip({"route", "add", "default", "via", "169.254.1.1", "dev", "eth0"});
  EXPECT_TRUE(checkIn(n.node, spec, problem)) << problem;

  n.node.ip({"route", "del", "10.77.1.7/32"});
  EXPECT_FALSE(checkIn(n.node, spec, problem));
  EXPECT_EQ(problem, "the route to 10.77.1.7/32 dev " + spec.hostIfname + " in the node is missing");

  pod.ip({"addr", "del", "10.77.1.7/32", "dev", "eth0"});
  n.node.ip({"link", "set", spec.hostIfname, "down"});
  EXPECT_FALSE(checkIn(n.node, spec, problem));
  // Removing an interface's last IPv4 address makes the kernel flush the
  // routes and neighbours through it (fib_disable_ip): all of it is reported.
  EXPECT_EQ(problem, "the host interface " + spec.hostIfname + " is down; the route to 10.77.1.7/32 dev " +
                         spec.hostIfname +
                         " in the node is missing; the address 10.77.1.7/32 on eth0 in the container is missing; "
                         "the default route via 169.254.1.1 in the container is missing; the permanent neighbour "
                         "entry for 169.254.1.1 in the container is missing");

  std::string error;
  EXPECT_TRUE(deleteIn(n.node, spec.hostIfname, error)) << error;
}

TEST(PodNetworkTest, TwoHundredCreateDeleteCyclesLeakNothing) {
  OneNode n;
  TestNetns pod("p");
  using Clock = std::chrono::steady_clock;
  auto msSince = [](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  };
  std::vector<double> creates, deletes;
  for (int i = 0; i < 200; ++i) {
    std::string address = fmt::format("10.77.{}.{}", 1 + i / 200, 2 + i % 200);
    PodInterfaceSpec spec = podSpec(pod, fmt::format("cycle-{}", i), address.c_str());
    auto t = Clock::now();
    Created c = createIn(n.node, spec);
    creates.push_back(msSince(t));
    ASSERT_TRUE(c.ok) << "cycle " << i << ": " << c.error;
    std::string error;
    t = Clock::now();
    ASSERT_TRUE(deleteIn(n.node, spec.hostIfname, error)) << "cycle " << i << ": " << error;
    deletes.push_back(msSince(t));
  }
  std::sort(creates.begin(), creates.end());
  std::sort(deletes.begin(), deletes.end());
  std::printf("200 cycles: create p50 %.2f ms p99 %.2f ms, delete p50 %.2f ms p99 %.2f ms\n", creates[100],
              creates[197], deletes[100], deletes[197]);
  EXPECT_TRUE(hostEnds(n.node).empty());
  EXPECT_EQ(routesOfProtocol(n.node, kRouteProtocolPod), "");
  EXPECT_EQ(n.node.ip({"-4", "neigh", "show"}), "");
  EXPECT_EQ(linksBesidesLo(pod), "");
  EXPECT_EQ(pod.ip({"-4", "route", "show"}), "");
  EXPECT_EQ(pod.ip({"-4", "neigh", "show"}), "");
}

// What a runtime starting many pods at once does: every call on its own
// thread, all at the same time. Pods of one node also reach each other
// through the node (ip_forward), never leaving it.
TEST(PodNetworkTest, TwentyConcurrentCreatesAndDeletes) {
  OneNode n;
  n.node.in([] {
    std::string error;
    if (!enableForwarding(error)) throw std::runtime_error(error);
  });
  constexpr int kPods = 20;
  std::vector<std::unique_ptr<TestNetns>> pods;
  std::vector<PodInterfaceSpec> specs;
  for (int i = 0; i < kPods; ++i) {
    pods.push_back(std::make_unique<TestNetns>(fmt::format("p{}", i)));
    std::string address = fmt::format("10.77.1.{}", 10 + i);
    specs.push_back(podSpec(*pods.back(), fmt::format("concurrent-{}", i), address.c_str()));
  }
  std::vector<Created> results(kPods);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPods; ++i) threads.emplace_back([&, i] { results[i] = createIn(n.node, specs[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kPods; ++i) EXPECT_TRUE(results[i].ok) << i << ": " << results[i].error;
  EXPECT_EQ(hostEnds(n.node).size(), size_t(kPods));
  EXPECT_TRUE(ping(*pods[0], "10.77.1.29"));
  EXPECT_TRUE(ping(*pods[19], "10.77.1.10"));
  EXPECT_TRUE(ping(*pods[7], "10.200.0.1"));

  threads.clear();
  std::vector<std::string> errors(kPods);
  std::vector<char> deleted(kPods);
  for (int i = 0; i < kPods; ++i)
    threads.emplace_back([&, i] { deleted[i] = deleteIn(n.node, specs[i].hostIfname, errors[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kPods; ++i) EXPECT_TRUE(deleted[i]) << i << ": " << errors[i];
  EXPECT_TRUE(hostEnds(n.node).empty());
  EXPECT_EQ(routesOfProtocol(n.node, kRouteProtocolPod), "");
}

TEST(PodNetworkTest, MtuOfTheUplink) {
  OneNode n;
  std::string up = fmt::format("sup{}", getpid());
  n.node.ip({"link", "add", up, "mtu", "1400", "type", "veth", "peer", "name", up + "p"});
  n.node.ip({"addr", "add", "192.168.99.1/24", "dev", up});
  n.node.ip({"link", "set", up, "up"});
  std::string error;
  EXPECT_EQ(n.node.in([&] { return defaultMtu(error); }), 0u);
  EXPECT_EQ(error, "there is no default route, so no uplink to take the MTU from");
  n.node.ip({"route", "add", "default", "via", "192.168.99.2", "dev", up});
  error.clear();
  EXPECT_EQ(n.node.in([&] { return defaultMtu(error); }), 1400u) << error;
  EXPECT_EQ(n.node.in([&] { return linkMtu(up, error); }), 1400u) << error;
  EXPECT_EQ(n.node.in([&] { return linkMtu("lo", error); }), 65536u) << error;
  EXPECT_EQ(n.node.in([&] { return linkMtu("nonexistent0", error); }), 0u);
  EXPECT_EQ(error, "No such device");
}

// ---- across nodes -------------------------------------------------------------------------

TEST(NodeNetworkTest, NativeRoutingAcrossNodes) {
  TwoNodes nodes;
  TestNetns podA("p-a"), podB("p-b");
  PodInterfaceSpec specA = podSpec(podA, "ctr-a", "10.77.1.5");
  PodInterfaceSpec specB = podSpec(podB, "ctr-b", "10.77.2.5");
  Created a = createIn(nodes.a, specA);
  ASSERT_TRUE(a.ok) << a.error;
  Created b = createIn(nodes.b, specB);
  ASSERT_TRUE(b.ok) << b.error;
  EXPECT_TRUE(unreachable(podA, "10.77.2.5")) << "reachable before any route across nodes";

  auto sync = [](const TestNetns& node, std::vector<RemotePodCidr> wanted, std::string& error) {
    return node.in([&] { return syncPodCidrRoutes(wanted, error); });
  };
  std::string error;
  ASSERT_TRUE(sync(nodes.a, {{cidr("10.77.2.0/24"), ip("192.168.77.2")}}, error)) << error;
  ASSERT_TRUE(sync(nodes.b, {{cidr("10.77.1.0/24"), ip("192.168.77.1")}}, error)) << error;
  EXPECT_EQ(routesOfProtocol(nodes.a, kRouteProtocolNative),
            "10.77.2.0/24 via 192.168.77.2 dev " + nodes.fabricA + " \n");
  EXPECT_TRUE(ping(podA, "10.77.2.5"));
  EXPECT_TRUE(ping(podB, "10.77.1.5"));

  // Idempotent.
  ASSERT_TRUE(sync(nodes.a, {{cidr("10.77.2.0/24"), ip("192.168.77.2")}}, error)) << error;
  EXPECT_EQ(routesOfProtocol(nodes.a, kRouteProtocolNative),
            "10.77.2.0/24 via 192.168.77.2 dev " + nodes.fabricA + " \n");

  // A changed next hop is replaced; extra CIDRs come and go.
  ASSERT_TRUE(sync(nodes.a,
                   {{cidr("10.77.2.0/24"), ip("192.168.77.3")}, {cidr("10.77.3.0/24"), ip("192.168.77.2")}}, error))
      << error;
  EXPECT_EQ(routesOfProtocol(nodes.a, kRouteProtocolNative),
            "10.77.2.0/24 via 192.168.77.3 dev " + nodes.fabricA + " \n10.77.3.0/24 via 192.168.77.2 dev " +
                nodes.fabricA + " \n");
  ASSERT_TRUE(sync(nodes.a, {{cidr("10.77.2.0/24"), ip("192.168.77.2")}}, error)) << error;
  EXPECT_EQ(routesOfProtocol(nodes.a, kRouteProtocolNative),
            "10.77.2.0/24 via 192.168.77.2 dev " + nodes.fabricA + " \n");
  EXPECT_TRUE(ping(podA, "10.77.2.5", 1));

  // Routes sluice did not make: never deleted, never replaced.
  nodes.a.ip({"route", "add", "10.77.50.0/24", "via", "192.168.77.2"});
  EXPECT_FALSE(sync(nodes.a, {{cidr("10.77.2.0/24"), ip("192.168.77.2")}, {cidr("10.77.50.0/24"), ip("192.168.77.9")}},
                    error));
  EXPECT_EQ(error, "a route to 10.77.50.0/24 that sluice did not make is in the way (protocol 3); not replacing it");
  EXPECT_NE(nodes.a.ip({"route", "show", "10.77.50.0/24"}).find("via 192.168.77.2"), std::string::npos);

  // A next hop off the segment: the kernel's own words (extended ack).
  EXPECT_FALSE(sync(nodes.a, {{cidr("10.77.2.0/24"), ip("192.168.77.2")}, {cidr("10.77.9.0/24"), ip("172.31.255.1")}},
                    error));
  EXPECT_EQ(error,
            "cannot add the route 10.77.9.0/24 via 172.31.255.1: Nexthop has invalid gateway (Network is unreachable)");

  // Nothing wanted: only sluice's routes go.
  ASSERT_TRUE(sync(nodes.a, {}, error)) << error;
  EXPECT_EQ(routesOfProtocol(nodes.a, kRouteProtocolNative), "");
  EXPECT_NE(nodes.a.ip({"route", "show", "10.77.50.0/24"}), "");
  EXPECT_NE(routesOfProtocol(nodes.a, kRouteProtocolPod), "");
  EXPECT_TRUE(unreachable(podA, "10.77.2.5"));
}

TEST(NodeNetworkTest, VxlanAcrossNodes) {
  TwoNodes nodes;
  TestNetns podA("p-a"), podB("p-b");
  std::string error;
  auto ensure = [&](const TestNetns& node, const char* local, const char* podCidr, uint32_t mtu = 0) {
    VxlanSpec spec;
    spec.localIp = ip(local);
    spec.podCidr = cidr(podCidr);
    spec.mtu = mtu;
    return node.in([&] { return ensureVxlanDevice(spec, error); });
  };
  auto sync = [&](const TestNetns& node, std::vector<VxlanPeer> peers) {
    return node.in([&] { return syncVxlanPeers(peers, error); });
  };
  ASSERT_TRUE(ensure(nodes.a, "192.168.77.1", "10.77.1.0/24")) << error;
  ASSERT_TRUE(ensure(nodes.b, "192.168.77.2", "10.77.2.0/24")) << error;

  // The device as flannel would make it.
  auto dev = nlohmann::json::parse(nodes.a.ip({"-d", "-j", "link", "show", "dev", "sluice_vxlan"})).at(0);
  EXPECT_EQ(dev.at("mtu"), 1450);
  EXPECT_EQ(dev.at("address"), "02:5c:c0:a8:4d:01");
  auto vx = dev.at("linkinfo").at("info_data");
  EXPECT_EQ(vx.at("id"), 1);
  EXPECT_EQ(vx.at("local"), "192.168.77.1");
  EXPECT_EQ(vx.at("port"), 8472);
  EXPECT_EQ(vx.at("learning"), false);
  EXPECT_EQ(vx.at("link"), nodes.fabricA);
  EXPECT_NE(dev.dump().find("\"UP\""), std::string::npos) << dev.dump();
  std::string addr = nodes.a.ip({"-4", "-o", "addr", "show", "dev", "sluice_vxlan"});
  EXPECT_NE(addr.find("inet 10.77.1.0/32 "), std::string::npos) << addr;

  // Idempotent: the same device; an MTU change in place.
  int ifindex = nodes.a.in([] { return ifindexOf("sluice_vxlan"); });
  ASSERT_TRUE(ensure(nodes.a, "192.168.77.1", "10.77.1.0/24")) << error;
  EXPECT_EQ(nodes.a.in([] { return ifindexOf("sluice_vxlan"); }), ifindex);
  ASSERT_TRUE(ensure(nodes.a, "192.168.77.1", "10.77.1.0/24", 1400)) << error;
  EXPECT_EQ(nodes.a.in([] { return ifindexOf("sluice_vxlan"); }), ifindex);
  EXPECT_NE(nodes.a.ip({"-o", "link", "show", "dev", "sluice_vxlan"}).find("mtu 1400"), std::string::npos);
  ASSERT_TRUE(ensure(nodes.a, "192.168.77.1", "10.77.1.0/24")) << error;

  // Pods with the tunnel's MTU, peers, and no native route anywhere.
  Created a = createIn(nodes.a, podSpec(podA, "ctr-a", "10.77.1.5", 1450));
  ASSERT_TRUE(a.ok) << a.error;
  Created b = createIn(nodes.b, podSpec(podB, "ctr-b", "10.77.2.5", 1450));
  ASSERT_TRUE(b.ok) << b.error;
  ASSERT_TRUE(sync(nodes.a, {{cidr("10.77.2.0/24"), ip("192.168.77.2")}})) << error;
  ASSERT_TRUE(sync(nodes.b, {{cidr("10.77.1.0/24"), ip("192.168.77.1")}})) << error;
  ASSERT_TRUE(sync(nodes.a, {{cidr("10.77.2.0/24"), ip("192.168.77.2")}})) << error;  // idempotent
  EXPECT_EQ(routesOfProtocol(nodes.a, kRouteProtocolNative), "");
  EXPECT_EQ(routesOfProtocol(nodes.a, kRouteProtocolVxlan), "10.77.2.0/24 via 10.77.2.0 dev sluice_vxlan onlink \n");
  std::string neigh = nodes.a.ip({"neigh", "show", "dev", "sluice_vxlan"});
  EXPECT_NE(neigh.find("10.77.2.0 lladdr 02:5c:c0:a8:4d:02 PERMANENT"), std::string::npos) << neigh;
  std::string fdb = runCommandOrThrow({"bridge", "-n", nodes.a.name(), "fdb", "show", "dev", "sluice_vxlan"});
  EXPECT_EQ(fdb, "02:5c:c0:a8:4d:02 dst 192.168.77.2 self permanent\n");

  LinkCounters beforeA = countersOf(nodes.a, "sluice_vxlan"), beforeB = countersOf(nodes.b, "sluice_vxlan");
  EXPECT_TRUE(ping(podA, "10.77.2.5", 3));
  EXPECT_TRUE(ping(podB, "10.77.1.5", 1, "1422"));  // 1422 + 28 = 1450 with DF: the MTU is right
  LinkCounters afterA = countersOf(nodes.a, "sluice_vxlan"), afterB = countersOf(nodes.b, "sluice_vxlan");
  EXPECT_GE(afterA.txPackets - beforeA.txPackets, 4u);  // 3 requests + 1 reply
  EXPECT_GE(afterA.rxPackets - beforeA.rxPackets, 4u);
  EXPECT_GE(afterB.txPackets - beforeB.txPackets, 4u);
  EXPECT_GE(afterB.rxPackets - beforeB.rxPackets, 4u);

  // A peer that goes away takes its route, neighbour and FDB entry with it.
  ASSERT_TRUE(sync(nodes.a, {})) << error;
  EXPECT_EQ(routesOfProtocol(nodes.a, kRouteProtocolVxlan), "");
  EXPECT_EQ(nodes.a.ip({"neigh", "show", "dev", "sluice_vxlan", "nud", "permanent"}), "");
  EXPECT_EQ(runCommandOrThrow({"bridge", "-n", nodes.a.name(), "fdb", "show", "dev", "sluice_vxlan"}), "");
  EXPECT_TRUE(unreachable(podA, "10.77.2.5"));

  // A peer whose node moved: replaced in place.
  ASSERT_TRUE(sync(nodes.a, {{cidr("10.77.2.0/24"), ip("192.168.77.3")}})) << error;
  EXPECT_EQ(runCommandOrThrow({"bridge", "-n", nodes.a.name(), "fdb", "show", "dev", "sluice_vxlan"}),
            "02:5c:c0:a8:4d:03 dst 192.168.77.3 self permanent\n");
  ASSERT_TRUE(sync(nodes.a, {{cidr("10.77.2.0/24"), ip("192.168.77.2")}})) << error;
  EXPECT_EQ(runCommandOrThrow({"bridge", "-n", nodes.a.name(), "fdb", "show", "dev", "sluice_vxlan"}),
            "02:5c:c0:a8:4d:02 dst 192.168.77.2 self permanent\n");
  EXPECT_TRUE(ping(podA, "10.77.2.5", 1));

  // Deleting the device takes everything on it; deleting again succeeds.
  ASSERT_TRUE(nodes.a.in([&] { return deleteVxlanDevice(error); })) << error;
  EXPECT_EQ(nodes.a.in([] { return ifindexOf("sluice_vxlan"); }), 0);
  EXPECT_EQ(routesOfProtocol(nodes.a, kRouteProtocolVxlan), "");
  EXPECT_TRUE(nodes.a.in([&] { return deleteVxlanDevice(error); })) << error;
  EXPECT_FALSE(nodes.a.in([&] { return syncVxlanPeers({}, error); }));
  EXPECT_EQ(error, "the VXLAN device sluice_vxlan: No such device (ensureVxlanDevice first)");
}

}  // namespace
}  // namespace sluice::runtime
