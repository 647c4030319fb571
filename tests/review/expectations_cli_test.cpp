// `sluice test` as a user runs it (the built binary): exit status 0 when
// every expectation holds, 1 when one fails or a file is invalid, 2 for a bad
// command line. Needs root, like the command (fails, never skips, without it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/testing/command.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

const std::string kSample = std::string(SLUICE_SOURCE_DIR) + "/samples/microservices";
const std::string kSampleExpectations = std::string(SLUICE_SOURCE_DIR) + "/samples/expectations/microservices.yaml";

testing::CommandResult runSluice(const std::string& args, bool withErrors = true) {
  return testing::runCommand(std::string(SLUICE_BIN) + " " + args + (withErrors ? " 2>&1" : " 2>/dev/null"));
}

class TestCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "sluice test needs root (this test fails instead of skipping)";
    dir_ = fs::temp_directory_path() / ("sluice-test-cli-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(TestCommand, TheSampleExpectationsHold) {
  auto r = runSluice("test " + kSampleExpectations);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("PASS web reaches bff through its service\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PASS load tests reach nothing in payments, on any port\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("10 expectations, 0 failed\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
}

TEST_F(TestCommand, AFailingExpectationExitsOneAndNamesTheRule) {
  // Manifest PATHs replace the file's own (here missing) cluster.
  std::string file = write("e.yaml",
                           "cluster: does-not-exist\n"
                           "expectations:\n"
                           "- name: checkout cannot reach payments-api\n"
                           "  from: {namespace: shop, selector: app=checkout}\n"
                           "  to: {namespace: payments, selector: app=payments-api}\n"
                           "  ports: [8443/TCP]\n"
                           "  expect: deny\n"
                           "- name: locust reaches web\n"
                           "  from: {namespace: load-test}\n"
                           "  to: {namespace: frontend, selector: app=web}\n"
                           "  ports: [8080]\n"
                           "  expect: allow\n");
  auto r = runSluice("test " + file + " " + kSample, /*withErrors=*/false);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("FAIL checkout cannot reach payments-api\n"
                       "  shop/checkout-fxdhdf6h4q-j8g9l -> payments/payments-api-"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(" 8443/TCP: allow (expected deny) — allowed by np.payments.payments-api.ingress0.from0 "
                       "(NetworkPolicy payments/payments-api spec.ingress[0].from[0]) @ " +
                       kSample + "/policies-payments.yaml:"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("8080/TCP: deny (expected allow) — to-pod: denied: its ingress is isolated and no rule "
                       "allows this\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("2 expectations, 2 failed\n"), std::string::npos) << r.out;

  auto json = runSluice("test " + file + " " + kSample + " --output json", /*withErrors=*/false);
  EXPECT_EQ(json.status, 1) << json.out;
  auto parsed = nlohmann::json::parse(json.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(parsed.is_discarded()) << json.out;
  const auto& first = parsed.at("expectations").at(0);
  EXPECT_EQ(first.at("passed"), false);
  EXPECT_EQ(first.at("flows_checked"), 4);  // 2 checkout pods x 2 payments-api pods
  EXPECT_EQ(first.at("failures").size(), 4u);
  EXPECT_EQ(first.at("failures").at(0).at("decision").at("rule"), "np.payments.payments-api.ingress0.from0");
}

TEST_F(TestCommand, AnInvalidFileExitsOneWithItsPlace) {
  std::string file = write("bad.yaml",
                           "expectations:\n"
                           "- from: {namespace: shop}\n"
                           "  to: {namespace: payments, selector: \"app in (a\"}\n"
                           "  ports: [8443/TCP]\n"
                           "  expect: deny\n");
  auto r = runSluice("test " + file + " " + kSample);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find(file + ":3:39: error: expectations[0].to.selector: invalid selector 'app in (a': expected "
                              "',' or ')' at the end"),
            std::string::npos)
      << r.out;
  // A selector that selects no running pod fails too, pointing at it.
  std::string nobody = write("nobody.yaml",
                             "expectations:\n"
                             "- name: nobody\n"
                             "  from: {namespace: shop, selector: app=gone}\n"
                             "  to: {namespace: payments}\n"
                             "  ports: [80]\n"
                             "  expect: deny\n");
  r = runSluice("test " + nobody + " " + kSample, /*withErrors=*/false);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("FAIL nobody\n  error: " + nobody +
                       ":3:37: error: expectations[0].from.selector: selects no running pod: nothing to check\n"),
            std::string::npos)
      << r.out;
}

TEST_F(TestCommand, ABadCommandLineExitsTwo) {
  auto onlyManifests = runSluice("test " + kSample);
  EXPECT_EQ(onlyManifests.status, 2) << onlyManifests.out;
  EXPECT_NE(onlyManifests.out.find("needs an expectations file"), std::string::npos) << onlyManifests.out;

  auto badOutput = runSluice("test " + kSampleExpectations + " --output yaml");
  EXPECT_EQ(badOutput.status, 2) << badOutput.out;
  auto badDatapath = runSluice("test " + kSampleExpectations + " --datapath bogus");
  EXPECT_EQ(badDatapath.status, 2) << badDatapath.out;

  std::string noCluster = write("e.yaml",
                                "expectations:\n"
                                "- {from: {namespace: a}, to: {namespace: b}, ports: [80], expect: deny}\n");
  auto r = runSluice("test " + noCluster);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("no cluster to check"), std::string::npos) << r.out;

  auto help = runSluice("test --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("Expectations files"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace sluice
