// sluice-cni as a container runtime runs it: the built binary, forked and
// executed with only the CNI variables in its environment and the network
// configuration on stdin, against a fake `sluice agent` on a unix socket that
// records what it is asked and answers what the case wants. Then the
// protocol and spec library (runtime/cni/) directly.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/cni/cni.h"
#include "runtime/cni/protocol.h"
#include "runtime/pod_network.h"
#include "tests/testing/command.h"

namespace sluice::cni {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// Running the plugin

struct CniRun {
  int status = -1;  // exit status; -1 when killed or not started
  std::string out, err;
  json outJson() const {
    try {
      return json::parse(out);
    } catch (const json::exception&) {
      return json();
    }
  }
  int code() const {
    json j = outJson();
    return j.is_object() && j.contains("code") ? j["code"].get<int>() : -1;
  }
  std::string msg() const {
    json j = outJson();
    return j.is_object() && j.contains("msg") ? j["msg"].get<std::string>() : "";
  }
};

std::ostream& operator<<(std::ostream& os, const CniRun& r) {
  return os << "exit " << r.status << "\nstdout: " << r.out << "\nstderr: " << r.err;
}

// fork/exec with exactly `env`, `input` on stdin; stdout and stderr captured.
// `netnsPath`: the child enters that network namespace first.
CniRun runCni(const std::vector<std::string>& env, const std::string& input, const std::string& netnsPath = "") {
  CniRun r;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return r;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    if (!netnsPath.empty()) {
      int fd = ::open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(125);
    }
    std::vector<char*> envp;
    for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    char* argv[] = {const_cast<char*>(SLUICE_CNI_BIN), nullptr};
    ::execve(SLUICE_CNI_BIN, argv, envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  ::signal(SIGPIPE, SIG_IGN);
  size_t written = 0;
  int inFd = in[1];
  if (input.empty()) {
    ::close(inFd);
    inFd = -1;
  }
  auto deadline = std::chrono::steady_clock::now() + 30s;
  bool outOpen = true, errOpen = true;
  while ((outOpen || errOpen) && std::chrono::steady_clock::now() < deadline) {
    pollfd p[3] = {{outOpen ? out[0] : -1, POLLIN, 0}, {errOpen ? err[0] : -1, POLLIN, 0}, {inFd, POLLOUT, 0}};
    if (::poll(p, 3, 100) < 0) continue;
    char buf[65536];
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else {
        (i == 0 ? outOpen : errOpen) = false;
      }
    }
    if (inFd >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = (p[2].revents & POLLOUT) ? ::write(inFd, input.data() + written, input.size() - written) : -1;
      if (n > 0) written += static_cast<size_t>(n);
      if (n <= 0 || written == input.size()) {
        ::close(inFd);
        inFd = -1;
      }
    }
  }
  if (inFd >= 0) ::close(inFd);
  ::close(out[0]);
  ::close(err[0]);
  if (outOpen || errOpen) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// ---------------------------------------------------------------------------
// A fake agent

class FakeAgent {
 public:
  explicit FakeAgent(std::string path) : path_(std::move(path)) {
    std::string error;
    fd_ = listenAgentSocket(path_, error);
    EXPECT_GE(fd_, 0) << error;
    if (::pipe2(stop_, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe";
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeAgent() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    (void)!::write(stop_[1], "x", 1);
    thread_.join();
    ::close(fd_);
    ::close(stop_[0]);
    ::close(stop_[1]);
    ::unlink(path_.c_str());
  }

  // What the agent answers; set before the plugin runs.
  Handler handler = [](const Request& r) {
    if (r.command == Command::Add) return Response::success(Result{});
    return Response::ok();
  };
  std::chrono::milliseconds delay{0};    // before answering
  bool closeWithoutAnswer = false;       // read the request, then hang up
  std::optional<std::string> rawAnswer;  // send this line instead of an encoded Response

  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<bool> delivered() {
    std::lock_guard lock(mu_);
    return delivered_;
  }

 private:
  void loop() {
    for (;;) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents) return;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      serve(c);
      ::close(c);
    }
  }

  void serve(int c) {
    if (closeWithoutAnswer || rawAnswer) {
      Request req;
      Error e;
      if (readRequest(c, req, e)) record(req);
      if (rawAnswer) (void)!::send(c, rawAnswer->data(), rawAnswer->size(), MSG_NOSIGNAL);
      return;
    }
    std::string error;
    bool ok = serveConnection(
        c,
        [this](const Request& req) {
          record(req);
          std::unique_lock lock(mu_);
          cv_.wait_for(lock, delay, [this] { return stopping_; });
          lock.unlock();
          return handler(req);
        },
        error);
    std::lock_guard lock(mu_);
    delivered_.push_back(ok);
  }

  void record(const Request& r) {
    std::lock_guard lock(mu_);
    requests_.push_back(r);
  }

  std::string path_;
  int fd_ = -1;
  int stop_[2] = {-1, -1};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<Request> requests_;
  std::vector<bool> delivered_;
};

// ---------------------------------------------------------------------------
// Fixtures

class CniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-cni-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/cni.sock";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The plugin entry as a runtime passes it: name and cniVersion filled in.
  std::string conf(const std::string& version = "1.1.0", const json& extra = json::object()) const {
    json j = {{"cniVersion", version},
              {"name", "sluice"},
              {"type", "sluice"},
              {"agentSocket", socket_},
              {"timeoutSeconds", 5}};
    for (const auto& [k, v] : extra.items()) {
      if (v.is_null())
        j.erase(k);
      else
        j[k] = v;
    }
    return j.dump();
  }

  static std::vector<std::string> env(const std::string& command, const std::string& cid = "default-c1",
                                      const std::string& netns = "/var/run/netns/pod1",
                                      const std::string& ifname = "eth0", const std::string& args = "") {
    std::vector<std::string> e = {"CNI_COMMAND=" + command, "CNI_PATH=/opt/cni/bin:/usr/lib/cni"};
    if (!cid.empty()) e.push_back("CNI_CONTAINERID=" + cid);
    if (!netns.empty()) e.push_back("CNI_NETNS=" + netns);
    if (!ifname.empty()) e.push_back("CNI_IFNAME=" + ifname);
    if (!args.empty()) e.push_back("CNI_ARGS=" + args);
    return e;
  }

  static constexpr const char* kPodArgs =
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-7h79q;K8S_POD_INFRA_CONTAINER_ID=abc123;"
      "K8S_POD_UID=0f1e";

  // What the lead's agent would answer for a pod: host end, pod end, a /32
  // through the link-local gateway.
  static Result podResult(const std::string& netns = "/var/run/netns/pod1") {
    Result r;
    r.interfaces.push_back(Interface{"slc0123456789ab", "ee:ee:ee:ee:ee:ee", 1450, "", "", ""});
    r.interfaces.push_back(Interface{"eth0", "02:42:0a:f4:01:07", 1450, netns, "", ""});
    r.ips.push_back(IpConfig{"10.244.1.7/32", "169.254.1.1", 1});
    Route def;
    def.dst = "0.0.0.0/0";
    def.gw = "169.254.1.1";
    def.priority = 10;
    def.scope = 0;
    r.routes.push_back(def);
    r.dns.nameservers = {"10.96.0.10"};
    r.dns.search = {"shop.svc.cluster.local"};
    return r;
  }

  std::string dir_, socket_;
};

void expectError(const CniRun& r, int code, const std::string& inMsg = "") {
  EXPECT_NE(r.status, 0) << r;
  EXPECT_EQ(r.code(), code) << r;
  if (!inMsg.empty()) {
    EXPECT_NE(r.msg().find(inMsg), std::string::npos) << "expected '" << inMsg << "' in\n" << r;
  }
  json j = r.outJson();
  EXPECT_TRUE(j.contains("cniVersion") && j["cniVersion"].is_string()) << r;
}

// ---------------------------------------------------------------------------
// VERSION

TEST_F(CniTest, VersionListsExactlyWhatItImplements) {
  CniRun r = runCni({"CNI_COMMAND=VERSION"}, R"({"cniVersion":"1.0.0"})");
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.outJson(), json::parse(R"({"cniVersion":"1.0.0","supportedVersions":["1.0.0","1.1.0"]})")) << r;

