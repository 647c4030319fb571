// Expectations checked on a small cluster written here: first through a
// scripted evaluator (which pods and probes are asked, errors), then on the
// real programs in this kernel (root; fails, never skips, without it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "review/expectations.h"
#include "runtime/kernel_cluster.h"
#include "tests/testing/manifests.h"

namespace sluice::review {
namespace {

// n1: x/client 10.244.1.10, y/other 10.244.1.31; n2: x/web 10.244.2.20
// (http = 8080), y/db 10.244.2.30. x/web admits x/client on http; y/db admits
// namespace x (team=red) on 5000-5010/TCP; service x/web 10.96.0.10:80 -> web:8080.
std::string clusterYaml() {
  return testing::kTwoNodesThreeNamespaces +
         testing::podYaml("x", "client", "n1", "10.244.1.10", "app: client", "[]") +
         testing::podYaml("x", "web", "n2", "10.244.2.20", "app: web", "[{name: http, containerPort: 8080}]") +
         testing::podYaml("y", "db", "n2", "10.244.2.30", "app: db", "[{containerPort: 5000}]") +
         testing::podYaml("y", "other", "n1", "10.244.1.31", "app: other", "[]") + R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
    ports: [{port: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: y}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: red}}
    ports: [{port: 5000, endPort: 5010}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: x}
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: x, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.2.20]
  conditions: {ready: true}
  nodeName: n2
  targetRef: {kind: Pod, name: web, namespace: x}
)";
}

// The 1-based line of `text` holding `needle`.
size_t lineOf(const std::string& text, const std::string& needle) {
  size_t at = text.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  return size_t(std::count(text.begin(), text.begin() + at, '\n')) + 1;
}

ExpectationsFile parse(const std::string& text) {
  Diagnostics diags;
  auto file = parseExpectations("e.yaml", text, diags);
  EXPECT_TRUE(file) << diags.render();
  return file ? *file : ExpectationsFile{};
}

// ---- through a scripted evaluator ------------------------------------------------------

class ScriptedChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    loadManifestText("cluster.yaml", clusterYaml(), state_, diags_);
    checkDuplicates(state_, diags_);
    state_.finalize();
    program_ = ir::lower(state_, diags_);
    ASSERT_FALSE(diags_.hasErrors()) << diags_.render();
  }
  // Checks `text` with an evaluator that answers `verdict` and records the flows asked.
  std::vector<ExpectationResult> check(const std::string& text, Verdict verdict, Diagnostics& diags) {
    ClusterView view{state_, program_, {"x/client", "x/web", "y/db", "y/other"}};
    FlowEvaluator evaluate = [&](const std::string& from, const std::string& to, const PortProbe& probe) {
      asked_.push_back(from + " -> " + to + " " + probe.str());
      Flow f;
      f.from = from;
      f.to = to;
      f.probe = probe;
      f.verdict = verdict;
      return f;
    };
    return checkExpectations(parse(text), view, evaluate, diags);
  }
  ClusterState state_;
  Diagnostics diags_;
  ir::Program program_;
  std::vector<std::string> asked_;
};

TEST_F(ScriptedChecks, EveryFlowOnceAndNeverAPodToItself) {
  Diagnostics diags;
  auto results = check("expectations:\n"
                       "- from: {namespace: x}\n"
                       "  to: {namespaceSelector: \"team=red\"}\n"
                       "  ports: [80, 53/UDP]\n"
                       "  expect: allow\n",
                       Verdict::Allow, diags);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].passed()) << results[0].error;
  EXPECT_EQ(results[0].flowsChecked, 4u);
  EXPECT_EQ(asked_, (std::vector<std::string>{"x/client -> x/web 80/TCP", "x/client -> x/web 53/UDP",
                                              "x/web -> x/client 80/TCP", "x/web -> x/client 53/UDP"}));
  EXPECT_EQ(results[0].name, "every pod in x -> every pod in namespaces team=red on 80/TCP, 53/UDP: allow");
}

TEST_F(ScriptedChecks, ARejectIsADenyAndAServiceIsProbedOnEachOfItsPorts) {
  Diagnostics diags;
  auto results = check("expectations:\n"
                       "- from: {namespace: y, pod: other}\n"
                       "  to: {service: x/web}\n"
                       "  expect: deny\n",
                       Verdict::Reject, diags);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].passed());
  EXPECT_EQ(asked_, std::vector<std::string>{"y/other -> svc/x/web 80/TCP"});
}

