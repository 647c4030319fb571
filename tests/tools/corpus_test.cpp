// The policy corpus (tests/testdata/corpus, docs/corpus.md): policy files
// modelled on well-known public examples (Kubernetes docs, Cilium's examples,
// the network-policy recipes, e2e conformance shapes, Helm charts), each
// checked with the built `sluice verify` against a small cluster
// (corpus/cluster: 2 nodes, 17 pods). A file is either compiled and loaded by
// the kernel verifier (all the compiling files together), or refused with an
// error at its file:line:col that names the unsupported feature, as
// corpus/EXPECTED says. verify needs root: those cases fail without it, never
// skip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/command.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;

const fs::path kCorpus = fs::path(SLUICE_TESTDATA_DIR) / "corpus";
const fs::path kCluster = kCorpus / "cluster";
const fs::path kPolicies = kCorpus / "policies";

// One line of corpus/EXPECTED: `<file> compiles` or `<file> refused: <words>`.
struct Expectation {
  std::string file;
  bool compiles = false;
  std::string words;    // what the refusal must say (refused only)
  int line = 0;         // in EXPECTED
  std::string problem;  // non-empty when the line does not parse
};

// gtest prints a parameter by its file name.
void PrintTo(const Expectation& e, std::ostream* os) { *os << e.file; }

std::string trim(std::string s) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

std::vector<Expectation> readExpected() {
  std::vector<Expectation> out;
  std::ifstream in(kCorpus / "EXPECTED");
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    Expectation e;
    e.line = n;
    size_t gap = line.find_first_of(" \t");
    e.file = line.substr(0, gap);
    std::string outcome = gap == std::string::npos ? "" : trim(line.substr(gap));
    if (outcome == "compiles") {
      e.compiles = true;
    } else if (outcome.rfind("refused:", 0) == 0 && !trim(outcome.substr(8)).empty()) {
      e.words = trim(outcome.substr(8));
    } else {
      e.problem = "outcome must be `compiles` or `refused: <words>`, got `" + outcome + "`";
    }
    out.push_back(e);
  }
  return out;
}

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// The built `sluice` with `args`; its output and errors together.
CommandResult runSluice(const std::string& args) {
  return testing::runCommand(std::string(SLUICE_BIN) + " " + args + " 2>&1");
}

// `sluice ir` of the cluster (and a policy file), keeping what describes the
// endpoints' programs: without identities and the IP cache (which a policy
// that selects no pod may still change, e.g. with CIDRs) and without the
// `# …` provenance comments.
std::string endpointIr(const std::string& paths) {
  CommandResult r = testing::runCommand(std::string(SLUICE_BIN) + " ir " + paths + " 2>/dev/null");
  if (r.status != 0) return "sluice ir failed (" + std::to_string(r.status) + ")";
  std::string kept;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("identity ", 0) == 0 || line.rfind("  ipcache ", 0) == 0) continue;
    if (size_t c = line.find("  # "); c != std::string::npos) line.resize(c);
    kept += line + "\n";
  }
  return kept;
}

// The output line that reports an error at `file`:LINE:COL and contains
// `words`, or "" if there is none.
std::string errorLineNaming(const std::string& out, const std::string& file, const std::string& words) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(file + ":", 0) != 0) continue;
    size_t i = file.size() + 1, digits = 0;
    for (int part = 0; part < 2; ++part) {  // LINE: then COL:
      size_t start = i;
      while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
      digits += i > start ? 1 : 0;
      if (i >= line.size() || line[i] != ':') break;
      ++i;
    }
    if (digits != 2 || line.compare(i, 8, " error: ") != 0) continue;
    if (line.find(words, i) != std::string::npos) return line;
  }
  return "";
}

std::string testName(const ::testing::TestParamInfo<Expectation>& info) {
  std::string name = info.param.file;
  if (size_t dot = name.rfind('.'); dot != std::string::npos) name.resize(dot);
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name.empty() ? "line" + std::to_string(info.param.line) : name;
}

class CorpusFile : public ::testing::TestWithParam<Expectation> {};
std::vector<Expectation> compilingOnly(std::vector<Expectation> all);
class CompilingCorpusFile : public ::testing::TestWithParam<Expectation> {};

std::vector<Expectation> compilingOnly(std::vector<Expectation> all) {
  std::erase_if(all, [](const Expectation& e) { return !e.compiles; });
  return all;
}

