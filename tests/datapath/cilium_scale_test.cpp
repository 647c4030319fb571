// Scale of CIDR rules: one endpoint whose CiliumNetworkPolicy allows egress to
// 5,000 CIDRs × 20 ports — 100,000 (prefix, port) pairs, six times the 16,384
// entries of Cilium's per-endpoint policy map — must compile, load and decide
// exactly. sluice has no such table: the prefixes become one address search
// and the ports one range search per rule group.
//
// Decisions are checked against a brute-force evaluation of the same rules on
// deterministic pseudo-random probes (addresses inside and beside each rule's
// prefixes, ports listed and not), by verdict and by deciding rule.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "ir/lower.h"
#include "tests/datapath/datapath_util.h"
#include "tests/testing/manifests.h"

namespace sluice::datapath_test {
namespace {

struct CidrPolicy {
  int rules = 0, cidrsPerRule = 0, portsPerRule = 0;
  // Rule i's prefixes: cidrsPerRule /24s of 100.64.0.0/10 (outside the
  // cluster), apart from each other and from other rules'; its ports: 20 values spread over
  // 2000..2999 that overlap other rules' ports.
  uint32_t prefix(int rule, int j) const {
    // Every third /24, give or take one: no two prefixes merge into a range.
    uint32_t n = uint32_t(rule * cidrsPerRule + j);
    n = n * 3 + (n & 1);
    return (100u << 24) | ((64u + (n >> 8)) << 16) | ((n & 0xff) << 8);
  }
  uint16_t port(int rule, int k) const { return uint16_t(2000 + (rule * 7 + k * 37) % 1000); }

  std::string yaml() const {
    std::string y = testing::kTwoNodesThreeNamespaces;
    y += "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\n"
         "spec: {nodeName: n1, containers: [{name: main}]}\nstatus: {phase: Running, podIP: 10.244.1.10}\n";
    y += "---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: external, namespace: x}\n"
         "spec:\n  endpointSelector: {matchLabels: {app: a}}\n  egress:\n";
    for (int i = 0; i < rules; ++i) {
      y += "  - toCIDRSet: [";
      for (int j = 0; j < cidrsPerRule; ++j)
        y += (j ? ", " : "") + std::string("{cidr: ") + IpAddr::v4(prefix(i, j)).str() + "/24}";
      y += "]\n    toPorts: [{ports: [";
      for (int k = 0; k < portsPerRule; ++k)
        y += (k ? ", " : "") + std::string("{port: \"") + std::to_string(port(i, k)) + "\", protocol: TCP}";
      y += "]}]\n";
    }
    return y;
  }

  // The rule that admits (addr, port), by brute force; -1 if none.
  int admits(uint32_t addr, uint16_t p) const {
    for (int i = 0; i < rules; ++i)
      for (int j = 0; j < cidrsPerRule; ++j) {
        if ((addr & 0xffffff00u) != prefix(i, j)) continue;
        for (int k = 0; k < portsPerRule; ++k)
          if (port(i, k) == p) return i;
      }
    return -1;
  }
};

void compileLoadAndProbe(const CidrPolicy& policy, int probes) {
  SCOPED_TRACE(std::to_string(policy.rules) + " rules x " + std::to_string(policy.cidrsPerRule) + " CIDRs x " +
               std::to_string(policy.portsPerRule) + " ports");
  ClusterState state;
  Diagnostics diags;
  loadManifestText("cidr-scale.yaml", policy.yaml(), state, diags);
  checkDuplicates(state, diags);
  state.finalize();
  ASSERT_FALSE(diags.hasErrors()) << diags.render();

  auto t0 = std::chrono::steady_clock::now();
  ir::Program program = ir::lower(state, diags);
  double lowerMs = msSince(t0);
  ASSERT_FALSE(diags.hasErrors()) << diags.render();
  const ir::NodeProgram* n1 = program.findNode("n1");
  ASSERT_NE(n1, nullptr);
  const ir::Endpoint* ep = n1->findEndpoint("x/a");
  ASSERT_NE(ep, nullptr);
  ASSERT_EQ(ep->egress.rules.size(), size_t(policy.rules));
  TimedNode built;
  built.build(program, *n1, diags, "cidr-scale-test");
  ASSERT_FALSE(built.compiled.object.empty()) << diags.render();
  const std::string fromPod = codegen::programName(*n1, *ep, ir::Direction::Egress);
  std::printf("cidr scale: %d CIDRs x %d ports in %d rules: lower %.0f ms, compile %.0f ms, load %.0f ms: %s\n",
              policy.rules * policy.cidrsPerRule, policy.portsPerRule, policy.rules, lowerMs, built.compileMs,
              built.loadMs, built.summary(fromPod).c_str());
  ASSERT_TRUE(built.loaded) << built.error.substr(built.error.size() > 2000 ? built.error.size() - 2000 : 0);
  ASSERT_NE(built.stats(fromPod), nullptr);
  const int fd = built.node.programFd(fromPod);
  ASSERT_GE(fd, 0);

  std::mt19937_64 rng(20261126);
  int allowed = 0;
  uint16_t sport = 30000;
  for (int n = 0; n < probes; ++n) {
    // Half the probes aim at a listed (prefix, port) pair; the rest miss by
    // address (the /24 just past the last rule's) or by port.
    int rule = int(rng() % uint64_t(policy.rules));
    uint32_t addr = policy.prefix(rule, int(rng() % uint64_t(policy.cidrsPerRule))) | uint32_t(rng() % 256);
    uint16_t port = policy.port(rule, int(rng() % uint64_t(policy.portsPerRule)));
    switch (rng() % 4) {
      case 0: port = uint16_t(2000 + rng() % 1000); break;
      case 1: addr = (addr & 0xffffff00u) + 512 + uint32_t(rng() % 256); break;  // a gap or a neighbour's /24
      default: break;
    }
    int want = policy.admits(addr, port);
    runtime::PacketSpec spec{ep->ips.front(), IpAddr::v4(addr), ir::L4Proto::TCP, sport++, port, true};
    runtime::RunResult r = runtime::runPacket(fd, runtime::buildPacket(spec));
    ASSERT_TRUE(r.ok) << r.error;
    uint32_t index = SLUICE_DECISION_RULE(r.decision);
    std::string got = r.passed() ? "allow " + (index >= 1 && index <= ep->egress.rules.size()
                                                   ? ep->egress.rules[index - 1].name
                                                   : "?")
                                 : "deny";
    std::string expected =
        want < 0 ? "deny" : "allow cnp.x.external.spec0.egress" + std::to_string(want) + ".ports0";
    EXPECT_EQ(got, expected) << "x/a -> " << IpAddr::v4(addr).str() << ":" << port << "/TCP";
    allowed += want >= 0;
  }
  EXPECT_GT(allowed, probes / 4) << "the probes should exercise admitted pairs";
  EXPECT_LT(allowed, probes) << "the probes should exercise refused pairs";
}

TEST(CiliumScale, FiveThousandCidrsTimesTwentyPortsInOneRule) {
  SLUICE_REQUIRE_ROOT();
  compileLoadAndProbe({1, 5000, 20}, 400);
}

TEST(CiliumScale, FiveThousandCidrsTimesTwentyPortsOverManyRules) {
  SLUICE_REQUIRE_ROOT();
  compileLoadAndProbe({250, 20, 20}, 400);
}

}  // namespace
}  // namespace sluice::datapath_test
