// The agent's pod networking: sluice-cni's requests (docs/cni.md), the
// addresses (agent/ipam.h), and the routes to the other nodes' pods.
//
// An ADD allocates an address, makes the pod's interface, and tells the loop;
// the loop's next reconcile lowers the pod with that address, compiles and
// attaches its programs; ADD answers once they are attached, so the pod is
// enforced from its first packet. Anything that fails on the way (the
// reconcile included) rolls the attachment back and answers an error the
// runtime retries on ("try again later"): never a pod without its policy.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/cni_server.h"
#include "agent/ipam.h"
#include "agent/node_agent.h"
#include "base/text.h"
#include "runtime/node_network.h"
#include "runtime/pod_network.h"

namespace sluice::agent {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// CHECK found the attachment other than ADD made it (sluice's own code: the
// spec reserves 100 and up for plugins).
constexpr int kCheckFailed = 110;
// How long an ADD waits for the pod's object to reach the agent (kubelet
// creates it before it calls the runtime, but a watch may lag).
constexpr auto kPodArrivalWait = std::chrono::seconds(5);

std::string endpointKey(const Allocation& a) { return a.podNamespace + "/" + (a.podNamespace.empty() ? a.containerID : a.podName); }

bool writeFileAtomically(const fs::path& path, const std::string& text, std::string& error) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) {
      error = fmt::format("cannot write {}", tmp.string());
      return false;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    error = fmt::format("cannot write {}: {}", path.string(), ec.message());
    return false;
  }
  return true;
}

}  // namespace

void NodeAgent::wake() {
  cniWake_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeFd_, &one, sizeof one);
}

void NodeAgent::forgetAttachment(const std::string& containerID, const std::string& ifname,
                                 const std::string& hostIfname) {
  std::string error;
  {
    std::lock_guard<std::mutex> lock(attachMu_);
    for (auto it = preAttached_.begin(); it != preAttached_.end();)
      it = it->second.ifname == hostIfname ? preAttached_.erase(it) : std::next(it);
  }
  preAttachDone_.notify_all();
  if (!runtime::deletePodInterface(hostIfname, error)) log("cni: " + error);
  if (!ipam_->release(containerID, ifname, error)) log("cni: " + error);
  ++attachmentsVersion_;
}

bool NodeAgent::setUpPodNetworking(std::string& error) {
  ipam_ = std::make_unique<Ipam>((fs::path(options_.stateDir) / options_.node / "ipam.json").string());
  if (!ipam_->load(error)) return false;
  if (!runtime::enableForwarding(error)) return false;
  podMtu_ = runtime::defaultMtu(error);
  if (!podMtu_) return false;
  if (options_.routing == AgentOptions::Routing::Vxlan) podMtu_ -= runtime::kVxlanOverhead;
  {
    // What a previous agent left: attachments that never answered ADD are
    // rolled back (the runtime retries them); ready ones whose interface is
    // gone belong to pods deleted meanwhile (DEL cleaned up without us).
    std::lock_guard<std::mutex> lock(cniMu_);
    std::vector<Allocation> all = ipam_->all();
    for (const Allocation& a : all) {
      bool gone = runtime::ifindexOf(a.hostIfname) == 0;
      if (!a.ready || gone) {
        log(fmt::format("cni: {} {} ({}): {}", a.podKey().empty() ? "container" : "pod",
                        a.podKey().empty() ? a.containerID : a.podKey(), a.address.str(),
                        !a.ready ? "its ADD never completed: rolled back" : "its interface is gone: address released"));
        forgetAttachment(a.containerID, a.ifname, a.hostIfname);
      }
    }
  }
  cniServer_ = std::make_unique<CniServer>([this](const cni::Request& r) { return handleCni(r); });
  if (!cniServer_->start(options_.cniSocket, error)) return false;
  {
    std::lock_guard<std::mutex> lock(statusMu_);
    status_.cniSocket = options_.cniSocket;
  }
  if (!options_.cniConfDir.empty()) {
    nlohmann::ordered_json conf = {
        {"cniVersion", "1.0.0"},
        {"cniVersions", {"1.0.0", "1.1.0"}},
        {"name", "sluice"},
        {"plugins", {{{"type", "sluice"}, {"agentSocket", options_.cniSocket}, {"timeoutSeconds", 60}}}}};
    if (!writeFileAtomically(fs::path(options_.cniConfDir) / "10-sluice.conflist", conf.dump(2) + "\n", error))
      return false;
  }
  return true;
}

