// `sluice diff` and `sluice reach --output dot` as a user runs them (the built
// binary) on samples/microservices and a copy with one edit: bff's ingress
// admits app=locust pods of any namespace instead of the ingress controller.
// Outputs are compared with golden files (tests/testdata/review/diff_bff_*,
// reach_microservices_8080.dot); then the exit statuses (0 same, 1 changed,
// 2 trouble) and --git. Needs root (the programs run in this kernel): fails,
// never skips, without it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/testing/command.h"
#include "tests/testing/golden.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kSamples = fs::path(SLUICE_SOURCE_DIR) / "samples";

// The edit: in bff's ingress, the ingress controller peer becomes app=locust
// pods of any namespace (load-test/locust). Opens locust -> bff, closes the
// controller -> bff, both on bff's http port 3000.
const std::string kControllerPeer =
    "    - namespaceSelector:\n"
    "        matchLabels:\n"
    "          kubernetes.io/metadata.name: ingress-nginx\n"
    "      podSelector:\n"
    "        matchLabels:\n"
    "          app.kubernetes.io/name: ingress-nginx\n"
    "    ports:\n";
const std::string kLocustPeer =
    "    - namespaceSelector: {}\n"
    "      podSelector:\n"
    "        matchLabels:\n"
    "          app: locust\n"
    "    ports:\n";

