// Diagnostics, table-driven: every tests/testdata/diagnostics/<case>.yaml (or
// .json) is loaded and its full rendered diagnostics (caret lines included)
// compared with <case>.expected. Adding a file adds a case;
// SLUICE_UPDATE_GOLDEN=1 rewrites the expected files (read them after!).
// Cases named warn-* must load without errors but with warnings.
//
// Also: positive tests for the Service / EndpointSlice / Endpoints and Cilium
// parsers, and a mutation test that every parser survives wrong types anywhere.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "frontend/manifest_loader.h"
#include "tests/testing/golden.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

const char* kCaseDir = "tests/testdata/diagnostics";

// Case files, sorted; names are relative to the repository root.
std::vector<std::string> caseFiles() {
  std::vector<std::string> out;
  fs::path dir = fs::path(SLUICE_SOURCE_DIR) / kCaseDir;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".json")) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string testName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

class DiagnosticsTable : public ::testing::TestWithParam<std::string> {
 protected:
  // Diagnostics print the path as given: load relative to the repository root
  // so the expected text does not depend on where the checkout lives.
  void SetUp() override { fs::current_path(SLUICE_SOURCE_DIR); }
};

TEST_P(DiagnosticsTable, RendersExpectedDiagnostics) {
  const std::string& file = GetParam();
  std::string path = std::string(kCaseDir) + "/" + file;
  LoadResult r = loadCluster({path});
  std::string rendered = r.diags.render();
  bool warnOnly = file.starts_with("warn-");
  if (warnOnly) {
    EXPECT_TRUE(r.ok()) << "a warn-* case must load without errors:\n" << rendered;
    bool warned = std::any_of(r.diags.all().begin(), r.diags.all().end(),
                              [](const Diagnostic& d) { return d.severity == Severity::Warning; });
    EXPECT_TRUE(warned) << "a warn-* case must report a warning";
  } else {
    EXPECT_FALSE(r.ok()) << "expected the load to fail:\n" << rendered;
  }
  std::string golden = std::string("diagnostics/") + fs::path(file).stem().string() + ".expected";
  EXPECT_TRUE(sluice::testing::matchesGolden(rendered, golden));
}

INSTANTIATE_TEST_SUITE_P(Cases, DiagnosticsTable, ::testing::ValuesIn(caseFiles()), testName);

TEST(DiagnosticsTableCoverage, HasEnoughCasesAndNoStaleExpectations) {
  std::vector<std::string> cases = caseFiles();
  EXPECT_GE(cases.size(), 35u);
  fs::path dir = fs::path(SLUICE_SOURCE_DIR) / kCaseDir;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".expected") continue;
    std::string stem = e.path().stem().string();
    bool used = std::any_of(cases.begin(), cases.end(),
                            [&](const std::string& c) { return fs::path(c).stem().string() == stem; });
    EXPECT_TRUE(used) << e.path() << " has no matching .yaml/.json case";
  }
}

// ---- positive tests ------------------------------------------------------

ClusterState loadOk(const std::string& text) {
  Diagnostics d;
  ClusterState s;
  loadManifestText("test.yaml", text, s, d);
  s.finalize();
  EXPECT_FALSE(d.hasErrors()) << d.render();
  return s;
}

TEST(ServiceParser, NamedTargetPortAndDefaults) {
  auto s = loadOk(R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  selector: {app: web}
  clusterIP: 10.96.0.10
  ports:
  - name: http
    port: 80
    targetPort: http-alt
    nodePort: 30080
  - name: dns
    port: 53
    protocol: UDP
  sessionAffinity: ClientIP
  externalTrafficPolicy: Local
)");
  ASSERT_EQ(s.services.size(), 1u);
  const Service& svc = s.services[0];
  EXPECT_EQ(svc.type, ServiceType::NodePort);
  ASSERT_EQ(svc.clusterIPs.size(), 1u);
  EXPECT_EQ(svc.clusterIPs[0].str(), "10.96.0.10");
  EXPECT_FALSE(svc.headless);
  ASSERT_TRUE(svc.selector);
  EXPECT_EQ(svc.selector->at("app"), "web");
  ASSERT_EQ(svc.ports.size(), 2u);
  EXPECT_TRUE(svc.ports[0].targetPort.isNamed());
  EXPECT_EQ(svc.ports[0].targetPort.name, "http-alt");
  EXPECT_EQ(svc.ports[0].nodePort, 30080);
  EXPECT_EQ(svc.ports[0].loc.line, 9u);
  EXPECT_EQ(svc.ports[1].protocol, Protocol::UDP);
  EXPECT_EQ(svc.ports[1].targetPort.number, 53);  // defaults to port
  EXPECT_TRUE(svc.clientIPAffinity);
  EXPECT_EQ(svc.affinityTimeoutSeconds, 10800u);
  EXPECT_EQ(svc.externalTrafficPolicy, TrafficPolicy::Local);
  EXPECT_EQ(svc.internalTrafficPolicy, TrafficPolicy::Cluster);
}

