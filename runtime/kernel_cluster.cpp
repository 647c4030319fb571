#include "runtime/kernel_cluster.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "codegen/datapath/sluice_abi.h"
#include "ir/lower.h"

namespace sluice::runtime {

namespace fs = std::filesystem;

std::map<std::string, RunningPod> runningPods(const ir::Program& program, const ClusterState& state) {
  std::map<std::string, RunningPod> out;
  for (const auto& np : program.nodes)
    for (const auto& ep : np.endpoints)
      for (const auto& ip : ep.ips)
        if (ip.isV4()) {
          out[ep.key()] = RunningPod{np.node, ip, &ep};
          break;
        }
  for (const Pod& pod : state.pods)
    if (pod.hostNetwork && !pod.ips.empty() && pod.phase != PodPhase::Succeeded && pod.phase != PodPhase::Failed)
      out.emplace(pod.meta.key(), RunningPod{pod.nodeName, pod.ips.front(), nullptr});
  return out;
}

KernelCluster::KernelCluster() {
  static std::atomic<unsigned> counter{0};
  pinRoot_ = fmt::format("/sys/fs/bpf/sluice-run-{}-{}", ::getpid(), counter++);
  // Source ports of probes: distinct per probe so no probe meets another's tracking entry.
  nextPort_ = uint16_t(20000 + std::random_device{}() % 20000);
}

KernelCluster::~KernelCluster() {
  for (auto& [name, node] : loaded_) node->unpinMaps();
  loaded_.clear();
  std::error_code ec;
  fs::remove_all(pinRoot_, ec);
}

LoadedNode* KernelCluster::loaded(const std::string& node) {
  auto it = loaded_.find(node);
  return it == loaded_.end() ? nullptr : it->second.get();
}

bool KernelCluster::build(const ClusterState& state, Diagnostics& diags, const ClusterOptions& options) {
  ir::Program program = ir::lower(state, diags, [&] {
    ir::LowerOptions lo;
    lo.onlyNode = options.onlyNode;
    lo.clusterName = options.clusterName;
    lo.masquerade = options.masquerade;
    lo.nonMasqueradeCidrs = options.nonMasqueradeCidrs;
    return lo;
  }());
  if (diags.hasErrors()) return false;
  return build(std::move(program), state, diags, options);
}

bool KernelCluster::build(ir::Program program, const ClusterState& state, Diagnostics& diags,
                          const ClusterOptions& options) {
  program_ = std::move(program);
  for (auto& [key, pod] : runtime::runningPods(program_, state)) pods_.emplace(key, PodPlace{pod, {}, {}});
  for (const auto& [key, place] : pods_)
    if (place.endpoint) podByIp_.emplace(place.ip, key);
  for (const auto& [key, place] : pods_)
    if (!place.endpoint) podByIp_.emplace(place.ip, key);

  compiledNodes_.clear();
  for (const auto& np : program_.nodes) {
    if (options.compileNodes && !options.compileNodes->count(np.node)) continue;
    ir::NodeProgram copy = np;
    if (options.compileEndpoints)
      std::erase_if(copy.endpoints, [&](const ir::Endpoint& ep) { return !options.compileEndpoints->count(ep.key()); });
    compiledNodes_.push_back(std::move(copy));
  }
  std::vector<const ir::NodeProgram*> nodes;
  for (const auto& np : compiledNodes_) nodes.push_back(&np);
  // Compiling is the slow part and independent per node; loading stays in order.
  std::vector<codegen::CompiledNode> compiled(nodes.size());
  std::vector<Diagnostics> nodeDiags(nodes.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next++) < nodes.size();)
      compiled[i] = codegen::compileNode(program_, *nodes[i], options.compile, nodeDiags[i]);
  };
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < std::min<size_t>(std::max(1u, options.jobs), nodes.size()); ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  bool ok = true;
  for (auto& d : nodeDiags)
    for (const Diagnostic& x : d.all()) diags.add(x);
  for (size_t i = 0; i < nodes.size() && ok; ++i) {
    const ir::NodeProgram& np = *nodes[i];
    codegen::CompiledNode& c = compiled[i];
    if (c.object.empty()) return false;
    auto node = std::make_unique<LoadedNode>();
    if (options.snatPorts) node->setSnatPorts(options.snatPorts->first, options.snatPorts->second);
    std::string error;
    if (!node->load(c, np, pinRoot_ + "/" + np.node, error)) {
      diags.error({}, "Node " + np.node, "", error);
      return false;
    }
    for (const auto& p : c.programs) {
      if (p.endpoint.empty()) {  // the node's uplink program
        uplinks_[np.node] = Hook{p.name, node->programFd(p.name)};
        continue;
      }
      Hook& hook = p.direction == ir::Direction::Egress ? pods_.at(p.endpoint).fromPod : pods_.at(p.endpoint).toPod;
      hook = Hook{p.name, node->programFd(p.name)};
    }
    compiled_.push_back(std::move(c));
    loaded_[np.node] = std::move(node);
  }
  return ok;
}

