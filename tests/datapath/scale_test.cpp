// Scale: one endpoint with a NetworkPolicy of 10,000 ingress rules loads into
// the kernel verifier and decides probe flows correctly, including by the last
// rules; and policies of every size from 10 to 3,000 rules in three shapes
// load too (each size crosses different code shapes: inlined trees, global
// functions, split subtrees). Prints compile times and the verifier's
// processed instructions.
// (Loaded with runtime::LoadedNode rather than KernelCluster so that the node
// is compiled once and the figures are printed even when the verifier refuses.)
#include <gtest/gtest.h>

#include "tests/testing/manifests.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "ir/lower.h"
#include "tests/datapath/datapath_util.h"

namespace sluice::datapath_test {
namespace {

enum class Shape { Mix, IpBlocks, Selectors };
enum class Kind { IpBlock, PodSelector, NamespaceSelector };
const char* shapeName(Shape s) {
  return s == Shape::Mix ? "mixed" : s == Shape::IpBlocks ? "ipBlock" : "selector";
}

// Rule i's peer: Mix cycles ipBlock, podSelector, namespaceSelector; Selectors
// alternates podSelector and namespaceSelector.
Kind ruleKind(Shape shape, int i) {
  switch (shape) {
    case Shape::IpBlocks: return Kind::IpBlock;
    case Shape::Selectors: return i % 2 ? Kind::NamespaceSelector : Kind::PodSelector;
    case Shape::Mix: break;
  }
  return i % 3 == 0 ? Kind::IpBlock : i % 3 == 1 ? Kind::PodSelector : Kind::NamespaceSelector;
}
ir::L4Proto ruleProto(int i) { return i % 2 ? ir::L4Proto::UDP : ir::L4Proto::TCP; }
uint16_t rulePort(int i) { return uint16_t(10000 + i); }
// A source address the peer of rule i admits.
const char* admittedSource(Shape shape, int i) {
  switch (ruleKind(shape, i)) {
    case Kind::IpBlock: return "10.244.2.12";            // z/c (the last ipBlock rule is its /24)
    case Kind::PodSelector: return "10.244.1.11";        // x/b
    case Kind::NamespaceSelector: return "10.244.2.10";  // y/a
  }
  return "";
}

// Nodes n1, n2; namespaces x (team=red), y (team=blue), z (no labels);
// x/a (the endpoint) and x/b on n1, y/a and z/c on n2. Rule i admits its peer
// on port 10000+i, TCP when i is even, UDP when odd. Peers:
//   ipBlock: 172.(16 + i/256).(i%256).0/24 (the last rule: 10.244.2.0/24, z/c's subnet)
//   podSelector app=b (x/b); namespaceSelector team=blue (y/a)
std::string scaleCluster(int rules, Shape shape) {
  std::string y = testing::kTwoNodesThreeNamespaces;
  auto pod = [&](const char* ns, const char* name, const char* node, const char* ip, const char* app) {
    y += std::string("---\napiVersion: v1\nkind: Pod\nmetadata: {name: ") + name + ", namespace: " + ns +
         ", labels: {app: " + app + "}}\nspec: {nodeName: " + node +
         ", containers: [{name: main}]}\nstatus: {phase: Running, podIP: " + ip + "}\n";
  };
  pod("x", "a", "n1", "10.244.1.10", "a");
  pod("x", "b", "n1", "10.244.1.11", "b");
  pod("y", "a", "n2", "10.244.2.10", "a");
  pod("z", "c", "n2", "10.244.2.12", "c");
  y += "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: big, namespace: x}\n"
       "spec:\n  podSelector: {matchLabels: {app: a}}\n  ingress:\n";
  for (int i = 0; i < rules; ++i) {
    std::string peer;
    switch (ruleKind(shape, i)) {
      case Kind::IpBlock: {
        std::string cidr = i == rules - 1 ? "10.244.2.0/24"
                                          : "172." + std::to_string(16 + i / 256) + "." + std::to_string(i % 256) +
                                                ".0/24";
        peer = "{ipBlock: {cidr: " + cidr + "}}";
        break;
      }
      case Kind::PodSelector: peer = "{podSelector: {matchLabels: {app: b}}}"; break;
      case Kind::NamespaceSelector: peer = "{namespaceSelector: {matchLabels: {team: blue}}}"; break;
    }
    y += "  - from: [" + peer + "]\n    ports: [{protocol: " + ir::l4ProtoName(ruleProto(i)) +
         ", port: " + std::to_string(rulePort(i)) + "}]\n";
  }
  return y;
}


// The last lines of a (long) load error: the verifier's verdict and totals.
std::string tail(const std::string& text, size_t lines) {
  size_t at = text.size();
  while (lines-- > 0 && at > 0) at = text.rfind('\n', at - 1) == std::string::npos ? 0 : text.rfind('\n', at - 1);
  return text.substr(at);
}

struct Probe {
  std::string from;  // source address
  uint16_t port;
  ir::L4Proto proto;
  std::string want;  // the deciding rule, or "" for a denial
};

// Compiles node n1 once (timed), loads it into the kernel with its maps pinned
// under a private directory, and runs probe packets through x/a's to-pod
// program: the figures are printed even when the verifier refuses.
void loadAndProbe(int rules, Shape shape, const std::vector<Probe>& probes) {
  SCOPED_TRACE(std::to_string(rules) + " " + shapeName(shape) + " rules");
  ClusterState state;
  Diagnostics diags;
  loadManifestText("scale.yaml", scaleCluster(rules, shape), state, diags);
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
  ASSERT_EQ(ep->ingress.rules.size(), size_t(rules));
  const std::string toPod = codegen::programName(*n1, *ep, ir::Direction::Ingress);

  TimedNode built;
  built.build(program, *n1, diags, "scale-test");
  ASSERT_FALSE(built.compiled.object.empty()) << diags.render();
  const runtime::ProgramStats* stats = built.stats(toPod);
  std::printf("scale: %5d %-8s rules on x/a: lower %.0f ms, compile n1 %.0f ms, load %.0f ms: %s\n", rules,
              shapeName(shape), lowerMs, built.compileMs, built.loadMs, built.summary(toPod).c_str());
  ASSERT_TRUE(built.loaded) << "after " << built.loadMs << " ms in the verifier:" << tail(built.error, 6);
  ASSERT_NE(stats, nullptr) << toPod;
  EXPECT_NE(stats->btfId, 0u) << "the object's BTF was refused (libbpf loads without it, silently)";

  const int fd = built.node.programFd(toPod);
  ASSERT_GE(fd, 0);
  uint16_t sport = 30000;
  for (const Probe& p : probes) {
    runtime::PacketSpec spec{*IpAddr::parse(p.from), ep->ips.front(), p.proto, sport++, p.port, true};
    runtime::RunResult r = runtime::runPacket(fd, runtime::buildPacket(spec), 100);
    ASSERT_TRUE(r.ok) << r.error;
    uint32_t index = SLUICE_DECISION_RULE(r.decision);
    std::string rule = index >= 1 && index <= ep->ingress.rules.size() ? ep->ingress.rules[index - 1].name : "";
    std::string got = r.passed() ? "allow " + rule : "deny " + rule;
    EXPECT_EQ(got, !p.want.empty() ? "allow " + p.want : "deny ")
        << p.from << " -> x/a " << p.port << "/" << ir::l4ProtoName(p.proto) << ": decision kind "
        << SLUICE_DECISION_KIND(r.decision) << ", outcome " << r.outcome;
    if (rules >= 10000)
      std::printf("  probe %s -> x/a %u/%s: %s (%u ns per packet)\n", p.from.c_str(), unsigned(p.port),
                  ir::l4ProtoName(p.proto), got.c_str(), r.durationNs);
  }
}

TEST(Scale, TenThousandIngressRulesLoadAndDecide) {
  SLUICE_REQUIRE_ROOT();
  static_assert(9999 % 3 == 0, "the last rule is an ipBlock");
  loadAndProbe(10000, Shape::Mix,
               {
                   {"10.244.2.12", 19999, ir::L4Proto::UDP, "np.x.big.ingress9999.from0"},  // z/c, the last rule (ipBlock)
                   {"10.244.1.11", 19997, ir::L4Proto::UDP, "np.x.big.ingress9997.from0"},  // x/b, by podSelector
                   {"10.244.2.10", 19998, ir::L4Proto::TCP, "np.x.big.ingress9998.from0"},  // y/a, by namespaceSelector
                   {"10.244.1.11", 10001, ir::L4Proto::UDP, "np.x.big.ingress1.from0"},     // x/b, the first podSelector rule
                   {"172.55.12.9", 19996, ir::L4Proto::TCP, "np.x.big.ingress9996.from0"},  // outside, by a late /24
                   {"10.244.2.10", 19998, ir::L4Proto::UDP, ""},                            // y/a, wrong protocol
                   {"10.244.1.11", 19998, ir::L4Proto::TCP, ""},                            // x/b, wrong peer
                   {"10.244.2.12", 19996, ir::L4Proto::TCP, ""},                            // z/c, outside that /24
                   {"172.55.13.9", 19996, ir::L4Proto::TCP, ""},                            // outside, the next /24
                   {"10.244.2.10", 20000, ir::L4Proto::TCP, ""},                            // past every rule
               });
}

// Every size in between must load as well: the generated code changes shape at
// thresholds (trees inlined or in functions of their own, subtrees split off),
// and each shape meets the verifier differently.
TEST(Scale, PoliciesOfEverySizeLoadAndDecide) {
  SLUICE_REQUIRE_ROOT();
  for (Shape shape : {Shape::IpBlocks, Shape::Selectors, Shape::Mix})
    for (int rules : {10, 62, 63, 100, 1000, 3000}) {
      int last = rules - 1;
      const char* src = admittedSource(shape, last);
      ir::L4Proto other = ruleProto(last) == ir::L4Proto::TCP ? ir::L4Proto::UDP : ir::L4Proto::TCP;
      std::string lastRule = "np.x.big.ingress" + std::to_string(last) + ".from0";
      loadAndProbe(rules, shape,
                   {
                       {src, rulePort(last), ruleProto(last), lastRule},  // by the last rule
                       {src, rulePort(last), other, ""},                  // its port, the other protocol
                       {src, rulePort(rules), ir::L4Proto::TCP, ""},      // past every rule
                       {"203.0.113.5", rulePort(last), ruleProto(last), ""},
                   });
    }
}

}  // namespace
}  // namespace sluice::datapath_test
