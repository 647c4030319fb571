// sluice_kubeproxy_bench: kube-proxy's data plane as a baseline, measured in
// the same run as sluice (issue 7). For N ClusterIP services, each with three
// backends, a client pod connects to service addresses picked at random over
// all N, sequentially for a fixed time, and the connection setup rate and the
// time connect() takes (SYN out, SYN-ACK back: the first packet's path) are
// measured with
//   - iptables-legacy: the nat/filter rules kube-proxy's iptables mode writes
//     (KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-* with `-m statistic`), loaded
//     with one iptables-legacy-restore;
//   - iptables-nft: the same file loaded with iptables-nft-restore (what
//     Debian 12's `iptables` is);
//   - nftables: the table kube-proxy's nftables mode writes (`service-ips`
//     verdict map, `numgen random mod n vmap`), loaded with one `nft -f`;
//   - sluice: the same services compiled and loaded by sluice, its programs
//     attached with tc to the pods' host-side veths;
// and, as the floor, the same client connecting to the backend pods' own
// addresses on a node with none of the above ("none"). Each mode also
// connects to the pods directly with its rules in place ("direct" columns).
//
// Topology (tests/kernel/netns_cluster.h): one node namespace, the client pod
// 10.77.1.10 and backend pods 10.77.1.20-22 (accepting on 8080) behind it.
// Service i: cluster IP 10.96.0.1 + i, port 80/TCP -> 8080 on the three
// backends. A fresh namespace cluster per mode and size, so nothing one mode
// leaves behind (rules, conntrack entries, tc programs) reaches another; the
// namespaces, and with them every rule, are removed when the mode is done,
// also on failure or Ctrl-C.
//
// A benchmark, not a test: needs root, prints Markdown on stdout (progress on
// stderr), no ctest.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "codegen/codegen.h"
#include "frontend/manifest_loader.h"
#include "runtime/kernel_cluster.h"
#include "runtime/tc_attach.h"
#include "tests/kernel/netns_cluster.h"

