// sluice_cni_bench: sluice as a cluster's network (issue 14, "Benchmark"),
// measured as a user meets it.
//
// The cluster: three node namespaces on one L2 segment (a bridge in a "lan"
// namespace) and a "world" namespace as their default router, exactly as
// tests/agent/cni_cluster.h builds them; `sluice agent --cni` (a NodeAgent
// with the options `sluice agent --cni` gives it: masquerade on) runs
// in-process in each node's namespace, all three watching one manifest
// directory. That directory holds a sluice-gen cluster (namespaces, services,
// endpoint slices, --policies NetworkPolicies, and its pods as pods of other
// nodes: they fill the IP cache) plus the three nodes. Pods are made only as
// a runtime makes them: the Pod object first (no address), a network
// namespace, then the built `sluice-cni` run in the node's namespace with the
// CNI environment and configuration; the address it returns is then written
// into the Pod's status, as kubelet publishes it.
//
// 1. ADD latency ("add"): on node-1, --adds pods one after another, then a
//    burst of --burst ADDs at once, per run. Each pod copies the labels,
//    service account and container ports of one of the generated
//    deployments (round robin), so its programs carry that workload's
//    policy. Timed: from starting sluice-cni ADD to its successful exit (the
//    agent answers once the pod's programs are attached). Before each ADD
//    the agents have seen the Pod object and are idle. The agent's own
//    timings of the reconcile that attached the pod (status().lastSwap, and
//    its log line for the endpoints compiled) give the breakdown.
// 2. Traffic ("traffic"), per --routing mode: a client pod on node-1 and a
//    server pod on node-2, made through sluice-cni, with the labels of the
//    generated workloads that carry the most egress and ingress rules, plus
//    two policies the bench adds (the server's ingress admits the client on
//    the measured ports, the client's egress admits the server). Against a
//    baseline built in the same run: the same topology in other namespaces,
//    the pods' veths, addresses, routes and (VXLAN) devices made by the same
//    runtime functions the agent calls (runtime::createPodInterface,
//    syncPodCidrRoutes, ensureVxlanDevice, syncVxlanPeers), no agent, no
//    programs. Per run, alternating the order (ABBA), iperf3 (throughput,
//    --streams parallel streams, --duration-s seconds, the first second
//    omitted from 3 s on) and sockperf ping-pong (64-byte TCP request and
//    answer over one connection, --full-rtt: a request's round trip; client
//    and server on --pin-cpu, since on a VM a wake-up across idle vCPUs adds
//    tens of µs to whole runs, in either cluster) run client -> server in
//    both clusters. The machine's CPU busy share during each run is kept.
//
// A benchmark, not a test: needs root, iperf3 and sockperf (tools/bootstrap
// installs them), prints Markdown on stdout and progress on stderr, no ctest.
// Everything it makes (namespaces, bpffs pins, sockets, files, processes)
// is removed at the end, also after a failure or Ctrl-C.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/node_agent.h"
#include "bench/bench_util.h"
#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "runtime/netns.h"
#include "runtime/node_network.h"
#include "runtime/pod_network.h"
#include "tools/gen/cluster_generator.h"

#ifndef SLUICE_CNI_BIN
#define SLUICE_CNI_BIN "sluice-cni"
#endif

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace sluice::bench {
namespace {

std::atomic<bool> gStop{false};
extern "C" void onSignal(int) { gStop = true; }
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};
void checkStop() {
  if (gStop) throw Interrupted();
}

bool gVerbose = false;
void progress(const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }

constexpr int kNodes = 3;
constexpr uint16_t kIperfPort = 5201, kSockperfPort = 11111, kDeniedPort = 5202;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = size_t(p * double(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// ---- processes ---------------------------------------------------------------------

// The absolute path of a program in the usual directories ("" when absent),
// so that children exec it without searching (nothing between fork and exec
// allocates: the agents' threads may hold the allocator's locks).
std::string which(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  for (const char* dir : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    std::string p = std::string(dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

struct Exec {
  int status = -1;  // exit status; -1 when it could not run or was killed
  std::string out, err;
  double ms = 0;  // from fork to its exit
  Clock::time_point start, end;
};

// Every child still running (servers), killed by pid when the bench ends.
std::mutex gChildrenMu;
std::set<pid_t> gChildren;

// Forks and execs argv[0] (an absolute path) in the network namespace at
// `nsPath` ("" = ours), with `env` (nullptr = ours), stdin from `in` (-1:
// /dev/null), stdout and stderr to the given descriptors; on CPU `cpu` only
// when it is not -1.
pid_t forkExec(const std::string& nsPath, const std::vector<std::string>& argv, const std::vector<std::string>* env,
               int in, int out, int err, int cpu = -1) {
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  if (env) {
    for (const auto& e : *env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
  }
  const char* ns = nsPath.empty() ? nullptr : nsPath.c_str();
  pid_t pid = ::fork();
  if (pid == 0) {
    if (ns) {
      int fd = ::open(ns, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(126);
    }
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      if (::sched_setaffinity(0, sizeof set, &set) != 0) ::_exit(125);
    }
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    ::dup2(in >= 0 ? in : devnull, 0);
    ::dup2(out >= 0 ? out : devnull, 1);
    ::dup2(err >= 0 ? err : devnull, 2);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::execve(args[0], args.data(), env ? envp.data() : environ);
    ::_exit(127);
  }
  return pid;
}

// Runs a command to its end (or kills it after `timeoutMs`) and captures its output.
Exec execIn(const std::string& nsPath, const std::vector<std::string>& argv, const std::vector<std::string>* env = nullptr,
            const std::string& stdinText = "", int timeoutMs = 120000, int cpu = -1) {
  Exec r;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) {
    r.err = "pipe2 failed";
    return r;
  }
  auto t0 = r.start = Clock::now();
  pid_t pid = forkExec(nsPath, argv, env, in[0], out[1], err[1], cpu);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    ::close(in[1]), ::close(out[0]), ::close(err[0]);
    r.err = std::string("fork: ") + std::strerror(errno);
    return r;
  }
  std::thread writer([fd = in[1], text = stdinText] {
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += size_t(n);
    }
    ::close(fd);
  });
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open = 2;
  bool killed = false;
  auto deadline = t0 + std::chrono::milliseconds(timeoutMs);
  char buf[8192];
  while (open > 0) {
    int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left <= 0 && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
      r.err += fmt::format("\n(killed after {} ms)", timeoutMs);
    }
    int n = ::poll(fds, 2, killed ? 1000 : std::max(left, 1));
    if (n < 0 && errno != EINTR) break;
    for (int k = 0; k < 2; ++k) {
      if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::read(fds[k].fd, buf, sizeof buf);
      if (got > 0) {
        (k == 0 ? r.out : r.err).append(buf, size_t(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[k].fd);
        fds[k].fd = -1;
        --open;
      }
    }
  }
  writer.join();
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.end = Clock::now();
  r.ms = msSince(t0);
  r.status = !killed && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + shellQuote(a);
  return s;
}

// `ip ARGS...`, or throws with its output.
void ip(const std::vector<std::string>& args) {
  static const std::string bin = which("ip");
  std::vector<std::string> argv = {bin};
  argv.insert(argv.end(), args.begin(), args.end());
  Exec r = execIn("", argv);
  if (r.status != 0) throw std::runtime_error(fmt::format("{} failed: {}{}", joined(argv), r.out, r.err));
}

// A long-running server in a namespace, killed (by its pid) when destroyed.
class Server {
 public:
  Server(const std::string& nsPath, const std::vector<std::string>& argv, const std::string& logPath, int cpu = -1) {
    int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = forkExec(nsPath, argv, nullptr, -1, log, log, cpu);
    if (log >= 0) ::close(log);
    if (pid_ < 0) throw std::runtime_error("cannot start " + joined(argv));
    std::lock_guard<std::mutex> lock(gChildrenMu);
    gChildren.insert(pid_);
  }
  ~Server() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(10ms);
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    std::lock_guard<std::mutex> lock(gChildrenMu);
    gChildren.erase(pid_);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  bool running() const {
    int status = 0;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
  }

 private:
  pid_t pid_ = -1;
};

// A TCP listener in a namespace that never accepts: the kernel completes
// handshakes into its backlog (what a denied port is probed against).
class Listener {
 public:
  Listener(const std::string& nsPath, uint16_t port) {
    std::string error;
    runtime::runInNetns(nsPath, [&] {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int one = 1;
      ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0) {
        ::close(fd_);
        fd_ = -1;
      }
    }, error);
    if (fd_ < 0) throw std::runtime_error(fmt::format("cannot listen on {} in {} {}", port, nsPath, error));
  }
  ~Listener() {
    if (fd_ >= 0) ::close(fd_);
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

 private:
  int fd_ = -1;
};

// "connected", "refused" or "timed out": one TCP connect from a namespace.
std::string probeTcp(const std::string& nsPath, const std::string& ipText, uint16_t port, int timeoutMs) {
  std::string outcome = "error", error;
  runtime::runInNetns(nsPath, [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ipText.c_str(), &a.sin_addr);
    int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (r != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, timeoutMs) == 1) {
        int soErr = 0;
        socklen_t len = sizeof soErr;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soErr, &len);
        outcome = soErr == 0 ? "connected" : soErr == ECONNREFUSED ? "refused" : std::strerror(soErr);
      } else {
        outcome = "timed out";
      }
    } else {
      outcome = r == 0 ? "connected" : std::strerror(errno);
    }
    ::close(fd);
  }, error);
  return outcome;
}