// Each file is read and lowered with the cluster (`sluice ir`, no kernel):
// a compiling file without an error, a refused one with its error at
// file:line:col naming the feature. A refusal that only code generation
// makes (L7 rules) is looked for with `sluice compile`. The compiling files
// are loaded into the kernel verifier all together (below): one verify, not
// 75 (each takes a second).
TEST_P(CorpusFile, LowersOrIsRefusedNamingTheFeature) {
  const Expectation& e = GetParam();
  ASSERT_TRUE(e.problem.empty()) << "EXPECTED:" << e.line << ": " << e.problem;
  const fs::path file = kPolicies / e.file;
  ASSERT_TRUE(fs::is_regular_file(file)) << file << " is listed in EXPECTED:" << e.line << " but missing";
  CommandResult r = runSluice("ir " + quoted(kCluster) + " " + quoted(file) + " -o json");
  if (e.compiles) {
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out.find(": error: "), std::string::npos) << r.out;
    return;
  }
  if (r.status == 0) {
    fs::path out = fs::temp_directory_path() / ("sluice-corpus-" + std::to_string(::getpid()) + "-" + testName({e, 0}));
    r = runSluice("compile " + quoted(kCluster) + " " + quoted(file) + " -o " + quoted(out));
    std::error_code ec;
    fs::remove_all(out, ec);
  }
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(errorLineNaming(r.out, file.string(), e.words), "")
      << "no error at " << file.string() << ":LINE:COL saying \"" << e.words << "\" in:\n"
      << r.out;
}

// Every compiling file, with the cluster, through the kernel verifier.
TEST(Corpus, EveryCompilingFileVerifiesWithTheCluster) {
  ASSERT_EQ(::geteuid(), 0u) << "sluice verify needs root (this test fails instead of skipping)";
  std::string paths = quoted(kCluster);
  size_t n = 0;
  for (const Expectation& e : compilingOnly(readExpected())) {
    paths += " " + quoted(kPolicies / e.file);
    ++n;
  }
  EXPECT_GE(n, 50u);
  CommandResult r = runSluice("verify " + paths);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("all programs loaded"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(": error: "), std::string::npos) << r.out;
}

// A file that compiles changes some endpoint's programs: its policies select
// pods of the corpus cluster, so the verify of them all loaded code they shaped.
TEST_P(CompilingCorpusFile, SelectsSomePod) {
  const Expectation& e = GetParam();
  static const std::string base = endpointIr(quoted(kCluster));
  std::string with = endpointIr(quoted(kCluster) + " " + quoted(kPolicies / e.file));
  EXPECT_EQ(with.rfind("sluice ir failed", 0), std::string::npos) << e.file << ": " << with;
  EXPECT_NE(with, base) << e.file << " changes no endpoint of the corpus cluster: it selects no pod";
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusFile, ::testing::ValuesIn(readExpected()), testName);
INSTANTIATE_TEST_SUITE_P(Corpus, CompilingCorpusFile, ::testing::ValuesIn(compilingOnly(readExpected())), testName);

// Every file of policies/ is in EXPECTED exactly once, and every entry is a file.
TEST(Corpus, EveryFileIsListedOnce) {
  std::vector<Expectation> expected = readExpected();
  EXPECT_GE(expected.size(), 50u) << "EXPECTED lists too few files";
  std::map<std::string, int> listed;
  for (const Expectation& e : expected) {
    EXPECT_TRUE(e.problem.empty()) << "EXPECTED:" << e.line << ": " << e.problem;
    EXPECT_EQ(listed.count(e.file), 0u) << e.file << " is listed twice (EXPECTED:" << e.line << ")";
    listed[e.file] = e.line;
  }
  std::set<std::string> present;
  for (const auto& entry : fs::directory_iterator(kPolicies)) {
    std::string name = entry.path().filename().string();
    present.insert(name);
    EXPECT_TRUE(listed.count(name)) << "policies/" << name << " is not listed in corpus/EXPECTED";
  }
  for (const auto& [name, line] : listed)
    EXPECT_TRUE(present.count(name)) << "EXPECTED:" << line << " lists " << name << ", which is not in policies/";
}

// Every file says what it exercises and what public example it is modelled
// on, with that source's licence.
TEST(Corpus, EveryFileNamesWhatItExercisesAndItsSource) {
  const std::vector<std::string> licences = {"Apache-2.0", "CC-BY-4.0", "MIT", "BSD-3-Clause"};
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(kPolicies)) {
    ++files;
    std::ifstream in(entry.path());
    std::string first, second;
    std::getline(in, first);
    std::getline(in, second);
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(first.rfind("# corpus: ", 0) == 0 && trim(first.substr(10)).size() > 10)
        << name << ": the first line must be `# corpus: <what it exercises>`, got: " << first;
    EXPECT_TRUE(second.rfind("# modelled on: ", 0) == 0 && trim(second.substr(15)).size() > 10)
        << name << ": the second line must be `# modelled on: <public source>, <licence>`, got: " << second;
    EXPECT_TRUE(std::any_of(licences.begin(), licences.end(),
                            [&](const std::string& l) { return second.find(l) != std::string::npos; }))
        << name << ": the source line names no licence: " << second;
  }
  EXPECT_GT(files, 0u);
}

// The cluster alone loads: a failing policy file is the file's doing.
TEST(Corpus, TheClusterAloneVerifies) {
  ASSERT_EQ(::geteuid(), 0u) << "sluice verify needs root (this test fails instead of skipping)";
  CommandResult r = runSluice("verify " + quoted(kCluster));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("all programs loaded"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sluice