uint64_t NodeAgent::localAttachments(std::vector<StateFragments::LocalAttachment>& out) {
  std::lock_guard<std::mutex> lock(cniMu_);
  out.clear();
  if (ipam_)
    for (const Allocation& a : ipam_->all()) out.push_back({a.podNamespace, a.podName, a.containerID, a.address});
  return attachmentsVersion_;
}

void NodeAgent::syncRoutes(const ClusterState& state) {
  if (!options_.cni || options_.routing == AgentOptions::Routing::None) return;
  std::vector<runtime::RemotePodCidr> remote;
  std::optional<IpAddr> ownIp;
  std::optional<Cidr> ownCidr;
  for (const Node& n : state.nodes) {
    auto v4 = std::find_if(n.ips.begin(), n.ips.end(), [](const IpAddr& a) { return a.isV4(); });
    auto cidr = std::find_if(n.podCIDRs.begin(), n.podCIDRs.end(), [](const Cidr& c) { return c.addr.isV4(); });
    if (n.meta.name == options_.node) {
      if (v4 != n.ips.end()) ownIp = *v4;
      if (cidr != n.podCIDRs.end()) ownCidr = *cidr;
      continue;
    }
    if (v4 == n.ips.end() || cidr == n.podCIDRs.end()) continue;
    remote.push_back({*cidr, *v4});
  }
  std::string key = fmt::format("{}|{}|", ownIp ? ownIp->str() : "", ownCidr ? ownCidr->str() : "");
  for (const auto& r : remote) key += r.podCidr.str() + ">" + r.nodeIp.str() + ",";
  if (key == routesApplied_) return;
  std::string error;
  bool ok = true;
  if (options_.routing == AgentOptions::Routing::Native) {
    ok = runtime::syncPodCidrRoutes(remote, error);
  } else if (ownIp && ownCidr) {
    runtime::VxlanSpec spec;
    spec.localIp = *ownIp;
    spec.podCidr = *ownCidr;
    std::vector<runtime::VxlanPeer> peers;
    for (const auto& r : remote) peers.push_back({r.podCidr, r.nodeIp});
    ok = runtime::ensureVxlanDevice(spec, error) && runtime::syncVxlanPeers(peers, error);
  } else {
    error = "VXLAN needs this node's IPv4 address and podCIDR, and the Node object has not both yet";
    ok = false;
  }
  if (ok) {
    routesApplied_ = key;
    log(fmt::format("routes: {} other nodes' pod CIDRs {}", remote.size(),
                    options_.routing == AgentOptions::Routing::Native ? "routed natively" : "routed through VXLAN"));
  } else {
    log("routes: " + error);  // tried again at the next reconcile
  }
}

cni::Response NodeAgent::handleCni(const cni::Request& request) {
  switch (request.command) {
    case cni::Command::Add: return cniAdd(request);
    case cni::Command::Del: return cniDel(request);
    case cni::Command::Check: return cniCheck(request);
    case cni::Command::Status: return cniStatus();
    case cni::Command::Gc: return cniGc(request);
    case cni::Command::Version: break;
  }
  return cni::Response::failure(cni::kInvalidConfig, "the agent does not answer VERSION (the plugin does)");
}

cni::Response NodeAgent::cniStatus() {
  std::lock_guard<std::mutex> lock(statusMu_);
  if (stopping_) return cni::Response::failure(cni::kNotAvailable, "the agent is stopping");
  if (status_.reconciles == 0)
    return cni::Response::failure(cni::kNotAvailable, "the agent has not read the cluster state yet");
  if (std::none_of(status_.podCIDRs.begin(), status_.podCIDRs.end(), [](const Cidr& c) { return c.addr.isV4(); }))
    return cni::Response::failure(cni::kNotAvailable,
                                  fmt::format("node {} has no IPv4 spec.podCIDR yet: no address to give pods",
                                              options_.node));
  return cni::Response::ok();
}

