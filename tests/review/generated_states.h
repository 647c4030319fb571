// Small clusters from tools/gen, loaded from memory, for the tests that check
// the grouped review engine (review/reachability.h, review/reach_diff.h)
// against its exhaustive reference. Sizes are small so that each state
// compiles in a few seconds on two shared cores, yet has several replicas per
// workload (so that grouping groups), hostNetwork pods, named ports, ipBlocks
// and CNPs.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "frontend/manifest_loader.h"
#include "review/review_model.h"
#include "tools/gen/cluster_generator.h"

namespace sluice::review::testing {

inline gen::GenOptions smallClusterOptions(uint64_t seed) {
  gen::GenOptions o;
  o.pods = 40 + int(seed * 7 % 41);  // 40–80, varying by seed
  o.nodes = 3 + int(seed % 2);
  o.namespaces = 5 + int(seed % 4);
  o.policies = 10 + int(seed * 3 % 11);
  o.cnps = 3 + int(seed % 3);
  o.services = 10;
  o.seed = seed;
  return o;
}

// A state and what loading it said; Reachability points into `state`, so it
// stays at one address.
struct LoadedState {
  ClusterState state;
  Diagnostics diags;
};

// Every file through the frontend as `sluice reach DIR` reads them (sorted by
// name, which generateCluster already does), then finalize().
inline std::unique_ptr<LoadedState> loadFiles(const std::vector<gen::GeneratedFile>& files) {
  auto loaded = std::make_unique<LoadedState>();
  for (const gen::GeneratedFile& f : files) loadManifestText(f.name, f.text, loaded->state, loaded->diags);
  loaded->state.finalize();
  return loaded;
}

// Ports the generated workloads listen on, by number and by name (http is
// 8080 on most backends and 3000 on web frontends, metrics 9090, postgres
// 5432), DNS, and a port nothing names.
inline std::vector<PortProbe> generatedProbes() {
  return {{8080, ir::L4Proto::TCP}, {3000, ir::L4Proto::TCP}, {9090, ir::L4Proto::TCP},
          {5432, ir::L4Proto::TCP}, {53, ir::L4Proto::UDP},  {80, ir::L4Proto::TCP}};
}

inline std::string str(const Decision& d) {
  return fmt::format("[hook '{}', rule '{}', policy '{}', path '{}', source '{}', explanation '{}']", d.hook, d.rule,
                     d.policy, d.path, d.source, d.explanation);
}

inline std::string str(const Flow& f) {
  return fmt::format("{} -> {} {}: {} {}", f.from, f.to, f.probe.str(), verdictName(f.verdict), str(f.decision));
}

}  // namespace sluice::review::testing
