#include "review/reachability.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <stdexcept>

#include "codegen/datapath/sluice_abi.h"
#include "ir/lower.h"
#include "ir/print.h"
#include "review/ir_diff.h"
#include "runtime/kernel_cluster.h"

namespace sluice::review {
namespace {

double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// How the two ends of a flow sit, where it matters (see the header).
enum Relation : uint64_t { kAnyNodes = 0, kSameNode = 1, kOtherNode = 2, kSelf = 3 };

// The address-specific predicates of a program's policies: every CIDR peer
// (with its exceptions) and every per-pod peer list. A pod's membership in
// each is part of its class.
// Each is named by a hash of its text, so that a pod's membership reads the
// same in two states that share the predicate.
struct AddressPredicates {
  std::vector<ir::CidrRule> cidrs;
  std::vector<std::set<IpAddr>> podSets;
  std::vector<size_t> cidrNames, podSetNames;

  explicit AddressPredicates(const ir::Program& program) {
    std::set<std::string> seenCidr, seenPods;
    auto visit = [&](const ir::DirectionPolicy& policy) {
      for (const auto& rule : policy.rules) {
        for (const auto& c : rule.peer.cidrs) {
          std::string text = c.cidr.str();
          for (const auto& e : c.except) text += " except " + e.str();
          if (seenCidr.insert(text).second) cidrs.push_back(c), cidrNames.push_back(std::hash<std::string>{}(text));
        }
        if (rule.peer.pods.empty()) continue;
        std::set<IpAddr> ips;
        std::string text;
        for (const auto& [key, ip] : rule.peer.pods) {
          ips.insert(ip);
          text += key + " ";
        }
        if (seenPods.insert(text).second)
          podSets.push_back(std::move(ips)), podSetNames.push_back(std::hash<std::string>{}(text));
      }
    };
    for (const auto& np : program.nodes)
      for (const auto& ep : np.endpoints) {
        visit(ep.ingress);
        visit(ep.egress);
      }
  }

