#include "tests/kernel/netns_cluster.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <thread>

extern char** environ;

namespace sluice::kernel_testing {
namespace {

// iproute2's NETNS_RUN_DIR.
constexpr const char* kNetnsDir = "/var/run/netns";
constexpr const char* kLinkLocalGateway = "169.254.1.1";

[[noreturn]] void throwErrno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::string joinArgv(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

uint64_t pidNamespaceInode() {
  struct stat st{};
  if (stat("/proc/self/ns/pid", &st) != 0) return 0;
  return st.st_ino;
}

void writeFile(const std::string& path, const std::string& value, bool mustExist) {
  std::ofstream f(path);
  if (!f) {
    if (!mustExist) return;
    throw std::runtime_error("cannot open " + path);
  }
  f << value;
  f.flush();
  if (!f) throw std::runtime_error("cannot write " + value + " to " + path);
}

bool parseIp4(const std::string& s, uint32_t& hostOrder) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  hostOrder = ntohl(a.s_addr);
  return true;
}

// "10.77.1.0/24" → (network, prefix length); throws on nonsense.
std::pair<uint32_t, int> parseCidr(const std::string& cidr) {
  auto slash = cidr.find('/');
  uint32_t net = 0;
  int len = slash == std::string::npos ? -1 : std::atoi(cidr.c_str() + slash + 1);
  if (slash == std::string::npos || !parseIp4(cidr.substr(0, slash), net) || len < 0 || len > 32)
    throw std::invalid_argument("not an IPv4 CIDR: " + cidr);
  return {net, len};
}

bool cidrContains(const std::string& cidr, const std::string& ip) {
  auto [net, len] = parseCidr(cidr);
  uint32_t a = 0;
  if (!parseIp4(ip, a)) return false;
  uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  return (a & mask) == (net & mask);
}

}  // namespace

void requireRoot() {
  if (geteuid() != 0)
    throw std::runtime_error(
        "kernel tests need root (CAP_NET_ADMIN, CAP_BPF): they build network namespaces; "
        "run them as root — they fail instead of skipping on purpose");
}

// ---- running things in a namespace -------------------------------------------

void runInNetns(const std::string& nsPath, const std::function<void()>& fn) {
  std::exception_ptr error;
  // A dedicated thread: setns only moves the calling thread, and this one dies
  // afterwards, so no namespace state can leak into the caller (e.g. gtest).
  std::thread worker([&] {
    int original = -1;
    try {
      int target = open(nsPath.c_str(), O_RDONLY | O_CLOEXEC);
      if (target < 0) throwErrno("open " + nsPath);
      original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      int rc = setns(target, CLONE_NEWNET);
      int saved = errno;
      close(target);
      if (rc != 0) {
        errno = saved;
        throwErrno("setns(CLONE_NEWNET) " + nsPath);
      }
      fn();
    } catch (...) {
      error = std::current_exception();
    }
    if (original >= 0) {  // restore anyway, for hygiene
      if (setns(original, CLONE_NEWNET) != 0) std::perror("restoring network namespace");
      close(original);
    }
  });
  worker.join();
  if (error) std::rethrow_exception(error);
}

int socketInNetns(const std::string& nsPath, int domain, int type, int protocol) {
  int fd = -1;
  runInNetns(nsPath, [&] {
    fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) throwErrno("socket in " + nsPath);
  });
  return fd;
}

// ---- commands ------------------------------------------------------------------