TEST_F(ScriptedChecks, ASideSelectingNothingIsAnErrorNotAPass) {
  Diagnostics diags;
  std::string text = "expectations:\n"
                     "- name: nobody\n"
                     "  from: {namespace: x, selector: \"app in (gone, missing)\"}\n"
                     "  to: {namespace: y}\n"
                     "  ports: [80]\n"
                     "  expect: deny\n"
                     "- name: no such service\n"
                     "  from: {namespace: x}\n"
                     "  to: {service: x/nope}\n"
                     "  expect: deny\n"
                     "- name: itself\n"
                     "  from: {namespace: x, pod: web}\n"
                     "  to: {selector: app=web}\n"
                     "  ports: [80]\n"
                     "  expect: deny\n";
  auto results = check(text, Verdict::Deny, diags);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].error,
            "e.yaml:3:34: error: expectations[0].from.selector: selects no running pod: nothing to check");
  EXPECT_EQ(results[1].error,
            "e.yaml:9:17: error: expectations[1].to.service: no proxied service 'x/nope' (headless and ExternalName "
            "services have no cluster IP)");
  EXPECT_EQ(results[2].error,
            "e.yaml:13:18: error: expectations[2].to.selector: selects only the pod `from` selects, and a pod's "
            "traffic to itself never meets policy: nothing to check");
  for (const auto& r : results) EXPECT_FALSE(r.passed()) << r.name;
  EXPECT_EQ(diags.errorCount(), 3u);
  EXPECT_TRUE(asked_.empty());
  EXPECT_EQ(renderExpectationsText(results),
            "FAIL nobody\n"
            "  error: " + results[0].error + "\n"
            "FAIL no such service\n"
            "  error: " + results[1].error + "\n"
            "FAIL itself\n"
            "  error: " + results[2].error + "\n"
            "3 expectations, 3 failed\n");
}

TEST_F(ScriptedChecks, AnEvaluatorThatCannotAnswerFailsTheExpectation) {
  Diagnostics diags;
  ClusterView view{state_, program_, {"x/client", "x/web"}};
  FlowEvaluator broken = [](const std::string&, const std::string&, const PortProbe&) -> Flow {
    throw std::runtime_error("program to_pod_x__web is not loaded");
  };
  auto results = checkExpectations(parse("expectations:\n"
                                         "- from: {namespace: x, pod: client}\n"
                                         "  to: {namespace: x, pod: web}\n"
                                         "  ports: [8080]\n"
                                         "  expect: allow\n"),
                                   view, broken, diags);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].error,
            "e.yaml:2:3: error: cannot check x/client -> x/web 8080/TCP: program to_pod_x__web is not loaded");
}

// ---- on the real programs ----------------------------------------------------------------

class KernelChecks : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(geteuid(), 0u) << "kernel tests must run as root (they fail instead of skipping)";
    cluster_ = new Loaded;
    loadManifestText("cluster.yaml", clusterYaml(), cluster_->state, cluster_->diags);
    checkDuplicates(cluster_->state, cluster_->diags);
    cluster_->state.finalize();
    ASSERT_TRUE(cluster_->kernel.build(cluster_->state, cluster_->diags)) << cluster_->diags.render();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(cluster_) << "the cluster did not build"; }

  std::vector<ExpectationResult> check(const std::string& text) {
    ClusterView view{cluster_->state, cluster_->kernel.program(), cluster_->kernel.runningPods()};
    Diagnostics diags;
    auto results = checkExpectations(parse(text), view, kernelFlowEvaluator(cluster_->kernel), diags);
    EXPECT_FALSE(diags.hasErrors()) << diags.render();
    return results;
  }

  struct Loaded {
    ClusterState state;
    Diagnostics diags;
    runtime::KernelCluster kernel;
  };
  static Loaded* cluster_;
};
KernelChecks::Loaded* KernelChecks::cluster_ = nullptr;

