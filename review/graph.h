// The graphs the pictures draw, built from evaluated reachability: workloads
// as nodes, allowed connections as edges (a workload pair holds an edge on a
// probe when at least one pod pair is allowed on it).
#pragma once

#include <vector>

#include "review/reachability.h"
#include "review/review_model.h"

namespace sluice::review {

// Every allowed edge between workloads on `probes` (evaluated for every pair),
// and to services when they were evaluated too.
Graph reachGraph(const Reachability& reach, const std::vector<PortProbe>& probes, bool services);

}  // namespace sluice::review