CommandResult runCommand(const std::vector<std::string>& argv) {
  CommandResult result;
  if (argv.empty()) throw std::invalid_argument("runCommand: empty argv");
  int pipefd[2];
  // O_CLOEXEC: children spawned concurrently by other threads must not inherit
  // our write end, or we would never see EOF.
  if (pipe2(pipefd, O_CLOEXEC) != 0) throwErrno("pipe2");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipefd[1]);
  if (rc != 0) {
    close(pipefd[0]);
    result.output = "cannot run " + argv[0] + ": " + std::strerror(rc);
    return result;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n > 0) {
      result.output.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string runCommandOrThrow(const std::vector<std::string>& argv) {
  CommandResult r = runCommand(argv);
  if (!r.ok())
    throw std::runtime_error("command failed (status " + std::to_string(r.status) +
                             "): " + joinArgv(argv) + "\n" + r.output);
  return r.output;
}

// ---- the cluster -----------------------------------------------------------------

NetnsCluster::NetnsCluster() : NetnsCluster(Options{}) {}

NetnsCluster::NetnsCluster(Options options) : options_(options) {
  requireRoot();
  static std::atomic<unsigned> counter{0};
  unsigned n = counter++;
  pid_t pid = getpid();
  nsPrefix_ = "slt" + std::to_string(pid) + "." + std::to_string(pidNamespaceInode()) + "-" +
              std::to_string(n) + "-";
  char tag[16];
  std::snprintf(tag, sizeof tag, "%04d%02u", static_cast<int>(pid % 10000), n % 100);
  ifTag_ = tag;
  cleanupStale();
}

NetnsCluster::~NetnsCluster() { destroy(); }

std::string NetnsCluster::netnsPathOf(const std::string& nsName) {
  return std::string(kNetnsDir) + "/" + nsName;
}

std::string NetnsCluster::addNetns(const std::string& name) {
  if (destroyed_) throw std::logic_error("NetnsCluster used after destroy()");
  std::string full = nsPrefix_ + name;
  // Recorded first: whatever fails later, destroy() still removes it.
  netns_.push_back(full);
  try {
    runCommandOrThrow({"ip", "netns", "add", full});
  } catch (...) {
    netns_.pop_back();
    throw;
  }
  int fd = open(netnsPathOf(full).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throwErrno("open " + netnsPathOf(full));
  nsFds_[full] = fd;
  runCommandOrThrow({"ip", "-n", full, "link", "set", "lo", "up"});
  return full;
}

void NetnsCluster::setSysctls(const std::string& nsPath, bool forwarding) const {
  runInNetns(nsPath, [&] {
    // /proc/sys/net resolves against the opening thread's namespace.
    const std::string c = "/proc/sys/net/ipv4/conf/";
    writeFile(c + "all/rp_filter", "0", true);
    writeFile(c + "default/rp_filter", "0", true);
    writeFile(c + "lo/rp_filter", "0", true);
    writeFile("/proc/sys/net/ipv4/ip_forward", forwarding ? "1" : "0", true);
    if (options_.disableIpv6) {
      writeFile("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1", false);
      writeFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1", false);
    }
  });
}

std::string NetnsCluster::ip4Prefix24(const std::string& ip) {
  uint32_t a = 0;
  if (!parseIp4(ip, a)) throw std::invalid_argument("not an IPv4 address: " + ip);
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255);
}

const NetnsCluster::Node& NetnsCluster::addNode(const std::string& name, const std::string& nodeIp,
                                                const std::string& podCidr) {
  if (nodes_.size() >= 2)
    throw std::logic_error("NetnsCluster supports exactly two nodes (one fabric veth pair)");
  for (const auto& n : nodes_)
    if (n->name == name) throw std::invalid_argument("duplicate node " + name);
  ip4Prefix24(nodeIp);  // validates
  if (!podCidr.empty()) parseCidr(podCidr);
  if (!nodes_.empty() && ip4Prefix24(nodes_[0]->ip) != ip4Prefix24(nodeIp))
    throw std::invalid_argument("node IPs must share a /24: " + nodes_[0]->ip + ", " + nodeIp);

  auto node = std::make_unique<Node>();
  node->name = name;
  node->ip = nodeIp;
  node->podCidr = podCidr;
  node->index = static_cast<int>(nodes_.size());
  node->netns = addNetns("n-" + name);
  node->netnsPath = netnsPathOf(node->netns);
  setSysctls(node->netnsPath, /*forwarding=*/true);
  nodes_.push_back(std::move(node));
  if (nodes_.size() == 2) wireFabric();
  return *nodes_.back();
}

void NetnsCluster::wireFabric() {
  Node& a = *nodes_[0];
  Node& b = *nodes_[1];
  a.fabricIf = "fab" + ifTag_ + "0";
  b.fabricIf = "fab" + ifTag_ + "1";
  runCommandOrThrow({"ip", "link", "add", a.fabricIf, "netns", a.netns, "type", "veth", "peer",
                     "name", b.fabricIf, "netns", b.netns});
  for (Node* n : {&a, &b}) {
    runCommandOrThrow({"ip", "-n", n->netns, "addr", "add", n->ip + "/24", "dev", n->fabricIf});
    runCommandOrThrow({"ip", "-n", n->netns, "link", "set", n->fabricIf, "up"});
    runInNetns(n->netnsPath, [&] { n->fabricIfindex = static_cast<int>(if_nametoindex(n->fabricIf.c_str())); });
    if (n->fabricIfindex == 0) throw std::runtime_error("cannot find the ifindex of " + n->fabricIf);
  }
  // Pod routes: a node's podCidr as one route, otherwise one /32 per pod
  // (including pods added before the second node existed).
  for (auto [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
    if (!to->podCidr.empty())
      runCommandOrThrow({"ip", "-n", from->netns, "route", "add", to->podCidr, "via", to->ip, "dev",
                         from->fabricIf});
  }
  for (const auto& p : pods_) {
    for (const auto& n : nodes_)
      if (n->name != p->node) routePodFrom(*n, *p);
  }
}

void NetnsCluster::routePodFrom(const Node& other, const Pod& p) {
  const Node& home = node(p.node);
  if (!home.podCidr.empty() || other.fabricIf.empty()) return;  // covered by the CIDR route / no fabric yet
  runCommandOrThrow({"ip", "-n", other.netns, "route", "add", p.ip + "/32", "via", home.ip, "dev",
                     other.fabricIf});
}

const NetnsCluster::Pod& NetnsCluster::addPod(const std::string& nodeName, const std::string& name,
                                              const std::string& podIp) {
  const Node& n = node(nodeName);
  for (const auto& p : pods_)
    if (p->name == name) throw std::invalid_argument("duplicate pod " + name);
  for (const auto& o : outside_)
    if (o->name == name) throw std::invalid_argument("pod " + name + " has an outside client's name");
  uint32_t addr = 0;
  if (!parseIp4(podIp, addr)) throw std::invalid_argument("not an IPv4 address: " + podIp);
  if (!n.podCidr.empty() && !cidrContains(n.podCidr, podIp))
    throw std::invalid_argument("pod IP " + podIp + " is outside node " + nodeName +
                                "'s podCidr " + n.podCidr);

  auto pod = std::make_unique<Pod>();
  pod->name = name;
  pod->node = nodeName;
  pod->ip = podIp;
  pod->index = static_cast<int>(pods_.size());
  pod->hostIf = "lxc" + ifTag_ + std::to_string(pod->index);
  char mac[32];
  // Locally administered unicast MACs, distinct per pod (02:..) and host side (06:..).
  std::snprintf(mac, sizeof mac, "06:5e:00:%02x:%02x:%02x", n.index, (pod->index >> 8) & 255,
                pod->index & 255);
  pod->hostMac = mac;
  std::snprintf(mac, sizeof mac, "02:5e:00:%02x:%02x:%02x", n.index, (pod->index >> 8) & 255,
                pod->index & 255);
  pod->podMac = mac;
  pod->netns = addNetns("p-" + name);
  pod->netnsPath = netnsPathOf(pod->netns);
  setSysctls(pod->netnsPath, /*forwarding=*/false);

  const std::string& nodeNs = n.netns;
  const std::string& podNs = pod->netns;
  runCommandOrThrow({"ip", "link", "add", pod->hostIf, "netns", nodeNs, "address", pod->hostMac,
                     "type", "veth", "peer", "name", pod->podIf, "netns", podNs, "address",
                     pod->podMac});
  // Pod side: podIp/32, default route via a link-local gateway that is a
  // permanent neighbour with the host veth's MAC (no ARP, no proxy_arp).
  runCommandOrThrow({"ip", "-n", podNs, "addr", "add", podIp + "/32", "dev", pod->podIf});
  runCommandOrThrow({"ip", "-n", podNs, "link", "set", pod->podIf, "up"});
  runCommandOrThrow({"ip", "-n", podNs, "route", "add", kLinkLocalGateway, "dev", pod->podIf,
                     "scope", "link"});
  runCommandOrThrow({"ip", "-n", podNs, "route", "add", "default", "via", kLinkLocalGateway, "dev",
                     pod->podIf});
  runCommandOrThrow({"ip", "-n", podNs, "neigh", "replace", kLinkLocalGateway, "lladdr",
                     pod->hostMac, "dev", pod->podIf, "nud", "permanent"});
  // Node side: /32 route to the pod via its host veth, permanent neighbour.
  runCommandOrThrow({"ip", "-n", nodeNs, "link", "set", pod->hostIf, "up"});
  runCommandOrThrow({"ip", "-n", nodeNs, "route", "add", podIp + "/32", "dev", pod->hostIf,
                     "scope", "link"});
  runCommandOrThrow({"ip", "-n", nodeNs, "neigh", "replace", podIp, "lladdr", pod->podMac, "dev",
                     pod->hostIf, "nud", "permanent"});

  Pod& p = *pod;
  runInNetns(n.netnsPath, [&] { p.hostIfindex = static_cast<int>(if_nametoindex(p.hostIf.c_str())); });
  runInNetns(p.netnsPath, [&] { p.podIfindex = static_cast<int>(if_nametoindex(p.podIf.c_str())); });
  if (p.hostIfindex == 0 || p.podIfindex == 0)
    throw std::runtime_error("cannot find the ifindex of the veth pair of pod " + name);
  pods_.push_back(std::move(pod));
  for (const auto& other : nodes_)
    if (other->name != nodeName) routePodFrom(*other, p);
  return p;
}

const NetnsCluster::OutsideClient& NetnsCluster::addOutsideClient(const std::string& name,
                                                                  const std::string& clientIp,
                                                                  const std::string& via) {
  const Node& home = node(via);
  if (nodes_.size() != 2) throw std::logic_error("addOutsideClient: add both nodes first");
  for (const auto& o : outside_)
    if (o->name == name) throw std::invalid_argument("duplicate outside client " + name);
  for (const auto& p : pods_)
    if (p->name == name) throw std::invalid_argument("outside client " + name + " has a pod's name");
  std::string prefix = ip4Prefix24(clientIp);
  if (clientIp == prefix + ".1" || clientIp == prefix + ".0" || clientIp == prefix + ".255")
    throw std::invalid_argument("outside client " + name + ": " + clientIp + " is the gateway or not a host");
  if (prefix == ip4Prefix24(home.ip)) throw std::invalid_argument("outside client " + name + " is on the fabric's /24");
  for (const auto& o : outside_)
    if (ip4Prefix24(o->ip) == prefix) throw std::invalid_argument("outside client " + name + " shares " + o->name + "'s /24");

  auto client = std::make_unique<OutsideClient>();
  client->name = name;
  client->ip = clientIp;
  client->gatewayIp = prefix + ".1";
  client->via = via;
  client->index = static_cast<int>(outside_.size());
  client->nodeIf = "out" + ifTag_ + std::to_string(client->index);
  client->netns = addNetns("o-" + name);
  client->netnsPath = netnsPathOf(client->netns);
  setSysctls(client->netnsPath, /*forwarding=*/false);

  const OutsideClient& c = *client;
  runCommandOrThrow({"ip", "link", "add", c.nodeIf, "netns", home.netns, "type", "veth", "peer", "name", c.clientIf,
                     "netns", c.netns});
  runCommandOrThrow({"ip", "-n", home.netns, "addr", "add", c.gatewayIp + "/24", "dev", c.nodeIf});
  runCommandOrThrow({"ip", "-n", home.netns, "link", "set", c.nodeIf, "up"});
  runCommandOrThrow({"ip", "-n", c.netns, "addr", "add", clientIp + "/24", "dev", c.clientIf});
  runCommandOrThrow({"ip", "-n", c.netns, "link", "set", c.clientIf, "up"});
  runCommandOrThrow({"ip", "-n", c.netns, "route", "add", "default", "via", c.gatewayIp, "dev", c.clientIf});
  for (const auto& other : nodes_)
    if (other->name != via)
      runCommandOrThrow({"ip", "-n", other->netns, "route", "add", prefix + ".0/24", "via", home.ip, "dev",
                         other->fabricIf});
  runInNetns(home.netnsPath, [&] { client->nodeIfindex = static_cast<int>(if_nametoindex(c.nodeIf.c_str())); });
  if (client->nodeIfindex == 0) throw std::runtime_error("cannot find the ifindex of " + c.nodeIf);
  outside_.push_back(std::move(client));
  return *outside_.back();
}

const NetnsCluster::OutsideClient& NetnsCluster::outsideClient(const std::string& name) const {
  for (const auto& o : outside_)
    if (o->name == name) return *o;
  throw std::invalid_argument("no outside client named " + name);
}

std::vector<NetnsCluster::Uplink> NetnsCluster::uplinkIfs(const std::string& nodeName) const {
  const Node& n = node(nodeName);
  std::vector<Uplink> out;
  if (!n.fabricIf.empty()) out.push_back({n.fabricIf, n.fabricIfindex});
  for (const auto& o : outside_)
    if (o->via == nodeName) out.push_back({o->nodeIf, o->nodeIfindex});
  return out;
}

const std::string& NetnsCluster::clientNetnsPath(const std::string& name) const {
  for (const auto& p : pods_)
    if (p->name == name) return p->netnsPath;
  for (const auto& o : outside_)
    if (o->name == name) return o->netnsPath;
  throw std::invalid_argument("no pod or outside client named " + name);
}

const NetnsCluster::Node& NetnsCluster::node(const std::string& name) const {
  for (const auto& n : nodes_)
    if (n->name == name) return *n;
  throw std::invalid_argument("no node named " + name);
}

const NetnsCluster::Pod& NetnsCluster::pod(const std::string& name) const {
  for (const auto& p : pods_)
    if (p->name == name) return *p;
  throw std::invalid_argument("no pod named " + name);
}

std::string NetnsCluster::nodeManifests() const {
  std::string y;
  for (const auto& name : nodeNames()) {
    const Node& n = node(name);
    y += "---\napiVersion: v1\nkind: Node\nmetadata: {name: " + n.name + "}\nspec: {podCIDR: " + n.podCidr +
         "}\nstatus: {addresses: [{type: InternalIP, address: " + n.ip + "}]}\n";
  }
  return y;
}

std::vector<std::string> NetnsCluster::nodeNames() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(n->name);
  return out;
}

std::vector<std::string> NetnsCluster::podNames() const {
  std::vector<std::string> out;
  for (const auto& p : pods_) out.push_back(p->name);
  return out;
}

int NetnsCluster::nodeNetnsFd(const std::string& nodeName) const {
  auto it = nsFds_.find(node(nodeName).netns);
  if (it == nsFds_.end()) throw std::logic_error("namespace fd of node " + nodeName + " is closed");
  return it->second;
}

void NetnsCluster::runInNode(const std::string& n, const std::function<void()>& fn) const {
  runInNetns(node(n).netnsPath, fn);
}

void NetnsCluster::runInPod(const std::string& p, const std::function<void()>& fn) const {
  runInNetns(pod(p).netnsPath, fn);
}

void NetnsCluster::runIn(const std::string& name, const std::function<void()>& fn) const {
  const Node* n = nullptr;
  const Pod* p = nullptr;
  for (const auto& x : nodes_)
    if (x->name == name) n = x.get();
  for (const auto& x : pods_)
    if (x->name == name) p = x.get();
  if (n && p) throw std::invalid_argument("runIn: " + name + " is both a node and a pod");
  if (!n && !p) throw std::invalid_argument("runIn: no node or pod named " + name);
  runInNetns(n ? n->netnsPath : p->netnsPath, fn);
}

CommandResult NetnsCluster::execInNode(const std::string& n, const std::vector<std::string>& argv) const {
  std::vector<std::string> full{"ip", "netns", "exec", node(n).netns};
  full.insert(full.end(), argv.begin(), argv.end());
  return runCommand(full);
}

std::string NetnsCluster::execInNodeOrThrow(const std::string& n,
                                            const std::vector<std::string>& argv) const {
  std::vector<std::string> full{"ip", "netns", "exec", node(n).netns};
  full.insert(full.end(), argv.begin(), argv.end());
  return runCommandOrThrow(full);
}

CommandResult NetnsCluster::execInPod(const std::string& p, const std::vector<std::string>& argv) const {
  std::vector<std::string> full{"ip", "netns", "exec", pod(p).netns};
  full.insert(full.end(), argv.begin(), argv.end());
  return runCommand(full);
}

void NetnsCluster::dropAtHostVeth(const std::string& podName, TcDirection dir) {
  const Pod& p = pod(podName);
  CommandResult show = execInNode(p.node, {"tc", "qdisc", "show", "dev", p.hostIf});
  if (show.output.find("clsact") == std::string::npos)
    execInNodeOrThrow(p.node, {"tc", "qdisc", "add", "dev", p.hostIf, "clsact"});
  // Classic BPF "ret #2" = TC_ACT_SHOT in direct-action mode.
  execInNodeOrThrow(p.node, {"tc", "filter", "add", "dev", p.hostIf,
                             dir == TcDirection::ToPod ? "egress" : "ingress", "bpf", "bytecode",
                             "1,6 0 0 2,", "da"});
}

void NetnsCluster::clearTcAtHostVeth(const std::string& podName) {
  const Pod& p = pod(podName);
  execInNode(p.node, {"tc", "qdisc", "del", "dev", p.hostIf, "clsact"});  // absent is fine
  CommandResult show = execInNode(p.node, {"tc", "qdisc", "show", "dev", p.hostIf});
  if (!show.ok() || show.output.find("clsact") != std::string::npos)
    throw std::runtime_error("cannot remove clsact from " + p.hostIf + ": " + show.output);
}

std::vector<std::string> NetnsCluster::netnsNames() const { return netns_; }

void NetnsCluster::destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  for (auto& [name, fd] : nsFds_) close(fd);
  nsFds_.clear();
  // Pods first, then nodes: deleting a namespace destroys its veths and their peers.
  for (auto it = netns_.rbegin(); it != netns_.rend(); ++it) {
    CommandResult r = runCommand({"ip", "netns", "del", *it});
    if (!r.ok()) std::fprintf(stderr, "NetnsCluster: ip netns del %s: %s\n", it->c_str(), r.output.c_str());
  }
  for (const auto& left : listNetns(nsPrefix_))
    std::fprintf(stderr, "NetnsCluster: namespace %s left behind\n", left.c_str());
}