namespace sluice::bench {
namespace {

using kernel_testing::NetnsCluster;

std::atomic<bool> gStop{false};
extern "C" void onSignal(int) { gStop = true; }

constexpr uint16_t kServicePort = 80, kTargetPort = 8080;
const char* const kNode = "node-1";
const char* const kNodeIp = "192.168.77.1";
const char* const kPodCidr = "10.77.1.0/24";
const char* const kClusterCidr = "10.77.0.0/16";  // kube-proxy's --cluster-cidr
const char* const kClientIp = "10.77.1.10";
const std::vector<std::string> kBackendIps = {"10.77.1.20", "10.77.1.21", "10.77.1.22"};

std::string clusterIp(int i) {
  uint32_t a = 0x0a600000u + 1 + uint32_t(i);
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

// kube-proxy names chains by a hash of the service port (and endpoint): the
// first characters of base32(sha256(...)). Any stable hash gives the same
// shape; FNV-1a, base32-spelled.
std::string chainHash(const std::string& s, size_t len) {
  static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  uint64_t h = 1469598103934665603ull;
  for (int round = 0; out.size() < len; ++round) {
    for (char c : s + char('0' + round)) h = (h ^ uint8_t(c)) * 1099511628211ull;
    for (int k = 0; k < 12 && out.size() < len; ++k) out += kAlphabet[(h >> (5 * k)) & 31];
  }
  return out;
}

// ---- kube-proxy, iptables mode ------------------------------------------------

// What kube-proxy's iptables mode (v1.28+) writes for ClusterIP services
// with local endpoints and --cluster-cidr set, in one iptables-restore input.
std::string iptablesRules(int services) {
  std::string f;
  f.reserve(size_t(services) * 1200 + 4096);
  f += "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
       ":KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FIREWALL - [0:0]\n:KUBE-FORWARD - [0:0]\n"
       ":KUBE-KUBELET-CANARY - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n"
       ":KUBE-PROXY-FIREWALL - [0:0]\n:KUBE-SERVICES - [0:0]\n"
       "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"
       "-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS\n"
       "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n"
       "-A INPUT -j KUBE-FIREWALL\n"
       "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"
       "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n"
       "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
       "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n"
       "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"
       "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
       "-A OUTPUT -j KUBE-FIREWALL\n"
       "-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" "
       "-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n"
       "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
       "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n"
       "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate "
       "RELATED,ESTABLISHED -j ACCEPT\n"
       "COMMIT\n";
  f += "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
       ":KUBE-KUBELET-CANARY - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-NODEPORTS - [0:0]\n"
       ":KUBE-POSTROUTING - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n:KUBE-SERVICES - [0:0]\n";
  std::string chains, rules;
  chains.reserve(size_t(services) * 120);
  rules.reserve(size_t(services) * 1100);
  for (int i = 0; i < services; ++i) {
    const std::string svcName = fmt::format("bench/s{}:http", i), ip = clusterIp(i);
    const std::string svc = "KUBE-SVC-" + chainHash(svcName + "tcp", 16);
    chains += ":" + svc + " - [0:0]\n";
    rules += fmt::format("-A KUBE-SERVICES -d {0}/32 -p tcp -m comment --comment \"{1} cluster IP\" -m tcp --dport {2} "
                         "-j {3}\n",
                         ip, svcName, kServicePort, svc);
    rules += fmt::format("-A {0} ! -s {1} -d {2}/32 -p tcp -m comment --comment \"{3} cluster IP\" -m tcp --dport {4} "
                         "-j KUBE-MARK-MASQ\n",
                         svc, kClusterCidr, ip, svcName, kServicePort);
    const size_t n = kBackendIps.size();
    for (size_t k = 0; k < n; ++k) {
      const std::string& be = kBackendIps[k];
      const std::string sep = "KUBE-SEP-" + chainHash(svcName + "tcp" + be, 16);
      chains += ":" + sep + " - [0:0]\n";
      if (k + 1 < n)
        rules += fmt::format("-A {0} -m comment --comment \"{1} -> {2}:{3}\" -m statistic --mode random --probability "
                             "{4:.11f} -j {5}\n",
                             svc, svcName, be, kTargetPort, 1.0 / double(n - k), sep);
      else
        rules += fmt::format("-A {0} -m comment --comment \"{1} -> {2}:{3}\" -j {4}\n", svc, svcName, be, kTargetPort,
                             sep);
      rules += fmt::format("-A {0} -s {1}/32 -m comment --comment \"{2}\" -j KUBE-MARK-MASQ\n", sep, be, svcName);
      rules += fmt::format("-A {0} -p tcp -m comment --comment \"{1}\" -m tcp -j DNAT --to-destination {2}:{3}\n", sep,
                           svcName, be, kTargetPort);
    }
  }
  f += chains;
  f += "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
       "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
       "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n"
       "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
       "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
       "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n"
       "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE "
       "--random-fully\n";
  f += rules;
  // Last in KUBE-SERVICES, as kube-proxy keeps it: every new connection that
  // is not to a service walks the whole chain before reaching it.
  f += "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this "
       "chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n"
       "COMMIT\n";
  return f;
}

// ---- kube-proxy, nftables mode --------------------------------------------------

// What kube-proxy's nftables mode (v1.31) writes for the same services, in
// one `nft -f` input.
std::string nftRules(int services) {
  std::string f;
  f.reserve(size_t(services) * 1000 + 4096);
  f += "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\n"
       "add chain ip kube-proxy mark-for-masquerade\n"
       "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000\n"
       "add chain ip kube-proxy masquerading\n"
       "add rule ip kube-proxy masquerading mark and 0x4000 == 0 return\n"
       "add rule ip kube-proxy masquerading mark set mark xor 0x4000\n"
       "add rule ip kube-proxy masquerading masquerade fully-random\n"
       "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"ClusterIP, "
       "ExternalIP and LoadBalancer IP traffic\" ; }\n"
       "add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment \"NodePort traffic\" ; }\n"
       "add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "
       "\"vmap to drop or reject packets to services with no endpoints\" ; }\n"
       "add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment \"vmap to drop "
       "or reject packets to service nodeports with no endpoints\" ; }\n"
       "add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"destinations "
       "that are subject to LoadBalancerSourceRanges\" ; }\n"
       "add set ip kube-proxy cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }\n"
       "add chain ip kube-proxy services\n"
       "add chain ip kube-proxy nodeport-endpoints-check\n"
       "add chain ip kube-proxy service-endpoints-check\n"
       "add chain ip kube-proxy firewall-check\n"
       "add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips\n"
       "add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services\n"
       "add rule ip kube-proxy nodeport-endpoints-check ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap "
       "@no-endpoint-nodeports\n"
       "add chain ip kube-proxy cluster-ips-check\n"
       "add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment \"Reject traffic to invalid ports "
       "of ClusterIPs\"\n"
       "add chain ip kube-proxy filter-prerouting { type filter hook prerouting priority -110 ; }\n"
       "add rule ip kube-proxy filter-prerouting ct state new jump firewall-check\n"
       "add chain ip kube-proxy filter-forward { type filter hook forward priority -110 ; }\n"
       "add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check\n"
       "add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check\n"
       "add chain ip kube-proxy filter-input { type filter hook input priority -110 ; }\n"
       "add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check\n"
       "add rule ip kube-proxy filter-input ct state new jump service-endpoints-check\n"
       "add chain ip kube-proxy filter-output { type filter hook output priority -110 ; }\n"
       "add rule ip kube-proxy filter-output ct state new jump service-endpoints-check\n"
       "add rule ip kube-proxy filter-output ct state new jump firewall-check\n"
       "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }\n"
       "add rule ip kube-proxy nat-prerouting jump services\n"
       "add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }\n"
       "add rule ip kube-proxy nat-output jump services\n"
       "add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }\n"
       "add rule ip kube-proxy nat-postrouting jump masquerading\n"
       "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips\n"
       "add rule ip kube-proxy services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap "
       "@service-nodeports\n";
  std::string elements, ips;
  for (int i = 0; i < services; ++i) {
    const std::string key = fmt::format("bench/s{}/tcp/http", i), ip = clusterIp(i);
    const std::string svc = fmt::format("service-{}-{}", chainHash(key, 8), key);
    f += fmt::format("add chain ip kube-proxy {}\n", svc);
    f += fmt::format("add rule ip kube-proxy {} ip daddr {} tcp dport {} ip saddr != {} jump mark-for-masquerade\n", svc,
                     ip, kServicePort, kClusterCidr);
    std::string vmap;
    for (size_t k = 0; k < kBackendIps.size(); ++k) {
      const std::string& be = kBackendIps[k];
      const std::string ep = fmt::format("endpoint-{}-{}__{}/{}", chainHash(key + be, 8), key, be, kTargetPort);
      f += fmt::format("add chain ip kube-proxy {}\n", ep);
      f += fmt::format("add rule ip kube-proxy {} ip saddr {} jump mark-for-masquerade\n", ep, be);
      f += fmt::format("add rule ip kube-proxy {} meta l4proto tcp dnat to {}:{}\n", ep, be, kTargetPort);
      vmap += fmt::format("{}{} : goto {}", k ? " , " : "", k, ep);
    }
    f += fmt::format("add rule ip kube-proxy {} numgen random mod {} vmap {{ {} }}\n", svc, kBackendIps.size(), vmap);
    elements += fmt::format("add element ip kube-proxy service-ips {{ {} . tcp . {} : goto {} }}\n", ip, kServicePort, svc);
    ips += fmt::format("add element ip kube-proxy cluster-ips {{ {} }}\n", ip);
  }
  return f + elements + ips;
}

// ---- sluice ------------------------------------------------------------------------

std::string sluiceManifests(int services) {
  std::string y = fmt::format(
      "---\napiVersion: v1\nkind: Node\nmetadata: {{name: {}}}\nspec: {{podCIDR: {}}}\n"
      "status: {{addresses: [{{type: InternalIP, address: {}}}]}}\n"
      "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: bench}}\n",
      kNode, kPodCidr, kNodeIp);
  auto pod = [&](const std::string& name, const std::string& app, const std::string& ip) {
    y += fmt::format("---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {}, namespace: bench, labels: {{app: {}}}}}\n"
                     "spec: {{nodeName: {}, containers: [{{name: main, ports: [{{name: http, containerPort: {}}}]}}]}}\n"
                     "status: {{phase: Running, podIP: {}}}\n",
                     name, app, kNode, kTargetPort, ip);
  };
  pod("client", "client", kClientIp);
  for (size_t k = 0; k < kBackendIps.size(); ++k) pod(fmt::format("be{}", k), "backend", kBackendIps[k]);
  for (int i = 0; i < services; ++i) {
    y += fmt::format(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{0}, namespace: bench}}\n"
        "spec: {{clusterIP: {1}, selector: {{app: backend}}, ports: [{{name: http, port: {2}, targetPort: {3}}}]}}\n"
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
        "metadata: {{name: s{0}-1, namespace: bench, labels: {{kubernetes.io/service-name: s{0}}}}}\n"
        "addressType: IPv4\nports: [{{name: http, port: {3}, protocol: TCP}}]\nendpoints:\n",
        i, clusterIp(i), kServicePort, kTargetPort);
    for (size_t k = 0; k < kBackendIps.size(); ++k)
      y += fmt::format("- {{addresses: [{}], conditions: {{ready: true}}, nodeName: {}, targetRef: {{kind: Pod, name: "
                       "be{}, namespace: bench}}}}\n",
                       kBackendIps[k], kNode, k);
  }
  return y;
}

// ---- servers and the client ----------------------------------------------------------

// Accepts on 0.0.0.0:8080 in a backend pod and closes every connection at
// once; one thread, until destroyed (shutdown() wakes the blocking accept).
class AcceptServer {
 public:
  AcceptServer(const NetnsCluster& net, const std::string& pod) {
    fd_ = kernel_testing::socketInNetns(net.podNetnsPath(pod), AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(kTargetPort);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 4096) != 0) {
      std::string err = std::strerror(errno);
      ::close(fd_);
      throw std::runtime_error(fmt::format("server in {}: {}", pod, err));
    }
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          ::close(c);
        } else if (errno != EINTR && errno != ECONNABORTED) {
          return;
        }
      }
    });
  }
  ~AcceptServer() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  AcceptServer(const AcceptServer&) = delete;
  AcceptServer& operator=(const AcceptServer&) = delete;

 private:
  int fd_ = -1;
  std::thread thread_;
};

