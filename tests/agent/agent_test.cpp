// `sluice agent` on a real kernel: two nodes of network namespaces, agents
// following a manifest directory, real TCP between the pods (fixture in
// agent_fixture.h). These tests need root; they fail (never skip) without it.
#include <elf.h>
#include <sys/wait.h>

#include <csignal>
#include <cstring>
#include <sstream>

#include <httplib.h>

#include "tests/agent/agent_fixture.h"

namespace sluice::agent_testing {
namespace {

using kernel_testing::TcpResult;
using kernel_testing::TcpSession;
using kernel_testing::tcpListen;
using runtime::TcHook;

TEST_F(AgentCluster, AttachesEveryLocalPodAndEnforcesThePolicy) {
  write("policy.yaml", bIngress({80}));
  auto b80 = tcpListen(cluster_, "b", 80);
  auto b81 = tcpListen(cluster_, "b", 81);
  AgentThread& n1 = startAgent("node-1");
  AgentThread& n2 = startAgent("node-2");
  ASSERT_TRUE(n1.waitForGeneration(1));
  ASSERT_TRUE(n2.waitForGeneration(1));
  agent::AgentStatus s = n1.status();
  ASSERT_EQ(s.endpoints.size(), 2u);
  for (const auto& e : s.endpoints) EXPECT_EQ(e.interface, cluster_.hostIfName(e.pod == "x/a" ? "a" : "b")) << e.pod;
  EXPECT_EQ(n2.status().endpoints.size(), 1u);
  for (const char* pod : {"a", "b"}) {
    EXPECT_GT(attachedProgram(pod, TcHook::Ingress), 0) << pod;
    EXPECT_GT(attachedProgram(pod, TcHook::Egress), 0) << pod;
  }
  EXPECT_EQ(connect("a", "b", 80), TcpResult::Connected);
  EXPECT_EQ(connect("a", "b", 81), TcpResult::TimedOut);
  EXPECT_EQ(connect("c", "b", 80), TcpResult::TimedOut) << "only x/a is admitted";
}

TEST_F(AgentCluster, PolicyChangesTakeEffectForNewConnectionsAndEstablishedOnesSurvive) {
  write("policy.yaml", bIngress({80}));
  auto b80 = tcpListen(cluster_, "b", 80);
  auto b81 = tcpListen(cluster_, "b", 81);
  AgentThread& n1 = startAgent("node-1");
  ASSERT_TRUE(n1.waitForGeneration(1));
  TcpSession session(cluster_, "a", cluster_.podIp("b"), 80, 10ms);
  ASSERT_TRUE(session.waitForExchanges(3, 2s));

  // Still allowed (a port added): the session goes on through the swap.
  write("policy.yaml", bIngress({80, 81}));
  ASSERT_TRUE(n1.waitForGeneration(2));
  EXPECT_EQ(connect("a", "b", 81), TcpResult::Connected);
  ASSERT_TRUE(session.waitForExchanges(5, 2s));

  // allow -> deny (file replaced by rename): new connections to 80 are refused...
  replace("policy.yaml", bIngress({81}));
  ASSERT_TRUE(n1.waitForGeneration(3));
  EXPECT_EQ(connect("a", "b", 80), TcpResult::TimedOut);
  EXPECT_EQ(connect("a", "b", 81), TcpResult::Connected);
  // ... while the tracked connection carries on (as in Cilium: a policy change
  // does not cut established connections; docs/agent.md).
  ASSERT_TRUE(session.waitForExchanges(5, 2s));

  // and back: deny -> allow.
  write("policy.yaml", bIngress({80}));
  ASSERT_TRUE(n1.waitForGeneration(4));
  EXPECT_EQ(connect("a", "b", 80), TcpResult::Connected);
  EXPECT_EQ(connect("a", "b", 81), TcpResult::TimedOut);

  // The policy file removed: b is no longer isolated.
  remove("policy.yaml");
  ASSERT_TRUE(n1.waitForGeneration(5));
  EXPECT_EQ(connect("a", "b", 81), TcpResult::Connected);
  EXPECT_TRUE(session.stop().stayedUp()) << "the long-lived connection was disturbed";
}

TEST_F(AgentCluster, AddressOnlyChangesUpdateMapsWithoutANewProgram) {
  write("policy.yaml", bIngress({80}));
  AgentThread& n1 = startAgent("node-1");
  ASSERT_TRUE(n1.waitForGeneration(1));
  int64_t before = attachedProgram("b", TcHook::Egress);
  uint64_t reconciles = n1.status().reconciles;
  // A pod on the other node appears: node-1's code does not change (same
  // identity as c), only its IP cache.
  write("more.yaml", podYaml("y", "c2", "node-2", "10.77.2.11", "c"));
  ASSERT_TRUE(n1.waitForReconcileAfter(reconciles));
  EXPECT_EQ(n1.status().last.result, "maps-updated");
  EXPECT_EQ(n1.status().generation, 1u);
  EXPECT_EQ(attachedProgram("b", TcHook::Egress), before);
}

TEST_F(AgentCluster, PodsThatComeAndGoAreAttachedAndDetached) {
  write("policy.yaml", bIngress({80}));
  AgentThread& n1 = startAgent("node-1");
  ASSERT_TRUE(n1.waitForGeneration(1));
  cluster_.addPod("node-1", "d", "10.77.1.12");
  auto d80 = tcpListen(cluster_, "d", 80);
  EXPECT_EQ(attachedProgram("d", TcHook::Egress), 0) << "not in the state yet";
  write("d.yaml", podYaml("x", "d", "node-1", "10.77.1.12", "b"));  // app=b: b-ingress selects it
  ASSERT_TRUE(n1.waitForGeneration(2));
  EXPECT_GT(attachedProgram("d", TcHook::Egress), 0);
  EXPECT_EQ(connect("a", "d", 80), TcpResult::Connected);
  EXPECT_EQ(connect("b", "d", 80), TcpResult::TimedOut);
  uint64_t reconciles = n1.status().reconciles;
  remove("d.yaml");
  ASSERT_TRUE(n1.waitForReconcileAfter(reconciles));
  EXPECT_EQ(n1.status().generation, 2u) << "a pod going away needs no new program";
  EXPECT_EQ(attachedProgram("d", TcHook::Egress), 0);
  EXPECT_EQ(attachedProgram("d", TcHook::Ingress), 0);
  EXPECT_EQ(n1.status().endpoints.size(), 2u);
}

// `sluice agent --datapath generic`: the table-driven programs enforce and
// swap like the specialized ones. Each generation's tables belong to the
// object compiled with them, so an endpoint the agent does not recompile keeps
// deciding by its older generation's tables while another's are new.
TEST_F(AgentCluster, GenericDatapathEnforcesAndKeepsUnchangedEndpointsTables) {
  write("policy.yaml", bIngress({80}));
  // x/a may reach b on 80 and 81 only.
  write("a-egress.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a-egress, namespace: x}\n"
        "spec:\n  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Egress]\n"
        "  egress: [{to: [{podSelector: {matchLabels: {app: b}}}], ports: [{port: 80}, {port: 81}]}]\n");
  auto b80 = tcpListen(cluster_, "b", 80);
  auto b81 = tcpListen(cluster_, "b", 81);
  auto c80 = tcpListen(cluster_, "c", 80);
  agent::AgentOptions o = options("node-1");
  o.compile.datapath = codegen::DatapathMode::Generic;
  AgentThread& n1 = startAgent("node-1", o);
  ASSERT_TRUE(n1.waitForGeneration(1));
  EXPECT_EQ(connect("a", "b", 80), TcpResult::Connected);
  EXPECT_EQ(connect("a", "b", 81), TcpResult::TimedOut) << "b's ingress denies";
  EXPECT_EQ(connect("a", "c", 80), TcpResult::TimedOut) << "a's egress denies";
  int64_t aFromPod = attachedProgram("a", TcHook::Ingress), bToPod = attachedProgram("b", TcHook::Egress);

  write("policy.yaml", bIngress({81}));
  ASSERT_TRUE(n1.waitForGeneration(2));
  EXPECT_EQ(attachedProgram("a", TcHook::Ingress), aFromPod) << "a's code did not change: not recompiled";
  EXPECT_NE(attachedProgram("b", TcHook::Egress), bToPod);
  EXPECT_EQ(connect("a", "b", 81), TcpResult::Connected);
  EXPECT_EQ(connect("a", "b", 80), TcpResult::TimedOut);
  EXPECT_EQ(connect("a", "c", 80), TcpResult::TimedOut) << "a's first-generation tables still deny";
}

// Makes the first program of the object unloadable: its first instruction
// reads a register nobody wrote ("R5 !read_ok").
void breakFirstProgram(std::vector<char>& object) {
  auto* eh = reinterpret_cast<Elf64_Ehdr*>(object.data());
  auto* sh = reinterpret_cast<Elf64_Shdr*>(object.data() + eh->e_shoff);
  const char* names = object.data() + sh[eh->e_shstrndx].sh_offset;
  for (int i = 0; i < eh->e_shnum; ++i) {
    if (std::strncmp(names + sh[i].sh_name, "tc/", 3) != 0 || sh[i].sh_size < 8) continue;
    const uint8_t insn[8] = {0x79, 5 << 4 | 0, 0, 0, 0, 0, 0, 0};  // r0 = *(u64 *)(r5 + 0)
    std::memcpy(object.data() + sh[i].sh_offset, insn, sizeof insn);
    return;
  }
  FAIL() << "no tc/ section in the object";
}

// Without the first tier (--no-first-tier), a reconcile waits for its
// programs: one the verifier refuses leaves the last good ones in force.
TEST_F(AgentCluster, AProgramTheVerifierRefusesNeverReplacesTheWorkingOne) {
  write("policy.yaml", bIngress({80}));
  auto b80 = tcpListen(cluster_, "b", 80);
  auto b81 = tcpListen(cluster_, "b", 81);
  std::atomic<bool> breakIt{false};
  agent::AgentOptions o = options("node-1");
  o.firstTier = false;
  o.alterObject = [&](std::vector<char>& object) {
    if (breakIt) breakFirstProgram(object);
  };
  AgentThread& n1 = startAgent("node-1", o);
  ASSERT_TRUE(n1.waitForGeneration(1));
  EXPECT_EQ(n1.status().tierEntries, 0u) << "without the first tier, nothing enters it";
  int64_t working = attachedProgram("b", TcHook::Egress);
  uint64_t reconciles = n1.status().reconciles;
  breakIt = true;
  write("policy.yaml", bIngress({81}));
  ASSERT_TRUE(n1.waitForReconcileAfter(reconciles));
  agent::AgentStatus s = n1.status();
  EXPECT_EQ(s.last.result, "failed");
  EXPECT_NE(s.last.error.find("refused"), std::string::npos) << s.last.error;
  EXPECT_NE(s.last.error.find("verifier"), std::string::npos) << s.last.error;
  EXPECT_EQ(s.generation, 1u);
  EXPECT_EQ(attachedProgram("b", TcHook::Egress), working);
  EXPECT_EQ(connect("a", "b", 80), TcpResult::Connected) << "the last good generation must stay in force";
  EXPECT_EQ(connect("a", "b", 81), TcpResult::TimedOut);
  // Fixed: the next change goes in.
  breakIt = false;
  write("policy.yaml", bIngress({81, 82}));
  ASSERT_TRUE(n1.waitForGeneration(2));
  EXPECT_EQ(connect("a", "b", 81), TcpResult::Connected);
}

const agent::EndpointStatus* endpointIn(const agent::AgentStatus& s, const std::string& pod) {
  for (const auto& e : s.endpoints)
    if (e.pod == pod) return &e;
  return nullptr;
}

// With the first tier, a change is enforced at once through its tables; when
// the verifier refuses the specialized programs compiled next, the tier
// keeps enforcing the new state (the same verdicts) and the failure is
// reported; the next change gets specialized programs again.
TEST_F(AgentCluster, AProgramTheVerifierRefusesLeavesTheFirstTierEnforcingTheNewState) {
  write("policy.yaml", bIngress({80}));
  auto b80 = tcpListen(cluster_, "b", 80);
  auto b81 = tcpListen(cluster_, "b", 81);
  auto b82 = tcpListen(cluster_, "b", 82);
  std::atomic<bool> breakIt{false};
  agent::AgentOptions o = options("node-1");
  o.alterObject = [&](std::vector<char>& object) {
    if (breakIt) breakFirstProgram(object);
  };
  AgentThread& n1 = startAgent("node-1", o);
  ASSERT_TRUE(n1.waitForGeneration(1));
  int64_t working = attachedProgram("b", TcHook::Egress);
  breakIt = true;
  write("policy.yaml", bIngress({81}));
  ASSERT_TRUE(n1.waitForEnforced(2));
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (n1.status().specializationFailures == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  agent::AgentStatus s = n1.status();
  ASSERT_EQ(s.specializationFailures, 1u);
  ASSERT_TRUE(s.lastFailure);
  EXPECT_NE(s.lastFailure->error.find("verifier"), std::string::npos) << s.lastFailure->error;
  EXPECT_EQ(s.last.result, "tiered");
  EXPECT_FALSE(s.specialized);
  ASSERT_TRUE(endpointIn(s, "x/b"));
  EXPECT_EQ(endpointIn(s, "x/b")->program, "first tier");
  EXPECT_NE(attachedProgram("b", TcHook::Egress), working);
  EXPECT_EQ(connect("a", "b", 81), TcpResult::Connected) << "the new state, through the first tier";
  EXPECT_EQ(connect("a", "b", 80), TcpResult::TimedOut) << "the new state, through the first tier";
  breakIt = false;
  write("policy.yaml", bIngress({81, 82}));
  ASSERT_TRUE(n1.waitForGeneration(3));
  s = n1.status();
  EXPECT_EQ(endpointIn(s, "x/b")->program, "specialized");
  EXPECT_EQ(connect("a", "b", 82), TcpResult::Connected);
  EXPECT_EQ(connect("a", "b", 80), TcpResult::TimedOut);
}

// The first tier alone (specialization held back) gives every verdict the
// specialized programs give, for changed policy, a new pod and a pod that
// goes away; released, the specialized programs take over without a change
// of verdict.
TEST_F(AgentCluster, TheFirstTierAloneEnforcesAsTheSpecializedProgramsDo) {
  write("policy.yaml", bIngress({80}));
  auto b80 = tcpListen(cluster_, "b", 80);
  auto b81 = tcpListen(cluster_, "b", 81);
  std::atomic<bool> hold{true};
  agent::AgentOptions o = options("node-1");
  o.holdSpecialization = [&] { return hold.load(); };
  AgentThread& n1 = startAgent("node-1", o);
  ASSERT_TRUE(n1.waitForEnforced(1));
  agent::AgentStatus s = n1.status();
  EXPECT_FALSE(s.specialized);
  EXPECT_EQ(s.specializations, 0u);
  for (const auto& e : s.endpoints) EXPECT_EQ(e.program, "first tier") << e.pod;
  auto verdicts = [&](std::vector<int> bPorts) {
    for (int port : {80, 81}) {
      bool open = std::find(bPorts.begin(), bPorts.end(), port) != bPorts.end();
      EXPECT_EQ(connect("a", "b", port), open ? TcpResult::Connected : TcpResult::TimedOut) << "a -> b:" << port;
    }
    EXPECT_EQ(connect("b", "a", 80, 1000ms), TcpResult::Refused) << "a is not isolated (nothing listens)";
  };
  verdicts({80});

  write("policy.yaml", bIngress({81}));
  ASSERT_TRUE(n1.waitForEnforced(2));
  verdicts({81});
  // A new pod that b-ingress selects: on the tier from its first packet.
  cluster_.addPod("node-1", "d", "10.77.1.12");
  auto d80 = tcpListen(cluster_, "d", 80);
  auto d81 = tcpListen(cluster_, "d", 81);
  write("d.yaml", podYaml("x", "d", "node-1", "10.77.1.12", "b"));
  ASSERT_TRUE(n1.waitForEnforced(3));
  s = n1.status();
  ASSERT_TRUE(endpointIn(s, "x/d"));
  EXPECT_EQ(endpointIn(s, "x/d")->program, "first tier");
  EXPECT_EQ(connect("a", "d", 81), TcpResult::Connected);
  EXPECT_EQ(connect("a", "d", 80), TcpResult::TimedOut);
  EXPECT_EQ(connect("b", "d", 81), TcpResult::TimedOut) << "b-ingress admits app=a only";
  EXPECT_EQ(s.tierEntries, 3u);

  // Released: each endpoint's own programs replace the tier's, same verdicts.
  hold = false;
  ASSERT_TRUE(n1.waitForGeneration(3));
  s = n1.status();
  for (const auto& e : s.endpoints) EXPECT_EQ(e.program, "specialized") << e.pod;
  EXPECT_GE(s.specializations, 1u);
  EXPECT_EQ(s.tierEntries, 0u) << "every endpoint left the tier";
  verdicts({81});
  EXPECT_EQ(connect("a", "d", 81), TcpResult::Connected);
  EXPECT_EQ(connect("a", "d", 80), TcpResult::TimedOut);
  EXPECT_EQ(connect("b", "d", 81), TcpResult::TimedOut);
}

// The tier's CIDR tables (ipBlock with except), numbered per endpoint like
// its policy tables, give the specialized programs' verdicts.
TEST_F(AgentCluster, TheFirstTierEnforcesIpBlocksWithExceptAsTheSpecializedProgramsDo) {
  write("a-egress.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a-egress, namespace: x}\n"
        "spec:\n  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Egress]\n"
        "  egress: [{to: [{ipBlock: {cidr: 10.77.1.0/24, except: [10.77.1.11/32]}}], ports: [{port: 80}]}]\n");
  cluster_.addPod("node-1", "d", "10.77.1.12");
  write("d.yaml", podYaml("x", "d", "node-1", "10.77.1.12", "d"));
  auto b80 = tcpListen(cluster_, "b", 80);
  auto d80 = tcpListen(cluster_, "d", 80);
  auto d81 = tcpListen(cluster_, "d", 81);
  std::atomic<bool> hold{true};
  agent::AgentOptions o = options("node-1");
  o.holdSpecialization = [&] { return hold.load(); };
  AgentThread& n1 = startAgent("node-1", o);
  auto verdicts = [&](const char* when) {
    EXPECT_EQ(connect("a", "d", 80), TcpResult::Connected) << when << ": in the CIDR";
    EXPECT_EQ(connect("a", "b", 80), TcpResult::TimedOut) << when << ": the except";
    EXPECT_EQ(connect("a", "d", 81), TcpResult::TimedOut) << when << ": another port";
    EXPECT_EQ(connect("b", "d", 81), TcpResult::Connected) << when << ": b is not isolated";
  };
  ASSERT_TRUE(n1.waitForEnforced(1));
  agent::AgentStatus s = n1.status();
  ASSERT_TRUE(endpointIn(s, "x/a"));
  EXPECT_EQ(endpointIn(s, "x/a")->program, "first tier");
  verdicts("first tier");
  hold = false;
  ASSERT_TRUE(n1.waitForGeneration(1));
  s = n1.status();
  ASSERT_TRUE(endpointIn(s, "x/a"));
  EXPECT_EQ(endpointIn(s, "x/a")->program, "specialized");
  verdicts("specialized");
}

TEST_F(AgentCluster, BrokenManifestsKeepTheLastGoodStateAndAreReported) {
  write("policy.yaml", bIngress({80}));
  auto b80 = tcpListen(cluster_, "b", 80);
  AgentThread& n1 = startAgent("node-1");
  ASSERT_TRUE(n1.waitForGeneration(1));
  uint64_t reconciles = n1.status().reconciles;
  write("policy.yaml", bIngress({80}) + "    - {protocol: TCP, port: 99999}\n");
  ASSERT_TRUE(n1.waitForReconcileAfter(reconciles));
  agent::AgentStatus s = n1.status();
  EXPECT_NE(s.sourceErrors.find("policy.yaml:"), std::string::npos) << s.sourceErrors;
  EXPECT_EQ(s.generation, 1u);
  EXPECT_EQ(connect("a", "b", 80), TcpResult::Connected);
  EXPECT_EQ(connect("c", "b", 80), TcpResult::TimedOut) << "b must stay isolated: its policy was not dropped";
}

TEST_F(AgentCluster, MetricsAndStatusOnLoopback) {
  write("policy.yaml", bIngress({80}));
  auto b80 = tcpListen(cluster_, "b", 80);
  AgentThread& n1 = startAgent("node-1");
  ASSERT_TRUE(n1.waitForGeneration(1));
  EXPECT_EQ(connect("a", "b", 80), TcpResult::Connected);
  EXPECT_EQ(connect("a", "b", 81), TcpResult::TimedOut);
  int port = n1.status().metricsPort;
  ASSERT_GT(port, 0);
  std::string metrics, status;
  cluster_.runInNode("node-1", [&] {
    httplib::Client client("127.0.0.1", port);
    if (auto r = client.Get("/metrics")) metrics = r->body;
    if (auto r = client.Get("/status")) status = r->body;
  });
  EXPECT_NE(metrics.find("sluice_agent_generation{node=\"node-1\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("sluice_endpoint_packets_total{node=\"node-1\",endpoint=\"x/b\",direction=\"ingress\","
                         "outcome=\"new_denied\"}"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("sluice_drops_total{node=\"node-1\",reason=\"new_denied\"} 0\n"), std::string::npos)
      << "a denied SYN was sent: " << metrics;
  EXPECT_NE(metrics.find("sluice_agent_swap_ms{node=\"node-1\"}"), std::string::npos);
  EXPECT_NE(status.find("\"generation\": 1"), std::string::npos) << status;
  EXPECT_NE(status.find("\"interface\": \"" + cluster_.hostIfName("b") + "\""), std::string::npos) << status;
}

// Continuous traffic while the agent swaps node-1's programs 200 times:
// long-lived connections must all survive, new allowed connections must all
// succeed, and not one packet of a flow denied in every generation may be
// delivered.
TEST_F(AgentCluster, TwoHundredSwapsUnderTrafficLoseNothingAndLeakNothing) {
  constexpr int kSwaps = 200;
  write("c.yaml", kCIsolated);
  write("policy.yaml", bIngress({80, 9000}));
  auto b80 = tcpListen(cluster_, "b", 80);
  auto b81 = tcpListen(cluster_, "b", 81);  // never admitted
  auto c80 = tcpListen(cluster_, "c", 80);  // c admits nobody
  AgentThread& n1 = startAgent("node-1");
  AgentThread& n2 = startAgent("node-2");
  ASSERT_TRUE(n1.waitForGeneration(1));
  ASSERT_TRUE(n2.waitForGeneration(1));

  std::vector<std::unique_ptr<TcpSession>> sessions;
  for (int i = 0; i < 4; ++i)
    sessions.push_back(std::make_unique<TcpSession>(cluster_, "a", cluster_.podIp("b"), 80, 5ms));
  for (auto& s : sessions) ASSERT_TRUE(s->waitForExchanges(3, 2s));

  std::atomic<bool> done{false};
  std::atomic<int> newOk{0}, newFailed{0}, deniedAttempts{0}, deniedConnected{0};
  std::thread newConnections([&] {
    while (!done) {
      (connect("a", "b", 80, 1000ms) == TcpResult::Connected ? newOk : newFailed)++;
      std::this_thread::sleep_for(3ms);
    }
  });
  std::thread deniedFlows([&] {
    while (!done) {
      deniedConnected += connect("a", "b", 81, 30ms) == TcpResult::Connected;
      deniedConnected += connect("a", "c", 80, 30ms) == TcpResult::Connected;
      deniedAttempts += 2;
    }
  });
  for (int i = 1; i <= kSwaps && !HasFailure(); ++i) {
    write("policy.yaml", bIngress({80, 9000 + i % 2}));
    EXPECT_TRUE(n1.waitForGeneration(1 + i)) << "swap " << i;
  }
  done = true;
  newConnections.join();
  deniedFlows.join();
  for (auto& s : sessions) {
    TcpSession::Stats st = s->stop();
    EXPECT_TRUE(st.stayedUp()) << "a long-lived connection was disturbed: " << st.error << ", stalls " << st.stalls;
    EXPECT_GT(st.exchanges, 100u);
  }
  EXPECT_EQ(newFailed, 0) << "new allowed connections failed during swaps (" << newOk << " succeeded)";
  EXPECT_GT(newOk, 100);
  EXPECT_GT(deniedAttempts, 100);
  EXPECT_EQ(deniedConnected, 0);
  EXPECT_EQ(b81->accepted(), 0u) << "a denied flow reached its server";
  EXPECT_EQ(c80->accepted(), 0u) << "a denied flow reached its server";
  agent::AgentStatus s = n1.status();
  EXPECT_EQ(s.generation, uint64_t(kSwaps + 1));
  fprintf(stderr, "%d swaps; last: compile %.1f ms, load %.1f ms, attach %.2f ms; %d new connections, %d denied attempts\n",
          kSwaps, s.lastSwap.compileMs, s.lastSwap.loadMs, s.lastSwap.swapMs, newOk.load(), deniedAttempts.load());
}

// `sluice agent` as a process, killed with SIGKILL and restarted.
class AgentProcess {
 public:
  AgentProcess(const std::string& netnsPath, const std::vector<std::string>& args, const std::string& logPath) {
    std::vector<std::string> argv = {"nsenter", "--net=" + netnsPath, SLUICE_BINARY, "agent"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execvp(cargv[0], cargv.data());
      ::_exit(127);
    }
  }
  ~AgentProcess() { kill(SIGKILL); }
  void kill(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
      int status;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

TEST_F(AgentCluster, SigkilledAgentLeavesEnforcementAndARestartAdoptsWithoutAGap) {
  write("policy.yaml", bIngress({80}));
  cluster_.addPod("node-1", "d", "10.77.1.12");
  write("d.yaml", podYaml("x", "d", "node-1", "10.77.1.12", "d"));
  auto b80 = tcpListen(cluster_, "b", 80);
  auto b81 = tcpListen(cluster_, "b", 81);
  const std::string log = (dir_ / ".agent.log").string();
  const std::vector<std::string> args = {"--node", "node-1", "--watch", dir_.string(), "--bpffs-root", bpffsRoot_};
  auto logText = [&] { std::ifstream in(log); std::stringstream s; s << in.rdbuf(); return s.str(); };
  auto waitForPrograms = [&](int64_t notThisOne) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      int64_t id = attachedProgram("b", TcHook::Ingress);
      if (id > 0 && id != notThisOne && attachedProgram("a", TcHook::Egress) > 0) return id;
      std::this_thread::sleep_for(5ms);
    }
    return int64_t(-1);
  };

  auto agent = std::make_unique<AgentProcess>(cluster_.nodeNetnsPath("node-1"), args, log);
  int64_t first = waitForPrograms(0);
  ASSERT_GT(first, 0) << logText();
  EXPECT_GT(attachedProgram("d", TcHook::Egress), 0);
  TcpSession session(cluster_, "a", cluster_.podIp("b"), 80, 5ms);
  ASSERT_TRUE(session.waitForExchanges(3, 2s));
  std::atomic<bool> done{false};
  std::atomic<int> deniedConnected{0}, deniedAttempts{0};
  std::thread deniedFlow([&] {
    while (!done) {
      deniedConnected += connect("a", "b", 81, 30ms) == TcpResult::Connected;
      ++deniedAttempts;
    }
  });

  agent->kill(SIGKILL);
  EXPECT_EQ(attachedProgram("b", TcHook::Ingress), first) << "the programs must outlive the agent";
  EXPECT_EQ(connect("a", "b", 80), TcpResult::Connected);
  // While it is away, pod d goes.
  remove("d.yaml");
  std::this_thread::sleep_for(100ms);

  agent = std::make_unique<AgentProcess>(cluster_.nodeNetnsPath("node-1"), args, log);
  int64_t second = waitForPrograms(first);
  ASSERT_GT(second, 0) << logText();
  EXPECT_TRUE(session.waitForExchanges(5, 2s));
  done = true;
  deniedFlow.join();
  EXPECT_TRUE(session.stop().stayedUp()) << "the connection did not survive the restart";
  EXPECT_GT(deniedAttempts, 10);
  EXPECT_EQ(deniedConnected, 0);
  EXPECT_EQ(b81->accepted(), 0u) << "a denied flow got through while the agent was away or restarting";
  EXPECT_EQ(connect("a", "b", 80), TcpResult::Connected);
  // The restarted agent found what the dead one left on d's interface.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (attachedProgram("d", TcHook::Egress) != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(attachedProgram("d", TcHook::Egress), 0) << logText();
  EXPECT_EQ(attachedProgram("d", TcHook::Ingress), 0);

  // `sluice agent status` talks to it (in its network namespace).
  auto status = cluster_.execInNode("node-1", {SLUICE_BINARY, "agent", "status"});
  EXPECT_EQ(status.status, 0) << status.output;
  EXPECT_NE(status.output.find("enforcing generation 1"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("x/b"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("attached on " + cluster_.hostIfName("b")), std::string::npos) << status.output;
  agent->kill(SIGTERM);
  EXPECT_NE(logText().find("stopped; the attached programs stay"), std::string::npos) << logText();
}

// Every hook runs exactly one sluice program, whichever way it is attached:
// tcx links are updated in place across swaps, and an agent switching from
// tc filters to tcx (or a kernel upgrade) removes the filters once the links
// are in place, without a gap for a live connection.
TEST_F(AgentCluster, OneProgramPerHookAcrossSwapsAndFromTcToTcx) {
  ASSERT_TRUE(runtime::tcxAvailable()) << "this kernel (>= 6.6 expected) has no tcx";
  write("policy.yaml", bIngress({80}));
  auto b80 = tcpListen(cluster_, "b", 80);
  auto b81 = tcpListen(cluster_, "b", 81);
  agent::AgentOptions tc = options("node-1");
  tc.attach = agent::AttachMode::Tc;
  auto first = std::make_unique<AgentThread>(cluster_.nodeNetnsPath("node-1"), tc);
  ASSERT_TRUE(first->waitForGeneration(1));
  for (const char* pod : {"a", "b"})
    for (TcHook hook : {TcHook::Ingress, TcHook::Egress}) {
      EXPECT_EQ(programsOnHook(pod, hook), 1u) << pod;
      std::string e;
      cluster_.runInNode("node-1", [&] { EXPECT_TRUE(runtime::tcxProgramIds(cluster_.hostIfindex(pod), hook, e).empty()); });
    }
  TcpSession session(cluster_, "a", cluster_.podIp("b"), 80, 5ms);
  ASSERT_TRUE(session.waitForExchanges(3, 2s));
  EXPECT_EQ(first->stop(), 0);
  first.reset();

  agent::AgentOptions tcx = options("node-1");
  tcx.attach = agent::AttachMode::Tcx;
  AgentThread& second = startAgent("node-1", tcx);
  ASSERT_TRUE(second.waitForGeneration(1));
  for (int i = 0; i < 3; ++i) {  // swaps update the links
    write("policy.yaml", bIngress({80, 9000 + i}));
    ASSERT_TRUE(second.waitForGeneration(2 + i));
  }
  for (const char* pod : {"a", "b"})
    for (TcHook hook : {TcHook::Ingress, TcHook::Egress}) {
      EXPECT_EQ(programsOnHook(pod, hook), 1u) << pod << " " << runtime::toString(hook);
      int64_t tcFilter = 0;
      cluster_.runInNode("node-1", [&] {
        std::string e;
        tcFilter = runtime::attachedTcProgramId(cluster_.hostIfindex(pod), hook, e);
      });
      EXPECT_EQ(tcFilter, 0) << "the classic filter must be gone once the tcx link is in place";
    }
  EXPECT_TRUE(session.waitForExchanges(5, 2s));
  EXPECT_TRUE(session.stop().stayedUp());
  EXPECT_EQ(connect("a", "b", 81), TcpResult::TimedOut);
  EXPECT_EQ(b81->accepted(), 0u);
}

}  // namespace
}  // namespace sluice::agent_testing