std::vector<std::string> KernelCluster::runningPods() const {
  std::vector<std::string> out;
  for (const auto& [key, place] : pods_) out.push_back(key);
  return out;
}

const KernelCluster::PodPlace* KernelCluster::findPod(const std::string& key) const {
  auto it = pods_.find(key);
  return it == pods_.end() ? nullptr : &it->second;
}

std::optional<IpAddr> KernelCluster::clusterIpOf(const std::string& service, std::string& error) const {
  for (const auto& np : program_.nodes)
    for (const auto& svc : np.services) {
      if (svc.key() != service) continue;
      // A port the service does not define is traced too: the datapath rejects it.
      for (const auto& ip : svc.clusterIPs)
        if (ip.isV4()) return ip;
      error = fmt::format("service '{}' has no IPv4 cluster IP", service);
      return std::nullopt;
    }
  error = fmt::format("no proxied service '{}' (headless and ExternalName services are not)", service);
  return std::nullopt;
}

// After the client's from-pod hook: which service translated the packet, to
// which backend, or whether the service answered it itself. The to-pod hook
// then sees the packet as translated.
void KernelCluster::noteService(FlowTrace& t, const std::string& nodeName, const RunResult& run,
                                std::vector<uint8_t>& packet, const PodPlace*& dst) const {
  if (run.outcome == SLUICE_OUT_REJECTED) t.rejected = true;
  auto node = loaded_.find(nodeName);
  const LoadedNode::ServiceSlot* slot =
      run.serviceId && node != loaded_.end() ? node->second->serviceSlot(run.serviceId) : nullptr;
  if (slot) t.service = slot->service;
  // The uplink routes a SNATed packet itself (TC_ACT_REDIRECT): it went on, translated.
  bool forwarded = run.passed() || (run.redirected() && run.outcome != SLUICE_OUT_REJECTED);
  if (!run.serviceId || !forwarded || run.packetOut.size() < 14 + 20 + 4) return;
  const uint8_t* ip = run.packetOut.data() + 14;
  IpAddr backend = IpAddr::v4(uint32_t(ip[16]) << 24 | uint32_t(ip[17]) << 16 | uint32_t(ip[18]) << 8 | ip[19]);
  size_t l4 = 14 + size_t(ip[0] & 0x0f) * 4;
  if (run.packetOut.size() < l4 + 4) return;
  uint16_t port = uint16_t(run.packetOut[l4 + 2] << 8 | run.packetOut[l4 + 3]);
  t.backend = fmt::format("{}:{}", backend.str(), port);
  dst = findByIp(backend);
  if (dst && dst->endpoint) t.backendPod = dst->endpoint->key();
  packet = run.packetOut;
}

const KernelCluster::PodPlace* KernelCluster::findByIp(const IpAddr& ip) const {
  auto it = podByIp_.find(ip);
  return it == podByIp_.end() ? nullptr : findPod(it->second);
}