  // An older runtime probing: its version is echoed, the list is the same.
  r = runCni({"CNI_COMMAND=VERSION"}, R"({"cniVersion":"0.4.0"})");
  EXPECT_EQ(r.outJson(), json::parse(R"({"cniVersion":"0.4.0","supportedVersions":["1.0.0","1.1.0"]})")) << r;

  r = runCni({"CNI_COMMAND=VERSION"}, "");
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.outJson()["cniVersion"], "1.1.0") << r;
}

// ---------------------------------------------------------------------------
// The environment

TEST_F(CniTest, CommandMissingOrUnknown) {
  CniRun r = runCni({}, conf());
  expectError(r, kInvalidEnvironment, "CNI_COMMAND is not set");
  EXPECT_NE(r.err.find("CNI plugin"), std::string::npos) << r;
  r = runCni({"CNI_COMMAND=add"}, conf());
  expectError(r, kInvalidEnvironment, "CNI_COMMAND 'add' is not a CNI command");
}

TEST_F(CniTest, RequiredVariablesPerCommand) {
  CniRun r = runCni({"CNI_COMMAND=ADD", "CNI_PATH=/opt/cni/bin"}, conf());
  expectError(r, kInvalidEnvironment, "CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME");
  r = runCni(env("ADD", "c1", ""), conf("1.0.0"));
  expectError(r, kInvalidEnvironment, "not set for ADD: CNI_NETNS");
  EXPECT_EQ(r.outJson()["cniVersion"], "1.0.0") << r;  // the configuration's, though it is read later
  r = runCni(env("CHECK", "c1", "/var/run/netns/x", ""), conf());
  expectError(r, kInvalidEnvironment, "not set for CHECK: CNI_IFNAME");
  r = runCni(env("DEL", ""), conf());
  expectError(r, kInvalidEnvironment, "not set for DEL: CNI_CONTAINERID");
  r = runCni({"CNI_COMMAND=GC"}, conf());
  expectError(r, kInvalidEnvironment, "not set for GC: CNI_PATH");

  // DEL without CNI_NETNS (containerd passes none when the namespace is
  // gone) and STATUS with nothing but CNI_COMMAND are complete.
  FakeAgent agent(socket_);
  r = runCni(env("DEL", "default-c1", ""), conf());
  EXPECT_EQ(r.status, 0) << r;
  r = runCni({"CNI_COMMAND=STATUS"}, conf());
  EXPECT_EQ(r.status, 0) << r;
  ASSERT_EQ(agent.requests().size(), 2u);
  EXPECT_EQ(agent.requests()[0].netns, "");
  EXPECT_EQ(agent.requests()[1].command, Command::Status);
}

TEST_F(CniTest, ContainerIdRules) {
  for (std::string bad : {"-c1", ".c1", "_c1", "c 1", "c/1", "c:1", "c\xc3\xa9"}) {
    CniRun r = runCni(env("ADD", bad), conf());
    expectError(r, kInvalidEnvironment, "CNI_CONTAINERID");
  }
  FakeAgent agent(socket_);
  for (std::string good : {"default-c1", "A_b.c-9", "0123456789abcdef"}) {
    CniRun r = runCni(env("DEL", good), conf());
    EXPECT_EQ(r.status, 0) << good << "\n" << r;
  }
}