// ---- the topology (tests/agent/cni_cluster.h's) --------------------------------------
//
//   lan ns: br0 ── node-1 eth0 192.168.90.1/24   podCIDR 10.91.1.0/24
//              ├── node-2 eth0 192.168.90.2/24   podCIDR 10.91.2.0/24
//              ├── node-3 eth0 192.168.90.3/24   podCIDR 10.91.3.0/24
//              └── world  eth0 192.168.90.254/24, 203.0.113.1/32
//   nodes: default via 192.168.90.254

std::string nodeName(int i) { return "node-" + std::to_string(i); }
std::string nodeIp(int i) { return "192.168.90." + std::to_string(i); }
std::string podCidr(int i) { return "10.91." + std::to_string(i) + ".0/24"; }
std::string nsPath(const std::string& name) { return "/run/netns/" + name; }

class Topology {
 public:
  // `tag` makes the namespace names unique: "slcb<pid>-<tag>-<what>".
  explicit Topology(const std::string& tag) : prefix_(fmt::format("slcb{}-{}-", ::getpid() % 100000, tag)) {}
  ~Topology() { destroy(); }
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  void build() {
    lan_ = netns("lan");
    world_ = netns("world");
    ip({"-n", lan_, "link", "add", "br0", "type", "bridge"});
    ip({"-n", lan_, "link", "set", "br0", "up"});
    plug(world_, "w", "192.168.90.254/24");
    ip({"-n", world_, "addr", "add", "203.0.113.1/32", "dev", "eth0"});
    for (int i = 1; i <= kNodes; ++i) {
      nodes_[nodeName(i)] = netns("n" + std::to_string(i));
      plug(nodes_[nodeName(i)], "n" + std::to_string(i), nodeIp(i) + "/24");
      ip({"-n", nodes_[nodeName(i)], "route", "add", "default", "via", "192.168.90.254"});
    }
  }
  // A network namespace of this topology (removed with it), IPv6 off.
  std::string netns(const std::string& what) {
    std::string name = prefix_ + what;
    ip({"netns", "add", name});
    names_.push_back(name);
    sysctls(nsPath(name), {"net/ipv6/conf/all/disable_ipv6"});
    return name;
  }
  void dropNetns(const std::string& name) {
    auto it = std::find(names_.begin(), names_.end(), name);
    if (it == names_.end()) return;
    names_.erase(it);
    static const std::string bin = which("ip");
    execIn("", {bin, "netns", "del", name});
  }
  void destroy() {
    static const std::string bin = which("ip");
    for (auto it = names_.rbegin(); it != names_.rend(); ++it) execIn("", {bin, "netns", "del", *it});
    names_.clear();
  }
  std::string nodeNs(const std::string& node) const { return nsPath(nodes_.at(node)); }
  std::string nodeNsName(const std::string& node) const { return nodes_.at(node); }

 private:
  static void sysctls(const std::string& path, const std::vector<std::string>& ones, const std::string& value = "1") {
    std::string error, inner;
    bool ok = runtime::runInNetns(path, [&] {
      for (const auto& key : ones)
        if (!runtime::setSysctl(key, value, inner)) return;
    }, error);
    if (!ok || !inner.empty()) throw std::runtime_error("sysctl in " + path + ": " + error + inner);
  }
  void plug(const std::string& ns, const std::string& lanEnd, const std::string& address) {
    ip({"-n", lan_, "link", "add", lanEnd, "type", "veth", "peer", "name", "eth0", "netns", ns});
    ip({"-n", lan_, "link", "set", lanEnd, "master", "br0", "up"});
    ip({"-n", ns, "addr", "add", address, "dev", "eth0"});
    ip({"-n", ns, "link", "set", "eth0", "up"});
    ip({"-n", ns, "link", "set", "lo", "up"});
    sysctls(nsPath(ns), {"net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter"}, "0");
  }

  std::string prefix_, lan_, world_;
  std::map<std::string, std::string> nodes_;
  std::vector<std::string> names_;
};

// ---- the agents ----------------------------------------------------------------------

// One reconcile as the agent logged it (the status has no count of the
// endpoints compiled).
struct Logged {
  std::string result;
  int recompiled = -1, endpoints = -1;
  bool uplink = false;
  double totalMs = 0, lowerMs = 0, mapsMs = 0, tierMs = 0, compileMs = 0, loadMs = 0, attachMs = 0;
};

// The agents' log lines: kept per node and reconcile number, printed with --verbose.
class LogBook {
 public:
  void add(const std::string& node, const std::string& line) {
    auto now = Clock::now();
    if (gVerbose) std::fprintf(stderr, "[agent %s] %s\n", node.c_str(), line.c_str());
    // "cni: ADD pod ns/name (id) on slc…: 10.91.1.7, waiting for its programs" and "cni: ADD pod ns/name done: …".
    if (line.rfind("cni: ADD pod ", 0) == 0) {
      size_t from = std::strlen("cni: ADD pod "), to = line.find(' ', from);
      std::string pod = line.substr(from, to - from);
      std::lock_guard<std::mutex> lock(mu_);
      if (line.find("waiting for its programs") != std::string::npos) cni_[pod].first = now;
      if (line.compare(to, 6, " done:") == 0) cni_[pod].second = now;
      return;
    }
    static const std::regex re(
        R"(^reconcile (\d+): (\S+) \(generation \d+, (\d+) of (\d+) endpoints with new code(, uplink)?, \d+ not placed\) )"
        R"(in ([\d.]+) ms: lower ([\d.]+), maps ([\d.]+), tier ([\d.]+), compile ([\d.]+), load ([\d.]+), attach ([\d.]+))");
    std::smatch m;
    if (!std::regex_search(line, m, re)) return;
    Logged l;
    l.result = m[2];
    l.recompiled = std::stoi(m[3]);
    l.endpoints = std::stoi(m[4]);
    l.uplink = m[5].matched;
    l.totalMs = std::stod(m[6]), l.lowerMs = std::stod(m[7]), l.mapsMs = std::stod(m[8]), l.tierMs = std::stod(m[9]);
    l.compileMs = std::stod(m[10]), l.loadMs = std::stod(m[11]), l.attachMs = std::stod(m[12]);
    std::lock_guard<std::mutex> lock(mu_);
    byNode_[node][std::stoull(m[1])] = l;
  }
  std::optional<Logged> find(const std::string& node, uint64_t number) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto n = byNode_.find(node);
    if (n == byNode_.end()) return std::nullopt;
    auto it = n->second.find(number);
    if (it == n->second.end()) return std::nullopt;
    return it->second;
  }
  // When the agent had made the pod's interface and began to wait for its
  // programs, and when it answered (epoch when not logged).
  std::pair<Clock::time_point, Clock::time_point> cniTimes(const std::string& pod) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cni_.find(pod);
    return it == cni_.end() ? std::pair<Clock::time_point, Clock::time_point>{} : it->second;
  }
  // The reconciles that put new code in force (first tier or specialized), with a number in (after, upTo].
  std::vector<Logged> swaps(const std::string& node, uint64_t after, uint64_t upTo) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Logged> out;
    auto n = byNode_.find(node);
    if (n == byNode_.end()) return out;
    for (auto it = n->second.upper_bound(after); it != n->second.end() && it->first <= upTo; ++it)
      if (it->second.result == "swapped" || it->second.result == "tiered") out.push_back(it->second);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<uint64_t, Logged>> byNode_;
  std::map<std::string, std::pair<Clock::time_point, Clock::time_point>> cni_;
};

// A NodeAgent on a thread of its own inside a node's namespace (what
// tests/agent/agent_fixture.h's AgentThread does).
class AgentRunner {
 public:
  AgentRunner(const std::string& netnsPath, agent::AgentOptions options) : agent_(std::move(options)) {
    thread_ = std::thread([this, netnsPath] {
      int fd = ::open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        if (fd >= 0) ::close(fd);
        exitCode_ = 2;
        return;
      }
      ::close(fd);
      exitCode_ = agent_.run();
    });
  }
  ~AgentRunner() { stop(); }
  void stop() {
    agent_.stop();
    if (thread_.joinable()) thread_.join();
  }
  agent::NodeAgent& agent() { return agent_; }
  int exitCode() const { return exitCode_; }

 private:
  agent::NodeAgent agent_;
  std::thread thread_;
  std::atomic<int> exitCode_{-1};
};

// ---- the generated cluster -------------------------------------------------------------

struct ClusterOptions {
  int pods = 1000, policies = 1000, cnps = 0, namespaces = 10, services = 100;
  uint64_t seed = 1;
};

// A workload's pod template: what a new pod of it carries.
struct Shape {
  std::string ns, workload;
  Labels labels;
  std::string serviceAccount;
  std::vector<ContainerPort> ports;
  size_t rules = 0;  // of the generated pod it was taken from (ingress or egress, as picked)
  size_t policies = 0;
};

struct Generated {
  std::vector<gen::GeneratedFile> files;  // without nodes.yaml: the bench's three nodes replace them
  std::vector<Shape> workloads;           // every deployment, by namespace and name
  Shape server, client;                   // the most ingress rules; the most egress rules (another namespace)
};

Shape shapeOf(const Pod& p) {
  Shape s;
  s.ns = p.meta.namespace_;
  s.labels = p.meta.labels;
  s.serviceAccount = p.serviceAccount;
  s.ports = p.ports;
  for (const char* key : {"app", "app.kubernetes.io/name"})
    if (p.meta.labels.count(key)) s.workload = p.meta.labels.at(key);
  return s;
}

