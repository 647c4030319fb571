// The IR text of every sample, compared with tests/testdata/ir/<sample>.ir
// (SLUICE_UPDATE_GOLDEN=1 rewrites them), and its determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "ir/print.h"
#include "tests/testing/golden.h"

namespace sluice::ir {
namespace {

namespace fs = std::filesystem;

// The sample clusters: directories of manifests with a README. samples/review
// (two states of one cluster) and samples/expectations (`sluice test` files)
// are not clusters.
std::vector<std::string> samples() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator("samples"))
    if (e.is_directory() && fs::exists(e.path() / "README.md") && e.path().filename() != "review")
      out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string irText(const std::vector<std::string>& paths, std::string* json = nullptr) {
  auto r = loadCluster(paths);
  EXPECT_TRUE(r.ok()) << r.diags.render();
  Program p = lower(r.state, r.diags);
  EXPECT_FALSE(r.diags.hasErrors()) << r.diags.render();
  if (json) *json = toJson(p).dump(2);
  return str(p);
}

TEST(Golden, AtLeastThreeSamples) { EXPECT_GE(samples().size(), 3u); }

TEST(Golden, SampleIrMatches) {
  for (const auto& s : samples()) {
    SCOPED_TRACE(s);
    std::string json;
    std::string text = irText({"samples/" + s}, &json);
    EXPECT_TRUE(sluice::testing::matchesGolden(text, "ir/" + s + ".ir"));
    EXPECT_TRUE(sluice::testing::matchesGolden(json + "\n", "ir/" + s + ".json"));
  }
}

TEST(Golden, IrIsIndependentOfInputOrder) {
  for (const auto& s : samples()) {
    SCOPED_TRACE(s);
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator("samples/" + s))
      if (e.path().extension() == ".yaml") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    std::string forward = irText(files);
    std::reverse(files.begin(), files.end());
    EXPECT_EQ(forward, irText(files));
  }
}

TEST(Golden, PerNodeTextIsTheWholeProgramsNode) {
  for (const auto& s : samples()) {
    SCOPED_TRACE(s);
    auto r = loadCluster({"samples/" + s});
    Program all = lower(r.state, r.diags);
    for (const auto& n : all.nodes) {
      LowerOptions lo;
      lo.onlyNode = n.node;
      Program one = lower(r.state, r.diags, lo);
      ASSERT_EQ(one.nodes.size(), 1u);
      EXPECT_EQ(str(one.nodes[0]), str(n));
    }
  }
}

}  // namespace
}  // namespace sluice::ir