TEST(ServiceParser, HeadlessWithoutSelectorAndLoadBalancerStatus) {
  auto s = loadOk(R"(apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None}
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: shop}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 443, targetPort: 8443}]
status:
  loadBalancer:
    ingress: [{ip: 203.0.113.5, ipMode: Proxy}, {ip: 203.0.113.6}, {hostname: lb.example.com}]
)");
  ASSERT_EQ(s.services.size(), 2u);
  const Service* db = s.findService("shop", "db");
  ASSERT_TRUE(db);
  EXPECT_TRUE(db->headless);
  EXPECT_FALSE(db->selector.has_value());
  EXPECT_TRUE(db->ports.empty());
  const Service* lb = s.findService("shop", "lb");
  ASSERT_TRUE(lb);
  ASSERT_EQ(lb->loadBalancerIngress.size(), 2u);
  EXPECT_TRUE(lb->loadBalancerIngress[0].proxyMode);
  EXPECT_FALSE(lb->loadBalancerIngress[1].proxyMode);
  EXPECT_EQ(lb->ports.at(0).targetPort.number, 8443);
}

TEST(EndpointParsers, SliceConditionsTargetRefsAndLegacyEndpoints) {
  auto s = loadOk(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
  conditions: {ready: false, serving: true, terminating: true}
  nodeName: node-1
  zone: a
  targetRef: {kind: Pod, name: web-1}
- addresses: [10.244.2.5]
  targetRef: {kind: Pod, name: web-2, namespace: other}
ports:
- {name: http, port: 8080}
- {name: "", protocol: UDP}
---
apiVersion: v1
kind: Endpoints
metadata: {name: legacy, namespace: shop}
subsets:
- addresses: [{ip: 10.244.3.5, nodeName: node-3, targetRef: {kind: Pod, name: legacy-1}}]
  notReadyAddresses: [{ip: 10.244.3.6}]
  ports: [{port: 80}]
)");
  ASSERT_EQ(s.endpointSlices.size(), 1u);
  const EndpointSlice& es = s.endpointSlices[0];
  EXPECT_EQ(es.serviceName, "web");
  EXPECT_EQ(es.addressType, "IPv4");
  ASSERT_EQ(es.endpoints.size(), 2u);
  EXPECT_EQ(es.endpoints[0].conditions.ready, false);
  EXPECT_EQ(es.endpoints[0].conditions.serving, true);
  EXPECT_EQ(es.endpoints[0].conditions.terminating, true);
  EXPECT_EQ(es.endpoints[0].targetPod, "shop/web-1");
  EXPECT_EQ(es.endpoints[0].nodeName, "node-1");
  EXPECT_EQ(es.endpoints[0].loc.line, 9u);
  EXPECT_FALSE(es.endpoints[1].conditions.ready.has_value());
  EXPECT_EQ(es.endpoints[1].targetPod, "other/web-2");
  ASSERT_EQ(es.ports.size(), 2u);
  EXPECT_EQ(es.ports[0].port, 8080);
  EXPECT_FALSE(es.ports[1].port.has_value());
  EXPECT_EQ(es.ports[1].protocol, Protocol::UDP);

  ASSERT_EQ(s.endpoints.size(), 1u);
  const EndpointsSubset& sub = s.endpoints[0].subsets.at(0);
  ASSERT_EQ(sub.addresses.size(), 2u);
  EXPECT_EQ(sub.addresses[0].conditions.ready, true);
  EXPECT_EQ(sub.addresses[0].targetPod, "shop/legacy-1");
  EXPECT_EQ(sub.addresses[1].conditions.ready, false);
  EXPECT_EQ(sub.addresses[1].conditions.serving, false);
  EXPECT_EQ(sub.ports.at(0).port, 80);
}

TEST(CiliumParser, SpecsDenyRulesPortsAndEntities) {
  auto s = loadOk(R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts:
    - ports: [{port: "8080"}, {port: http, protocol: TCP}, {port: 9000, endPort: 9100, protocol: UDP}]
  - fromEntities: [host, remote-node, world]
  ingressDeny:
  - fromCIDRSet: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}]
