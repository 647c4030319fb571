// A cluster whose network is sluice's own: three node namespaces on one L2
// segment (a bridge in a "lan" namespace), a "world" namespace outside the
// cluster on the same segment (the nodes' default router, holding the
// outside address 203.0.113.1), and `sluice agent --cni` on every node
// watching one manifest directory. Pods are made only as a runtime makes
// them: a network namespace, then `sluice-cni` run in the node's namespace
// with the CNI environment and configuration; the test then publishes the
// address in the Pod's status, as kubelet does.
//
//   lan ns: br0 ── node-1 eth0 192.168.90.1/24   podCIDR 10.91.1.0/24
//              ├── node-2 eth0 192.168.90.2/24   podCIDR 10.91.2.0/24
//              ├── node-3 eth0 192.168.90.3/24   podCIDR 10.91.3.0/24
//              └── world  eth0 192.168.90.254/24, 203.0.113.1/32
//   nodes: default via 192.168.90.254 (the world)
//
// Everything (namespaces, bpffs pins, sockets, state) is removed when the
// fixture goes, even after a failure.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "codegen/datapath/sluice_abi.h"

#include "agent/node_agent.h"
#include "runtime/node_network.h"
#include "runtime/pod_network.h"
#include "tests/agent/agent_fixture.h"
#include "tests/kernel/netns_cluster.h"
#include "tests/kernel/traffic.h"

