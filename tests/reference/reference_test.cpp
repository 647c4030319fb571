// The reference evaluator on hand-written corners of NetworkPolicy, and the
// random cluster generator's contract (valid, deterministic, covering).
#include <gtest/gtest.h>

#include "tests/testing/manifests.h"

#include <cstdio>
#include <cstdlib>
#include <map>

#include "frontend/manifest_loader.h"
#include "tests/reference/random_cluster.h"
#include "tests/reference/reference.h"

namespace sluice::reference {
namespace {

// ---- small inline clusters -------------------------------------------------

// Nodes n1 (192.168.1.1, pods 10.244.1.0/24) and n2 (192.168.2.1, 10.244.2.0/24);
// namespaces x (team=red), y (team=blue), z (no labels); pods:
//   x/a n1 10.244.1.10 app=a          http 80/TCP
//   x/b n1 10.244.1.11 app=b,tier=web http 8080/TCP, dns 53/UDP
//   y/a n2 10.244.2.10 app=a          (no ports)
//   y/b n2 10.244.2.11 app=b,tier=db  http 81/TCP
//   z/c n2 10.244.2.12 app=c          (no ports)
using sluice::testing::podYaml;


const std::string kBase = sluice::testing::kTwoNodesThreeNamespaces + podYaml("x", "a", "n1", "10.244.1.10", "app: a", "[{name: http, containerPort: 80}]") +
                          podYaml("x", "b", "n1", "10.244.1.11", "app: b, tier: web",
                              "[{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]") +
                          podYaml("y", "a", "n2", "10.244.2.10", "app: a", "[]") +
                          podYaml("y", "b", "n2", "10.244.2.11", "app: b, tier: db", "[{name: http, containerPort: 81}]") +
                          podYaml("z", "c", "n2", "10.244.2.12", "app: c", "[]");

std::string policy(const std::string& ns, const std::string& name, const std::string& spec) {
  return "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nspec:\n" + spec + "\n";
}

struct Cluster {
  ClusterState state;

  explicit Cluster(const std::string& yaml) {
    Diagnostics diags;
    loadManifestText("test.yaml", yaml, state, diags);
    checkDuplicates(state, diags);
    state.finalize();
    EXPECT_FALSE(diags.hasErrors()) << diags.render();
  }