specs:
- endpointSelector: {}
  egress:
  - toCIDR: [192.168.1.7, 10.0.0.0/8]
    toPorts:
    - ports: [{port: "443", protocol: TCP}]
      rules:
        http: [{method: GET, path: "/api/.*", headers: ["X-Version: 2"]}]
  - toEndpoints: []
  - icmps: [{fields: [{type: EchoRequest}, {type: 128, family: IPv6}]}]
  egressDeny:
  - toEntities: [world]
  enableDefaultDeny: {ingress: false}
- endpointSelector: {}
  egress:
  - toPorts:
    - ports: [{port: "9092", protocol: TCP}]
      rules:
        kafka: [{role: produce, topic: orders}, {apiKey: metadata}, {apiKey: "19", apiVersion: "2"}]
)");
  ASSERT_EQ(s.ciliumPolicies.size(), 1u);
  const CiliumPolicy& p = s.ciliumPolicies[0];
  EXPECT_FALSE(p.clusterwide);
  ASSERT_EQ(p.rules.size(), 3u);

  const CiliumRule& r0 = p.rules[0];
  EXPECT_TRUE(r0.ingressSectionPresent);
  EXPECT_FALSE(r0.egressSectionPresent);
  ASSERT_EQ(r0.ingress.size(), 3u);
  EXPECT_FALSE(r0.ingress[0].deny);
  EXPECT_FALSE(r0.ingress[0].emptyPeerList);
  const auto& ports = r0.ingress[0].toPorts.at(0).ports;
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[0].port.number, 8080);
  EXPECT_EQ(ports[0].protocols, (std::vector<Protocol>{Protocol::TCP, Protocol::UDP, Protocol::SCTP}));
  EXPECT_EQ(ports[1].port.name, "http");
  EXPECT_EQ(ports[1].protocols, std::vector<Protocol>{Protocol::TCP});
  EXPECT_EQ(ports[2].endPort, 9100);
  EXPECT_EQ(r0.ingress[1].entities, (std::vector<std::string>{"host", "remote-node", "world"}));
  EXPECT_TRUE(r0.ingress[2].deny);
  ASSERT_EQ(r0.ingress[2].cidrs.size(), 1u);
  EXPECT_EQ(r0.ingress[2].cidrs[0].except.at(0).str(), "10.1.0.0/16");

  const CiliumRule& r1 = p.rules[1];
  EXPECT_TRUE(r1.endpointSelector.empty());
  ASSERT_EQ(r1.egress.size(), 4u);
  EXPECT_EQ(r1.egress[0].cidrs.at(0).cidr.str(), "192.168.1.7/32");
  const HttpRule& http = r1.egress[0].toPorts.at(0).http.at(0);
  EXPECT_EQ(http.method, "GET");
  EXPECT_EQ(http.path, "/api/.*");
  EXPECT_EQ(http.headers, std::vector<std::string>{"X-Version: 2"});
  EXPECT_TRUE(r1.egress[1].emptyPeerList);  // `toEndpoints: []` is present, and selects no peer
  EXPECT_TRUE(r1.egress[1].endpoints.empty());
  EXPECT_TRUE(r1.egress[1].hasL3());
  ASSERT_EQ(r1.egress[2].icmps.size(), 2u);
  EXPECT_EQ(r1.egress[2].icmps[0].type, 8);
  EXPECT_EQ(r1.egress[2].icmps[0].family, IpAddr::Family::V4);
  EXPECT_EQ(r1.egress[2].icmps[1].family, IpAddr::Family::V6);
  EXPECT_FALSE(r1.egress[2].hasL3());
  EXPECT_TRUE(r1.egress[3].deny);
  EXPECT_EQ(r1.defaultDenyIngress, false);
  EXPECT_FALSE(r1.defaultDenyEgress.has_value());

  const auto& kafka = p.rules[2].egress.at(0).toPorts.at(0).kafka;
  ASSERT_EQ(kafka.size(), 3u);
  EXPECT_EQ(kafka[0].role, "produce");
  EXPECT_FALSE(kafka[0].apiKey.has_value());
  EXPECT_EQ(kafka[1].apiKey, 3);
  EXPECT_EQ(kafka[1].apiKeyName, "metadata");
  EXPECT_EQ(kafka[2].apiKey, 19);
  EXPECT_EQ(kafka[2].apiVersion, 2);
}

