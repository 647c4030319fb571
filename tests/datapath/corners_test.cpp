// Every corner of NetworkPolicy v1, in the kernel: each flow is one new
// connection traced through the real programs (BPF_PROG_TEST_RUN) and
// compared with the exact verdict and, where a rule decides, that rule's name.
//
// Expectations read "allow from-pod=<decision> to-pod=<decision>", one word per
// hook the packet met (datapath_util.h): a rule name, "unisolated" (no policy
// isolates that direction), "isolated" (isolated, no rule allows) or "own-node"
// (ingress from the pod's own node, always allowed). A packet
// dropped by the from-pod program never meets the to-pod program.
#include <gtest/gtest.h>

#include "tests/datapath/corner_cluster.h"

namespace sluice::datapath_test {
namespace {

using Corners = InBothDatapathModes;
SLUICE_IN_BOTH_DATAPATH_MODES(Corners);

// ---- isolation ----------------------------------------------------------------

TEST_P(Corners, NoPolicyAllowsEverything) {
  LOAD_CLUSTER(c, kBase);
  EXPECT_TRUE(Traces(c, "x/a", "y/b", 80, TCP, "allow from-pod=unisolated to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "z/c", "203.0.113.5", 53, UDP, "allow from-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "x/a", 80, TCP, "allow (self)"));
}

TEST_P(Corners, PolicyTypesDefaultToIngress) {
  // No policyTypes and no egress section: Ingress only.
  LOAD_CLUSTER(c, kBase + policy("x", "deny", "  podSelector: {}"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "allow from-pod=unisolated to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 80, TCP, "allow from-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "x/a", 80, TCP, "allow (self)"));  // a pod never blocks itself
}

TEST_P(Corners, EgressSectionAddsEgressType) {
  LOAD_CLUSTER(c, kBase + policy("x", "dns", "  podSelector: {}\n  egress: [{ports: [{protocol: UDP, port: 53}]}]"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 53, UDP, "allow from-pod=np.x.dns.egress0 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 53, UDP, "deny from-pod=unisolated to-pod=isolated"));
}

TEST_P(Corners, ExplicitPolicyTypesIsolateOnlyTheirDirections) {
  // Egress only: its ingress rules are ignored and ingress stays open.
  LOAD_CLUSTER(c, kBase + policy("x", "eg", "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Egress]\n"
                                            "  ingress: [{from: [{podSelector: {matchLabels: {app: zzz}}}]}]") +
                      policy("y", "both", "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Ingress, Egress]"));
  EXPECT_TRUE(Traces(c, "x/a", "x/b", 8080, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 53, UDP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/b", "y/b", 81, TCP, "allow from-pod=unisolated to-pod=unisolated"));  // not selected
  EXPECT_TRUE(Traces(c, "y/a", "y/b", 81, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/b", "y/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
}

TEST_P(Corners, UnionOfPolicies) {
  LOAD_CLUSTER(c, kBase +
                      policy("x", "p1", "  podSelector: {matchLabels: {app: a}}\n"
                                        "  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}]}]") +
                      policy("x", "p2", "  podSelector: {}\n  ingress: [{from: [{namespaceSelector: "
                                        "{matchLabels: {kubernetes.io/metadata.name: z}}}], ports: [{port: 81}]}]"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.p1.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 81, TCP, "allow from-pod=unisolated to-pod=np.x.p2.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/b", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));  // only p2 selects x/b
  EXPECT_TRUE(Traces(c, "z/c", "x/b", 81, TCP, "allow from-pod=unisolated to-pod=np.x.p2.ingress0.from0"));
}

// ---- peers and selectors ----------------------------------------------------------

TEST_P(Corners, NamespaceAndPodSelectorInOnePeerAreAnded) {
  LOAD_CLUSTER(c, kBase + policy("x", "and", R"(  podSelector: {matchLabels: {app: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
      podSelector: {matchLabels: {app: b}})"));
  EXPECT_TRUE(Traces(c, "y/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.and.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));  // wrong pod
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));  // wrong namespace
}

TEST_P(Corners, PeersAreOred) {
  LOAD_CLUSTER(c, kBase + policy("x", "or", R"(  podSelector: {matchLabels: {app: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
    - podSelector: {matchLabels: {app: b}})"));
  EXPECT_TRUE(Traces(c, "y/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.or.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.or.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.or.ingress0.from1"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "z/h2", "x/a", 80, TCP, "deny to-pod=isolated"));  // selectors never match nodes
}

TEST_P(Corners, EmptyIngressRuleAllowsEveryPeerAndPort) {  // ingress: [{}]
  LOAD_CLUSTER(c, kBase + policy("x", "deny", "  podSelector: {}") +
                      policy("x", "all", "  podSelector: {matchLabels: {app: a}}\n  ingress: [{}]"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.all.ingress0"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 9000, SCTP, "allow from-pod=unisolated to-pod=np.x.all.ingress0"));
  EXPECT_TRUE(Traces(c, "z/h2", "x/a", 53, UDP, "allow to-pod=np.x.all.ingress0"));  // another node too
  EXPECT_TRUE(Traces(c, "y/a", "x/b", 8080, TCP, "deny from-pod=unisolated to-pod=isolated"));
}

TEST_P(Corners, EmptyIngressListAllowsNothing) {  // ingress: []
  LOAD_CLUSTER(c, kBase + policy("x", "none", "  podSelector: {matchLabels: {app: a}}\n  ingress: []"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/b", 80, TCP, "allow from-pod=unisolated to-pod=unisolated"));
}

TEST_P(Corners, EmptyFromAndPortsListsMeanAll) {
  LOAD_CLUSTER(c, kBase +
                      policy("x", "web", "  podSelector: {matchLabels: {app: a}}\n"
                                         "  ingress: [{from: [], ports: [{port: 80}]}]") +
                      policy("y", "fromb", "  podSelector: {matchLabels: {app: a}}\n"
                                           "  ingress: [{from: [{namespaceSelector: {}, podSelector: "
                                           "{matchLabels: {app: b}}}], ports: []}]"));
  // from: [] — every peer, pods and nodes alike, on the listed port only.
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.web.ingress0"));
  EXPECT_TRUE(Traces(c, "z/h2", "x/a", 80, TCP, "allow to-pod=np.x.web.ingress0"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 81, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 80, UDP, "deny from-pod=unisolated to-pod=isolated"));
  // ports: [] — every port and protocol, from the listed peers only.
  EXPECT_TRUE(Traces(c, "x/b", "y/a", 9000, UDP, "allow from-pod=unisolated to-pod=np.y.fromb.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "y/b", "y/a", 1, SCTP, "allow from-pod=unisolated to-pod=np.y.fromb.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
}

TEST_P(Corners, EmptySelectorsInPeers) {
  // podSelector: {} alone = every pod of the policy's namespace;
  // namespaceSelector: {} alone = every pod of every namespace (never a node).
  LOAD_CLUSTER(c, kBase +
                      policy("x", "samens", "  podSelector: {matchLabels: {app: a}}\n"
                                            "  ingress: [{from: [{podSelector: {}}]}]") +
                      policy("y", "allns", "  podSelector: {matchLabels: {app: a}}\n"
                                           "  ingress: [{from: [{namespaceSelector: {}}]}]"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.samens.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "y/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/b", "y/a", 80, TCP, "allow from-pod=unisolated to-pod=np.y.allns.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "z/c", "y/a", 80, TCP, "allow from-pod=unisolated to-pod=np.y.allns.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "z/h1", "y/a", 80, TCP, "deny to-pod=isolated"));  // a node is no pod
}

TEST_P(Corners, AbsentSpecPodSelectorSelectsTheWholeNamespace) {
  LOAD_CLUSTER(c, kBase + policy("y", "nosel", "  ingress: []"));  // warned, still loads
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "y/b", 81, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "z/c", 81, TCP, "allow from-pod=unisolated to-pod=unisolated"));
}

TEST_P(Corners, MatchExpressions) {
  LOAD_CLUSTER(
      c, kBase +
             // In: y/a admits pods labelled app in (b, c), any namespace.
             policy("y", "in", "  podSelector: {matchLabels: {app: a}}\n  ingress: [{from: [{namespaceSelector: {}, "
                               "podSelector: {matchExpressions: [{key: app, operator: In, values: [b, c]}]}}]}]") +
             // Exists: y/b admits pods that have a tier label.
             policy("y", "exists", "  podSelector: {matchLabels: {app: b}}\n  ingress: [{from: [{namespaceSelector: "
                                   "{}, podSelector: {matchExpressions: [{key: tier, operator: Exists}]}}]}]") +
             // DoesNotExist: z/c admits pods without a tier label.
             policy("z", "dne", "  podSelector: {matchLabels: {app: c}}\n  ingress: [{from: [{namespaceSelector: {}, "
                                "podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}}]}]") +
             // NotIn, selecting x/a (no tier key: NotIn matches it) but not x/b (tier=web); it admits
             // namespaces whose team is not red, z (no team key) included.
             policy("x", "notin", "  podSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [web]}]}\n"
                                  "  ingress: [{from: [{namespaceSelector: {matchExpressions: "
                                  "[{key: team, operator: NotIn, values: [red]}]}}]}]"));
  EXPECT_TRUE(Traces(c, "x/b", "y/a", 80, TCP, "allow from-pod=unisolated to-pod=np.y.in.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "z/c", "y/a", 80, TCP, "allow from-pod=unisolated to-pod=np.y.in.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));

  EXPECT_TRUE(Traces(c, "x/b", "y/b", 81, TCP, "allow from-pod=unisolated to-pod=np.y.exists.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "x/a", "y/b", 81, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "z/c", "y/b", 81, TCP, "deny from-pod=unisolated to-pod=isolated"));

  EXPECT_TRUE(Traces(c, "x/a", "z/c", 80, TCP, "allow from-pod=unisolated to-pod=np.z.dne.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "y/a", "z/c", 80, TCP, "allow from-pod=unisolated to-pod=np.z.dne.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "x/b", "z/c", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/b", "z/c", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));

  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.notin.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.notin.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "x/b", 8080, TCP, "allow from-pod=unisolated to-pod=unisolated"));  // not selected
}

// ---- ports ----------------------------------------------------------------------

TEST_P(Corners, NamedPortsResolveOnEachDestinationPodForIngress) {
  // http is 80 on x/a and 8080 on x/b; dns is 53/UDP on x/b (a TCP `dns` exists nowhere).
  LOAD_CLUSTER(c, kBase + policy("x", "http", "  podSelector: {}\n  ingress:\n"
                                              "  - ports: [{port: http}, {port: dns}]\n"
                                              "  - ports: [{protocol: UDP, port: dns}]"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.http.ingress0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 8080, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/b", 8080, TCP, "allow from-pod=unisolated to-pod=np.x.http.ingress0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/b", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/b", 53, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/b", 53, UDP, "allow from-pod=unisolated to-pod=np.x.http.ingress1"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 53, UDP, "deny from-pod=unisolated to-pod=isolated"));
}

TEST_P(Corners, NamedPortsResolveOnEachDestinationPodForEgress) {
  LOAD_CLUSTER(c, kBase + policy("y", "eg", "  podSelector: {matchLabels: {app: a}}\n"
                                            "  egress: [{ports: [{port: http}]}]"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "allow from-pod=np.y.eg.egress0.http-80 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 8080, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/b", 8080, TCP, "allow from-pod=np.y.eg.egress0.http-8080 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/b", 80, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "y/b", 81, TCP, "allow from-pod=np.y.eg.egress0.http-81 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "y/a", "y/b", 80, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "203.0.113.5", 80, TCP, "deny from-pod=isolated"));  // not a pod: no named port
}

TEST_P(Corners, EndPortIsInclusive) {
  LOAD_CLUSTER(c, kBase + policy("x", "range", "  podSelector: {matchLabels: {app: a}}\n"
                                               "  ingress: [{ports: [{port: 8000, endPort: 8080}]}]"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 7999, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 8000, TCP, "allow from-pod=unisolated to-pod=np.x.range.ingress0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 8042, TCP, "allow from-pod=unisolated to-pod=np.x.range.ingress0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 8080, TCP, "allow from-pod=unisolated to-pod=np.x.range.ingress0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 8081, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 8000, UDP, "deny from-pod=unisolated to-pod=isolated"));
}

TEST_P(Corners, PortWithoutProtocolIsTcp) {
  LOAD_CLUSTER(c, kBase + policy("x", "p80", "  podSelector: {matchLabels: {app: a}}\n"
                                             "  ingress: [{ports: [{port: 80}]}]"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.p80.ingress0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, UDP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, SCTP, "deny from-pod=unisolated to-pod=isolated"));
}

TEST_P(Corners, TcpUdpAndSctp) {
  LOAD_CLUSTER(c, kBase +
                      policy("x", "in", "  podSelector: {matchLabels: {app: a}}\n  ingress: [{ports: "
                                        "[{protocol: TCP, port: 81}, {protocol: UDP, port: 53}, {protocol: SCTP, port: "
                                        "80}]}]") +
                      policy("y", "out", "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Egress]\n  egress: "
                                         "[{ports: [{protocol: SCTP}]}, {ports: [{protocol: UDP, port: 53}]}]"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 81, TCP, "allow from-pod=unisolated to-pod=np.x.in.ingress0"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 53, UDP, "allow from-pod=unisolated to-pod=np.x.in.ingress0"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 80, SCTP, "allow from-pod=unisolated to-pod=np.x.in.ingress0"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 81, UDP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 53, SCTP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  // Egress: every SCTP port; UDP 53 only; no TCP.
  EXPECT_TRUE(Traces(c, "y/a", "z/c", 4242, SCTP, "allow from-pod=np.y.out.egress0 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "y/a", "z/c", 53, UDP, "allow from-pod=np.y.out.egress1 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "y/a", "z/c", 54, UDP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "z/c", 53, TCP, "deny from-pod=isolated"));
}

// ---- ipBlock ----------------------------------------------------------------------

TEST_P(Corners, IpBlockWithExceptMatchesPodsAndOutsideAddresses) {
  LOAD_CLUSTER(c, kBase + policy("x", "ipb", R"(  podSelector: {matchLabels: {app: a}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.2.0/24]}}, {ipBlock: {cidr: 192.168.2.1/32}}]
  egress:
  - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.5/32]}}, {ipBlock: {cidr: 10.244.2.10/32}}])"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.ipb.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));  // excepted
  EXPECT_TRUE(Traces(c, "z/h2", "x/a", 80, TCP, "allow to-pod=np.x.ipb.ingress0.from1"));     // a node's address
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.7", 443, TCP, "allow from-pod=np.x.ipb.egress0.to0"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 443, TCP, "deny from-pod=isolated"));  // excepted
  EXPECT_TRUE(Traces(c, "x/a", "198.51.100.7", 443, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "allow from-pod=np.x.ipb.egress0.to1 to-pod=unisolated"));
  // A pod's address as a bare address is that pod.
  EXPECT_TRUE(Traces(c, "x/a", "10.244.2.10", 80, TCP, "allow from-pod=np.x.ipb.egress0.to1 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "y/b", 80, TCP, "deny from-pod=isolated"));
}

// ---- both ends, connection tracking, nodes ------------------------------------------

TEST_P(Corners, BothEndsMustAllow) {
  LOAD_CLUSTER(c, kBase +
                      // x/a may reach y/b; y/b admits only namespace z.
                      policy("x", "toyb", "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Egress]\n"
                                          "  egress: [{to: [{namespaceSelector: {matchLabels: {team: blue}}, "
                                          "podSelector: {matchLabels: {app: b}}}]}]") +
                      policy("y", "fromz", "  podSelector: {matchLabels: {app: b}}\n  ingress: [{from: "
                                           "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}}}]}]") +
                      // y/a may reach nothing; x/b admits y/a.
                      policy("y", "noout", "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Egress]") +
                      policy("x", "fromya", "  podSelector: {matchLabels: {app: b}}\n  ingress: [{from: "
                                            "[{namespaceSelector: {}, podSelector: {matchLabels: {app: a}}}]}]"));
  // Egress allows, ingress denies: denied at the to-pod hook.
  EXPECT_TRUE(Traces(c, "x/a", "y/b", 81, TCP, "deny from-pod=np.x.toyb.egress0.to0 to-pod=isolated"));
  // Ingress would allow, egress denies: denied at the from-pod hook; the to-pod hook never runs.
  runtime::FlowTrace t = traceFlow(c, "y/a", "x/b", 8080, TCP);
  EXPECT_FALSE(t.allowed);
  ASSERT_EQ(t.steps.size(), 1u) << explain(t);
  EXPECT_EQ(t.steps[0].hook, "from-pod");
  EXPECT_EQ(summarize(t), "deny from-pod=isolated");
  // Both allow.
  EXPECT_TRUE(Traces(c, "z/c", "y/b", 81, TCP, "allow from-pod=unisolated to-pod=np.y.fromz.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "x/a", "x/b", 8080, TCP, "deny from-pod=isolated"));
}

TEST_P(Corners, SameNodeConnectionMeetsTheServersIngress) {
  // x/a and x/b share node n1. The client's egress admits the connection (and
  // tracks it); that must not let it past the server's ingress.
  LOAD_CLUSTER(c, kBase + policy("x", "out", "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Egress]\n"
                                             "  egress: [{}]") +
                      policy("x", "in", "  podSelector: {matchLabels: {app: b}}\n  ingress: []"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(Traces(c, "x/a", "x/b", 8080, TCP, "deny from-pod=np.x.out.egress0 to-pod=isolated"));
    EXPECT_TRUE(Traces(c, "x/a", "x/b", 53, UDP, "deny from-pod=np.x.out.egress0 to-pod=isolated"));
    EXPECT_TRUE(Traces(c, "x/a", "x/b", 8080, SCTP, "deny from-pod=np.x.out.egress0 to-pod=isolated"));
  }
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "allow from-pod=np.x.out.egress0 to-pod=unisolated"));
}

TEST_P(Corners, HostNetworkPodsAreTheNode) {
  // z/h1, z/h2 are hostNetwork pods in z: never selected, never isolated,
  // never matched by pod or namespace selectors; ipBlock sees their node's address.
  LOAD_CLUSTER(c, kBase + policy("z", "all", "  podSelector: {}\n  policyTypes: [Ingress, Egress]") +
                      policy("y", "pods", "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Ingress, Egress]\n"
                                          "  ingress: [{from: [{namespaceSelector: {}}]}]\n"
                                          "  egress: [{to: [{namespaceSelector: {}}]}]") +
                      policy("y", "nodes", "  podSelector: {matchLabels: {app: b}}\n  policyTypes: [Egress]\n"
                                           "  egress: [{to: [{ipBlock: {cidr: 192.168.0.0/16}}]}]"));
  EXPECT_TRUE(Traces(c, "z/h2", "x/a", 80, TCP, "allow to-pod=unisolated"));  // no from-pod hook for the node
  EXPECT_TRUE(Traces(c, "x/a", "z/h2", 80, TCP, "allow from-pod=unisolated"));  // nor a to-pod hook
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 80, TCP, "deny from-pod=isolated"));     // z/c is isolated, z/h* are not
  EXPECT_TRUE(Traces(c, "z/h1", "y/a", 80, TCP, "deny to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "allow from-pod=unisolated to-pod=np.y.pods.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "y/a", "z/h1", 80, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "192.168.2.1", 80, TCP, "deny from-pod=isolated"));  // its own node too
  EXPECT_TRUE(Traces(c, "y/b", "z/h1", 80, TCP, "allow from-pod=np.y.nodes.egress0.to0"));
  EXPECT_TRUE(Traces(c, "y/b", "192.168.1.1", 22, TCP, "allow from-pod=np.y.nodes.egress0.to0"));
  EXPECT_TRUE(Traces(c, "y/b", "x/a", 80, TCP, "deny from-pod=isolated"));
}

TEST_P(Corners, IngressFromTheOwnNodeIsAllowed) {
  // "the only allowed connections into the pod are those from the pod's node
  // and those allowed by the ingress list": x/a (n1) and y/a (n2) admit nothing.
  LOAD_CLUSTER(c, kBase + policy("x", "none", "  podSelector: {}\n  policyTypes: [Ingress, Egress]") +
                      policy("y", "none", "  podSelector: {}\n  ingress: []"));
  // No policy rule decides these: the to-pod program admits the pod's own node first.
  EXPECT_TRUE(Traces(c, "z/h1", "x/a", 80, TCP, "allow to-pod=own-node"));
  EXPECT_TRUE(Traces(c, "z/h1", "x/b", 53, UDP, "allow to-pod=own-node"));
  EXPECT_TRUE(Traces(c, "z/h2", "y/a", 80, TCP, "allow to-pod=own-node"));
  EXPECT_TRUE(Traces(c, "z/h2", "y/a", 9000, SCTP, "allow to-pod=own-node"));
  // Another node's address is not exempt.
  EXPECT_TRUE(Traces(c, "z/h2", "x/a", 80, TCP, "deny to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "z/h1", "y/a", 80, TCP, "deny to-pod=isolated"));
  // Egress to the own node has no such exemption.
  EXPECT_TRUE(Traces(c, "x/a", "192.168.1.1", 10250, TCP, "deny from-pod=isolated"));
}

// ---- stateful replies --------------------------------------------------------------

TEST_P(Corners, RepliesOfAllowedConnectionsPass) {
  // A = x/a on n1, B = y/b on n2. A may open connections to B on TCP 80 and 81
  // and UDP 53; B admits A on TCP 80 and UDP 53 only. B may open nothing, A
  // admits nothing: only replies can go B -> A.
  LOAD_CLUSTER(c, kBase +
                      policy("x", "a", "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Ingress, Egress]\n"
                                       "  egress: [{ports: [{port: 80}, {port: 81}, {protocol: UDP, port: 53}]}]") +
                      policy("y", "b", "  podSelector: {matchLabels: {app: b}}\n  policyTypes: [Ingress, Egress]\n"
                                       "  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: "
                                       "{app: a}}}], ports: [{port: 80}, {protocol: UDP, port: 53}]}]"));
  const ir::NodeProgram* n1 = c.kernel->program().findNode("n1");
  const ir::NodeProgram* n2 = c.kernel->program().findNode("n2");
  ASSERT_TRUE(n1 && n2);
  const ir::Endpoint* a = n1->findEndpoint("x/a");
  const ir::Endpoint* b = n2->findEndpoint("y/b");
  ASSERT_TRUE(a && b);
  auto fd = [&](const std::string& node, const ir::NodeProgram* np, const ir::Endpoint* ep, ir::Direction dir) {
    int f = c.kernel->loaded(node)->programFd(codegen::programName(*np, *ep, dir));
    EXPECT_GE(f, 0) << codegen::programName(*np, *ep, dir);
    return f;
  };
  const int aFrom = fd("n1", n1, a, ir::Direction::Egress), aTo = fd("n1", n1, a, ir::Direction::Ingress);
  const int bFrom = fd("n2", n2, b, ir::Direction::Egress), bTo = fd("n2", n2, b, ir::Direction::Ingress);
  ASSERT_TRUE(aFrom >= 0 && aTo >= 0 && bFrom >= 0 && bTo >= 0);
  const IpAddr ipA = *IpAddr::parse("10.244.1.10"), ipB = *IpAddr::parse("10.244.2.11");

  struct Case {
    ir::L4Proto proto;
    uint16_t sport, dport;
    bool allowedAtA, allowedAtB;  // A's egress, B's ingress
  };
  for (const Case& k : {Case{TCP, 41000, 80, true, true}, Case{UDP, 41001, 53, true, true},
                        Case{TCP, 41002, 81, true, false}, Case{TCP, 41003, 9000, false, false}}) {
    SCOPED_TRACE(std::string(ir::l4ProtoName(k.proto)) + " port " + std::to_string(k.dport));
    auto syn = runtime::buildPacket({ipA, ipB, k.proto, k.sport, k.dport, true});
    auto reply = runtime::buildPacket({ipB, ipA, k.proto, k.dport, k.sport, false});  // ACK for TCP
    // Before the connection: B may not send this to A, reply-shaped or not.
    EXPECT_FALSE(runtime::runPacket(bFrom, reply).passed());
    EXPECT_FALSE(runtime::runPacket(aTo, reply).passed());

    runtime::RunResult out = runtime::runPacket(aFrom, syn);
    ASSERT_TRUE(out.ok) << out.error;
    EXPECT_EQ(out.passed(), k.allowedAtA);
    if (!k.allowedAtA) {
      // Never sent: B's programs never see it, and nothing lets the reply through.
      EXPECT_FALSE(runtime::runPacket(bFrom, reply).passed());
      EXPECT_FALSE(runtime::runPacket(aTo, reply).passed());
      continue;
    }
    runtime::RunResult in = runtime::runPacket(bTo, syn);
    ASSERT_TRUE(in.ok) << in.error;
    EXPECT_EQ(in.passed(), k.allowedAtB);
    runtime::RunResult back = runtime::runPacket(bFrom, reply);
    EXPECT_EQ(back.passed(), k.allowedAtB) << "B's from-pod, outcome " << back.outcome;
    if (k.allowedAtB) {
      EXPECT_EQ(back.outcome, uint32_t(SLUICE_OUT_REPLY));
      runtime::RunResult home = runtime::runPacket(aTo, reply);
      EXPECT_TRUE(home.passed()) << "A's to-pod, outcome " << home.outcome;
      EXPECT_EQ(home.outcome, uint32_t(SLUICE_OUT_REPLY));
      // Later packets of the connection pass both ways.
      auto more = runtime::buildPacket({ipA, ipB, k.proto, k.sport, k.dport, false});
      EXPECT_TRUE(runtime::runPacket(aFrom, more).passed());
      EXPECT_TRUE(runtime::runPacket(bTo, more).passed());
      EXPECT_TRUE(runtime::runPacket(bFrom, reply).passed());
    }
    // The reply of a connection is not a new connection the other way: B
    // opening one to A with the swapped ports still meets B's egress.
    auto reverseSyn = runtime::buildPacket({ipB, ipA, k.proto, uint16_t(k.dport + 1), k.sport, true});
    EXPECT_FALSE(runtime::runPacket(bFrom, reverseSyn).passed());
  }
}

// ---- loaded programs carry BTF --------------------------------------------------------

TEST_P(Corners, EveryLoadedProgramHasBtf) {
  LOAD_CLUSTER(c, kBase + policy("x", "p", "  podSelector: {}\n  ingress: [{from: [{podSelector: {}}]}]"));
  size_t programs = 0;
  for (const auto& np : c.kernel->program().nodes) {
    runtime::LoadedNode* node = c.kernel->loaded(np.node);
    ASSERT_NE(node, nullptr) << np.node;
    EXPECT_EQ(node->programs().size(), 2 * np.endpoints.size()) << np.node;
    for (const auto& p : node->programs()) {
      ++programs;
      EXPECT_GT(p.fd, 0) << p.name;
      EXPECT_NE(p.btfId, 0u) << p.name << " on " << np.node << " has no BTF";
      EXPECT_GT(p.verifiedInstructions, 0u) << p.name;
    }
  }
  EXPECT_EQ(programs, 10u);  // five endpoints, two programs each
}

}  // namespace
}  // namespace sluice::datapath_test