TEST_F(KernelChecks, APassingAndAFailingExpectationWithTheDecidingRule) {
  auto results = check("expectations:\n"
                       "- name: client reaches web\n"
                       "  from: {namespace: x, pod: client}\n"
                       "  to: {namespace: x, selector: \"app=web\"}\n"
                       "  ports: [8080/TCP]\n"
                       "  expect: allow\n"
                       "- name: client cannot reach web\n"
                       "  from: {namespace: x, pod: client}\n"
                       "  to: {namespace: x, selector: app=web}\n"
                       "  ports: [8080/TCP, 9090/TCP]\n"
                       "  expect: deny\n");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].passed()) << renderExpectationsText(results);
  EXPECT_EQ(results[0].flowsChecked, 1u);
  EXPECT_FALSE(results[1].passed());
  EXPECT_EQ(results[1].flowsChecked, 2u);
  ASSERT_EQ(results[1].failures.size(), 1u);
  const Flow& f = results[1].failures[0];
  std::string peerLine =
      "cluster.yaml:" + std::to_string(lineOf(clusterYaml(), "- podSelector: {matchLabels: {app: client}}"));
  EXPECT_EQ(f.decision.hook, "to-pod");
  EXPECT_EQ(f.decision.rule, "np.x.web.ingress0.from0");
  EXPECT_EQ(f.decision.policy, "NetworkPolicy x/web");
  EXPECT_EQ(f.decision.path, "spec.ingress[0].from[0]");
  EXPECT_EQ(f.decision.source, peerLine);
  EXPECT_EQ(renderExpectationsText(results),
            "PASS client reaches web\n"
            "FAIL client cannot reach web\n"
            "  x/client -> x/web 8080/TCP: allow (expected deny) — allowed by np.x.web.ingress0.from0 "
            "(NetworkPolicy x/web spec.ingress[0].from[0]) @ " + peerLine + "\n"
            "2 expectations, 1 failed\n");
  auto json = nlohmann::json::parse(renderExpectationsJson(results));
  const auto& failing = json.at("expectations").at(1);
  EXPECT_EQ(failing.at("name"), "client cannot reach web");
  EXPECT_EQ(failing.at("expect"), "deny");
  EXPECT_EQ(failing.at("passed"), false);
  EXPECT_EQ(failing.at("flows_checked"), 2);
  EXPECT_EQ(failing.at("failures").at(0).at("port"), 8080);
  EXPECT_EQ(failing.at("failures").at(0).at("protocol"), "TCP");
  EXPECT_EQ(failing.at("failures").at(0).at("verdict"), "allow");
  EXPECT_EQ(failing.at("failures").at(0).at("decision").at("source"), peerLine);
}

// db admits namespace x on 5000-5010 only: `ports: any` probes 1, 5000 and
// 5011 over TCP (and 1 over UDP and SCTP) and finds exactly 5000 open.
TEST_F(KernelChecks, AnyPortFindsThePortARangeRuleOpens) {
  auto results = check("expectations:\n"
                       "- name: nothing from x reaches db\n"
                       "  from: {namespace: x}\n"
                       "  to: {namespace: y, pod: db}\n"
                       "  ports: any\n"
                       "  expect: deny\n"
                       "- name: nothing from y reaches db\n"
                       "  from: {namespace: y}\n"
                       "  to: {namespace: y, pod: db}\n"
                       "  ports: any\n"
                       "  expect: deny\n");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_FALSE(results[0].passed());
  EXPECT_EQ(results[0].flowsChecked, 10u);  // 2 sources x 5 probes
  std::vector<std::string> open;
  for (const auto& f : results[0].failures) {
    open.push_back(f.from + " " + f.probe.str());
    EXPECT_EQ(f.decision.rule, "np.y.db.ingress0.from0");
  }
  EXPECT_EQ(open, (std::vector<std::string>{"x/client 5000/TCP", "x/web 5000/TCP"}));
  EXPECT_TRUE(results[1].passed()) << renderExpectationsText(results);
  EXPECT_EQ(results[1].flowsChecked, 5u);  // y/other only: db to itself is skipped
}

TEST_F(KernelChecks, AServiceByItsClusterIp) {
  auto results = check("expectations:\n"
                       "- name: client uses web\n"
                       "  from: {selector: \"app=client\"}\n"
                       "  to: {service: x/web}\n"
                       "  expect: allow\n"
                       "- name: y cannot use web\n"
                       "  from: {namespace: y}\n"
                       "  to: {service: x/web}\n"
                       "  expect: deny\n"
                       "- name: y can use web\n"
                       "  from: {namespace: y, pod: other}\n"
                       "  to: {service: x/web}\n"
                       "  ports: [80/TCP]\n"
                       "  expect: allow\n");
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].passed()) << renderExpectationsText(results);
  EXPECT_EQ(results[0].flowsChecked, 1u);
  EXPECT_TRUE(results[1].passed()) << renderExpectationsText(results);
  EXPECT_EQ(results[1].flowsChecked, 2u);
  ASSERT_EQ(results[2].failures.size(), 1u);
  const Flow& f = results[2].failures[0];
  EXPECT_EQ(f.to, "svc/x/web");
  EXPECT_EQ(f.backendPod, "x/web");
  EXPECT_EQ(describeFailure(f, Verdict::Allow),
            "y/other -> svc/x/web (backend x/web) 80/TCP: deny (expected allow) — to-pod: denied: its ingress is "
            "isolated and no rule allows this");
}

}  // namespace
}  // namespace sluice::review