cni::Response NodeAgent::cniAdd(const cni::Request& req) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(req.timeoutMs ? req.timeoutMs : 60000) -
                        std::chrono::milliseconds(500);  // answer before the plugin gives up
  const bool isPod = !req.args.podNamespace.empty() && !req.args.podName.empty();
  const std::string podKey = isPod ? req.args.podNamespace + "/" + req.args.podName : "";
  const std::string what = isPod ? "pod " + podKey : "container " + req.containerID;
  {
    // A starting agent is given the time of its first reconcile (it reads
    // the state and compiles the node's first programs).
    std::unique_lock<std::mutex> lock(statusMu_);
    statusChanged_.wait_until(lock, std::min(deadline, Clock::now() + kPodArrivalWait),
                              [&] { return stopping_ || status_.reconciles > 0; });
  }
  if (cni::Response s = cniStatus(); s.error) {
    s.error->code = cni::kTryAgainLater;
    s.error->msg = "cannot add " + what + " yet: " + s.error->msg + "; try again later";
    return s;
  }
  std::vector<Cidr> pools;
  {
    // The pod's object tells which policies select it: wait a little for it.
    std::unique_lock<std::mutex> lock(statusMu_);
    if (isPod && !statusChanged_.wait_until(lock, std::min(deadline, Clock::now() + kPodArrivalWait),
                                            [&] { return stopping_ || status_.localPods.count(podKey) > 0; }))
      return cni::Response::failure(
          cni::kTryAgainLater,
          fmt::format("{} is not in the cluster state the agent has (not scheduled to node {}, or the agent has not "
                      "seen it yet); try again later",
                      what, options_.node));
    pools = status_.podCIDRs;
  }
  Allocation a;
  uint64_t version;
  runtime::PodInterface made;
  {
    std::lock_guard<std::mutex> lock(cniMu_);
    if (const Allocation* old = ipam_->find(req.containerID, req.ifname)) {
      // An earlier ADD of the same attachment that failed half-way, or that
      // the runtime did not wait for: start over.
      Allocation stale = *old;
      forgetAttachment(stale.containerID, stale.ifname, stale.hostIfname);
    }
    a.containerID = req.containerID;
    a.ifname = req.ifname;
    a.podNamespace = isPod ? req.args.podNamespace : "";
    a.podName = isPod ? req.args.podName : "";
    a.netns = req.netns;
    a.hostIfname = runtime::hostInterfaceName(req.containerID, req.ifname);
    std::string error;
    ipam_->setPools(pools);
    std::optional<IpAddr> ip = ipam_->allocate(a, error);
    if (!ip) return cni::Response::failure(cni::kTryAgainLater, fmt::format("no address for {}: {}", what, error));
    a.address = *ip;
    runtime::PodInterfaceSpec spec;
    spec.netns = req.netns;
    spec.ifname = req.ifname;
    spec.hostIfname = a.hostIfname;
    spec.address = a.address;
    spec.mtu = podMtu_;
    if (!runtime::createPodInterface(spec, made, error)) {
      std::string e2;
      ipam_->release(a.containerID, a.ifname, e2);
      return cni::Response::failure(cni::kIoFailure, fmt::format("cannot make {}'s interface: {}", what, error));
    }
    version = ++attachmentsVersion_;
  }
  wake();
  log(fmt::format("cni: ADD {} ({}) on {}: {}, waiting for its programs", what, req.containerID, a.hostIfname,
                  a.address.str()));
  // While the loop reconciles: the attach (a kernel RCU grace period per
  // hook with tcx) is off the loop's path.
  if (options_.firstTier) preAttachFirstTier(made.hostIfindex, a.hostIfname);

  // Answer once the reconcile that lowered this attachment has attached the
  // pod's programs on its interface; a failed reconcile fails the ADD.
  const std::string key = endpointKey(a);
  std::string problem;
  bool enforced = false;
  {
    std::unique_lock<std::mutex> lock(statusMu_);
    statusChanged_.wait_until(lock, deadline, [&] {
      if (stopping_) {
        problem = "the agent is stopping";
        return true;
      }
      if (status_.attachmentsApplied < version) return false;
      for (const EndpointStatus& e : status_.endpoints)
        if (e.pod == key) {
          if (e.attached && e.interface == a.hostIfname) return enforced = true;
          problem = e.problem;
        }
      if (status_.last.result == "failed") {
        problem = "the agent could not enforce its policy: " + status_.last.error;
        return true;
      }
      return false;
    });
  }
  if (!enforced) {
    if (problem.empty()) problem = "its programs were not attached in time";
    std::lock_guard<std::mutex> lock(cniMu_);
    forgetAttachment(a.containerID, a.ifname, a.hostIfname);
    wake();
    log(fmt::format("cni: ADD {} failed, rolled back: {}", what, problem));
    return cni::Response::failure(cni::kTryAgainLater, fmt::format("{} was not enforced: {}; try again later", what,
                                                                   displayText(problem, 2000)));
  }
  {
    std::lock_guard<std::mutex> lock(cniMu_);
    std::string error;
    if (!ipam_->markReady(a.containerID, a.ifname, error)) log("cni: " + error);
  }
  cni::Result result;
  result.interfaces.push_back({a.hostIfname, made.hostMac, podMtu_, "", "", ""});
  result.interfaces.push_back({req.ifname, made.podMac, podMtu_, req.netns, "", ""});
  result.ips.push_back({a.address.str() + "/32", runtime::podGateway().str(), 1u});
  cni::Route route;
  route.dst = "0.0.0.0/0";
  route.gw = runtime::podGateway().str();
  result.routes.push_back(route);
  log(fmt::format("cni: ADD {} done: {} enforced on {}", what, a.address.str(), a.hostIfname));
  return cni::Response::success(result);
}

