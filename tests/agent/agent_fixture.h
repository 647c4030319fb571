// A two-node network-namespace cluster with sluice agents, for the agent's
// kernel tests: the manifests live in a temporary directory the agents watch
// (or are served by a fake API server), every agent runs in its node's
// namespace with its maps pinned under a private bpffs directory, and
// everything is removed when the fixture goes, even after a failure.
//
//   node-1 (192.168.77.1)            node-2 (192.168.77.2)
//     x/a 10.77.1.10  app=a            y/c 10.77.2.10  app=c
//     x/b 10.77.1.11  app=b
#pragma once

#include <sched.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "agent/node_agent.h"
#include "runtime/tc_attach.h"
#include "runtime/tcx_attach.h"
#include "tests/kernel/netns_cluster.h"
#include "tests/kernel/traffic.h"

namespace sluice::agent_testing {

using namespace std::chrono_literals;
using kernel_testing::NetnsCluster;
using std::chrono::milliseconds;

inline std::string podYaml(const std::string& ns, const std::string& name, const std::string& node,
                           const std::string& ip, const std::string& app) {
  return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: " + ns + ", labels: {app: " + app +
         "}}\nspec: {nodeName: " + node + ", containers: [{name: main, ports: [{name: http, containerPort: 80}]}]}\n" +
         "status: {phase: Running, podIP: " + ip + "}\n";
}

inline const char* kNodesAndNamespaces = R"(apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: 192.168.77.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-2}
status: {addresses: [{type: InternalIP, address: 192.168.77.2}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {ns: y}}
)";

// An ingress policy for x/b admitting x/a on the given TCP ports (none: isolated, nothing admitted).
inline std::string bIngress(const std::vector<int>& ports) {
  std::string p = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: b-ingress, namespace: x}\n"
                  "spec:\n  podSelector: {matchLabels: {app: b}}\n  policyTypes: [Ingress]\n";
  if (ports.empty()) return p + "  ingress: []\n";
  p += "  ingress:\n  - from: [{podSelector: {matchLabels: {app: a}}}]\n    ports:\n";
  for (int port : ports) p += "    - {protocol: TCP, port: " + std::to_string(port) + "}\n";
  return p;
}

// c admits nobody: a flow that is denied in every generation.
inline const char* kCIsolated = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-isolated, namespace: y}
spec:
  podSelector: {matchLabels: {app: c}}
  policyTypes: [Ingress]
)";

// Runs a NodeAgent on a thread inside a node's network namespace.
class AgentThread {
 public:
  AgentThread(const std::string& netnsPath, agent::AgentOptions options) : agent_(std::move(options)) {
    thread_ = std::thread([this, netnsPath] {
      int fd = ::open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        startError_ = "cannot enter " + netnsPath;
        if (fd >= 0) ::close(fd);
        return;
      }
      ::close(fd);
      exitCode_ = agent_.run();
    });
  }
  ~AgentThread() { stop(); }
  int stop() {
    agent_.stop();
    if (thread_.joinable()) thread_.join();
    return exitCode_;
  }
  agent::NodeAgent& agent() { return agent_; }
  agent::AgentStatus status() const { return agent_.status(); }
  // Waits until the agent attached generation >= n, every endpoint is
  // placed, and (with `specialized`) every one runs its own specialized
  // programs, the first tier's replaced.
  ::testing::AssertionResult waitForGeneration(uint64_t n, milliseconds timeout = 20s, bool specialized = true) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    agent::AgentStatus s;
    while (std::chrono::steady_clock::now() < deadline) {
      s = agent_.status();
      bool placed = true;
      for (const auto& e : s.endpoints) placed &= e.attached;
      if (s.generation >= n && placed && (s.specialized || !specialized)) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(2ms);
    }
    return ::testing::AssertionFailure() << "generation " << s.generation << " (wanted " << n << "), "
                                         << (s.specialized ? "specialized" : "not specialized") << ", last reconcile "
                                         << s.last.result << ": " << s.last.error
                                         << (s.lastFailure ? ", last failure: " + s.lastFailure->error : "");
  }
  // Generation >= n in force, through the first tier or not.
  ::testing::AssertionResult waitForEnforced(uint64_t n, milliseconds timeout = 20s) const {
    return waitForGeneration(n, timeout, false);
  }
  // Waits until more than `reconciles` reconciles finished.
  ::testing::AssertionResult waitForReconcileAfter(uint64_t reconciles, milliseconds timeout = 20s) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (agent_.status().reconciles > reconciles) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(2ms);
    }
    return ::testing::AssertionFailure() << "no reconcile after " << reconciles;
  }

 private:
  agent::NodeAgent agent_;
  std::thread thread_;
  std::string startError_;
  int exitCode_ = -1;
};

class AgentCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_testing::requireRoot();
    static std::atomic<int> counter{0};
    tag_ = std::to_string(::getpid()) + "-" + std::to_string(counter++);
    dir_ = std::filesystem::temp_directory_path() / ("sluice-agent-" + tag_);
    bpffsRoot_ = "/sys/fs/bpf/sluice-agent-test-" + tag_;
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    cluster_.addNode("node-1", "192.168.77.1");
    cluster_.addNode("node-2", "192.168.77.2");
    cluster_.addPod("node-1", "a", "10.77.1.10");
    cluster_.addPod("node-1", "b", "10.77.1.11");
    cluster_.addPod("node-2", "c", "10.77.2.10");
    write("cluster.yaml", std::string(kNodesAndNamespaces) + podYaml("x", "a", "node-1", "10.77.1.10", "a") +
                              podYaml("x", "b", "node-1", "10.77.1.11", "b") +
                              podYaml("y", "c", "node-2", "10.77.2.10", "c"));
  }
  void TearDown() override {
    agents_.clear();
    std::filesystem::remove_all(dir_);
    std::error_code ec;
    std::filesystem::remove_all(bpffsRoot_, ec);
  }

  // Written in place (truncate + write + close).
  void write(const std::string& name, const std::string& text) {
    std::ofstream out(dir_ / name, std::ios::trunc);
    out << text;
  }
  // Replaced by rename, as editors and deployment tools do.
  void replace(const std::string& name, const std::string& text) {
    auto tmp = dir_ / ("." + name + ".tmp");
    { std::ofstream(tmp, std::ios::trunc) << text; }
    std::filesystem::rename(tmp, dir_ / name);
  }
  void remove(const std::string& name) { std::filesystem::remove(dir_ / name); }

  agent::AgentOptions options(const std::string& node) const {
    agent::AgentOptions o;
    o.node = node;
    o.watchDir = dir_.string();
    o.bpffsRoot = bpffsRoot_;
    o.metricsPort = 0;
    o.log = [node](const std::string& line) { fprintf(stderr, "[agent %s] %s\n", node.c_str(), line.c_str()); };
    return o;
  }
  AgentThread& startAgent(const std::string& node, agent::AgentOptions o) {
    agents_.push_back(std::make_unique<AgentThread>(cluster_.nodeNetnsPath(node), std::move(o)));
    return *agents_.back();
  }
  AgentThread& startAgent(const std::string& node) { return startAgent(node, options(node)); }

  // The program on the hook of the pod's host-side interface: tcx's if any
  // (tcx runs first), else the classic tc filter's; 0 when none.
  int64_t attachedProgram(const std::string& pod, runtime::TcHook hook) const {
    int64_t id = -1;
    cluster_.runInNode(cluster_.pod(pod).node, [&] {
      std::string error;
      auto tcx = runtime::tcxProgramIds(cluster_.hostIfindex(pod), hook, error);
      id = !tcx.empty() ? int64_t(tcx.front()) : runtime::attachedTcProgramId(cluster_.hostIfindex(pod), hook, error);
    });
    return id;
  }
  // How many programs the hook runs (tcx links and tc filter together).
  size_t programsOnHook(const std::string& pod, runtime::TcHook hook) const {
    size_t n = 0;
    cluster_.runInNode(cluster_.pod(pod).node, [&] {
      std::string error;
      n = runtime::tcxProgramIds(cluster_.hostIfindex(pod), hook, error).size() +
          (runtime::attachedTcProgramId(cluster_.hostIfindex(pod), hook, error) > 0);
    });
    return n;
  }
  kernel_testing::TcpResult connect(const std::string& from, const std::string& to, uint16_t port,
                                    milliseconds timeout = 500ms) {
    return kernel_testing::tcpConnect(cluster_, from, cluster_.podIp(to), port, timeout);
  }

  std::string tag_;
  std::filesystem::path dir_;
  std::string bpffsRoot_;
  NetnsCluster cluster_;
  std::vector<std::unique_ptr<AgentThread>> agents_;  // before servers: declared after the cluster
};

}  // namespace sluice::agent_testing
