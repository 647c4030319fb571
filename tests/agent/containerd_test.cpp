// sluice-cni through a real container runtime (issue 14): Debian's containerd,
// private to the test, runs a locally built busybox image with `ctr run --cni`
// on a node whose network is `sluice agent --cni` (the CniCluster fixture).
// `ctr` passes no K8S_POD_* arguments, so the containers are endpoints
// without a pod: no namespace, no labels, named after their container ID
// (docs/cni.md, "Containers without pod arguments").
//
// The runtime: containerd runs in node-1's network namespace and in a mount
// namespace of its own, where
//   - everything it writes (root, state, its socket) is on a tmpfs over
//     <dir>/containerd, and /run is a tmpfs too (containerd puts shim sockets
//     and runc's state under /run/containerd whatever its configuration says),
//     with the agents' socket directory bound back into it;
//   - /etc, /opt and /var/lib are overlays whose writes stay in that tmpfs,
//     with /etc/cni/net.d and /opt/cni/bin bound to the test's directories:
//     `ctr run --cni` reads only those two (go-cni's defaults; no flag moves
//     them) and libcni caches results under /var/lib/cni.
// Every `ctr` enters the same two namespaces (nsenter --target), so it runs
// the plugin in node-1's namespace as kubelet's runtime would. `ip netns exec`
// is not used: it remounts /sys, hiding /sys/fs/cgroup from runc. The agent
// runs in this process, in neither namespace, and its bpffs pins are
// untouched. When containerd, its shims and the containers are gone, the
// mount namespace goes with all its mounts; the test then removes the
// cgroups runc made (/<ctr namespace>/<id> under every hierarchy).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/agent/cni_cluster.h"

extern char** environ;

namespace sluice::agent_testing {
namespace {

namespace fs = std::filesystem;
using kernel_testing::TcpEchoServer;
using kernel_testing::TcpResult;
using kernel_testing::tcpConnectFrom;

constexpr const char* kImage = "sluice.test/busybox:1";
constexpr const char* kNode = "node-1";

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string lastLines(const std::string& text, size_t n) {
  size_t pos = text.size();
  for (size_t i = 0; i <= n && pos > 0; ++i) pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

// The executable `name` in PATH (or the usual directories), "" if none.
std::string findExecutable(const std::string& name) {
  const char* env = ::getenv("PATH");
  std::stringstream dirs(std::string(env ? env : "") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  return "";
}

bool inCidr(const std::string& ip, const std::string& cidr) {
  auto addr = IpAddr::parse(ip);
  return addr && Cidr::parse(cidr)->contains(Cidr::host(*addr));
}

// A process with /dev/null as stdin and its stdout and stderr in a file.
class Child {
 public:
  Child(const std::vector<std::string>& argv, fs::path log) : log_(std::move(log)) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      std::ofstream(log_) << "cannot run " << argv[0] << ": " << std::strerror(rc) << "\n";
    }
  }
  ~Child() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      wait(std::chrono::seconds(5));
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running() { return pid_ > 0 && !wait(0ms); }
  // The exit status (128 + the signal when killed) once it has exited
  // within `timeout`; nullopt while it runs.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return 127;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!status_) {
      int s = 0;
      pid_t r = ::waitpid(pid_, &s, WNOHANG);
      if (r == pid_) {
        status_ = WIFEXITED(s) ? WEXITSTATUS(s) : 128 + WTERMSIG(s);
      } else if (r < 0 && errno != EINTR) {
        status_ = -1;
      } else {
        if (std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(10ms);
      }
    }
    return status_;
  }
  std::string output() const { return readFile(log_); }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct Ran {
  int status = -1;
  std::string output;
};

class ContainerdOnSluice : public CniCluster {
 protected:
  void SetUp() override {
    SetUpCluster(Routing::Native);
    if (HasFatalFailure()) return;
    startContainerd();
  }
  void TearDown() override {
    stopContainerd();
    CniCluster::TearDown();
  }

