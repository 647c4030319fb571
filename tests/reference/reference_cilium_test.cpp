// The reference evaluator on hand-written corners of CiliumNetworkPolicy and
// CiliumClusterwideNetworkPolicy (L3/L4). Each expected verdict follows from
// the rules in docs/semantics.md and ../shared/design/SEMANTICS.md, cited at
// each test; none is read back from the evaluator.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "frontend/manifest_loader.h"
#include "tests/reference/random_cluster.h"
#include "tests/reference/reference.h"
#include "tests/testing/manifests.h"

namespace sluice::reference {
namespace {

using sluice::testing::podYaml;

// Nodes n1 (192.168.1.1) and n2 (192.168.2.1); namespaces x (team=red),
// y (team=blue), z; pods:
//   x/a n1 10.244.1.10 app=a          http 80/TCP
//   x/b n1 10.244.1.11 app=b,tier=web http 8080/TCP, dns 53/UDP
//   y/a n2 10.244.2.10 app=a
//   y/b n2 10.244.2.11 app=b,tier=db  http 81/TCP
//   z/c n2 10.244.2.12 app=c
//   z/r n2 10.244.2.20 app=c          service account robot
const std::string kBase =
    sluice::testing::kTwoNodesThreeNamespaces +
    podYaml("x", "a", "n1", "10.244.1.10", "app: a", "[{name: http, containerPort: 80}]") +
    podYaml("x", "b", "n1", "10.244.1.11", "app: b, tier: web",
            "[{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]") +
    podYaml("y", "a", "n2", "10.244.2.10", "app: a", "[]") +
    podYaml("y", "b", "n2", "10.244.2.11", "app: b, tier: db", "[{name: http, containerPort: 81}]") +
    podYaml("z", "c", "n2", "10.244.2.12", "app: c", "[]") +
    podYaml("z", "r", "n2", "10.244.2.20", "app: c", "[]", ", serviceAccountName: robot");

std::string cnp(const std::string& ns, const std::string& name, const std::string& body) {
  return "---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: " + name + ", namespace: " + ns +
         "}\n" + body + "\n";
}
std::string ccnp(const std::string& name, const std::string& body) {
  return "---\napiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: " + name + "}\n" +
         body + "\n";
}
std::string np(const std::string& ns, const std::string& name, const std::string& spec) {
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
};

// `port` 0 with ICMP = an echo request.
::testing::AssertionResult check(Verdict want, const Cluster& c, const std::string& from, const std::string& to,
                                 uint16_t port, Protocol proto, bool icmp) {
  Flow f{c.at(from), c.at(to), proto, port};
  f.icmp = icmp;
  Explanation e = evaluate(c.state, f);
  if (e.verdict == want) return ::testing::AssertionSuccess() << e.reason;
  return ::testing::AssertionFailure() << describe(f) << ": expected " << verdictName(want) << ", got "
                                       << verdictName(e.verdict) << ": " << e.reason;
}
::testing::AssertionResult Allows(const Cluster& c, const std::string& from, const std::string& to, uint16_t port,
                                  Protocol proto = Protocol::TCP) {
  return check(Verdict::Allow, c, from, to, port, proto, false);
}
::testing::AssertionResult Denies(const Cluster& c, const std::string& from, const std::string& to, uint16_t port,
                                  Protocol proto = Protocol::TCP) {
  return check(Verdict::Deny, c, from, to, port, proto, false);
}
::testing::AssertionResult AllowsPing(const Cluster& c, const std::string& from, const std::string& to) {
  return check(Verdict::Allow, c, from, to, 0, Protocol::TCP, true);
}
::testing::AssertionResult DeniesPing(const Cluster& c, const std::string& from, const std::string& to) {
  return check(Verdict::Deny, c, from, to, 0, Protocol::TCP, true);
}

const Protocol UDP = Protocol::UDP, SCTP = Protocol::SCTP;

// SEM: a non-empty ingress list isolates; `ingress: []` does nothing;
// `ingress: [{}]` isolates and admits nothing (opposite of NetworkPolicy).
TEST(ReferenceCilium, IngressListIsolates) {
  Cluster c(kBase + cnp("x", "p", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n"
                                  "  ingress: [{fromEndpoints: [{matchLabels: {app: b}}]}]"));
  EXPECT_TRUE(Allows(c, "x/b", "x/a", 80));
  EXPECT_TRUE(Denies(c, "y/b", "x/a", 80));  // app=b, but a CNP selector stays in x
  EXPECT_TRUE(Allows(c, "x/a", "203.0.113.5", 80));  // egress untouched
  EXPECT_TRUE(Allows(c, "y/a", "x/b", 80));          // x/b not selected

  Cluster empty(kBase + cnp("x", "p", "spec:\n  endpointSelector: {}\n  ingress: []"));
  EXPECT_TRUE(Allows(empty, "y/a", "x/a", 80));

  Cluster nothing(kBase + cnp("x", "p", "spec:\n  endpointSelector: {}\n  ingress: [{}]"));
  EXPECT_TRUE(Denies(nothing, "x/b", "x/a", 80));
  EXPECT_TRUE(Denies(nothing, "192.168.2.1", "x/a", 80));  // another node
  EXPECT_TRUE(Allows(nothing, "192.168.1.1", "x/a", 80));  // its own node: always allowed
  EXPECT_TRUE(Allows(nothing, "x/a", "x/a", 80));          // itself

  Explanation e = evaluate(nothing.state, Flow{nothing.at("x/b"), nothing.at("x/a"), Protocol::TCP, 80});
  EXPECT_EQ(e.reason,
            "egress of x/b: not isolated (no NetworkPolicy in x selects it for Egress, no Cilium rule isolates it); "
            "ingress of x/a: denied: isolated for Ingress by CiliumNetworkPolicy x/p spec and no ingress rule "
            "matches");
}

// SEM/L3: `[{}]` in a CNP = every pod of its namespace, in a CCNP every pod;
// a selector naming io.kubernetes.pod.namespace leaves the namespace.
TEST(ReferenceCilium, EmptySelectorCnpVersusCcnp) {
  Cluster c(kBase + cnp("x", "p", "spec:\n  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}]}]"));
  EXPECT_TRUE(Allows(c, "x/b", "x/a", 80));
  EXPECT_TRUE(Denies(c, "y/a", "x/a", 80));
  EXPECT_TRUE(Denies(c, "203.0.113.5", "x/a", 80));

  Cluster d(kBase + ccnp("p", "spec:\n  endpointSelector: {matchLabels: {\"k8s:io.kubernetes.pod.namespace\": x}}\n"
                              "  ingress: [{fromEndpoints: [{}]}]"));
  EXPECT_TRUE(Allows(d, "y/a", "x/a", 80));
  EXPECT_TRUE(Denies(d, "203.0.113.5", "x/a", 80));  // endpoint selectors select pods only
  EXPECT_TRUE(Denies(d, "192.168.2.1", "x/a", 80));
  EXPECT_TRUE(Allows(d, "x/a", "y/a", 80));  // y/a is not selected by the CCNP

  Cluster e(kBase + cnp("x", "p", "spec:\n  endpointSelector: {}\n  ingress: [{fromEndpoints: "
                                  "[{matchExpressions: [{key: io.kubernetes.pod.namespace, operator: In, "
                                  "values: [y]}]}]}]"));
  EXPECT_TRUE(Allows(e, "y/a", "x/a", 80));
  EXPECT_TRUE(Denies(e, "x/b", "x/a", 80));
}

// K8S: namespace labels as io.cilium.k8s.namespace.labels.<k>, the service
// account as io.cilium.k8s.policy.serviceaccount; k8s:/any: sources.
TEST(ReferenceCilium, NamespaceLabelsAndServiceAccount) {
  Cluster c(kBase + ccnp("p", "spec:\n  endpointSelector: {matchLabels: {io.cilium.k8s.namespace.labels.team: blue}}\n"
                              "  ingress: [{fromEndpoints: [{matchExpressions: [{key: "
                              "\"any:io.cilium.k8s.policy.serviceaccount\", operator: In, values: [robot]}]}]}]"));
  EXPECT_TRUE(Allows(c, "z/r", "y/a", 80));
  EXPECT_TRUE(Denies(c, "z/c", "y/a", 80));  // service account "default"
  EXPECT_TRUE(Allows(c, "z/c", "x/a", 80));  // x is team=red: not selected
  // NotIn matches pods without the key (z has no team label).
  Cluster d(kBase + ccnp("p", "spec:\n  endpointSelector: {matchExpressions: [{key: "
                              "\"k8s:io.cilium.k8s.namespace.labels.team\", operator: NotIn, values: [red]}]}\n"
                              "  ingress: [{}]"));
  EXPECT_TRUE(Denies(d, "x/a", "z/c", 80));
  EXPECT_TRUE(Denies(d, "x/a", "y/a", 80));
  EXPECT_TRUE(Allows(d, "y/a", "x/a", 80));
}

std::string egressEntities(const std::string& list) {
  return cnp("x", "p", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n  egress: [{toEntities: " + list + "}]");
}

// L3 "Entities Based"; DOC: hostNetwork pods and node addresses are the node.
TEST(ReferenceCilium, Entities) {
  std::string finished = podYaml("x", "old", "n1", "10.244.1.30", "app: b", "[]", "", "Succeeded");
  Cluster world(kBase + finished + egressEntities("[world]"));
  EXPECT_TRUE(Allows(world, "x/a", "203.0.113.5", 80));
  EXPECT_TRUE(Allows(world, "x/a", "10.244.3.9", 80));   // in the pod range, no pod
  EXPECT_TRUE(Allows(world, "x/a", "10.244.1.30", 80));  // a finished pod's address
  EXPECT_TRUE(Denies(world, "x/a", "y/a", 80));
  EXPECT_TRUE(Denies(world, "x/a", "192.168.1.1", 80));
  EXPECT_TRUE(Denies(world, "x/a", "192.168.2.1", 80));

  Cluster host(kBase + egressEntities("[host]"));  // x/a runs on n1
  EXPECT_TRUE(Allows(host, "x/a", "192.168.1.1", 80));
  EXPECT_TRUE(Denies(host, "x/a", "192.168.2.1", 80));
  Cluster remote(kBase + egressEntities("[remote-node]"));
  EXPECT_TRUE(Allows(remote, "x/a", "192.168.2.1", 80));
  EXPECT_TRUE(Denies(remote, "x/a", "192.168.1.1", 80));

  Cluster cluster(kBase + egressEntities("[cluster]"));
  EXPECT_TRUE(Allows(cluster, "x/a", "y/a", 80));
  EXPECT_TRUE(Allows(cluster, "x/a", "192.168.2.1", 80));
  EXPECT_TRUE(Allows(cluster, "x/a", "192.168.1.1", 80));
  EXPECT_TRUE(Denies(cluster, "x/a", "203.0.113.5", 80));

  Cluster all(kBase + egressEntities("[all]"));
  EXPECT_TRUE(Allows(all, "x/a", "203.0.113.5", 80));
  EXPECT_TRUE(AllowsPing(all, "x/a", "y/a"));
  Cluster nothing(kBase + egressEntities("[health, init, unmanaged, ingress, none]"));
  EXPECT_TRUE(Denies(nothing, "x/a", "y/a", 80));
  EXPECT_TRUE(Denies(nothing, "x/a", "203.0.113.5", 80));
  EXPECT_TRUE(Denies(nothing, "x/a", "192.168.1.1", 80));
}

// kube-apiserver: the endpoints of default/kubernetes (slices, else legacy Endpoints).
TEST(ReferenceCilium, KubeApiserverEntity) {
  const std::string svc =
      "---\napiVersion: v1\nkind: Service\nmetadata: {name: kubernetes, namespace: default}\n"
      "spec: {clusterIP: 10.96.0.1, ports: [{port: 443}]}\n";
  const std::string slice =
      "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: kubernetes, namespace: default, "
      "labels: {kubernetes.io/service-name: kubernetes}}\naddressType: IPv4\nendpoints: [{addresses: [192.168.2.1]}]\n"
      "ports: [{port: 6443}]\n";
  const std::string legacy =
      "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: kubernetes, namespace: default}\n"
      "subsets: [{addresses: [{ip: 192.168.1.1}], ports: [{port: 6443}]}]\n";
  Cluster c(kBase + svc + slice + legacy + egressEntities("[kube-apiserver]"));
  EXPECT_TRUE(Allows(c, "x/a", "192.168.2.1", 80));
  EXPECT_TRUE(Denies(c, "x/a", "192.168.1.1", 80));  // the legacy Endpoints lose to the slice
  Cluster d(kBase + svc + legacy + egressEntities("[kube-apiserver]"));
  EXPECT_TRUE(Allows(d, "x/a", "192.168.1.1", 80));
  EXPECT_TRUE(Denies(d, "x/a", "192.168.2.1", 80));
  Cluster none(kBase + egressEntities("[kube-apiserver]"));
  EXPECT_TRUE(Denies(none, "x/a", "192.168.1.1", 80));
}

// SEM/DOC: CIDR rules match world addresses only, unlike ipBlock.
TEST(ReferenceCilium, CidrMatchesOnlyWorld) {
  Cluster c(kBase + cnp("x", "p", "spec:\n  endpointSelector: {}\n  egress: [{toCIDR: [0.0.0.0/0]}]"));
  EXPECT_TRUE(Allows(c, "x/a", "203.0.113.5", 80));
  EXPECT_TRUE(Allows(c, "x/a", "10.244.3.9", 80));
  EXPECT_TRUE(Denies(c, "x/a", "y/a", 80));
  EXPECT_TRUE(Denies(c, "x/a", "192.168.2.1", 80));
  Cluster ipBlock(kBase + np("x", "p", "  podSelector: {}\n  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]"));
  EXPECT_TRUE(Allows(ipBlock, "x/a", "y/a", 80));

  Cluster set(kBase + cnp("x", "p", "spec:\n  endpointSelector: {}\n  egress: [{toCIDRSet: [{cidr: 203.0.113.0/24, "
                                    "except: [203.0.113.77/32]}]}, {toCIDR: [10.244.2.10]}]"));
  EXPECT_TRUE(Allows(set, "x/a", "203.0.113.5", 80));
  EXPECT_TRUE(Denies(set, "x/a", "203.0.113.77", 80));
  EXPECT_TRUE(Denies(set, "x/a", "y/a", 80));  // a bare IP naming a pod: still not world

  Cluster in(kBase + cnp("x", "p", "spec:\n  endpointSelector: {}\n  ingress: [{fromCIDR: [192.168.0.0/16, "
                                   "203.0.113.0/24]}]"));
  EXPECT_TRUE(Allows(in, "203.0.113.5", "x/a", 80));
  EXPECT_TRUE(Denies(in, "192.168.2.1", "x/a", 80));
}

// DENY + SEM "Deny wins over every allow"; DOC: it wins over the own-node
// exception too, but not over a pod reaching itself.
TEST(ReferenceCilium, DenyWins) {
  std::string allowAll = np("x", "all", "  podSelector: {}\n  ingress: [{}]\n  egress: [{}]");
  Cluster c(kBase + allowAll + cnp("x", "d", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n"
                                             "  ingressDeny: [{fromEntities: [world, host]}, "
                                             "{fromEndpoints: [{matchLabels: {\"k8s:io.kubernetes.pod.namespace\": y}}], "
                                             "toPorts: [{ports: [{port: \"80\", protocol: TCP}]}]}]"));
  EXPECT_TRUE(Denies(c, "203.0.113.5", "x/a", 80));
  EXPECT_TRUE(Denies(c, "192.168.1.1", "x/a", 80));  // own node, but denied
  EXPECT_TRUE(Denies(c, "y/a", "x/a", 80));
  EXPECT_TRUE(Allows(c, "y/a", "x/a", 81));          // the NetworkPolicy allows, no deny matches
  EXPECT_TRUE(Allows(c, "y/a", "x/a", 80, UDP));
  EXPECT_TRUE(Allows(c, "203.0.113.5", "x/b", 80));  // x/b not selected by the deny

  // Only deny rules: isolated, nothing allowed.
  Cluster d(kBase + cnp("x", "d", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n"
                                  "  ingressDeny: [{fromEntities: [world]}]"));
  EXPECT_TRUE(Denies(d, "y/a", "x/a", 80));
  EXPECT_TRUE(Allows(d, "192.168.1.1", "x/a", 80));  // own node, no deny matches

  // enableDefaultDeny false: no isolation, the deny still applies.
  Cluster e(kBase + cnp("x", "d", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n"
                                  "  ingressDeny: [{fromEntities: [world]}]\n  enableDefaultDeny: {ingress: false}"));
  EXPECT_TRUE(Denies(e, "203.0.113.5", "x/a", 80));
  EXPECT_TRUE(Allows(e, "y/a", "x/a", 80));

  Cluster self(kBase + cnp("x", "d", "spec:\n  endpointSelector: {}\n  egressDeny: [{toEntities: [all]}]"));
  EXPECT_TRUE(Allows(self, "x/a", "x/a", 80));
  EXPECT_TRUE(Denies(self, "x/a", "x/b", 80));
  EXPECT_TRUE(DeniesPing(self, "x/a", "203.0.113.5"));
}

// EDD: enableDefaultDeny false keeps a rule's allows but not its isolation;
// allows of every kind add up once something isolates.
TEST(ReferenceCilium, EnableDefaultDenyFalse) {
  std::string rule = cnp("x", "p", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n"
                                   "  ingress: [{fromEndpoints: [{matchLabels: {app: b}}]}]\n"
                                   "  enableDefaultDeny: {ingress: false}");
  Cluster c(kBase + rule);
  EXPECT_TRUE(Allows(c, "y/a", "x/a", 80));
  Cluster d(kBase + rule + np("x", "iso", "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Ingress]"));
  EXPECT_TRUE(Allows(d, "x/b", "x/a", 80));  // the CNP's allow counts
  EXPECT_TRUE(Denies(d, "y/a", "x/a", 80));
}

// L4 "Layer 4 Examples" + SEM: protocol absent/ANY = TCP, UDP and SCTP; port
// "0" = all ports; endPort; named ports on the destination; ICMP only through
// icmps or a rule without toPorts.
TEST(ReferenceCilium, PortsAndIcmp) {
  auto ingress = [](const std::string& rules) {
    return kBase + cnp("y", "p", "spec:\n  endpointSelector: {}\n  ingress: " + rules);
  };
  Cluster any(ingress("[{toPorts: [{ports: [{port: \"80\"}]}]}]"));  // no L3 field: every peer
  EXPECT_TRUE(Allows(any, "x/a", "y/a", 80));
  EXPECT_TRUE(Allows(any, "203.0.113.5", "y/a", 80, UDP));
  EXPECT_TRUE(Allows(any, "x/a", "y/a", 80, SCTP));
  EXPECT_TRUE(Denies(any, "x/a", "y/a", 81));
  EXPECT_TRUE(DeniesPing(any, "x/a", "y/a"));

  Cluster zero(ingress("[{toPorts: [{ports: [{port: \"0\", protocol: UDP}, {port: \"80\", endPort: 81, "
                       "protocol: TCP}]}]}]"));
  EXPECT_TRUE(Allows(zero, "x/a", "y/a", 9000, UDP));
  EXPECT_TRUE(Allows(zero, "x/a", "y/a", 81));
  EXPECT_TRUE(Denies(zero, "x/a", "y/a", 82));
  EXPECT_TRUE(Denies(zero, "x/a", "y/a", 9000, SCTP));

  Cluster named(ingress("[{toPorts: [{ports: [{port: http, protocol: TCP}]}]}]"));  // y/b: http = 81/TCP
  EXPECT_TRUE(Allows(named, "x/a", "y/b", 81));
  EXPECT_TRUE(Denies(named, "x/a", "y/b", 80));
  EXPECT_TRUE(Denies(named, "x/a", "y/a", 81));  // y/a has no port named http

  Cluster egress(kBase + cnp("x", "p", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n"
                                       "  egress: [{toEntities: [all], toPorts: [{ports: [{port: http}]}]}]"));
  EXPECT_TRUE(Allows(egress, "x/a", "x/b", 8080));
  EXPECT_TRUE(Allows(egress, "x/a", "y/b", 81));
  EXPECT_TRUE(Denies(egress, "x/a", "y/b", 8080));
  EXPECT_TRUE(Denies(egress, "x/a", "203.0.113.5", 80));  // not a pod: no named port

  Cluster icmp(ingress("[{icmps: [{fields: [{type: 8, family: IPv4}]}]}, {fromEndpoints: [{matchLabels: {app: c}}], "
                       "icmps: [{fields: [{type: EchoReply}]}]}]"));
  EXPECT_TRUE(AllowsPing(icmp, "x/a", "y/a"));
  EXPECT_TRUE(Denies(icmp, "x/a", "y/a", 80));
  Cluster reply(ingress("[{icmps: [{fields: [{type: 0}]}]}]"));
  EXPECT_TRUE(DeniesPing(reply, "x/a", "y/a"));
  Cluster l3only(ingress("[{fromEntities: [cluster]}]"));
  EXPECT_TRUE(AllowsPing(l3only, "x/a", "y/a"));
  EXPECT_TRUE(DeniesPing(l3only, "203.0.113.5", "y/a"));
  Cluster emptyRule(ingress("[{}, {fromEndpoints: []}]"));  // both admit nothing
  EXPECT_TRUE(Denies(emptyRule, "x/a", "y/a", 80));
  // CIL SetAggregatedSelectors: an empty list selects no peer, even with toPorts.
  Cluster emptyEndpoints(ingress("[{fromEndpoints: [], toPorts: [{ports: [{port: \"80\"}]}]}]"));
  EXPECT_TRUE(Denies(emptyEndpoints, "203.0.113.5", "y/a", 80));
  EXPECT_TRUE(Denies(emptyEndpoints, "x/a", "y/a", 80));
  Cluster emptyCidr(ingress("[{fromCIDR: [], fromEntities: [all]}]"));
  EXPECT_TRUE(Denies(emptyCidr, "x/a", "y/a", 80));
}

// DOC: a reserved: key selects that reserved identity instead of pods; UTILS:
// such a selector is not confined to the CNP's namespace.
TEST(ReferenceCilium, ReservedSelectors) {
  auto egress = [](const std::string& name) {
    return kBase + cnp("x", "p", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n"
                                 "  egress: [{toEndpoints: [{matchLabels: {\"reserved:" + name + "\": \"\"}}]}]");
  };
  Cluster host(egress("host"));
  EXPECT_TRUE(Allows(host, "x/a", "192.168.1.1", 80));
  EXPECT_TRUE(Denies(host, "x/a", "192.168.2.1", 80));
  EXPECT_TRUE(Denies(host, "x/a", "x/b", 80));
  Cluster remote(egress("remote-node"));
  EXPECT_TRUE(Allows(remote, "x/a", "192.168.2.1", 80));
  EXPECT_TRUE(Denies(remote, "x/a", "203.0.113.5", 80));
  Cluster world(egress("world"));
  EXPECT_TRUE(Allows(world, "x/a", "203.0.113.5", 80));
  EXPECT_TRUE(Denies(world, "x/a", "192.168.2.1", 80));

  // An endpointSelector naming reserved:host selects no pod: nothing isolated.
  Cluster none(kBase + cnp("x", "p", "spec:\n  endpointSelector: {matchLabels: {\"reserved:host\": \"\"}}\n"
                                     "  ingress: [{}]\n  egress: [{}]"));
  EXPECT_TRUE(Allows(none, "y/a", "x/a", 80));
  EXPECT_TRUE(Allows(none, "x/a", "y/a", 80));
}

// L3 "Services based": a service with a selector = its selected pods; one
// without = the addresses of its slices, else of its legacy Endpoints.
TEST(ReferenceCilium, ToServices) {
  std::string services =
      "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: x, labels: {svc: web}}\n"
      "spec: {clusterIP: 10.96.0.10, ports: [{port: 80}], selector: {app: b}}\n"
      "---\napiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: y, labels: {svc: ext}}\n"
      "spec: {clusterIP: 10.96.0.11, ports: [{port: 80}]}\n"
      "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ext-1, namespace: y, "
      "labels: {kubernetes.io/service-name: ext}}\naddressType: IPv4\n"
      "endpoints: [{addresses: [203.0.113.77]}, {addresses: [10.244.2.11]}]\nports: [{port: 80}]\n"
      "---\napiVersion: v1\nkind: Service\nmetadata: {name: old, namespace: z}\n"
      "spec: {clusterIP: 10.96.0.12, ports: [{port: 80}]}\n"
      "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: old, namespace: z}\n"
      "subsets: [{addresses: [{ip: 198.51.100.7}], ports: [{port: 80}]}]\n";
  auto egress = [&](const std::string& refs) {
    return kBase + services +
           cnp("x", "p", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n  egress: [{toServices: " + refs + "}]");
  };
  Cluster web(egress("[{k8sService: {serviceName: web}}]"));
  EXPECT_TRUE(Allows(web, "x/a", "x/b", 80));  // selected by the service, though it has no slice
  EXPECT_TRUE(Denies(web, "x/a", "y/b", 80));  // app=b, but not in the service's namespace
  Cluster ext(egress("[{k8sService: {serviceName: ext, namespace: y}}]"));
  EXPECT_TRUE(Allows(ext, "x/a", "203.0.113.77", 80));
  EXPECT_TRUE(Allows(ext, "x/a", "y/b", 80));  // by address, whatever it is
  EXPECT_TRUE(Denies(ext, "x/a", "203.0.113.5", 80));
  Cluster own(egress("[{k8sService: {serviceName: ext}}]"));  // x's ext: none
  EXPECT_TRUE(Denies(own, "x/a", "203.0.113.77", 80));
  Cluster bySelector(egress("[{k8sServiceSelector: {selector: {matchLabels: {svc: ext}}, namespace: y}}]"));
  EXPECT_TRUE(Allows(bySelector, "x/a", "203.0.113.77", 80));
  // A source prefix on a service selector's key is ignored too (service labels are k8s labels).
  Cluster sourced(egress("[{k8sServiceSelector: {selector: {matchLabels: {\"k8s:svc\": ext}}, namespace: y}}]"));
  EXPECT_TRUE(Allows(sourced, "x/a", "203.0.113.77", 80));
  Cluster bySelectorOwn(egress("[{k8sServiceSelector: {selector: {matchLabels: {svc: ext}}}}]"));
  EXPECT_TRUE(Denies(bySelectorOwn, "x/a", "203.0.113.77", 80));
  Cluster legacy(egress("[{k8sService: {serviceName: old, namespace: z}}]"));
  EXPECT_TRUE(Allows(legacy, "x/a", "198.51.100.7", 80));

  // A CCNP's reference without a namespace looks in every namespace.
  Cluster wide(kBase + services + ccnp("p", "spec:\n  endpointSelector: {matchLabels: {app: a}}\n"
                                            "  egress: [{toServices: [{k8sService: {serviceName: ext}}]}]"));
  EXPECT_TRUE(Allows(wide, "x/a", "203.0.113.77", 80));
  EXPECT_TRUE(Denies(wide, "y/a", "203.0.113.5", 80));
}

// SEM: spec and each item of specs are separate rules.
TEST(ReferenceCilium, SpecsAreSeparateRules) {
  Cluster c(kBase + cnp("x", "p", "specs:\n- endpointSelector: {matchLabels: {app: a}}\n"
                                  "  ingress: [{fromEndpoints: [{matchLabels: {app: b}}]}]\n"
                                  "- endpointSelector: {matchLabels: {app: b}}\n  egress: [{toEntities: [world]}]"));
  EXPECT_TRUE(Allows(c, "y/a", "x/b", 80));          // x/b's ingress is not isolated by specs[0]
  EXPECT_TRUE(Denies(c, "x/b", "x/a", 80));          // x/b's egress (specs[1]) allows only world
  EXPECT_TRUE(Allows(c, "x/b", "203.0.113.5", 80));
  EXPECT_TRUE(Denies(c, "y/b", "x/a", 80));
}

// ---- the generator with Cilium policies --------------------------------------

struct Loaded {
  std::string yaml;
  ClusterState state;
  Diagnostics diags;
};

Loaded loadCilium(uint64_t seed) {
  Loaded l;
  l.yaml = randomClusterYaml(seed, ciliumRandomOptions());
  loadManifestText("random-" + std::to_string(seed) + ".yaml", l.yaml, l.state, l.diags);
  checkDuplicates(l.state, l.diags);
  l.state.finalize();
  return l;
}

TEST(RandomCilium, SeedsLoadWithoutErrors) {
  for (uint64_t seed = 1; seed <= 1000; ++seed) {
    Loaded l = loadCilium(seed);
    ASSERT_FALSE(l.diags.hasErrors()) << "seed " << seed << ":\n" << l.diags.render() << l.yaml;
  }
}

TEST(RandomCilium, DeterministicAndOffByDefault) {
  EXPECT_EQ(randomClusterYaml(7, ciliumRandomOptions()), randomClusterYaml(7, ciliumRandomOptions()));
  EXPECT_NE(randomClusterYaml(7, ciliumRandomOptions()), randomClusterYaml(8, ciliumRandomOptions()));
  // Off by default: the NetworkPolicy-only text is a prefix of nothing Cilium.
  EXPECT_EQ(randomClusterYaml(7).find("cilium.io"), std::string::npos);
  Loaded l = loadCilium(7);
  std::vector<Flow> a = randomFlows(l.state, 7, 100, ciliumFlowOptions());
  std::vector<Flow> b = randomFlows(l.state, 7, 100, ciliumFlowOptions());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(describe(a[i]), describe(b[i]));
}

// The generator reaches every Cilium corner the differential test is meant to
// exercise, and the reference's verdicts are not one-sided.
TEST(RandomCilium, CoversEveryCorner) {
  std::map<std::string, int> seen;
  auto count = [&](bool cond, const std::string& what) { seen[what] += cond ? 1 : 0; };
  size_t allow = 0, deny = 0;
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    Loaded l = loadCilium(seed);
    for (const char* text : {"specs:", "ingressDeny:", "egressDeny:", "enableDefaultDeny: {ingress: false}",
                             "Endpoints: [{}", "Endpoints: []", "\"reserved:host\"", "\"k8s:", "\"any:",
                             "io.kubernetes.pod.namespace", "io.cilium.k8s.policy.serviceaccount", "except:",
                             "endPort:", "protocol: ANY", "port: \"0\"", "icmps:", "k8sServiceSelector",
                             "name: kubernetes, namespace: default", "kind: Endpoints", "serviceAccountName"})
      count(l.yaml.find(text) != std::string::npos, text);
    for (const CiliumPolicy& cp : l.state.ciliumPolicies) {
      count(cp.clusterwide, "CCNP");
      count(!cp.clusterwide, "CNP");
      for (const CiliumRule& r : cp.rules)
        for (const auto* list : {&r.ingress, &r.egress})
          for (const CiliumPeerRule& pr : *list) {
            for (const std::string& e : pr.entities) count(true, "entity " + e);
            count(!pr.cidrs.empty(), "CIDR");
            count(!pr.services.empty(), "toServices");
            count(!pr.hasL3() && (!pr.toPorts.empty() || !pr.icmps.empty()), "ports only");
            count(!pr.hasL3() && pr.toPorts.empty() && pr.icmps.empty(), "empty peer rule");
            for (const CiliumPortRule& tp : pr.toPorts)
              for (const CiliumPortProtocol& pp : tp.ports) count(pp.port.isNamed(), "named port");
          }
    }
    for (const Flow& f : randomFlows(l.state, seed, 50, ciliumFlowOptions())) {
      Explanation e = evaluate(l.state, f);
      (e.allowed() ? allow : deny)++;
      count(f.icmp, "icmp flow");
      count(e.reason.find("Deny[") != std::string::npos && !e.allowed(), "denied by a deny rule");
      count(e.reason.find("allowed by CiliumNetworkPolicy") != std::string::npos, "allowed by a CNP");
      count(e.reason.find("allowed by CiliumClusterwideNetworkPolicy") != std::string::npos, "allowed by a CCNP");
      count(e.reason.find("allowed by NetworkPolicy") != std::string::npos, "allowed by a NetworkPolicy");
      count(e.reason.find("toServices") != std::string::npos, "matched toServices");
      count(e.reason.find("CIDR ") != std::string::npos, "matched a CIDR");
      count(e.reason.find("Entities world") != std::string::npos, "matched world");
      count(e.reason.find("Entities kube-apiserver") != std::string::npos, "matched kube-apiserver");
      count(e.reason.find("icmps type 8") != std::string::npos, "matched icmps");
      count(e.reason.find(":\"\"") != std::string::npos || e.reason.find("reserved:") != std::string::npos,
            "matched a reserved selector");
      count(e.reason.find("denied: isolated") != std::string::npos, "denied by isolation");
    }
  }
  for (const auto& [what, n] : seen) {
    EXPECT_GE(n, 3) << what;
    if (std::getenv("SLUICE_REFERENCE_STATS")) std::printf("%6d %s\n", n, what.c_str());
  }
  // Every entity name, and every counter above, was reached.
  for (const char* e : {"all", "world", "cluster", "host", "remote-node", "kube-apiserver", "health", "init",
                        "unmanaged", "ingress", "none"})
    EXPECT_GE(seen[std::string("entity ") + e], 3) << e;
  EXPECT_EQ(seen.size(), 20u + 2u + 11u + 5u + 12u);  // texts, kinds, entities, peer rules, flows
  if (std::getenv("SLUICE_REFERENCE_STATS")) std::printf("%zu allow, %zu deny\n", allow, deny);
  EXPECT_GT(allow, (allow + deny) / 5) << allow << " allow, " << deny << " deny";
  EXPECT_GT(deny, (allow + deny) / 5) << allow << " allow, " << deny << " deny";
}

}  // namespace
}  // namespace sluice::reference