struct Sample {
  double connPerSec = 0, medianUs = 0, p99Us = 0;
  uint64_t ok = 0, failed = 0;
  std::string firstError;
};

// Sequential connect + close (RST: SO_LINGER 0, so no TIME_WAIT eats the
// ports) from the client pod for `ms`, to targets[rng()]. Source ports: bound
// explicitly, 1024 upwards, so that no two connections of one call share a
// 5-tuple (the call stops after 64,000 connections); with `ephemeral`, left to
// the kernel, which reuses the ports of earlier (reset) connections.
constexpr uint32_t kMaxConnections = 64000;
Sample connectLoop(const NetnsCluster& net, const std::vector<std::string>& targetIps, uint16_t port, int ms,
                   uint32_t seed, bool ephemeral) {
  Sample s;
  std::vector<sockaddr_in> targets;
  for (const auto& ip : targetIps) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    targets.push_back(a);
  }
  std::vector<double> us;
  us.reserve(200000);
  net.runInPod("client", [&] {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<size_t> pick(0, targets.size() - 1);
    const linger lg{1, 0};
    const timeval tv{3, 0};  // a lost SYN is retransmitted after 1 s: counted, not failed
    auto t0 = Clock::now(), end = t0 + std::chrono::milliseconds(ms);
    uint32_t n = 0;
    for (auto now = t0; now < end && !gStop && (ephemeral || n < kMaxConnections); now = Clock::now(), ++n) {
      const sockaddr_in& to = targets[pick(rng)];
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        if (s.firstError.empty()) s.firstError = std::string("socket: ") + std::strerror(errno);
        ++s.failed;
        continue;
      }
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (!ephemeral) {
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_port = htons(uint16_t(1024 + n));
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) {
          if (s.firstError.empty()) s.firstError = fmt::format("bind {}: {}", 1024 + n, std::strerror(errno));
          ++s.failed;
          ::close(fd);
          continue;
        }
      }
      auto c0 = Clock::now();
      int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to);
      auto c1 = Clock::now();
      if (r == 0) {
        ++s.ok;
        us.push_back(std::chrono::duration<double, std::micro>(c1 - c0).count());
      } else {
        if (s.firstError.empty()) {
          char buf[INET_ADDRSTRLEN];
          inet_ntop(AF_INET, &to.sin_addr, buf, sizeof buf);
          s.firstError = fmt::format("connect {}:{}: {}", buf, port, std::strerror(errno));
        }
        ++s.failed;
      }
      ::close(fd);
    }
    s.connPerSec = double(s.ok) / (msSince(t0) / 1000.0);
  });
  std::sort(us.begin(), us.end());
  if (!us.empty()) {
    s.medianUs = median(us);
    s.p99Us = us[std::min(us.size() - 1, size_t(double(us.size()) * 0.99))];
  }
  return s;
}

