// Service lowering: readiness, the terminating fallback, Local traffic policy.
#include <gtest/gtest.h>

#include "ir/print.h"
#include "tests/ir/ir_test_util.h"

namespace sluice::ir {
namespace {

using testing::lowerText;

const std::string kService = R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: x}
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  internalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: x, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
)";

TEST(LowerServices, ReadyEndpointsElseServingTerminating) {
  auto p = lowerText(kService + R"(
- addresses: [10.244.1.1]
  conditions: {ready: false, serving: true, terminating: true}
  nodeName: n1
- addresses: [10.244.1.2]
  conditions: {ready: false, serving: false, terminating: true}
  nodeName: n1
- addresses: [10.244.2.3]
  conditions: {ready: true}
  nodeName: n2
)");
  // Node n1: Local policy keeps only n1's endpoints; none is ready, so the
  // serving-and-terminating one is used; the non-serving one never is.
  const Service& s1 = p.findNode("n1")->services.at(0);
  ASSERT_EQ(s1.ports.at(0).backends.size(), 1u);
  EXPECT_EQ(s1.ports[0].backends[0].ip.str(), "10.244.1.1");
  EXPECT_TRUE(s1.ports[0].backends[0].terminating);
  // External traffic policy is Cluster: the ready endpoint wins cluster-wide.
  ASSERT_EQ(s1.ports[0].externalBackends.size(), 1u);
  EXPECT_EQ(s1.ports[0].externalBackends[0].ip.str(), "10.244.2.3");
  // Node n2 sees its ready endpoint.
  const Service& s2 = p.findNode("n2")->services.at(0);
  ASSERT_EQ(s2.ports.at(0).backends.size(), 1u);
  EXPECT_EQ(s2.ports[0].backends[0].ip.str(), "10.244.2.3");
  EXPECT_EQ(s2.ports[0].backends[0].port, 8080);
}

}  // namespace
}  // namespace sluice::ir