static std::string describe(const RunResult& r, const ir::Rule* rule, ir::Direction dir) {
  const char* what = dir == ir::Direction::Egress ? "egress" : "ingress";
  uint32_t kind = SLUICE_DECISION_KIND(r.decision);
  std::string from = rule ? fmt::format("{} ({} {} at {})", rule->name, rule->origin.policy, rule->origin.path,
                                        rule->origin.loc.fileLine())
                          : "";
  switch (kind) {
    case SLUICE_DECIDE_ALLOW_UNISOLATED: return fmt::format("allowed: no policy isolates its {}", what);
    case SLUICE_DECIDE_ALLOW_RULE: return "allowed by " + from;
    case SLUICE_DECIDE_DENY_RULE: return "denied by " + from;
    case SLUICE_DECIDE_DENY_DEFAULT: return fmt::format("denied: its {} is isolated and no rule allows this", what);
    case SLUICE_DECIDE_ALLOW_OWN_NODE: return "allowed: connections from the pod's own node are always allowed";
    case SLUICE_DECIDE_ALLOW_HAIRPIN:
      return "allowed: the pod's own connection through a service (hairpin); ingress policy never blocks a pod "
             "from itself";
  }
  switch (r.outcome) {
    case SLUICE_OUT_REJECTED:
      return "rejected: the service cannot serve this (no usable endpoint, or a port it does not define); "
             "answered with a TCP RST or ICMP port unreachable";
    case SLUICE_OUT_SVC_DROPPED:
      return "dropped: the service's traffic policy is Local and this node has none of its endpoints";
    case SLUICE_OUT_SPOOFED: return "dropped: the source address is not the pod's";
    case SLUICE_OUT_SNAT_EXHAUSTED: return "dropped: masquerade found no free port for the connection";
    case SLUICE_OUT_UNSUPPORTED: return "dropped: not an IPv4 packet sluice can enforce";
    case SLUICE_OUT_NOT_IP: return "passed: not IP";
  }
  return r.passed() ? "passed" : "dropped";
}

HookStep KernelCluster::runHook(const PodPlace& at, ir::Direction dir, const std::vector<uint8_t>& packet) {
  HookStep step;
  step.hook = dir == ir::Direction::Egress ? "from-pod" : "to-pod";
  step.endpoint = at.endpoint->key();
  step.node = at.node;
  const Hook& hook = dir == ir::Direction::Egress ? at.fromPod : at.toPod;
  step.program = hook.program;
  int fd = hook.fd;
  if (fd < 0) {
    step.run.error = "program " + step.program + " is not loaded";
    return step;
  }
  step.run = runPacket(fd, packet);
  uint32_t index = SLUICE_DECISION_RULE(step.run.decision);
  const auto& rules = at.endpoint->policy(dir).rules;
  if (index >= 1 && index <= rules.size()) step.rule = &rules[index - 1];
  step.explanation = describe(step.run, step.rule, dir);
  return step;
}