// Generates the cluster, and picks the workloads from it by lowering it whole
// (with its own nodes, which the bench's cluster does not keep).
Generated generate(const ClusterOptions& c, const fs::path& scratch) {
  gen::GenOptions g;
  g.pods = c.pods, g.nodes = std::max(2, c.pods / 100), g.namespaces = c.namespaces;
  g.policies = c.policies, g.cnps = c.cnps, g.services = c.services, g.seed = c.seed;
  if (std::string why = gen::validateOptions(g); !why.empty()) throw std::runtime_error("sluice-gen options: " + why);
  Generated out;
  fs::create_directories(scratch);
  for (auto& f : gen::generateCluster(g).files) {
    std::ofstream(scratch / f.name) << f.text;
    if (f.name != "nodes.yaml") out.files.push_back(std::move(f));
  }
  LoadResult loaded = loadCluster({scratch.string()});
  if (!loaded.ok()) throw std::runtime_error("the generated cluster does not load:\n" + loaded.diags.render(false));
  Diagnostics diags;
  ir::Program program = ir::lower(loaded.state, diags);
  if (diags.hasErrors()) throw std::runtime_error("the generated cluster does not lower:\n" + diags.render(false));
  std::map<std::string, const Pod*> pods;
  std::map<std::string, const Pod*> templates;  // namespace/pod-template-hash -> first pod
  for (const Pod& p : loaded.state.pods) {
    if (p.hostNetwork || !p.meta.labels.count("pod-template-hash")) continue;
    pods[p.meta.key()] = &p;
    templates.emplace(p.meta.namespace_ + "/" + p.meta.labels.at("pod-template-hash"), &p);
  }
  for (const auto& [key, p] : templates) out.workloads.push_back(shapeOf(*p));
  std::sort(out.workloads.begin(), out.workloads.end(),
            [](const Shape& a, const Shape& b) { return std::tie(a.ns, a.workload) < std::tie(b.ns, b.workload); });
  const ir::Endpoint* bestIn = nullptr;
  for (const auto& node : program.nodes)
    for (const auto& ep : node.endpoints)
      if (pods.count(ep.key()) && (!bestIn || ep.ingress.rules.size() > bestIn->ingress.rules.size()))
        bestIn = &ep;
  if (!bestIn) throw std::runtime_error("the generated cluster has no deployment pods");
  const ir::Endpoint* bestOut = nullptr;
  for (const auto& node : program.nodes)
    for (const auto& ep : node.endpoints)
      if (pods.count(ep.key()) && ep.namespace_ != bestIn->namespace_ &&
          (!bestOut || ep.egress.rules.size() > bestOut->egress.rules.size()))
        bestOut = &ep;
  if (!bestOut) throw std::runtime_error("the generated cluster has deployment pods in one namespace only");
  out.server = shapeOf(*pods.at(bestIn->key()));
  out.server.rules = bestIn->ingress.rules.size(), out.server.policies = bestIn->ingress.enforcedBy.size();
  out.client = shapeOf(*pods.at(bestOut->key()));
  out.client.rules = bestOut->egress.rules.size(), out.client.policies = bestOut->egress.enforcedBy.size();
  fs::remove_all(scratch);
  return out;
}

std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

std::string podManifest(const Shape& s, const std::string& name, const std::string& node, const std::string& ip,
                        const Labels& extra) {
  Labels labels = s.labels;
  for (const auto& [k, v] : extra) labels[k] = v;
  std::string l, ports;
  for (const auto& [k, v] : labels) l += (l.empty() ? "" : ", ") + quoted(k) + ": " + quoted(v);
  for (const auto& p : s.ports)
    ports += fmt::format("{}{{{}containerPort: {}, protocol: {}}}", ports.empty() ? "" : ", ",
                         p.name.empty() ? "" : "name: " + quoted(p.name) + ", ", p.port, protocolName(p.protocol));
  std::string m = fmt::format(
      "apiVersion: v1\nkind: Pod\nmetadata: {{name: {}, namespace: {}, labels: {{{}}}}}\n"
      "spec:\n  nodeName: {}\n  serviceAccountName: {}\n  containers: [{{name: main{}}}]\n",
      name, s.ns, l, node, quoted(s.serviceAccount.empty() ? "default" : s.serviceAccount),
      ports.empty() ? "" : ", ports: [" + ports + "]");
  if (!ip.empty()) m += fmt::format("status: {{phase: Running, podIP: {}}}\n", ip);
  return m;
}

std::string nodesManifest() {
  std::string m;
  for (int i = 1; i <= kNodes; ++i)
    m += fmt::format("---\napiVersion: v1\nkind: Node\nmetadata: {{name: {}}}\nspec: {{podCIDR: {}}}\n"
                     "status: {{addresses: [{{type: InternalIP, address: {}}}]}}\n",
                     nodeName(i), podCidr(i), nodeIp(i));
  return m;
}

// The server admits the client on the measured ports, and the client may reach the server on them.
std::string benchPolicies(const Shape& server, const Shape& client) {
  auto peer = [](const Shape& s, const char* role) {
    return fmt::format("[{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {}}}}}, "
                       "podSelector: {{matchLabels: {{sluice-bench: {}}}}}}}]",
                       s.ns, role);
  };
  std::string ports = fmt::format("[{{protocol: TCP, port: {}}}, {{protocol: TCP, port: {}}}]", kIperfPort, kSockperfPort);
  return fmt::format(
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: sluice-bench-server, namespace: {0}}}\n"
      "spec:\n  podSelector: {{matchLabels: {{sluice-bench: server}}}}\n  policyTypes: [Ingress]\n"
      "  ingress:\n  - from: {1}\n    ports: {2}\n"
      "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: sluice-bench-client, namespace: {3}}}\n"
      "spec:\n  podSelector: {{matchLabels: {{sluice-bench: client}}}}\n  policyTypes: [Egress]\n"
      "  egress:\n  - to: {4}\n    ports: {2}\n",
      server.ns, peer(client, "client"), ports, client.ns, peer(server, "server"));
}

// ---- sluice's cluster --------------------------------------------------------------------

struct PodRef {
  Shape shape;
  std::string name, node, containerID, netns, ip, result;
  Labels extra;
  std::string netnsPath() const { return nsPath(netns); }
};

struct AddRun {
  int status = -1;
  double ms = 0;
  std::string out, err;
  Clock::time_point start, end;
};

class SluiceCluster {
 public:
  using Routing = agent::AgentOptions::Routing;
  SluiceCluster(const std::string& tag, Routing routing, const std::string& cniBin, bool firstTier = true)
      : topo_(tag), routing_(routing), cniBin_(cniBin), firstTier_(firstTier) {
    std::string id = fmt::format("{}-{}", ::getpid(), tag);
    dir_ = fs::temp_directory_path() / ("sluice-cni-bench-" + id);
    bpffsRoot_ = "/sys/fs/bpf/sluice-cni-bench-" + id;
    socketDir_ = "/run/sluice-cni-bench-" + id;
  }
  ~SluiceCluster() {
    agents_.clear();  // stopped before their namespaces go
    topo_.destroy();
    std::error_code ec;
    fs::remove_all(dir_, ec);
    fs::remove_all(bpffsRoot_, ec);
    fs::remove_all(socketDir_, ec);
  }