cni::Response NodeAgent::cniDel(const cni::Request& req) {
  {
    std::lock_guard<std::mutex> lock(cniMu_);
    const Allocation* a = ipam_->find(req.containerID, req.ifname);
    std::string host = a ? a->hostIfname : runtime::hostInterfaceName(req.containerID, req.ifname);
    forgetAttachment(req.containerID, req.ifname, host);
    if (a) log(fmt::format("cni: DEL {} ({}): interface and address released", req.containerID, host));
  }
  wake();
  return cni::Response::ok();
}

cni::Response NodeAgent::cniCheck(const cni::Request& req) {
  Allocation a;
  {
    std::lock_guard<std::mutex> lock(cniMu_);
    const Allocation* found = ipam_->find(req.containerID, req.ifname);
    if (!found || !found->ready)
      return cni::Response::failure(cni::kUnknownContainer,
                                    fmt::format("the agent has no attachment of container {} on {}", req.containerID,
                                                req.ifname));
    a = *found;
  }
  runtime::PodInterfaceSpec spec;
  spec.netns = req.netns.empty() ? a.netns : req.netns;
  spec.ifname = a.ifname;
  spec.hostIfname = a.hostIfname;
  spec.address = a.address;
  spec.mtu = podMtu_;
  std::string problem;
  if (!runtime::checkPodInterface(spec, problem))
    return cni::Response::failure(kCheckFailed, "the pod's network is not as ADD made it: " + problem);
  std::lock_guard<std::mutex> lock(statusMu_);
  for (const EndpointStatus& e : status_.endpoints)
    if (e.pod == endpointKey(a)) {
      if (e.attached && e.interface == a.hostIfname) return cni::Response::ok();
      return cni::Response::failure(kCheckFailed, "the pod's programs are not attached: " + e.problem);
    }
  return cni::Response::failure(kCheckFailed, "the agent does not enforce this pod (not in its cluster state)");
}

cni::Response NodeAgent::cniGc(const cni::Request& req) {
  std::vector<std::string> released;
  {
    std::lock_guard<std::mutex> lock(cniMu_);
    std::vector<Allocation> all = ipam_->all();
    for (const Allocation& a : all) {
      bool valid = std::any_of(req.validAttachments.begin(), req.validAttachments.end(), [&](const cni::Attachment& v) {
        return v.containerID == a.containerID && v.ifname == a.ifname;
      });
      if (valid || !a.ready) continue;  // an ADD under way is not garbage
      forgetAttachment(a.containerID, a.ifname, a.hostIfname);
      released.push_back(a.address.str());
    }
  }
  if (!released.empty()) {
    log(fmt::format("cni: GC released {} attachment(s): {}", released.size(), fmt::join(released, ", ")));
    wake();
  }
  return cni::Response::ok();
}

}  // namespace sluice::agent
