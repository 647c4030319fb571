// The small two-node cluster the hand-written datapath tests share, and the
// helpers that trace one new connection through it and compare the result
// with an expected one-line summary (datapath_util.h, summarize()).
#pragma once

#include <gtest/gtest.h>

#include "tests/datapath/datapath_util.h"
#include "tests/testing/datapath_modes.h"
#include "tests/testing/manifests.h"

namespace sluice::datapath_test {

inline const ir::L4Proto TCP = ir::L4Proto::TCP, UDP = ir::L4Proto::UDP, SCTP = ir::L4Proto::SCTP;

// Nodes n1 (192.168.1.1, pods 10.244.1.0/24) and n2 (192.168.2.1, 10.244.2.0/24);
// namespaces x (team=red), y (team=blue), z (no labels); pods:
//   x/a  n1 10.244.1.10 app=a          http 80/TCP
//   x/b  n1 10.244.1.11 app=b,tier=web http 8080/TCP, dns 53/UDP
//   y/a  n2 10.244.2.10 app=a          (no ports)
//   y/b  n2 10.244.2.11 app=b,tier=db  http 81/TCP
//   z/c  n2 10.244.2.12 app=c          (no ports)
//   z/h1 n1 hostNetwork (192.168.1.1), z/h2 n2 hostNetwork (192.168.2.1), both app=h
inline std::string pod(const std::string& ns, const std::string& name, const std::string& node, const std::string& ip,
                const std::string& labels, const std::string& ports, bool hostNetwork = false) {
  return testing::podYaml(ns, name, node, ip, labels, ports, hostNetwork ? ", hostNetwork: true" : "");
}

inline const std::string kBase = testing::kTwoNodesThreeNamespaces + pod("x", "a", "n1", "10.244.1.10", "app: a", "[{name: http, containerPort: 80}]") +
                          pod("x", "b", "n1", "10.244.1.11", "app: b, tier: web",
                              "[{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]") +
                          pod("y", "a", "n2", "10.244.2.10", "app: a", "[]") +
                          pod("y", "b", "n2", "10.244.2.11", "app: b, tier: db", "[{name: http, containerPort: 81}]") +
                          pod("z", "c", "n2", "10.244.2.12", "app: c", "[]") +
                          pod("z", "h1", "n1", "192.168.1.1", "app: h", "[]", true) +
                          pod("z", "h2", "n2", "192.168.2.1", "app: h", "[]", true);

inline std::string policy(const std::string& ns, const std::string& name, const std::string& spec) {
  return "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nspec:\n" + spec + "\n";
}

// The hand-written suites run in both datapath modes (tests/testing/datapath_modes.h):
// TEST_P(<suite>, ...) with `using <suite> = InBothDatapathModes;` and
// SLUICE_IN_BOTH_DATAPATH_MODES(<suite>) once per file.
using testing::InBothDatapathModes;

// In a TEST_P of an InBothDatapathModes suite: the cluster, compiled in its mode.
#define LOAD_CLUSTER(c, yaml)                              \
  SLUICE_REQUIRE_ROOT();                                   \
  LoadedCluster c;                                         \
  ASSERT_TRUE(c.load(yaml, options())) << c.diags.render(); \
  ASSERT_TRUE(testing::LoadedInMode(*c.kernel, GetParam()))

// `from` and `to` are "ns/name" (a pod) or an address (FlowQuery::fromIp / toIp).
inline runtime::FlowTrace traceFlow(LoadedCluster& c, const std::string& from, const std::string& to, uint16_t port,
                                    ir::L4Proto proto) {
  runtime::FlowQuery q;
  if (from.find('/') != std::string::npos)
    q.fromPod = from;
  else
    q.fromIp = *IpAddr::parse(from);
  if (to.find('/') != std::string::npos)
    q.toPod = to;
  else
    q.toIp = *IpAddr::parse(to);
  q.proto = proto;
  q.port = port;
  return c.kernel->trace(q);
}

inline ::testing::AssertionResult Traces(LoadedCluster& c, const std::string& from, const std::string& to, uint16_t port,
                                  ir::L4Proto proto, const std::string& want) {
  runtime::FlowTrace t = traceFlow(c, from, to, port, proto);
  std::string got = summarize(t);
  std::string flow = from + " -> " + to + " " + std::to_string(port) + "/" + ir::l4ProtoName(proto);
  if (got == want) return ::testing::AssertionSuccess() << flow << ": " << got;
  return ::testing::AssertionFailure() << flow << "\n  want: " << want << "\n  got:  " << got << "\n" << explain(t);
}

}  // namespace sluice::datapath_test
