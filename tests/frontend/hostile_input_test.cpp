// Hostile and broken input: what a pull request or a bad file in a watched
// directory can feed the readers. Each case must end in a located error (or a
// clean load), never a crash, a hang, an allocation without bound, or a
// diagnostic that forges lines in a log.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "base/text.h"
#include "frontend/manifest_loader.h"
#include "frontend/yaml_tree.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

struct Loaded {
  ClusterState state;
  Diagnostics diags;
  bool ok = false;
  std::string rendered;
};

Loaded loadText(const std::string& text, const std::string& name = "in.yaml") {
  Loaded l;
  l.ok = loadManifestText(name, text, l.state, l.diags);
  l.rendered = l.diags.render();
  return l;
}

bool hasError(const Loaded& l, const std::string& needle) {
  return std::any_of(l.diags.all().begin(), l.diags.all().end(), [&](const Diagnostic& d) {
    return d.severity == Severity::Error && d.message.find(needle) != std::string::npos;
  });
}

// A fresh directory under the system's temporary one, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "sluice-hostile-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
};

const std::string kPod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec: {}\n";

// yaml-cpp 0.7's LoadAll allocated until memory ran out on these.
TEST(HostileInput, OneCommaAndTrailingCommasEndInAnError) {
  for (std::string text : {std::string(","), std::string("{\"apiVersion\": \"v1\",}"),
                           std::string("[1, 2, ,]"), std::string("{\"kind\": \"Pod\", , }")}) {
    Loaded l = loadText(text);
    EXPECT_FALSE(l.ok) << text;
    ASSERT_FALSE(l.diags.all().empty()) << text;
    EXPECT_TRUE(l.diags.all()[0].loc.known()) << text << "\n" << l.rendered;
  }
}

TEST(HostileInput, DeepNestingIsRefusedWithAClearError) {
  for (const auto& [open, close] : {std::pair<std::string, std::string>{"[", "]"}, {"{\"a\": ", "}"}, {"- ", ""}}) {
    std::string text;
    const int depth = 200000;
    if (open == "- ") {
      for (int i = 0; i < 150; ++i) text += std::string(size_t(2 * i), ' ') + "-\n";
    } else {
      for (int i = 0; i < depth; ++i) text += open;
      text += "1";
      for (int i = 0; i < depth; ++i) text += close;
    }
    Loaded l = loadText(text);
    EXPECT_FALSE(l.ok);
    EXPECT_TRUE(hasError(l, "nesting deeper than 100 levels")) << l.rendered.substr(0, 400);
    EXPECT_EQ(l.diags.all().size(), 1u);
  }
}

// A 2 KB "billion laughs": nine levels of ten aliases each.
std::string aliasBomb() {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string prev(1, char(c - 1));
    text += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", *" : "*") + prev;
    text += "]\n";
  }
  return text;
}

TEST(HostileInput, AliasExpansionIsBounded) {
  std::string bomb = aliasBomb();
  ASSERT_LT(bomb.size(), 2048u);
  yaml::Stream stream;
  EXPECT_FALSE(stream.parse(bomb));
  EXPECT_NE(stream.error().message.find("aliases expand to more than"), std::string::npos) << stream.error().message;
  EXPECT_GT(stream.error().line, 1u);

  Loaded l = loadText(bomb);
  EXPECT_TRUE(hasError(l, "aliases expand to more than")) << l.rendered;
}

TEST(HostileInput, AliasesOfAnInvalidValueReportItOnce) {
  // One invalid port, reached through aliases by 1,000 field paths: ten items
  // of a ports list that a hundred rules share.
  std::string text =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: ns}\n"
      "spec:\n  podSelector: {}\n  ingress:\n  - ports: &p1 [&bad {port: -5}";
  for (int i = 0; i < 9; ++i) text += ", *bad";
  text += "]\n";
  for (int i = 0; i < 99; ++i) text += "  - ports: *p1\n";
  Loaded l = loadText(text);
  EXPECT_FALSE(l.ok);
  size_t errors = std::count_if(l.diags.all().begin(), l.diags.all().end(),
                                [](const Diagnostic& d) { return d.severity == Severity::Error; });
  EXPECT_EQ(errors, 1u) << l.rendered;
  EXPECT_EQ(l.diags.dropped(), 999u);
  EXPECT_NE(l.rendered.find("999 repeated diagnostics not shown"), std::string::npos) << l.rendered;
}

