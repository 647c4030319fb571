// Grouped reachability (review/reachability.h) against its reference: on
// generated clusters, tracing one pair per class of pods that behave alike
// must give every pod pair the verdict and the deciding rule that tracing
// every pair gives, and every client the same service verdicts, backend by
// backend. Then two small clusters written here, each the smallest input that
// shows a case the grouping must get right. Runs the real programs in this
// kernel (root: fails, never skips, without it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "review/reachability.h"
#include "tests/review/generated_states.h"
#include "tests/testing/manifests.h"

namespace sluice::review {
namespace {

using testing::generatedProbes;
using testing::LoadedState;
using testing::str;

constexpr uint64_t kSeeds[] = {1, 2, 3, 4, 5, 6};

std::unique_ptr<LoadedState> loadGenerated(uint64_t seed) {
  return testing::loadFiles(gen::generateCluster(testing::smallClusterOptions(seed)).files);
}

std::unique_ptr<LoadedState> loadYaml(const std::string& yaml) {
  auto loaded = std::make_unique<LoadedState>();
  loadManifestText("cluster.yaml", yaml, loaded->state, loaded->diags);
  loaded->state.finalize();
  return loaded;
}

ReachOptions options(bool exhaustive) {
  ReachOptions o;
  o.exhaustive = exhaustive;
  o.jobs = 1;  // the machines running these share their cores
  return o;
}

// Every pod pair on every probe: the same verdict and the same Decision.
// Returns the differences, at most `max` of them spelled out.
std::string podFlowDifferences(const Reachability& grouped, const Reachability& exhaustive,
                               const std::vector<PortProbe>& probes, size_t max = 10) {
  std::string out;
  size_t count = 0;
  for (size_t k = 0; k < probes.size(); ++k)
    for (size_t i = 0; i < grouped.pods().size(); ++i)
      for (size_t j = 0; j < grouped.pods().size(); ++j) {
        Flow g = grouped.flow(i, j, k), e = exhaustive.flow(i, j, k);
        if (g.verdict == e.verdict && g.decision == e.decision) continue;
        if (++count <= max) out += fmt::format("  grouped    {}\n  exhaustive {}\n", str(g), str(e));
      }
  if (count > max) out += fmt::format("  ... {} differing flows in all\n", count);
  return out;
}

std::string backendsText(const Flow& f) {
  std::string out;
  for (const auto& [backend, verdict] : f.backends) out += fmt::format("{}={} ", backend, verdictName(verdict));
  return out;
}

// Every endpoint to every service port: the same verdict, and the same verdict
// towards each backend. Not the backend the traced connection reached: the
// datapath draws it at random.
std::string serviceFlowDifferences(const Reachability& grouped, const Reachability& exhaustive, size_t max = 10) {
  std::string out;
  size_t count = 0;
  for (size_t i = 0; i < grouped.pods().size(); ++i) {
    if (!grouped.isEndpoint(i)) continue;
    for (size_t s = 0; s < grouped.servicePorts().size(); ++s) {
      Flow g = grouped.serviceFlow(i, s), e = exhaustive.serviceFlow(i, s);
      if (g.verdict == e.verdict && g.backends == e.backends) continue;
      if (++count <= max)
        out += fmt::format("  {} -> {} {}\n    grouped    {} [{}]\n    exhaustive {} [{}]\n", g.from, g.to,
                           g.probe.str(), verdictName(g.verdict), backendsText(g), verdictName(e.verdict),
                           backendsText(e));
    }
  }
  if (count > max) out += fmt::format("  ... {} differing service flows in all\n", count);
  return out;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class ReachGroupedTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(geteuid(), 0u) << "kernel tests must run as root (they fail instead of skipping)"; }
};

// Grouping without the kernel: lowering only. If no generated cluster had
// fewer classes than pods, the comparisons below would compare the reference
// with itself.
TEST(ReachGrouping, GeneratedClustersHaveFewerClassesThanPods) {
  size_t grouping = 0;
  for (uint64_t seed : kSeeds) {
    auto loaded = loadGenerated(seed);
    ASSERT_FALSE(loaded->diags.hasErrors()) << loaded->diags.render(false);
    Reachability grouped, exhaustive;
    ASSERT_TRUE(grouped.prepare(loaded->state, loaded->diags, options(false))) << loaded->diags.render(false);
    ASSERT_TRUE(exhaustive.prepare(loaded->state, loaded->diags, options(true))) << loaded->diags.render(false);
    std::printf("seed %llu: %zu pods in %zu classes (%zu nodes, %zu service ports)\n", (unsigned long long)seed,
                grouped.stats().pods, grouped.stats().classes, grouped.stats().nodes, grouped.servicePorts().size());
    EXPECT_EQ(grouped.pods(), exhaustive.pods()) << "seed " << seed;
    EXPECT_EQ(exhaustive.stats().classes, exhaustive.stats().pods) << "seed " << seed << ": every pod its own class";
    EXPECT_LE(grouped.stats().classes, grouped.stats().pods) << "seed " << seed;
    grouping += grouped.stats().classes < grouped.stats().pods;
  }
  EXPECT_GT(grouping, 0u) << "no seed groups any pods: the grouped engine would not be tested";
}

class ReachGroupedSeedTest : public ReachGroupedTest, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(ReachGroupedSeedTest, SameVerdictsAndDecisionsAsExhaustive) {
  auto start = std::chrono::steady_clock::now();
  auto loaded = loadGenerated(GetParam());
  ASSERT_FALSE(loaded->diags.hasErrors()) << loaded->diags.render(false);
  const std::vector<PortProbe> probes = generatedProbes();
  std::string error;