TEST_F(CniTest, InterfaceNameRules) {
  for (std::string bad : {"0123456789abcdef", ".", "..", "et/h0", "eth:0", "eth 0", "eth\t0",
                          "eth\xc2\xa0"
                          "0"}) {
    CniRun r = runCni(env("ADD", "c1", "/var/run/netns/pod1", bad), conf());
    expectError(r, kInvalidEnvironment, "CNI_IFNAME");
  }
  FakeAgent agent(socket_);
  CniRun r = runCni(env("DEL", "c1", "", "0123456789abcde"), conf());  // 15: the most a name may have
  EXPECT_EQ(r.status, 0) << r;
}

TEST_F(CniTest, CniArgs) {
  FakeAgent agent(socket_);
  // Unknown keys only with IgnoreUnknown, as the reference plugins read it.
  CniRun r = runCni(env("ADD", "c1", "/var/run/netns/pod1", "eth0", "K8S_POD_NAMESPACE=shop;FOO=bar"), conf());
  expectError(r, kInvalidEnvironment, "CNI_ARGS");
  EXPECT_NE(r.msg().find("FOO=bar"), std::string::npos) << r;
  r = runCni(env("ADD", "c1", "/var/run/netns/pod1", "eth0", "K8S_POD_NAMESPACE"), conf());
  expectError(r, kInvalidEnvironment, "CNI_ARGS");
  r = runCni(env("ADD", "c1", "/var/run/netns/pod1", "eth0", "IgnoreUnknown=maybe;FOO=bar"), conf());
  expectError(r, kInvalidEnvironment, "IgnoreUnknown=maybe");
  EXPECT_TRUE(agent.requests().empty());

  r = runCni(env("ADD", "c1", "/var/run/netns/pod1", "eth0", "FOO=bar;IgnoreUnknown=true;K8S_POD_NAME=p;"), conf());
  EXPECT_EQ(r.status, 0) << r;
  // `ctr run --cni` passes no CNI_ARGS at all.
  r = runCni(env("ADD", "c2"), conf());
  EXPECT_EQ(r.status, 0) << r;
  ASSERT_EQ(agent.requests().size(), 2u);
  EXPECT_EQ(agent.requests()[0].args, (PodArgs{"", "p", "", ""}));
  EXPECT_TRUE(agent.requests()[1].args.empty());
}

TEST_F(CniTest, NetnsOfThePluginItselfIsRefused) {
  FakeAgent agent(socket_);
  CniRun r = runCni(env("ADD", "c1", "/proc/self/ns/net"), conf());
  expectError(r, kInvalidEnvironment, "CNI_NETNS");
  EXPECT_TRUE(agent.requests().empty());
}

// ---------------------------------------------------------------------------
// The network configuration

TEST_F(CniTest, MalformedStdinIsADecodeFailure) {
  for (std::string bad : {"", "{", "not json", R"({"cniVersion": "1.1.0",})", "[]", "\"sluice\""}) {
    CniRun r = runCni(env("ADD"), bad);
    expectError(r, kDecodeFailure);
  }
  CniRun r = runCni(env("ADD"), conf("1.1.0", {{"cniVersion", 1}}));
  expectError(r, kDecodeFailure, "cniVersion");
}

TEST_F(CniTest, StdinOverTheLimitIsAnIoFailure) {
  std::string big = conf("1.1.0", {{"padding", std::string(600 << 10, 'x')}});
  CniRun r = runCni(env("ADD"), big);
  expectError(r, kIoFailure, "over 512 KiB");
}

TEST_F(CniTest, CniVersions) {
  CniRun r = runCni(env("ADD"), conf("0.4.0"));
  expectError(r, kIncompatibleVersion, "cniVersion '0.4.0'");
  EXPECT_NE(r.msg().find("1.0.0, 1.1.0"), std::string::npos) << r;
  EXPECT_EQ(r.outJson()["cniVersion"], "1.1.0") << r;
  r = runCni(env("ADD"), conf("1.1.0", {{"cniVersion", nullptr}}));
  expectError(r, kIncompatibleVersion, "no cniVersion");
  r = runCni({"CNI_COMMAND=STATUS"}, conf("1.0.0"));
  expectError(r, kIncompatibleVersion, "STATUS is a CNI 1.1.0 command");
  EXPECT_EQ(r.outJson()["cniVersion"], "1.0.0") << r;
  r = runCni(env("GC"), conf("1.0.0", {{"cni.dev/valid-attachments", json::array()}}));
  expectError(r, kIncompatibleVersion, "GC is a CNI 1.1.0 command");
}

TEST_F(CniTest, NameAndType) {
  CniRun r = runCni(env("ADD"), conf("1.1.0", {{"name", nullptr}}));
  expectError(r, kInvalidConfig, "no name");
  r = runCni(env("ADD"), conf("1.1.0", {{"name", "my net"}}));
  expectError(r, kInvalidConfig, "network name 'my net'");
  r = runCni(env("ADD"), conf("1.1.0", {{"type", "bridge"}}));
  expectError(r, kInvalidConfig, "plugin type 'bridge'");
  r = runCni(env("ADD"), conf("1.1.0", {{"type", nullptr}}));
  expectError(r, kInvalidConfig, "no \"type\"");
}

