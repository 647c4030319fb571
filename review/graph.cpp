#include "review/graph.h"

#include <algorithm>
#include <map>
#include <set>

namespace sluice::review {

Graph reachGraph(const Reachability& reach, const std::vector<PortProbe>& probes, bool services) {
  Graph g;
  g.workloads = reach.workloads();
  const size_t n = reach.pods().size();
  // (from workload, to workload) -> allowed pod pairs per probe, and pairs in all.
  struct Count {
    std::vector<size_t> allowed;
    size_t pairs = 0;
  };
  std::map<std::pair<std::string, std::string>, Count> counts;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      Count& c = counts[{g.workloads[reach.workloadOf(i)].id, g.workloads[reach.workloadOf(j)].id}];
      c.allowed.resize(probes.size());
      ++c.pairs;
      for (size_t k = 0; k < probes.size(); ++k)
        if (reach.verdict(i, j, k) == Verdict::Allow) ++c.allowed[k];
    }
  if (services) {
    const auto& ports = reach.servicePorts();
    std::set<std::string> names;
    for (const auto& sp : ports) names.insert("svc/" + sp.service);
    g.services.assign(names.begin(), names.end());
    std::map<std::pair<std::string, std::string>, std::map<PortProbe, std::pair<size_t, size_t>>> svcCounts;
    for (size_t i = 0; i < n; ++i) {
      if (!reach.isEndpoint(i)) continue;
      for (size_t s = 0; s < ports.size(); ++s) {
        Flow f = reach.serviceFlow(i, s);
        auto& c = svcCounts[{g.workloads[reach.workloadOf(i)].id, f.to}][f.probe];
        ++c.second;
        if (f.verdict == Verdict::Allow || f.verdict == Verdict::Partial) ++c.first;
      }
    }
    for (const auto& [ends, perProbe] : svcCounts) {
      Edge e{ends.first, ends.second, {}, EdgeChange::Unchanged, 0, 0};
      for (const auto& [probe, c] : perProbe)
        if (c.first) {
          e.probes.push_back(probe);
          e.ofPairs = c.second;
          e.pairs = e.pairs ? std::min(e.pairs, c.first) : c.first;
        }
      if (!e.probes.empty()) g.edges.push_back(std::move(e));
    }
  }
  for (const auto& [ends, c] : counts) {
    Edge e{ends.first, ends.second, {}, EdgeChange::Unchanged, 0, c.pairs};
    size_t least = c.pairs;
    for (size_t k = 0; k < probes.size(); ++k)
      if (c.allowed[k]) {
        e.probes.push_back(probes[k]);
        least = std::min(least, c.allowed[k]);
      }
    if (e.probes.empty()) continue;
    std::sort(e.probes.begin(), e.probes.end());
    e.pairs = least;
    g.edges.push_back(std::move(e));
  }
  std::sort(g.edges.begin(), g.edges.end(),
            [](const Edge& a, const Edge& b) { return std::tie(a.from, a.to) < std::tie(b.from, b.to); });
  return g;
}

}  // namespace sluice::review
