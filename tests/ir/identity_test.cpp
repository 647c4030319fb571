// Identity numbering: deterministic, and stable across unrelated changes.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>

#include "frontend/manifest_loader.h"
#include "ir/identity.h"
#include "ir/lower.h"
#include "ir/print.h"
#include "tests/ir/ir_test_util.h"
#include "tests/testing/golden.h"

namespace sluice::ir {
namespace {

using testing::podYaml;

std::map<LabelSet, IdentityId> numbersOf(const Program& p) {
  std::map<LabelSet, IdentityId> out;
  for (const auto& i : p.identities) out[i.labels] = i.id;
  return out;
}

// Each line with the headers that enclose it (less-indented lines above it),
// joined by " > ": the way a reader of a diff attributes a line to its block.
std::vector<std::string> linesInContext(const std::string& text) {
  std::vector<std::string> out;
  std::vector<std::pair<size_t, std::string>> stack;  // indent, line
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    size_t indent = l.find_first_not_of(' ');
    if (indent == std::string::npos) continue;
    while (!stack.empty() && stack.back().first >= indent) stack.pop_back();
    std::string full;
    for (const auto& [i, h] : stack) full += h + " > ";
    out.push_back(full + l);
    stack.emplace_back(indent, l);
  }
  return out;
}

// Lines (in context) present in one text and not the other, as multisets.
std::vector<std::string> changedLines(const std::string& before, const std::string& after) {
  auto a = linesInContext(before), b = linesInContext(after);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<std::string> out;
  std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

Program lowerSampleWith(const std::string& sample, const std::string& extra) {
  ClusterState state;
  Diagnostics diags;
  loadManifests({sample}, state, diags);
  if (!extra.empty()) {
    loadManifestText("extra.yaml", extra, state, diags);
    checkDuplicates(state, diags);
    state.finalize();
  }
  EXPECT_FALSE(diags.hasErrors()) << diags.render();
  return lower(state, diags);
}

TEST(Identity, HashIsInRangeAndDependsOnlyOnLabels) {
  LabelSet a = {"k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop"};
  IdentityId id = hashIdentity(a);
  EXPECT_GE(id, kFirstClusterIdentity);
  EXPECT_LE(id, kLastClusterIdentity);
  EXPECT_EQ(id, hashIdentity(a));
  EXPECT_NE(id, hashIdentity({"k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop2"}));
  EXPECT_NE(id, hashIdentity(a, 1));
}

TEST(Identity, CollisionsResolveDeterministically) {
  std::set<LabelSet> sets;
  for (int i = 0; i < 20000; ++i) sets.insert({"k8s:app=a" + std::to_string(i)});
  auto numbers = assignIdentityNumbers(sets);
  std::set<IdentityId> unique;
  for (const auto& [labels, id] : numbers) unique.insert(id);
  EXPECT_EQ(unique.size(), sets.size());
  EXPECT_EQ(numbers, assignIdentityNumbers(sets));
}

TEST(Identity, RolloutLabelsAreLeftOutUnlessSelected) {
  Pod pod;
  pod.meta.name = "web-1";
  pod.meta.namespace_ = "shop";
  pod.meta.labels = {{"app", "web"}, {"pod-template-hash", "5d8f9c"}};
  pod.serviceAccount = "default";
  LabelSet without = podIdentityLabels(pod, nullptr, {});
  EXPECT_EQ(std::count(without.begin(), without.end(), "k8s:pod-template-hash=5d8f9c"), 0);
  LabelSet with = podIdentityLabels(pod, nullptr, {"pod-template-hash"});
  EXPECT_EQ(std::count(with.begin(), with.end(), "k8s:pod-template-hash=5d8f9c"), 1);
}

TEST(Identity, PodsWithTheSameLabelsShareAnIdentity) {
  auto p = testing::lowerText(podYaml("x", "a1", "n1", "10.0.0.1", "app: a, pod-template-hash: h1", "[]") +
                              podYaml("x", "a2", "n1", "10.0.0.2", "app: a, pod-template-hash: h2", "[]") +
                              podYaml("y", "a3", "n1", "10.0.0.3", "app: a", "[]"));
  const NodeProgram* n = p.findNode("n1");
  EXPECT_EQ(n->findEndpoint("x/a1")->identity, n->findEndpoint("x/a2")->identity);
  EXPECT_NE(n->findEndpoint("x/a1")->identity, n->findEndpoint("y/a3")->identity);
}

const char* kSample = "samples/microservices";

TEST(Identity, AddingAPodChangesOnlyItsLinesAndItsIdentity) {
  Program before = lowerSampleWith(kSample, "");
  ASSERT_FALSE(before.nodes.empty());
  const std::string node = before.nodes.front().node;
  // A pod with labels no other pod has: a new identity.
  std::string pod = podYaml("default", "newcomer", node, "10.244.250.7", "app: newcomer", "[]");
  Program after = lowerSampleWith(kSample, pod);

  auto oldNumbers = numbersOf(before), newNumbers = numbersOf(after);
  for (const auto& [labels, id] : oldNumbers) {
    ASSERT_TRUE(newNumbers.count(labels)) << "identity " << id << " vanished";
    EXPECT_EQ(newNumbers.at(labels), id) << "identity renumbered";
  }
  ASSERT_EQ(newNumbers.size(), oldNumbers.size() + 1);
  IdentityId added = 0;
  for (const auto& [labels, id] : newNumbers)
    if (!oldNumbers.count(labels)) added = id;

  // Take every mention of the pod and of its identity out of the new text:
  // what is left must be exactly the old text.
  std::string id = std::to_string(added);
  std::vector<std::string> normalized;
  for (std::string line : linesInContext(str(after))) {
    if (line.find("newcomer") != std::string::npos || line.find("identity " + id + " ") != std::string::npos)
      continue;
    line = std::regex_replace(line, std::regex("identities\\{" + id + "\\}"), "none");
    line = std::regex_replace(line, std::regex("([{,])" + id + ","), "$1");
    line = std::regex_replace(line, std::regex("," + id + "\\}"), "}");
    normalized.push_back(line);
  }
  std::vector<std::string> old = linesInContext(str(before));
  ASSERT_NE(old, linesInContext(str(after)));
  EXPECT_EQ(normalized, old);
}

TEST(Identity, AddingAPodWithExistingLabelsAddsNoIdentity) {
  Program before = lowerSampleWith(kSample, "");
  const Endpoint& existing = before.nodes.front().endpoints.front();
  ClusterState state;
  Diagnostics diags;
  loadManifests({kSample}, state, diags);
  const Pod* src = nullptr;
  for (const auto& p : state.pods)
    if (p.meta.key() == existing.key()) src = &p;
  ASSERT_TRUE(src);
  std::string labels;
  for (const auto& [k, v] : src->meta.labels) labels += (labels.empty() ? "" : ", ") + k + ": \"" + v + "\"";
  std::string yaml = podYaml(src->meta.namespace_, "twin", src->nodeName, "10.244.250.8", labels, "[]");
  // Same service account, so the identity labels match exactly.
  if (src->serviceAccount != "default")
    yaml.replace(yaml.find("spec: {"), 7, "spec: {serviceAccountName: " + src->serviceAccount + ", ");
  Program after = lowerSampleWith(kSample, yaml);
  EXPECT_EQ(numbersOf(before), numbersOf(after));
  for (const auto& line : changedLines(str(before), str(after)))
    EXPECT_TRUE(line.find("twin") != std::string::npos || line.find("10.244.250.8") != std::string::npos)
        << "unrelated line changed: " << line;
}

TEST(Identity, RemovingPodsKeepsOtherNumbers) {
  ClusterState state;
  Diagnostics diags;
  loadManifests({kSample}, state, diags);
  ASSERT_FALSE(diags.hasErrors()) << diags.render();
  Program before = lower(state, diags);
  // Drop every other pod.
  std::vector<Pod> kept;
  for (size_t i = 0; i < state.pods.size(); ++i)
    if (i % 2) kept.push_back(state.pods[i]);
  state.pods = kept;
  Program after = lower(state, diags);
  auto oldNumbers = numbersOf(before);
  for (const auto& [labels, id] : numbersOf(after)) EXPECT_EQ(oldNumbers.at(labels), id);
}

}  // namespace
}  // namespace sluice::ir
