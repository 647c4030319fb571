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
    EXPECT_EQ(filesOne.size(), mode == "generic" ? 10u : 7u);  // with .sluice-compile-outputs
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

// A small cluster for the output-directory tests: nodes n1 and n2, a pod on
// each, written into `dir` as manifests.
const std::string kNodes = R"(apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.1.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
spec: {podCIDR: 10.244.2.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.2.1}]}
)";
std::string podYaml(const std::string& name, const std::string& node, const std::string& ip) {
  return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: x, labels: {app: " + name +
         "}}\nspec: {nodeName: \"" + node + "\"}\nstatus: {podIP: " + ip + "}\n";
}
void writeText(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("sluice-cli-out-" + std::to_string(::getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// The output directory never holds a mix of two runs: a run that fails on one
// node changes nothing in it; a full run removes what an earlier run wrote for
// nodes that are gone, and never a file it did not write.
TEST(Cli, CompileReplacesItsOutputAsAWhole) {
  ScratchDir scratch;
  fs::path in = scratch.path / "in.yaml", out = scratch.path / "out";
  writeText(in, kNodes + podYaml("a", "n1", "10.244.1.10") + podYaml("b", "n2", "10.244.2.10"));
  CommandResult first = runSluice("compile " + in.string() + " -o " + out.string());
  ASSERT_EQ(first.status, 0) << first.out;
  writeText(out / "notes.txt", "mine");
  auto before = filesIn(out);
  EXPECT_TRUE(before.count("n1.o") && before.count("n2.o") && before.count("n2.ir")) << first.out;

  // n1 changes and compiles; n2 now has a rule code generation refuses (L7).
  writeText(in, kNodes + podYaml("a", "n1", "10.244.1.10") + podYaml("c", "n1", "10.244.1.11") +
                    podYaml("b", "n2", "10.244.2.10") + R"(---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7, namespace: x}
spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress:
  - toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET}]}}]
)");
  CommandResult failed = runSluice("compile " + in.string() + " -o " + out.string());
  EXPECT_EQ(failed.status, 1) << failed.out;
  EXPECT_NE(failed.out.find("nothing in " + out.string() + " was changed"), std::string::npos) << failed.out;
  EXPECT_EQ(filesIn(out), before) << "a failed run changed the output directory";

  // n2 is gone: a full run removes its files and keeps notes.txt.
  writeText(in, kNodes.substr(0, kNodes.find("---")) + podYaml("a", "n1", "10.244.1.10"));
  CommandResult gone = runSluice("compile " + in.string() + " -o " + out.string());
  ASSERT_EQ(gone.status, 0) << gone.out;
  auto after = filesIn(out);
  EXPECT_FALSE(after.count("n2.o") || after.count("n2.ir")) << "files of a node that is gone were left";
  EXPECT_EQ(after["notes.txt"], "mine");
  EXPECT_TRUE(after.count("n1.o"));
  for (const auto& [name, bytes] : after) EXPECT_FALSE(name.starts_with(".sluice-staging")) << name;
}

// Node names come from manifests (and CI compiles pull requests): none may
// make compile write outside its output directory.
TEST(Cli, NodeNamesNeverEscapeTheOutputDirectory) {
  ScratchDir scratch;
  fs::path in = scratch.path / "in.yaml", out = scratch.path / "out";
  std::string absolute = (scratch.path / "absolute").string();
  for (const std::string& node : {std::string("../escaped"), absolute, std::string("a/../../escaped2")}) {
    SCOPED_TRACE(node);
    writeText(in, kNodes + podYaml("a", node, "10.244.1.10"));
    CommandResult r = runSluice("compile " + in.string() + " -o " + out.string());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("invalid node name"), std::string::npos) << r.out;
  }
  for (const auto& e : fs::recursive_directory_iterator(scratch.path))
    EXPECT_EQ(e.path().extension(), ".yaml") << e.path() << " was written";
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