  void startContainerd() {
    containerd_ = findExecutable("containerd");
    ctr_ = findExecutable("ctr");
    nsenter_ = findExecutable("nsenter");
    unshare_ = findExecutable("unshare");
    // Not a skip: tools/bootstrap installs them, and CI runs it.
    ASSERT_FALSE(containerd_.empty() || ctr_.empty())
        << "containerd and ctr are not installed (Debian's containerd package; tools/bootstrap installs it)";
    ASSERT_FALSE(nsenter_.empty() || unshare_.empty()) << "nsenter and unshare (util-linux) are not installed";
    ASSERT_EQ(::access("/bin/busybox", X_OK), 0) << "/bin/busybox is missing (Debian's busybox-static; tools/bootstrap "
                                                    "installs it)";

    ns_ = "sluice-" + tag_;
    runtimeDir_ = dir_ / "containerd";  // a tmpfs inside containerd's mount namespace
    logs_ = dir_ / "logs";
    for (const auto& d : {runtimeDir_, logs_, dir_ / "cni" / "net.d", dir_ / "cni" / "bin"}) fs::create_directories(d);
    fs::create_symlink(SLUICE_CNI_BIN, dir_ / "cni" / "bin" / "sluice");
    cniLog_ = dir_ / "sluice-cni.log";
    std::ofstream(dir_ / "cni" / "net.d" / "10-sluice.conflist") << fmt::format(
        R"({{"cniVersion": "1.0.0", "name": "sluice",
 "plugins": [{{"type": "sluice", "agentSocket": "{}", "timeoutSeconds": 60, "logFile": "{}"}}]}}
)",
        socketOf(kNode), cniLog_.string());
    // No CRI plugin (kubelet's side of containerd): only what ctr uses.
    const std::string r = runtimeDir_.string();
    address_ = r + "/containerd.sock";
    std::ofstream(dir_ / "containerd.toml") << fmt::format(R"(version = 2
root = "{0}/root"
state = "{0}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{1}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{0}/opt"
)",
                                                           r, address_);

    // The image, built here from the machine's busybox-static: no registry.
    Ran image = run({findExecutable("python3"), SLUICE_BUSYBOX_IMAGE_SCRIPT, "/bin/busybox",
                     (dir_ / "busybox.tar").string(), kImage});
    ASSERT_EQ(image.status, 0) << image.output;

    static const char* kScript = R"(
d=$1 sockets=$2 cni=$3 containerd=$4 config=$5
export LIBMOUNT_UTAB="$d.utab"  # not /run/mount/utab: nothing of this lands on the machine's /run
mount -t tmpfs -o mode=0700 sluice-containerd "$d"
mkdir "$d/agent" "$d/upper" "$d/work"
mount --bind "$sockets" "$d/agent"
mount -t tmpfs -o mode=0755 sluice-run /run
mkdir -p "$sockets"
mount --bind "$d/agent" "$sockets"
for dir in etc opt var/lib; do
  mkdir -p "$d/upper/$dir" "$d/work/$dir"
  mount -t overlay -o "lowerdir=/$dir,upperdir=$d/upper/$dir,workdir=$d/work/$dir" sluice-overlay "/$dir"
