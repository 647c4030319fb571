// `sluice test`: unit tests for policy. An expectations file states which
// flows a cluster must allow or deny; each is checked on the real programs
// (by default through runtime::KernelCluster::trace, any FlowEvaluator will
// do), and a failing one names the rule that decided each offending flow.
//
// The file (YAML, one document):
//
//   cluster: ../samples/microservices     # optional: manifest paths relative to this file,
//                                         # a string or a list; PATH arguments replace it
//   expectations:
//   - name: frontend reaches cart         # optional; default: a description of the flows
//     from: {namespace: shop, pod: frontend-7d9f}   # one pod
//     to: {namespace: shop, selector: "app=cart"}   # pods by label selector (kubectl -l syntax)
//     ports: [8080/TCP]                   # a list of PORT/PROTO (TCP when omitted; TYPE/ICMP), or any
//     expect: allow                       # allow | deny
//   - from: {namespace: web}              # every pod of the namespace
//     to: {service: shop/cart}            # a service by its cluster IP: each of its ports unless
//     expect: allow                       # `ports` is given
//
// A side (`from`, `to`) selects running pods with any of:
//   namespace          one namespace (absent: every namespace)
//   pod                one pod by name (needs `namespace`; no selectors with it)
//   selector           the pods' labels, kubectl -l syntax ("app=web,tier!=db", "env in (a,b)",
//                      "!legacy", "canary"), or a mapping of labels that must all match
//   namespaceSelector  the namespaces' labels, same syntax (not with `namespace`)
//   service            ns/name (`to` only, alone)
// `{}` selects every running pod. hostNetwork pods count: they are the
// node's traffic, as the datapath sees them.
//
// An expectation holds when EVERY flow (from pod, to pod or service port,
// port) has the expected verdict; a reject (a service answering for a port
// without usable endpoints) counts as deny. A pod's flows to itself are
// skipped: they never meet a hook. A side that selects no running pod, or a
// service that does not exist, is an error, never a vacuous pass. A service
// flow is one new connection, to the backend the datapath picks.
//
// `ports: any` means every TCP, UDP and SCTP port (see anyPortProbes): not
// allowed towards a service, which listens only on its own ports.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/diagnostics.h"
#include "frontend/cluster_state.h"
#include "frontend/label_selector.h"
#include "ir/ir.h"
#include "review/review_model.h"

namespace sluice::runtime {
class KernelCluster;
struct FlowTrace;
}  // namespace sluice::runtime

namespace sluice::review {

// One side of an expectation, as written.
struct PodSet {
  std::string namespace_;  // empty: every namespace
  std::string pod;         // one pod of namespace_
  std::optional<LabelSelector> selector;           // the pods' labels
  std::optional<LabelSelector> namespaceSelector;  // their namespaces' labels
  std::string service;     // "ns/name": a service's cluster IP instead of pods (`to` only)
  // The most specific field written (pod, selector, ...): where "selects no
  // pod" is reported.
  SourceLoc loc;
  std::string field;       // "expectations[0].to.selector"
  std::string str() const;  // "shop/web-1", "pods app=web in shop", "svc/shop/cart", ...
};

struct Expectation {
  std::string name;
  PodSet from, to;
  bool anyPort = false;            // ports: any
  std::vector<PortProbe> ports;    // as written; empty towards a service: each of its ports
  Verdict expect = Verdict::Allow; // Allow or Deny
  SourceLoc loc;                   // of the list item
};

struct ExpectationsFile {
  std::string path;
  std::vector<std::string> cluster;  // manifest paths, relative ones resolved against the file's directory
  std::vector<Expectation> expectations;
};

// Parses an expectations file's text; `name` is its path (diagnostics print
// it; a relative `cluster` is resolved against its directory). Every problem
// goes to `diags` with file:line:col and the field path; nullopt on any error.
std::optional<ExpectationsFile> parseExpectations(const std::string& name, std::string text, Diagnostics& diags);
// Reads the file first (a regular file, as manifests are read).
std::optional<ExpectationsFile> readExpectations(const std::string& path, Diagnostics& diags);
// Whether `path` is an expectations file rather than a manifest: a file
// whose YAML is a mapping with a top-level `expectations` key.
bool isExpectationsFile(const std::string& path);

// The verdict of one flow. `to` is "ns/pod" or "svc/ns/name". May throw
// std::runtime_error when the flow cannot be evaluated at all.
using FlowEvaluator = std::function<Flow(const std::string& fromPod, const std::string& to, const PortProbe&)>;

// The default engine: one new connection through the cluster's real programs
// (KernelCluster::trace, BPF_PROG_TEST_RUN; needs root). `cluster` must
// outlive the evaluator.
FlowEvaluator kernelFlowEvaluator(runtime::KernelCluster& cluster);
// A trace as a review::Flow; its Decision is the hook that dropped the flow,
// or for an allowed one the last hook with a deciding rule (else the last hook).
Flow flowOfTrace(const runtime::FlowTrace& trace, const PortProbe& probe);

// `ports: any` without 65535 probes. Which rules cover a port changes only
// where a rule's port range starts or ends, so the verdict is the same for
// every port between two such boundaries. Given the ranges (of one protocol)
// that can decide a flow, returns the first port of each interval between the
// boundaries 1, every `first` and every `last + 1`: one probe per interval
// covers every port 1..65535. Sorted, unique.
std::vector<uint16_t> portIntervalStarts(const std::vector<ir::PortRange>& ranges);
// The probes for `ports: any` from `from` to `to` (null for a hostNetwork
// pod, which has no rules): per TCP, UDP and SCTP, the interval starts of the
// source's egress and the destination's ingress rules of that protocol.
std::vector<PortProbe> anyPortProbes(const ir::Endpoint* from, const ir::Endpoint* to);

// The cluster the expectations are checked on.
struct ClusterView {
  const ClusterState& state;       // pods' and namespaces' labels
  const ir::Program& program;      // rules (ports: any) and services
  std::vector<std::string> pods;   // the running pods flows can start and end at, "ns/name"
};

struct ExpectationResult {
  std::string name;
  std::string source;     // "file:line" of the expectation
  Verdict expect = Verdict::Allow;
  size_t flowsChecked = 0;
  std::vector<Flow> failures;  // every flow whose verdict was not the expected one
  std::string error;      // why the expectation could not be checked (one line, with file:line:col)
  bool passed() const { return error.empty() && failures.empty(); }
};

// Checks every expectation of `file`; expectations that cannot be checked
// (a side selecting nothing, an unknown service) also report to `diags`.
std::vector<ExpectationResult> checkExpectations(const ExpectationsFile& file, const ClusterView& cluster,
                                                 const FlowEvaluator& evaluate, Diagnostics& diags);

// `PASS name` / `FAIL name` per expectation, up to `maxFlows` offending flows
// under a failing one, and "N expectations, M failed".
std::string renderExpectationsText(const std::vector<ExpectationResult>& results, size_t maxFlows = 10);
// {"expectations": [{"name", "source", "expect", "passed", "flows_checked", "failures": [...]}]}
std::string renderExpectationsJson(const std::vector<ExpectationResult>& results);
// "x/a -> y/b 80/TCP: deny (expected allow) — denied by RULE (POLICY PATH) @ file:line"
std::string describeFailure(const Flow& flow, Verdict expected);

}  // namespace sluice::review