  // Sorted names of the predicates `ip` satisfies.
  std::string membership(const IpAddr& ip) const {
    std::vector<size_t> in;
    for (size_t i = 0; i < cidrs.size(); ++i) {
      const auto& c = cidrs[i];
      if (!c.cidr.contains(ip)) continue;
      if (std::any_of(c.except.begin(), c.except.end(), [&](const Cidr& e) { return e.contains(ip); })) continue;
      in.push_back(cidrNames[i]);
    }
    for (size_t i = 0; i < podSets.size(); ++i)
      if (podSets[i].count(ip)) in.push_back(podSetNames[i]);
    std::sort(in.begin(), in.end());
    return fmt::format("{:x}", fmt::join(in, ","));
  }
};

// The hook that decided a traced flow (see Decision).
Decision decisionOf(const runtime::FlowTrace& t) {
  Decision d;
  if (t.steps.empty()) {
    d.explanation = t.note.empty() ? "no sluice hook on this path" : t.note;
    return d;
  }
  const runtime::HookStep* step = &t.steps.back();
  if (t.allowed)
    for (auto it = t.steps.rbegin(); it != t.steps.rend(); ++it)
      if (it->rule) {
        step = &*it;
        break;
      }
  d.hook = step->hook;
  d.explanation = step->explanation;
  if (step->rule) {
    d.rule = step->rule->name;
    d.policy = step->rule->origin.policy;
    d.path = step->rule->origin.path;
    d.source = step->rule->origin.loc.fileLine();
  }
  return d;
}

// "web-7d9f-abcde", "web-7d9f-xyz12" -> "web-7d9f"; one name stays whole.
std::string commonStem(const std::vector<std::string>& names) {
  if (names.size() == 1) return names.front();
  std::string prefix = names.front();
  for (const auto& n : names) {
    size_t i = 0;
    while (i < prefix.size() && i < n.size() && prefix[i] == n[i]) ++i;
    prefix.resize(i);
  }
  size_t dash = prefix.rfind('-');
  if (dash != std::string::npos && dash > 0) prefix.resize(dash);
  return prefix.empty() ? names.front() : prefix;
}

// Drops the generated parts of a controller's pod names: "web-7d9f5c8b4d-x2k4p"
// and "web-7d9f5c8b4d" are the workload "web". A part is generated when it is
// written in the alphabet Kubernetes draws them from (no vowels, no 0, 1, 3:
// k8s.io/apimachinery's rand) and has the length of a random suffix (5) or
// of a pod-template hash (6–10).
std::string withoutGeneratedSuffix(std::string name) {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  for (bool suffix : {true, false}) {
    size_t dash = name.rfind('-');
    if (dash == std::string::npos || dash == 0) break;
    std::string_view part = std::string_view(name).substr(dash + 1);
    bool generated = std::all_of(part.begin(), part.end(), [](char c) { return kAlphabet.find(c) != kAlphabet.npos; });
    bool fits = suffix ? part.size() == 5 : part.size() >= 6 && part.size() <= 10;
    if (generated && fits) name.resize(dash);
    else if (!suffix) break;
  }
  return name;
}

}  // namespace

Reachability::Reachability() = default;
Reachability::~Reachability() = default;

int Reachability::podIndex(const std::string& key) const {
  auto it = std::lower_bound(podKeys_.begin(), podKeys_.end(), key);
  return it != podKeys_.end() && *it == key ? int(it - podKeys_.begin()) : -1;
}

bool Reachability::prepare(const ClusterState& state, Diagnostics& diags, const ReachOptions& options) {
  options_ = options;
  state_ = &state;
  auto start = std::chrono::steady_clock::now();
  ir::LowerOptions lo;
  lo.clusterName = options.clusterName;
  program_ = ir::lower(state, diags, lo);
  stats_.lowerMs = msSince(start);
  if (diags.hasErrors()) return false;
  for (const auto& [key, pod] : runtime::runningPods(program_, state)) {
    podKeys_.push_back(key);
    pods_.push_back(PodInfo{.key = key, .node = pod.node, .ip = pod.ip, .endpoint = pod.endpoint});
  }
  stats_.pods = pods_.size();
  stats_.nodes = program_.nodes.size();
  for (size_t n = 0; n < program_.nodes.size(); ++n) nodeIndex_[program_.nodes[n].node] = uint32_t(n);
  std::map<std::string, const ir::Service*> services;
  for (const auto& np : program_.nodes)
    for (const auto& svc : np.services) services.emplace(svc.key(), &svc);
  for (const auto& [key, svc] : services)
    if (std::any_of(svc->clusterIPs.begin(), svc->clusterIPs.end(), [](const IpAddr& ip) { return ip.isV4(); }))
      for (const auto& p : svc->ports) servicePorts_.push_back({key, {p.port, p.proto}});
  formClasses();
  formWorkloads();
  return true;
}

void Reachability::formClasses() {
  AddressPredicates predicates(program_);
  std::unordered_map<std::string, uint32_t> classOf;
  for (size_t i = 0; i < pods_.size(); ++i) {
    PodInfo& p = pods_[i];
    std::string klass;
    if (p.endpoint) {
      const ir::Endpoint& ep = *p.endpoint;
      klass = fmt::format("endpoint identity {}\n", ep.identity);
      for (const auto& np : ep.namedPorts)
        klass += fmt::format("port {} {}/{}\n", np.name, np.port, ir::l4ProtoName(np.proto));
      p.ingressSignature = ir::str(ep.ingress, ir::Direction::Ingress);
      p.egressSignature = ir::str(ep.egress, ir::Direction::Egress);
    } else {
      klass = "hostNetwork\n";
    }
    klass += "addresses " + predicates.membership(p.ip) + "\n";
    p.peerSignature = klass + fmt::format("node {} ip {}\n", p.node, p.ip.str());
    // Without line numbers: an edit above a policy moves it without changing it.
    p.ingressSignature = withoutLineNumbers(p.ingressSignature);
    p.egressSignature = withoutLineNumbers(p.egressSignature);
    p.signature = p.peerSignature + p.ingressSignature + p.egressSignature;
    klass += p.ingressSignature + p.egressSignature;
    if (options_.exhaustive) klass = p.key;
    auto [it, added] = classOf.emplace(klass, uint32_t(classMembers_.size()));
    if (added) classMembers_.emplace_back();
    p.klass = it->second;
    classMembers_[p.klass].push_back(uint32_t(i));
  }
  stats_.classes = classMembers_.size();
}

void Reachability::formWorkloads() {
  // Endpoints by namespace and identity; hostNetwork pods by namespace and name stem.
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < pods_.size(); ++i) {
    const PodInfo& p = pods_[i];
    std::string ns = p.key.substr(0, p.key.find('/'));
    std::string by;
    if (p.endpoint) {
      by = fmt::format("identity {}", p.endpoint->identity);
    } else {
      std::string name = p.key.substr(ns.size() + 1);
      size_t dash = name.rfind('-');
      by = "hostNetwork " + (dash == std::string::npos ? name : name.substr(0, dash));
    }
    groups[{ns, by}].push_back(i);
  }
  std::set<std::string> ids;
  for (const auto& [group, members] : groups) {
    Workload w;
    w.namespace_ = group.first;
    std::vector<std::string> names;
    for (size_t i : members) {
      w.pods.push_back(pods_[i].key);
      names.push_back(pods_[i].key.substr(w.namespace_.size() + 1));
    }
    std::string stem = withoutGeneratedSuffix(commonStem(names));
    std::string id = w.namespace_ + "/" + stem;
    for (int n = 2; ids.count(id); ++n) id = fmt::format("{}/{}~{}", w.namespace_, stem, n);
    ids.insert(id);
    w.id = id;
    const PodInfo& first = pods_[members.front()];
    if (first.endpoint) {
      if (const ir::Identity* identity = program_.findIdentity(first.endpoint->identity)) {
        std::vector<std::string> labels;
        for (std::string l : identity->labels) {
          if (l.rfind("k8s:", 0) == 0) l = l.substr(4);
          if (l.rfind("io.kubernetes.pod.namespace", 0) == 0 || l.rfind("io.cilium.k8s.", 0) == 0) continue;
          labels.push_back(l);
        }
        w.labels = fmt::format("{}", fmt::join(labels, ","));
      }
    } else {
      w.labels = "hostNetwork";
    }
    workloads_.push_back(std::move(w));
  }
  std::sort(workloads_.begin(), workloads_.end(), [](const Workload& a, const Workload& b) { return a.id < b.id; });
  for (size_t w = 0; w < workloads_.size(); ++w)
    for (const auto& key : workloads_[w].pods) pods_[size_t(podIndex(key))].workload = w;
}