  // "x/a" is a pod, anything else an address.
  Endpoint at(const std::string& what) const {
    if (what.find('/') == std::string::npos) return addressEndpoint(*IpAddr::parse(what));
    for (const Pod& p : state.pods)
      if (p.meta.key() == what) return podEndpoint(p);
    ADD_FAILURE() << "no pod " << what;
    return {};
  }
  Flow flow(const std::string& from, const std::string& to, uint16_t port, Protocol proto) const {
    return Flow{at(from), at(to), proto, port};
  }
};

::testing::AssertionResult check(Verdict want, const Cluster& c, const std::string& from, const std::string& to,
                                 uint16_t port, Protocol proto, const Options& options) {
  Flow f = c.flow(from, to, port, proto);
  Explanation e = evaluate(c.state, f, options);
  if (e.verdict == want) return ::testing::AssertionSuccess() << e.reason;
  return ::testing::AssertionFailure() << describe(f) << ": expected " << verdictName(want) << ", got "
                                       << verdictName(e.verdict) << ": " << e.reason;
}
::testing::AssertionResult Allows(const Cluster& c, const std::string& from, const std::string& to, uint16_t port,
                                  Protocol proto = Protocol::TCP, const Options& options = {}) {
  return check(Verdict::Allow, c, from, to, port, proto, options);
}
::testing::AssertionResult Denies(const Cluster& c, const std::string& from, const std::string& to, uint16_t port,
                                  Protocol proto = Protocol::TCP, const Options& options = {}) {
  return check(Verdict::Deny, c, from, to, port, proto, options);
}

const Protocol TCP = Protocol::TCP, UDP = Protocol::UDP, SCTP = Protocol::SCTP;

// ---- corners ---------------------------------------------------------------

TEST(Reference, NoPolicyAllowsEverything) {
  Cluster c(kBase);
  EXPECT_TRUE(Allows(c, "x/a", "y/b", 80));
  EXPECT_TRUE(Allows(c, "203.0.113.5", "z/c", 9000, SCTP));
  EXPECT_TRUE(Allows(c, "z/c", "203.0.113.5", 53, UDP));
}

TEST(Reference, PolicyTypesDefaulting) {
  // No policyTypes and no egress section: Ingress only.
  Cluster c(kBase + policy("x", "deny", "  podSelector: {}"));
  EXPECT_TRUE(Denies(c, "y/a", "x/a", 80));
  EXPECT_TRUE(Allows(c, "x/a", "y/a", 80));
  EXPECT_TRUE(Allows(c, "x/a", "203.0.113.5", 80));

  // An egress section without policyTypes adds Egress; Ingress stays.
  Cluster d(kBase + policy("x", "dns", "  podSelector: {}\n  egress: [{ports: [{protocol: UDP, port: 53}]}]"));
  EXPECT_TRUE(Denies(d, "y/a", "x/a", 80));
  EXPECT_TRUE(Denies(d, "x/a", "y/a", 80));
  EXPECT_TRUE(Allows(d, "x/a", "y/a", 53, UDP));

  // policyTypes: [] is unset: defaulted the same way.
  Cluster e(kBase + policy("x", "empty", "  podSelector: {}\n  policyTypes: []\n  egress: []"));
  EXPECT_TRUE(Denies(e, "y/a", "x/a", 80));
  EXPECT_TRUE(Allows(e, "x/a", "y/a", 80));  // `egress: []` is no egress section
}

TEST(Reference, EgressOnlyIsolation) {
  Cluster c(kBase + policy("x", "eg", "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Egress]\n"
                                      "  ingress: [{from: [{podSelector: {matchLabels: {app: zzz}}}]}]"));
  EXPECT_TRUE(Denies(c, "x/a", "y/a", 80));
  EXPECT_TRUE(Denies(c, "x/a", "203.0.113.5", 53, UDP));
  EXPECT_TRUE(Allows(c, "y/a", "x/a", 80));  // not isolated for Ingress: its ingress rules are ignored
  EXPECT_TRUE(Allows(c, "x/b", "y/a", 80));  // not selected
}

TEST(Reference, IngressEmptyRuleAllowsAll) {
  Cluster c(kBase + policy("x", "deny", "  podSelector: {}") +
            policy("x", "all", "  podSelector: {matchLabels: {app: a}}\n  ingress: [{}]"));
  EXPECT_TRUE(Allows(c, "y/a", "x/a", 80));
  EXPECT_TRUE(Allows(c, "203.0.113.5", "x/a", 9000, SCTP));
  EXPECT_TRUE(Denies(c, "y/a", "x/b", 80));  // x/b is only under `deny`
}

TEST(Reference, EmptyFromAllowsWorldToo) {
  Cluster c(kBase + policy("x", "web", "  podSelector: {}\n  ingress: [{from: [], ports: [{port: 80}]}]"));
  EXPECT_TRUE(Allows(c, "203.0.113.5", "x/a", 80));
  EXPECT_TRUE(Allows(c, "z/c", "x/a", 80));
  EXPECT_TRUE(Denies(c, "203.0.113.5", "x/a", 81));
  EXPECT_TRUE(Denies(c, "203.0.113.5", "x/a", 80, UDP));
}

TEST(Reference, AndVersusOrPeers) {
  // One item with both selectors: pods labelled app=b in namespaces labelled team=blue.
  Cluster andCase(kBase + policy("x", "and", R"(  podSelector: {matchLabels: {app: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
      podSelector: {matchLabels: {app: b}})"));
  EXPECT_TRUE(Allows(andCase, "y/b", "x/a", 80));
  EXPECT_TRUE(Denies(andCase, "y/a", "x/a", 80));  // right namespace, wrong pod
  EXPECT_TRUE(Denies(andCase, "x/b", "x/a", 80));  // right pod, wrong namespace

  // Two items: either.
  Cluster orCase(kBase + policy("x", "or", R"(  podSelector: {matchLabels: {app: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
    - podSelector: {matchLabels: {app: b}})"));
  EXPECT_TRUE(Allows(orCase, "y/b", "x/a", 80));
  EXPECT_TRUE(Allows(orCase, "y/a", "x/a", 80));  // by namespace
  EXPECT_TRUE(Allows(orCase, "x/b", "x/a", 80));  // by pod, in the policy's namespace
  EXPECT_TRUE(Denies(orCase, "z/c", "x/a", 80));
  EXPECT_TRUE(Denies(orCase, "203.0.113.5", "x/a", 80));  // selectors never match addresses
}

TEST(Reference, NotInMatchesPodsWithoutKey) {
  // Isolation: x/a has no tier label, so `tier notin (web)` selects it; x/b (tier=web) is not selected.
  Cluster c(kBase + policy("x", "p", R"(  podSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [web]}]}
  ingress:
  - from: [{namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [red]}]}}])"));
  EXPECT_TRUE(Denies(c, "x/b", "x/a", 80));   // namespace x is team=red
  EXPECT_TRUE(Allows(c, "y/a", "x/a", 80));   // team=blue
  EXPECT_TRUE(Allows(c, "z/c", "x/a", 80));   // z has no team label: NotIn matches it
  EXPECT_TRUE(Allows(c, "203.0.113.5", "x/b", 80));  // x/b is not selected

  Cluster d(kBase + policy("x", "q", "  podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}"));
  EXPECT_TRUE(Denies(d, "y/a", "x/a", 80));
  EXPECT_TRUE(Allows(d, "y/a", "x/b", 80));
}

TEST(Reference, NamedPortResolvedPerDestinationPod) {
  // Egress: each destination resolves `http` itself: x/a 80, x/b 8080, y/b 81, y/a none.
  Cluster c(kBase + policy("z", "eg", "  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{ports: [{port: http}]}]"));
  EXPECT_TRUE(Allows(c, "z/c", "x/a", 80));
  EXPECT_TRUE(Denies(c, "z/c", "x/a", 8080));
  EXPECT_TRUE(Allows(c, "z/c", "x/b", 8080));
  EXPECT_TRUE(Denies(c, "z/c", "x/b", 80));
  EXPECT_TRUE(Allows(c, "z/c", "y/b", 81));
  EXPECT_TRUE(Denies(c, "z/c", "y/a", 80));          // no port named http
  EXPECT_TRUE(Denies(c, "z/c", "203.0.113.5", 80));  // not a pod: a named port matches nothing

  // Ingress: on the selected pod itself.
  Cluster d(kBase + policy("x", "in", "  podSelector: {}\n  ingress: [{ports: [{port: http}]}]"));
  EXPECT_TRUE(Allows(d, "y/a", "x/a", 80));
  EXPECT_TRUE(Denies(d, "y/a", "x/b", 80));
  EXPECT_TRUE(Allows(d, "203.0.113.5", "x/b", 8080));
}

TEST(Reference, NamedPortWithWrongProtocol) {
  // x/b's `dns` is 53/UDP; a port without protocol means TCP.
  Cluster tcp(kBase + policy("x", "p", "  podSelector: {matchLabels: {app: b}}\n  ingress: [{ports: [{port: dns}]}]"));
  EXPECT_TRUE(Denies(tcp, "y/a", "x/b", 53, UDP));
  EXPECT_TRUE(Denies(tcp, "y/a", "x/b", 53, TCP));
  Cluster udp(kBase + policy("x", "p", "  podSelector: {matchLabels: {app: b}}\n"
                                       "  ingress: [{ports: [{protocol: UDP, port: dns}]}]"));
  EXPECT_TRUE(Allows(udp, "y/a", "x/b", 53, UDP));
  EXPECT_TRUE(Denies(udp, "y/a", "x/b", 53, TCP));
  Cluster sctp(kBase + policy("x", "p", "  podSelector: {matchLabels: {app: b}}\n"
                                        "  ingress: [{ports: [{protocol: SCTP, port: dns}]}]"));
  EXPECT_TRUE(Denies(sctp, "y/a", "x/b", 53, SCTP));
  EXPECT_TRUE(Denies(sctp, "y/a", "x/b", 53, UDP));
}

TEST(Reference, EndPortInclusiveBounds) {
  Cluster c(kBase + policy("x", "p", "  podSelector: {}\n  ingress: [{ports: [{port: 80, endPort: 81}, "
                                     "{protocol: UDP, port: 8080, endPort: 8080}]}]"));
  EXPECT_TRUE(Denies(c, "y/a", "x/a", 79));
  EXPECT_TRUE(Allows(c, "y/a", "x/a", 80));
  EXPECT_TRUE(Allows(c, "y/a", "x/a", 81));
  EXPECT_TRUE(Denies(c, "y/a", "x/a", 82));
  EXPECT_TRUE(Denies(c, "y/a", "x/a", 80, UDP));
  EXPECT_TRUE(Denies(c, "y/a", "x/a", 80, SCTP));
  EXPECT_TRUE(Allows(c, "y/a", "x/a", 8080, UDP));
  EXPECT_TRUE(Denies(c, "y/a", "x/a", 8081, UDP));
  EXPECT_TRUE(Denies(c, "y/a", "x/a", 8079, UDP));
}

TEST(Reference, IpBlockExceptCoveringPod) {
  // ipBlock matches pod addresses too; `except` carves one pod out.
  Cluster c(kBase + policy("x", "p", R"(  podSelector: {matchLabels: {app: a}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.2.11/32]}}]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.244.0.0/16]}}])"));
  EXPECT_TRUE(Allows(c, "y/a", "x/a", 80));  // 10.244.2.10
  EXPECT_TRUE(Denies(c, "y/b", "x/a", 80));  // 10.244.2.11, excepted
  EXPECT_TRUE(Allows(c, "x/b", "x/a", 80));  // 10.244.1.11
  EXPECT_TRUE(Denies(c, "203.0.113.5", "x/a", 80));
  EXPECT_TRUE(Allows(c, "x/a", "203.0.113.5", 80));
  EXPECT_TRUE(Allows(c, "x/a", "192.168.2.1", 80));  // a node address is an address
  EXPECT_TRUE(Denies(c, "x/a", "y/a", 80));          // a pod inside the except
}

TEST(Reference, HostNetworkPodNotSelected) {
  // y/h is hostNetwork on n2 (x/a runs on n1, so no own-node exception here).
  std::string h = podYaml("y", "h", "n2", "192.168.2.1", "app: a", "[{name: http, containerPort: 80}]",
                      ", hostNetwork: true");
  Cluster c(kBase + h + policy("x", "p", R"(  podSelector: {matchLabels: {app: a}}
  ingress:
  - from: [{namespaceSelector: {}}]
  - from: [{ipBlock: {cidr: 192.168.2.1/32}}]
    ports: [{port: 81}])"));
  EXPECT_TRUE(Allows(c, "y/a", "x/a", 80));
  EXPECT_TRUE(Denies(c, "y/h", "x/a", 80));  // `namespaceSelector: {}` selects pods, not hostNetwork ones
  EXPECT_TRUE(Allows(c, "y/h", "x/a", 81));  // its address is matched by ipBlock
  EXPECT_TRUE(Allows(c, "192.168.2.1", "x/a", 81));

  // As source or destination a hostNetwork pod is not subject to policy.
  Cluster d(kBase + h + policy("y", "deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]"));
  EXPECT_TRUE(Allows(d, "x/a", "y/h", 80));
  EXPECT_TRUE(Allows(d, "y/h", "x/a", 80));
  EXPECT_TRUE(Denies(d, "x/a", "y/a", 80));
  // A named port on a hostNetwork destination resolves to nothing: it is no policy endpoint.
  Cluster e(kBase + h + policy("x", "eg", "  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{ports: [{port: http}]}]"));
  EXPECT_TRUE(Denies(e, "x/b", "y/h", 80));
  EXPECT_TRUE(Allows(e, "x/b", "x/a", 80));
}

TEST(Reference, BothEndsMustAllow) {
  std::string egress = policy("x", "eg", R"(  podSelector: {matchLabels: {app: a}}
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: blue}}, podSelector: {matchLabels: {app: b}}}])");
  std::string ingress = policy("y", "in", R"(  podSelector: {matchLabels: {app: b}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}, podSelector: {matchLabels: {app: b}}}])");
  Cluster c(kBase + egress + ingress);
  Flow f = c.flow("x/a", "y/b", 80, TCP);
  Explanation e = evaluate(c.state, f);
  EXPECT_EQ(e.verdict, Verdict::Deny);
  EXPECT_EQ(e.reason,
            "egress of x/a: allowed by NetworkPolicy x/eg spec.egress[0] "
            "(to[0] namespaceSelector team=blue podSelector app=b, all ports); "
            "ingress of y/b: denied: isolated for Ingress by NetworkPolicy y/in and no ingress rule matches");
  EXPECT_TRUE(evaluateEgress(c.state, f).allowed());
  EXPECT_FALSE(evaluateIngress(c.state, f).allowed());
  EXPECT_TRUE(Allows(c, "x/b", "y/b", 80));  // x/b's egress is not isolated
  EXPECT_TRUE(Denies(c, "x/a", "y/a", 80));  // y/a's ingress is not isolated, x/a's egress denies

  Cluster d(kBase + egress + ingress +
            policy("y", "from-a", "  podSelector: {}\n  ingress: [{from: [{namespaceSelector: {}, podSelector: "
                                  "{matchLabels: {app: a}}}]}]"));
  EXPECT_TRUE(Allows(d, "x/a", "y/b", 80));
}

