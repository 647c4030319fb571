// The reachability half of `sluice diff`: which flows between pods present
// in both states changed verdict. Only flows with an end whose signature
// changed (review/reachability.h) can have, so only those are traced.
#pragma once

#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "review/reachability.h"
#include "review/review_model.h"

namespace sluice::review {

struct FlowChange {
  Flow before, after;
};

struct ReachDiff {
  std::vector<std::string> addedPods, removedPods;          // running in one state only
  std::vector<std::string> addedServices, removedServices;  // "svc/ns/name:80/TCP", with --to-services
  std::vector<FlowChange> flows;                            // sorted by probe, from, to; services last
  size_t changedPods = 0;                                   // common pods whose signature differs
  bool empty() const {
    return flows.empty() && addedPods.empty() && removedPods.empty() && addedServices.empty() &&
           removedServices.empty();
  }
};

// Runs the diff in three steps, so that only programs that matter compile:
// (1) for pairs where one end's own policy changed (and nothing about either
// end as a peer), that end's hook alone in both states — compiling only the
// changed endpoints; (2) where that hook's verdict differs, and for pairs
// where more changed, the whole flow in both states; (3) the comparison.
class ReachDiffer {
 public:
  // `exhaustive`: trace every pair present in both states whole, in both (the
  // reference the three steps are tested against).
  ReachDiffer(Reachability& before, Reachability& after, bool exhaustive = false);
  // Also service flows from every pod present in both states (a service's
  // backends can change under an unchanged client); compiles every endpoint.
  void alsoServices();
  // Steps (1) and (2). `progress` is told each step's name as it starts.
  bool run(const std::vector<PortProbe>& probes, Diagnostics& diagsBefore, Diagnostics& diagsAfter,
           std::string& error, const std::function<void(const std::string&)>& progress = {});
  // Step (3).
  ReachDiff collect(const std::vector<PortProbe>& probes) const;

 private:
  enum Kind : uint8_t { kSame, kIngress, kEgress, kWhole };
  Kind kind(size_t i, size_t j) const;  // indices in `before`
  bool whole(size_t i, size_t j) const;  // traced whole in step (2)
  bool eitherTouched(size_t i, size_t j) const { return touched_[i] || touched_[j]; }
  std::function<bool(size_t, size_t)> onAfterSide(std::function<bool(size_t, size_t)> onBefore) const;

  Reachability& before_;
  Reachability& after_;
  bool services_ = false;
  bool exhaustive_ = false;
  std::vector<int> afterOf_, beforeOf_;  // pod index in the other state, -1 when absent
  std::vector<uint8_t> peerChanged_, ingressChanged_, egressChanged_;  // by index in `before`
  // Pods in both states with anything changed (all with `exhaustive`), by index
  // in `before`: a pair can have changed only when one end is touched.
  std::vector<uint8_t> touched_;
  std::unordered_set<uint64_t> differingHooks_;  // i << 32 | j, in `before`
};

}  // namespace sluice::review