TEST(HostileInput, AliasesAndMergeKeysReadAsKubectlReadsThem) {
  // Anchors live within one document, as in kubectl: a List shares them.
  Loaded l = loadText(R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: p
    namespace: ns
    labels: &common {app: web, tier: front}
  spec:
    containers:
    - name: c
      ports:
      - &http {name: http, containerPort: 80}
- apiVersion: v1
  kind: Pod
  metadata:
    name: q
    namespace: ns
    labels:
      <<: *common
      tier: back
  spec:
    containers:
    - name: c
      ports: [*http]
)");
  ASSERT_TRUE(l.ok) << l.rendered;
  ASSERT_EQ(l.state.pods.size(), 2u);
  EXPECT_EQ(l.state.pods[0].meta.labels, (Labels{{"app", "web"}, {"tier", "front"}}));
  EXPECT_EQ(l.state.pods[1].meta.labels, (Labels{{"app", "web"}, {"tier", "back"}}));
}

TEST(HostileInput, ControlCharactersAndLongValuesAreEchoedSafely) {
  std::string longValue(5000, 'v');
  Loaded l = loadText("apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"a\\e[31mb\\nerror: forged\\rc\"\n"
                      "  namespace: ns\n  labels: {app: \"" + longValue + "\"}\n");
  EXPECT_FALSE(l.ok);
  EXPECT_EQ(l.rendered.find('\x1b'), std::string::npos) << l.rendered;
  EXPECT_EQ(l.rendered.find('\r'), std::string::npos);
  EXPECT_NE(l.rendered.find("\\x1b[31mb\\nerror: forged\\rc"), std::string::npos) << l.rendered;
  // Every rendered line is either a diagnostic or a quoted source line.
  size_t start = 0;
  while (start < l.rendered.size()) {
    size_t end = l.rendered.find('\n', start);
    std::string line = l.rendered.substr(start, end - start);
    EXPECT_TRUE(line.starts_with("in.yaml:") || line.find(" | ") != std::string::npos) << line;
    start = end + 1;
  }
  EXPECT_NE(l.rendered.find("(5000 bytes)"), std::string::npos) << l.rendered.substr(0, 2000);
  EXPECT_LT(l.rendered.size(), 3000u);  // the 5,000-byte value is cut, in the message and the quoted line
}

TEST(HostileInput, DisplayTextEscapesEverythingAControlSequenceNeeds) {
  EXPECT_EQ(displayText("a\x1b[2Jb"), "a\\x1b[2Jb");
  EXPECT_EQ(displayText("\xc2\x9b" "31m"), "\\u009b31m");  // C1 CSI
  EXPECT_EQ(displayText("caf\xc3\xa9"), "caf\xc3\xa9");    // UTF-8 stays
  EXPECT_EQ(displayText("\xff"), "\\xff");                 // not UTF-8
  EXPECT_EQ(displayText(std::string(100, 'a'), 10), "aaaaaaaaaa\u2026 (100 bytes)");
}

TEST(HostileInput, NegativePortsSayTheyAreNegative) {
  Loaded l = loadText(
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n, namespace: ns}\n"
      "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: -1}]\n");
  EXPECT_TRUE(hasError(l, "a port may not be negative (got -1)")) << l.rendered;
}

TEST(HostileInput, ManyDiagnosticsRenderWithTheirLines) {
  // 40,000 errors in one file; each quotes its own line.
  std::string text;
  for (int i = 0; i < 40000; ++i)
    text += "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: Bad_" + std::to_string(i) + "}\n";
  Loaded l = loadText(text, "many.yaml");
  ASSERT_EQ(l.diags.errorCount(), 40000u);
  EXPECT_NE(l.rendered.find("many.yaml:160000:18: error: Namespace: metadata.name: invalid name 'Bad_39999'"),
            std::string::npos);
  EXPECT_NE(l.rendered.find("160000 | metadata: {name: Bad_39999}"), std::string::npos);
}