// ---- one mode at one size -------------------------------------------------------------

struct Options {
  std::vector<int> services{10, 1000, 10000};
  std::vector<std::string> modes{"none", "iptables-legacy", "iptables-nft", "nftables", "sluice"};
  int runs = 3;
  int durationMs = 1500;
  bool ephemeral = false;  // kernel-chosen source ports, sluice's tracking map not emptied between figures
};

struct Cell {
  std::string mode;
  int services = 0;
  bool measured = false;
  double loadMs = 0;  // installing the rules / compiling, loading and attaching
  std::vector<double> svcRate, svcMed, svcP99, podRate, podMed, podP99;
  uint64_t failed = 0;
  std::vector<std::string> notes;
};

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sluice-kpbench-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out.good()) throw std::runtime_error("cannot write " + path);
}

bool installMode(const std::string& mode, int services, NetnsCluster& net, const std::string& dir,
                 std::unique_ptr<runtime::KernelCluster>& kernel, Cell& cell) {
  if (mode == "none") return true;
  if (mode == "iptables-legacy" || mode == "iptables-nft") {
    const std::string file = dir + "/iptables.rules";
    writeFile(file, iptablesRules(services));
    auto t0 = Clock::now();
    auto r = net.execInNode(kNode, {mode + "-restore", file});
    cell.loadMs = msSince(t0);
    if (!r.ok()) cell.notes.push_back(mode + "-restore failed: " + r.output.substr(0, 300));
    return r.ok();
  }
  if (mode == "nftables") {
    const std::string file = dir + "/kube-proxy.nft";
    writeFile(file, nftRules(services));
    auto t0 = Clock::now();
    auto r = net.execInNode(kNode, {"nft", "-f", file});
    cell.loadMs = msSince(t0);
    if (!r.ok()) cell.notes.push_back("nft -f failed: " + r.output.substr(0, 300));
    return r.ok();
  }
  if (mode == "sluice") {
    auto t0 = Clock::now();
    ClusterState state;
    Diagnostics diags;
    if (!loadManifestText("kubeproxy-bench.yaml", sluiceManifests(services), state, diags)) {
      cell.notes.push_back("manifests: " + diags.render(false).substr(0, 300));
      return false;
    }
    state.finalize();
    kernel = std::make_unique<runtime::KernelCluster>();
    if (!kernel->build(state, diags)) {
      cell.notes.push_back("build: " + diags.render(false).substr(0, 300));
      return false;
    }
    const ir::NodeProgram* np = kernel->program().findNode(kNode);
    runtime::LoadedNode* node = kernel->loaded(kNode);
    if (!np || !node) {
      cell.notes.push_back("no program for the node");
      return false;
    }
    std::vector<std::pair<std::string, std::string>> pods = {{"client", "bench/client"}};
    for (size_t k = 0; k < kBackendIps.size(); ++k) pods.push_back({fmt::format("be{}", k), fmt::format("bench/be{}", k)});
    for (const auto& [pod, key] : pods) {
      const ir::Endpoint* ep = np->findEndpoint(key);
      if (!ep) {
        cell.notes.push_back("no endpoint " + key);
        return false;
      }
      int from = node->programFd(codegen::programName(*np, *ep, ir::Direction::Egress));
      int to = node->programFd(codegen::programName(*np, *ep, ir::Direction::Ingress));
      int ifindex = net.hostIfindex(pod);
      std::string error;
      bool ok = false;
      net.runInNode(kNode, [&] {
        ok = runtime::attachTc(ifindex, runtime::TcHook::Ingress, from, error) &&
             runtime::attachTc(ifindex, runtime::TcHook::Egress, to, error);
      });
      if (!ok) {
        cell.notes.push_back("attach: " + error);
        return false;
      }
    }
    cell.loadMs = msSince(t0);
    return true;
  }
  cell.notes.push_back("unknown mode " + mode);
  return false;
}

