// What the review commands (`reach`, `diff`, `test`) report, independent of
// how it was computed: flows with their verdict and the rule that decided it,
// workloads (the pods a reader thinks of as one thing), and the graph the
// pictures draw. The reachability engine (review/reachability.h) fills these;
// the renderers (review/render.h) print them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/ir.h"

namespace sluice::review {

// One probed destination port: "80/TCP", "53/UDP", "8/ICMP" (an ICMP type).
struct PortProbe {
  uint16_t port = 0;
  ir::L4Proto proto = ir::L4Proto::TCP;
  std::string str() const;  // "80/TCP"
  auto operator<=>(const PortProbe&) const = default;
};

// Parses "80/TCP" (protocol TCP, UDP, SCTP or ICMP, case-insensitive, default
// TCP). On failure returns nullopt and says what was expected in `error`.
std::optional<PortProbe> parsePortProbe(const std::string& text, std::string& error);

// The hook and rule that decided a flow: the hook that dropped it, or, for an
// allowed flow, the last hook whose rule allowed it (the destination's ingress
// rule before the source's egress rule).
struct Decision {
  std::string hook;         // "from-pod", "to-pod", "uplink"; empty when no hook ran (a pod to itself)
  std::string explanation;  // the sentence `trace` prints for that hook
  std::string rule;         // the rule's name; empty when no rule decided (isolation default, unisolated)
  std::string policy;       // "NetworkPolicy shop/allow-web"
  std::string path;         // "spec.ingress[0].from[1]"
  std::string source;       // "policies/web.yaml:12"
  bool operator==(const Decision&) const = default;
};

// Partial: a service flow some of whose backends allow it and some do not.
enum class Verdict : uint8_t { Allow, Deny, Reject, Partial };
const char* verdictName(Verdict v);  // "allow", "deny", "reject", "partial"

struct Flow {
  std::string from, to;  // "ns/pod"; `to` is "svc/ns/name" for a service flow
  PortProbe probe;
  Verdict verdict = Verdict::Deny;
  Decision decision;
  // Service flows only.
  std::string service;     // "ns/name"
  std::string backend;     // "ip:port" the probe was translated to
  std::string backendPod;  // "ns/name" of that backend when it is a known pod
  // Each backend the client's node picks from, with the verdict towards it.
  std::vector<std::pair<std::string, Verdict>> backends;  // "ip:port" (or "ns/pod:port")
};

// Pods a reader thinks of as one thing: those of one namespace with the same
// identity (the labels policy sees). A deployment's pods are one workload.
struct Workload {
  std::string id;          // unique, stable: "shop/web" (namespace / the pods' common name stem)
  std::string namespace_;
  std::string labels;      // the identity's labels without the namespace one, "app=web,tier=front"
  std::vector<std::string> pods;  // "ns/name", sorted
};

// One edge of a picture: from workload to workload (or service), with the
// probes on which it holds. In a diff, `change` says what happened to it.
enum class EdgeChange : uint8_t { Unchanged, Opened, Closed };
struct Edge {
  std::string from, to;   // Workload::id, or "svc/ns/name"
  std::vector<PortProbe> probes;  // sorted
  EdgeChange change = EdgeChange::Unchanged;
  // Pods behind the edge: how many (from, to) pod pairs hold it, of how many
  // pairs between the two workloads. A partly held edge is drawn dashed.
  size_t pairs = 0, ofPairs = 0;
};

struct Graph {
  std::vector<Workload> workloads;  // sorted by id
  std::vector<std::string> services;  // "svc/ns/name", sorted
  std::vector<Edge> edges;          // sorted by (from, to)
};

}  // namespace sluice::review