TEST(CiliumParser, ClusterwidePolicyAndEmptyIngressList) {
  auto s = loadOk(R"({"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
 "metadata": {"name": "all"},
 "spec": {"endpointSelector": {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "shop"}},
          "ingress": [],
          "egress": [{"toServices": [{"k8sService": {"serviceName": "api", "namespace": "shop"}},
                                      {"k8sServiceSelector": {"selector": {"matchLabels": {"tier": "db"}}}}]}]}}
)");
  ASSERT_EQ(s.ciliumPolicies.size(), 1u);
  const CiliumPolicy& p = s.ciliumPolicies[0];
  EXPECT_TRUE(p.clusterwide);
  EXPECT_EQ(p.meta.key(), "all");
  EXPECT_EQ(p.kindName(), "CiliumClusterwideNetworkPolicy");
  const CiliumRule& r = p.rules.at(0);
  EXPECT_FALSE(r.ingressSectionPresent);  // `ingress: []` does not isolate
  EXPECT_TRUE(r.egressSectionPresent);
  ASSERT_EQ(r.egress.at(0).services.size(), 2u);
  EXPECT_EQ(r.egress[0].services[0].name, "api");
  EXPECT_EQ(r.egress[0].services[0].namespace_, "shop");
  ASSERT_TRUE(r.egress[0].services[1].selector);
  EXPECT_EQ(r.egress[0].services[1].selector->str(), "tier=db");
}

// ---- robustness: wrong types anywhere never crash ------------------------

const char* kValidManifests = R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  type: LoadBalancer
  clusterIPs: [10.96.0.1]
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30080, protocol: TCP}]
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  externalIPs: [198.51.100.1]
  externalTrafficPolicy: Local
  loadBalancerSourceRanges: [10.0.0.0/8]
status: {loadBalancer: {ingress: [{ip: 203.0.113.1, ipMode: VIP}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [10.244.1.5], conditions: {ready: true}, nodeName: n1, targetRef: {kind: Pod, name: p}}
ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: shop}
subsets:
- addresses: [{ip: 10.244.1.5, targetRef: {kind: Pod, name: p}}]
  notReadyAddresses: [{ip: 10.244.1.6}]
  ports: [{name: http, port: 80}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}, matchExpressions: [{key: a, operator: In, values: [b]}]}
  ingress:
  - fromEndpoints: [{matchLabels: {app: c}}]
    toPorts:
    - ports: [{port: "80", endPort: 90, protocol: TCP}]
      rules: {http: [{method: GET, headers: [X]}]}
  - fromCIDRSet: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}]
    icmps: [{fields: [{type: 8, family: IPv4}]}]
  egressDeny:
  - toEntities: [world]
    toPorts: [{ports: [{port: "22"}]}]
  enableDefaultDeny: {ingress: true, egress: false}
specs:
- endpointSelector: {}
  egress:
  - toServices: [{k8sService: {serviceName: s}}, {k8sServiceSelector: {selector: {}}}]
  - toCIDR: [10.0.0.1]
    toPorts: [{ports: [{port: "9092", protocol: TCP}], rules: {kafka: [{role: produce, topic: t, apiVersion: "1"}]}}]
)";

void forEachNode(YAML::Node node, const std::function<void(YAML::Node)>& fn) {
  fn(node);
  if (node.IsMap())
    for (auto it = node.begin(); it != node.end(); ++it) forEachNode(it->second, fn);
  else if (node.IsSequence())
    for (auto child : node) forEachNode(child, fn);
}

TEST(ParserRobustness, WrongTypesAnywhereAreDiagnosedNotCrashes) {
  const std::vector<std::string> replacements = {"~",  "x",        "-1", "99999999999999999999",
                                                 "[]", "[1, [2]]", "{}", "{a: {b: c}}"};
  std::vector<YAML::Node> docs = YAML::LoadAll(kValidManifests);
  {
    Diagnostics d;
    ClusterState s;
    ASSERT_TRUE(loadManifestText("valid.yaml", kValidManifests, s, d)) << d.render();
  }
  size_t runs = 0;
  for (size_t di = 0; di < docs.size(); ++di) {
    // Number the nodes of this document, then replace each in turn in a fresh copy.
    size_t count = 0;
    forEachNode(YAML::Clone(docs[di]), [&](YAML::Node) { ++count; });
    for (size_t target = 1; target < count; ++target) {  // 0 is the document itself
      for (const std::string& repl : replacements) {
        YAML::Node copy = YAML::Clone(docs[di]);
        size_t i = 0;
        forEachNode(copy, [&](YAML::Node n) {
          if (i++ == target) n = YAML::Load(repl);
        });
        YAML::Emitter out;
        out << copy;
        Diagnostics d;
        ClusterState s;
        loadManifestText("mutated.yaml", out.c_str(), s, d);
        for (const Diagnostic& diag : d.all()) {
          EXPECT_FALSE(diag.message.empty());
          Diagnostics::render(diag);
        }
        ++runs;
      }
    }
  }
  EXPECT_GT(runs, 500u);
}

}  // namespace
}  // namespace sluice