void measureCell(const std::string& mode, int services, const Options& opt, Cell& cell) {
  cell.mode = mode;
  cell.services = services;
  std::fprintf(stderr, "%s, %d services: setting up\n", mode.c_str(), services);
  NetnsCluster net;  // declared first: destroyed last
  net.addNode(kNode, kNodeIp, kPodCidr);
  net.addPod(kNode, "client", kClientIp);
  for (size_t k = 0; k < kBackendIps.size(); ++k) net.addPod(kNode, fmt::format("be{}", k), kBackendIps[k]);
  TempDir dir;
  std::unique_ptr<runtime::KernelCluster> kernel;  // pins removed with it, after the namespaces' tc hooks
  std::vector<std::unique_ptr<AcceptServer>> servers;
  for (size_t k = 0; k < kBackendIps.size(); ++k) servers.push_back(std::make_unique<AcceptServer>(net, fmt::format("be{}", k)));
  if (!installMode(mode, services, net, dir.path, kernel, cell)) return;
  std::fprintf(stderr, "%s, %d services: installed in %.0f ms\n", mode.c_str(), services, cell.loadMs);

  int ctFd = -1;
  if (kernel) {
    runtime::LoadedNode* node = kernel->loaded(kNode);
    ctFd = node ? node->mapFd(SLUICE_MAP_CT) : -1;
  }
  std::vector<std::string> serviceIps;
  for (int i = 0; i < services; ++i) serviceIps.push_back(clusterIp(i));
  // A check first: a service (when the mode has them) and a pod answer.
  if (mode != "none") {
    Sample c = connectLoop(net, serviceIps, kServicePort, 100, 1, opt.ephemeral);
    if (c.ok == 0 || c.failed) {
      cell.notes.push_back(fmt::format("check: {} ok, {} failed: {}", c.ok, c.failed, c.firstError));
      return;
    }
  }
  for (int run = 0; run < opt.runs && !gStop; ++run) {
    std::fprintf(stderr, "%s, %d services: run %d/%d\n", mode.c_str(), services, run + 1, opt.runs);
    // sluice tracks connections until its LRU map evicts them (no TCP state):
    // a 5-tuple reused while its entry lives meets the old connection's
    // translation. Unless --ephemeral-ports, every figure starts from an
    // empty tracking map, as each one uses source ports 1024 upwards.
    if (ctFd >= 0 && !opt.ephemeral) clearCt(ctFd);
    if (mode != "none") {
      Sample s = connectLoop(net, serviceIps, kServicePort, opt.durationMs, 1000u + uint32_t(run), opt.ephemeral);
      cell.svcRate.push_back(s.connPerSec);
      cell.svcMed.push_back(s.medianUs);
      cell.svcP99.push_back(s.p99Us);
      cell.failed += s.failed;
      if (!s.firstError.empty()) cell.notes.push_back(s.firstError);
    }
    if (ctFd >= 0 && !opt.ephemeral) clearCt(ctFd);
    Sample p = connectLoop(net, kBackendIps, kTargetPort, opt.durationMs, 2000u + uint32_t(run), opt.ephemeral);
    cell.podRate.push_back(p.connPerSec);
    cell.podMed.push_back(p.medianUs);
    cell.podP99.push_back(p.p99Us);
    cell.failed += p.failed;
    if (!p.firstError.empty()) cell.notes.push_back(p.firstError);
  }
  cell.measured = !gStop;
  servers.clear();
}

