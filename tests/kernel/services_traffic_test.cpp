// Services with real traffic: sluice's programs attached with tc to the
// host-side veths of a two-node namespace cluster; pods connect to cluster
// IPs with ordinary sockets, and the datapath translates, answers and
// reverse-translates.
//
//   node-1 (192.168.77.1)                    node-2 (192.168.77.2)
//     x/client 10.77.1.10                      x/client2 10.77.2.10
//     x/web1   10.77.1.20 (listens on 8080)    x/web2    10.77.2.20 (listens on 8080)
//                                              x/web3    10.77.2.21 (listens on 8080)
//
//   x/web    10.96.7.10:80 -> 8080 on web1 and web2 (both nodes)
//   x/empty  10.96.7.11:80, 53/UDP, no endpoints
//   x/self   10.96.7.12:80 -> 8080 on the client itself (hairpin)
//   x/trio   10.96.7.13:80 -> 8080 on web1, web2, web3
//   x/sticky 10.96.7.14:80 -> 8080 on web1, web2, web3, sessionAffinity ClientIP (10800 s)
//
// (Which test listens where is up to each test; a listening server is only
// started by the tests that need it.)
//
// These tests need root; they fail (never skip) without it.
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
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

struct PodDef {
  std::string name, node, ip;
  std::string key() const { return "x/" + name; }
};
const std::vector<PodDef> kPods = {
    {"client", "node-1", "10.77.1.10"}, {"web1", "node-1", "10.77.1.20"}, {"web2", "node-2", "10.77.2.20"},
    {"web3", "node-2", "10.77.2.21"},   {"client2", "node-2", "10.77.2.10"}};

const PodDef& podDef(const std::string& name) {
  for (const auto& p : kPods)
    if (p.name == name) return p;
  throw std::invalid_argument("no pod " + name);
}

std::string endpoints(const std::vector<PodDef>& backends) {
  std::string y;
  for (const auto& b : backends)
    y += fmt::format("- {{addresses: [{}], conditions: {{ready: true}}, nodeName: {}, targetRef: {{kind: Pod, name: {}, "
                     "namespace: x}}}}\n",
                     b.ip, b.node, b.name);
  return y;
}

std::string manifests(const NetnsCluster& net) {
  std::string y = net.nodeManifests();
  y += "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n";
  for (const auto& p : kPods)
    y += fmt::format("---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {}, namespace: x, labels: {{app: {}}}}}\n"
                     "spec: {{nodeName: {}, containers: [{{name: main, ports: [{{name: http, containerPort: 8080}}]}}]}}\n"
                     "status: {{phase: Running, podIP: {}}}\n",
                     p.name, p.name, p.node, net.podIp(p.name));
  auto service = [&](const std::string& name, const std::string& ip, const std::string& ports,
                     const std::string& extraSpec = "") {
    y += fmt::format("---\napiVersion: v1\nkind: Service\nmetadata: {{name: {}, namespace: x}}\n"
                     "spec: {{clusterIP: {}, ports: {}{}}}\n",
                     name, ip, ports, extraSpec);
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
  const std::vector<PodDef> three = {podDef("web1"), podDef("web2"), podDef("web3")};
  service("trio", "10.96.7.13", "[{name: http, port: 80, targetPort: 8080}]");
  slice("trio", three);
  service("sticky", "10.96.7.14", "[{name: http, port: 80, targetPort: 8080}]",
          ", sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 10800}}");
  slice("sticky", three);
  return y;
}

// ---- "who are you" server and client ----------------------------------------------

using Clock = std::chrono::steady_clock;

// Listens on 0.0.0.0:port in a pod; answers every connection with `name` and
// closes it (FIN). One background thread, until destroyed.
class NameServer {
 public:
  NameServer(const NetnsCluster& net, const std::string& pod, uint16_t port) : name_(pod) {
    fd_ = socketInNetns(net.podNetnsPath(pod), AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 512) != 0 ||
        pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
      std::string err = std::strerror(errno);
      closeAll();
      throw std::runtime_error(fmt::format("name server in {} on {}: {}", pod, port, err));
    }
    thread_ = std::thread([this] { loop(); });
  }
  ~NameServer() {
    if (thread_.joinable()) {
      char c = 1;
      if (write(wake_[1], &c, 1) < 0) { /* non-blocking pipe: a full pipe already wakes */ }
      thread_.join();
    }
    closeAll();
  }
  NameServer(const NameServer&) = delete;
  NameServer& operator=(const NameServer&) = delete;

  const std::string& name() const { return name_; }
  uint64_t accepted() const { return accepted_; }

 private:
  void loop() {
    for (;;) {
      pollfd fds[2] = {{wake_[0], POLLIN, 0}, {fd_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents) return;
      for (;;) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) break;
        ++accepted_;
        // A few bytes into an empty send buffer: never blocks, never short.
        if (send(c, name_.data(), name_.size(), MSG_NOSIGNAL) < 0) { /* the client sees no name */ }
        close(c);
      }
    }
  }
  void closeAll() {
    for (int* fd : {&fd_, &wake_[0], &wake_[1]}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }

  std::string name_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<uint64_t> accepted_{0};
  std::thread thread_;
};

