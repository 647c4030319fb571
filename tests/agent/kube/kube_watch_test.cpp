// ClusterWatch against the fake API server: list paging, watch events,
// bookmarks, dropped and expired watches, errors, missing CRDs, auth, stop.
// Waits poll with deadlines; no test assumes how fast the machine is.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/kube/kube_watch.h"
#include "tests/agent/kube/fake_apiserver.h"

namespace sluice::kube {
namespace {

using namespace std::chrono_literals;
using testing::FakeApiServer;

std::string pod(const std::string& ns, const std::string& name, const std::string& app = "web") {
  nlohmann::json p = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", app}}}}},
      {"spec", {{"nodeName", "node-1"}, {"containers", {{{"name", "c"}, {"image", "nginx"}}}}}},
      {"status", {{"podIP", "10.0.0.7"}, {"phase", "Running"}}}};
  return p.dump();
}

// A minimal object of any kind; ns empty for cluster-scoped kinds.
std::string named(const std::string& ns, const std::string& name) {
  nlohmann::json o = {{"metadata", {{"name", name}}}};
  if (!ns.empty()) o["metadata"]["namespace"] = ns;
  return o.dump();
}

class KubeWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice-kube-" + std::to_string(getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    kubeconfig_ = (dir_ / "kubeconfig").string();
    server_.writeKubeconfig(kubeconfig_);
  }
  void TearDown() override {
    if (watch_) watch_->stop();
    std::filesystem::remove_all(dir_);
  }

  ClusterWatch::Options options() {
    ClusterWatch::Options o;
    o.backoffInitial = 20ms;
    o.backoffMax = 200ms;
    o.watchTimeoutSeconds = 60;
    o.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(logMu_);
      log_.push_back(line);
    };
    return o;
  }

  void start(ClusterWatch::Options o) {
    std::string error;
    auto config = KubeConfig::load(kubeconfig_, error);
    ASSERT_TRUE(config) << error;
    watch_ = std::make_unique<ClusterWatch>(*config, std::move(o));
    watch_->start([this] { onChangeCalls_++; });
  }
  void start() { start(options()); }

  template <class F>
  bool waitFor(F condition, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(2ms);
    }
    return condition();
  }

  bool has(const std::string& key) { return watch_->snapshot().count(key) > 0; }
  std::string text(const std::string& key) {
    auto snap = watch_->snapshot();
    auto it = snap.find(key);
    return it == snap.end() ? "" : *it->second;
  }
  ResourceStatus status(const std::string& kind) {
    for (const ResourceStatus& s : watch_->status())
      if (s.kind == kind) return s;
    ADD_FAILURE() << "no status for " << kind;
    return {};
  }
  // Whether a line containing `part` is logged (waiting for it: a line is
  // logged just after the state change a test waits for).
  bool logged(const std::string& part) {
    return waitFor([&] {
      std::lock_guard<std::mutex> lock(logMu_);
      for (const std::string& line : log_)
        if (line.find(part) != std::string::npos) return true;
      return false;
    });
  }
  std::string allLog() {
    std::lock_guard<std::mutex> lock(logMu_);
    std::string out;
    for (const std::string& line : log_) out += line + "\n";
    return out;
  }
  // Waits until the resource's watch is open on the server (after a list).
  bool watching(const std::string& kind) {
    return waitFor([&] { return server_.openWatches(kind) == 1; });
  }

  FakeApiServer server_;
  std::filesystem::path dir_;
  std::string kubeconfig_;
  std::unique_ptr<ClusterWatch> watch_;
  std::atomic<int> onChangeCalls_{0};
  std::mutex logMu_;
  std::vector<std::string> log_;
};