namespace sluice::agent_testing {

using kernel_testing::runCommandOrThrow;

// What one run of sluice-cni printed and exited with.
struct PluginRun {
  int status = -1;
  std::string out, err;
  nlohmann::json json() const { return nlohmann::json::parse(out, nullptr, false); }
};

// Runs the built sluice-cni as a runtime does: in `netnsPath` (the node's),
// with exactly `env` as its environment and `stdinText` on its standard input.
inline PluginRun runPlugin(const std::string& netnsPath, const std::vector<std::string>& env,
                           const std::string& stdinText) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    int ns = ::open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) ::_exit(126);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    char* argv[] = {const_cast<char*>(SLUICE_CNI_BIN), nullptr};
    ::execve(SLUICE_CNI_BIN, argv, envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  [[maybe_unused]] ssize_t w = ::write(in[1], stdinText.data(), stdinText.size());
  ::close(in[1]);
  PluginRun r;
  auto drain = [](int fd, std::string& to) {
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) to.append(buf, size_t(n));
    ::close(fd);
  };
  std::thread e([&] { drain(err[0], r.err); });
  drain(out[0], r.out);
  e.join();
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class CniCluster : public ::testing::Test {
 protected:
  using Routing = agent::AgentOptions::Routing;
  static constexpr int kNodes = 3;

  struct PodRef {
    std::string ns, name, containerID, netns, netnsPath, ip, node;
    std::string result;  // ADD's result, the prevResult of DEL and CHECK
  };

  void SetUpCluster(Routing routing) {
    kernel_testing::requireRoot();
    routing_ = routing;
    static std::atomic<int> counter{0};
    tag_ = std::to_string(::getpid() % 100000) + "c" + std::to_string(counter++);
    dir_ = std::filesystem::temp_directory_path() / ("sluice-cni-" + tag_);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "state");
    std::filesystem::create_directories(dir_ / "manifests");
    bpffsRoot_ = "/sys/fs/bpf/sluice-cni-test-" + tag_;
    socketDir_ = "/run/sluice-cni-test-" + tag_;
    lan_ = netns("lan");
    world_ = netns("world");
    ip({"-n", lan_, "link", "add", "br0", "type", "bridge"});
    ip({"-n", lan_, "link", "set", "br0", "up"});
    auto plug = [&](const std::string& ns, const std::string& lanEnd, const std::string& address) {
      ip({"-n", lan_, "link", "add", lanEnd, "type", "veth", "peer", "name", "eth0", "netns", ns});
      ip({"-n", lan_, "link", "set", lanEnd, "master", "br0", "up"});
      ip({"-n", ns, "addr", "add", address, "dev", "eth0"});
      ip({"-n", ns, "link", "set", "eth0", "up"});
      ip({"-n", ns, "link", "set", "lo", "up"});
      for (const char* key : {"net.ipv6.conf.all.disable_ipv6=1", "net.ipv4.conf.all.rp_filter=0",
                              "net.ipv4.conf.default.rp_filter=0"})
        runCommandOrThrow({"ip", "netns", "exec", ns, "sysctl", "-qw", key});
    };
    plug(world_, "w" + tag_, "192.168.90.254/24");
    ip({"-n", world_, "addr", "add", "203.0.113.1/32", "dev", "eth0"});
    std::string manifests = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: "
                            "Namespace\nmetadata: {name: y}\n";
    for (int i = 1; i <= kNodes; ++i) {
      std::string node = "node-" + std::to_string(i);
      nodes_[node] = netns("n" + std::to_string(i));
      plug(nodes_[node], "n" + std::to_string(i) + tag_, "192.168.90." + std::to_string(i) + "/24");
      ip({"-n", nodes_[node], "route", "add", "default", "via", "192.168.90.254"});
      manifests += "---\napiVersion: v1\nkind: Node\nmetadata: {name: " + node + "}\nspec: {podCIDR: 10.91." +
                   std::to_string(i) + ".0/24}\nstatus: {addresses: [{type: InternalIP, address: 192.168.90." +
                   std::to_string(i) + "}]}\n";
    }
    write("cluster.yaml", manifests);
    for (int i = 1; i <= kNodes; ++i) startAgent("node-" + std::to_string(i));
    for (auto& [node, a] : agents_) ASSERT_TRUE(a->waitForReconcileAfter(0)) << node;
  }

  void TearDown() override {
    agents_.clear();
    for (const auto& ns : namespaces_) kernel_testing::runCommand({"ip", "netns", "del", ns});
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::remove_all(bpffsRoot_, ec);
    std::filesystem::remove_all(socketDir_, ec);
  }

  static void ip(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"ip"};
    argv.insert(argv.end(), args.begin(), args.end());
    runCommandOrThrow(argv);
  }
  std::string netns(const std::string& what) {
    std::string name = "slc" + tag_ + "-" + what;
    runCommandOrThrow({"ip", "netns", "add", name});
    namespaces_.push_back(name);
    return name;
  }
  static std::string nsPath(const std::string& name) { return "/run/netns/" + name; }
  std::string nodeNs(const std::string& node) const { return nsPath(nodes_.at(node)); }
  std::string socketOf(const std::string& node) const { return socketDir_ + "/" + node + ".sock"; }

  void write(const std::string& name, const std::string& text) {
    auto tmp = dir_ / "manifests" / ("." + name + ".tmp");
    { std::ofstream(tmp, std::ios::trunc) << text; }
    std::filesystem::rename(tmp, dir_ / "manifests" / name);
  }
  void remove(const std::string& name) { std::filesystem::remove(dir_ / "manifests" / name); }

  agent::AgentOptions agentOptions(const std::string& node) const {
    agent::AgentOptions o;
    o.node = node;
    o.watchDir = (dir_ / "manifests").string();
    o.bpffsRoot = bpffsRoot_;
    o.metricsPort = -1;
    o.cni = true;
    o.cniSocket = socketOf(node);
    o.stateDir = (dir_ / "state").string();
    o.routing = routing_;
    o.masquerade = true;
    o.log = [node](const std::string& line) { fprintf(stderr, "[agent %s] %s\n", node.c_str(), line.c_str()); };
    return o;
  }
  AgentThread& startAgent(const std::string& node) {
    agents_[node] = std::make_unique<AgentThread>(nodeNs(node), agentOptions(node));
    return *agents_[node];
  }

  std::string podManifest(const PodRef& p, const std::string& labels, const std::string& ports = "") const {
    std::string m = "apiVersion: v1\nkind: Pod\nmetadata: {name: " + p.name + ", namespace: " + p.ns +
                    ", labels: {" + labels + "}}\nspec:\n  nodeName: " + p.node +
                    "\n  containers: [{name: main" + (ports.empty() ? "" : ", ports: " + ports) + "}]\n";
    if (!p.ip.empty()) m += "status: {phase: Running, podIP: " + p.ip + "}\n";
    return m;
  }

  std::vector<std::string> cniEnv(const std::string& command, const PodRef& p, bool podArgs = true) const {
    std::vector<std::string> env = {"CNI_COMMAND=" + command, "CNI_CONTAINERID=" + p.containerID,
                                    "CNI_NETNS=" + (command == "DEL" ? "" : p.netnsPath), "CNI_IFNAME=eth0",
                                    "CNI_PATH=/opt/cni/bin", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    if (podArgs)
      env.push_back("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=" + p.ns + ";K8S_POD_NAME=" + p.name +
                    ";K8S_POD_INFRA_CONTAINER_ID=" + p.containerID);
    return env;
  }
  std::string netconf(const std::string& node, const std::string& version = "1.0.0",
                      const std::string& prevResult = "") const {
    return R"({"cniVersion": ")" + version + R"(", "name": "sluice", "type": "sluice", "agentSocket": ")" +
           socketOf(node) + R"(", "timeoutSeconds": 60)" +
           (prevResult.empty() ? "" : ", \"prevResult\": " + prevResult) + "}";
  }

  // A pod object (no address yet) and its sandbox namespace: what exists
  // before the runtime calls ADD.
  PodRef preparePod(const std::string& node, const std::string& ns, const std::string& name,
                    const std::string& labels, const std::string& ports = "") {
    PodRef p{ns, name, "ctr-" + tag_ + "-" + ns + "-" + name, "", "", "", node, ""};
    p.netns = netns("p-" + ns + "-" + name);
    p.netnsPath = nsPath(p.netns);
    runCommandOrThrow({"ip", "netns", "exec", p.netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"});
    write("pod-" + ns + "-" + name + ".yaml", podManifest(p, labels, ports));
    labels_[ns + "/" + name] = {labels, ports};
    return p;
  }
  // ADD as a runtime calls it; on success the address goes into the Pod's
  // status, as kubelet publishes it.
  PluginRun add(PodRef& p, const std::string& version = "1.0.0") {
    PluginRun r = runPlugin(nodeNs(p.node), cniEnv("ADD", p), netconf(p.node, version));
    if (r.status == 0) {
      nlohmann::json j = r.json();
      p.result = r.out;
      std::string address = j["ips"][0]["address"].get<std::string>();
      p.ip = address.substr(0, address.find('/'));
      const auto& [labels, ports] = labels_.at(p.ns + "/" + p.name);
      write("pod-" + p.ns + "-" + p.name + ".yaml", podManifest(p, labels, ports));
      EXPECT_TRUE(waitUntilEveryNodeKnows(p.ip));
    }
    return r;
  }
  PodRef addPod(const std::string& node, const std::string& ns, const std::string& name, const std::string& labels,
                const std::string& ports = "") {
    PodRef p = preparePod(node, ns, name, labels, ports);
    PluginRun r = add(p);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    return p;
  }
  PluginRun del(const PodRef& p) {
    return runPlugin(nodeNs(p.node), cniEnv("DEL", p), netconf(p.node, "1.0.0", p.result));
  }
  PluginRun check(const PodRef& p) {
    return runPlugin(nodeNs(p.node), cniEnv("CHECK", p), netconf(p.node, "1.0.0", p.result));
  }

  // Every node's datapath maps the address to an identity (its pinned IP
  // cache has it): every agent has lowered the Pod's published status.
  ::testing::AssertionResult waitUntilEveryNodeKnows(const std::string& address,
                                                     std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    sluice_ipcache_key key{__builtin_bswap32(IpAddr::parse(address)->v4HostOrder())};
    for (const auto& [node, a] : agents_) {
      std::string pin = bpffsRoot_ + "/" + node + "/" + SLUICE_MAP_IPCACHE;
      for (;;) {
        int fd = bpf_obj_get(pin.c_str());
        sluice_ipcache_value v{};
        bool known = fd >= 0 && bpf_map_lookup_elem(fd, &key, &v) == 0;
        if (fd >= 0) ::close(fd);
        if (known) break;
        if (std::chrono::steady_clock::now() > deadline)
          return ::testing::AssertionFailure() << node << " never learned " << address;
        std::this_thread::sleep_for(10ms);
      }
    }
    return ::testing::AssertionSuccess();
  }

  std::map<std::string, uint64_t> reconciles() const {
    std::map<std::string, uint64_t> out;
    for (const auto& [node, a] : agents_) out[node] = a->status().reconciles;
    return out;
  }
  // Every agent reconciled after `before` (after a manifest write: it read it).
  ::testing::AssertionResult waitForReconcilesAfter(const std::map<std::string, uint64_t>& before) {
    for (const auto& [node, a] : agents_)
      if (auto r = a->waitForReconcileAfter(before.count(node) ? before.at(node) : 0); !r) return r << " on " << node;
    return ::testing::AssertionSuccess();
  }

  Routing routing_ = Routing::Native;
  std::string tag_;
  std::filesystem::path dir_;
  std::string bpffsRoot_, socketDir_;
  std::string lan_, world_;
  std::map<std::string, std::string> nodes_;  // node -> namespace name
  std::vector<std::string> namespaces_;
  std::map<std::string, std::pair<std::string, std::string>> labels_;
  std::map<std::string, std::unique_ptr<AgentThread>> agents_;
};

}  // namespace sluice::agent_testing
