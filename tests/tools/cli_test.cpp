// The `sluice` command line as a user runs it (the built binary): options
// that several commands share are offered and checked alike by each of them.
// The kernel commands (verify) need root, like the commands themselves.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/command.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

const std::string kSample = std::string(SLUICE_SOURCE_DIR) + "/samples/microservices";

using testing::CommandResult;

// The built `sluice` with `args`; its output and errors together.
CommandResult runSluice(const std::string& args) {
  return testing::runCommand(std::string(SLUICE_BIN) + " " + args + " 2>&1");
}

// Every command that compiles programs takes --datapath specialized|generic:
// the same help and the same check (a usage error, exit 2, before anything
// is read or loaded).
TEST(Cli, EveryCommandThatCompilesTakesDatapath) {
  // The arguments each command needs besides --datapath, so that only it is wrong.
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"compile", kSample + " -o /tmp/sluice-cli-test-never-written"},
      {"verify", kSample},
      {"trace", kSample + " --from x/a --to x/b:80/TCP"},
      {"reach", kSample + " --port 80/TCP"},
      {"agent", "--node n1 --watch " + kSample},
  };
  for (const auto& [command, args] : commands) {
    CommandResult help = runSluice(command + " --help");
    EXPECT_EQ(help.status, 0) << command;
    size_t at = help.out.find("--datapath");
    ASSERT_NE(at, std::string::npos) << command << " --help:\n" << help.out;
    EXPECT_NE(help.out.find("specialized (default", at), std::string::npos) << command << " --help:\n" << help.out;
    EXPECT_NE(help.out.find("or generic (one table-driven", at), std::string::npos) << command;

    CommandResult bad = runSluice(command + " " + args + " --datapath bogus");
    EXPECT_EQ(bad.status, 2) << command << ": " << bad.out;
    EXPECT_NE(bad.out.find("--datapath"), std::string::npos) << command << ": " << bad.out;
  }
  EXPECT_FALSE(fs::exists("/tmp/sluice-cli-test-never-written"));
  // Commands that compile nothing do not take it.
  EXPECT_EQ(runSluice("ir --help").out.find("--datapath"), std::string::npos);
}