uint64_t Reachability::flowKey(size_t from, size_t to) const {
  const PodInfo& a = pods_[from];
  const PodInfo& b = pods_[to];
  uint64_t relation = from == to                     ? kSelf
                      : a.endpoint && b.endpoint     ? kAnyNodes
                      : a.node == b.node             ? kSameNode
                                                     : kOtherNode;
  return uint64_t(a.klass) << 32 | uint64_t(b.klass) << 2 | relation;
}

// Representatives for each key: endpoint classes first get a home pod on as
// few nodes as possible (greedy cover), then each key its pair.
bool Reachability::chooseRepresentatives(const std::vector<uint64_t>& keys, std::unordered_map<uint64_t, Rep>& reps,
                                         std::string& error, std::optional<ir::Direction> onlyHook) const {
  // The classes whose programs run: with one hook, only that end's.
  std::set<uint32_t> needed;
  for (uint64_t k : keys) {
    if ((k & 3) == kSelf) continue;
    if (onlyHook != ir::Direction::Ingress) needed.insert(uint32_t(k >> 32));
    if (onlyHook != ir::Direction::Egress) needed.insert(uint32_t((k >> 2) & 0x3fffffff));
  }
  std::map<std::string, std::vector<uint32_t>> classesOnNode;
  for (uint32_t c : needed) {
    if (!pods_[classMembers_[c].front()].endpoint) continue;
    std::set<std::string> nodes;
    for (uint32_t m : classMembers_[c]) nodes.insert(pods_[m].node);
    for (const auto& n : nodes) classesOnNode[n].push_back(c);
  }
  std::set<std::string> chosen;
  std::unordered_map<uint32_t, uint32_t> home;  // endpoint class -> its representative
  for (;;) {
    const std::string* best = nullptr;
    size_t bestCount = 0;
    for (const auto& [node, classes] : classesOnNode) {
      size_t count = std::count_if(classes.begin(), classes.end(), [&](uint32_t c) { return !home.count(c); });
      if (count > bestCount) bestCount = count, best = &node;
    }
    if (!best) break;
    chosen.insert(*best);
    for (uint32_t c : classesOnNode[*best])
      if (!home.count(c))
        for (uint32_t m : classMembers_[c])
          if (pods_[m].node == *best) {
            home[c] = m;
            break;
          }
  }
  // A member of `c` satisfying `ok`, preferring pods on nodes already compiled.
  auto pick = [&](uint32_t c, const std::function<bool(uint32_t)>& ok) -> std::optional<uint32_t> {
    if (auto h = home.find(c); h != home.end() && ok(h->second)) return h->second;
    std::optional<uint32_t> any;
    for (uint32_t m : classMembers_[c]) {
      if (!ok(m)) continue;
      if (!pods_[m].endpoint || chosen.count(pods_[m].node)) return m;
      if (!any) any = m;
    }
    return any;
  };
  for (uint64_t k : keys) {
    uint32_t from = uint32_t(k >> 32), to = uint32_t((k >> 2) & 0x3fffffff);
    uint64_t relation = k & 3;
    std::optional<uint32_t> s, d;
    if (relation == kSelf) {
      s = d = classMembers_[from].front();
    } else {
      // The home pod first, then every other member: with a hostNetwork
      // class at the other end, only members on some nodes may fit.
      uint32_t home = pick(from, [](uint32_t) { return true; }).value();
      std::vector<uint32_t> candidates = {home};
      for (uint32_t m : classMembers_[from])
        if (m != home) candidates.push_back(m);
      for (uint32_t candidate : candidates) {
        d = pick(to, [&](uint32_t m) {
          if (m == candidate) return false;
          if (relation == kSameNode) return pods_[m].node == pods_[candidate].node;
          if (relation == kOtherNode) return pods_[m].node != pods_[candidate].node;
          return true;
        });
        if (d) {
          s = candidate;
          break;
        }
      }
      if (!d) {
        error = fmt::format("internal: no representative pair for classes {} and {}", from, to);
        return false;
      }
    }
    reps[k] = Rep{*s, *d};
    if (pods_[*s].endpoint) chosen.insert(pods_[*s].node);
    if (pods_[*d].endpoint) chosen.insert(pods_[*d].node);
  }
  return true;
}