struct Answer {
  std::string name;   // the backend that answered; "" on failure
  std::string error;  // why not
  uint16_t srcPort = 0;
};

// One new connection from the calling thread's network namespace to ip:port:
// non-blocking connect, read the server's name until EOF, all within
// `timeout`; then close with SO_LINGER 0 (an RST, so the client keeps no
// TIME_WAIT entry; the kernel picks a fresh ephemeral port every time, unless
// `srcPort` names one).
Answer askName(const std::string& ip, uint16_t port, std::chrono::milliseconds timeout, uint16_t srcPort = 0) {
  Answer out;
  auto deadline = Clock::now() + timeout;
  auto msLeft = [&] {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return ms < 0 ? 0 : static_cast<int>(ms);
  };
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return {"", fmt::format("socket: {}", std::strerror(errno))};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  auto fail = [&](std::string why) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
    out.name.clear();
    out.error = std::move(why);
    return out;
  };
  if (srcPort) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_port = htons(srcPort);
    if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0)
      return fail(fmt::format("bind {}: {}", srcPort, std::strerror(errno)));
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS)
    return fail(fmt::format("connect: {}", std::strerror(errno)));
  pollfd p{fd, POLLOUT, 0};
  int rc;
  while ((rc = poll(&p, 1, msLeft())) < 0 && errno == EINTR) {
  }
  if (rc == 0) return fail("connect timed out");
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return fail(fmt::format("connect: {}", std::strerror(err)));
  sockaddr_in self{};
  len = sizeof self;
  getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len);
  out.srcPort = ntohs(self.sin_port);
  char buf[64];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.name.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) break;  // EOF: the whole name
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return fail(fmt::format("recv after '{}': {}", out.name, std::strerror(errno)));
    pollfd r{fd, POLLIN, 0};
    if (poll(&r, 1, msLeft()) == 0) return fail(fmt::format("no EOF in time (got '{}')", out.name));
  }
  if (out.name.empty()) return fail("connected, but the server sent nothing");
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
  return out;
}

// n connections, one after the other, from a pod to ip:port. Stops early after
// `maxFailures` failures, so that a broken datapath fails the test in seconds
// rather than after n timeouts.
std::vector<Answer> askNames(const NetnsCluster& net, const std::string& pod, const std::string& ip,
                             uint16_t port, int n, std::chrono::milliseconds timeout = std::chrono::milliseconds(2000),
                             int maxFailures = 5) {
  std::vector<Answer> answers;
  answers.reserve(static_cast<size_t>(n));
  net.runInPod(pod, [&] {
    int failures = 0;
    for (int i = 0; i < n && failures < maxFailures; ++i) {
      answers.push_back(askName(ip, port, timeout));
      if (answers.back().name.empty()) ++failures;
    }
  });
  return answers;
}

// Per backend name, how many answers came from it; failures are listed in
// `failures` ("#index: why").
std::map<std::string, int> tally(const std::vector<Answer>& answers, std::vector<std::string>* failures = nullptr) {
  std::map<std::string, int> counts;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].name.empty()) {
      ++counts[answers[i].name];
    } else if (failures) {
      failures->push_back(fmt::format("#{}: {}", i, answers[i].error));
    }
  }
  return counts;
}