TEST_F(CniTest, SluiceFields) {
  FakeAgent agent(socket_);
  // A misspelt sluice field is refused with the key, its value and the field meant.
  CniRun r = runCni(env("ADD"), conf("1.1.0", {{"agentSockets", "/run/x.sock"}}));
  expectError(r, kUnsupportedField, "unsupported field \"agentSockets\": \"/run/x.sock\"");
  EXPECT_NE(r.msg().find("did you mean \"agentSocket\"?"), std::string::npos) << r;
  r = runCni(env("ADD"), conf("1.1.0", {{"TimeoutSeconds", 3}}));
  expectError(r, kUnsupportedField, "did you mean \"timeoutSeconds\"?");
  r = runCni(env("ADD"), conf("1.1.0", {{"logfile", "/tmp/x"}}));
  expectError(r, kUnsupportedField, "did you mean \"logFile\"?");
  r = runCni(env("ADD"), conf("1.1.0", {{"timeout", 30}}));
  expectError(r, kUnsupportedField, "did you mean \"timeoutSeconds\"?");

  // Known fields with the wrong value.
  r = runCni(env("ADD"), conf("1.1.0", {{"agentSocket", "run/sluice/cni.sock"}}));
  expectError(r, kInvalidConfig, "\"agentSocket\" is \"run/sluice/cni.sock\"");
  r = runCni(env("ADD"), conf("1.1.0", {{"timeoutSeconds", "60"}}));
  expectError(r, kInvalidConfig, "\"timeoutSeconds\"");
  r = runCni(env("ADD"), conf("1.1.0", {{"timeoutSeconds", 0}}));
  expectError(r, kInvalidConfig, "\"timeoutSeconds\"");
  r = runCni(env("ADD"), conf("1.1.0", {{"logFile", 3}}));
  expectError(r, kInvalidConfig, "\"logFile\"");
  EXPECT_TRUE(agent.requests().empty());

  // What runtimes add, and fields of no known name, pass through to the agent.
  json extra = {{"runtimeConfig", {{"portMappings", json::array()}}},
                {"args", {{"cni", {{"labels", json::array()}}}}},
                {"dns", {{"nameservers", {"10.96.0.10"}}}},
                {"ipam", json::object()},
                {"capabilities", {{"portMappings", true}}},
                {"mtu", 1450},
                {"cni.dev/debug", true}};
  r = runCni(env("ADD"), conf("1.1.0", extra));
  EXPECT_EQ(r.status, 0) << r;
  ASSERT_EQ(agent.requests().size(), 1u);
  EXPECT_EQ(agent.requests()[0].config, json::parse(conf("1.1.0", extra)));
}

// ---------------------------------------------------------------------------
// ADD

TEST_F(CniTest, AddForwardsThePodAndPrintsA100Result) {
  FakeAgent agent(socket_);
  agent.handler = [](const Request&) { return Response::success(podResult()); };
  CniRun r = runCni(env("ADD", "0f1e2d3c", "/var/run/netns/pod1", "eth0", kPodArgs), conf("1.0.0"));
  ASSERT_EQ(r.status, 0) << r;

  ASSERT_EQ(agent.requests().size(), 1u);
  auto requests = agent.requests();
  const Request& q = requests[0];
  EXPECT_EQ(q.version, kProtocolVersion);
  EXPECT_EQ(q.command, Command::Add);
  EXPECT_EQ(q.cniVersion, "1.0.0");
  EXPECT_EQ(q.containerID, "0f1e2d3c");
  EXPECT_EQ(q.netns, "/var/run/netns/pod1");
  EXPECT_EQ(q.ifname, "eth0");
  EXPECT_EQ(q.args, (PodArgs{"shop", "cart-7h79q", "abc123", "0f1e"}));
  EXPECT_EQ(q.network, "sluice");
  EXPECT_EQ(q.timeoutMs, 5000u);
  EXPECT_FALSE(q.prevResult);
  EXPECT_EQ(q.config, json::parse(conf("1.0.0")));

  // 1.0.0 has no interface mtu and no route mtu/advmss/priority/table/scope.
  EXPECT_EQ(r.outJson(), json::parse(R"({
    "cniVersion": "1.0.0",
    "interfaces": [
      {"name": "slc0123456789ab", "mac": "ee:ee:ee:ee:ee:ee"},
      {"name": "eth0", "mac": "02:42:0a:f4:01:07", "sandbox": "/var/run/netns/pod1"}],
    "ips": [{"interface": 1, "address": "10.244.1.7/32", "gateway": "169.254.1.1"}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "169.254.1.1"}],
    "dns": {"nameservers": ["10.96.0.10"], "search": ["shop.svc.cluster.local"]}})"))
      << r;
  EXPECT_EQ(r.out.find("\"cniVersion\""), r.out.find('"')) << "cniVersion comes first\n" << r;
}

TEST_F(CniTest, AddPrintsA110Result) {
  FakeAgent agent(socket_);
  agent.handler = [](const Request&) { return Response::success(podResult()); };
  CniRun r = runCni(env("ADD", "c1", "/var/run/netns/pod1", "eth0", kPodArgs), conf("1.1.0"));
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.outJson(), json::parse(R"({
    "cniVersion": "1.1.0",
    "interfaces": [
      {"name": "slc0123456789ab", "mac": "ee:ee:ee:ee:ee:ee", "mtu": 1450},
      {"name": "eth0", "mac": "02:42:0a:f4:01:07", "mtu": 1450, "sandbox": "/var/run/netns/pod1"}],
    "ips": [{"interface": 1, "address": "10.244.1.7/32", "gateway": "169.254.1.1"}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "169.254.1.1", "priority": 10, "scope": 0}],
    "dns": {"nameservers": ["10.96.0.10"], "search": ["shop.svc.cluster.local"]}})"))
      << r;
}