std::string readText(const fs::path& path) { return testing::readFile(path.string()); }
void writeText(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Replaces the one occurrence of `from` in the file (fails the test when there is not exactly one).
void replaceOnce(const fs::path& file, const std::string& from, const std::string& to) {
  std::string text = readText(file);
  size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << file << " no longer holds the text this test edits";
  ASSERT_EQ(text.find(from, at + 1), std::string::npos) << file << " holds the edited text twice";
  text.replace(at, from.size(), to);
  writeText(file, text);
}

struct SluiceRun {
  int status = -1;
  std::string out, err;
};

class DiffCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "sluice diff needs root (this test fails instead of skipping)";
    dir_ = fs::temp_directory_path() / ("sluice-diff-cli-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    // The commands run in dir_, where samples/ leads to the real samples: the
    // files and titles they print are the same wherever dir_ is.
    fs::create_directories(dir_);
    fs::create_directory_symlink(kSamples, dir_ / "samples");
    fs::copy(kSamples / "microservices", dir_ / "edited", fs::copy_options::recursive);
    replaceOnce(dir_ / "edited" / "policies-frontend.yaml", kControllerPeer, kLocustPeer);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // The built sluice with `args`, run in `cwd` (dir_ when empty), after `prefix` ("env ...").
  SluiceRun sluice(const std::string& args, const fs::path& cwd = {}, const std::string& prefix = "") {
    fs::path err = dir_ / "stderr";
    testing::CommandResult r = testing::runCommand("cd '" + (cwd.empty() ? dir_ : cwd).string() + "' && " + prefix +
                                                   SLUICE_BIN + " " + args + " 2>'" + err.string() + "'");
    return {r.status, r.out, readText(err)};
  }

  // Output that names no temporary path (so that it is the same on every run).
  void expectNoTempPath(const SluiceRun& r) {
    EXPECT_EQ(r.out.find(dir_.string()), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("/tmp/"), std::string::npos) << r.out;
  }

  fs::path dir_;
};

const std::string kDiffArgs = "diff samples/microservices edited --port 3000/TCP --port 8080/TCP";

TEST_F(DiffCliTest, TextMarkdownJsonAndDotMatchGoldenFiles) {
  for (const auto& [output, golden] : std::vector<std::pair<std::string, std::string>>{
           {"text", "review/diff_bff_ingress.txt"},
           {"markdown", "review/diff_bff_ingress.md"},
           {"json", "review/diff_bff_ingress.json"},
           {"dot", "review/diff_bff_ingress.dot"}}) {
    SluiceRun r = sluice(kDiffArgs + " --output " + output);
    EXPECT_EQ(r.status, 1) << output << ": flows changed\n" << r.err;
    expectNoTempPath(r);
    EXPECT_TRUE(testing::matchesGolden(r.out, golden)) << output;
  }
}

// What the golden files hold, said once more as behaviour: the controller
// loses bff on 3000, locust gains it, and nothing on 8080 changes.
TEST_F(DiffCliTest, JsonListsTheFlowsTheEditChanges) {
  SluiceRun r = sluice(kDiffArgs + " --output json");
  ASSERT_EQ(r.status, 1) << r.err;
  json report = json::parse(r.out);
  size_t opened = 0, closed = 0;
  for (const json& f : report["flows"]) {
    EXPECT_EQ(f["port"], 3000) << f.dump();
    EXPECT_EQ(f["to"].get<std::string>().rfind("frontend/bff", 0), 0u) << f.dump();
    std::string from = f["from"];
    if (f["after"] == "allow") {
      ++opened;
      EXPECT_EQ(from.rfind("load-test/locust", 0), 0u) << f.dump();
      EXPECT_EQ(f["afterRule"]["source"].get<std::string>().rfind("policies-frontend.yaml:", 0), 0u) << f.dump();
    } else {
      ++closed;
      EXPECT_EQ(from.rfind("ingress-nginx/ingress-nginx-controller", 0), 0u) << f.dump();
      EXPECT_EQ(f["beforeRule"]["policy"], "NetworkPolicy frontend/bff") << f.dump();
    }
  }
  EXPECT_GT(opened, 0u);
  EXPECT_GT(closed, 0u);
}

TEST_F(DiffCliTest, IdenticalCopyExitsZeroAndSaysNoChange) {
  fs::copy(kSamples / "microservices", dir_ / "same", fs::copy_options::recursive);
  SluiceRun r = sluice("diff samples/microservices same --port 3000/TCP --port 8080/TCP");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("IR: no change"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Reachability: 0 flows changed"), std::string::npos) << r.out;
}

TEST_F(DiffCliTest, TroubleExitsTwo) {
  SluiceRun missing = sluice("diff samples/microservices no-such-dir --port 3000/TCP");
  EXPECT_EQ(missing.status, 2) << missing.out << missing.err;
  EXPECT_NE(missing.err.find("no-such-dir"), std::string::npos) << missing.err;

  SluiceRun noProbe = sluice("diff samples/microservices edited");
  EXPECT_EQ(noProbe.status, 2) << noProbe.out << noProbe.err;
  EXPECT_NE(noProbe.err.find("--port"), std::string::npos) << noProbe.err;

  SluiceRun onePath = sluice("diff edited --port 3000/TCP");
  EXPECT_EQ(onePath.status, 2) << onePath.out << onePath.err;
  EXPECT_NE(onePath.err.find("two paths"), std::string::npos) << onePath.err;
}

// A picture that cannot be drawn is trouble (2), not "changes" (1): here the
// states are the same and Graphviz's `dot` is not on the PATH.
TEST_F(DiffCliTest, PictureWithoutGraphvizExitsTwo) {
  fs::copy(kSamples / "microservices", dir_ / "same", fs::copy_options::recursive);
  SluiceRun r = sluice("diff samples/microservices same --port 3000/TCP --output svg",
                       /*cwd=*/{}, "env PATH=/nonexistent ");
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("Graphviz"), std::string::npos) << r.err;
}

TEST_F(DiffCliTest, MalformedManifestInNewExitsTwoNamingFileAndLine) {
  fs::copy(kSamples / "microservices", dir_ / "broken", fs::copy_options::recursive);
  fs::path file = dir_ / "broken" / "policies-frontend.yaml";
  std::string text = readText(file);
  // Line 9 of the file: "  namespace: frontend" of the first policy, now a list where a string belongs.
  size_t at = text.find("  namespace: frontend\n");
  ASSERT_NE(at, std::string::npos);
  size_t line = size_t(std::count(text.begin(), text.begin() + at, '\n')) + 1;
  text.replace(at, 22, "  namespace: [frontend]\n");
  writeText(file, text);
  SluiceRun r = sluice("diff samples/microservices broken --port 3000/TCP");
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("in NEW (broken)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("policies-frontend.yaml:" + std::to_string(line)), std::string::npos) << r.err;
}

// --git: OLD is the committed cluster/, NEW the edited working tree.
class DiffGitTest : public DiffCliTest {
 protected:
  void SetUp() override {
    DiffCliTest::SetUp();
    if (HasFatalFailure()) return;
    repo_ = dir_ / "repo";
    fs::create_directories(repo_);
    fs::copy(kSamples / "microservices", repo_ / "cluster", fs::copy_options::recursive);
    testing::CommandResult git = testing::runCommand(
        "cd '" + repo_.string() +
        "' && git init -q && git add cluster && "
        "git -c user.name=test -c user.email=test@example.com commit -q -m state 2>&1");
    ASSERT_EQ(git.status, 0) << git.out;
    replaceOnce(repo_ / "cluster" / "policies-frontend.yaml", kControllerPeer, kLocustPeer);
  }
  fs::path repo_;
};

// A flow as both runs name it: the files are named relative to OLD and NEW in
// one, as given ("cluster/...") in the other, in the rule's source and in the
// explanation that quotes it.
json comparable(json flows) {
  for (json& f : flows)
    for (const char* rule : {"beforeRule", "afterRule"})
      for (const char* field : {"source", "explanation"})
        if (f[rule].contains(field)) {
          std::string s = f[rule][field];
          for (size_t at = s.find("cluster/"); at != std::string::npos; at = s.find("cluster/", at))
            s.erase(at, 8);
          f[rule][field] = s;
        }
  return flows;
}

TEST_F(DiffGitTest, SameFlowsAsTwoDirectories) {
  SluiceRun git = sluice("diff --git HEAD cluster --port 3000/TCP --output json", repo_);
  ASSERT_EQ(git.status, 1) << git.out << git.err;
  SluiceRun dirs = sluice("diff samples/microservices edited --port 3000/TCP --output json");
  ASSERT_EQ(dirs.status, 1) << dirs.err;
  json fromGit = json::parse(git.out), fromDirs = json::parse(dirs.out);
  ASSERT_FALSE(fromGit["flows"].empty());
  EXPECT_EQ(comparable(fromGit["flows"]), comparable(fromDirs["flows"]));
  EXPECT_NE(git.out.find("\"cluster/policies-frontend.yaml:"), std::string::npos)
      << "files are named as the user wrote them";
}

// The flows without their rules (whose sources name files as each run was given them).
json verdictsOnly(json flows) {
  for (json& f : flows) f.erase("beforeRule"), f.erase("afterRule");
  return flows;
}

// Paths are relative to the current directory, which may be below the
// repository's top: "../cluster" from repo/sub is repo/cluster at HEAD too.
TEST_F(DiffGitTest, PathAboveTheCurrentDirectory) {
  fs::create_directories(repo_ / "sub");
  SluiceRun fromSub = sluice("diff --git HEAD ../cluster --port 3000/TCP --output json", repo_ / "sub");
  ASSERT_EQ(fromSub.status, 1) << fromSub.out << fromSub.err;
  SluiceRun fromTop = sluice("diff --git HEAD cluster --port 3000/TCP --output json", repo_);
  ASSERT_EQ(fromTop.status, 1) << fromTop.err;
  EXPECT_EQ(verdictsOnly(json::parse(fromSub.out)["flows"]), verdictsOnly(json::parse(fromTop.out)["flows"]));
}

TEST_F(DiffGitTest, UnknownRevisionExitsTwoWithGitsMessage) {
  SluiceRun r = sluice("diff --git no-such-revision cluster --port 3000/TCP", repo_);
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("fatal:"), std::string::npos) << "git's own message: " << r.err;
  EXPECT_NE(r.err.find("no-such-revision"), std::string::npos) << r.err;
}

TEST_F(DiffGitTest, PathAbsentAtTheRevisionExitsTwo) {
  fs::copy(kSamples / "microservices", repo_ / "later", fs::copy_options::recursive);
  SluiceRun r = sluice("diff --git HEAD later --port 3000/TCP", repo_);
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("'later' did not exist at that revision"), std::string::npos) << r.err;
}

TEST_F(DiffCliTest, ReachDotMatchesGoldenFile) {
  SluiceRun r = sluice("reach samples/microservices --port 8080/TCP --output dot");
  EXPECT_EQ(r.status, 0) << r.err;
  expectNoTempPath(r);
  EXPECT_NE(r.out.find("digraph"), std::string::npos) << r.out;
  EXPECT_TRUE(testing::matchesGolden(r.out, "review/reach_microservices_8080.dot"));
}

}  // namespace
}  // namespace sluice