  void build(const Generated& g, const std::string& extraManifests) {
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "manifests");
    fs::create_directories(dir_ / "state");
    for (const auto& f : g.files) std::ofstream(dir_ / "manifests" / f.name) << f.text;
    std::ofstream(dir_ / "manifests" / "bench-nodes.yaml") << nodesManifest();
    if (!extraManifests.empty()) std::ofstream(dir_ / "manifests" / "bench-policies.yaml") << extraManifests;
    topo_.build();
    for (int i = 1; i <= kNodes; ++i) {
      std::string node = nodeName(i);
      agent::AgentOptions o;
      o.node = node;
      o.watchDir = (dir_ / "manifests").string();
      o.bpffsRoot = bpffsRoot_;
      o.metricsPort = -1;
      o.cni = true;
      o.cniSocket = socketOf(node);
      o.stateDir = (dir_ / "state").string();
      o.routing = routing_;
      o.masquerade = true;  // `sluice agent --cni`'s default (--masquerade auto)
      o.firstTier = firstTier_;
      o.log = [this, node](const std::string& line) { log_.add(node, line); };
      agents_[node] = std::make_unique<AgentRunner>(topo_.nodeNs(node), std::move(o));
    }
    auto deadline = Clock::now() + 120s;
    for (auto& [node, a] : agents_) {
      while (a->agent().status().generation < 1 || a->agent().status().podCIDRs.empty()) {
        if (a->exitCode() >= 0) throw std::runtime_error("the agent of " + node + " did not start (see --verbose)");
        if (Clock::now() > deadline) throw std::runtime_error("the agent of " + node + " did not reconcile in 120 s");
        checkStop();
        std::this_thread::sleep_for(10ms);
      }
    }
  }

  agent::NodeAgent& agent(const std::string& node) { return agents_.at(node)->agent(); }
  const LogBook& log() const { return log_; }
  fs::path manifestsDir() const { return dir_ / "manifests"; }
  std::string nodeNs(const std::string& node) const { return topo_.nodeNs(node); }

  std::map<std::string, uint64_t> reconciles() const {
    std::map<std::string, uint64_t> out;
    for (const auto& [node, a] : agents_) out[node] = a->agent().reconciles();
    return out;
  }
  // Every agent finished a reconcile after `before`, none finished another
  // for `quietMs`, and each runs its own specialized programs (no compile
  // under way in the background).
  void waitQuiet(const std::map<std::string, uint64_t>& before, int quietMs = 60) {
    auto deadline = Clock::now() + 120s;
    auto last = reconciles();
    auto since = Clock::now();
    for (;;) {
      checkStop();
      auto now = reconciles();
      bool after = true;
      for (const auto& [node, n] : now) after &= n > before.at(node);
      if (now != last) last = now, since = Clock::now();
      if (after && msSince(since) >= quietMs) {
        bool specialized = true;
        for (const auto& [node, a] : agents_) specialized &= a->agent().status().specialized;
        if (specialized) return;
      }
      if (Clock::now() > deadline) throw std::runtime_error("the agents did not settle in 120 s");
      std::this_thread::sleep_for(2ms);
    }
  }

  // The Pod object (no address yet) and its sandbox namespace: what exists
  // before the runtime calls ADD. Does not wait.
  PodRef preparePod(const Shape& shape, const std::string& node, const std::string& name, const Labels& extra = {}) {
    PodRef p;
    p.shape = shape, p.name = name, p.node = node, p.extra = extra;
    p.containerID = fmt::format("ctr-{}-{}-{}", ::getpid(), shape.ns, name);
    p.netns = topo_.netns("p-" + std::to_string(++pods_));
    write("pod-" + shape.ns + "-" + name + ".yaml", podManifest(shape, name, node, "", extra));
    return p;
  }
  // Until the pod's node has the Pod object in its state.
  void waitKnown(const PodRef& p) {
    auto deadline = Clock::now() + 60s;
    while (!agent(p.node).status().localPods.count(p.shape.ns + "/" + p.name)) {
      checkStop();
      if (Clock::now() > deadline) throw std::runtime_error(p.node + " never saw pod " + p.shape.ns + "/" + p.name);
      std::this_thread::sleep_for(2ms);
    }
  }
  AddRun add(PodRef& p) {
    std::vector<std::string> env = cniEnv("ADD", p);
    Exec r = execIn(nodeNs(p.node), {cniBin_}, &env, netconf(p.node), 90000);
    AddRun a{r.status, r.ms, r.out, r.err, r.start, r.end};
    if (r.status == 0) {
      nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
      std::string address = j.is_object() && j.contains("ips") ? j["ips"][0].value("address", "") : "";
      p.ip = address.substr(0, address.find('/'));
      p.result = r.out;
      if (p.ip.empty()) a.status = -1, a.err = "ADD printed no address: " + r.out;
    }
    return a;
  }
  // What kubelet does next: the address goes into the Pod's status.
  void publish(const PodRef& p) {
    write("pod-" + p.shape.ns + "-" + p.name + ".yaml", podManifest(p.shape, p.name, p.node, p.ip, p.extra));
  }
  // The pod goes as kubelet makes it go: DEL, its object deleted, its sandbox removed.
  void remove(const PodRef& p) {
    std::vector<std::string> env = cniEnv("DEL", p);
    Exec r = execIn(nodeNs(p.node), {cniBin_}, &env, netconf(p.node, p.result), 90000);
    if (r.status != 0) progress(fmt::format("note: DEL of {}/{} failed: {}{}", p.shape.ns, p.name, r.out, r.err));
    fs::remove(dir_ / "manifests" / ("pod-" + p.shape.ns + "-" + p.name + ".yaml"));
    topo_.dropNetns(p.netns);
  }

 private:
  std::string socketOf(const std::string& node) const { return socketDir_ + "/" + node + ".sock"; }
  void write(const std::string& name, const std::string& text) {
    auto tmp = dir_ / "manifests" / ("." + name + ".tmp");
    { std::ofstream(tmp, std::ios::trunc) << text; }
    fs::rename(tmp, dir_ / "manifests" / name);
  }
  std::vector<std::string> cniEnv(const std::string& command, const PodRef& p) const {
    return {"CNI_COMMAND=" + command, "CNI_CONTAINERID=" + p.containerID,
            "CNI_NETNS=" + (command == "DEL" ? std::string() : p.netnsPath()), "CNI_IFNAME=eth0",
            "CNI_PATH=/opt/cni/bin", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=" + p.shape.ns + ";K8S_POD_NAME=" + p.name +
                ";K8S_POD_INFRA_CONTAINER_ID=" + p.containerID};
  }
  std::string netconf(const std::string& node, const std::string& prevResult = "") const {
    return R"({"cniVersion": "1.0.0", "name": "sluice", "type": "sluice", "agentSocket": ")" + socketOf(node) +
           R"(", "timeoutSeconds": 60)" + (prevResult.empty() ? "" : ", \"prevResult\": " + prevResult) + "}";
  }

  Topology topo_;
  Routing routing_;
  std::string cniBin_;
  bool firstTier_ = true;
  fs::path dir_;
  std::string bpffsRoot_, socketDir_;
  LogBook log_;
  std::map<std::string, std::unique_ptr<AgentRunner>> agents_;
  int pods_ = 0;
};

// ---- the baseline: the same namespaces, veths and routes, no programs ----------------------

class BaselineCluster {
 public:
  using Routing = agent::AgentOptions::Routing;
  BaselineCluster(const std::string& tag, Routing routing) : topo_(tag), routing_(routing) {}

  void build() {
    topo_.build();
    for (int i = 1; i <= kNodes; ++i) {
      std::vector<runtime::RemotePodCidr> remote;
      std::vector<runtime::VxlanPeer> peers;
      for (int k = 1; k <= kNodes; ++k)
        if (k != i) {
          remote.push_back({*Cidr::parse(podCidr(k)), *IpAddr::parse(nodeIp(k))});
          peers.push_back({*Cidr::parse(podCidr(k)), *IpAddr::parse(nodeIp(k))});
        }
      std::string error, inner;
      bool ok = runtime::runInNetns(topo_.nodeNs(nodeName(i)), [&] {
        if (!runtime::enableForwarding(inner)) return;
        if (routing_ == Routing::Native) {
          runtime::syncPodCidrRoutes(remote, inner);
        } else {
          runtime::VxlanSpec spec;
          spec.localIp = *IpAddr::parse(nodeIp(i));
          spec.podCidr = *Cidr::parse(podCidr(i));
          if (runtime::ensureVxlanDevice(spec, inner)) runtime::syncVxlanPeers(peers, inner);
        }
      }, error);
      if (!ok || !inner.empty()) throw std::runtime_error("baseline " + nodeName(i) + ": " + error + inner);
    }
  }
  // The pod's interface as the agent makes it for ADD (same names, address and MTU).
  PodRef addPod(const PodRef& like) {
    PodRef p = like;
    p.netns = topo_.netns("p-" + like.name);
    runtime::PodInterfaceSpec spec;
    spec.netns = p.netnsPath();
    spec.ifname = "eth0";
    spec.hostIfname = runtime::hostInterfaceName(p.containerID, "eth0");
    spec.address = *IpAddr::parse(p.ip);
    std::string error, inner;
    bool ok = runtime::runInNetns(topo_.nodeNs(p.node), [&] {
      uint32_t mtu = runtime::defaultMtu(inner);
      if (!mtu) return;
      spec.mtu = routing_ == Routing::Vxlan ? mtu - runtime::kVxlanOverhead : mtu;
      runtime::PodInterface made;
      runtime::createPodInterface(spec, made, inner);
    }, error);
    if (!ok || !inner.empty()) throw std::runtime_error("baseline pod " + p.name + ": " + error + inner);
    return p;
  }

 private:
  Topology topo_;
  Routing routing_;
};

// ---- measuring ---------------------------------------------------------------------------

struct Options {
  int adds = 50, burst = 10, runs = 3, trafficRuns = 0, durationS = 5, streams = 1;
  int pinCpu = 0;  // sockperf's client and server run on this CPU; -1: wherever the scheduler puts them
  std::vector<int> iperfCpus;  // iperf3's client and server CPUs; empty: wherever the scheduler puts them
  std::vector<std::string> routing{"native", "vxlan"};
  std::vector<std::string> measure{"add", "traffic"};
  ClusterOptions cluster;
  std::string cniBin = SLUICE_CNI_BIN;
  bool firstTier = true;  // --no-first-tier: the agents' option of that name
};

struct AddSample {
  double ms = 0;
  bool breakdown = false;  // the reconcile that attached it was found
  std::string result;  // of that reconcile: "tiered" (first tier) or "swapped" (--no-first-tier)
  double sinceChangeMs = 0, stateMs = 0, lowerMs = 0, mapsMs = 0, tierMs = 0, compileMs = 0, loadMs = 0, swapMs = 0,
         totalMs = 0;
  int recompiled = -1;
  // The specialized programs compiled for it after the ADD (in the background with the first tier).
  bool specialized = false;
  double specializeCompileMs = 0, specializeLoadMs = 0, specializeAttachMs = 0;
  // From the agent's log: start -> interface made (sluice-cni started, request read, address, veth),
  // and answer -> sluice-cni's exit; negative when the lines were not seen.
  double beforeMs = -1, afterMs = -1;
};

struct AddFigures {
  std::vector<AddSample> sequential;
  std::vector<double> burst;          // every ADD of every burst
  std::vector<double> burstP50;       // per burst
  std::vector<Logged> burstSwaps;     // the reconciles that attached the bursts' pods
  std::vector<int> burstReconciles;   // per burst: how many swaps it took
  std::vector<double> perRunP50;      // sequential, per run
  int failures = 0;
  std::vector<std::string> notes;
};

std::string pad(int i) { return fmt::format("{:03d}", i); }