bool Reachability::evaluate(const std::function<bool(size_t, size_t)>& wanted, const std::vector<PortProbe>& probes,
                            Diagnostics& diags, std::string& error, std::optional<ir::Direction> onlyHook) {
  if (probeCount_ && probeCount_ != probes.size()) throw std::logic_error("Reachability::evaluate: other probes");
  probeCount_ = probes.size();
  auto done = [&](uint64_t k) { return onlyHook ? hookResults_[size_t(*onlyHook)].count(k) > 0 : results_.count(k) > 0; };
  std::unordered_map<uint64_t, Rep> reps;
  std::vector<uint64_t> keys;
  size_t pairs = 0;
  for (size_t i = 0; i < pods_.size(); ++i)
    for (size_t j = 0; j < pods_.size(); ++j) {
      if (wanted && !wanted(i, j)) continue;
      ++pairs;
      uint64_t k = flowKey(i, j);
      if (!done(k) && reps.emplace(k, Rep{}).second) keys.push_back(k);
    }
  stats_.pairsWanted += pairs * probes.size();
  bool services = withServices_ && !servicesDone_ && !onlyHook;
  if (keys.empty() && !services) return true;
  std::sort(keys.begin(), keys.end());
  if (!chooseRepresentatives(keys, reps, error, onlyHook)) return false;
  // Only the programs that run are compiled: an endpoint's programs do not
  // depend on the other endpoints of its node (each node keeps its whole
  // address table and its services).
  std::set<std::string> nodes, endpoints;
  auto need = [&](uint32_t p) {
    if (!pods_[p].endpoint) return;
    endpoints.insert(pods_[p].key);
    nodes.insert(pods_[p].node);
  };
  for (const auto& [k, rep] : reps) {
    if (onlyHook != ir::Direction::Ingress) need(rep.from);
    if (onlyHook != ir::Direction::Egress) need(rep.to);
  }
  // Service flows reach every backend: every endpoint is compiled.
  if (services)
    for (uint32_t p = 0; p < pods_.size(); ++p) need(p);
  stats_.nodesCompiled += nodes.size();
  stats_.endpointsCompiled += endpoints.size();

  auto start = std::chrono::steady_clock::now();
  auto cluster = std::make_unique<runtime::KernelCluster>();
  runtime::ClusterOptions co;
  co.compile.datapath = options_.datapath;
  co.clusterName = options_.clusterName;
  co.compileNodes = nodes;
  co.compileEndpoints = endpoints;
  co.jobs = options_.jobs;
  // Nodes that compile nothing keep their endpoints (every pod's address and
  // identity) but not their tables, the bulk of a large cluster's IR.
  ir::Program compiled = program_;
  for (auto& np : compiled.nodes)
    if (!nodes.count(np.node)) {
      np.ipcache.clear();
      np.services.clear();
    }
  if (!cluster->build(std::move(compiled), *state_, diags, co)) {
    error = "compiling the cluster failed";
    return false;
  }
  stats_.compileMs += msSince(start);
  start = std::chrono::steady_clock::now();
  for (uint64_t k : keys) {
    const Rep& rep = reps.at(k);
    std::vector<Flow> flows;
    std::vector<Verdict> verdicts;
    for (const PortProbe& probe : probes) {
      runtime::FlowQuery q;
      q.fromPod = pods_[rep.from].key;
      q.toPod = pods_[rep.to].key;
      q.proto = probe.proto;
      q.port = probe.port;
      q.onlyHook = onlyHook;
      runtime::FlowTrace t = cluster->trace(q);
      ++stats_.traced;
      if (!t.ok) {
        error = fmt::format("{} -> {} {}: {}", q.fromPod, q.toPod, probe.str(), t.error);
        return false;
      }
      Verdict v = t.rejected ? Verdict::Reject : t.allowed ? Verdict::Allow : Verdict::Deny;
      if (onlyHook) {
        verdicts.push_back(v);
        continue;
      }
      Flow f;
      f.probe = probe;
      f.verdict = v;
      f.decision = decisionOf(t);
      flows.push_back(std::move(f));
    }
    if (onlyHook) hookResults_[size_t(*onlyHook)][k] = std::move(verdicts);
    else results_[k] = std::move(flows);
  }
  if (services) {
    if (!evaluateServices(*cluster, error)) return false;
    servicesDone_ = true;
  }
  stats_.traceMs += msSince(start);
  return true;  // the programs go: what they decided is kept
}