std::string f0(double v) { return fmt::format("{:.0f}", v); }
std::string f1(double v) { return fmt::format("{:.1f}", v); }

void printTable(const std::vector<Cell>& cells, const Options& opt, const std::string& command) {
  utsname u{};
  ::uname(&u);
  std::map<int, const Cell*> floor;
  for (const auto& c : cells)
    if (c.mode == "none" && c.measured) floor[c.services] = &c;
  std::printf("## sluice_kubeproxy_bench: connection setup through kube-proxy's rules and sluice, medians of %d runs\n\n",
              opt.runs);
  std::printf("Command: `%s`  \n", command.c_str());
  std::printf("Kernel %s, %ld CPUs; %d ms of sequential connect + close (RST) per figure and run (at most %u "
              "connections); source ports %s; one client, three backends, one node namespace.\n\n",
              u.release, ::sysconf(_SC_NPROCESSORS_ONLN), opt.durationMs, kMaxConnections,
              opt.ephemeral ? "chosen by the kernel (reused), sluice's tracking map kept between figures"
                            : "1024 upwards in each figure, sluice's tracking map emptied before each");
  std::printf("| mode | services | load ms | to a service: conn/s | median µs | p99 µs | conn/s × floor | median × "
              "floor | to a pod directly: conn/s | median µs | p99 µs |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& c : cells) {
    if (!c.measured) {
      std::printf("| %s | %d | — | — | — | — | — | — | — | — | — |\n", c.mode.c_str(), c.services);
      continue;
    }
    const Cell* fl = floor.count(c.services) ? floor[c.services] : nullptr;
    bool svc = !c.svcRate.empty();
    std::string ratioRate = "—", ratioMed = "—";
    if (fl && svc) {
      ratioRate = fmt::format("{:.2f}", median(c.svcRate) / std::max(1e-9, median(fl->podRate)));
      ratioMed = fmt::format("{:.2f}", median(c.svcMed) / std::max(1e-9, median(fl->podMed)));
    }
    std::printf("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.mode.c_str(), c.services,
                c.mode == "none" ? "—" : f0(c.loadMs).c_str(), svc ? f0(median(c.svcRate)).c_str() : "—",
                svc ? f1(median(c.svcMed)).c_str() : "—", svc ? f1(median(c.svcP99)).c_str() : "—", ratioRate.c_str(),
                ratioMed.c_str(), f0(median(c.podRate)).c_str(), f1(median(c.podMed)).c_str(),
                f1(median(c.podP99)).c_str());
  }
  std::printf(
      "\n- floor: mode `none`, no service datapath at all, the client connecting to the backend pods' addresses "
      "(the \"to a pod directly\" columns of that row); × floor compares a mode's service figures with it.\n"
      "- Service targets are drawn at random over all N services (cluster IPs 10.96.0.1 + i, port 80 → 8080, three "
      "backends each); pod targets at random over the three backends (port 8080).\n"
      "- iptables-legacy / iptables-nft: kube-proxy's iptables-mode rules (KUBE-SERVICES → KUBE-SVC-* → KUBE-SEP-*, "
      "`-m statistic --mode random`, DNAT) in one iptables-restore, with the legacy (x_tables) and the nf_tables "
      "backend; nftables: kube-proxy's nftables-mode table (`service-ips` verdict map, `numgen random mod 3 vmap`) "
      "in one `nft -f`; sluice: compiled, loaded and attached with tc (load ms: lower + compile + load + attach).\n");
  for (const auto& c : cells)
    for (size_t i = 0; i < c.notes.size() && i < 3; ++i)
      std::printf("- note (%s, %d services): %s\n", c.mode.c_str(), c.services, c.notes[i].c_str());
  for (const auto& c : cells)
    if (c.failed) std::printf("- %s, %d services: %llu connections failed\n", c.mode.c_str(), c.services,
                              (unsigned long long)c.failed);
}