  // Pod flows alone, so that the grouped engine compiles only what it chose
  // to run: a representative whose program it failed to compile shows.
  Reachability grouped;
  ASSERT_TRUE(grouped.prepare(loaded->state, loaded->diags, options(false))) << loaded->diags.render(false);
  ASSERT_TRUE(grouped.evaluate({}, probes, loaded->diags, error)) << error;
  // Service flows alone (nothing pod to pod is wanted).
  Reachability groupedServices;
  ASSERT_TRUE(groupedServices.prepare(loaded->state, loaded->diags, options(false)));
  groupedServices.alsoServices([](size_t) { return true; });
  ASSERT_TRUE(groupedServices.evaluate([](size_t, size_t) { return false; }, probes, loaded->diags, error)) << error;
  // The reference: both at once, every pod its own class.
  Reachability exhaustive;
  ASSERT_TRUE(exhaustive.prepare(loaded->state, loaded->diags, options(true)));
  exhaustive.alsoServices([](size_t) { return true; });
  ASSERT_TRUE(exhaustive.evaluate({}, probes, loaded->diags, error)) << error;

  const ReachStats& g = grouped.stats();
  const ReachStats& e = exhaustive.stats();
  std::printf("seed %llu: %zu pods, %zu classes; grouped traced %zu on %zu/%zu nodes, exhaustive %zu; %zu service "
              "ports; %.1f s\n",
              (unsigned long long)GetParam(), g.pods, g.classes, g.traced, g.nodesCompiled, g.nodes, e.traced,
              grouped.servicePorts().size(), secondsSince(start));
  ASSERT_EQ(grouped.pods(), exhaustive.pods());
  EXPECT_EQ(g.pairsWanted, g.pods * g.pods * probes.size());
  EXPECT_EQ(podFlowDifferences(grouped, exhaustive, probes), "");
  ASSERT_EQ(groupedServices.servicePorts().size(), exhaustive.servicePorts().size());
  EXPECT_GT(exhaustive.servicePorts().size(), 0u);
  EXPECT_EQ(serviceFlowDifferences(groupedServices, exhaustive), "");
}

INSTANTIATE_TEST_SUITE_P(Seeds, ReachGroupedSeedTest, ::testing::ValuesIn(kSeeds),
                         [](const ::testing::TestParamInfo<uint64_t>& info) { return fmt::format("seed{}", info.param); });

// x/a on n2 and x/b on n1 are one class (same labels, no policy); the
// hostNetwork pod h runs on n2 only. The pair (class of a and b, h) on one
// node has a representative only in x/a, the first member, while the greedy
// node cover makes x/b (on n1, the first node) the class's home pod.
TEST_F(ReachGroupedTest, HostNetworkPodOnOneNodeOnly) {
  auto loaded = loadYaml(sluice::testing::kTwoNodesThreeNamespaces +
                         sluice::testing::podYaml("x", "a", "n2", "10.244.2.10", "app: same", "[]") +
                         sluice::testing::podYaml("x", "b", "n1", "10.244.1.10", "app: same", "[]") +
                         sluice::testing::podYaml("y", "h", "n2", "192.168.2.1", "app: agent", "[]",
                                                  ", hostNetwork: true"));
  ASSERT_FALSE(loaded->diags.hasErrors()) << loaded->diags.render(false);
  const std::vector<PortProbe> probes = {{8080, ir::L4Proto::TCP}};
  Reachability grouped, exhaustive;
  ASSERT_TRUE(grouped.prepare(loaded->state, loaded->diags, options(false)));
  ASSERT_TRUE(exhaustive.prepare(loaded->state, loaded->diags, options(true)));
  EXPECT_EQ(grouped.stats().classes, 2u) << "x/a and x/b behave alike";
  std::string error;
  ASSERT_TRUE(grouped.evaluate({}, probes, loaded->diags, error)) << error;
  ASSERT_TRUE(exhaustive.evaluate({}, probes, loaded->diags, error)) << error;
  EXPECT_EQ(podFlowDifferences(grouped, exhaustive, probes), "");
}

// x/a and x/b, one class on one node, back the service x/s and admit only
// namespace y. Each reaches itself through the service (a pod is never kept
// from itself) and not the other: a's backends are {a: allow, b: deny}, b's
// {a: deny, b: allow}. Both partial, but not towards the same backends.
TEST_F(ReachGroupedTest, ClientThatIsAlsoABackendOfTheService) {
  auto loaded = loadYaml(sluice::testing::kTwoNodesThreeNamespaces +
                         sluice::testing::podYaml("x", "a", "n1", "10.244.1.10", "app: api",
                                                  "[{name: http, containerPort: 8080}]") +
                         sluice::testing::podYaml("x", "b", "n1", "10.244.1.11", "app: api",
                                                  "[{name: http, containerPort: 8080}]") + R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: x}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
---
apiVersion: v1
kind: Service
metadata: {name: s, namespace: x}
spec:
  clusterIP: 10.96.0.10
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s-1, namespace: x, labels: {kubernetes.io/service-name: s}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.1.10]
  conditions: {ready: true}
  nodeName: n1
  targetRef: {kind: Pod, name: a, namespace: x}
- addresses: [10.244.1.11]
  conditions: {ready: true}
  nodeName: n1
  targetRef: {kind: Pod, name: b, namespace: x}
)");
  ASSERT_FALSE(loaded->diags.hasErrors()) << loaded->diags.render(false);
  Reachability grouped, exhaustive;
  ASSERT_TRUE(grouped.prepare(loaded->state, loaded->diags, options(false)));
  ASSERT_TRUE(exhaustive.prepare(loaded->state, loaded->diags, options(true)));
  EXPECT_EQ(grouped.stats().classes, 1u) << "x/a and x/b behave alike as pods";
  grouped.alsoServices([](size_t) { return true; });
  exhaustive.alsoServices([](size_t) { return true; });
  std::string error;
  const std::vector<PortProbe> probes = {{8080, ir::L4Proto::TCP}};
  ASSERT_TRUE(grouped.evaluate({}, probes, loaded->diags, error)) << error;
  ASSERT_TRUE(exhaustive.evaluate({}, probes, loaded->diags, error)) << error;
  ASSERT_EQ(exhaustive.servicePorts().size(), 1u);
  // The reference says what the paragraph above says.
  Flow fromB = exhaustive.serviceFlow(size_t(exhaustive.podIndex("x/b")), 0);
  EXPECT_EQ(fromB.verdict, Verdict::Partial);
  std::vector<std::pair<std::string, Verdict>> expected = {{"x/a:8080", Verdict::Deny}, {"x/b:8080", Verdict::Allow}};
  EXPECT_EQ(fromB.backends, expected) << backendsText(fromB);
  EXPECT_EQ(podFlowDifferences(grouped, exhaustive, probes), "");
  EXPECT_EQ(serviceFlowDifferences(grouped, exhaustive), "");
}

}  // namespace
}  // namespace sluice::review