TEST(Reference, PolicyInAnotherNamespaceDoesNotApply) {
  Cluster c(kBase + policy("y", "deny", "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Ingress, Egress]") +
            policy("x", "own", "  podSelector: {matchLabels: {app: b}}\n"
                               "  ingress: [{from: [{podSelector: {matchLabels: {app: a}}}]}]"));
  EXPECT_TRUE(Allows(c, "y/b", "x/a", 80));   // x/a has app=a, but `deny` lives in y
  EXPECT_TRUE(Denies(c, "x/a", "y/a", 80));   // y/a is under `deny`
  EXPECT_TRUE(Allows(c, "x/a", "x/b", 80));   // podSelector alone: the policy's namespace
  EXPECT_TRUE(Denies(c, "y/b", "x/b", 80));   // y/b is not app=a
  EXPECT_TRUE(Denies(c, "y/a", "x/b", 80));   // y/a is app=a, but in y (and its egress is denied anyway)
}

TEST(Reference, LoopbackAlwaysAllowed) {
  Cluster c(kBase + policy("x", "deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]"));
  EXPECT_TRUE(Allows(c, "x/a", "x/a", 80));
  EXPECT_TRUE(Denies(c, "x/a", "x/b", 80));
  Options strict;
  strict.loopbackAlwaysAllowed = false;
  EXPECT_TRUE(Denies(c, "x/a", "x/a", 80, TCP, strict));
}