Verdict Reachability::hookVerdict(size_t from, size_t to, size_t probe, ir::Direction hook) const {
  const auto& results = hookResults_[size_t(hook)];
  auto it = results.find(flowKey(from, to));
  if (it == results.end() || probe >= it->second.size())
    throw std::logic_error(fmt::format("hook of {} -> {} was not evaluated", pods_[from].key, pods_[to].key));
  return it->second[probe];
}

uint64_t Reachability::serviceKey(size_t from) const {
  return uint64_t(pods_[from].klass) << 32 | nodeIndex_.at(pods_[from].node);
}

// The service port as `pod`'s node programs it; null when it has none.
const ir::ServicePort* Reachability::nodeServicePort(size_t pod, const ServicePort& sp) const {
  const ir::NodeProgram* np = program_.findNode(pods_[pod].node);
  if (!np) return nullptr;
  for (const auto& svc : np->services)
    if (svc.key() == sp.service)
      for (const auto& p : svc.ports)
        if (p.port == sp.probe.port && p.proto == sp.probe.proto) return &p;
  return nullptr;
}

bool Reachability::backs(size_t pod, const ServicePort& sp) const {
  const ir::ServicePort* port = nodeServicePort(pod, sp);
  return port && std::any_of(port->backends.begin(), port->backends.end(),
                             [&](const ir::Backend& b) { return b.ip == pods_[pod].ip; });
}

