// agent/dir_source and agent/state_fragments without a kernel: which edits of
// a watched directory count, when, and what a broken file does.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "agent/dir_source.h"
#include "agent/state_fragments.h"

namespace fs = std::filesystem;

namespace sluice::agent {
namespace {

std::string ns(const std::string& name) {
  return "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + name + "}\n";
}

class DirSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-dirsource-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream out(dir_ / name, std::ios::trunc);
    out << text;
  }
  // Waits (bounded) for inotify to say something changed, drains it and rescans.
  int changedAfterEvents(DirSource& source) {
    pollfd p{source.fd(), POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return -1;
    // A burst may arrive in pieces (rename = two events): let it finish.
    for (int i = 0; i < 5 && ::poll(&p, 1, 20) > 0; ++i) source.drain();
    source.drain();
    std::string problems;
    return source.rescan(fragments_, problems);
  }
  std::vector<std::string> namespaces() {
    Diagnostics d;
    ClusterState s = fragments_.merge(d);
    std::vector<std::string> out;
    for (const auto& n : s.namespaces)
      if (!n.implicit) out.push_back(n.meta.name);
    return out;
  }

  fs::path dir_;
  StateFragments fragments_;
};

TEST_F(DirSourceTest, FirstRescanReadsEveryVisibleManifest) {
  write("a.yaml", ns("a"));
  fs::create_directories(dir_ / "sub");
  write("sub/b.json", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"b"}})");
  write(".hidden.yaml", ns("hidden"));
  write("notes.txt", ns("txt"));
  DirSource source(dir_.string());
  std::string error, problems;
  ASSERT_TRUE(source.start(error)) << error;
  EXPECT_EQ(source.rescan(fragments_, problems), 2);
  EXPECT_EQ(namespaces(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(source.rescan(fragments_, problems), 0) << "nothing changed";
}

TEST_F(DirSourceTest, WrittenInPlaceAndReplacedByRenameBothCount) {
  write("a.yaml", ns("a"));
  DirSource source(dir_.string());
  std::string error, problems;
  ASSERT_TRUE(source.start(error)) << error;
  source.rescan(fragments_, problems);

  write("a.yaml", ns("a2"));  // in place: truncate, write, close
  EXPECT_EQ(changedAfterEvents(source), 1);
  EXPECT_EQ(namespaces(), (std::vector<std::string>{"a2"}));

  write(".a.yaml.tmp", ns("a3"));  // as editors and kubectl-like tools do
  fs::rename(dir_ / ".a.yaml.tmp", dir_ / "a.yaml");
  EXPECT_EQ(changedAfterEvents(source), 1);
  EXPECT_EQ(namespaces(), (std::vector<std::string>{"a3"}));

  fs::remove(dir_ / "a.yaml");
  EXPECT_EQ(changedAfterEvents(source), 1);
  EXPECT_TRUE(namespaces().empty());
}

TEST_F(DirSourceTest, AFileIsReadOnlyOnceItsWriterClosedIt) {
  DirSource source(dir_.string());
  std::string error, problems;
  ASSERT_TRUE(source.start(error)) << error;
  source.rescan(fragments_, problems);
  {
    std::ofstream out(dir_ / "half.yaml");
    out << ns("half") << std::flush;  // written, still open: IN_CREATE/IN_MODIFY only
    pollfd p{source.fd(), POLLIN, 0};
    ASSERT_GT(::poll(&p, 1, 2000), 0);
    source.drain();
    EXPECT_EQ(source.rescan(fragments_, problems), 0) << "read before its writer was done";
  }
  EXPECT_EQ(changedAfterEvents(source), 1);
  EXPECT_EQ(namespaces(), (std::vector<std::string>{"half"}));
}

TEST_F(DirSourceTest, ConfigMapStyleSymlinkSwapIsSeen) {
  // A ConfigMap volume: visible symlinks into ..data, itself a symlink to a
  // timestamped directory, swapped by renaming a new ..data symlink into place.
  fs::create_directories(dir_ / "..2026_1");
  std::ofstream(dir_ / "..2026_1" / "p.yaml") << ns("v1");
  fs::create_directory_symlink("..2026_1", dir_ / "..data");
  fs::create_symlink("..data/p.yaml", dir_ / "p.yaml");
  DirSource source(dir_.string());
  std::string error, problems;
  ASSERT_TRUE(source.start(error)) << error;
  source.rescan(fragments_, problems);
  EXPECT_EQ(namespaces(), (std::vector<std::string>{"v1"})) << "hidden copies must not load twice";

  fs::create_directories(dir_ / "..2026_2");
  std::ofstream(dir_ / "..2026_2" / "p.yaml") << ns("v2");
  fs::create_directory_symlink("..2026_2", dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  EXPECT_EQ(changedAfterEvents(source), 1);
  EXPECT_EQ(namespaces(), (std::vector<std::string>{"v2"}));
}

TEST_F(DirSourceTest, ABrokenFileKeepsItsLastGoodObjectsAndSaysWhy) {
  write("a.yaml", ns("a"));
  DirSource source(dir_.string());
  std::string error, problems;
  ASSERT_TRUE(source.start(error)) << error;
  source.rescan(fragments_, problems);
  write("a.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: Not_A_Name}\n");
  EXPECT_EQ(changedAfterEvents(source), 1);
  EXPECT_EQ(namespaces(), (std::vector<std::string>{"a"})) << "a bad edit must not remove what was there";
  EXPECT_NE(fragments_.errors().find("a.yaml:3"), std::string::npos) << fragments_.errors();
  write("a.yaml", ns("fixed"));
  EXPECT_EQ(changedAfterEvents(source), 1);
  EXPECT_EQ(namespaces(), (std::vector<std::string>{"fixed"}));
  EXPECT_EQ(fragments_.errors(), "");
}

TEST_F(DirSourceTest, NewSubdirectoriesAreWatched) {
  DirSource source(dir_.string());
  std::string error, problems;
  ASSERT_TRUE(source.start(error)) << error;
  source.rescan(fragments_, problems);
  fs::create_directories(dir_ / "team");
  changedAfterEvents(source);
  write("team/t.yaml", ns("t"));
  EXPECT_EQ(changedAfterEvents(source), 1);
  EXPECT_EQ(namespaces(), (std::vector<std::string>{"t"}));
}

TEST_F(DirSourceTest, DuplicatesAcrossFilesKeepTheFirstAndAreReported) {
  StateFragments f;
  ASSERT_TRUE(f.update("a.yaml", ns("same")));
  ASSERT_TRUE(f.update("b.yaml", ns("same")));
  Diagnostics d;
  ClusterState s = f.merge(d);
  EXPECT_EQ(s.namespaces.size(), 1u);
  EXPECT_TRUE(d.hasErrors());
  EXPECT_NE(d.render(false).find("b.yaml"), std::string::npos) << d.render(false);
}

// The incremental merge must give exactly what merging every unit afresh gives.
TEST(StateFragmentsMerge, IncrementalEqualsFromScratch) {
  auto pod = [](const std::string& ns, const std::string& name, int ip, const std::string& app) {
    return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: " + ns + ", labels: {app: " +
           app + "}}\nspec: {nodeName: n1, containers: [{name: c}]}\nstatus: {phase: Running, podIP: 10.0.0." +
           std::to_string(ip) + "}\n";
  };
  std::map<std::string, std::string> texts;  // what every unit holds now
  StateFragments incremental;
  for (int i = 0; i < 12; ++i) {
    std::string unit = "u" + std::to_string(i);
    texts[unit] = ns(i % 2 ? "odd" : "even") + pod(i % 3 ? "x" : "y", "p" + std::to_string(i), i + 1, "a");
    incremental.update(unit, texts[unit]);
  }
  Diagnostics d0;
  incremental.merge(d0);
  uint32_t seed = 7;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  for (int step = 0; step < 60; ++step) {
    std::string unit = "u" + std::to_string(next() % 14);
    switch (next() % 4) {
      case 0:
        incremental.remove(unit);
        texts.erase(unit);
        break;
      case 1:  // a duplicate of another unit's pod: the first (by unit order) must win, as from scratch
        texts[unit] = pod("x", "p1", 150 + step % 100, "dup");  // valid addresses: a unit that fails keeps old objects
        incremental.update(unit, texts[unit]);
        break;
      default:
        texts[unit] = pod(next() % 2 ? "x" : "z", "q" + std::to_string(step), 50 + step, "b" + std::to_string(step % 3));
        incremental.update(unit, texts[unit]);
    }
    StateFragments scratch;
    for (const auto& [u, t] : texts) scratch.update(u, t);
    Diagnostics di, ds;
    std::string got = incremental.merge(di).dump(), want = scratch.merge(ds).dump();
    ASSERT_EQ(got, want) << "step " << step;
    EXPECT_EQ(di.render(false), ds.render(false)) << "step " << step;
  }
}

}  // namespace
}  // namespace sluice::agent
