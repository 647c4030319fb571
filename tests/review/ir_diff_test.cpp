// The IR diff (review/ir_diff.h) on samples/review: the pull request's one
// changed rule, grouped under its policy, once, with the endpoint it changed
// on; an edit that only moves lines is no change; identical states give none.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include <fstream>

#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "review/ir_diff.h"

namespace sluice::review {
namespace {

namespace fs = std::filesystem;
const fs::path kSample = fs::path(SLUICE_SOURCE_DIR) / "samples/review";

// Loads `dir`'s policies.yaml named as "policies.yaml" (as `sluice diff` names
// files relative to OLD and NEW), with the shared cluster.
ir::Program lowerFrom(const fs::path& dir) {
  fs::path cwd = fs::current_path();
  fs::current_path(dir);
  LoadResult in = loadCluster({"policies.yaml", (kSample / "cluster.yaml").string()});
  fs::current_path(cwd);
  EXPECT_TRUE(in.ok()) << in.diags.render(false);
  ir::Program p = ir::lower(in.state, in.diags);
  EXPECT_FALSE(in.diags.hasErrors()) << in.diags.render(false);
  return p;
}

TEST(IrDiff, ThePullRequestsChangedRuleUnderItsPolicy) {
  IrDiff d = diffIr(lowerFrom(kSample / "before"), lowerFrom(kSample / "after"));
  ASSERT_EQ(d.groups.size(), 1u) << str(d);
  EXPECT_EQ(d.groups[0].title, "NetworkPolicy shop/db");
  ASSERT_EQ(d.groups[0].changes.size(), 2u) << str(d);
  const IrLineChange& removed = d.groups[0].changes[0];
  const IrLineChange& added = d.groups[0].changes[1];
  EXPECT_EQ(removed.sign, '-');
  EXPECT_NE(removed.line.find("(pods(app=cart) in namespace shop)"), std::string::npos) << removed.line;
  EXPECT_EQ(added.sign, '+');
  EXPECT_NE(added.line.find("(pods(app=orders) in namespace shop)"), std::string::npos) << added.line;
  EXPECT_EQ(added.where, std::vector<std::string>{"shop/db-0 (node-1)"});
  EXPECT_EQ(d.changedNodes, std::vector<std::string>{"node-1"});
  EXPECT_TRUE(d.addedNodes.empty());
  EXPECT_TRUE(d.removedNodes.empty());
}

TEST(IrDiff, IdenticalStatesAndMovedLinesAreNoChange) {
  ir::Program before = lowerFrom(kSample / "before");
  EXPECT_TRUE(diffIr(before, lowerFrom(kSample / "before")).empty());
  // The same policies three lines further down the file.
  fs::path moved = fs::temp_directory_path() / ("sluice-ir-diff-" + std::to_string(::getpid()));
  fs::create_directories(moved);
  {
    std::ifstream in(kSample / "before/policies.yaml");
    std::ofstream out(moved / "policies.yaml");
    out << "# one\n# two\n# three\n" << in.rdbuf();
  }
  IrDiff d = diffIr(before, lowerFrom(moved));
  fs::remove_all(moved);
  EXPECT_TRUE(d.empty()) << str(d);
}

TEST(IrDiff, LineNumbersAreDroppedOnlyFromProvenance) {
  EXPECT_EQ(withoutLineNumbers("allow x ports {TCP/80}  # NetworkPolicy a/b spec @ p.yaml:12 (pods(app=x))"),
            "allow x ports {TCP/80}  # NetworkPolicy a/b spec @ p.yaml (pods(app=x))");
  EXPECT_EQ(withoutLineNumbers("endpoint a/b ip 10.0.0.1  # @ dir/pods.yaml:3"), "endpoint a/b ip 10.0.0.1  # @ dir/pods.yaml");
  // An address with a port, or a name with a colon, outside "@ ..." stays.
  EXPECT_EQ(withoutLineNumbers("peer 10.0.0.1:80 name a:1"), "peer 10.0.0.1:80 name a:1");
  EXPECT_EQ(withoutLineNumbers("@ c:/x.yaml:7"), "@ c:/x.yaml");
}

}  // namespace
}  // namespace sluice::review
