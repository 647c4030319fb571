#include "review/reach_diff.h"

#include <algorithm>
#include <map>

namespace sluice::review {

ReachDiffer::ReachDiffer(Reachability& before, Reachability& after, bool exhaustive)
    : before_(before), after_(after), exhaustive_(exhaustive) {
  const size_t n = before.pods().size();
  afterOf_.assign(n, -1);
  beforeOf_.assign(after.pods().size(), -1);
  peerChanged_.assign(n, 0);
  ingressChanged_.assign(n, 0);
  egressChanged_.assign(n, 0);
  touched_.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    int j = after.podIndex(before.pods()[i]);
    afterOf_[i] = j;
    if (j < 0) continue;
    size_t a = size_t(j);
    beforeOf_[a] = int(i);
    peerChanged_[i] = before.peerSignature(i) != after.peerSignature(a);
    ingressChanged_[i] =
        before.policySignature(i, ir::Direction::Ingress) != after.policySignature(a, ir::Direction::Ingress);
    egressChanged_[i] =
        before.policySignature(i, ir::Direction::Egress) != after.policySignature(a, ir::Direction::Egress);
    touched_[i] = exhaustive || peerChanged_[i] || ingressChanged_[i] || egressChanged_[i];
  }
}

void ReachDiffer::alsoServices() {
  services_ = true;
  before_.alsoServices([this](size_t i) { return afterOf_[i] >= 0; });
  after_.alsoServices([this](size_t i) { return beforeOf_[i] >= 0; });
}

ReachDiffer::Kind ReachDiffer::kind(size_t i, size_t j) const {
  if (afterOf_[i] < 0 || afterOf_[j] < 0) return kSame;
  if (exhaustive_) return kWhole;
  if (i == j) return kSame;
  if (peerChanged_[i] || peerChanged_[j]) return kWhole;
  bool egress = egressChanged_[i], ingress = ingressChanged_[j];
  return egress && ingress ? kWhole : egress ? kEgress : ingress ? kIngress : kSame;
}

bool ReachDiffer::whole(size_t i, size_t j) const {
  Kind k = kind(i, j);
  return k == kWhole || (k != kSame && differingHooks_.count(uint64_t(i) << 32 | j));
}

std::function<bool(size_t, size_t)> ReachDiffer::onAfterSide(std::function<bool(size_t, size_t)> onBefore) const {
  return [this, onBefore](size_t a, size_t b) {
    int i = beforeOf_[a], j = beforeOf_[b];
    return i >= 0 && j >= 0 && onBefore(size_t(i), size_t(j));
  };
}

bool ReachDiffer::run(const std::vector<PortProbe>& probes, Diagnostics& diagsBefore, Diagnostics& diagsAfter,
                      std::string& error, const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  auto ofKind = [this](Kind want) {
    return [this, want](size_t i, size_t j) { return eitherTouched(i, j) && kind(i, j) == want; };
  };
  for (ir::Direction hook : {ir::Direction::Ingress, ir::Direction::Egress}) {
    auto wanted = ofKind(hook == ir::Direction::Ingress ? kIngress : kEgress);
    say(hook == ir::Direction::Ingress ? "changed ingress policies" : "changed egress policies");
    if (!before_.evaluate(wanted, probes, diagsBefore, error, hook)) return false;
    if (!after_.evaluate(onAfterSide(wanted), probes, diagsAfter, error, hook)) return false;
    for (size_t i = 0; i < afterOf_.size(); ++i)
      for (size_t j = 0; j < afterOf_.size(); ++j) {
        if (!wanted(i, j)) continue;
        for (size_t k = 0; k < probes.size(); ++k)
          if (before_.hookVerdict(i, j, k, hook) !=
              after_.hookVerdict(size_t(afterOf_[i]), size_t(afterOf_[j]), k, hook)) {
            differingHooks_.insert(uint64_t(i) << 32 | j);
            break;
          }
      }
  }
  say("whole flows");
  auto wanted = [this](size_t i, size_t j) { return eitherTouched(i, j) && whole(i, j); };
  return before_.evaluate(wanted, probes, diagsBefore, error) &&
         after_.evaluate(onAfterSide(wanted), probes, diagsAfter, error);
}

ReachDiff ReachDiffer::collect(const std::vector<PortProbe>& probes) const {
  ReachDiff d;
  for (size_t i = 0; i < before_.pods().size(); ++i)
    if (afterOf_[i] < 0) d.removedPods.push_back(before_.pods()[i]);
  for (size_t j = 0; j < after_.pods().size(); ++j)
    if (beforeOf_[j] < 0) d.addedPods.push_back(after_.pods()[j]);
  d.changedPods = size_t(std::count(touched_.begin(), touched_.end(), 1));
  for (size_t i = 0; i < before_.pods().size(); ++i) {
    if (afterOf_[i] < 0) continue;
    for (size_t j = 0; j < before_.pods().size(); ++j) {
      if (!eitherTouched(i, j) || !whole(i, j)) continue;
      size_t ai = size_t(afterOf_[i]), aj = size_t(afterOf_[j]);
      for (size_t k = 0; k < probes.size(); ++k)
        if (before_.verdict(i, j, k) != after_.verdict(ai, aj, k))
          d.flows.push_back({before_.flow(i, j, k), after_.flow(ai, aj, k)});
    }
  }
  std::stable_sort(d.flows.begin(), d.flows.end(), [](const FlowChange& a, const FlowChange& b) {
    return a.after.probe < b.after.probe;
  });
  if (!services_) return d;
  // Service ports by name in each state.
  std::map<std::string, size_t> portsBefore, portsAfter;
  auto name = [](const Reachability::ServicePort& sp) { return "svc/" + sp.service + ":" + sp.probe.str(); };
  for (size_t s = 0; s < before_.servicePorts().size(); ++s) portsBefore[name(before_.servicePorts()[s])] = s;
  for (size_t s = 0; s < after_.servicePorts().size(); ++s) portsAfter[name(after_.servicePorts()[s])] = s;
  for (const auto& [n, s] : portsBefore)
    if (!portsAfter.count(n)) d.removedServices.push_back(n);
  for (const auto& [n, s] : portsAfter)
    if (!portsBefore.count(n)) d.addedServices.push_back(n);
  for (size_t i = 0; i < before_.pods().size(); ++i) {
    if (afterOf_[i] < 0 || !before_.isEndpoint(i) || !after_.isEndpoint(size_t(afterOf_[i]))) continue;
    for (const auto& [n, sb] : portsBefore) {
      auto sa = portsAfter.find(n);
      if (sa == portsAfter.end()) continue;
      Flow fb = before_.serviceFlow(i, sb);
      Flow fa = after_.serviceFlow(size_t(afterOf_[i]), sa->second);
      if (fb.verdict != fa.verdict) d.flows.push_back({std::move(fb), std::move(fa)});
    }
  }
  return d;
}

}  // namespace sluice::review
