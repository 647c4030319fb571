// NetworkPolicy lowering: the corners of SEMANTICS.md, checked on small inline clusters.
#include <gtest/gtest.h>

#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "ir/print.h"
#include "tests/ir/ir_test_util.h"

namespace sluice::ir {
namespace {

using testing::lowerText;
using testing::podYaml;

const std::string kTwoPods = podYaml("x", "a", "n1", "10.244.1.10", "app: a", "[{name: http, containerPort: 8080}]") +
                             podYaml("x", "b", "n1", "10.244.1.11", "app: b", "[{name: http, containerPort: 9090}]") +
                             podYaml("y", "c", "n2", "10.244.2.10", "app: c", "[]");

TEST(LowerNetworkPolicy, PolicyTypesDefaulting) {
  // No policyTypes and no egress section: isolates ingress only.
  auto p = lowerText(kTwoPods + R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec: {podSelector: {}}
)");
  const Endpoint* a = p.findNode("n1")->findEndpoint("x/a");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ingress.enforced);
  EXPECT_TRUE(a->ingress.rules.empty());
  EXPECT_FALSE(a->egress.enforced);

  // An egress section without policyTypes adds Egress.
  p = lowerText(kTwoPods + R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: eg, namespace: x}
spec: {podSelector: {matchLabels: {app: a}}, egress: [{}]}
)");
  a = p.findNode("n1")->findEndpoint("x/a");
  EXPECT_TRUE(a->ingress.enforced);
  EXPECT_TRUE(a->egress.enforced);
  ASSERT_EQ(a->egress.rules.size(), 1u);
  EXPECT_TRUE(a->egress.rules[0].peer.any);
  EXPECT_TRUE(a->egress.rules[0].l4.any);
  EXPECT_FALSE(p.findNode("n1")->findEndpoint("x/b")->ingress.enforced);
}

TEST(LowerNetworkPolicy, NamedPortsResolveOnTheDestinationPerPod) {
  auto p = lowerText(kTwoPods + R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress: [{ports: [{port: http}]}]
  egress: [{ports: [{port: http}]}]
)");
  const NodeProgram* n1 = p.findNode("n1");
  // Ingress: on the endpoint itself, so a and b get different numbers.
  EXPECT_EQ(str(n1->findEndpoint("x/a")->ingress.rules.at(0).l4), "{TCP/8080(http)}");
  EXPECT_EQ(str(n1->findEndpoint("x/b")->ingress.rules.at(0).l4), "{TCP/9090(http)}");
  // Egress: per destination pod; c has no port named http and is not reachable.
  const auto& rules = n1->findEndpoint("x/a")->egress.rules;
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(str(rules[0].peer), "addresses{x/a=10.244.1.10}");
  EXPECT_EQ(str(rules[0].l4), "{TCP/8080(http)}");
  EXPECT_EQ(str(rules[1].peer), "addresses{x/b=10.244.1.11}");
  EXPECT_EQ(str(rules[1].l4), "{TCP/9090(http)}");
}

TEST(LowerNetworkPolicy, NamedPortWithOtherProtocolMatchesNothing) {
  auto p = lowerText(kTwoPods + R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress: [{ports: [{port: http, protocol: UDP}]}]
)");
  const Endpoint* a = p.findNode("n1")->findEndpoint("x/a");
  ASSERT_EQ(a->ingress.rules.size(), 1u);
  EXPECT_TRUE(a->ingress.rules[0].l4.matchesNothing());
}

TEST(LowerNetworkPolicy, PeersSelectorsAndBlocks) {
  auto p = lowerText(kTwoPods + R"(
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {team: blue}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: peers, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: c}}          # namespace x only: matches nothing
    - namespaceSelector: {matchLabels: {team: blue}}
      podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [b]}]}
    - ipBlock: {cidr: 10.244.0.0/16, except: [10.244.1.0/24]}
    ports: [{port: 8000, endPort: 8100}, {protocol: SCTP}]
)");
  const Endpoint* a = p.findNode("n1")->findEndpoint("x/a");
  ASSERT_EQ(a->ingress.rules.size(), 3u);
  EXPECT_EQ(str(a->ingress.rules[0].peer), "none");
  const Endpoint* c = p.findNode("n2")->findEndpoint("y/c");
  EXPECT_EQ(str(a->ingress.rules[1].peer), "identities{" + std::to_string(c->identity) + "}");
  EXPECT_EQ(str(a->ingress.rules[2].peer), "cidrs{10.244.0.0/16 except 10.244.1.0/24}");
  EXPECT_EQ(str(a->ingress.rules[2].l4), "{TCP/8000-8100,SCTP/*}");
  EXPECT_EQ(a->ingress.rules[1].name, "np.x.peers.ingress0.from1");
  EXPECT_EQ(a->ingress.rules[1].origin.path, "spec.ingress[0].from[1]");
  EXPECT_EQ(a->ingress.rules[1].origin.loc.fileName(), "test.yaml");
  EXPECT_GT(a->ingress.rules[1].origin.loc.line, 0u);
}

TEST(LowerNetworkPolicy, NamespaceNameLabelIsSelectable) {
  auto p = lowerText(kTwoPods + R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: by-name, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]}]
)");
  const Endpoint* a = p.findNode("n1")->findEndpoint("x/a");
  const Endpoint* c = p.findNode("n2")->findEndpoint("y/c");
  EXPECT_EQ(str(a->ingress.rules.at(0).peer), "identities{" + std::to_string(c->identity) + "}");
}

TEST(LowerNetworkPolicy, HostNetworkAndFinishedPodsAreNotEndpoints) {
  auto p = lowerText(kTwoPods + R"(
---
apiVersion: v1
kind: Pod
metadata: {name: h, namespace: x}
spec: {nodeName: n1, hostNetwork: true, containers: []}
status: {phase: Running, podIP: 192.168.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: done, namespace: x}
spec: {nodeName: n1, containers: []}
status: {phase: Succeeded, podIP: 10.244.1.99}
)");
  EXPECT_FALSE(p.findNode("n1")->findEndpoint("x/h"));
  EXPECT_FALSE(p.findNode("n1")->findEndpoint("x/done"));
  EXPECT_EQ(p.findNode("n1")->endpoints.size(), 2u);
}

}  // namespace
}  // namespace sluice::ir