TEST_F(CniTest, AddAfterAnotherPluginExtendsItsPrevResult) {
  FakeAgent agent(socket_);
  agent.handler = [](const Request&) { return Response::success(podResult()); };
  json prev = json::parse(R"({"cniVersion": "1.1.0", "interfaces": [{"name": "lo", "sandbox": "/var/run/netns/pod1"}],
                              "ips": [{"interface": 0, "address": "127.0.0.1/8"}],
                              "dns": {"nameservers": ["1.1.1.1"]}})");
  CniRun r = runCni(env("ADD"), conf("1.1.0", {{"prevResult", prev}}));
  ASSERT_EQ(r.status, 0) << r;
  ASSERT_EQ(agent.requests().size(), 1u);
  ASSERT_TRUE(agent.requests()[0].prevResult);
  EXPECT_EQ(agent.requests()[0].prevResult->interfaces[0].name, "lo");
  json out = r.outJson();
  ASSERT_EQ(out["interfaces"].size(), 3u) << r;
  EXPECT_EQ(out["interfaces"][0]["name"], "lo");
  EXPECT_EQ(out["ips"][0]["interface"], 0);
  EXPECT_EQ(out["ips"][1]["interface"], 2);  // the agent's index 1, past the loopback
  EXPECT_EQ(out["dns"]["nameservers"], json::array({"10.96.0.10"}));
}

TEST_F(CniTest, AgentErrorsArePassedThrough) {
  FakeAgent agent(socket_);
  agent.handler = [](const Request&) {
    return Response::failure(kInvalidConfig, "node worker-2 has no spec.podCIDR: the agent cannot give pods addresses",
                             "set --allocate-node-cidrs on the controller manager");
  };
  CniRun r = runCni(env("ADD", "c1", "/var/run/netns/pod1", "eth0", kPodArgs), conf("1.0.0"));
  expectError(r, kInvalidConfig, "node worker-2 has no spec.podCIDR");
  EXPECT_EQ(r.outJson()["details"], "set --allocate-node-cidrs on the controller manager") << r;
  EXPECT_EQ(r.outJson()["cniVersion"], "1.0.0") << r;

  agent.handler = [](const Request&) { return Response::failure(kUnknownContainer, "no such container"); };
  r = runCni(env("CHECK"), conf("1.1.0", {{"prevResult", resultToJson(podResult())}}));
  expectError(r, kUnknownContainer, "no such container");
  EXPECT_FALSE(r.outJson().contains("details")) << r;
}

TEST_F(CniTest, AgentAnswersThatDoNotReadAreDecodeFailures) {
  FakeAgent agent(socket_);
  agent.handler = [](const Request&) {
    Result bad = podResult();
    bad.ips[0].interface = 7;
    return Response::success(bad);
  };
  CniRun r = runCni(env("ADD"), conf());
  expectError(r, kDecodeFailure, "invalid result");
  EXPECT_NE(r.msg().find("ips[0].interface is 7"), std::string::npos) << r;

  agent.rawAnswer = "this is not json\n";
  r = runCni(env("ADD"), conf());
  expectError(r, kDecodeFailure, "cannot read");
  agent.rawAnswer = R"({"version": 1})"
                    "\n";  // an ADD answer with no result
  r = runCni(env("ADD"), conf());
  expectError(r, kDecodeFailure, "cannot read");
  agent.rawAnswer = R"({"version": 2, "result": {}})"
                    "\n";
  r = runCni(env("ADD"), conf());
  expectError(r, kProtocolMismatch, "different releases");
}

TEST_F(CniTest, AgentHangingUpIsTryAgainLater) {
  FakeAgent agent(socket_);
  agent.closeWithoutAnswer = true;
  CniRun r = runCni(env("ADD", "c1", "/var/run/netns/pod1", "eth0", kPodArgs), conf());
  expectError(r, kTryAgainLater, "closed the connection without answering ADD for pod shop/cart-7h79q");
  EXPECT_EQ(agent.requests().size(), 1u);
}

TEST_F(CniTest, SlowAgentIsTryAgainLaterAfterTheTimeout) {
  FakeAgent agent(socket_);
  agent.delay = 20s;
  agent.handler = [](const Request&) { return Response::success(podResult()); };
  auto start = std::chrono::steady_clock::now();
  CniRun r =
      runCni(env("ADD", "c1", "/var/run/netns/pod1", "eth0", kPodArgs), conf("1.1.0", {{"timeoutSeconds", 0.5}}));
  auto took = std::chrono::steady_clock::now() - start;
  expectError(r, kTryAgainLater, "did not answer ADD for pod shop/cart-7h79q within 0.5 s (timeoutSeconds)");
  EXPECT_NE(r.msg().find("try again later"), std::string::npos) << r;
  EXPECT_LT(took, 5s);
  ASSERT_EQ(agent.requests().size(), 1u);
  EXPECT_EQ(agent.requests()[0].timeoutMs, 500u);
}

// ---------------------------------------------------------------------------
// Without an agent