FlowTrace KernelCluster::trace(const FlowQuery& q) {
  FlowTrace t;
  const PodPlace* src = nullptr;
  if (!q.fromPod.empty()) {
    src = findPod(q.fromPod);
    if (!src) {
      t.error = fmt::format("no running pod '{}' with an IPv4 address", q.fromPod);
      return t;
    }
  } else if (q.fromIp) {
    src = findByIp(*q.fromIp);  // an address no pod holds meets only the destination's hook
  } else {
    t.error = "a flow needs a source pod or address";
    return t;
  }
  const PodPlace* dst = nullptr;
  if (!q.toPod.empty()) {
    dst = findPod(q.toPod);
    if (!dst) {
      t.error = fmt::format("no running pod '{}' with an IPv4 address", q.toPod);
      return t;
    }
  } else if (q.toIp) {
    dst = findByIp(*q.toIp);
  }
  std::optional<IpAddr> serviceIp;
  if (q.toPod.empty() && !q.toIp) {
    serviceIp = clusterIpOf(q.toService, t.error);
    if (!serviceIp) return t;
  }
  t.from = !q.fromPod.empty() ? q.fromPod : (src && src->endpoint ? src->endpoint->key() : q.fromIp->str());
  t.to = !q.toPod.empty() ? q.toPod
         : serviceIp      ? "svc/" + q.toService
                          : (dst && dst->endpoint ? dst->endpoint->key() : q.toIp->str());
  t.srcIp = src ? src->ip : *q.fromIp;
  t.dstIp = dst ? dst->ip : serviceIp ? *serviceIp : *q.toIp;
  t.ok = true;
  if (t.srcIp == t.dstIp) {
    // A pod's traffic to its own address goes through its loopback and never
    // meets a hook: Kubernetes policy never blocks a pod from itself.
    t.allowed = true;
    t.note = "a pod reaching its own address never leaves its network namespace";
    return t;
  }
  PacketSpec spec{t.srcIp, t.dstIp, q.proto, nextPort_++, q.port, true};
  if (nextPort_ < 20000) nextPort_ = 20000;
  std::vector<uint8_t> packet = buildPacket(spec);
  t.allowed = true;
  if (src && src->endpoint && q.onlyHook != ir::Direction::Ingress) {
    HookStep s = runHook(*src, ir::Direction::Egress, packet);
    if (!s.run.ok) {
      t.ok = false;
      t.error = s.run.error;
    }
    // A masqueraded connection is routed out by the program itself (redirected).
    t.allowed = (s.run.passed() || s.run.redirected()) && s.run.outcome != SLUICE_OUT_REJECTED;
    if (s.run.ok) noteService(t, src->node, s.run, packet, dst);
    if (t.allowed && t.service.empty() && s.run.packetOut.size() >= 38) {
      IpAddr out;
      out.family = IpAddr::Family::V4;
      std::copy(s.run.packetOut.begin() + 26, s.run.packetOut.begin() + 30, out.bytes.begin());
      if (out != t.srcIp)
        t.masqueradedAs = fmt::format("{}:{}", out.str(), q.proto == ir::L4Proto::ICMP
                                                              ? (s.run.packetOut[38] << 8 | s.run.packetOut[39])
                                                              : (s.run.packetOut[34] << 8 | s.run.packetOut[35]));
    }
    t.steps.push_back(std::move(s));
  }
  // From outside the cluster to an address no pod holds: the packet arrives on
  // a node's uplink, whose program translates NodePorts (that node's address)
  // and external / LB addresses (any node with an uplink program: the first).
  // (The address may be a hostNetwork pod's: the node's own.)
  if (!src && (!dst || !dst->endpoint) && !serviceIp && !q.onlyHook) {
    const std::string* via = nullptr;
    for (const auto& np : program_.nodes)
      if (uplinks_.count(np.node) && std::find(np.nodeIPs.begin(), np.nodeIPs.end(), t.dstIp) != np.nodeIPs.end())
        via = &np.node;
    if (!via && !uplinks_.empty()) via = &uplinks_.begin()->first;
    if (via) {
      const Hook& hook = uplinks_.at(*via);
      HookStep s;
      s.hook = "uplink";
      s.node = *via;
      s.program = hook.program;
      s.run = runPacket(hook.fd, packet);
      if (!s.run.ok) {
        t.ok = false;
        t.error = s.run.error;
      }
      // A routed packet is redirected too; a reject goes back out of the uplink.
      t.allowed = (s.run.passed() || s.run.redirected()) && s.run.outcome != SLUICE_OUT_REJECTED;
      if (s.run.ok) noteService(t, *via, s.run, packet, dst);
      s.explanation = !s.run.serviceId ? "passed: not a NodePort or external address of a service"
                      : t.allowed      ? "translated to backend " + t.backend
                                       : describe(s.run, nullptr, ir::Direction::Ingress);
      t.steps.push_back(std::move(s));
    }
  }
  if (t.ok && t.allowed && dst && dst->endpoint && q.onlyHook != ir::Direction::Egress) {
    HookStep s = runHook(*dst, ir::Direction::Ingress, packet);
    if (!s.run.ok) {
      t.ok = false;
      t.error = s.run.error;
    }
    t.allowed = s.run.passed();
    t.steps.push_back(std::move(s));
  }
  return t;
}

}  // namespace sluice::runtime