TEST(Reference, OwnNodeIngressAlwaysAllowed) {
  std::string h = podYaml("z", "h", "n1", "192.168.1.1", "", "[]", ", hostNetwork: true");
  Cluster c(kBase + h + policy("x", "deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]"));
  EXPECT_TRUE(Allows(c, "192.168.1.1", "x/a", 80));  // x/a runs on n1
  EXPECT_TRUE(Allows(c, "z/h", "x/a", 80));          // the node's hostNetwork pod
  EXPECT_TRUE(Denies(c, "192.168.2.1", "x/a", 80));  // another node
  EXPECT_TRUE(Denies(c, "x/a", "192.168.1.1", 80));  // egress to the own node stays subject to policy
  Options strict;
  strict.ownNodeIngressAlwaysAllowed = false;
  EXPECT_TRUE(Denies(c, "192.168.1.1", "x/a", 80, TCP, strict));
}

TEST(Reference, OnlyRunningOrPendingPodsAreEndpoints) {
  // x/old finished and left its IP to x/a; x/new is Pending with an IP: enforced.
  Cluster c(kBase + podYaml("x", "old", "n1", "10.244.1.10", "app: b", "[]", "", "Succeeded") +
            podYaml("x", "new", "n1", "10.244.1.20", "app: a", "[]", "", "Pending") +
            policy("x", "p", "  podSelector: {matchLabels: {app: a}}\n"
                             "  ingress: [{from: [{podSelector: {matchLabels: {app: b}}}]}]"));
  Endpoint e = endpointForAddress(c.state, *IpAddr::parse("10.244.1.10"));
  ASSERT_NE(e.pod, nullptr);
  EXPECT_EQ(e.pod->meta.key(), "x/a");
  EXPECT_TRUE(Denies(c, "y/a", "x/new", 80));
  EXPECT_TRUE(Allows(c, "x/b", "x/new", 80));
  EXPECT_TRUE(Denies(c, "x/old", "x/a", 80));  // a finished pod is selected by nothing
  EXPECT_EQ(endpointForAddress(c.state, *IpAddr::parse("203.0.113.5")).pod, nullptr);
}

