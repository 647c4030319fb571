// Checking expectations (expectations.h): selecting the pods of each side,
// the probes of `ports: any`, the default kernel evaluator, and the reports.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <stdexcept>

#include "review/expectations.h"
#include "runtime/kernel_cluster.h"

namespace sluice::review {

// ---- ports: any ----------------------------------------------------------------

std::vector<uint16_t> portIntervalStarts(const std::vector<ir::PortRange>& ranges) {
  // A rule covers port p when first <= p <= last: for ports inside [1, first)
  // it does not, from `first` to `last` it does, and from `last + 1` on it no
  // longer does. So the set of rules covering p, and with it the verdict,
  // changes only at these boundaries; port 0 is no destination.
  std::set<uint32_t> starts{1};
  for (const auto& r : ranges) {
    starts.insert(std::max<uint32_t>(r.first, 1));
    if (uint32_t(r.last) + 1 <= 65535) starts.insert(uint32_t(r.last) + 1);
  }
  return {starts.begin(), starts.end()};
}

std::vector<PortProbe> anyPortProbes(const ir::Endpoint* from, const ir::Endpoint* to) {
  std::vector<PortProbe> out;
  for (ir::L4Proto proto : {ir::L4Proto::TCP, ir::L4Proto::UDP, ir::L4Proto::SCTP}) {
    std::vector<ir::PortRange> ranges;
    // Only the source's egress and the destination's ingress decide a flow
    // between two pods. A rule matching every port (l4.any) adds no boundary.
    auto collect = [&](const ir::Endpoint* ep, ir::Direction dir) {
      if (!ep) return;
      for (const auto& rule : ep->policy(dir).rules)
        for (const auto& range : rule.l4.ports)
          if (range.proto == proto) ranges.push_back(range);
    };
    collect(from, ir::Direction::Egress);
    collect(to, ir::Direction::Ingress);
    for (uint16_t port : portIntervalStarts(ranges)) out.push_back({port, proto});
  }
  return out;
}

// ---- the kernel evaluator ----------------------------------------------------------

Flow flowOfTrace(const runtime::FlowTrace& t, const PortProbe& probe) {
  Flow flow;
  flow.from = t.from;
  flow.to = t.to;
  flow.probe = probe;
  flow.verdict = t.rejected ? Verdict::Reject : t.allowed ? Verdict::Allow : Verdict::Deny;
  flow.service = t.service;
  flow.backend = t.backend;
  flow.backendPod = t.backendPod;
  if (t.steps.empty()) {
    flow.decision.explanation = t.note;
    return flow;
  }
  // A trace stops at the hook that dropped the packet: the last one. An
  // allowed flow was allowed by every hook; the last with a rule (the
  // destination's ingress before the source's egress) says the most.
  const runtime::HookStep* at = &t.steps.back();
  if (flow.verdict == Verdict::Allow)
    for (auto it = t.steps.rbegin(); it != t.steps.rend(); ++it)
      if (it->rule) {
        at = &*it;
        break;
      }
  flow.decision.hook = at->hook;
  flow.decision.explanation = at->explanation;
  if (at->rule) {
    flow.decision.rule = at->rule->name;
    flow.decision.policy = at->rule->origin.policy;
    flow.decision.path = at->rule->origin.path;
    flow.decision.source = at->rule->origin.loc.fileLine();
  }
  return flow;
}

FlowEvaluator kernelFlowEvaluator(runtime::KernelCluster& cluster) {
  return [&cluster](const std::string& fromPod, const std::string& to, const PortProbe& probe) {
    runtime::FlowQuery q;
    q.fromPod = fromPod;
    if (to.rfind("svc/", 0) == 0) q.toService = to.substr(4);
    else q.toPod = to;
    q.proto = probe.proto;
    q.port = probe.port;
    runtime::FlowTrace t = cluster.trace(q);
    if (!t.ok) throw std::runtime_error(t.error);
    return flowOfTrace(t, probe);
  };
}

// ---- checking --------------------------------------------------------------------------

namespace {

class Checker {
 public:
  Checker(const ClusterView& cluster, const FlowEvaluator& evaluate, Diagnostics& diags)
      : cluster_(cluster), evaluate_(evaluate), diags_(diags) {
    for (const Pod& pod : cluster.state.pods) podsByKey_[pod.meta.key()] = &pod;
    for (const auto& np : cluster.program.nodes) {
      for (const auto& ep : np.endpoints) endpoints_[ep.key()] = &ep;
      for (const auto& svc : np.services) services_.emplace(svc.key(), &svc);
    }
  }