bool Reachability::evaluateServices(runtime::KernelCluster& cluster, std::string& error) {
  std::map<uint64_t, size_t> reps;
  for (size_t i = 0; i < pods_.size(); ++i)
    if (pods_[i].endpoint && serviceClients_(i)) reps.emplace(serviceKey(i), i);
  auto run = [&](runtime::FlowQuery q, const std::string& to, runtime::FlowTrace& t) {
    t = cluster.trace(q);
    ++stats_.traced;
    if (!t.ok) error = fmt::format("{} -> {}: {}", q.fromPod, to, t.error);
    return t.ok;
  };
  auto traceServicePort = [&](size_t from, const ServicePort& sp, Flow& f) {
    const PodInfo& client = pods_[from];
    f.to = "svc/" + sp.service;
    f.probe = sp.probe;
    f.service = sp.service;
    runtime::FlowQuery q;
    q.fromPod = client.key;
    q.toService = sp.service;
    q.port = sp.probe.port;
    q.proto = sp.probe.proto;
    runtime::FlowTrace t;
    if (!run(q, f.to, t)) return false;
    f.decision = decisionOf(t);
    f.verdict = t.rejected ? Verdict::Reject : t.allowed ? Verdict::Allow : Verdict::Deny;
    f.backend = t.backend;
    f.backendPod = t.backendPod;
    bool dropped = !t.steps.empty() && t.steps.front().run.outcome == SLUICE_OUT_SVC_DROPPED;
    const ir::ServicePort* port = nodeServicePort(from, sp);
    if (t.rejected || dropped || t.service.empty() || !port || port->backends.empty()) return true;
    // Translated: the verdict towards each backend the node picks from.
    size_t allowed = 0;
    std::optional<Decision> firstAllow, firstDeny;
    for (const ir::Backend& b : port->backends) {
      runtime::FlowQuery bq;
      bq.fromPod = client.key;
      bq.toIp = b.ip;
      bq.port = b.port;
      bq.proto = sp.probe.proto;
      runtime::FlowTrace bt;
      if (!run(bq, f.to, bt)) return false;
      Verdict v = bt.allowed && !bt.rejected ? Verdict::Allow : Verdict::Deny;
      std::string name = fmt::format("{}:{}", b.pod.empty() ? b.ip.str() : b.pod, b.port);
      f.backends.emplace_back(name, v);
      if (v == Verdict::Allow) {
        ++allowed;
        if (!firstAllow) firstAllow = decisionOf(bt);
      } else if (!firstDeny) {
        firstDeny = decisionOf(bt);
      }
    }
    f.verdict = allowed == port->backends.size() ? Verdict::Allow : allowed == 0 ? Verdict::Deny : Verdict::Partial;
    f.decision = firstDeny ? *firstDeny : *firstAllow;
    if (f.verdict == Verdict::Partial)
      f.decision.explanation =
          fmt::format("{} of {} backends allow; {}", allowed, port->backends.size(), f.decision.explanation);
    return true;
  };
  for (const auto& [key, rep] : reps) {
    std::vector<Flow>& flows = serviceResults_[key];
    for (const ServicePort& sp : servicePorts_) {
      Flow f;
      if (!traceServicePort(rep, sp, f)) return false;
      flows.push_back(std::move(f));
    }
  }
  // A pod is never kept from itself: where the client or its class's
  // representative is a backend, the client's verdicts towards the backends
  // are not the representative's, so it is traced itself on that port.
  for (size_t i = 0; i < pods_.size(); ++i) {
    if (!pods_[i].endpoint || !serviceClients_(i)) continue;
    size_t rep = reps.at(serviceKey(i));
    if (rep == i) continue;
    for (size_t s = 0; s < servicePorts_.size(); ++s) {
      if (!backs(i, servicePorts_[s]) && !backs(rep, servicePorts_[s])) continue;
      Flow f;
      if (!traceServicePort(i, servicePorts_[s], f)) return false;
      ownServiceResults_[uint64_t(i) << 32 | s] = std::move(f);
    }
  }
  return true;
}

Flow Reachability::serviceFlow(size_t from, size_t servicePort) const {
  auto it = pods_[from].endpoint ? serviceResults_.find(serviceKey(from)) : serviceResults_.end();
  if (it == serviceResults_.end() || servicePort >= it->second.size())
    throw std::logic_error(fmt::format("service flows from {} were not evaluated", pods_[from].key));
  Flow f = it->second[servicePort];
  if (auto own = ownServiceResults_.find(uint64_t(from) << 32 | servicePort); own != ownServiceResults_.end())
    f = own->second;
  f.from = pods_[from].key;
  return f;
}

Flow Reachability::flow(size_t from, size_t to, size_t probe) const {
  auto it = results_.find(flowKey(from, to));
  if (it == results_.end() || probe >= it->second.size())
    throw std::logic_error(fmt::format("flow {} -> {} was not evaluated", pods_[from].key, pods_[to].key));
  Flow f = it->second[probe];
  f.from = pods_[from].key;
  f.to = pods_[to].key;
  return f;
}

Verdict Reachability::verdict(size_t from, size_t to, size_t probe) const {
  auto it = results_.find(flowKey(from, to));
  if (it == results_.end() || probe >= it->second.size())
    throw std::logic_error(fmt::format("flow {} -> {} was not evaluated", pods_[from].key, pods_[to].key));
  return it->second[probe].verdict;
}

}  // namespace sluice::review
