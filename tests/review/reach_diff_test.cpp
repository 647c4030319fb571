// ReachDiffer's three steps (review/reach_diff.h) against its reference: a
// generated cluster and a copy with one edit a reviewer would make (a policy
// removed, a pod relabelled, a policy port edited, a pod added, a namespace
// relabelled), diffed by the grouped engine tracing only what changed, and by
// the exhaustive one tracing every pair whole in both states. Both must list
// the same changed flows, with the same verdicts and deciding rules, and the
// same pods in one state only. Runs the real programs in this kernel (root:
// fails, never skips, without it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <functional>
#include <ostream>
#include <random>
#include <set>

#include "review/reach_diff.h"
#include "tests/review/generated_states.h"

namespace sluice::review {
namespace {

using testing::LoadedState;
using testing::str;

enum class Mutation { RemoveNetworkPolicy, RelabelPod, EditPolicyPort, AddPod, RelabelNamespace };

const char* mutationName(Mutation m) {
  switch (m) {
    case Mutation::RemoveNetworkPolicy: return "RemoveNetworkPolicy";
    case Mutation::RelabelPod: return "RelabelPod";
    case Mutation::EditPolicyPort: return "EditPolicyPort";
    case Mutation::AddPod: return "AddPod";
    case Mutation::RelabelNamespace: return "RelabelNamespace";
  }
  return "?";
}

// One YAML document of a generated file: [begin, end) of its text, "---" line included.
struct Document {
  size_t file, begin, end;
};

std::vector<Document> documents(const std::vector<gen::GeneratedFile>& files, const std::string& kindLine,
                                const std::function<bool(const std::string&)>& keep = {}) {
  std::vector<Document> out;
  for (size_t f = 0; f < files.size(); ++f) {
    const std::string& text = files[f].text;
    for (size_t begin = text.find("---\n"); begin != std::string::npos;) {
      size_t end = text.find("\n---\n", begin + 3);
      end = end == std::string::npos ? text.size() : end + 1;
      std::string doc = text.substr(begin, end - begin);
      if (doc.find("\n" + kindLine + "\n") != std::string::npos && (!keep || keep(doc))) out.push_back({f, begin, end});
      begin = end < text.size() ? end : std::string::npos;
    }
  }
  return out;
}

// The value after "KEY: " on the first line of `doc` (from `from`) holding it.
std::string valueOf(const std::string& doc, const std::string& key, size_t from = 0) {
  size_t at = doc.find(key + ": ", from);
  if (at == std::string::npos) return "";
  at += key.size() + 2;
  return doc.substr(at, doc.find('\n', at) - at);
}

void replaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

bool runningPod(const std::string& doc) {
  return doc.find("phase: Running") != std::string::npos && doc.find("hostNetwork: true") == std::string::npos;
}

// Applies `m` to the generated text, choosing what it touches with `rng`.
// Returns what it did, for the failure messages; "" when nothing fitted.
std::string mutate(std::vector<gen::GeneratedFile>& files, Mutation m, std::mt19937_64& rng) {
  auto pickFrom = [&](const std::vector<Document>& docs) { return docs[size_t(rng() % docs.size())]; };
  switch (m) {
    case Mutation::RemoveNetworkPolicy: {
      auto docs = documents(files, "kind: NetworkPolicy");
      if (docs.empty()) return "";
      Document d = pickFrom(docs);
      std::string& text = files[d.file].text;
      std::string what = fmt::format("removed NetworkPolicy {}/{}", valueOf(text.substr(d.begin), "namespace"),
                                     valueOf(text.substr(d.begin), "name"));
      text.erase(d.begin, d.end - d.begin);
      return what;
    }
    case Mutation::RelabelPod: {
      // The first label is the one the pod's workload policy and services
      // select it by: the pod leaves them.
      auto docs = documents(files, "kind: Pod", runningPod);
      if (docs.empty()) return "";
      Document d = pickFrom(docs);
      std::string doc = files[d.file].text.substr(d.begin, d.end - d.begin);
      size_t at = doc.find("  labels:\n    ");
      if (at == std::string::npos) return "";
      at = doc.find(": ", at + 15) + 2;
      std::string value = doc.substr(at, doc.find('\n', at) - at);
      doc.insert(at + value.size(), "-relabelled");
      files[d.file].text.replace(d.begin, d.end - d.begin, doc);
      return fmt::format("pod {}/{}: label value {} -> {}-relabelled", valueOf(doc, "namespace"), valueOf(doc, "name"),
                         value, value);
    }
    case Mutation::EditPolicyPort: {
      // A port line of a NetworkPolicy that no endPort bounds.
      std::vector<std::pair<Document, size_t>> lines;
      for (const Document& d : documents(files, "kind: NetworkPolicy")) {
        std::string doc = files[d.file].text.substr(d.begin, d.end - d.begin);
        for (size_t at = doc.find(" port: "); at != std::string::npos; at = doc.find(" port: ", at + 1)) {
          size_t next = doc.find('\n', at);
          if (doc.compare(next + 1, 15, "      endPort: ") != 0) lines.push_back({d, at + 7});
        }
      }
      if (lines.empty()) return "";
      auto [d, at] = lines[size_t(rng() % lines.size())];
      std::string doc = files[d.file].text.substr(d.begin, d.end - d.begin);
      std::string port = doc.substr(at, doc.find('\n', at) - at);
      bool named = !port.empty() && !std::isdigit(static_cast<unsigned char>(port[0]));
      std::string to = named ? (port == "http" ? "metrics" : "http") : (port == "8080" ? "9090" : "8080");
      doc.replace(at, port.size(), to);
      files[d.file].text.replace(d.begin, d.end - d.begin, doc);
      return fmt::format("NetworkPolicy {}/{}: port {} -> {}", valueOf(doc, "namespace"), valueOf(doc, "name"), port,
                         to);
    }
    case Mutation::AddPod: {
      // A replica more of a running pod, at a free address of its node's range.
      auto docs = documents(files, "kind: Pod", runningPod);
      if (docs.empty()) return "";
      std::set<std::string> used;
      for (const auto& f : files)
        for (size_t at = f.text.find("podIP: "); at != std::string::npos; at = f.text.find("podIP: ", at + 1))
          used.insert(f.text.substr(at + 7, f.text.find('\n', at) - at - 7));
      Document d = pickFrom(docs);
      std::string doc = files[d.file].text.substr(d.begin, d.end - d.begin);
      std::string ip = valueOf(doc, "podIP");
      std::string prefix = ip.substr(0, ip.rfind('.') + 1);
      std::string free;
      for (int last = 250; last > 1 && free.empty(); --last)
        if (!used.count(prefix + std::to_string(last))) free = prefix + std::to_string(last);
      if (free.empty()) return "";
      std::string name = valueOf(doc, "name");
      replaceAll(doc, "name: " + name + "\n", "name: " + name + "-added\n");
      replaceAll(doc, ip + "\n", free + "\n");
      files[d.file].text += doc;
      return fmt::format("added pod {}/{}-added at {} (a copy of {})", valueOf(doc, "namespace"), name, free, name);
    }
    case Mutation::RelabelNamespace: {
      // Data stores admit namespaces whose team is In [data, platform]: move
      // a namespace in or out of that set.
      auto docs = documents(files, "kind: Namespace",
                            [](const std::string& doc) { return doc.find("\n    team: ") != std::string::npos; });
      if (docs.empty()) return "";
      Document d = pickFrom(docs);
      std::string doc = files[d.file].text.substr(d.begin, d.end - d.begin);
      std::string team = valueOf(doc, "    team");
      std::string to = team == "data" || team == "platform" ? "qa" : "platform";
      replaceAll(doc, "    team: " + team + "\n", "    team: " + to + "\n");
      files[d.file].text.replace(d.begin, d.end - d.begin, doc);
      return fmt::format("namespace {}: team {} -> {}", valueOf(doc, "  name"), team, to);
    }
  }
  return "";
}

struct Case {
  uint64_t seed;
  Mutation mutation;
  // The edit this seed draws changes the verdict of some flow (found by
  // running it): so that agreement on empty lists cannot pass the test alone.
  bool changesFlows;
};

void PrintTo(const Case& c, std::ostream* os) { *os << mutationName(c.mutation) << " on seed " << c.seed; }

std::string caseName(const ::testing::TestParamInfo<Case>& info) {
  return fmt::format("{}_seed{}", mutationName(info.param.mutation), info.param.seed);
}

ReachOptions options(bool exhaustive) {
  ReachOptions o;
  o.exhaustive = exhaustive;
  o.jobs = 1;  // the machines running these share their cores
  return o;
}

struct DiffRun {
  Reachability before, after;
  ReachDiff diff;
};

// Prepares both states, runs ReachDiffer, collects.
std::unique_ptr<DiffRun> diffStates(LoadedState& before, LoadedState& after, const std::vector<PortProbe>& probes,
                                    bool exhaustive) {
  auto run = std::make_unique<DiffRun>();
  EXPECT_TRUE(run->before.prepare(before.state, before.diags, options(exhaustive))) << before.diags.render(false);
  EXPECT_TRUE(run->after.prepare(after.state, after.diags, options(exhaustive))) << after.diags.render(false);
  ReachDiffer differ(run->before, run->after, exhaustive);
  std::string error;
  EXPECT_TRUE(differ.run(probes, before.diags, after.diags, error)) << error;
  if (error.empty()) run->diff = differ.collect(probes);
  return run;
}

std::string str(const FlowChange& c) { return "before " + str(c.before) + "\n    after  " + str(c.after); }

class ReachDiffTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { ASSERT_EQ(geteuid(), 0u) << "kernel tests must run as root (they fail instead of skipping)"; }
};

TEST_P(ReachDiffTest, ThreeStepsFindWhatTracingEveryPairFinds) {
  auto start = std::chrono::steady_clock::now();
  const Case& c = GetParam();
  auto files = gen::generateCluster(testing::smallClusterOptions(c.seed)).files;
  auto before = testing::loadFiles(files);
  std::mt19937_64 rng(c.seed);
  std::string what = mutate(files, c.mutation, rng);
  ASSERT_NE(what, "") << "nothing to " << mutationName(c.mutation) << " in seed " << c.seed;
  SCOPED_TRACE(what);
  auto after = testing::loadFiles(files);
  ASSERT_FALSE(before->diags.hasErrors()) << before->diags.render(false);
  ASSERT_FALSE(after->diags.hasErrors()) << after->diags.render(false);

  const std::vector<PortProbe> probes = testing::generatedProbes();
  auto grouped = diffStates(*before, *after, probes, false);
  auto exhaustive = diffStates(*before, *after, probes, true);
  ASSERT_FALSE(HasFailure());
  const ReachDiff& g = grouped->diff;
  const ReachDiff& e = exhaustive->diff;
  std::printf("%s: %zu flows changed, +%zu -%zu pods; grouped traced %zu + %zu on %zu + %zu nodes, exhaustive "
              "%zu + %zu; %.1f s\n",
              what.c_str(), e.flows.size(), e.addedPods.size(), e.removedPods.size(), grouped->before.stats().traced,
              grouped->after.stats().traced, grouped->before.stats().nodesCompiled,
              grouped->after.stats().nodesCompiled, exhaustive->before.stats().traced,
              exhaustive->after.stats().traced,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

  EXPECT_EQ(g.addedPods, e.addedPods);
  EXPECT_EQ(g.removedPods, e.removedPods);
  std::string differences;
  size_t shown = 0;
  for (size_t k = 0; k < std::max(g.flows.size(), e.flows.size()); ++k) {
    const FlowChange* gc = k < g.flows.size() ? &g.flows[k] : nullptr;
    const FlowChange* ec = k < e.flows.size() ? &e.flows[k] : nullptr;
    bool same = gc && ec && gc->before.from == ec->before.from && gc->before.to == ec->before.to &&
                gc->after.from == ec->after.from && gc->after.to == ec->after.to && gc->after.probe == ec->after.probe &&
                gc->before.verdict == ec->before.verdict && gc->after.verdict == ec->after.verdict &&
                gc->before.decision == ec->before.decision && gc->after.decision == ec->after.decision;
    if (same || ++shown > 10) continue;
    differences += fmt::format("  #{}\n  grouped    {}\n  exhaustive {}\n", k, gc ? str(*gc) : "(none)",
                               ec ? str(*ec) : "(none)");
  }
  EXPECT_EQ(g.flows.size(), e.flows.size());
  EXPECT_EQ(differences, "");
  if (c.changesFlows) {
    EXPECT_FALSE(e.flows.empty()) << "this edit was expected to change some flow";
  }
  if (c.mutation == Mutation::AddPod) {
    EXPECT_EQ(e.addedPods.size(), 1u);
  }
  // The grouped engine traced less than the reference, or the test compares it with itself.
  EXPECT_LT(grouped->before.stats().traced + grouped->after.stats().traced,
            exhaustive->before.stats().traced + exhaustive->after.stats().traced);
}

INSTANTIATE_TEST_SUITE_P(Edits, ReachDiffTest,
                         ::testing::Values(Case{22, Mutation::RemoveNetworkPolicy, true},
                                           Case{25, Mutation::RelabelPod, true},
                                           Case{13, Mutation::EditPolicyPort, true},
                                           Case{14, Mutation::AddPod, false},
                                           Case{15, Mutation::RelabelNamespace, false}),
                         caseName);

}  // namespace
}  // namespace sluice::review