TEST_F(CniTest, AgentUnreachable) {
  // No socket at all.
  CniRun r = runCni(env("ADD", "c1", "/var/run/netns/pod1", "eth0", kPodArgs), conf());
  expectError(r, kTryAgainLater,
              fmt::format("cannot reach the sluice agent at {} (no such file or directory): is "
                          "`sluice agent` running on this node? try again later",
                          socket_));
  r = runCni(env("CHECK"), conf("1.1.0", {{"prevResult", resultToJson(podResult())}}));
  expectError(r, kTryAgainLater, "cannot reach the sluice agent");
  r = runCni(env("GC"), conf("1.1.0", {{"cni.dev/valid-attachments", json::array()}}));
  expectError(r, kTryAgainLater, "cannot reach the sluice agent");
  r = runCni({"CNI_COMMAND=STATUS"}, conf());
  expectError(r, kNotAvailable, "is not available");

  // DEL succeeds, and says so on stderr, with or without CNI_NETNS.
  r = runCni(env("DEL"), conf("1.1.0", {{"prevResult", resultToJson(podResult())}}));
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "") << r;
  EXPECT_NE(r.err.find("DEL succeeds anyway"), std::string::npos) << r;
  r = runCni(env("DEL", "c1", ""), conf());
  EXPECT_EQ(r.status, 0) << r;

  // A socket left by an agent that died: connection refused.
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, socket_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  r = runCni(env("ADD"), conf());
  expectError(r, kTryAgainLater, "(connection refused)");
  r = runCni(env("DEL"), conf());
  EXPECT_EQ(r.status, 0) << r;
  r = runCni({"CNI_COMMAND=STATUS"}, conf());
  expectError(r, kNotAvailable, "connection refused");
}

// DEL with no agent deletes the pod's host interface: in a network namespace
// of its own, a veth named as the agent names it.
TEST_F(CniTest, DelWithoutAgentDeletesTheHostInterface) {
  ASSERT_EQ(::geteuid(), 0u) << "this case makes a network namespace and a veth: it needs root (CI runs as root)";
  std::string ns = fmt::format("sluice-cni-test-{}", ::getpid());
  std::string host = runtime::hostInterfaceName("default-c9", "eth0");
  ASSERT_EQ(testing::runCommand(fmt::format("ip netns add {} 2>&1", ns)).status, 0);
  struct Cleanup {
    std::string ns;
    ~Cleanup() { testing::runCommand(fmt::format("ip netns del {} 2>&1", ns)); }
  } cleanup{ns};
  auto made = testing::runCommand(fmt::format("ip -n {} link add {} type veth peer name tmp0 2>&1", ns, host));
  ASSERT_EQ(made.status, 0) << made.out;

  CniRun r = runCni(env("DEL", "default-c9", ""), conf(), "/var/run/netns/" + ns);
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_NE(r.err.find(fmt::format("host interface {} is gone", host)), std::string::npos) << r;
  EXPECT_NE(testing::runCommand(fmt::format("ip -n {} link show {} 2>&1", ns, host)).status, 0);
  // Again: nothing left to delete, still success.
  r = runCni(env("DEL", "default-c9", ""), conf(), "/var/run/netns/" + ns);
  EXPECT_EQ(r.status, 0) << r;
}

// ---------------------------------------------------------------------------
// DEL, CHECK, GC, STATUS through the agent

TEST_F(CniTest, DelForwardsThePrevResultAndPrintsNothing) {
  FakeAgent agent(socket_);
  CniRun r = runCni(env("DEL", "c1", "", "eth0", kPodArgs), conf("1.0.0", {{"prevResult", resultToJson(podResult())}}));
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "") << r;
  ASSERT_EQ(agent.requests().size(), 1u);
  auto requests = agent.requests();
  const Request& q = requests[0];
  EXPECT_EQ(q.command, Command::Del);
  ASSERT_TRUE(q.prevResult);
  EXPECT_EQ(*q.prevResult, podResult());
  EXPECT_EQ(q.args.podName, "cart-7h79q");

  // A prevResult that does not read does not stop a DEL.
  r = runCni(env("DEL"), conf("1.1.0", {{"prevResult", {{"ips", "none"}}}}));
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_NE(r.err.find("ignoring a prevResult"), std::string::npos) << r;
  ASSERT_EQ(agent.requests().size(), 2u);
  EXPECT_FALSE(agent.requests()[1].prevResult);
}

TEST_F(CniTest, CheckNeedsThePrevResult) {
  FakeAgent agent(socket_);
  CniRun r = runCni(env("CHECK"), conf());
  expectError(r, kInvalidConfig, "CHECK needs the prevResult");
  r = runCni(env("CHECK"), conf("1.1.0", {{"prevResult", {{"interfaces", {{{"name", 3}}}}}}}));
  expectError(r, kDecodeFailure, "interfaces[0].name");
  EXPECT_TRUE(agent.requests().empty());
  r = runCni(env("CHECK"), conf("1.1.0", {{"prevResult", resultToJson(podResult())}}));
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "") << r;
  ASSERT_EQ(agent.requests().size(), 1u);
  EXPECT_EQ(agent.requests()[0].command, Command::Check);
  EXPECT_EQ(*agent.requests()[0].prevResult, podResult());
}

TEST_F(CniTest, GcForwardsTheValidAttachments) {
  FakeAgent agent(socket_);
  json valid = json::parse(R"([{"containerID": "c1", "ifname": "eth0"}, {"containerID": "c2", "ifname": "net1"}])");
  CniRun r = runCni({"CNI_COMMAND=GC", "CNI_PATH=/opt/cni/bin"}, conf("1.1.0", {{"cni.dev/valid-attachments", valid}}));
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "") << r;
  // libcni also sends the spec's earlier name; alone, it is read too.
  r = runCni(env("GC"), conf("1.1.0", {{"cni.dev/attachments", valid}}));
  EXPECT_EQ(r.status, 0) << r;
  // No list at all is refused: it would make every pod on the node stale.
  r = runCni(env("GC"), conf());
  expectError(r, kInvalidConfig, "GC without \"cni.dev/valid-attachments\"");
  // null, as libcni sends an empty list: no attachment is valid any more.
  json nullList = json::parse(conf());
  nullList["cni.dev/valid-attachments"] = nullptr;
  r = runCni(env("GC"), nullList.dump());
  EXPECT_EQ(r.status, 0) << r;
  r = runCni(env("GC"), conf("1.1.0", {{"cni.dev/valid-attachments", {{{"containerID", "c1"}}}}}));
  expectError(r, kDecodeFailure, "cni.dev/valid-attachments");

  auto q = agent.requests();
  ASSERT_EQ(q.size(), 3u);
  std::vector<Attachment> expected = {{"c1", "eth0"}, {"c2", "net1"}};
  EXPECT_EQ(q[0].command, Command::Gc);
  EXPECT_EQ(q[0].validAttachments, expected);
  EXPECT_EQ(q[0].containerID, "");
  EXPECT_EQ(q[1].validAttachments, expected);
  EXPECT_TRUE(q[2].validAttachments.empty());
}