  ExpectationResult check(const Expectation& e) {
    ExpectationResult result;
    result.name = e.name;
    result.source = e.loc.fileLine();
    result.expect = e.expect;
    std::vector<std::string> sources = select(e.from);
    if (sources.empty()) return fail(result, e.from, "selects no running pod: nothing to check");
    if (!e.to.service.empty()) return checkService(e, sources, result);
    std::vector<std::string> destinations = select(e.to);
    if (destinations.empty()) return fail(result, e.to, "selects no running pod: nothing to check");
    for (const auto& from : sources)
      for (const auto& to : destinations) {
        if (from == to) continue;  // a pod's traffic to itself never meets a hook
        std::vector<PortProbe> probes = e.anyPort ? anyPortProbes(endpoint(from), endpoint(to)) : e.ports;
        for (const auto& probe : probes)
          if (!probeFlow(e, from, to, probe, result)) return result;
      }
    if (result.flowsChecked == 0)
      return fail(result, e.to,
                  "selects only the pod `from` selects, and a pod's traffic to itself never meets policy: nothing to "
                  "check");
    return result;
  }

 private:
  ExpectationResult& checkService(const Expectation& e, const std::vector<std::string>& sources,
                                  ExpectationResult& result) {
    auto svc = services_.find(e.to.service);
    if (svc == services_.end())
      return fail(result, e.to,
                  fmt::format("no proxied service '{}' (headless and ExternalName services have no cluster IP)",
                              e.to.service));
    std::vector<PortProbe> probes = e.ports;
    if (probes.empty())
      for (const auto& p : svc->second->ports) probes.push_back({p.port, p.proto});
    if (probes.empty()) return fail(result, e.to, "the service has no ports: nothing to check");
    for (const auto& from : sources)
      for (const auto& probe : probes)
        if (!probeFlow(e, from, "svc/" + e.to.service, probe, result)) return result;
    return result;
  }

  bool probeFlow(const Expectation& e, const std::string& from, const std::string& to, const PortProbe& probe,
                 ExpectationResult& result) {
    Flow flow;
    try {
      flow = evaluate_(from, to, probe);
    } catch (const std::exception& ex) {
      Diagnostic d{Severity::Error, e.loc, "", "",
                   fmt::format("cannot check {} -> {} {}: {}", from, to, probe.str(), ex.what())};
      result.error = Diagnostics::render(d, false);
      result.error.pop_back();
      diags_.add(std::move(d));
      return false;
    }
    ++result.flowsChecked;
    bool allowed = flow.verdict == Verdict::Allow;
    if (allowed != (e.expect == Verdict::Allow)) result.failures.push_back(std::move(flow));
    return true;
  }

  ExpectationResult& fail(ExpectationResult& result, const PodSet& side, const std::string& message) {
    Diagnostic d{Severity::Error, side.loc, "", side.field, message};
    result.error = Diagnostics::render(d, false);
    result.error.pop_back();  // its newline
    diags_.add(std::move(d));
    return result;
  }

  const ir::Endpoint* endpoint(const std::string& pod) const {
    auto it = endpoints_.find(pod);
    return it == endpoints_.end() ? nullptr : it->second;
  }

  std::vector<std::string> select(const PodSet& side) const {
    std::vector<std::string> out;
    for (const auto& key : cluster_.pods) {
      auto it = podsByKey_.find(key);
      if (it == podsByKey_.end()) continue;
      const Pod& pod = *it->second;
      if (!side.namespace_.empty() && pod.meta.namespace_ != side.namespace_) continue;
      if (!side.pod.empty() && pod.meta.name != side.pod) continue;
      if (side.selector && !side.selector->matches(pod.meta.labels)) continue;
      if (side.namespaceSelector) {
        const Namespace* ns = cluster_.state.findNamespace(pod.meta.namespace_);
        if (!side.namespaceSelector->matches(ns ? ns->meta.labels : Labels{})) continue;
      }
      out.push_back(key);
    }
    return out;
  }

