// `sluice reach --to-services` as a user runs it: the built binary on
// samples/services-heavy, its output checked against the cluster's own IR
// (lowered here from the same manifests), never against a stored output: every
// service port is probed from every pod, a verdict is reject exactly when the
// source's node has no usable endpoint for that port, and every backend a
// connection reached is one of that port's backends on that node. In both
// datapath modes (`--datapath specialized|generic`). Needs root, like the
// command (it fails, not skips, without it).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <set>
#include <string>

#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "tests/testing/command.h"
#include "tests/testing/datapath_modes.h"

namespace sluice {
namespace {

const std::string kSample = std::string(SLUICE_SOURCE_DIR) + "/samples/services-heavy";

using testing::CommandResult;

// The built `sluice` with `args`; its standard output (errors go to the test's own).
CommandResult runSluice(const std::string& args) { return testing::runCommand(std::string(SLUICE_BIN) + " " + args); }

std::string portKey(const std::string& service, int port, const std::string& proto) {
  return service + ":" + std::to_string(port) + "/" + proto;
}

class ReachServices : public testing::InBothDatapathModes {
 protected:
  // `sluice reach` runs once per mode (and process), by the first test of the mode.
  static void SetUpTestSuite() {
    json_ = new std::map<codegen::DatapathMode, CommandResult>;
    LoadResult in = loadCluster({kSample});
    ASSERT_TRUE(in.ok()) << in.diags.render(false);
    program_ = new ir::Program(ir::lower(in.state, in.diags));
    ASSERT_FALSE(in.diags.hasErrors()) << in.diags.render(false);
  }
  static void TearDownTestSuite() {
    delete json_;
    delete program_;
  }
  void SetUp() override {
    auto at = json_->find(mode());
    if (at == json_->end())
      at = json_->emplace(mode(), runSluice("reach " + kSample + " --to-services --output json --datapath " +
                                            modeName()))
               .first;
    ASSERT_EQ(at->second.status, 0) << "sluice reach failed (it needs root)";
    flows_ = nlohmann::json::parse(at->second.out).at("flows");
    ASSERT_FALSE(flows_.empty());
  }

  // The node each endpoint pod runs on, from the IR.
  static std::map<std::string, const ir::NodeProgram*> podNodes() {
    std::map<std::string, const ir::NodeProgram*> out;
    for (const auto& np : program_->nodes)
      for (const auto& ep : np.endpoints) out[ep.key()] = &np;
    return out;
  }
  static const ir::ServicePort* findPort(const ir::NodeProgram& np, const std::string& service, int port,
                                         const std::string& proto) {
    for (const auto& svc : np.services)
      if (svc.key() == service)
        for (const auto& p : svc.ports)
          if (p.port == port && ir::l4ProtoName(p.proto) == proto) return &p;
    return nullptr;
  }