void measureAdds(const Options& opt, const Generated& g, AddFigures& f) {
  progress("add: building the cluster (3 node namespaces, 3 agents)");
  SluiceCluster c("add", agent::AgentOptions::Routing::Native, opt.cniBin, opt.firstTier);
  c.build(g, "");
  const std::string node = nodeName(1);
  agent::NodeAgent& a = c.agent(node);
  size_t next = 0;
  auto shape = [&] { return g.workloads[next++ % g.workloads.size()]; };
  for (int run = 0; run < opt.runs; ++run) {
    std::vector<PodRef> made;
    std::vector<double> runMs;
    for (int i = 0; i < opt.adds; ++i) {
      checkStop();
      auto before = c.reconciles();
      PodRef p = c.preparePod(shape(), node, fmt::format("bench-r{}-s{}", run, pad(i)));
      c.waitKnown(p);
      c.waitQuiet(before);
      uint64_t lastBefore = a.status().last.number;
      AddRun r = c.add(p);
      agent::AgentStatus s = a.status();
      if (r.status != 0) {
        ++f.failures;
        f.notes.push_back(fmt::format("ADD of {}/{} failed (exit {}): {}{}", p.shape.ns, p.name, r.status,
                                      r.out.substr(0, 300), r.err.substr(0, 300)));
        c.remove(p);
        continue;
      }
      AddSample sample;
      sample.ms = r.ms;
      // The reconcile that attached the pod: the last one when the ADD was answered.
      const agent::ReconcileReport& rep = s.last;
      if (rep.number > lastBefore && (rep.result == "tiered" || rep.result == "swapped")) {
        sample.breakdown = true;
        sample.result = rep.result;
        sample.sinceChangeMs = rep.sinceChangeMs, sample.stateMs = rep.loadStateMs, sample.lowerMs = rep.lowerMs;
        sample.mapsMs = rep.syncMs, sample.tierMs = rep.tierMs;
        sample.compileMs = rep.compileMs, sample.loadMs = rep.loadMs, sample.swapMs = rep.swapMs;
        sample.totalMs = rep.totalMs;
        if (auto l = c.log().find(node, rep.number)) sample.recompiled = l->recompiled;
      }
      auto [waiting, done] = c.log().cniTimes(p.shape.ns + "/" + p.name);
      if (waiting != Clock::time_point{} && done != Clock::time_point{}) {
        sample.beforeMs = std::chrono::duration<double, std::milli>(waiting - r.start).count();
        sample.afterMs = std::chrono::duration<double, std::milli>(r.end - done).count();
      }
      runMs.push_back(r.ms);
      made.push_back(p);
      before = c.reconciles();
      c.publish(p);
      c.waitQuiet(before);
      if (sample.result == "tiered") {
        agent::AgentStatus after = a.status();
        sample.specialized = after.specialized && after.lastSwap.number >= rep.number;
        sample.specializeCompileMs = after.lastSwap.compileMs, sample.specializeLoadMs = after.lastSwap.loadMs;
        sample.specializeAttachMs = after.lastSwap.swapMs;
      }
      f.sequential.push_back(sample);
    }
    f.perRunP50.push_back(median(runMs));
    progress(fmt::format("add: run {}/{}: {} ADDs one after another, median {:.0f} ms", run + 1, opt.runs,
                         runMs.size(), median(runMs)));
    if (opt.burst > 0) {
      auto before = c.reconciles();
      std::vector<PodRef> burst;
      for (int i = 0; i < opt.burst; ++i)
        burst.push_back(c.preparePod(shape(), node, fmt::format("bench-r{}-b{}", run, pad(i))));
      for (const PodRef& p : burst) c.waitKnown(p);
      c.waitQuiet(before);
      uint64_t numberBefore = a.status().last.number;
      std::vector<AddRun> runs(burst.size());
      std::vector<std::thread> threads;
      for (size_t i = 0; i < burst.size(); ++i) threads.emplace_back([&, i] { runs[i] = c.add(burst[i]); });
      for (auto& t : threads) t.join();
      uint64_t numberAfter = a.status().last.number;
      std::vector<double> ms;
      before = c.reconciles();
      bool published = false;
      for (size_t i = 0; i < burst.size(); ++i) {
        if (runs[i].status != 0) {
          ++f.failures;
          f.notes.push_back(fmt::format("ADD of {}/{} (burst) failed (exit {}): {}{}", burst[i].shape.ns,
                                        burst[i].name, runs[i].status, runs[i].out.substr(0, 300),
                                        runs[i].err.substr(0, 300)));
          c.remove(burst[i]);
          continue;
        }
        ms.push_back(runs[i].ms);
        f.burst.push_back(runs[i].ms);
        made.push_back(burst[i]);
        c.publish(burst[i]);
        published = true;
      }
      auto swaps = c.log().swaps(node, numberBefore, numberAfter);
      f.burstSwaps.insert(f.burstSwaps.end(), swaps.begin(), swaps.end());
      f.burstReconciles.push_back(int(swaps.size()));
      if (!ms.empty()) f.burstP50.push_back(median(ms));
      if (published) c.waitQuiet(before);
      progress(fmt::format("add: run {}/{}: {} ADDs at once, median {:.0f} ms, max {:.0f} ms, {} reconciles", run + 1,
                           opt.runs, ms.size(), median(ms), ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()),
                           swaps.size()));
    }
    // The run's pods go, so that every run starts from the same node.
    auto before = c.reconciles();
    for (const PodRef& p : made) c.remove(p);
    if (!made.empty()) c.waitQuiet(before);
  }
}

// The machine's CPU time, busy and total, from /proc/stat (jiffies, all CPUs).
std::pair<uint64_t, uint64_t> cpuTimes() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t v[10] = {}, total = 0;
  in >> cpu;
  for (auto& x : v) in >> x, total += x;
  uint64_t idle = v[3] + v[4];  // idle + iowait
  return {total - idle, total};
}
// The share of all CPUs busy between two cpuTimes() (0..1); our own client, server and softirqs included.
double busyShare(std::pair<uint64_t, uint64_t> a, std::pair<uint64_t, uint64_t> b) {
  return b.second > a.second ? double(b.first - a.first) / double(b.second - a.second) : 0;
}

struct IperfResult {
  bool ok = false;
  double gbps = 0;
  int retransmits = 0;
  std::string error;
};

IperfResult runIperf(const std::string& clientNs, const std::string& serverIp, const Options& opt) {
  static const std::string bin = which("iperf3");
  int omit = opt.durationS >= 3 ? 1 : 0;
  Exec r = execIn(clientNs,
                  {bin, "-c", serverIp, "-p", std::to_string(kIperfPort), "-t", std::to_string(opt.durationS), "-O",
                   std::to_string(omit), "-P", std::to_string(opt.streams), "-J"},
                  nullptr, "", (opt.durationS + omit + 30) * 1000, opt.iperfCpus.empty() ? -1 : opt.iperfCpus[0]);
  IperfResult out;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  if (r.status != 0 || !j.is_object() || j.contains("error") || !j.contains("end")) {
    out.error = j.is_object() && j.contains("error") ? j["error"].get<std::string>()
                                                     : fmt::format("exit {}: {}{}", r.status, r.out.substr(0, 200),
                                                                   r.err.substr(0, 200));
    return out;
  }
  out.ok = true;
  out.gbps = j["end"]["sum_received"].value("bits_per_second", 0.0) / 1e9;
  out.retransmits = j["end"]["sum_sent"].value("retransmits", 0);
  return out;
}

struct PingPong {
  bool ok = false;
  double p50Us = 0, p99Us = 0, avgUs = 0;
  std::string error;
};

PingPong runSockperf(const std::string& clientNs, const std::string& serverIp, const Options& opt) {
  static const std::string bin = which("sockperf");
  Exec r = execIn(clientNs,
                  {bin, "ping-pong", "--tcp", "-i", serverIp, "-p", std::to_string(kSockperfPort), "-t",
                   std::to_string(opt.durationS), "-m", "64", "--full-rtt"},
                  nullptr, "", (opt.durationS + 30) * 1000, opt.pinCpu);
  PingPong out;
  std::string text = r.out + r.err;
  std::smatch m;
  auto grab = [&](const char* pattern, double& to) {
    if (std::regex_search(text, m, std::regex(pattern))) to = std::stod(m[1]);
    return m.size() > 1;
  };
  bool p50 = grab(R"(percentile 50\.000 =\s*([\d.]+))", out.p50Us);
  grab(R"(percentile 99\.000 =\s*([\d.]+))", out.p99Us);
  grab(R"(avg-rtt=([\d.]+))", out.avgUs);
  out.ok = r.status == 0 && p50;
  if (!out.ok) out.error = fmt::format("exit {}: {}", r.status, text.substr(text.size() > 400 ? text.size() - 400 : 0));
  return out;
}

struct Side {
  std::vector<double> gbps, p50Us, p99Us;
  std::vector<double> iperfBusy, rttBusy;  // the machine's CPU busy share during each run
  std::vector<int> retransmits;
  std::string deniedProbe;
};

struct TrafficFigures {
  std::string routing;
  bool measured = false;
  Side sluice, baseline;
  std::vector<double> pairedRatio, pairedAddedUs;  // per run: sluice / baseline, sluice - baseline
  size_t serverRules = 0, serverPolicies = 0, clientRules = 0, clientPolicies = 0;
  std::string serverPod, clientPod;
  std::vector<std::string> notes;
};

// Rules and policies in the server's ingress and the client's egress, as the agents lower them.
void countRules(const fs::path& manifests, TrafficFigures& t, const PodRef& server, const PodRef& client) {
  LoadResult loaded = loadCluster({manifests.string()});
  Diagnostics diags;
  ir::Program program = ir::lower(loaded.state, diags);
  for (const auto& node : program.nodes)
    for (const auto& ep : node.endpoints) {
      if (ep.key() == server.shape.ns + "/" + server.name)
        t.serverRules = ep.ingress.rules.size(), t.serverPolicies = ep.ingress.enforcedBy.size();
      if (ep.key() == client.shape.ns + "/" + client.name)
        t.clientRules = ep.egress.rules.size(), t.clientPolicies = ep.egress.enforcedBy.size();
    }
}