done
mkdir -p /etc/cni/net.d /opt/cni/bin
mount --bind "$cni/net.d" /etc/cni/net.d
mount --bind "$cni/bin" /opt/cni/bin
exec "$containerd" --config "$config"
)";
    // nsenter and unshare exec (no --fork): the child's pid is containerd's.
    daemon_ = std::make_unique<Child>(
        std::vector<std::string>{nsenter_, "--net=" + nodeNs(kNode), "--", unshare_, "--mount", "--propagation",
                                 "private", "--", "/bin/sh", "-euc", kScript, "sh", r, socketDir_,
                                 (dir_ / "cni").string(), containerd_, (dir_ / "containerd.toml").string()},
        logs_ / "containerd.log");
    auto deadline = std::chrono::steady_clock::now() + 15s;
    Ran version;
    while ((version = ctr({"version"})).status != 0) {
      ASSERT_TRUE(daemon_->running()) << "containerd exited:\n" << daemon_->output();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "containerd did not answer:\n" << version.output << "\n" << lastLines(daemon_->output(), 30);
      std::this_thread::sleep_for(50ms);
    }
    Ran imported = ctr({"images", "import", (dir_ / "busybox.tar").string()});
    ASSERT_EQ(imported.status, 0) << imported.output << lastLines(daemon_->output(), 30);
  }

  // Kills what is left (tasks, the `ctr run`s waiting on them, shims, their
  // processes), stops containerd and removes the cgroups runc made: after a
  // failure as after a pass.
  void stopContainerd() {
    if (!daemon_) return;
    if (daemon_->running()) {
      Ran tasks = ctr({"tasks", "ls", "-q"});
      std::stringstream ids(tasks.status == 0 ? tasks.output : "");
      for (std::string id; std::getline(ids, id);)
        if (!id.empty()) ctr({"tasks", "kill", "-s", "SIGKILL", id});
    }
    // A `ctr run` whose task exited deletes its network (DEL, while the
    // agents still run) and its container (--rm).
    for (auto& [name, c] : background_)
      if (!c->wait(10s)) ADD_FAILURE() << "ctr run " << name << " did not exit:\n" << c->output();
    background_.clear();
    if (daemon_->running()) {
      Ran left = ctr({"containers", "ls", "-q"});
      std::stringstream ids(left.status == 0 ? left.output : "");
      for (std::string id; std::getline(ids, id);)
        if (!id.empty()) {
          ctr({"tasks", "rm", "-f", id});
          ctr({"containers", "rm", id});
        }
    }
    killOurProcesses();
    if (daemon_->running()) {
      ::kill(daemon_->pid(), SIGTERM);
      if (!daemon_->wait(10s)) ::kill(daemon_->pid(), SIGKILL);
    }
    daemon_.reset();
    removeCgroups();
  }

  // Processes of ours still alive after the orderly stop: those in runc's
  // cgroups (containers whose shim died) and the shims of our containerd.
  void killOurProcesses() {
    forEachCgroup([](const fs::path& cg) {
      std::ifstream procs(cg / "cgroup.procs");
      for (pid_t pid; procs >> pid;) ::kill(pid, SIGKILL);
    });
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
      std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmdline = readFile(e.path() / "cmdline");
      if (cmdline.find("containerd-shim") != std::string::npos && cmdline.find(address_) != std::string::npos)
        ::kill(std::stoi(name), SIGKILL);
    }
  }
  // Calls fn on every cgroup under /<ctr namespace> of every hierarchy, children first.
  void forEachCgroup(const std::function<void(const fs::path&)>& fn) const {
    std::ifstream mounts("/proc/self/mounts");
    std::function<void(const fs::path&)> walk = [&](const fs::path& p) {
      std::error_code ec;
      if (!fs::is_directory(p, ec)) return;
      for (const auto& e : fs::directory_iterator(p, ec))
        if (e.is_directory(ec)) walk(e.path());
      fn(p);
    };
    for (std::string line; std::getline(mounts, line);) {
      std::stringstream fields(line);
      std::string source, target, type;
      fields >> source >> target >> type;
      if (type == "cgroup" || type == "cgroup2") walk(fs::path(target) / ns_);
    }
  }
  void removeCgroups() {
    forEachCgroup([](const fs::path& cg) {
      // A cgroup is busy for a moment after its last process exited.
      for (int i = 0; i < 100 && ::rmdir(cg.c_str()) != 0 && errno == EBUSY; ++i) std::this_thread::sleep_for(20ms);
    });
  }

  Ran run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 30s) {
    Child c(argv, logs_ / ("run-" + std::to_string(runs_++) + ".log"));
    std::optional<int> status = c.wait(timeout);
    if (!status) return {-1, c.output() + "\n(" + argv[0] + " did not exit in time: killed)"};
    return {*status, c.output()};
  }
  // `ctr` in containerd's namespaces (node-1's network, its mounts).
  std::vector<std::string> ctrArgv(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {nsenter_, "--target", std::to_string(daemon_->pid()), "--mount", "--net", "--",
                                     ctr_,     "--address", address_, "--namespace", ns_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  Ran ctr(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 30s) {
    return run(ctrArgv(args), timeout);
  }
  // `ctr run --rm --cni` of the image in the background, as a user at a
  // terminal: ctr calls ADD before the task starts, and DEL when it exits.
  Child& runInBackground(const std::string& name, const std::string& script) {
    auto& c = background_[name];
    c = std::make_unique<Child>(ctrArgv({"run", "--rm", "--cni", kImage, name, "sh", "-c", script}),
                                logs_ / ("ctr-run-" + name + ".log"));
    return *c;
  }
  // The same in the foreground: the container runs `script` and is gone (DEL, rm) when this returns.
  Ran runContainer(const std::string& name, const std::string& script) {
    return ctr({"run", "--rm", "--cni", kImage, name, "sh", "-c", script}, 90s);
  }
  Ran exec(const std::string& container, const std::string& script) {
    return ctr({"tasks", "exec", "--exec-id", "probe" + std::to_string(runs_), container, "sh", "-c", script});
  }

  // CNI_CONTAINERID as ctr passes it: "<containerd namespace>-<id>".
  std::string containerID(const std::string& name) const { return ns_ + "-" + name; }
  // The agent's endpoint for a container without pod arguments: no namespace, its container ID.
  std::string endpointOf(const std::string& name) const { return "/" + containerID(name); }

  std::optional<agent::EndpointStatus> endpoint(const std::string& key) const {
    for (const auto& e : agents_.at(kNode)->status().endpoints)
      if (e.pod == key) return e;
    return std::nullopt;
  }
  std::optional<agent::EndpointStatus> waitForAttached(const std::string& key, std::chrono::milliseconds t = 60s) {
    auto deadline = std::chrono::steady_clock::now() + t;
    for (;;) {
      auto e = endpoint(key);
      if ((e && e->attached) || std::chrono::steady_clock::now() > deadline) return e;
      std::this_thread::sleep_for(10ms);
    }
  }
  bool waitForGone(const std::string& key, std::chrono::milliseconds t = 10s) {
    auto deadline = std::chrono::steady_clock::now() + t;
    while (endpoint(key)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
  // Waits until `child`'s output matches `re`; the match's first group.
  std::string waitForOutput(const Child& child, const std::regex& re, std::chrono::milliseconds t = 20s) {
    auto deadline = std::chrono::steady_clock::now() + t;
    std::smatch m;
    for (;;) {
      std::string out = child.output();
      if (std::regex_search(out, m, re)) return m[1];
      if (std::chrono::steady_clock::now() > deadline) return "";
      std::this_thread::sleep_for(20ms);
    }
  }
  // Writes a manifest and waits until every agent read it.
  ::testing::AssertionResult apply(const std::string& file, const std::string& yaml) {
    auto before = reconciles();
    write(file, yaml);
    return waitForReconcilesAfter(before);
  }
  std::string diagnostics() const {
    return "\n--- sluice-cni log:\n" + lastLines(readFile(cniLog_), 20) + "--- containerd:\n" +
           lastLines(daemon_ ? daemon_->output() : "", 20);
  }

  std::string containerd_, ctr_, nsenter_, unshare_;
  std::string ns_, address_;
  fs::path runtimeDir_, logs_, cniLog_;
  std::unique_ptr<Child> daemon_;
  std::map<std::string, std::unique_ptr<Child>> background_;
  int runs_ = 0;
};

// Retries a connection that should succeed (a policy change settles within moments).
TcpResult connectEventually(const std::string& fromNs, const std::string& ip, uint16_t port,
                            std::chrono::milliseconds within = 5s) {
  auto deadline = std::chrono::steady_clock::now() + within;
  TcpResult r = TcpResult::Error;
  while (std::chrono::steady_clock::now() < deadline) {
    if ((r = tcpConnectFrom(fromNs, ip, port, 500ms)) == TcpResult::Connected) return r;
    std::this_thread::sleep_for(50ms);
  }
  return r;
}
// Retries a connection that should end up dropped (TimedOut) by a policy being applied.
TcpResult droppedEventually(const std::string& fromNs, const std::string& ip, uint16_t port,
                            std::chrono::milliseconds within = 5s) {
  auto deadline = std::chrono::steady_clock::now() + within;
  TcpResult r = TcpResult::Error;
  while (std::chrono::steady_clock::now() < deadline) {
    if ((r = tcpConnectFrom(fromNs, ip, port, 500ms)) == TcpResult::TimedOut) return r;
    std::this_thread::sleep_for(50ms);
  }
  return r;
}

// Busybox's nc from inside a container: echoes `word` off an echo server
// (`-w`: the connect timeout, in seconds).
std::string ncEcho(const std::string& word, const std::string& ip, int port, int waitSeconds = 3) {
  return "echo " + word + " | nc -w " + std::to_string(waitSeconds) + " " + ip + " " + std::to_string(port);
}

TEST_F(ContainerdOnSluice, ACtrContainerIsAnEndpointWithoutNamespaceOrLabels) {
  // containerd's mount namespace changed nothing in this process's: the agents' pins are where they were.
  ASSERT_TRUE(fs::exists(fs::path(bpffsRoot_) / kNode / SLUICE_MAP_IPCACHE));
  PodRef a = addPod(kNode, "x", "a", "app: a");
  PodRef b = addPod(kNode, "x", "b", "app: b");
  TcpEchoServer serverA(a.netnsPath, 80), serverB(b.netnsPath, 80), world(nsPath(world_), 8080);

  // ADD from ctr, without CNI_ARGS: the agent attaches an endpoint named
  // after the container ID, with an address from the node's podCIDR, before
  // the task starts (the container prints what it got, then serves TCP/80).
  Child& srv = runInBackground("srv", "ip -4 addr show dev eth0; exec nc -ll -p 80 -e cat");
  std::optional<agent::EndpointStatus> ep = waitForAttached(endpointOf("srv"));
  ASSERT_TRUE(ep && ep->attached) << (ep ? ep->problem : "no endpoint " + endpointOf("srv")) << "\n"
                                  << srv.output() << diagnostics();
  const std::string ip = ep->ip;
  EXPECT_TRUE(inCidr(ip, "10.91.1.0/24")) << ip;
  EXPECT_EQ(ep->interface, runtime::hostInterfaceName(containerID("srv"), "eth0"));
  EXPECT_EQ(waitForOutput(srv, std::regex(R"(inet (\S+)/32)")), ip) << srv.output();

  // No policy selects it: a pod with labels on its node reaches it.
  EXPECT_EQ(connectEventually(a.netnsPath, ip, 80), TcpResult::Connected);

  // A second container reaches the first, and the world as the node's
  // address; ctr deletes its network when it exits.
  Ran client = runContainer("client", ncEcho("container", ip, 80) + " && " + ncEcho("world", "203.0.113.1", 8080));
  EXPECT_EQ(client.status, 0) << client.output << diagnostics();
  EXPECT_NE(client.output.find("container\nworld"), std::string::npos) << client.output;
  ASSERT_TRUE(world.waitForAccepted(1));
  EXPECT_EQ(world.peers().front(), "192.168.90.1") << "masqueraded as node-1";
  EXPECT_TRUE(waitForGone(endpointOf("client"))) << "DEL of the client";

  // A NetworkPolicy selecting every pod of x isolates x's pods, not the container.
  ASSERT_TRUE(apply("deny-x.yaml", R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
)"));
  EXPECT_EQ(droppedEventually(a.netnsPath, b.ip, 80), TcpResult::TimedOut) << "x/b is isolated";
  EXPECT_EQ(tcpConnectFrom(a.netnsPath, ip, 80, 1s), TcpResult::Connected) << "the container is not";

  // Peer selectors: a CCNP admitting every endpoint into x/a admits pods of
  // every namespace (x/b), never the container ...
  ASSERT_TRUE(apply("a-ingress.yaml", R"(apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: a-from-every-endpoint}
spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress: [{fromEndpoints: [{}]}]
)"));
  EXPECT_EQ(connectEventually(b.netnsPath, a.ip, 80), TcpResult::Connected) << "x/b, a pod";
  Ran denied = exec("srv", ncEcho("denied", a.ip, 80, 2));
  EXPECT_NE(denied.status, 0) << denied.output;
  EXPECT_NE(denied.output.find("nc: timed out"), std::string::npos) << "dropped: " << denied.output;
  // ... while the `cluster` entity includes it.
  ASSERT_TRUE(apply("a-ingress.yaml", R"(apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: a-from-the-cluster}
spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress: [{fromEntities: [cluster]}]
)"));
  Ran allowed;
  for (auto deadline = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < deadline;)
    if ((allowed = exec("srv", ncEcho("allowed", a.ip, 80, 1))).status == 0) break;
  EXPECT_EQ(allowed.status, 0) << allowed.output;
  EXPECT_NE(allowed.output.find("allowed"), std::string::npos) << allowed.output;

  // A CCNP whose endpointSelector is {} selects every endpoint, the
  // container included (as in Cilium): `ingress: [{}]` isolates it.
  ASSERT_TRUE(apply("isolate-all.yaml", R"(apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: isolate-every-endpoint}
spec:
  endpointSelector: {}
  ingress: [{}]
)"));
  EXPECT_EQ(droppedEventually(a.netnsPath, ip, 80), TcpResult::TimedOut) << "the container is isolated";

  // DEL: the task killed, ctr deletes the network, then the container (--rm).
  const std::string host = runtime::hostInterfaceName(containerID("srv"), "eth0");
  Ran kill = ctr({"tasks", "kill", "-s", "SIGKILL", "srv"});
  EXPECT_EQ(kill.status, 0) << kill.output;
  std::optional<int> exited = srv.wait(20s);
  ASSERT_TRUE(exited) << "ctr run did not return:\n" << srv.output() << diagnostics();
  EXPECT_TRUE(waitForGone(endpointOf("srv")));
  EXPECT_EQ(runCommandOrThrow({"ip", "-n", nodes_[kNode], "link", "show"}).find(host), std::string::npos);
  EXPECT_EQ(runCommandOrThrow({"ip", "-n", nodes_[kNode], "route", "show"}).find(ip + " "), std::string::npos);
  Ran containers = ctr({"containers", "ls", "-q"});
  EXPECT_EQ(containers.status, 0) << containers.output;
  EXPECT_EQ(containers.output, "") << "ctr run --rm removed them";
  // What the plugin was asked, in its log: ADD and DEL of both, containers and not pods.
  std::string cniLog = readFile(cniLog_);
  for (const auto& name : {"srv", "client"})
    for (const std::string command : {"ADD", "DEL"})
      EXPECT_NE(cniLog.find(command + " container " + containerID(name) + " eth0: ok"), std::string::npos)
          << command << " " << name << "\n" << cniLog;
}

}  // namespace
}  // namespace sluice::agent_testing