  static std::map<codegen::DatapathMode, CommandResult>* json_;
  static ir::Program* program_;
  nlohmann::json flows_;
};
std::map<codegen::DatapathMode, CommandResult>* ReachServices::json_ = nullptr;
SLUICE_IN_BOTH_DATAPATH_MODES(ReachServices);
ir::Program* ReachServices::program_ = nullptr;

TEST_P(ReachServices, EveryServicePortFromEveryPodOnce) {
  std::set<std::string> ports;  // every port of every proxied service, from the IR
  for (const auto& np : program_->nodes)
    for (const auto& svc : np.services)
      for (const auto& p : svc.ports) ports.insert(portKey(svc.key(), p.port, ir::l4ProtoName(p.proto)));
  ASSERT_GT(ports.size(), 20u) << "the sample's services did not lower";
  auto nodes = podNodes();
  std::map<std::pair<std::string, std::string>, int> seen;  // (from, service port) -> rows
  for (const auto& f : flows_) {
    ASSERT_TRUE(f.contains("service")) << "only --to-services was asked: " << f.dump();
    std::string key = portKey(f.at("service"), f.at("port"), f.at("protocol"));
    EXPECT_EQ(f.at("to"), "svc/" + f.at("service").get<std::string>());
    EXPECT_TRUE(ports.count(key)) << "a probe of a port no service has: " << f.dump();
    ++seen[{f.at("from"), key}];
  }
  for (const auto& [pod, np] : nodes)
    for (const auto& key : ports) EXPECT_EQ((seen[{pod, key}]), 1) << pod << " -> " << key;
  EXPECT_EQ(seen.size(), nodes.size() * ports.size()) << "rows from a source that is not a running pod";
}

TEST_P(ReachServices, RejectExactlyWhenTheSourceNodeHasNoUsableEndpoint) {
  auto nodes = podNodes();
  std::map<std::string, int> counts;
  for (const auto& f : flows_) {
    std::string verdict = f.at("verdict");
    ASSERT_TRUE(verdict == "allow" || verdict == "deny" || verdict == "reject" || verdict == "partial") << f.dump();
    ++counts[verdict];
    auto at = nodes.find(f.at("from"));
    ASSERT_NE(at, nodes.end()) << f.dump();
    const ir::ServicePort* p = findPort(*at->second, f.at("service"), f.at("port"), f.at("protocol"));
    ASSERT_NE(p, nullptr) << f.dump();
    bool noEndpoint = p->backends.empty() && !p->internalEndpointsElsewhere;
    EXPECT_EQ(verdict == "reject", noEndpoint) << f.dump();
    if (verdict == "reject") {
      EXPECT_FALSE(f.contains("backend")) << f.dump();
    }
  }
  // The sample has services that admit, that policy denies, and api/notifications with no endpoint.
  EXPECT_GT(counts["allow"], 0);
  EXPECT_GT(counts["deny"], 0);
  EXPECT_GT(counts["reject"], 0);
  for (const auto& f : flows_)
    if (f.at("service") == "api/notifications") {
      EXPECT_EQ(f.at("verdict"), "reject") << f.dump();
    }
}

TEST_P(ReachServices, BackendsBelongToTheServiceOnTheSourceNode) {
  auto nodes = podNodes();
  size_t withBackend = 0;
  for (const auto& f : flows_) {
    const ir::ServicePort* p = findPort(*nodes.at(f.at("from")), f.at("service"), f.at("port"), f.at("protocol"));
    ASSERT_NE(p, nullptr) << f.dump();
    // An allowed connection left the client translated; a rejected one never
    // had a backend. A denied one has one when the backend's ingress denied it.
    // The verdict is over every backend the node picks from, each listed with
    // its own: allow when all allow, deny when none does, partial between.
    if (f.at("verdict") == "allow") {
      EXPECT_TRUE(f.contains("backend")) << f.dump();
    }
    if (f.contains("backends")) {
      std::set<std::string> verdicts;
      for (const auto& b : f.at("backends")) verdicts.insert(b.at("verdict").get<std::string>());
      EXPECT_EQ(f.at("backends").size(), p->backends.size()) << f.dump();
      std::string expected = verdicts.size() == 2 ? "partial" : *verdicts.begin();
      EXPECT_EQ(f.at("verdict"), expected) << f.dump();
    }
    if (f.at("verdict") == "reject") {
      EXPECT_FALSE(f.contains("backend")) << f.dump();
    }
    if (!f.contains("backend")) continue;
    ++withBackend;
    std::set<std::string> backends;
    for (const auto& b : p->backends) backends.insert(b.ip.str() + ":" + std::to_string(b.port));
    EXPECT_TRUE(backends.count(f.at("backend"))) << f.dump();
    if (f.contains("backendPod")) {
      EXPECT_TRUE(std::any_of(p->backends.begin(), p->backends.end(),
                              [&](const ir::Backend& b) { return b.pod == f.at("backendPod"); }))
          << f.dump();
    }
  }
  EXPECT_GT(withBackend, 0u);
}

using ReachServicesTable = testing::InBothDatapathModes;
SLUICE_IN_BOTH_DATAPATH_MODES(ReachServicesTable);

TEST_P(ReachServicesTable, OneColumnPerServicePortAndOnlyKnownMarks) {
  CommandResult c = runSluice("reach " + kSample + " --to-services --port 8080/TCP --datapath " + modeName());
  ASSERT_EQ(c.status, 0);
  size_t at = c.out.find("\nservices  (rows: from");
  ASSERT_NE(at, std::string::npos) << "no services matrix after the 8080/TCP one:\n" << c.out;
  std::string legend = c.out.substr(at);
  EXPECT_NE(legend.find("= svc/api/notifications:80/TCP"), std::string::npos) << legend;
  EXPECT_NE(legend.find("= svc/kube-system/kube-dns:53/UDP"), std::string::npos) << legend;
  // Matrix rows: a pod name then marks only.
  size_t rows = 0, rejects = 0;
  for (size_t pos = legend.find('\n'); pos != std::string::npos && pos + 1 < legend.size();) {
    size_t end = legend.find('\n', pos + 1);
    std::string line = legend.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
    pos = end;
    size_t slash = line.find('/');
    if (line.find(" = ") != std::string::npos || slash == std::string::npos || line.find("svc/") != std::string::npos)
      continue;
    ++rows;
    std::string marks = line.substr(line.find(' ', slash));
    EXPECT_EQ(marks.find_first_not_of(" .XRP"), std::string::npos) << line;
    rejects += std::count(marks.begin(), marks.end(), 'R');
  }
  EXPECT_GT(rows, 20u);
  EXPECT_GE(rejects, rows) << "api/notifications rejects from every pod";
}

TEST(ReachServicesUsage, NeedsPortOrToServices) {
  EXPECT_EQ(runSluice("reach " + kSample + " --output json").status, 2);
}

}  // namespace
}  // namespace sluice