std::string describe(const std::map<std::string, int>& counts) {
  std::string s;
  for (const auto& [name, n] : counts) s += fmt::format("{}{}={}", s.empty() ? "" : " ", name, n);
  return s.empty() ? "(none)" : s;
}

// In both datapath modes (tests/testing/datapath_modes.h).
class ServicesTraffic : public testing::InBothDatapathModes {
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
    ASSERT_TRUE(kernel->build(state, diags, options())) << diags.render();
    ASSERT_TRUE(testing::LoadedInMode(*kernel, mode()));
    for (const auto& p : kPods) ASSERT_TRUE(attach(p));
  }
  void TearDown() override {
    servers.clear();
    nameServers.clear();
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
  std::vector<std::unique_ptr<NameServer>> nameServers;  // likewise

  void startNameServers(const std::vector<std::string>& pods) {
    for (const auto& p : pods) nameServers.push_back(std::make_unique<NameServer>(*net, p, 8080));
  }
  uint64_t totalAccepted() const {
    uint64_t n = 0;
    for (const auto& s : nameServers) n += s->accepted();
    return n;
  }
};
SLUICE_IN_BOTH_DATAPATH_MODES(ServicesTraffic);

TEST_P(ServicesTraffic, ClientReachesBackendsOnBothNodesThroughTheClusterIp) {
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

TEST_P(ServicesTraffic, ServiceWithoutEndpointsRefusesAtOnce) {
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

TEST_P(ServicesTraffic, PodReachesItselfThroughItsService) {
  servers.push_back(tcpListen(*net, "client", 8080));
  EXPECT_EQ(tcpConnect(*net, "client", "10.96.7.12", 80, 2000ms), TcpResult::Connected);
  EXPECT_TRUE(servers[0]->waitForAccepted(1));
  TcpSession session(*net, "client", "10.96.7.12", 80, 10ms, 1000ms, 2000ms);
  ASSERT_TRUE(session.connected());
  EXPECT_TRUE(session.waitForExchanges(10, 3000ms));
  EXPECT_TRUE(session.stop().stayedUp());
}

// Found by sluice_kubeproxy_bench (docs/reports/kubeproxy-bench.md): tracking
// entries have no TCP state and outlive their connections, so a connection
// that reuses the 5-tuple of an earlier one meets its entries. From one
// client port: a connection to x/trio reaches backend X and ends with a RST;
// a connection to X's own address from the same port; a third, to x/trio
// again, must be translated both ways again (it once timed out: its SYN-ACK
// met the direct connection's entry for X's replies, without translation).
TEST_P(ServicesTraffic, ReusedClientPortReachesTheServiceAfterAConnectionToItsBackend) {
  startNameServers({"web1", "web2", "web3"});
  Answer first, direct, again;
  net->runInPod("client", [&] {
    first = askName("10.96.7.13", 80, 2000ms, 40001);
    if (first.name.empty()) return;
    direct = askName(podDef(first.name).ip, 8080, 2000ms, 40001);
    again = askName("10.96.7.13", 80, 2000ms, 40001);
  });
  ASSERT_FALSE(first.name.empty()) << first.error;
  EXPECT_EQ(direct.name, first.name) << direct.error;
  EXPECT_FALSE(again.name.empty()) << "x/trio again from the reused port (first reached " << first.name
                                   << "): " << again.error;
}

TEST_P(ServicesTraffic, NewConnectionsSpreadEvenlyOverThreeBackends) {
  // 3,000 new connections to a service with three backends (one on the
  // client's node, two on the other): each backend must get 1,000 ± 15%.
  // With a uniform choice a backend's count is Binomial(3000, 1/3), standard
  // deviation 25.8: ±150 is 5.8 standard deviations, so a correct datapath
  // fails this with probability about 2e-8.
  constexpr int kConnections = 3000;
  constexpr int kExpected = kConnections / 3;
  constexpr int kSlack = kExpected * 15 / 100;
  startNameServers({"web1", "web2", "web3"});

  auto start = Clock::now();
  std::vector<Answer> answers = askNames(*net, "client", "10.96.7.13", 80, kConnections);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<std::string> failures;
  std::map<std::string, int> counts = tally(answers, &failures);
  std::set<uint16_t> ports;
  for (const auto& a : answers)
    if (a.srcPort) ports.insert(a.srcPort);
  std::cout << fmt::format("[ services ] {} connections to x/trio in {:.2f} s ({:.0f} us each), {} distinct client "
                           "ports: {}\n",
                           answers.size(), seconds, seconds * 1e6 / std::max<size_t>(answers.size(), 1),
                           ports.size(), describe(counts));
  RecordProperty("seconds", fmt::format("{:.2f}", seconds));
  RecordProperty("counts", describe(counts));

  ASSERT_EQ(answers.size(), size_t(kConnections)) << "stopped after failures: " << fmt::format("{}", fmt::join(failures, "; "));
  EXPECT_TRUE(failures.empty()) << failures.size() << " connections failed: " << fmt::format("{}", fmt::join(failures, "; "));
  EXPECT_EQ(counts.size(), 3u) << describe(counts);
  for (const char* backend : {"web1", "web2", "web3"}) {
    int n = counts.count(backend) ? counts.at(backend) : 0;
    EXPECT_GE(n, kExpected - kSlack) << backend << " got too few: " << describe(counts);
    EXPECT_LE(n, kExpected + kSlack) << backend << " got too many: " << describe(counts);
  }
  // The servers agree with what the client heard: every accepted connection
  // answered one request (the answer is sent after accept).
  EXPECT_EQ(totalAccepted(), uint64_t(kConnections - failures.size()));
  for (const auto& s : nameServers) EXPECT_EQ(s->accepted(), uint64_t(counts[s->name()])) << s->name();
}

TEST_P(ServicesTraffic, ClientIpAffinityPinsEachClientToOneBackend) {
  // x/sticky has sessionAffinity ClientIP (10800 s) over the same three
  // backends. Without affinity, 200 connections land on one backend with
  // probability 3 * 3^-200.
  constexpr int kConnections = 200;
  startNameServers({"web1", "web2", "web3"});

  auto start = Clock::now();
  std::vector<std::string> failures;
  std::map<std::string, int> first = tally(askNames(*net, "client", "10.96.7.14", 80, kConnections), &failures);
  EXPECT_TRUE(failures.empty()) << "client: " << fmt::format("{}", fmt::join(failures, "; "));
  EXPECT_EQ(first.size(), 1u) << "x/client (node-1) was not pinned: " << describe(first);

  // Another client (another address, on the other node) is pinned too, to
  // whichever backend it got first.
  failures.clear();
  std::map<std::string, int> second = tally(askNames(*net, "client2", "10.96.7.14", 80, kConnections), &failures);
  EXPECT_TRUE(failures.empty()) << "client2: " << fmt::format("{}", fmt::join(failures, "; "));
  EXPECT_EQ(second.size(), 1u) << "x/client2 (node-2) was not pinned: " << describe(second);

  // The first client is still on its backend after the second one chose.
  failures.clear();
  std::map<std::string, int> again = tally(askNames(*net, "client", "10.96.7.14", 80, 20), &failures);
  EXPECT_TRUE(failures.empty()) << "client again: " << fmt::format("{}", fmt::join(failures, "; "));
  EXPECT_EQ(again.size(), 1u) << describe(again);
  if (first.size() == 1 && again.size() == 1) {
    EXPECT_EQ(again.begin()->first, first.begin()->first);
  }

  // Affinity belongs to the service: the same client still spreads over the
  // backends of a service without it (missing one of three in 60 connections:
  // probability 3 * (2/3)^60, about 8e-11).
  failures.clear();
  std::map<std::string, int> spread = tally(askNames(*net, "client", "10.96.7.13", 80, 60), &failures);
  EXPECT_TRUE(failures.empty()) << "client to x/trio: " << fmt::format("{}", fmt::join(failures, "; "));
  EXPECT_EQ(spread.size(), 3u) << "x/trio from a pinned client: " << describe(spread);

  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << fmt::format("[ services ] affinity: client {} | client2 {} | client again {} | client to x/trio {} "
                           "({:.2f} s)\n",
                           describe(first), describe(second), describe(again), describe(spread), seconds);
}

}  // namespace
}  // namespace sluice::kernel_testing