TEST(Cli, CompileWritesTheTablesInGenericModeOnly) {
  fs::path dir = fs::temp_directory_path() / ("sluice-cli-" + std::to_string(::getpid()));
  CommandResult generic = runSluice("compile " + kSample + " -o " + (dir / "generic").string() + " --datapath generic");
  CommandResult specialized = runSluice("compile " + kSample + " -o " + (dir / "specialized").string());
  EXPECT_EQ(generic.status, 0) << generic.out;
  EXPECT_EQ(specialized.status, 0) << specialized.out;
  size_t objects = 0;
  for (const auto& e : fs::directory_iterator(dir / "generic")) {
    if (e.path().extension() != ".o") continue;
    ++objects;
    fs::path tables = e.path();
    tables.replace_extension(".tables");
    EXPECT_TRUE(fs::exists(tables)) << tables;
    EXPECT_GT(fs::exists(tables) ? fs::file_size(tables) : 0, 0u) << tables;
    fs::path other = dir / "specialized" / e.path().filename();
    EXPECT_TRUE(fs::exists(other)) << other;
    EXPECT_FALSE(fs::exists(fs::path(other).replace_extension(".tables"))) << "specialized mode writes no tables";
  }
  EXPECT_GT(objects, 0u);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// The files in `dir`, by name, with their bytes.
std::map<std::string, std::string> filesIn(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    files[e.path().filename().string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

// The summary rows without their time column: `node endpoints rules insns ms object`.
std::vector<std::string> summaryRowsWithoutTimes(const std::string& out, const fs::path& dir) {
  std::vector<std::string> rows;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string node, endpoints, rules, insns, ms, object;
    if (!(f >> node >> endpoints >> rules >> insns >> ms >> object)) continue;
    if (object.rfind(dir.string(), 0) != 0) continue;
    rows.push_back(node + " " + endpoints + " " + rules + " " + insns + " " + fs::path(object).filename().string());
  }
  return rows;
}

// --jobs changes how many nodes compile at once, nothing else: every object,
// IR and tables file is byte-identical for 1 and 3 threads (3 nodes, all at
// once) and to a node compiled alone, in both modes.
TEST(Cli, CompileOutputDoesNotDependOnJobs) {
  fs::path dir = fs::temp_directory_path() / ("sluice-cli-jobs-" + std::to_string(::getpid()));
  for (std::string mode : {"specialized", "generic"}) {
    SCOPED_TRACE(mode);
    fs::path one = dir / (mode + "-1"), three = dir / (mode + "-3"), alone = dir / (mode + "-alone");
    CommandResult j1 = runSluice("compile " + kSample + " --datapath " + mode + " -o " + one.string() + " --jobs 1");
    CommandResult j3 = runSluice("compile " + kSample + " --datapath " + mode + " -o " + three.string() + " -j 3");
    CommandResult a = runSluice("compile " + kSample + " --datapath " + mode + " -o " + alone.string() +
                          " --node node-2 -j 2");
    ASSERT_EQ(j1.status, 0) << j1.out;
    ASSERT_EQ(j3.status, 0) << j3.out;
    ASSERT_EQ(a.status, 0) << a.out;
    EXPECT_NE(j1.out.find("3 nodes in"), std::string::npos) << j1.out;
    EXPECT_NE(j1.out.find("on 1 thread\n"), std::string::npos) << j1.out;
    EXPECT_NE(j3.out.find("on 3 threads\n"), std::string::npos) << j3.out;
    EXPECT_NE(a.out.find("on 1 thread\n"), std::string::npos) << "one node needs one thread: " << a.out;

    auto filesOne = filesIn(one), filesThree = filesIn(three), filesAlone = filesIn(alone);
    EXPECT_EQ(filesOne.size(), mode == "generic" ? 9u : 6u);
    ASSERT_EQ(filesOne.size(), filesThree.size());
    for (const auto& [name, bytes] : filesOne) {
      EXPECT_TRUE(filesThree.count(name) && filesThree[name] == bytes) << name << " differs with -j 3";
      if (name.rfind("node-2.", 0) == 0) {
        EXPECT_TRUE(filesAlone.count(name) && filesAlone[name] == bytes) << name << " differs compiled alone";
      }
    }
    auto rows = summaryRowsWithoutTimes(j1.out, one);
    EXPECT_EQ(rows.size(), 3u) << j1.out;
    EXPECT_EQ(rows, summaryRowsWithoutTimes(j3.out, three)) << "the summary is in node order whatever finishes first";
  }
  EXPECT_EQ(runSluice("compile " + kSample + " -o " + (dir / "zero").string() + " -j 0").status, 2);
  EXPECT_FALSE(fs::exists(dir / "zero"));
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// verify loads what --datapath asked for: the generic objects load too, and
// their programs are not the specialized ones (other instruction counts).
TEST(Cli, VerifyLoadsEitherMode) {
  ASSERT_EQ(::geteuid(), 0u) << "sluice verify needs root (this test fails instead of skipping)";
  CommandResult specialized = runSluice("verify " + kSample);
  CommandResult generic = runSluice("verify " + kSample + " --datapath generic");
  EXPECT_EQ(specialized.status, 0) << specialized.out;
  EXPECT_EQ(generic.status, 0) << generic.out;
  EXPECT_NE(specialized.out.find("all programs loaded"), std::string::npos) << specialized.out;
  EXPECT_NE(generic.out.find("all programs loaded"), std::string::npos) << generic.out;
  EXPECT_NE(specialized.out, generic.out) << "--datapath generic compiled the same programs";
}

}  // namespace
}  // namespace sluice
