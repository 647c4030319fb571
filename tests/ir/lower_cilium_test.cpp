// CiliumNetworkPolicy lowering: namespace confinement, entities, deny rules,
// the isolation rule for `ingress: [{}]`.
#include <gtest/gtest.h>

#include "ir/print.h"
#include "tests/ir/ir_test_util.h"

namespace sluice::ir {
namespace {

using testing::lowerText;
using testing::podYaml;

const std::string kPods = podYaml("x", "a", "n1", "10.244.1.10", "app: a", "[{name: http, containerPort: 8080}]") +
                          podYaml("x", "b", "n1", "10.244.1.11", "app: b", "[]") +
                          podYaml("y", "b", "n2", "10.244.2.11", "app: b", "[]");

TEST(LowerCilium, EndpointSelectorsAreConfinedToThePolicyNamespace) {
  auto p = lowerText(kPods + R"(
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: b}}]
  - fromEndpoints: [{matchLabels: {app: b, k8s:io.kubernetes.pod.namespace: y}}]
    toPorts: [{ports: [{port: http}]}]
)");
  const Endpoint* a = p.findNode("n1")->findEndpoint("x/a");
  IdentityId xb = p.findNode("n1")->findEndpoint("x/b")->identity;
  IdentityId yb = p.findNode("n2")->findEndpoint("y/b")->identity;
  ASSERT_TRUE(a->ingress.enforced);
  ASSERT_EQ(a->ingress.rules.size(), 2u);
  EXPECT_EQ(str(a->ingress.rules[0].peer), "identities{" + std::to_string(xb) + "}");
  EXPECT_EQ(str(a->ingress.rules[1].peer), "identities{" + std::to_string(yb) + "}");
  // No protocol means TCP, UDP and SCTP; the name resolves on a, which has it for TCP only.
  EXPECT_EQ(str(a->ingress.rules[1].l4), "{TCP/8080(http)}");
}

TEST(LowerCilium, EmptyRuleIsolatesAndAllowsNothingDenyComesFirst) {
  auto p = lowerText(kPods + R"(
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: iso, namespace: x}
spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress: [{}]
  egressDeny: [{toEntities: [world]}]
)");
  const Endpoint* a = p.findNode("n1")->findEndpoint("x/a");
  EXPECT_TRUE(a->ingress.enforced);
  // SEMANTICS.md: a rule with neither L3 fields nor toPorts admits nothing.
  ASSERT_EQ(a->ingress.rules.size(), 1u);
  EXPECT_EQ(str(a->ingress.rules[0].peer), "none");
  EXPECT_TRUE(a->egress.enforced);
  ASSERT_EQ(a->egress.rules.size(), 1u);
  EXPECT_EQ(a->egress.rules[0].verdict, Verdict::Deny);
  EXPECT_EQ(str(a->egress.rules[0].peer), "entities{world}");
}

TEST(LowerCilium, ClusterwidePolicySelectsEveryNamespace) {
  auto p = lowerText(kPods + R"(
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: all-b}
spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress: [{fromEntities: [cluster]}]
)");
  EXPECT_TRUE(p.findNode("n1")->findEndpoint("x/b")->ingress.enforced);
  EXPECT_TRUE(p.findNode("n2")->findEndpoint("y/b")->ingress.enforced);
  EXPECT_FALSE(p.findNode("n1")->findEndpoint("x/a")->ingress.enforced);
  EXPECT_EQ(p.findNode("n2")->findEndpoint("y/b")->ingress.rules.at(0).origin.policy,
            "CiliumClusterwideNetworkPolicy all-b");
}

}  // namespace
}  // namespace sluice::ir