TEST(HostileInput, WholeFileErrorsSayFileOneOne) {
  Diagnostics diags;
  ClusterState state;
  EXPECT_FALSE(loadManifests({"/nonexistent/sluice/x.yaml"}, state, diags));
  EXPECT_EQ(diags.render(), "/nonexistent/sluice/x.yaml:1:1: error: no such file or directory\n");
}

TEST(HostileInput, DevicesAndFifosAreRefusedWithoutReading) {
  TempDir dir;
  std::string fifo = (dir.path / "pipe.yaml").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {std::string("/dev/zero"), fifo}) {
    Diagnostics diags;
    ClusterState state;
    EXPECT_FALSE(loadManifests({path}, state, diags)) << path;  // returns at once: nobody writes to the FIFO
    EXPECT_NE(diags.render().find("not a regular file: refused"), std::string::npos) << diags.render();
  }
  // In a directory, a FIFO named like a manifest is an error too, not skipped.
  Diagnostics diags;
  ClusterState state;
  EXPECT_FALSE(loadManifests({dir.path.string()}, state, diags));
  EXPECT_NE(diags.render().find("pipe.yaml:1:1: error: not a regular file"), std::string::npos) << diags.render();
}

TEST(HostileInput, AFileLargerThanTheLimitIsRefusedBeforeItIsRead) {
  TempDir dir;
  std::string big = (dir.path / "big.yaml").string();
  int fd = ::open(big.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, off_t(kMaxManifestBytes + 1)), 0);  // sparse: no disk used
  ::close(fd);
  Diagnostics diags;
  ClusterState state;
  EXPECT_FALSE(loadManifests({big}, state, diags));
  EXPECT_NE(diags.render().find("big.yaml:1:1: error: file is larger than 256 MiB"), std::string::npos)
      << diags.render();
}

// Root reads any directory, so the unreadable one is read by an unprivileged
// child process (as nobody), which reports through its exit status.
TEST(HostileInput, AnUnreadableSubdirectoryIsAnErrorNotSkipped) {
  TempDir dir;
  fs::create_directories(dir.path / "team-a");
  fs::create_directories(dir.path / "secret");
  std::ofstream(dir.path / "team-a" / "pod.yaml") << kPod;
  std::ofstream(dir.path / "secret" / "policy.yaml") << kPod;
  fs::permissions(dir.path, fs::perms::all);
  fs::permissions(dir.path / "team-a", fs::perms::all);
  fs::permissions(dir.path / "team-a" / "pod.yaml", fs::perms::all);
  fs::permissions(dir.path / "secret", fs::perms::none);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::getuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
    Diagnostics diags;
    ClusterState state;
    bool ok = loadManifests({dir.path.string()}, state, diags);
    std::string text = diags.render();
    bool named = text.find("secret:1:1: error: cannot read directory: Permission denied") != std::string::npos;
    ::_exit(ok ? 11 : !named ? 12 : state.pods.size() != 1 ? 13 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: could not drop privileges, 11: loaded without error, 12: the error "
                                       "does not name the directory, 13: the readable pod was not loaded";
}

TEST(HostileInput, NearMissKindsAreErrorsWithASuggestion) {
  Loaded l = loadText("apiVersion: networking.k8s.io/v1\nkind: networkpolicy\nmetadata: {name: a}\n");
  EXPECT_TRUE(hasError(l, "unknown kind 'networkpolicy': did you mean NetworkPolicy?")) << l.rendered;
  Loaded other = loadText("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: a}\n");
  EXPECT_TRUE(other.ok) << other.rendered;
  EXPECT_NE(other.rendered.find("note: Role a: skipped: sluice does not read kind Role"), std::string::npos)
      << other.rendered;
}

}  // namespace
}  // namespace sluice