TEST_F(KubeWatchTest, InitialListIsPagedAndFillsInApiVersionAndKind) {
  for (int i = 0; i < 7; ++i) server_.put("Pod", pod("prod", "web-" + std::to_string(i)));
  server_.put("Namespace", named("", "prod"));
  server_.put("CiliumClusterwideNetworkPolicy", named("", "deny-all"));
  auto o = options();
  o.pageSize = 3;
  start(o);
  ASSERT_TRUE(waitFor([&] { return watch_->synced(); })) << allLog();

  auto snap = watch_->snapshot();
  EXPECT_EQ(snap.size(), 9u);
  ASSERT_TRUE(snap.count("Pod/prod/web-0"));
  ASSERT_TRUE(snap.count("Namespace//prod"));
  ASSERT_TRUE(snap.count("CiliumClusterwideNetworkPolicy//deny-all"));
  auto p = nlohmann::json::parse(*snap["Pod/prod/web-3"]);
  EXPECT_EQ(p["apiVersion"], "v1");
  EXPECT_EQ(p["kind"], "Pod");
  EXPECT_EQ(p["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(p["status"]["podIP"], "10.0.0.7");
  auto ccnp = nlohmann::json::parse(*snap["CiliumClusterwideNetworkPolicy//deny-all"]);
  EXPECT_EQ(ccnp["apiVersion"], "cilium.io/v2");
  EXPECT_EQ(ccnp["kind"], "CiliumClusterwideNetworkPolicy");

  // Three pages of 3, 3 and 1, the later ones continuing the first.
  std::vector<FakeApiServer::Request> lists;
  for (const auto& r : server_.requests())
    if (r.kind == "Pod" && r.verb == "list") lists.push_back(r);
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_EQ(lists[0].limit, "3");
  EXPECT_EQ(lists[0].continueToken, "");
  EXPECT_NE(lists[1].continueToken, "");
  EXPECT_NE(lists[2].continueToken, lists[1].continueToken);

  // The watch starts from the list's resourceVersion, with bookmarks.
  ASSERT_TRUE(watching("Pod"));
  ResourceStatus s = status("Pod");
  EXPECT_TRUE(s.listed);
  EXPECT_EQ(s.relists, 0u);
  EXPECT_EQ(s.errors, 0u);
  for (const auto& r : server_.requests())
    if (r.kind == "Pod" && r.verb == "watch") {
      EXPECT_EQ(r.resourceVersion, s.resourceVersion);
      EXPECT_TRUE(r.allowWatchBookmarks);
      EXPECT_EQ(r.timeoutSeconds, "60");
    }
  EXPECT_TRUE(logged("kube: Pod: listed 7 objects in 3 page(s)")) << allLog();
  EXPECT_GE(watch_->changes(), 9u);  // one per list, nine resources
  EXPECT_GE(onChangeCalls_.load(), 9);
}

TEST_F(KubeWatchTest, WatchEventsAddModifyAndDelete) {
  start();
  ASSERT_TRUE(waitFor([&] { return watch_->synced(); }));
  ASSERT_TRUE(watching("Pod"));
  uint64_t before = watch_->changes();

  uint64_t added = server_.put("Pod", pod("prod", "a", "web"));
  ASSERT_TRUE(waitFor([&] { return has("Pod/prod/a"); }));
  EXPECT_EQ(nlohmann::json::parse(text("Pod/prod/a"))["metadata"]["resourceVersion"], std::to_string(added));

  server_.put("Pod", pod("prod", "a", "db"));
  ASSERT_TRUE(waitFor([&] { return text("Pod/prod/a").find("\"db\"") != std::string::npos; }));

  server_.remove("Pod", "prod", "a");
  ASSERT_TRUE(waitFor([&] { return !has("Pod/prod/a"); }));

  EXPECT_EQ(watch_->changes(), before + 3);
  ResourceStatus s = status("Pod");
  EXPECT_EQ(s.events, 3u);
  EXPECT_EQ(s.resourceVersion, std::to_string(server_.resourceVersion()));
  EXPECT_EQ(server_.count("Pod", "list"), 1u);
}

TEST_F(KubeWatchTest, BookmarkMovesTheVersionOnly) {
  server_.put("Pod", pod("prod", "a"));
  start();
  ASSERT_TRUE(waitFor([&] { return watch_->synced(); }));
  ASSERT_TRUE(watching("Pod"));
  // Other kinds move the global resourceVersion past the pods' one.
  server_.put("Namespace", named("", "prod"));
  ASSERT_TRUE(waitFor([&] { return has("Namespace//prod"); }));
  std::string podVersion = status("Pod").resourceVersion;
  auto before = watch_->snapshot();
  uint64_t changesBefore = watch_->changes();

  server_.sendBookmarks();
  std::string expected = std::to_string(server_.resourceVersion());
  ASSERT_NE(podVersion, expected);
  ASSERT_TRUE(waitFor([&] { return status("Pod").resourceVersion == expected; }));
  EXPECT_EQ(watch_->changes(), changesBefore);
  auto after = watch_->snapshot();
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [key, json] : before) EXPECT_EQ(*after[key], *json) << key;
  EXPECT_GE(status("Pod").events, 1u);
}

TEST_F(KubeWatchTest, DroppedWatchResumesFromLastVersionWithoutRelist) {
  start();
  ASSERT_TRUE(waitFor([&] { return watch_->synced(); }));
  ASSERT_TRUE(watching("Pod"));
  uint64_t seen = server_.put("Pod", pod("prod", "a"));
  ASSERT_TRUE(waitFor([&] { return has("Pod/prod/a"); }));

  // Keep the client off while an event happens, so it can only get it by
  // resuming from the version it had.
  server_.failNext("Pod", 503, 1000);
  server_.dropWatches();
  ASSERT_TRUE(waitFor([&] { return status("Pod").errors >= 1; }));
  server_.put("Pod", pod("prod", "b"));
  server_.remove("Pod", "prod", "a");
  server_.failNext("Pod", 503, 0);

  ASSERT_TRUE(waitFor([&] { return has("Pod/prod/b") && !has("Pod/prod/a"); })) << allLog();
  EXPECT_EQ(server_.count("Pod", "list"), 1u);
  EXPECT_EQ(status("Pod").relists, 0u);
  EXPECT_GE(status("Pod").watchRestarts, 1u);
  // Every watch after the first resumed from the version of "a".
  bool first = true;
  for (const auto& r : server_.requests()) {
    if (r.kind != "Pod" || r.verb != "watch") continue;
    if (!first) {
      EXPECT_EQ(r.resourceVersion, std::to_string(seen));
    }
    first = false;
  }
  EXPECT_TRUE(logged("kube: Pod: watch dropped")) << allLog();
  EXPECT_TRUE(logged("kube: Pod: resuming watch from resourceVersion " + std::to_string(seen))) << allLog();
}

class KubeWatchGoneTest : public KubeWatchTest,
                          public ::testing::WithParamInterface<FakeApiServer::GoneStyle> {};

TEST_P(KubeWatchGoneTest, RelistsAndDropsObjectsDeletedMeanwhile) {
  server_.put("Pod", pod("prod", "a"));
  server_.put("Pod", pod("prod", "b"));
  start();
  ASSERT_TRUE(waitFor([&] { return watch_->synced() && has("Pod/prod/b"); }));
  ASSERT_TRUE(watching("Pod"));
  std::shared_ptr<const std::string> bBefore = watch_->snapshot()["Pod/prod/b"];

  server_.failNext("Pod", 503, 1000);
  server_.dropWatches();
  ASSERT_TRUE(waitFor([&] { return status("Pod").errors >= 1; }));
  server_.remove("Pod", "prod", "a");  // a DELETED event the client will never see
  server_.put("Pod", pod("prod", "c"));
  server_.expireHistory(GetParam());
  server_.failNext("Pod", 503, 0);

  ASSERT_TRUE(waitFor([&] { return status("Pod").relists == 1; })) << allLog();
  auto snap = watch_->snapshot();
  EXPECT_FALSE(snap.count("Pod/prod/a"));
  EXPECT_TRUE(snap.count("Pod/prod/b"));
  EXPECT_TRUE(snap.count("Pod/prod/c"));
  // Unchanged by the relist: the same text object, so a consumer comparing
  // pointers does not re-parse it.
  EXPECT_EQ(snap["Pod/prod/b"], bBefore);
  EXPECT_EQ(server_.count("Pod", "list"), 2u);
  EXPECT_TRUE(logged("the resourceVersion is too old; relisting")) << allLog();
  EXPECT_TRUE(logged("kube: Pod: relisted 2 objects")) << allLog();
  // And it watches again from the new list.
  ASSERT_TRUE(watching("Pod"));
  server_.put("Pod", pod("prod", "d"));
  EXPECT_TRUE(waitFor([&] { return has("Pod/prod/d"); }));
}

INSTANTIATE_TEST_SUITE_P(Styles, KubeWatchGoneTest,
                         ::testing::Values(FakeApiServer::GoneStyle::ErrorEvent,
                                           FakeApiServer::GoneStyle::HttpStatus),
                         [](const auto& info) {
                           return info.param == FakeApiServer::GoneStyle::ErrorEvent ? "ErrorEvent"
                                                                                     : "HttpStatus";
                         });

TEST_F(KubeWatchTest, ServerErrorsBackOffExponentiallyAndRecover) {
  server_.put("Pod", pod("prod", "a"));
  server_.failNext("Pod", 500, 4);
  auto t0 = std::chrono::steady_clock::now();
  start();
  ASSERT_TRUE(waitFor([&] { return has("Pod/prod/a"); })) << allLog();
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ResourceStatus s = status("Pod");
  EXPECT_EQ(s.errors, 4u);
  EXPECT_NE(s.lastError.find("HTTP 500"), std::string::npos) << s.lastError;
  EXPECT_EQ(server_.count("Pod", "list"), 5u);
  // At least 20 + 40 + 80 + 160 ms of back-off (more with jitter or a slow machine).
  EXPECT_GE(elapsed, 300ms);
  EXPECT_TRUE(logged("kube: Pod: list: HTTP 500")) << allLog();

  // Errors on the watch resume it, without a relist.
  ASSERT_TRUE(watching("Pod"));
  server_.failNext("Pod", 500, 2);
  server_.dropWatches();
  server_.put("Pod", pod("prod", "b"));
  ASSERT_TRUE(waitFor([&] { return has("Pod/prod/b"); })) << allLog();
  EXPECT_EQ(status("Pod").errors, 7u);  // the drop, then two 500s
  EXPECT_EQ(server_.count("Pod", "list"), 5u);
}

TEST_F(KubeWatchTest, MissingCrdDoesNotBlockSyncAndIsPickedUpLater) {
  server_.setUnavailable("CiliumNetworkPolicy");
  server_.setUnavailable("CiliumClusterwideNetworkPolicy");
  start();
  ASSERT_TRUE(waitFor([&] { return watch_->synced(); })) << allLog();
  ResourceStatus s = status("CiliumNetworkPolicy");
  EXPECT_FALSE(s.available);
  EXPECT_FALSE(s.listed);
  EXPECT_TRUE(logged("kube: CiliumNetworkPolicy: not served (list: HTTP 404")) << allLog();

  // The CRD gets installed and a policy created: retried at backoffMax.
  server_.setUnavailable("CiliumNetworkPolicy", false);
  server_.put("CiliumNetworkPolicy", named("prod", "allow-dns"));
  ASSERT_TRUE(waitFor([&] { return has("CiliumNetworkPolicy/prod/allow-dns"); })) << allLog();
  s = status("CiliumNetworkPolicy");
  EXPECT_TRUE(s.available);
  EXPECT_TRUE(s.listed);
  EXPECT_TRUE(logged("kube: CiliumNetworkPolicy: served again; listed 1 objects")) << allLog();
  auto cnp = nlohmann::json::parse(text("CiliumNetworkPolicy/prod/allow-dns"));
  EXPECT_EQ(cnp["apiVersion"], "cilium.io/v2");

  // The CRD is removed again: its objects go.
  ASSERT_TRUE(watching("CiliumNetworkPolicy"));
  server_.setUnavailable("CiliumNetworkPolicy");
  server_.dropWatches();
  ASSERT_TRUE(waitFor([&] { return !has("CiliumNetworkPolicy/prod/allow-dns"); })) << allLog();
  EXPECT_FALSE(status("CiliumNetworkPolicy").available);
  EXPECT_TRUE(watch_->synced());
}

TEST_F(KubeWatchTest, StopIsPromptWhileWatching) {
  start();
  ASSERT_TRUE(waitFor([&] { return watch_->synced(); }));
  for (const std::string& kind : ClusterWatch::allKinds()) ASSERT_TRUE(watching(kind)) << kind;
  auto t0 = std::chrono::steady_clock::now();
  watch_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_TRUE(waitFor([&] { return server_.openWatches("Pod") == 0; }));
}

TEST_F(KubeWatchTest, StopIsPromptDuringBackoff) {
  server_.failNext("Pod", 500, 1000000);
  auto o = options();
  o.backoffInitial = 5s;
  o.backoffMax = 30s;
  start(o);
  ASSERT_TRUE(waitFor([&] { return status("Pod").errors >= 1; }));
  auto t0 = std::chrono::steady_clock::now();
  watch_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST_F(KubeWatchTest, SendsTheBearerToken) {
  server_.requireToken("s3cret");
  server_.put("Pod", pod("prod", "a"));
  {
    start();  // kubeconfig without a token
    ASSERT_TRUE(waitFor([&] { return status("Pod").errors >= 1; }));
    EXPECT_NE(status("Pod").lastError.find("HTTP 401"), std::string::npos);
    EXPECT_FALSE(watch_->synced());
    watch_->stop();
  }
  server_.writeKubeconfig(kubeconfig_, "s3cret");
  start();
  ASSERT_TRUE(waitFor([&] { return has("Pod/prod/a"); })) << allLog();
  EXPECT_EQ(status("Pod").errors, 0u);
}

TEST_F(KubeWatchTest, RereadsTheTokenFileAfterA401) {
  std::string tokenFile = (dir_ / "token").string();
  std::ofstream(tokenFile) << "one\n";
  std::ofstream(kubeconfig_) << "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                             << "clusters:\n- name: c\n  cluster: {server: '" << server_.url() << "'}\n"
                             << "contexts:\n- name: c\n  context: {cluster: c, user: u}\n"
                             << "users:\n- name: u\n  user: {tokenFile: token}\n";
  server_.requireToken("one");
  start();
  ASSERT_TRUE(waitFor([&] { return watch_->synced(); })) << allLog();
  ASSERT_TRUE(watching("Pod"));

  // The token rotates: the server takes only the new one, the file has it.
  server_.requireToken("two");
  std::ofstream(tokenFile) << "two\n";
  server_.dropWatches();
  server_.put("Pod", pod("prod", "a"));
  ASSERT_TRUE(waitFor([&] { return has("Pod/prod/a"); })) << allLog();
  EXPECT_NE(status("Pod").lastError.find("HTTP 401"), std::string::npos);
  EXPECT_TRUE(logged("kube: Pod: bearer token re-read from"));
  EXPECT_EQ(server_.count("Pod", "list"), 1u);
}

TEST_F(KubeWatchTest, OnlyTheKindsAskedFor) {
  auto o = options();
  o.kinds = {"Pod", "NetworkPolicy"};
  start(o);
  ASSERT_TRUE(waitFor([&] { return watch_->synced(); }));
  EXPECT_EQ(watch_->status().size(), 2u);
  EXPECT_EQ(server_.count("Node", "list"), 0u);
  o.kinds = {"Pods"};
  KubeConfig config;
  config.server = server_.url();
  ClusterWatch bad(config, o);
  EXPECT_THROW(bad.start(nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::kube
