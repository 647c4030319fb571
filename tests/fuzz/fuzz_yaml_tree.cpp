// fuzz_yaml_tree: the bounded YAML/JSON reader under the manifest reader
// (frontend/yaml_tree.h), with its default limits and with small ones so
// that every limit is reached often.
//
// Checked besides the sanitizers: the tree is well formed (a mapping has
// keys and values in pairs, no null child, positions 1-based), and the limit
// that protects every reader walking the tree holds: a walk that follows
// aliases visits at most the distinct nodes plus Limits::maxAliasNodes.
#include <cstdint>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "frontend/yaml_tree.h"
#include "tests/fuzz/check.h"

namespace {

using sluice::yaml::Node;

void walk(const sluice::yaml::Stream& stream, const sluice::yaml::Limits& limits) {
  std::unordered_set<const Node*> distinct;
  uint64_t visits = 0;
  const uint64_t cap = limits.maxNodes + limits.maxAliasNodes;
  std::vector<const Node*> pending;
  for (const Node* root : stream.documents()) {
    FUZZ_CHECK(root != nullptr, "null document root");
    pending.push_back(root);
  }
  while (!pending.empty()) {
    const Node* n = pending.back();
    pending.pop_back();
    distinct.insert(n);
    ++visits;
    FUZZ_CHECK(visits <= cap, "a walk visits more than maxNodes + maxAliasNodes = %llu nodes",
               static_cast<unsigned long long>(cap));
    FUZZ_CHECK(n->line >= 1 && n->col >= 1, "node at %u:%u", n->line, n->col);
    if (n->isMap()) FUZZ_CHECK(n->children.size() % 2 == 0, "mapping with %zu children", n->children.size());
    if (n->isScalar() || n->isNull()) FUZZ_CHECK(n->children.empty(), "scalar with children");
    if (n->isNull()) FUZZ_CHECK(n->value.empty(), "null with a value");
    for (const Node* c : n->children) {
      FUZZ_CHECK(c != nullptr, "null child");
      pending.push_back(c);
    }
  }
  FUZZ_CHECK(visits <= distinct.size() + limits.maxAliasNodes,
             "aliases expand to %llu nodes past the %zu distinct ones, more than maxAliasNodes = %llu",
             static_cast<unsigned long long>(visits - distinct.size()), distinct.size(),
             static_cast<unsigned long long>(limits.maxAliasNodes));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sluice::yaml::Stream stream;
  sluice::yaml::Limits defaults;
  if (stream.parse(text, defaults)) walk(stream, defaults);
  else FUZZ_CHECK(stream.documents().empty(), "a refused file keeps %zu documents", stream.documents().size());

  sluice::yaml::Limits small;
  small.maxDepth = 8;
  small.maxNodes = 2000;
  small.maxAliasNodes = 200;
  if (stream.parse(text, small)) walk(stream, small);
  else FUZZ_CHECK(!stream.error().message.empty(), "a refusal without a message");
  return 0;
}