// ---- static helpers ------------------------------------------------------------------

std::vector<std::string> NetnsCluster::listNetns(const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = opendir(kNetnsDir);
  if (!d) return out;  // no namespace was ever named on this machine
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (name.compare(0, prefix.size(), prefix) == 0) out.push_back(name);
  }
  closedir(d);
  return out;
}

int NetnsCluster::cleanupByPrefix(const std::string& prefix) {
  if (prefix.empty()) throw std::invalid_argument("cleanupByPrefix: refusing an empty prefix");
  int n = 0;
  for (const auto& name : listNetns(prefix))
    if (runCommand({"ip", "netns", "del", name}).ok()) ++n;
  return n;
}

int NetnsCluster::cleanupStale() {
  const std::string ours = "." + std::to_string(pidNamespaceInode()) + "-";
  int n = 0;
  for (const auto& name : listNetns("slt")) {
    // slt<pid>.<pidns>-<n>-...
    size_t dot = name.find('.');
    if (dot == std::string::npos || dot == 3 || name.compare(dot, ours.size(), ours) != 0) continue;
    std::string pidText = name.substr(3, dot - 3);
    if (pidText.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(pidText));
    if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or unknown)
    if (runCommand({"ip", "netns", "del", name}).ok()) ++n;
  }
  return n;
}

}  // namespace sluice::kernel_testing
