// CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy at L3/L4, in the
// kernel: every feature the policy language has, each flow one new connection
// traced through the real programs (BPF_PROG_TEST_RUN) and compared with the
// exact verdict and deciding rule. The cluster and the notation are those of
// corners_test.cpp (corner_cluster.h); docs/semantics.md defines the meaning.
//
// Rule names: cnp.<ns>.<policy>.spec<i>.<ingress|egress>[Deny]<j>[.ports<k>|.icmps].
#include <gtest/gtest.h>

#include "tests/datapath/corner_cluster.h"

namespace sluice::datapath_test {
namespace {

using Cilium = InBothDatapathModes;
SLUICE_IN_BOTH_DATAPATH_MODES(Cilium);

const ir::L4Proto ICMP = ir::L4Proto::ICMP;

std::string cnp(const std::string& ns, const std::string& name, const std::string& spec) {
  return "---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\n" + spec + "\n";
}
std::string ccnp(const std::string& name, const std::string& spec) {
  return "---\napiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: " + name + "}\n" +
         spec + "\n";
}

// ---- selection and isolation --------------------------------------------------

TEST_P(Cilium, EndpointSelectorIsConfinedToThePolicyNamespace) {
  LOAD_CLUSTER(c, kBase + cnp("x", "web", R"(spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: b}}])"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=cnp.x.web.spec0.ingress0"));
  // y/b has app=b too, but an unqualified selector of a CNP means its namespace.
  EXPECT_TRUE(Traces(c, "y/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  // y/a has app=a but lives in y: the CNP of x does not select it.
  EXPECT_TRUE(Traces(c, "z/c", "y/a", 80, TCP, "allow from-pod=unisolated to-pod=unisolated"));
  // Egress of x/a is not isolated by an ingress-only rule.
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 443, TCP, "allow from-pod=unisolated"));
}

TEST_P(Cilium, EmptyRuleIsolatesAndAdmitsNothingEmptyListDoesNothing) {
  LOAD_CLUSTER(c, kBase + cnp("x", "closed", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n  ingress: [{}]") +
                      cnp("x", "open", "spec:\n  endpointSelector: {matchLabels: {app: b}}\n  ingress: []"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "203.0.113.5", "x/a", 80, TCP, "deny to-pod=isolated"));
  // Ingress from the pod's own node stays allowed (Kubernetes' rule; Cilium's allow-localhost).
  EXPECT_TRUE(Traces(c, "z/h1", "x/a", 80, TCP, "allow to-pod=own-node"));
  EXPECT_TRUE(Traces(c, "x/a", "x/b", 8080, TCP, "allow from-pod=unisolated to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "x/a", 80, TCP, "allow (self)"));
}

TEST_P(Cilium, SpecsAreSeparateRules) {
  LOAD_CLUSTER(c, kBase + cnp("x", "two", R"(specs:
- endpointSelector: {matchLabels: {app: a}}
  ingress: [{fromEndpoints: [{matchLabels: {app: b}}]}]
- endpointSelector: {matchLabels: {app: b}}
  egress: [{toEndpoints: [{matchLabels: {app: a}}]}])"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "allow from-pod=cnp.x.two.spec1.egress0 to-pod=cnp.x.two.spec0.ingress0"));
  EXPECT_TRUE(Traces(c, "x/b", "y/a", 80, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "x/b", 8080, TCP, "allow from-pod=unisolated to-pod=unisolated"));
}

TEST_P(Cilium, EmptyEndpointSelectorMeansNamespaceInCnpAndEverythingInCcnp) {
  LOAD_CLUSTER(c, kBase + cnp("x", "ns", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n"
                                         "  ingress: [{fromEndpoints: [{}]}]") +
                      ccnp("all", "spec:\n  endpointSelector: {matchLabels: {app: b}}\n"
                                  "  ingress: [{fromEndpoints: [{}]}]"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=cnp.x.ns.spec0.ingress0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  // The CCNP selects app=b pods of every namespace and admits every pod...
  EXPECT_TRUE(Traces(c, "z/c", "y/b", 81, TCP, "allow from-pod=unisolated to-pod=ccnp.all.spec0.ingress0"));
  EXPECT_TRUE(Traces(c, "x/a", "x/b", 8080, TCP, "allow from-pod=unisolated to-pod=ccnp.all.spec0.ingress0"));
  // ...but no node and nothing outside the cluster: endpoint selectors select pods.
  EXPECT_TRUE(Traces(c, "z/h1", "y/b", 81, TCP, "deny to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "203.0.113.5", "y/b", 81, TCP, "deny to-pod=isolated"));
}

TEST_P(Cilium, NamespaceKeysAndNamespaceLabels) {
  LOAD_CLUSTER(c, kBase + cnp("x", "cross", R"(spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress:
  - fromEndpoints:
    - matchLabels: {k8s:io.kubernetes.pod.namespace: y, app: b}
    - matchExpressions: [{key: io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name, operator: In, values: [z]}])"));
  EXPECT_TRUE(Traces(c, "y/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=cnp.x.cross.spec0.ingress0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  // A selector naming namespace labels is not confined to the policy's
  // namespace (getEndpointSelector in Cilium's utils.go): z's pods are in.
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=cnp.x.cross.spec0.ingress0"));
}

// Cilium's namespace-labels-policy.yaml example: pods of namespaces labelled
// team=t1, wherever the policy lives; with a source prefix too.
TEST_P(Cilium, NamespaceLabelSelectorsReachOtherNamespaces) {
  LOAD_CLUSTER(c, kBase + cnp("x", "by-team", R"(spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress:
  - fromEndpoints:
    - matchLabels: {k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name: y}
  egress:
  - toEndpoints:
    - matchLabels: {io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name: z, app: c})"));
  EXPECT_TRUE(Traces(c, "y/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=cnp.x.by-team.spec0.ingress0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=cnp.x.by-team.spec0.ingress0"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "z/c", 80, TCP, "allow from-pod=cnp.x.by-team.spec0.egress0 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "deny from-pod=isolated"));
}

// Every pod carries io.cilium.k8s.policy.cluster=<--cluster-name, "default">.
TEST_P(Cilium, ClusterLabelNamesTheLocalCluster) {
  LOAD_CLUSTER(c, kBase + cnp("x", "cluster", R"(spec:
  endpointSelector: {matchLabels: {io.cilium.k8s.policy.cluster: default, app: a}}
  ingress:
  - fromEndpoints: [{matchLabels: {k8s:io.cilium.k8s.policy.cluster: default, app: b}}]
  - fromEndpoints: [{matchLabels: {io.cilium.k8s.policy.cluster: other-cluster}}])"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=cnp.x.cluster.spec0.ingress0"));
  // Confined to x: the cluster label is not a namespace key.
  EXPECT_TRUE(Traces(c, "y/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  // No endpoint of another cluster exists here.
  EXPECT_TRUE(Traces(c, "z/c", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
}

// An L3 list given empty selects no peer, even with toPorts
// (SetAggregatedSelectors in Cilium's pkg/policy/api); toServices: [] and an
// absent list do not restrict the peer.
TEST_P(Cilium, EmptyPeerListsSelectNoPeer) {
  LOAD_CLUSTER(c, kBase + cnp("x", "empty", R"(spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress:
  - fromEndpoints: []
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
  - fromCIDR: []
    fromEntities: [all]
  egress:
  - toServices: []
    toPorts: [{ports: [{port: "443", protocol: TCP}]}])"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "203.0.113.5", "x/a", 80, TCP, "deny to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 443, TCP, "allow from-pod=cnp.x.empty.spec0.egress0.ports0"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 80, TCP, "deny from-pod=isolated"));
}

TEST_P(Cilium, ReservedLabelsSelectReservedIdentities) {
  LOAD_CLUSTER(c, kBase + cnp("x", "nodes", R"(spec:
  endpointSelector: {}
  egress:
  - toEndpoints: [{matchLabels: {reserved:remote-node: ""}}])"));
  EXPECT_TRUE(Traces(c, "x/a", "192.168.2.1", 10250, TCP, "allow from-pod=cnp.x.nodes.spec0.egress0"));
  EXPECT_TRUE(Traces(c, "x/a", "192.168.1.1", 10250, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "deny from-pod=isolated"));
}

// ---- entities -------------------------------------------------------------------

// default/kubernetes names the API server: n2's address and one outside.
const std::string kApiServer = R"(
---
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec: {clusterIP: 10.96.0.1, ports: [{name: https, port: 443, targetPort: 6443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes}}
addressType: IPv4
endpoints: [{addresses: [192.168.2.1]}, {addresses: [198.51.100.9]}]
ports: [{name: https, port: 6443, protocol: TCP}]
)";

TEST_P(Cilium, EntitiesToward) {
  LOAD_CLUSTER(c, kBase + kApiServer +
                      cnp("x", "a", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n  egress:\n"
                                    "  - toEntities: [host]\n  - toEntities: [remote-node]\n"
                                    "  - toEntities: [world]\n  - toEntities: [health, init, unmanaged, ingress, none]") +
                      cnp("x", "b", "spec:\n  endpointSelector: {matchLabels: {app: b}}\n  egress:\n"
                                    "  - toEntities: [cluster]\n  - toEntities: [kube-apiserver]") +
                      cnp("y", "all", "spec:\n  endpointSelector: {}\n  egress: [{toEntities: [all]}]"));
  // host = this node, remote-node = the others, world = neither a pod nor a node.
  EXPECT_TRUE(Traces(c, "x/a", "192.168.1.1", 22, TCP, "allow from-pod=cnp.x.a.spec0.egress0"));
  EXPECT_TRUE(Traces(c, "x/a", "192.168.2.1", 22, TCP, "allow from-pod=cnp.x.a.spec0.egress1"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 443, TCP, "allow from-pod=cnp.x.a.spec0.egress2"));
  EXPECT_TRUE(Traces(c, "x/a", "10.244.3.9", 80, TCP, "allow from-pod=cnp.x.a.spec0.egress2"));  // no pod has it
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "x/b", 8080, TCP, "deny from-pod=isolated"));
  // cluster = pods and nodes (and the API server), never the world.
  EXPECT_TRUE(Traces(c, "x/b", "y/a", 80, TCP, "allow from-pod=cnp.x.b.spec0.egress0 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/b", "192.168.2.1", 22, TCP, "allow from-pod=cnp.x.b.spec0.egress0"));
  EXPECT_TRUE(Traces(c, "x/b", "203.0.113.5", 443, TCP, "deny from-pod=isolated"));
  // kube-apiserver = the endpoints of default/kubernetes, inside the cluster or not.
  EXPECT_TRUE(Traces(c, "x/b", "198.51.100.9", 6443, TCP, "allow from-pod=cnp.x.b.spec0.egress0"));
  EXPECT_TRUE(Traces(c, "x/b", "198.51.100.10", 6443, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "203.0.113.5", 1, SCTP, "allow from-pod=cnp.y.all.spec0.egress0"));
  EXPECT_TRUE(Traces(c, "y/a", "192.168.2.1", 1, UDP, "allow from-pod=cnp.y.all.spec0.egress0"));
}

TEST_P(Cilium, KubeApiserverEntityAlone) {
  LOAD_CLUSTER(c, kBase + kApiServer +
                      cnp("x", "api", "spec:\n  endpointSelector: {}\n  egress: [{toEntities: [kube-apiserver]}]"));
  EXPECT_TRUE(Traces(c, "x/a", "192.168.2.1", 6443, TCP, "allow from-pod=cnp.x.api.spec0.egress0"));
  EXPECT_TRUE(Traces(c, "x/a", "198.51.100.9", 6443, TCP, "allow from-pod=cnp.x.api.spec0.egress0"));
  EXPECT_TRUE(Traces(c, "x/a", "192.168.1.1", 6443, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 6443, TCP, "deny from-pod=isolated"));
}

TEST_P(Cilium, EntitiesFrom) {
  LOAD_CLUSTER(c, kBase + cnp("x", "in", R"(spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress:
  - fromEntities: [world]
  - fromEntities: [remote-node])"));
  EXPECT_TRUE(Traces(c, "203.0.113.5", "x/a", 80, TCP, "allow to-pod=cnp.x.in.spec0.ingress0"));
  EXPECT_TRUE(Traces(c, "192.168.2.1", "x/a", 80, TCP, "allow to-pod=cnp.x.in.spec0.ingress1"));
  EXPECT_TRUE(Traces(c, "z/h2", "x/a", 80, TCP, "allow to-pod=cnp.x.in.spec0.ingress1"));  // hostNetwork = its node
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
}

// ---- CIDRs ------------------------------------------------------------------------

TEST_P(Cilium, CidrRulesMatchOnlyAddressesOutsideTheCluster) {
  LOAD_CLUSTER(c, kBase + cnp("x", "out", R"(spec:
  endpointSelector: {matchLabels: {app: a}}
  egress:
  - toCIDR: [10.244.0.0/16, 192.168.0.0/16]
  - toCIDRSet: [{cidr: 203.0.113.0/24, except: [203.0.113.64/26]}])"));
  // Inside the prefixes but a pod or a node: not matched (unlike an ipBlock).
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 80, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "192.168.2.1", 80, TCP, "deny from-pod=isolated"));
  // Inside the prefix, no pod: the world.
  EXPECT_TRUE(Traces(c, "x/a", "10.244.3.9", 80, TCP, "allow from-pod=cnp.x.out.spec0.egress0"));
  EXPECT_TRUE(Traces(c, "x/a", "192.168.7.7", 80, TCP, "allow from-pod=cnp.x.out.spec0.egress0"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 443, TCP, "allow from-pod=cnp.x.out.spec0.egress1"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.77", 443, TCP, "deny from-pod=isolated"));  // except
  EXPECT_TRUE(Traces(c, "x/a", "198.51.100.7", 443, TCP, "deny from-pod=isolated"));
}

TEST_P(Cilium, FromCidrSet) {
  LOAD_CLUSTER(c, kBase + cnp("x", "in", R"(spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress:
  - fromCIDRSet: [{cidr: 0.0.0.0/0, except: [198.51.100.0/24]}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}])"));
  EXPECT_TRUE(Traces(c, "203.0.113.5", "x/a", 80, TCP, "allow to-pod=cnp.x.in.spec0.ingress0.ports0"));
  EXPECT_TRUE(Traces(c, "203.0.113.5", "x/a", 81, TCP, "deny to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "198.51.100.7", "x/a", 80, TCP, "deny to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));  // a pod: not world
}

// ---- toServices ---------------------------------------------------------------------

// y/backend selects app=b pods of y; x/external has no selector and a slice
// naming 203.0.113.77; x/legacy has no selector and only v1 Endpoints.
const std::string kServices = R"(
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: y, labels: {tier: internal}}
spec: {clusterIP: 10.96.0.20, selector: {app: b}, ports: [{port: 81}]}
---
apiVersion: v1
kind: Service
metadata: {name: external, namespace: x, labels: {tier: outside}}
spec: {clusterIP: None, ports: [{port: 443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: external-1, namespace: x, labels: {kubernetes.io/service-name: external}}
addressType: IPv4
endpoints: [{addresses: [203.0.113.77]}, {addresses: [203.0.113.78], conditions: {ready: false, serving: false}}]
ports: [{port: 443}]
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: x}
spec: {clusterIP: 10.96.0.30, ports: [{port: 5432}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: legacy, namespace: x}
subsets: [{addresses: [{ip: 198.51.100.7}], notReadyAddresses: [{ip: 198.51.100.8}], ports: [{port: 5432}]}]
)";

TEST_P(Cilium, ToServicesByName) {
  LOAD_CLUSTER(c, kBase + kServices + cnp("x", "svc", R"(spec:
  endpointSelector: {matchLabels: {app: a}}
  egress:
  - toServices: [{k8sService: {serviceName: backend, namespace: y}}]
  - toServices: [{k8sService: {serviceName: external}}]
  - toServices: [{k8sService: {serviceName: legacy}}])"));
  // A service with a selector: the pods it selects.
  EXPECT_TRUE(Traces(c, "x/a", "y/b", 81, TCP, "allow from-pod=cnp.x.svc.spec0.egress0 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 81, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "x/b", 81, TCP, "deny from-pod=isolated"));  // app=b, but not in y
  // Without a selector: its endpoints' addresses (ready or serving ones).
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.77", 443, TCP, "allow from-pod=cnp.x.svc.spec0.egress1"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.78", 443, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 443, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "198.51.100.7", 5432, TCP, "allow from-pod=cnp.x.svc.spec0.egress2"));
  EXPECT_TRUE(Traces(c, "x/a", "198.51.100.8", 5432, TCP, "deny from-pod=isolated"));
}

// Cilium 1.16 refuses toServices with toPorts (cilium#20067): a toServices
// rule allows every port of the service's endpoints.
TEST_P(Cilium, ToServicesBySelectorAllowsEveryPort) {
  LOAD_CLUSTER(c, kBase + kServices + ccnp("svc", R"(spec:
  endpointSelector: {matchLabels: {app: c}}
  egress:
  - toServices: [{k8sServiceSelector: {selector: {matchLabels: {tier: outside}}}}])"));
  EXPECT_TRUE(Traces(c, "z/c", "203.0.113.77", 443, TCP, "allow from-pod=ccnp.svc.spec0.egress0"));
  EXPECT_TRUE(Traces(c, "z/c", "203.0.113.77", 80, UDP, "allow from-pod=ccnp.svc.spec0.egress0"));
  EXPECT_TRUE(Traces(c, "z/c", "y/b", 81, TCP, "deny from-pod=isolated"));  // tier=internal
}

// ---- ports and ICMP -------------------------------------------------------------------

TEST_P(Cilium, PortsProtocolsRangesAndNames) {
  LOAD_CLUSTER(c, kBase + cnp("x", "ports", R"(spec:
  endpointSelector: {matchLabels: {app: a}}
  egress:
  - toPorts: [{ports: [{port: "53"}]}]
  - toPorts: [{ports: [{port: "8000", endPort: 8100, protocol: TCP}]}]
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: y}}]
    toPorts: [{ports: [{port: http, protocol: TCP}]}]
  - toCIDR: [198.51.100.0/24]
    toPorts: [{ports: [{port: "0", protocol: UDP}]}])"));
  // No protocol = ANY: TCP, UDP and SCTP; no L3 field = every peer.
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 53, UDP, "allow from-pod=cnp.x.ports.spec0.egress0.ports0"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 53, TCP, "allow from-pod=cnp.x.ports.spec0.egress0.ports0"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 53, SCTP, "allow from-pod=cnp.x.ports.spec0.egress0.ports0 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "192.168.1.1", 53, UDP, "allow from-pod=cnp.x.ports.spec0.egress0.ports0"));
  // endPort: an inclusive range.
  EXPECT_TRUE(Traces(c, "x/a", "x/b", 8080, TCP, "allow from-pod=cnp.x.ports.spec0.egress1.ports0 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 8100, TCP, "allow from-pod=cnp.x.ports.spec0.egress1.ports0"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 8101, TCP, "deny from-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 8080, UDP, "deny from-pod=isolated"));
  // A named port resolves on each destination pod: y/b's http is 81; y/a has none.
  EXPECT_TRUE(Traces(c, "x/a", "y/b", 81, TCP,
                     "allow from-pod=cnp.x.ports.spec0.egress2.ports0.http-81 to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "y/a", 81, TCP, "deny from-pod=isolated"));
  // Port 0: every port of the protocol.
  EXPECT_TRUE(Traces(c, "x/a", "198.51.100.7", 9999, UDP, "allow from-pod=cnp.x.ports.spec0.egress3.ports0"));
  EXPECT_TRUE(Traces(c, "x/a", "198.51.100.7", 9999, TCP, "deny from-pod=isolated"));
}

TEST_P(Cilium, IngressNamedPortResolvesOnTheSelectedPod) {
  LOAD_CLUSTER(c, kBase + ccnp("http", R"(spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress:
  - toPorts: [{ports: [{port: http, protocol: TCP}]}])"));
  EXPECT_TRUE(Traces(c, "z/c", "x/b", 8080, TCP, "allow from-pod=unisolated to-pod=ccnp.http.spec0.ingress0.ports0"));
  EXPECT_TRUE(Traces(c, "z/c", "y/b", 81, TCP, "allow from-pod=unisolated to-pod=ccnp.http.spec0.ingress0.ports0"));
  EXPECT_TRUE(Traces(c, "z/c", "x/b", 81, TCP, "deny from-pod=unisolated to-pod=isolated"));
}

TEST_P(Cilium, IcmpTypes) {
  LOAD_CLUSTER(c, kBase + cnp("x", "ping", R"(spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress:
  - fromEndpoints: [{}]
    icmps: [{fields: [{type: 8, family: IPv4}]}]
  egress:
  - toEntities: [world])"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 8, ICMP, "allow from-pod=unisolated to-pod=cnp.x.ping.spec0.ingress0.icmps"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 13, ICMP, "deny from-pod=unisolated to-pod=isolated"));  // timestamp
  // An L3-only rule admits every protocol, ICMP included.
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 8, ICMP, "allow from-pod=cnp.x.ping.spec0.egress0"));
}

// ---- deny rules and combinations ----------------------------------------------------------

TEST_P(Cilium, DenyWinsOverEveryKindOfAllow) {
  LOAD_CLUSTER(c, kBase + policy("x", "np-all", "  podSelector: {}\n  ingress: [{}]") +
                      cnp("x", "allow-b", "spec:\n  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}]}]") +
                      ccnp("deny-db", R"(spec:
  endpointSelector: {matchLabels: {k8s:io.kubernetes.pod.namespace: x}}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {tier: db}}]
  - toPorts: [{ports: [{port: "9000"}]}])"));
  EXPECT_TRUE(Traces(c, "y/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=ccnp.deny-db.spec0.ingressDeny0"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 9000, TCP, "deny from-pod=unisolated to-pod=ccnp.deny-db.spec0.ingressDeny1.ports0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.np-all.ingress0"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=np.x.np-all.ingress0"));
}

TEST_P(Cilium, DenyWinsOverOwnNodeIngress) {
  LOAD_CLUSTER(c, kBase + cnp("x", "no-host", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n"
                                              "  ingressDeny: [{fromEntities: [host]}]"));
  EXPECT_TRUE(Traces(c, "z/h1", "x/a", 80, TCP, "deny to-pod=cnp.x.no-host.spec0.ingressDeny0"));
  EXPECT_TRUE(Traces(c, "192.168.1.1", "x/a", 80, TCP, "deny to-pod=cnp.x.no-host.spec0.ingressDeny0"));
  // Only deny rules: the direction is isolated, nothing else is allowed.
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
}

TEST_P(Cilium, EnableDefaultDenyFalseAddsRulesWithoutIsolating) {
  LOAD_CLUSTER(c, kBase + cnp("x", "soft", R"(spec:
  endpointSelector: {matchLabels: {app: a}}
  enableDefaultDeny: {ingress: false, egress: false}
  ingress: [{fromEndpoints: [{matchLabels: {app: b}}]}]
  egressDeny: [{toCIDR: [203.0.113.0/24]}])"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=unisolated"));
  EXPECT_TRUE(Traces(c, "x/a", "203.0.113.5", 443, TCP, "deny from-pod=cnp.x.soft.spec0.egressDeny0"));
  EXPECT_TRUE(Traces(c, "x/a", "198.51.100.7", 443, TCP, "allow from-pod=unisolated"));
}

TEST_P(Cilium, NonIsolatingAllowCountsOnceAnotherPolicyIsolates) {
  LOAD_CLUSTER(c, kBase +
                      cnp("x", "soft", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n"
                                       "  enableDefaultDeny: {ingress: false}\n"
                                       "  ingress: [{fromEndpoints: [{matchLabels: {app: b}}]}]") +
                      policy("x", "isolate", "  podSelector: {}\n  policyTypes: [Ingress]"));
  EXPECT_TRUE(Traces(c, "x/b", "x/a", 80, TCP, "allow from-pod=unisolated to-pod=cnp.x.soft.spec0.ingress0"));
  EXPECT_TRUE(Traces(c, "y/a", "x/a", 80, TCP, "deny from-pod=unisolated to-pod=isolated"));
}

TEST_P(Cilium, CnpCcnpAndNetworkPolicyCombine) {
  LOAD_CLUSTER(c, kBase + policy("y", "np", "  podSelector: {matchLabels: {app: b}}\n"
                                            "  ingress: [{from: [{namespaceSelector: {matchLabels: {team: red}}}]}]") +
                      cnp("y", "cnp", "spec:\n  endpointSelector: {matchLabels: {app: b}}\n"
                                      "  ingress: [{fromEndpoints: [{matchLabels: {app: a}}]}]") +
                      ccnp("ccnp", "spec:\n  endpointSelector: {matchLabels: {tier: db}}\n"
                                   "  ingress: [{fromEntities: [world], toPorts: [{ports: [{port: \"81\"}]}]}]"));
  EXPECT_TRUE(Traces(c, "x/a", "y/b", 81, TCP, "allow from-pod=unisolated to-pod=np.y.np.ingress0.from0"));
  EXPECT_TRUE(Traces(c, "y/a", "y/b", 81, TCP, "allow from-pod=unisolated to-pod=cnp.y.cnp.spec0.ingress0"));
  EXPECT_TRUE(Traces(c, "203.0.113.5", "y/b", 81, TCP, "allow to-pod=ccnp.ccnp.spec0.ingress0.ports0"));
  EXPECT_TRUE(Traces(c, "203.0.113.5", "y/b", 80, TCP, "deny to-pod=isolated"));
  EXPECT_TRUE(Traces(c, "z/c", "y/b", 81, TCP, "deny from-pod=unisolated to-pod=isolated"));
}

// ---- what is refused -------------------------------------------------------------------

TEST_P(Cilium, L7RulesAreRefusedWithTheirLocation) {
  SLUICE_REQUIRE_ROOT();
  LoadedCluster c;
  EXPECT_FALSE(c.load(kBase + ccnp("http", R"(spec:
  endpointSelector: {}
  ingress:
  - toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET}]})"),
                      options()));
  std::string text = c.diags.render();
  EXPECT_NE(text.find("cluster.yaml:"), std::string::npos) << text;
  EXPECT_NE(text.find("CiliumClusterwideNetworkPolicy http: spec.ingress[0].toPorts[0]: L7"), std::string::npos) << text;
  EXPECT_EQ(c.diags.errorCount(), 1u) << text;  // once, though every endpoint on both nodes has the rule
  EXPECT_FALSE(c.built);
}

}  // namespace
}  // namespace sluice::datapath_test