void measureTraffic(const Options& opt, const Generated& g, const std::string& routingName, TrafficFigures& t,
                    const fs::path& logDir) {
  using Routing = agent::AgentOptions::Routing;
  Routing routing = routingName == "vxlan" ? Routing::Vxlan : Routing::Native;
  t.routing = routingName;
  progress(fmt::format("traffic, {}: building sluice's cluster and the baseline", routingName));
  SluiceCluster s("t" + routingName.substr(0, 1), routing, opt.cniBin);
  s.build(g, benchPolicies(g.server, g.client));
  auto before = s.reconciles();
  PodRef client = s.preparePod(g.client, nodeName(1), "bench-client", {{"sluice-bench", "client"}});
  PodRef server = s.preparePod(g.server, nodeName(2), "bench-server", {{"sluice-bench", "server"}});
  s.waitKnown(client);
  s.waitKnown(server);
  s.waitQuiet(before);
  for (PodRef* p : {&client, &server}) {
    AddRun r = s.add(*p);
    if (r.status != 0) throw std::runtime_error(fmt::format("ADD of {}: exit {}: {}{}", p->name, r.status, r.out, r.err));
  }
  before = s.reconciles();
  s.publish(client);
  s.publish(server);
  s.waitQuiet(before);
  t.serverPod = server.shape.ns + "/" + server.name + " (" + server.ip + ", node-2)";
  t.clientPod = client.shape.ns + "/" + client.name + " (" + client.ip + ", node-1)";
  countRules(s.manifestsDir(), t, server, client);

  BaselineCluster b("b" + routingName.substr(0, 1), routing);
  b.build();
  PodRef bClient = b.addPod(client), bServer = b.addPod(server);

  static const std::string iperf = which("iperf3"), sockperf = which("sockperf");
  std::vector<std::unique_ptr<Server>> servers;
  std::vector<std::unique_ptr<Listener>> listeners;
  struct Target {
    std::string name, clientNs;
    Side* side;
  };
  std::vector<Target> targets = {{"baseline", bClient.netnsPath(), &t.baseline}, {"sluice", client.netnsPath(), &t.sluice}};
  for (const PodRef* p : {&bServer, &server}) {
    std::string which = p == &server ? "sluice" : "baseline";
    servers.push_back(std::make_unique<Server>(p->netnsPath(),
                                               std::vector<std::string>{iperf, "-s", "-p", std::to_string(kIperfPort)},
                                               (logDir / (routingName + "-" + which + "-iperf3.log")).string(),
                                               opt.iperfCpus.empty() ? -1 : opt.iperfCpus[1]));
    servers.push_back(std::make_unique<Server>(
        p->netnsPath(), std::vector<std::string>{sockperf, "server", "--tcp", "-i", p->ip, "-p", std::to_string(kSockperfPort)},
        (logDir / (routingName + "-" + which + "-sockperf.log")).string(), opt.pinCpu));
    listeners.push_back(std::make_unique<Listener>(p->netnsPath(), kDeniedPort));
  }
  // The servers listen, and the path works, before anything is timed.
  for (const Target& tg : targets) {
    auto deadline = Clock::now() + 20s;
    std::string outcome;
    while ((outcome = probeTcp(tg.clientNs, server.ip, kIperfPort, 500)) != "connected" && Clock::now() < deadline) {
      checkStop();
      std::this_thread::sleep_for(100ms);
    }
    if (outcome != "connected")
      throw std::runtime_error(fmt::format("{}: the client cannot reach the server's iperf3 ({})", tg.name, outcome));
    deadline = Clock::now() + 20s;
    while ((outcome = probeTcp(tg.clientNs, server.ip, kSockperfPort, 500)) != "connected" && Clock::now() < deadline) {
      checkStop();
      std::this_thread::sleep_for(100ms);
    }
    if (outcome != "connected")
      throw std::runtime_error(fmt::format("{}: the client cannot reach the server's sockperf ({})", tg.name, outcome));
    // A port the bench's policy does not admit: the programs are there and enforce.
    tg.side->deniedProbe = probeTcp(tg.clientNs, server.ip, kDeniedPort, 1000);
  }
  progress(fmt::format("traffic, {}: client → server:{}, a port the bench's policy does not admit: baseline {}, "
                       "sluice {}",
                       routingName, kDeniedPort, t.baseline.deniedProbe, t.sluice.deniedProbe));
  for (int run = 0; run < opt.trafficRuns; ++run) {
    checkStop();
    std::vector<Target> order = targets;
    if (run % 2) std::reverse(order.begin(), order.end());
    double gb[2] = {0, 0}, lat[2] = {0, 0};
    for (const Target& tg : order) {
      auto cpu0 = cpuTimes();
      IperfResult r = runIperf(tg.clientNs, server.ip, opt);
      tg.side->iperfBusy.push_back(busyShare(cpu0, cpuTimes()));
      checkStop();
      if (!r.ok) throw std::runtime_error(fmt::format("iperf3 ({}): {}", tg.name, r.error));
      tg.side->gbps.push_back(r.gbps);
      tg.side->retransmits.push_back(r.retransmits);
      gb[tg.side == &t.sluice] = r.gbps;
      progress(fmt::format("traffic, {}: run {}/{}: iperf3 {}: {:.2f} Gbit/s ({} retransmits; CPUs {:.0f} % busy)",
                           routingName, run + 1, opt.trafficRuns, tg.name, r.gbps, r.retransmits,
                           100 * tg.side->iperfBusy.back()));
    }
    for (const Target& tg : order) {
      auto cpu0 = cpuTimes();
      PingPong r = runSockperf(tg.clientNs, server.ip, opt);
      tg.side->rttBusy.push_back(busyShare(cpu0, cpuTimes()));
      checkStop();
      if (!r.ok) throw std::runtime_error(fmt::format("sockperf ({}): {}", tg.name, r.error));
      tg.side->p50Us.push_back(r.p50Us);
      tg.side->p99Us.push_back(r.p99Us);
      lat[tg.side == &t.sluice] = r.p50Us;
      progress(fmt::format("traffic, {}: run {}/{}: sockperf {}: round trip median {:.1f} µs, p99 {:.1f} µs (CPUs {:.0f} % "
                           "busy)",
                           routingName, run + 1, opt.trafficRuns, tg.name, r.p50Us, r.p99Us, 100 * tg.side->rttBusy.back()));
    }
    t.pairedRatio.push_back(gb[1] / std::max(1e-9, gb[0]));
    t.pairedAddedUs.push_back(lat[1] - lat[0]);
  }
  for (auto& sv : servers)
    if (!sv->running()) t.notes.push_back("a server exited during the runs (see its log)");
  t.measured = true;
}

// ---- output ------------------------------------------------------------------------------

template <class F>
std::vector<double> pick(const std::vector<AddSample>& v, F f) {
  std::vector<double> out;
  for (const auto& s : v)
    if (s.breakdown) out.push_back(f(s));
  return out;
}

nlohmann::json addJson(const AddFigures& f, const Options& opt) {
  std::vector<double> seq;
  for (const auto& s : f.sequential) seq.push_back(s.ms);
  nlohmann::json j = {{"adds_per_run", opt.adds}, {"burst_size", opt.burst}, {"runs", opt.runs}, {"failures", f.failures},
                      {"notes", f.notes}};
  auto br = [&](const std::vector<AddSample>& v) {
    nlohmann::json b;
    b["since_change_ms"] = median(pick(v, [](auto& s) { return s.sinceChangeMs; }));
    b["outside_reconcile_ms"] = median(pick(v, [](auto& s) { return s.ms - s.sinceChangeMs; }));
    b["settle_ms"] = median(pick(v, [](auto& s) { return s.sinceChangeMs - s.totalMs; }));
    b["state_ms"] = median(pick(v, [](auto& s) { return s.stateMs; }));
    b["lower_ms"] = median(pick(v, [](auto& s) { return s.lowerMs; }));
    b["maps_ms"] = median(pick(v, [](auto& s) { return s.mapsMs; }));
    b["tier_ms"] = median(pick(v, [](auto& s) { return s.tierMs; }));
    size_t tiered = 0;
    std::vector<double> bgCompile, bgLoad, bgAttach;
    for (const auto& s : v) {
      tiered += s.result == "tiered";
      if (s.specialized)
        bgCompile.push_back(s.specializeCompileMs), bgLoad.push_back(s.specializeLoadMs),
            bgAttach.push_back(s.specializeAttachMs);
    }
    b["enforced_by_first_tier"] = tiered;
    b["background"] = {{"count", bgCompile.size()},
                       {"compile_ms", bgCompile.empty() ? nlohmann::json(nullptr) : nlohmann::json(median(bgCompile))},
                       {"load_ms", bgLoad.empty() ? nlohmann::json(nullptr) : nlohmann::json(median(bgLoad))},
                       {"attach_ms", bgAttach.empty() ? nlohmann::json(nullptr) : nlohmann::json(median(bgAttach))}};
    b["compile_ms"] = median(pick(v, [](auto& s) { return s.compileMs; }));
    b["load_ms"] = median(pick(v, [](auto& s) { return s.loadMs; }));
    b["attach_ms"] = median(pick(v, [](auto& s) { return s.swapMs; }));
    b["reconcile_ms"] = median(pick(v, [](auto& s) { return s.totalMs; }));
    std::vector<double> before, after;
    for (const auto& s : v)
      if (s.beforeMs >= 0) before.push_back(s.beforeMs), after.push_back(s.afterMs);
    b["before_wait_ms"] = before.empty() ? nlohmann::json(nullptr) : nlohmann::json(median(before));
    b["after_answer_ms"] = after.empty() ? nlohmann::json(nullptr) : nlohmann::json(median(after));
    std::vector<double> rc;
    for (const auto& s : v)
      if (s.recompiled >= 0) rc.push_back(s.recompiled);
    b["endpoints_compiled"] = rc.empty() ? nlohmann::json(nullptr) : nlohmann::json(median(rc));
    b["samples"] = pick(v, [](auto& s) { return s.ms; }).size();
    return b;
  };
  if (!seq.empty())
    j["sequential"] = {{"count", seq.size()}, {"p50_ms", median(seq)}, {"p99_ms", percentile(seq, 0.99)},
                       {"min_ms", percentile(seq, 0)}, {"max_ms", percentile(seq, 1)}, {"per_run_p50_ms", f.perRunP50},
                       {"breakdown", br(f.sequential)}};
  if (!f.burst.empty()) {
    auto swapsOf = [&](auto get) {
      std::vector<double> v;
      for (const auto& l : f.burstSwaps) v.push_back(get(l));
      return median(v);
    };
    j["burst"] = {{"count", f.burst.size()}, {"p50_ms", median(f.burst)}, {"p99_ms", percentile(f.burst, 0.99)},
                  {"min_ms", percentile(f.burst, 0)}, {"max_ms", percentile(f.burst, 1)},
                  {"per_burst_p50_ms", f.burstP50}, {"reconciles_per_burst", f.burstReconciles},
                  {"reconciles",
                   {{"count", f.burstSwaps.size()},
                    {"endpoints_compiled", swapsOf([](const Logged& l) { return double(l.recompiled); })},
                    {"reconcile_ms", swapsOf([](const Logged& l) { return l.totalMs; })},
                    {"lower_ms", swapsOf([](const Logged& l) { return l.lowerMs; })},
                    {"tier_ms", swapsOf([](const Logged& l) { return l.tierMs; })},
                    {"compile_ms", swapsOf([](const Logged& l) { return l.compileMs; })},
                    {"load_ms", swapsOf([](const Logged& l) { return l.loadMs; })},
                    {"attach_ms", swapsOf([](const Logged& l) { return l.attachMs; })}}}};
  }
  return j;
}

