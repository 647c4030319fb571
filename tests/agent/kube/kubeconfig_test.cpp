// KubeConfig::load: the current context's cluster and user, and errors that
// point at the file, line and column.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/kube/kube_watch.h"

namespace sluice::kube {
namespace {

const char* kCa = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
// base64 of kCa
const char* kCaBase64 = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJmYWtlCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";

class KubeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice-kubeconfig-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  // A kubeconfig with two contexts; `cluster` and `user` are the bodies of
  // the current one's cluster and user mappings (indented by 4).
  std::string config(const std::string& cluster, const std::string& user) {
    return write("config",
                 "apiVersion: v1\n"
                 "kind: Config\n"
                 "current-context: prod\n"
                 "contexts:\n"
                 "- name: other\n"
                 "  context: {cluster: other, user: other}\n"
                 "- name: prod\n"
                 "  context:\n"
                 "    cluster: prod-cluster\n"
                 "    user: prod-user\n"
                 "clusters:\n"
                 "- name: other\n"
                 "  cluster: {server: 'https://192.0.2.1'}\n"
                 "- name: prod-cluster\n"
                 "  cluster:\n" +
                     cluster +
                     "users:\n"
                     "- name: prod-user\n"
                     "  user:\n" +
                     user);
  }
  std::string error_;
  std::filesystem::path dir_;
};

TEST_F(KubeConfigTest, TokenAndCertificateAuthorityData) {
  auto c = KubeConfig::load(config("    server: https://10.0.0.1:6443\n"
                                   "    certificate-authority-data: " + std::string(kCaBase64) + "\n",
                                   "    token: abc.def\n"),
                            error_);
  ASSERT_TRUE(c) << error_;
  EXPECT_EQ(c->server, "https://10.0.0.1:6443");
  EXPECT_EQ(c->caPem, kCa);
  EXPECT_FALSE(c->insecureSkipTlsVerify);
  EXPECT_EQ(c->bearerToken, "abc.def");
  EXPECT_EQ(c->clientCertPem, "");
}

TEST_F(KubeConfigTest, TokenFileAndCaFileRelativeToTheKubeconfig) {
  write("token", "from-file\n");
  write("ca.crt", kCa);
  auto c = KubeConfig::load(config("    server: https://k8s.example:6443\n"
                                   "    certificate-authority: ca.crt\n",
                                   "    tokenFile: token\n"),
                            error_);
  ASSERT_TRUE(c) << error_;
  EXPECT_EQ(c->bearerToken, "from-file");  // the trailing newline trimmed
  EXPECT_EQ(c->tokenFile, (dir_ / "token").string());  // re-read by ClusterWatch
  EXPECT_EQ(c->caPem, kCa);
}

TEST_F(KubeConfigTest, ClientCertificateDataAndInsecure) {
  std::string key = "-----BEGIN PRIVATE KEY-----\nMIIfake\n-----END PRIVATE KEY-----\n";
  write("client.key", key);
  auto c = KubeConfig::load(config("    server: https://10.0.0.1\n"
                                   "    insecure-skip-tls-verify: true\n",
                                   "    client-certificate-data: " + std::string(kCaBase64) + "\n"
                                   "    client-key: " + (dir_ / "client.key").string() + "\n"),
                            error_);
  ASSERT_TRUE(c) << error_;
  EXPECT_TRUE(c->insecureSkipTlsVerify);
  EXPECT_EQ(c->clientCertPem, kCa);
  EXPECT_EQ(c->clientKeyPem, key);
  EXPECT_EQ(c->bearerToken, "");
}

TEST_F(KubeConfigTest, ErrorsNameFileLineAndColumn) {
  std::string path;
  auto expectError = [&](const std::string& cluster, const std::string& user, const std::string& expected) {
    path = config(cluster, user);
    auto c = KubeConfig::load(path, error_);
    EXPECT_FALSE(c);
    EXPECT_EQ(error_, path + ":" + expected);
  };
  // The user's `exec` value is on line 20, column 11.
  expectError("    server: https://10.0.0.1\n", "    exec: {command: aws}\n",
              "20:11: user \"prod-user\": exec is not supported by sluice's client; use a token, tokenFile or a "
              "client certificate");
  expectError("    server: https://10.0.0.1\n    certificate-authority-data: 'abc$'\n", "    token: t\n",
              "17:33: certificate-authority-data: not base64 (character '$')");
  expectError("    server: 10.0.0.1\n", "    token: t\n",
              "16:13: server \"10.0.0.1\": expected https://host[:port] or http://host[:port]");
  expectError("    insecure: true\n", "    token: t\n", "16:5: cluster \"prod-cluster\": no \"server\"");
  expectError("    server: https://10.0.0.1\n    insecure-skip-tls-verify: true\n    certificate-authority-data: " +
                  std::string(kCaBase64) + "\n",
              "    token: t\n",
              "17:31: insecure-skip-tls-verify together with a certificate authority (kubectl refuses it too)");
  expectError("    server: https://10.0.0.1\n", "    tokenFile: missing-token\n",
              "20:16: tokenFile \"" + (dir_ / "missing-token").string() + "\": cannot read: No such file or directory");
  expectError("    server: https://10.0.0.1\n", "    client-certificate-data: " + std::string(kCaBase64) + "\n",
              "20:5: user \"prod-user\": client-certificate and client-key must be given together");
}

TEST_F(KubeConfigTest, MissingContextAndSyntaxErrors) {
  std::string path = write("a", "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\ncontexts: []\n");
  EXPECT_FALSE(KubeConfig::load(path, error_));
  EXPECT_EQ(error_, path + ":3:18: context \"nowhere\" not found in contexts");

  path = write("b", "apiVersion: v1\nkind: Config\n");
  EXPECT_FALSE(KubeConfig::load(path, error_));
  EXPECT_EQ(error_, path + ":1:1: no current-context");

  path = write("c", "apiVersion: v1\nclusters: [\n  {name: x\n");
  EXPECT_FALSE(KubeConfig::load(path, error_));
  EXPECT_EQ(error_.rfind(path + ":", 0), 0u) << error_;
  EXPECT_NE(error_.find(":4:"), std::string::npos) << error_;  // where the flow sequence was left open

  EXPECT_FALSE(KubeConfig::load((dir_ / "none").string(), error_));
  EXPECT_EQ(error_, (dir_ / "none").string() + ": cannot read: No such file or directory");
}

// Found while writing tests/fuzz's kubeconfig target: a file reference to
// an endless stream was read until memory ran out. Now refused past 16 MiB.
TEST_F(KubeConfigTest, EndlessFilesAreRefused) {
  std::string path = config("    server: https://10.0.0.1\n", "    tokenFile: /dev/zero\n");
  EXPECT_FALSE(KubeConfig::load(path, error_));
  EXPECT_EQ(error_, path + ":20:16: tokenFile \"/dev/zero\": larger than 16 MiB: refused");

  path = config("    server: https://10.0.0.1\n    certificate-authority: /dev/urandom\n", "    token: t\n");
  EXPECT_FALSE(KubeConfig::load(path, error_));
  EXPECT_EQ(error_, path + ":17:28: certificate-authority \"/dev/urandom\": larger than 16 MiB: refused");

  EXPECT_FALSE(KubeConfig::load("/dev/zero", error_));
  EXPECT_EQ(error_, "/dev/zero: larger than 16 MiB: refused");
}

// parse() reads text as if it were the file `path` (tests/fuzz uses it).
TEST_F(KubeConfigTest, ParseTextAsIfItWereTheFile) {
  write("token", "from-file\n");
  std::string path = config("    server: https://10.0.0.1\n", "    tokenFile: token\n");
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto c = KubeConfig::parse(text, path, error_);
  ASSERT_TRUE(c) << error_;
  EXPECT_EQ(c->bearerToken, "from-file");
  EXPECT_EQ(c->tokenFile, (dir_ / "token").string());
  EXPECT_FALSE(KubeConfig::parse("current-context: [", path, error_));
  EXPECT_EQ(error_.rfind(path + ":1:", 0), 0u) << error_;
}

TEST_F(KubeConfigTest, InCluster) {
  write("token", "sa-token\n");
  write("ca.crt", kCa);
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto c = KubeConfig::inCluster(error_, dir_.string());
  ASSERT_TRUE(c) << error_;
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->bearerToken, "sa-token");
  EXPECT_EQ(c->tokenFile, dir_.string() + "/token");
  EXPECT_EQ(c->caPem, kCa);

  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  c = KubeConfig::inCluster(error_, dir_.string());
  ASSERT_TRUE(c) << error_;
  EXPECT_EQ(c->server, "https://[fd00::1]:443");

  std::filesystem::remove(dir_ / "ca.crt");
  EXPECT_FALSE(KubeConfig::inCluster(error_, dir_.string()));
  EXPECT_EQ(error_, "in-cluster config: \"" + dir_.string() + "/ca.crt\": cannot read: No such file or directory");

  unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_FALSE(KubeConfig::inCluster(error_, dir_.string()));
  EXPECT_EQ(error_, "not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

}  // namespace
}  // namespace sluice::kube