// ---- the random generator ---------------------------------------------------

struct Loaded {
  ClusterState state;
  Diagnostics diags;
};

Loaded loadRandom(uint64_t seed) {
  Loaded l;
  loadManifestText("random-" + std::to_string(seed) + ".yaml", randomClusterYaml(seed), l.state, l.diags);
  checkDuplicates(l.state, l.diags);
  l.state.finalize();
  return l;
}

TEST(RandomCluster, ThousandSeedsLoadWithoutErrors) {
  for (uint64_t seed = 1; seed <= 1000; ++seed) {
    Loaded l = loadRandom(seed);
    ASSERT_FALSE(l.diags.hasErrors()) << "seed " << seed << ":\n" << l.diags.render() << randomClusterYaml(seed);
    size_t endpoints = 0;
    for (const Pod& p : l.state.pods) endpoints += isPolicyEndpoint(p);
    ASSERT_GE(endpoints, 2u) << "seed " << seed;
    ASSERT_EQ(l.state.nodes.size(), 2u) << "seed " << seed;
  }
}

TEST(RandomCluster, Deterministic) {
  EXPECT_EQ(randomClusterYaml(7), randomClusterYaml(7));
  EXPECT_NE(randomClusterYaml(7), randomClusterYaml(8));
  Loaded l = loadRandom(7);
  std::vector<Flow> a = randomFlows(l.state, 7, 100), b = randomFlows(l.state, 7, 100);
  ASSERT_EQ(a.size(), 100u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(describe(a[i]), describe(b[i]));
  // mt19937_64 is fixed by the standard (10000th output from the default seed);
  // the helpers on top use nothing implementation-defined.
  std::mt19937_64 engine;
  engine.discard(9999);
  EXPECT_EQ(engine(), 9981545732273789042ull);
  Rng rng(1);
  std::vector<uint64_t> draws;
  for (int i = 0; i < 8; ++i) draws.push_back(rng.below(10));
  Rng again(1);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(again.below(10), draws[size_t(i)]);
}

// The generator reaches every corner the differential test is meant to exercise.
TEST(RandomCluster, CoversEveryCorner) {
  std::map<std::string, int> seen;
  auto count = [&](bool cond, const char* what) { seen[what] += cond ? 1 : 0; };
  size_t allow = 0, deny = 0;
  for (uint64_t seed = 1; seed <= 1000; ++seed) {
    std::string yaml = randomClusterYaml(seed);
    count(yaml.find("ingress: []") != std::string::npos, "ingress: []");
    count(yaml.find("egress: [{}]") != std::string::npos, "egress: [{}]");
    count(yaml.find("from: []") != std::string::npos, "from: []");
    count(yaml.find("ports: []") != std::string::npos, "ports: []");
    count(yaml.find("- {}") != std::string::npos, "rule {}");
    count(yaml.find("policyTypes: []") != std::string::npos, "policyTypes: []");
    Loaded l = loadRandom(seed);
    for (const Pod& p : l.state.pods) {
      count(p.hostNetwork, "hostNetwork pod");
      count(p.phase == PodPhase::Pending, "Pending pod");
      count(p.phase == PodPhase::Succeeded || p.phase == PodPhase::Failed, "finished pod");
      for (const ContainerPort& cp : p.ports) count(cp.protocol == Protocol::SCTP, "SCTP container port");
    }
    for (const Namespace& ns : l.state.namespaces) count(ns.implicit, "implicit namespace");
    for (const NetworkPolicy& np : l.state.networkPolicies) {
      count(!np.policyTypesExplicit && np.egressType, "Egress defaulted");
      count(np.policyTypesExplicit && np.ingressType && np.egressType, "both types");
      for (const LabelRequirement& r : np.podSelector.requirements) {
        count(r.op == LabelRequirement::Op::NotIn, "NotIn");
        count(r.op == LabelRequirement::Op::DoesNotExist, "DoesNotExist");
        count(r.op == LabelRequirement::Op::Exists, "Exists");
      }
      for (const auto* rules : {&np.ingress, &np.egress}) {
        for (const NetworkPolicyRule& rule : *rules) {
          for (const NetworkPolicyPeer& peer : rule.peers) {
            count(peer.podSelector && peer.namespaceSelector, "both selectors in one peer");
            count(peer.namespaceSelector && !peer.podSelector, "namespaceSelector only");
            count(peer.ipBlock && !peer.ipBlock->except.empty(), "ipBlock with except");
            bool coversPod = false;
            for (const Pod& p : l.state.pods)
              coversPod = coversPod || (peer.ipBlock && isPolicyEndpoint(p) && peer.ipBlock->cidr.contains(p.ips[0]));
            count(coversPod, "ipBlock covering a pod");
          }
          for (const NetworkPolicyPort& port : rule.ports) {
            count(port.port && port.port->isNamed(), "named port");
            count(port.endPort.has_value(), "endPort");
            count(port.protocol == Protocol::SCTP, "SCTP policy port");
            count(!port.port, "port absent");
          }
        }
      }
    }
    for (const Flow& f : randomFlows(l.state, seed, 50)) {
      Explanation e = evaluate(l.state, f);
      ASSERT_FALSE(e.reason.empty());
      (e.allowed() ? allow : deny)++;
      count(f.from.pod == nullptr, "flow from an address");
      count(f.to.pod == nullptr, "flow to an address");
      count(e.reason.find("allowed by NetworkPolicy") != std::string::npos, "allowed by a rule");
      count(e.reason.find("denied: isolated") != std::string::npos, "denied by isolation");
      bool namedPort = false;
      for (const char* name : {"] http=", "] metrics=", "] dns="})
        namedPort = namedPort || e.reason.find(name) != std::string::npos;
      count(namedPort, "allowed by a named port");
    }
  }
  for (const auto& [what, n] : seen) {
    EXPECT_GE(n, 5) << what;
    if (std::getenv("SLUICE_REFERENCE_STATS")) std::printf("%6d %s\n", n, what.c_str());
  }
  EXPECT_EQ(seen.size(), 29u);  // every counter above was reached
  if (std::getenv("SLUICE_REFERENCE_STATS")) std::printf("%zu allow, %zu deny\n", allow, deny);
  // Neither verdict dominates, so a datapath that always says one thing fails.
  EXPECT_GT(allow, (allow + deny) / 5) << allow << " allow, " << deny << " deny";
  EXPECT_GT(deny, (allow + deny) / 5) << allow << " allow, " << deny << " deny";
}

}  // namespace
}  // namespace sluice::reference