nlohmann::json trafficJson(const TrafficFigures& t) {
  nlohmann::json j = {{"routing", t.routing}, {"measured", t.measured}, {"notes", t.notes}};
  if (!t.measured) return j;
  auto side = [](const Side& s) {
    return nlohmann::json{{"gbps", s.gbps}, {"retransmits", s.retransmits}, {"rtt_p50_us", s.p50Us},
                          {"rtt_p99_us", s.p99Us}, {"gbps_median", median(s.gbps)},
                          {"rtt_p50_us_median", median(s.p50Us)}, {"rtt_p99_us_median", median(s.p99Us)},
                          {"denied_port_probe", s.deniedProbe}, {"iperf_cpu_busy", s.iperfBusy},
                          {"rtt_cpu_busy", s.rttBusy}};
  };
  j["sluice"] = side(t.sluice);
  j["baseline"] = side(t.baseline);
  j["throughput_ratio"] = median(t.sluice.gbps) / std::max(1e-9, median(t.baseline.gbps));
  j["added_rtt_p50_us"] = median(t.sluice.p50Us) - median(t.baseline.p50Us);
  j["paired_throughput_ratio"] = t.pairedRatio;
  j["paired_added_rtt_p50_us"] = t.pairedAddedUs;
  j["paired_throughput_ratio_median"] = median(t.pairedRatio);
  j["paired_added_rtt_p50_us_median"] = median(t.pairedAddedUs);
  j["server"] = {{"pod", t.serverPod}, {"ingress_rules", t.serverRules}, {"ingress_policies", t.serverPolicies}};
  j["client"] = {{"pod", t.clientPod}, {"egress_rules", t.clientRules}, {"egress_policies", t.clientPolicies}};
  return j;
}

