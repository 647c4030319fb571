// ClusterWatch over HTTPS: the cluster's CA, the client certificate, a wrong
// CA refused, insecure-skip-tls-verify.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "agent/kube/kube_watch.h"
#include "tests/agent/kube/fake_apiserver.h"

namespace sluice::kube {
namespace {

using namespace std::chrono_literals;
using testing::FakeApiServer;

const char* kPod = R"({"metadata":{"name":"a","namespace":"prod"},"spec":{"nodeName":"node-1"}})";

template <class F>
bool waitFor(F condition, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return condition();
}

KubeConfig configOf(const FakeApiServer& server) {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("sluice-kube-tls-" + std::to_string(getpid()) + "-" + std::to_string(server.port())))
                         .string();
  server.writeKubeconfig(path);
  std::string error;
  auto config = KubeConfig::load(path, error);
  std::filesystem::remove(path);
  if (!config) ADD_FAILURE() << error;
  return config.value_or(KubeConfig{});
}

ClusterWatch::Options podsOnly() {
  ClusterWatch::Options o;
  o.backoffInitial = 20ms;
  o.backoffMax = 200ms;
  o.kinds = {"Pod"};
  return o;
}

TEST(KubeTlsTest, CaAndClientCertificateFromTheKubeconfig) {
  FakeApiServer server(/*tls=*/true);
  server.put("Pod", kPod);
  KubeConfig config = configOf(server);
  EXPECT_EQ(config.server.rfind("https://", 0), 0u);
  EXPECT_NE(config.caPem, "");
  EXPECT_NE(config.clientCertPem, "");
  ClusterWatch watch(config, podsOnly());
  watch.start(nullptr);
  ASSERT_TRUE(waitFor([&] { return watch.snapshot().count("Pod/prod/a") > 0; }))
      << watch.status()[0].lastError;
  EXPECT_EQ(watch.status()[0].errors, 0u);
  // Events arrive over TLS too.
  server.put("Pod", R"({"metadata":{"name":"b","namespace":"prod"}})");
  EXPECT_TRUE(waitFor([&] { return watch.snapshot().count("Pod/prod/b") > 0; }));
}

TEST(KubeTlsTest, AServerNotSignedByTheGivenCaIsRefused) {
  FakeApiServer server(true), other(true);
  KubeConfig config = configOf(server);
  config.caPem = other.pki()->caCertPem;
  ClusterWatch watch(config, podsOnly());
  watch.start(nullptr);
  ASSERT_TRUE(waitFor([&] { return watch.status()[0].errors >= 2; }));
  EXPECT_FALSE(watch.synced());
  EXPECT_NE(watch.status()[0].lastError.find("certificate is not trusted"), std::string::npos) << watch.status()[0].lastError;
  EXPECT_EQ(server.count("Pod", "list"), 0u);  // never got as far as a request
}

TEST(KubeTlsTest, InsecureSkipsServerVerification) {
  FakeApiServer server(true);
  server.put("Pod", kPod);
  KubeConfig config = configOf(server);
  config.caPem.clear();
  config.insecureSkipTlsVerify = true;
  ClusterWatch watch(config, podsOnly());
  watch.start(nullptr);
  EXPECT_TRUE(waitFor([&] { return watch.snapshot().count("Pod/prod/a") > 0; }))
      << watch.status()[0].lastError;
}

TEST(KubeTlsTest, WithoutAClientCertificateTheServerRefuses) {
  FakeApiServer server(true);
  KubeConfig config = configOf(server);
  config.clientCertPem.clear();
  config.clientKeyPem.clear();
  ClusterWatch watch(config, podsOnly());
  watch.start(nullptr);
  ASSERT_TRUE(waitFor([&] { return watch.status()[0].errors >= 2; }));
  EXPECT_FALSE(watch.synced());
}

TEST(KubeTlsTest, UnreadableKeyIsAnErrorAtStart) {
  FakeApiServer server(true);
  KubeConfig config = configOf(server);
  config.clientKeyPem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  ClusterWatch watch(config, podsOnly());
  EXPECT_THROW(watch.start(nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::kube
