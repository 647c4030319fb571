// `sluice agent --kubeconfig`: the agent fed by a (fake) Kubernetes API
// server that runs in the node's network namespace, on loopback, with real
// traffic judging what it enforces — through watch events, a 410 Gone that
// forces a relist, dropped watch connections and failing requests.
#include <fmt/format.h>

#include "tests/agent/agent_fixture.h"
#include "tests/agent/kube/fake_apiserver.h"

namespace sluice::agent_testing {
namespace {

using kernel_testing::TcpResult;
using kube::testing::FakeApiServer;

std::string nodeJson(const std::string& name, const std::string& ip) {
  return fmt::format(R"({{"metadata":{{"name":"{}"}},"status":{{"addresses":[{{"type":"InternalIP","address":"{}"}}]}}}})",
                     name, ip);
}
std::string namespaceJson(const std::string& name) {
  return fmt::format(R"({{"metadata":{{"name":"{0}","labels":{{"ns":"{0}"}}}}}})", name);
}
std::string podJson(const std::string& ns, const std::string& name, const std::string& node, const std::string& ip,
                    const std::string& app) {
  return fmt::format(R"({{"metadata":{{"name":"{}","namespace":"{}","labels":{{"app":"{}"}}}},)"
                     R"("spec":{{"nodeName":"{}","containers":[{{"name":"main"}}]}},)"
                     R"("status":{{"phase":"Running","podIP":"{}"}}}})",
                     name, ns, app, node, ip);
}
// x/b admits x/a on these TCP ports only.
std::string bIngressJson(const std::vector<int>& ports) {
  std::string list;
  for (int p : ports) list += fmt::format(R"({}{{"protocol":"TCP","port":{}}})", list.empty() ? "" : ",", p);
  return fmt::format(R"({{"metadata":{{"name":"b-ingress","namespace":"x"}},"spec":{{"podSelector":{{"matchLabels":)"
                     R"({{"app":"b"}}}},"policyTypes":["Ingress"],"ingress":[{{"from":[{{"podSelector":{{"matchLabels":)"
                     R"({{"app":"a"}}}}}}],"ports":[{}]}}]}}}})",
                     list);
}

class AgentApi : public AgentCluster {
 protected:
  void SetUp() override {
    AgentCluster::SetUp();
    // The API server listens on the node's loopback: create it in that namespace.
    cluster_.runInNode("node-1", [&] { api_ = std::make_unique<FakeApiServer>(); });
    api_->put("Node", nodeJson("node-1", "192.168.77.1"));
    api_->put("Node", nodeJson("node-2", "192.168.77.2"));
    api_->put("Namespace", namespaceJson("x"));
    api_->put("Namespace", namespaceJson("y"));
    api_->put("Pod", podJson("x", "a", "node-1", "10.77.1.10", "a"));
    api_->put("Pod", podJson("x", "b", "node-1", "10.77.1.11", "b"));
    api_->put("Pod", podJson("y", "c", "node-2", "10.77.2.10", "c"));
    kubeconfig_ = (dir_ / ".kubeconfig").string();
    api_->writeKubeconfig(kubeconfig_);
  }
  void TearDown() override {
    agents_.clear();  // before the server they talk to
    api_.reset();
    AgentCluster::TearDown();
  }
  agent::AgentOptions apiOptions() {
    agent::AgentOptions o = options("node-1");
    o.watchDir.clear();
    o.kubeconfig = kubeconfig_;
    return o;
  }

  std::unique_ptr<FakeApiServer> api_;
  std::string kubeconfig_;
};

TEST_F(AgentApi, FollowsWatchEventsRelistsAndReconnects) {
  auto b80 = kernel_testing::tcpListen(cluster_, "b", 80);
  auto b81 = kernel_testing::tcpListen(cluster_, "b", 81);
  AgentThread& n1 = startAgent("node-1", apiOptions());
  ASSERT_TRUE(n1.waitForGeneration(1));
  EXPECT_EQ(n1.status().endpoints.size(), 2u);
  EXPECT_EQ(connect("a", "b", 80), TcpResult::Connected);
  EXPECT_EQ(connect("a", "b", 81), TcpResult::Connected);

  // A watch event: the policy appears.
  api_->put("NetworkPolicy", bIngressJson({80}));
  ASSERT_TRUE(n1.waitForGeneration(2));
  EXPECT_EQ(connect("a", "b", 80), TcpResult::Connected);
  EXPECT_EQ(connect("a", "b", 81), TcpResult::TimedOut);

  // The watch history expires and the connections drop: the agent's watches
  // come back with 410 Gone and relist; the change made meanwhile arrives.
  size_t listsBefore = api_->count("NetworkPolicy", "list");
  api_->put("Namespace", namespaceJson("z"));  // the history moves past the policy watch's version
  api_->expireHistory();
  api_->dropWatches();
  api_->put("NetworkPolicy", bIngressJson({81}));
  ASSERT_TRUE(n1.waitForGeneration(3));
  EXPECT_GT(api_->count("NetworkPolicy", "list"), listsBefore) << "no relist after 410";
  EXPECT_EQ(connect("a", "b", 80), TcpResult::TimedOut);
  EXPECT_EQ(connect("a", "b", 81), TcpResult::Connected);

  // Failing requests and a dropped connection: the agent backs off, resumes,
  // and a deletion made meanwhile is enforced (b is no longer isolated).
  api_->failNext("NetworkPolicy", 500, 2);
  api_->dropWatches();
  api_->remove("NetworkPolicy", "x", "b-ingress");
  ASSERT_TRUE(n1.waitForGeneration(4));
  EXPECT_EQ(connect("a", "b", 80), TcpResult::Connected);

  // A pod of another node moving to an existing identity: maps only.
  uint64_t reconciles = n1.status().reconciles;
  api_->put("Pod", podJson("y", "c", "node-2", "10.77.2.10", "a"));
  ASSERT_TRUE(n1.waitForReconcileAfter(reconciles));
  EXPECT_EQ(n1.status().last.result, "maps-updated");
}

TEST_F(AgentApi, NothingIsEnforcedBeforeEveryResourceWasListed) {
  // NetworkPolicies cannot be listed yet: a pod without its policies would be
  // a hole, so the agent waits.
  api_->put("NetworkPolicy", bIngressJson({80}));
  api_->failNext("NetworkPolicy", 503, 1000000);
  AgentThread& n1 = startAgent("node-1", apiOptions());
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(n1.status().generation, 0u);
  EXPECT_EQ(attachedProgram("b", runtime::TcHook::Egress), 0);
  api_->failNext("NetworkPolicy", 0, 0);
  ASSERT_TRUE(n1.waitForGeneration(1, 30s));
  auto b81 = kernel_testing::tcpListen(cluster_, "b", 81);
  EXPECT_EQ(connect("a", "b", 81), TcpResult::TimedOut) << "the policy listed late must be in force";
}

TEST_F(AgentApi, ABadKubeconfigIsRefusedWithItsLocation) {
  std::ofstream(kubeconfig_) << "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                                 "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                                 "users: [{name: u, user: {}}]\n"
                                 "clusters: [{name: k, cluster: {certificate-authority-data: 7}}]\n";
  agent::AgentOptions o = apiOptions();
  std::string logged;
  o.log = [&](const std::string& line) { logged += line + "\n"; };
  agent::NodeAgent a(o);
  EXPECT_EQ(a.run(), 2);
  EXPECT_NE(logged.find(kubeconfig_ + ":6:"), std::string::npos) << logged;
}

}  // namespace
}  // namespace sluice::agent_testing