TEST_F(CniTest, Status) {
  FakeAgent agent(socket_);
  CniRun r = runCni({"CNI_COMMAND=STATUS"}, conf());
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "") << r;
  agent.handler = [](const Request&) {
    return Response::failure(kLimitedConnectivity, "the agent lost the Kubernetes API 3 minutes ago");
  };
  r = runCni({"CNI_COMMAND=STATUS"}, conf("1.1.0", {{"timeoutSeconds", 600}}));
  expectError(r, kLimitedConnectivity, "lost the Kubernetes API");
  ASSERT_EQ(agent.requests().size(), 2u);
  EXPECT_EQ(agent.requests()[1].timeoutMs, 10000u);  // STATUS never waits more than 10 s
}

TEST_F(CniTest, LogFile) {
  FakeAgent agent(socket_);
  agent.handler = [](const Request&) { return Response::success(podResult()); };
  std::string log = dir_ + "/cni.log";
  CniRun r = runCni(env("ADD", "c1", "/var/run/netns/pod1", "eth0", kPodArgs), conf("1.1.0", {{"logFile", log}}));
  ASSERT_EQ(r.status, 0) << r;
  r = runCni(env("ADD", "c1", "/var/run/netns/pod1", "eth0", kPodArgs),
             conf("1.1.0", {{"logFile", log}, {"agentSocket", dir_ + "/none.sock"}}));
  ASSERT_EQ(r.status, 1) << r;
  std::ifstream in(log);
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  EXPECT_NE(first.find("ADD pod shop/cart-7h79q eth0: ok, 10.244.1.7/32"), std::string::npos) << first;
  EXPECT_NE(second.find("ADD pod shop/cart-7h79q eth0: error 11: cannot reach"), std::string::npos) << second;
}

// ---------------------------------------------------------------------------
// The library

TEST(CniProtocol, RequestAndResponseRoundTrip) {
  Request q;
  q.command = Command::Gc;
  q.cniVersion = "1.1.0";
  q.args = PodArgs{"ns", "name", "infra", "uid"};
  q.network = "sluice";
  q.timeoutMs = 1234;
  q.prevResult = Result{};
  q.prevResult->ips.push_back(IpConfig{"10.0.0.1/32", "", std::nullopt});
  q.validAttachments = {{"a", "eth0"}};
  q.config = {{"type", "sluice"}, {"x", {1, 2}}};
  std::string text = encodeRequest(q);
  EXPECT_EQ(text.find('\n'), std::string::npos);
  Request back;
  Error e;
  ASSERT_TRUE(decodeRequest(text, back, e)) << e.msg;
  EXPECT_EQ(back.command, q.command);
  EXPECT_EQ(back.args, q.args);
  EXPECT_EQ(back.timeoutMs, q.timeoutMs);
  EXPECT_EQ(back.prevResult, q.prevResult);
  EXPECT_EQ(back.validAttachments, q.validAttachments);
  EXPECT_EQ(back.config, q.config);

  Response ok;
  std::string problem;
  ASSERT_TRUE(decodeResponse(encodeResponse(Response::ok()), Command::Del, ok, problem)) << problem;
  EXPECT_FALSE(ok.error);
  EXPECT_FALSE(decodeResponse(encodeResponse(Response::ok()), Command::Add, ok, problem));
  ASSERT_TRUE(
      decodeResponse(encodeResponse(Response::failure(kTryAgainLater, "busy", "d")), Command::Add, ok, problem));
  EXPECT_EQ(ok.error->code, kTryAgainLater);
  EXPECT_EQ(ok.error->details, "d");
  EXPECT_EQ(encodeResponse(Response::failure(kTryAgainLater, "busy")),
            R"({"error":{"code":11,"msg":"busy"},"version":1})");

  // Invalid UTF-8 from the environment is replaced, not thrown.
  q.netns = "/proc/1/ns/\xff";
  EXPECT_NO_THROW(encodeRequest(q));
}

TEST(CniProtocol, DecodeRequestRefusals) {
  Request q;
  Error e;
  EXPECT_FALSE(decodeRequest(R"({"version": 2, "command": "ADD"})", q, e));
  EXPECT_EQ(e.code, kProtocolMismatch);
  EXPECT_FALSE(decodeRequest(R"({"command": "ADD"})", q, e));
  EXPECT_EQ(e.code, kDecodeFailure);
  EXPECT_FALSE(decodeRequest(R"({"version": 1, "command": "VERSION"})", q, e));
  EXPECT_EQ(e.code, kDecodeFailure);
  EXPECT_FALSE(decodeRequest(R"({"version": 1, "command": "ADD", "args": {"K8S_POD_NAME": 3}})", q, e));
  EXPECT_FALSE(decodeRequest("[1]", q, e));
  EXPECT_TRUE(decodeRequest(R"({"version": 1, "command": "STATUS"})", q, e)) << e.msg;
}

class CniSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-cni-sock-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(CniSocketTest, ListenMakesDirectoriesReplacesStaleSocketsAndRefusesLiveOnes) {
  std::string path = dir_ + "/run/sluice/cni.sock";
  std::string error;
  int fd = listenAgentSocket(path, error);
  ASSERT_GE(fd, 0) << error;
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(listenAgentSocket(path, error), -1);
  EXPECT_NE(error.find("another process answers"), std::string::npos) << error;
  ::close(fd);  // the agent died; its socket file stays
  fd = listenAgentSocket(path, error);
  EXPECT_GE(fd, 0) << error;
  ::close(fd);
  std::ofstream(dir_ + "/file") << "x";
  EXPECT_EQ(listenAgentSocket(dir_ + "/file", error), -1);
  EXPECT_NE(error.find("is not a socket"), std::string::npos) << error;
}

TEST_F(CniSocketTest, ServeConnectionAnswersWhatTheHandlerSaysOrThrows) {
  std::string path = dir_ + "/cni.sock";
  std::string error;
  int fd = listenAgentSocket(path, error);
  ASSERT_GE(fd, 0) << error;
  std::atomic<int> served{0};
  std::thread server([&] {
    for (int i = 0; i < 3; ++i) {
      int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      std::string e;
      serveConnection(
          c,
          [](const Request& r) -> Response {
            if (r.ifname == "boom") throw std::runtime_error("kaboom");
            Result res;
            res.interfaces.push_back(Interface{r.ifname, "", 0, "", "", ""});
            return Response::success(res);
          },
          e);
      ::close(c);
      ++served;
    }
  });
  Request q;
  q.ifname = "eth0";
  AgentAnswer a = callAgent(path, q, 5s);
  ASSERT_EQ(a.status, AgentAnswer::Status::Answered) << a.problem;
  ASSERT_TRUE(a.response.result);
  EXPECT_EQ(a.response.result->interfaces[0].name, "eth0");
  q.ifname = "boom";
  a = callAgent(path, q, 5s);
  ASSERT_EQ(a.status, AgentAnswer::Status::Answered) << a.problem;
  ASSERT_TRUE(a.response.error);
  EXPECT_EQ(a.response.error->code, kInternal);
  EXPECT_NE(a.response.error->msg.find("kaboom"), std::string::npos);

  // A request over the limit is refused with an error, not read forever.
  int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string big(kMaxMessageBytes + 10, 'x');
  size_t sent = 0;
  while (sent < big.size()) {
    ssize_t n = ::send(c, big.data() + sent, big.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  ::shutdown(c, SHUT_WR);
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = ::read(c, buf, sizeof buf)) > 0;) answer.append(buf, static_cast<size_t>(n));
  ::close(c);
  server.join();
  ::close(fd);
  Response resp;
  std::string problem;
  ASSERT_TRUE(decodeResponse(answer.substr(0, answer.find('\n')), Command::Add, resp, problem)) << answer;
  ASSERT_TRUE(resp.error);
  EXPECT_NE(resp.error->msg.find("over the protocol's limit"), std::string::npos) << resp.error->msg;
  EXPECT_EQ(served, 3);
}

TEST(CniSpec, Names) {
  EXPECT_EQ(containerIdProblem("default-c1"), "");
  EXPECT_NE(containerIdProblem(""), "");
  EXPECT_NE(containerIdProblem("-a"), "");
  EXPECT_EQ(interfaceNameProblem("eth0"), "");
  EXPECT_EQ(interfaceNameProblem("0123456789abcde"), "");
  EXPECT_NE(interfaceNameProblem("0123456789abcdef"), "");
  EXPECT_NE(interfaceNameProblem("a\xe3\x80\x80"
                                 "b"),
            "");                                       // U+3000, ideographic space
  EXPECT_EQ(interfaceNameProblem("\xc3\xa9th0"), "");  // é is not a space
  EXPECT_NE(networkNameProblem("a b"), "");
}

TEST(CniSpec, CniArgs) {
  PodArgs p;
  std::string problem;
  EXPECT_TRUE(parseCniArgs("", p, problem));
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(parseCniArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=a;K8S_POD_NAME=b;X=y", p, problem)) << problem;
  EXPECT_EQ(p, (PodArgs{"a", "b", "", ""}));
  EXPECT_FALSE(parseCniArgs("X=y", p, problem));
  EXPECT_FALSE(parseCniArgs("K8S_POD_NAME=a=b", p, problem));
  EXPECT_FALSE(parseCniArgs("=b", p, problem));
  EXPECT_TRUE(parseCniArgs("X=y;IgnoreUnknown=TRUE", p, problem)) << problem;
}

TEST(CniSpec, ResultReadsBothVersionsAndChecks) {
  Result r;
  std::string problem;
  // A 0.4.0-style "version" in ips and unknown keys are ignored.
  ASSERT_TRUE(resultFromJson(json::parse(R"({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
      "ips": [{"version": "4", "address": "10.1.0.5/16", "interface": 0}], "routes": [{"dst": "0.0.0.0/0", "table": 0}],
      "extra": 1})"),
                             r, problem))
      << problem;
  EXPECT_EQ(checkResult(r), "");
  ASSERT_TRUE(r.routes[0].table);
  EXPECT_EQ(*r.routes[0].table, 0u);
  EXPECT_EQ(renderResult(r, "1.0.0")["routes"][0].size(), 1u);  // dst only
  EXPECT_EQ(renderResult(r, "1.1.0")["routes"][0]["table"], 0);
  r.ips[0].address = "10.1.0.5";
  EXPECT_NE(checkResult(r), "");
  EXPECT_FALSE(resultFromJson(json::parse(R"({"ips": [{"interface": -1, "address": "10.0.0.1/32"}]})"), r, problem));
  EXPECT_FALSE(resultFromJson(json::parse(R"({"interfaces": {}})"), r, problem));
}

}  // namespace
}  // namespace sluice::cni