void printMarkdown(const nlohmann::json& j, const Options& opt, const std::string& command) {
  std::printf("## sluice_cni_bench: pod networking (issue 14)\n\nCommand: `%s`  \n", command.c_str());
  const auto& c = j["cluster"];
  std::printf("Kernel %s, %d CPUs, load average %.2f at the start, %.2f at the end. Cluster: sluice-gen %d pods, "
              "%d NetworkPolicies, %d CiliumNetworkPolicies, %d namespaces, %d services (seed %llu), their pods on "
              "other nodes; three node namespaces with `sluice agent --cni` (masquerade on).\n\n",
              j["kernel"].get<std::string>().c_str(), j["cpus"].get<int>(), j["loadavg_start"].get<double>(),
              j["loadavg_end"].get<double>(), c["pods"].get<int>(), c["policies"].get<int>(), c["cnps"].get<int>(),
              c["namespaces"].get<int>(), c["services"].get<int>(), (unsigned long long)c["seed"].get<uint64_t>());
  if (j.contains("add")) {
    const auto& a = j["add"];
    auto ms = [](const nlohmann::json& v) { return v.is_null() ? std::string("—") : fmt::format("{:.1f}", v.get<double>()); };
    std::printf("### ADD latency, including attach (node-1)\n\n"
                "| ADDs | count | p50 ms | p99 ms | min–max ms | start → veth made | settle | state | lower | compile "
                "| load | attach | answer → exit | endpoints compiled |\n"
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    if (a.contains("sequential")) {
      const auto& s = a["sequential"];
      const auto& b = s["breakdown"];
      std::printf("| one after another | %d | %.1f | %.1f | %.0f–%.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                  s["count"].get<int>(), s["p50_ms"].get<double>(), s["p99_ms"].get<double>(),
                  s["min_ms"].get<double>(), s["max_ms"].get<double>(), ms(b["before_wait_ms"]).c_str(),
                  ms(b["settle_ms"]).c_str(), ms(b["state_ms"]).c_str(), ms(b["lower_ms"]).c_str(),
                  ms(b["compile_ms"]).c_str(), ms(b["load_ms"]).c_str(), ms(b["attach_ms"]).c_str(),
                  ms(b["after_answer_ms"]).c_str(),
                  b["endpoints_compiled"].is_null() ? "—" : fmt::format("{:g}", b["endpoints_compiled"].get<double>()).c_str());
    }
    if (a.contains("burst")) {
      const auto& s = a["burst"];
      const auto& r = s["reconciles"];
      std::printf("| %d at once | %d | %.1f | %.1f | %.0f–%.0f | — | — | — | %s | %s | %s | %s | — | %g per reconcile, "
                  "%zu reconciles |\n",
                  opt.burst, s["count"].get<int>(), s["p50_ms"].get<double>(), s["p99_ms"].get<double>(),
                  s["min_ms"].get<double>(), s["max_ms"].get<double>(), ms(r["lower_ms"]).c_str(),
                  ms(r["compile_ms"]).c_str(), ms(r["load_ms"]).c_str(), ms(r["attach_ms"]).c_str(),
                  r["endpoints_compiled"].get<double>(), r["count"].get<size_t>());
    }
    std::printf(
        "\n- Timed from starting `sluice-cni ADD` (in node-1's namespace, as a runtime runs it) to its exit with the "
        "result: the agent answers once the pod's programs are attached. Percentiles over every ADD of every run.\n"
        "- One after another, medians of: *start → veth made*: from starting sluice-cni until the agent logged the "
        "pod's interface made and began to wait (the plugin starting, the request, the address, the veth); "
        "*settle*: the agent's wait from that wake-up to the reconcile (its --settle-ms quiet time); state "
        "(re-reading the manifests and merging), lower, compile (LLVM), load (the verifier), attach: the agent's "
        "own timings of the reconcile that attached the pod (status().lastSwap); *answer → exit*: from the agent "
        "logging its answer to sluice-cni's exit.\n"
        "- At once: the stage columns are medians over the reconciles that attached the bursts' pods (the agent's "
        "log); an ADD in a burst waits for the reconciles before its own.\n");
  }
  if (j.contains("traffic")) {
    std::printf("\n### Cross-node TCP through sluice against plain routes (client on node-1, server on node-2)\n\n"
                "| routing | baseline Gbit/s | sluice Gbit/s | sluice ÷ baseline | baseline RTT p50 µs | sluice RTT p50 µs "
                "| added µs | RTT p99 µs baseline / sluice | server's ingress rules (policies) | denied-port probe "
                "baseline / sluice |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (const auto& t : j["traffic"]) {
      if (!t["measured"].get<bool>()) {
        std::printf("| %s | — | — | — | — | — | — | — | — | — |\n", t["routing"].get<std::string>().c_str());
        continue;
      }
      std::printf("| %s | %.2f | %.2f | %.3f | %.1f | %.1f | %+.1f | %.1f / %.1f | %zu (%zu) | %s / %s |\n",
                  t["routing"].get<std::string>().c_str(), t["baseline"]["gbps_median"].get<double>(),
                  t["sluice"]["gbps_median"].get<double>(), t["throughput_ratio"].get<double>(),
                  t["baseline"]["rtt_p50_us_median"].get<double>(), t["sluice"]["rtt_p50_us_median"].get<double>(),
                  t["added_rtt_p50_us"].get<double>(), t["baseline"]["rtt_p99_us_median"].get<double>(),
                  t["sluice"]["rtt_p99_us_median"].get<double>(), t["server"]["ingress_rules"].get<size_t>(),
                  t["server"]["ingress_policies"].get<size_t>(),
                  t["baseline"]["denied_port_probe"].get<std::string>().c_str(),
                  t["sluice"]["denied_port_probe"].get<std::string>().c_str());
    }
    std::printf(
        "\n- Medians of %d runs; each run measures both clusters, in alternating order (ABBA). Throughput: iperf3, "
        "%d stream(s), %d s (the first second omitted from 3 s on), received rate. RTT: sockperf ping-pong, 64-byte "
        "TCP messages over one connection, the full round trip of a request and its answer (--full-rtt), client "
        "and server %s; the median and p99 of each run, then their median over runs.\n"
        "- Baseline: the same three-node topology in other namespaces, the pods' veths, addresses, routes and "
        "VXLAN devices made by the functions the agent uses (runtime::createPodInterface, syncPodCidrRoutes, "
        "ensureVxlanDevice + syncVxlanPeers), with no agent and no programs.\n"
        "- sluice: the pods made through sluice-cni; sluice's programs run on both hooks of each pod's veth and on "
        "the ingress of each node's uplink. Denied-port probe: one connect from the client to a listening port (%d) "
        "the bench's policy does not admit (\"timed out\" = dropped by the server's program).\n",
        opt.trafficRuns, opt.streams, opt.durationS,
        opt.pinCpu >= 0 ? fmt::format("both on CPU {}", opt.pinCpu).c_str() : "where the scheduler put them",
        kDeniedPort);
    for (const auto& t : j["traffic"]) {
      if (t.contains("server"))
        std::printf("- %s: server %s, ingress enforced by %zu policies, %zu rules; client %s, egress enforced by %zu "
                    "policies, %zu rules.\n",
                    t["routing"].get<std::string>().c_str(), t["server"]["pod"].get<std::string>().c_str(),
                    t["server"]["ingress_policies"].get<size_t>(), t["server"]["ingress_rules"].get<size_t>(),
                    t["client"]["pod"].get<std::string>().c_str(), t["client"]["egress_policies"].get<size_t>(),
                    t["client"]["egress_rules"].get<size_t>());
      for (const auto& n : t["notes"]) std::printf("- %s: %s\n", t["routing"].get<std::string>().c_str(), n.get<std::string>().c_str());
    }
  }
  if (j.contains("add"))
    for (const auto& n : j["add"]["notes"]) std::printf("- add: %s\n", n.get<std::string>().c_str());
  if (j.contains("error")) std::printf("\n**Failed:** %s\n", j["error"].get<std::string>().c_str());
  std::fflush(stdout);
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) {
  using namespace sluice;
  using namespace sluice::bench;
  CLI::App app{
      "sluice_cni_bench: pod networking as a user meets it (issue 14), on three node namespaces on one L2 segment "
      "with `sluice agent --cni` in-process in each, watching a sluice-gen cluster (its pods count as other nodes' "
      "pods).\n"
      "  add: `sluice-cni ADD` latency including attach on node-1, --adds pods one after another and --burst at "
      "once, per run; p50/p99 and the agent's own per-stage timings.\n"
      "  traffic: cross-node TCP between a client pod (node-1) and a server pod (node-2) made through sluice-cni, "
      "whose programs carry the generated policy plus the bench's two (the server admits the client), against a "
      "baseline built in the same run with the same veths, addresses and routes and no programs; iperf3 throughput "
      "and sockperf ping-pong round trip, the two alternating, for each --routing mode.\n"
      "Prints Markdown on stdout, progress on stderr. Needs root, iperf3 and sockperf (tools/bootstrap).",
      "sluice_cni_bench"};
  Options opt;
  app.add_option("--measure", opt.measure, "What to measure: add, traffic")
      ->delimiter(',')->capture_default_str()->check(CLI::IsMember({"add", "traffic"}));
  app.add_option("--runs", opt.runs, "Runs: rounds of ADDs (and traffic runs, unless --traffic-runs)")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--traffic-runs", opt.trafficRuns, "Traffic runs per routing mode, each measuring both clusters (0: --runs)")
      ->capture_default_str()->check(CLI::Range(0, 100));
  app.add_option("--adds", opt.adds, "ADDs one after another per run")->capture_default_str()->check(CLI::Range(1, 150));
  app.add_option("--burst", opt.burst, "ADDs at once per run (0: none)")->capture_default_str()->check(CLI::Range(0, 50));
  app.add_option("--routing", opt.routing, "Routing modes measured for traffic: native, vxlan")
      ->delimiter(',')->capture_default_str()->check(CLI::IsMember({"native", "vxlan"}));
  app.add_option("--duration-s", opt.durationS, "Seconds per iperf3 and per sockperf run")
      ->capture_default_str()->check(CLI::Range(1, 600));
  app.add_option("--streams", opt.streams, "iperf3 parallel streams (-P)")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--pin-cpu", opt.pinCpu,
                 "Run sockperf's client and server on this CPU (-1: let the scheduler place them; across idle vCPUs "
                 "of a VM a wake-up can add tens of µs to a round trip, in either cluster)")
      ->capture_default_str()->check(CLI::Range(-1, 4095));
  app.add_option("--iperf-cpus", opt.iperfCpus, "CLIENT,SERVER: run iperf3's client and server on these CPUs (default: "
                                                "where the scheduler puts them)")
      ->delimiter(',')->expected(2)->check(CLI::Range(0, 4095));
  app.add_option("--cluster-pods", opt.cluster.pods, "sluice-gen: pods (on nodes other than the bench's three)")
      ->capture_default_str()->check(CLI::Range(20, 100000));
  app.add_option("--policies", opt.cluster.policies, "sluice-gen: NetworkPolicies")->capture_default_str()
      ->check(CLI::Range(0, 100000));
  app.add_option("--cnps", opt.cluster.cnps, "sluice-gen: CiliumNetworkPolicies")->capture_default_str()
      ->check(CLI::Range(0, 100000));
  app.add_option("--namespaces", opt.cluster.namespaces, "sluice-gen: namespaces")->capture_default_str()
      ->check(CLI::Range(5, 10000));
  app.add_option("--services", opt.cluster.services, "sluice-gen: services")->capture_default_str()
      ->check(CLI::Range(2, 100000));
  app.add_option("--seed", opt.cluster.seed, "sluice-gen: seed")->capture_default_str();
  app.add_option("--cni-bin", opt.cniBin, "The sluice-cni to run")->capture_default_str();
  std::string jsonPath;
  app.add_option("--json", jsonPath, "Also write the figures as JSON to this file (for tools/bench-report)");
  app.add_flag("--verbose", gVerbose, "Print the agents' log on stderr");
  app.add_flag("--no-first-tier", [&opt](int64_t) { opt.firstTier = false; },
               "Run the agents with --no-first-tier: an ADD waits for the pod's specialized programs");
  CLI11_PARSE(app, argc, argv);
  if (opt.trafficRuns == 0) opt.trafficRuns = opt.runs;
  if (::geteuid() != 0) {
    std::cerr << "sluice_cni_bench: needs root (network namespaces, bpffs, tc)\n";
    return 2;
  }
  bool wantAdd = std::count(opt.measure.begin(), opt.measure.end(), "add") > 0;
  bool wantTraffic = std::count(opt.measure.begin(), opt.measure.end(), "traffic") > 0;
  if (which(opt.cniBin).empty()) {
    std::cerr << "sluice_cni_bench: no sluice-cni at " << opt.cniBin << " (build it, or pass --cni-bin)\n";
    return 2;
  }
  opt.cniBin = which(opt.cniBin);
  if (wantTraffic)
    for (const char* tool : {"iperf3", "sockperf"})
      if (which(tool).empty()) {
        std::cerr << "sluice_cni_bench: " << tool << " is not installed (tools/bootstrap installs it)\n";
        return 2;
      }
  const std::string command = commandLine(argc, argv);
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  std::signal(SIGPIPE, SIG_IGN);
  std::cout << "# " << command << "\n\n";
  double load[3] = {0, 0, 0};
  ::getloadavg(load, 3);
  nlohmann::json j = {{"cluster",
                       {{"pods", opt.cluster.pods}, {"policies", opt.cluster.policies}, {"cnps", opt.cluster.cnps},
                        {"namespaces", opt.cluster.namespaces}, {"services", opt.cluster.services},
                        {"seed", opt.cluster.seed}}},
                      {"runs", opt.runs}, {"traffic_runs", opt.trafficRuns}, {"duration_s", opt.durationS},
                      {"streams", opt.streams},
                      {"pin_cpu", opt.pinCpu}, {"iperf_cpus", opt.iperfCpus},
                      {"loadavg_start", load[0]}};
  utsname u{};
  ::uname(&u);
  j["kernel"] = u.release;
  j["cpus"] = ::sysconf(_SC_NPROCESSORS_ONLN);
  int status = 0;
  const fs::path logDir = fs::temp_directory_path() / fmt::format("sluice-cni-bench-{}-logs", ::getpid());
  fs::create_directories(logDir);
  try {
    progress("generating the cluster");
    Generated g = generate(opt.cluster, fs::temp_directory_path() / fmt::format("sluice-cni-bench-{}-gen", ::getpid()));
    progress(fmt::format("server: {} workload {} ({} ingress rules from {} policies); client: {} workload {} ({} "
                         "egress rules); {} workloads for ADDs",
                         g.server.ns, g.server.workload, g.server.rules, g.server.policies, g.client.ns,
                         g.client.workload, g.client.rules, g.workloads.size()));
    if (wantAdd) {
      AddFigures f;
      measureAdds(opt, g, f);
      j["add"] = addJson(f, opt);
    }
    if (wantTraffic) {
      j["traffic"] = nlohmann::json::array();
      for (const auto& r : opt.routing) {
        TrafficFigures t;
        try {
          measureTraffic(opt, g, r, t, logDir);
        } catch (const Interrupted&) {
          throw;
        } catch (const std::exception& e) {
          t.notes.push_back(e.what());
          status = 1;
          progress(fmt::format("traffic, {}: failed: {}", r, e.what()));
        }
        j["traffic"].push_back(trafficJson(t));
      }
    }
  } catch (const Interrupted&) {
    j["error"] = "interrupted";
    status = 130;
  } catch (const std::exception& e) {
    j["error"] = e.what();
    progress(std::string("sluice_cni_bench: ") + e.what());
    status = 1;
  }
  {
    std::lock_guard<std::mutex> lock(gChildrenMu);
    for (pid_t pid : gChildren) ::kill(pid, SIGKILL);
  }
  std::error_code ec;
  if (status == 0)
    fs::remove_all(logDir, ec);
  else
    progress("the servers' logs are in " + logDir.string());
  ::getloadavg(load, 3);
  j["loadavg_end"] = load[0];
  printMarkdown(j, opt, command);
  if (!jsonPath.empty() && !writeJsonFile(jsonPath, "sluice_cni_bench", command, j)) return 1;
  return status;
}