  const ClusterView& cluster_;
  const FlowEvaluator& evaluate_;
  Diagnostics& diags_;
  std::map<std::string, const Pod*> podsByKey_;
  std::map<std::string, const ir::Endpoint*> endpoints_;
  std::map<std::string, const ir::Service*> services_;  // the union over nodes: every node proxies every service
};

}  // namespace

std::vector<ExpectationResult> checkExpectations(const ExpectationsFile& file, const ClusterView& cluster,
                                                 const FlowEvaluator& evaluate, Diagnostics& diags) {
  Checker checker(cluster, evaluate, diags);
  std::vector<ExpectationResult> out;
  for (const auto& e : file.expectations) out.push_back(checker.check(e));
  return out;
}

// ---- reports ----------------------------------------------------------------------------

std::string describeFailure(const Flow& flow, Verdict expected) {
  const Decision& d = flow.decision;
  std::string why;
  if (!d.rule.empty())
    why = fmt::format("{} by {} ({} {}) @ {}", flow.verdict == Verdict::Allow ? "allowed" : "denied", d.rule, d.policy,
                      d.path, d.source);
  else if (!d.hook.empty())
    why = fmt::format("{}: {}", d.hook, d.explanation);
  else
    why = d.explanation;
  std::string via = flow.backendPod.empty() ? "" : fmt::format(" (backend {})", flow.backendPod);
  return fmt::format("{} -> {}{} {}: {} (expected {}){}", flow.from, flow.to, via, flow.probe.str(),
                     verdictName(flow.verdict), verdictName(expected), why.empty() ? "" : " — " + why);
}

std::string renderExpectationsText(const std::vector<ExpectationResult>& results, size_t maxFlows) {
  std::string out;
  size_t failed = 0;
  for (const auto& r : results) {
    out += fmt::format("{} {}\n", r.passed() ? "PASS" : "FAIL", r.name);
    if (r.passed()) continue;
    ++failed;
    if (!r.error.empty()) out += "  error: " + r.error + "\n";
    for (size_t i = 0; i < r.failures.size() && i < maxFlows; ++i)
      out += "  " + describeFailure(r.failures[i], r.expect) + "\n";
    if (r.failures.size() > maxFlows)
      out += fmt::format("  ... and {} more of {} flows checked\n", r.failures.size() - maxFlows, r.flowsChecked);
  }
  out += fmt::format("{} expectation{}, {} failed\n", results.size(), results.size() == 1 ? "" : "s", failed);
  return out;
}

std::string renderExpectationsJson(const std::vector<ExpectationResult>& results) {
  using json = nlohmann::ordered_json;
  json list = json::array();
  for (const auto& r : results) {
    json failures = json::array();
    for (const auto& f : r.failures) {
      json row = {{"from", f.from}, {"to", f.to}, {"port", f.probe.port},
                  {"protocol", ir::l4ProtoName(f.probe.proto)}, {"verdict", verdictName(f.verdict)}};
      if (!f.backend.empty()) row["backend"] = f.backend;
      if (!f.backendPod.empty()) row["backendPod"] = f.backendPod;
      row["decision"] = {{"hook", f.decision.hook},         {"explanation", f.decision.explanation},
                         {"rule", f.decision.rule},         {"policy", f.decision.policy},
                         {"path", f.decision.path},         {"source", f.decision.source}};
      failures.push_back(std::move(row));
    }
    json j = {{"name", r.name},       {"source", r.source},   {"expect", verdictName(r.expect)},
              {"passed", r.passed()}, {"flows_checked", r.flowsChecked}, {"failures", std::move(failures)}};
    if (!r.error.empty()) j["error"] = r.error;
    list.push_back(std::move(j));
  }
  return json{{"expectations", std::move(list)}}.dump(2) + "\n";
}

}  // namespace sluice::review