// The same figures for tools/bench-report: medians per cell; x_floor as in the table.
nlohmann::json toJson(const std::vector<Cell>& cells, const Options& opt) {
  std::map<int, const Cell*> floor;
  for (const auto& c : cells)
    if (c.mode == "none" && c.measured) floor[c.services] = &c;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : cells) {
    nlohmann::json j = {{"mode", c.mode}, {"services", c.services}, {"measured", c.measured},
                        {"failed_connections", c.failed}, {"notes", c.notes}};
    if (c.measured) {
      if (c.mode != "none") j["load_ms"] = c.loadMs;
      j["pod_conn_per_s"] = median(c.podRate), j["pod_median_us"] = median(c.podMed), j["pod_p99_us"] = median(c.podP99);
      if (!c.svcRate.empty()) {
        j["service_conn_per_s"] = median(c.svcRate), j["service_median_us"] = median(c.svcMed);
        j["service_p99_us"] = median(c.svcP99);
        if (const Cell* fl = floor.count(c.services) ? floor[c.services] : nullptr) {
          j["service_rate_x_floor"] = median(c.svcRate) / std::max(1e-9, median(fl->podRate));
          j["service_median_x_floor"] = median(c.svcMed) / std::max(1e-9, median(fl->podMed));
        }
      }
    }
    out.push_back(j);
  }
  return {{"runs", opt.runs}, {"duration_ms", opt.durationMs}, {"cells", out}};
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) {
  using namespace sluice::bench;
  CLI::App app{"sluice_kubeproxy_bench: connection setup rate and connect() latency to N services through "
               "kube-proxy's iptables and nftables rules and through sluice, against the direct-pod floor. Needs root.",
               "sluice_kubeproxy_bench"};
  Options opt;
  app.add_option("--services", opt.services, "Numbers of services")->delimiter(',')->capture_default_str()
      ->check(CLI::Range(1, 60000));
  app.add_option("--modes", opt.modes, "Modes: none, iptables-legacy, iptables-nft, nftables, sluice")
      ->delimiter(',')->capture_default_str()
      ->check(CLI::IsMember({"none", "iptables-legacy", "iptables-nft", "nftables", "sluice"}));
  app.add_option("--runs", opt.runs, "Runs per figure (medians reported)")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--duration-ms", opt.durationMs, "Connecting time per figure and run")->capture_default_str()
      ->check(CLI::Range(50, 60000));
  app.add_flag("--ephemeral-ports", opt.ephemeral,
               "Let the kernel choose source ports (reused across figures) and keep sluice's tracking map between "
               "figures");
  std::string jsonPath;
  app.add_option("--json", jsonPath, "Also write the figures as JSON to this file (for tools/bench-report)");
  CLI11_PARSE(app, argc, argv);
  if (::geteuid() != 0) {
    std::cerr << "sluice_kubeproxy_bench: needs root (network namespaces, iptables, nft, bpffs, tc)\n";
    return 2;
  }
  std::string command = "sluice_kubeproxy_bench";
  for (int i = 1; i < argc; ++i) command += " " + shellQuote(argv[i]);
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  std::vector<Cell> cells;
  for (int n : opt.services)
    for (const auto& mode : opt.modes) {
      if (gStop) break;
      Cell cell;
      cell.mode = mode;
      cell.services = n;
      try {
        measureCell(mode, n, opt, cell);
      } catch (const std::exception& e) {
        cell.measured = false;
        cell.notes.push_back(e.what());
      }
      cells.push_back(std::move(cell));
    }
  printTable(cells, opt, command);
  if (!jsonPath.empty() && !writeJsonFile(jsonPath, "sluice_kubeproxy_bench", command, toJson(cells, opt))) return 1;
  return gStop ? 130 : 0;
}
