#include "agent/node_agent.h"

#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/api_source.h"
#include "agent/cni_server.h"
#include "agent/dir_source.h"
#include "agent/ipam.h"
#include "agent/metrics_server.h"
#include "ir/lower.h"
#include "ir/print.h"
#include "runtime/loader.h"
#include "runtime/route_lookup.h"
#include "runtime/tc_attach.h"
#include "runtime/tcx_attach.h"

namespace sluice::agent {

using Clock = std::chrono::steady_clock;

namespace {
double msSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// Whether two lowerings of the node fill the maps alike (the IP cache and the
// services); cheaper than printing both, which at 10,000 pods costs tens of ms.
bool sameMaps(const ir::NodeProgram& a, const ir::NodeProgram& b) {
  if (a.ipcache.size() != b.ipcache.size() || a.services.size() != b.services.size()) return false;
  for (size_t i = 0; i < a.ipcache.size(); ++i)
    if (a.ipcache[i].prefix != b.ipcache[i].prefix || a.ipcache[i].identity != b.ipcache[i].identity) return false;
  for (size_t i = 0; i < a.services.size(); ++i)
    if (ir::str(a.services[i]) != ir::str(b.services[i])) return false;
  const ir::Masquerade &ma = a.masquerade, &mb = b.masquerade;
  return ma.enabled == mb.enabled && ma.nodeAddress == mb.nodeAddress && ma.keep == mb.keep;
}
}  // namespace

NodeAgent::NodeAgent(AgentOptions options) : options_(std::move(options)) {
  status_.node = options_.node;
  status_.source = !options_.watchDir.empty()   ? "directory " + options_.watchDir
                   : !options_.kubeconfig.empty() ? "kubeconfig " + options_.kubeconfig
                                                  : "the API server of the pod's service account (in-cluster)";
}

NodeAgent::~NodeAgent() {
  cniServer_.reset();
  metrics_.reset();
  for (auto& [key, c] : code_) c.close();
  if (wakeFd_ >= 0) ::close(wakeFd_);
}

void NodeAgent::log(const std::string& line) const {
  if (options_.log)
    options_.log(line);
  else
    std::cerr << "sluice agent: " << line << "\n";
}

void NodeAgent::stop() {
  stopping_ = true;
  if (wakeFd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wakeFd_, &one, sizeof one);
  }
  // CNI requests waiting for enforcement give up now.
  std::lock_guard<std::mutex> lock(statusMu_);
  statusChanged_.notify_all();
}

AgentStatus NodeAgent::status() const {
  std::lock_guard<std::mutex> lock(statusMu_);
  return status_;
}

bool NodeAgent::setUp(std::string& error) {
  if (options_.node.empty()) {
    error = "--node is required";
    return false;
  }
  if (!options_.watchDir.empty() + !options_.kubeconfig.empty() + options_.inCluster != 1) {
    error = "give exactly one state source: --watch DIR, --kubeconfig FILE or --in-cluster";
    return false;
  }
  if (std::string e = runtime::ensureBpffs(); !e.empty()) {
    error = e;
    return false;
  }
  if (options_.attach == AttachMode::Tcx && !runtime::tcxAvailable()) {
    error = "--attach tcx: this kernel has no tcx (it needs 6.6 or later)";
    return false;
  }
  useTcx_ = options_.attach == AttachMode::Tcx || (options_.attach == AttachMode::Auto && runtime::tcxAvailable());
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) {
    error = fmt::format("eventfd: {}", std::strerror(errno));
    return false;
  }
  if (options_.metricsPort >= 0) {
    metrics_ = std::make_unique<MetricsServer>([this] { return metricsText(status(), pinDir()); },
                                               [this] { return toJson(status()).dump(2) + "\n"; });
    if (!metrics_->start(options_.metricsAddress, options_.metricsPort, error)) return false;
    std::lock_guard<std::mutex> lock(statusMu_);
    status_.metricsPort = metrics_->port();
  }
  if (!options_.watchDir.empty()) {
    dir_ = std::make_unique<DirSource>(options_.watchDir);
    if (!dir_->start(error)) return false;
  } else {
    api_ = std::make_unique<ApiSource>(options_.kubeconfig, wakeFd_, [this](const std::string& l) { log(l); });
    if (!api_->start(error)) return false;
  }
  return !options_.cni || setUpPodNetworking(error);
}

bool NodeAgent::loadState(const ClusterState*& state, std::string& problems) {
  if (dir_) dir_->rescan(fragments_, problems);
  if (api_) api_->update(fragments_);
  if (options_.cni) {
    std::vector<StateFragments::LocalAttachment> attachments;
    attachmentsLowered_ = localAttachments(attachments);
    fragments_.setLocalAttachments(options_.node, std::move(attachments));
  }
  Diagnostics diags;
  const ClusterState& merged = fragments_.merge(diags);
  problems += diags.render(false);
  state = &merged;
  return true;
}

int NodeAgent::run() {
  std::string error;
  if (!setUp(error)) {
    log("cannot start: " + error);
    return 2;
  }
  log(fmt::format("serving node {} from {}; maps pinned under {}; programs attached with {}", options_.node,
                  status_.source, pinDir(), useTcx_ ? "tcx links (pinned under <pins>/links)" : "tc filters"));
  // The API source is ready once every resource was listed; a directory at once.
  bool dirty = dir_ != nullptr;
  Clock::time_point firstChange = Clock::now(), lastChange = firstChange;
  Clock::time_point lastRetry = Clock::now();
  while (!stopping_) {
    int timeoutMs = -1;
    auto now = Clock::now();
    if (dirty) {
      auto settleAt = lastChange + options_.settle, latest = firstChange + options_.maxDelay;
      auto at = std::min(settleAt, latest);
      timeoutMs = at <= now ? 0 : int(std::chrono::ceil<std::chrono::milliseconds>(at - now).count());
    } else if (maps_) {
      timeoutMs = int(options_.retry.count());
    }
    pollfd fds[2] = {{wakeFd_, POLLIN, 0}, {dir_ ? dir_->fd() : -1, POLLIN, 0}};
    int n = ::poll(fds, dir_ ? 2 : 1, timeoutMs);
    if (n < 0 && errno != EINTR) {
      log(fmt::format("poll: {}", std::strerror(errno)));
      return 1;
    }
    if (stopping_) break;
    bool changed = false;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] ssize_t r = ::read(wakeFd_, &v, sizeof v);
      // From the API, nothing is enforced before every resource was listed once.
      changed = api_ ? api_->synced() : true;
      // A CNI attachment came or went (and the state was read once already).
      if (cniWake_.exchange(false) && completed_ > 0) changed = true;
    }
    if (dir_ && (fds[1].revents & POLLIN)) changed |= dir_->drain();
    now = Clock::now();
    if (changed) {
      if (!dirty) firstChange = now;
      dirty = true;
      lastChange = now;
    }
    if (dirty && (now - lastChange >= options_.settle || now - firstChange >= options_.maxDelay)) {
      dirty = false;
      reconcile(firstChange);
      lastRetry = Clock::now();
    } else if (!dirty && maps_ && now - lastRetry >= options_.retry) {
      // Pods whose interface appeared, or came back as a new one, since.
      attachEndpoints(nullptr);
      lastRetry = Clock::now();
      std::lock_guard<std::mutex> lock(statusMu_);
      refreshStatusLocked();
      statusChanged_.notify_all();
    }
  }
  if (api_) api_->stop();
  if (cniServer_) cniServer_->stop();
  if (metrics_) metrics_->stop();
  log("stopped; the attached programs stay and keep enforcing");
  return 0;
}

void NodeAgent::reconcile(Clock::time_point firstChange) {
  ReconcileReport r;
  r.number = ++reconciles_;
  auto start = Clock::now();
  auto fail = [&](const std::string& what) {
    r.result = "failed";
    r.error = what;
    r.totalMs = msSince(start);
    log(fmt::format("reconcile {} failed, generation {} stays: {}", r.number, generation_, what));
    publish(r);
  };

  const ClusterState* state = nullptr;
  std::string problems;
  loadState(state, problems);
  r.loadStateMs = msSince(start);
  {
    std::lock_guard<std::mutex> lock(statusMu_);
    status_.sourceErrors = fragments_.errors();
    status_.warnings = problems;
  }
  if (!fragments_.errors().empty()) log("some manifests do not parse; their last good objects stay:\n" + fragments_.errors());
  if (options_.cni) {
    // What an ADD waits for: its pod in the state, and an address to give it.
    localPods_.clear();
    for (const Pod& p : state->pods)
      if (p.nodeName == options_.node) localPods_.insert(p.meta.key());
    const Node* self = state->findNode(options_.node);
    podCIDRs_ = self ? self->podCIDRs : std::vector<Cidr>{};
  }

  auto t = Clock::now();
  Diagnostics diags;
  syncRoutes(*state);
  ir::LowerOptions lo;
  lo.onlyNode = options_.node;
  lo.clusterName = options_.clusterName;
  lo.masquerade = options_.masquerade;
  lo.nonMasqueradeCidrs = options_.nonMasqueradeCidrs;
  ir::Program program = ir::lower(*state, diags, lo);
  r.lowerMs = msSince(t);
  if (diags.hasErrors()) return fail("the cluster state cannot be lowered:\n" + diags.render(false));
  ir::NodeProgram node;
  if (const ir::NodeProgram* np = program.findNode(options_.node))
    node = *np;
  else
    node.node = options_.node;  // not declared (yet): no endpoints, nothing to enforce

  // What needs new code: endpoints whose programs would differ, and the uplink.
  ir::NodeProgram changed = node;
  changed.endpoints.clear();
  std::map<std::string, std::string> keys;
  for (const ir::Endpoint& ep : node.endpoints) {
    std::string key = codegen::endpointCodeInputs(program, ep);
    auto have = code_.find(ep.key());
    if (!maps_ || have == code_.end() || have->second.key != key) changed.endpoints.push_back(ep);
    keys[ep.key()] = std::move(key);
  }
  std::string uplinkKey = codegen::uplinkCodeInputs(node);
  bool uplinkChanged = !maps_ || uplinkKey != uplinkKey_;
  // Without a new uplink program, the object needs no service frontends.
  if (!uplinkChanged || uplinkKey.empty()) changed.services.clear();

  std::string error;
  std::set<std::string> recompiled;
  if (maps_ && changed.endpoints.empty() && !uplinkChanged) {
    // Same code: addresses, identities or backends changed, the maps say it.
    t = Clock::now();
    if (!maps_->syncIpcache(node, error) || !maps_->syncServices(node, error) || !maps_->syncConfig(node, error))
      return fail("cannot update the maps: " + error);
    r.syncMs = msSince(t);
    r.result = sameMaps(node_, node) ? "unchanged" : "maps-updated";
  } else {
    std::unique_ptr<runtime::LoadedNode> loaded;
    std::vector<codegen::ProgramInfo> programs;
    if (!changed.endpoints.empty() || !uplinkKey.empty() || !maps_) {
      t = Clock::now();
      Diagnostics cdiags;
      codegen::CompiledNode compiled = codegen::compileNode(program, changed, options_.compile, cdiags);
      r.compileMs = msSince(t);
      if (cdiags.hasErrors() || compiled.object.empty())
        return fail("code generation failed:\n" + cdiags.render(false));
      if (options_.alterObject) options_.alterObject(compiled.object);
      t = Clock::now();
      loaded = std::make_unique<runtime::LoadedNode>();
      if (maps_) loaded->inheritSyncState(*maps_);
      if (options_.snatPorts) loaded->setSnatPorts(options_.snatPorts->first, options_.snatPorts->second);
      if (options_.masquerade) {
        refreshUplinks();
        loaded->setUplinkIfindex(uplinkIfindexes_.empty() ? 0 : uint32_t(uplinkIfindexes_.front()));
      }
      // load() verifies every program and brings the shared maps up to date
      // (the whole node's addresses and services); nothing is attached yet.
      if (!loaded->load(compiled, node, pinDir(), error)) return fail(error);
      r.loadMs = msSince(t);
      programs = compiled.programs;
    } else {
      // Only the uplink program went away: nothing to compile.
      t = Clock::now();
      if (!maps_->syncIpcache(node, error) || !maps_->syncServices(node, error) || !maps_->syncConfig(node, error))
        return fail("cannot update the maps: " + error);
      r.syncMs = msSince(t);
    }
    // The new programs' fds outlive their object (which closes when the next
    // one replaces it): a pod that comes back on a new interface needs them.
    std::map<std::string, EndpointCode> fresh;
    int uplinkFd = -1;
    for (const codegen::ProgramInfo& info : programs) {
      int fd = loaded->programFd(info.name);
      if (info.endpoint.empty()) {
        uplinkFd = fd;
        continue;
      }
      EndpointCode& c = fresh[info.endpoint];
      c.key = keys[info.endpoint];
      (info.direction == ir::Direction::Egress ? c.fromFd : c.toFd) = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    }
    for (auto& [key, c] : fresh) {
      if (auto old = code_.find(key); old != code_.end()) old->second.close();
      code_[key] = c;
      recompiled.insert(key);
    }
    t = Clock::now();
    node_ = node;
    program_ = std::move(program);
    ++generation_;
    // The pods' new programs first (each hook replaced atomically, to-pod
    // before from-pod); then the uplink's.
    attachEndpoints(&recompiled);
    if (uplinkChanged) swapUplink(uplinkFd);
    uplinkKey_ = uplinkKey;
    if (loaded) maps_ = std::move(loaded);
    r.swapMs = msSince(t);
    r.result = "swapped";
  }
  node_ = std::move(node);
  if (r.result != "swapped") attachEndpoints(nullptr);  // interfaces that appeared or were replaced
  detachGone(node_);
  r.sinceChangeMs = msSince(firstChange);
  r.totalMs = msSince(start);
  if (r.result != "unchanged")
    log(fmt::format("reconcile {}: {} (generation {}, {} of {} endpoints recompiled{}, {} not placed) in {:.1f} ms: "
                    "lower {:.1f}, compile {:.1f}, load {:.1f}, attach {:.1f}",
                    r.number, r.result, generation_, recompiled.size(), node_.endpoints.size(),
                    uplinkChanged && !uplinkKey_.empty() ? ", uplink" : "", unplaced_.size(), r.totalMs, r.lowerMs, r.compileMs, r.loadMs,
                    r.swapMs));
  publish(r);
  if (!straysChecked_) {
    straysChecked_ = true;
    detachStrays();
  }
}

void NodeAgent::EndpointCode::close() {
  if (fromFd >= 0) ::close(fromFd);
  if (toFd >= 0) ::close(toFd);
  fromFd = toFd = -1;
}

void NodeAgent::swapUplink(int uplinkFd) {
  refreshUplinks();
  for (int ifindex : uplinkIfindexes_) {
    std::string e;
    if (uplinkFd >= 0) {
      if (attachHook(ifindex, runtime::TcHook::Ingress, uplinkFd, !uplinkAttached_.count(ifindex), e))
        uplinkAttached_.insert(ifindex);
      else
        log("uplink: " + e);
    } else if (detachHook(ifindex, runtime::TcHook::Ingress, e)) {
      // No NodePort or external address any more (or a restart finding an old program).
      uplinkAttached_.erase(ifindex);
    }
  }
}

void NodeAgent::refreshUplinks() {
  uplinkIfindexes_.clear();
  uplinkNames_.clear();
  std::set<std::string> names(options_.uplinks.begin(), options_.uplinks.end());
  if (names.empty()) {
    // The interfaces that hold one of the node's addresses.
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) == 0) {
      for (ifaddrs* a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
        uint32_t be = reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr;
        for (const IpAddr& ip : node_.nodeIPs)
          if (ip.isV4() && htonl(ip.v4HostOrder()) == be) names.insert(a->ifa_name);
      }
      freeifaddrs(list);
    }
  }
  for (const std::string& name : names) {
    unsigned idx = if_nametoindex(name.c_str());
    if (idx == 0) {
      log(fmt::format("uplink {}: no such interface", name));
      continue;
    }
    uplinkIfindexes_.push_back(int(idx));
    uplinkNames_.push_back(name);
  }
}

void NodeAgent::attachEndpoints(const std::set<std::string>* force) {
  refreshUplinks();
  std::set<int> uplinks(uplinkIfindexes_.begin(), uplinkIfindexes_.end());
  for (const ir::Endpoint& ep : node_.endpoints) {
    const std::string key = ep.key();
    const IpAddr* v4 = nullptr;
    for (const IpAddr& ip : ep.ips)
      if (ip.isV4()) v4 = &ip;
    if (!v4) {
      unplaced_[key] = "no IPv4 address";
      continue;
    }
    std::string error;
    auto hop = runtime::routeTo(*v4, error);
    if (!hop) {
      unplaced_[key] = error;
      continue;
    }
    if (hop->viaGateway || hop->local || uplinks.count(hop->ifindex)) {
      // Not (yet) a pod interface: the route still leads elsewhere.
      unplaced_[key] = fmt::format("the route to {} goes through {}{}, not a pod interface", v4->str(), hop->ifname,
                                   hop->viaGateway ? " via a gateway" : "");
      continue;
    }
    auto old = placed_.find(key);
    bool fresh = force && force->count(key);
    // Same programs, same interface: nothing to do.
    if (!fresh && old != placed_.end() && old->second.ifindex == hop->ifindex) continue;
    auto code = code_.find(key);
    if (code == code_.end() || code->second.fromFd < 0 || code->second.toFd < 0) {
      unplaced_[key] = "no program compiled for it";
      continue;
    }
    // Ingress policy first: a pod that becomes isolated is protected before
    // its own egress program changes.
    bool firstHere = old == placed_.end() || old->second.ifindex != hop->ifindex;
    if (!attachHook(hop->ifindex, runtime::TcHook::Egress, code->second.toFd, firstHere, error) ||
        !attachHook(hop->ifindex, runtime::TcHook::Ingress, code->second.fromFd, firstHere, error)) {
      unplaced_[key] = error;
      log(fmt::format("{}: {}", key, error));
      continue;
    }
    if (old != placed_.end() && old->second.ifindex != hop->ifindex) {
      // The pod came back on a new interface; the old one is most likely gone.
      std::string ignored;
      detachHook(old->second.ifindex, runtime::TcHook::Egress, ignored);
      detachHook(old->second.ifindex, runtime::TcHook::Ingress, ignored);
    }
    placed_[key] = Placement{hop->ifindex, hop->ifname};
    unplaced_.erase(key);
  }
}

void NodeAgent::detachGone(const ir::NodeProgram& next) {
  for (auto it = placed_.begin(); it != placed_.end();) {
    if (next.findEndpoint(it->first)) {
      ++it;
      continue;
    }
    std::string e1, e2;
    // The interface usually went away with the pod (a tcx link then is
    // defunct, and its pin goes here too).
    detachHook(it->second.ifindex, runtime::TcHook::Ingress, e1);
    detachHook(it->second.ifindex, runtime::TcHook::Egress, e2);
    log(fmt::format("{}: gone, detached from {}", it->first, it->second.ifname));
    it = placed_.erase(it);
  }
  for (auto it = code_.begin(); it != code_.end();) {
    if (next.findEndpoint(it->first)) {
      ++it;
    } else {
      it->second.close();
      it = code_.erase(it);
    }
  }
  for (auto it = unplaced_.begin(); it != unplaced_.end();)
    it = next.findEndpoint(it->first) ? std::next(it) : unplaced_.erase(it);
}

void NodeAgent::detachStrays() {
  // After a restart: sluice programs on interfaces that no current pod (or
  // uplink) owns belong to pods deleted while the agent was away.
  std::set<int> owned(uplinkAttached_.begin(), uplinkAttached_.end());
  for (const auto& [key, p] : placed_) owned.insert(p.ifindex);
  for (int u : uplinkIfindexes_) owned.insert(u);
  struct if_nameindex* list = if_nameindex();
  if (!list) return;
  for (struct if_nameindex* i = list; i->if_index; ++i) {
    int ifindex = int(i->if_index);
    if (owned.count(ifindex)) continue;
    for (runtime::TcHook hook : {runtime::TcHook::Ingress, runtime::TcHook::Egress}) {
      std::string e;
      if (runtime::attachedTcProgramId(ifindex, hook, e) > 0 && runtime::detachTc(ifindex, hook, e))
        log(fmt::format("detached a program left on tc {} of {} (no pod of this node owns it)",
                        runtime::toString(hook), i->if_name));
    }
  }
  if_freenameindex(list);
  // tcx links pinned for interfaces that are gone or no longer ours.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(pinDir() + "/links", ec)) {
    int ifindex = runtime::pinnedTcxIfindex(entry.path().string());
    if (ifindex > 0 && owned.count(ifindex)) continue;
    std::string e;
    if (runtime::detachTcx(entry.path().string(), e))
      log(fmt::format("detached the tcx link {} (no pod of this node owns its interface)", entry.path().string()));
  }
}

std::string NodeAgent::linkPin(int ifindex, runtime::TcHook hook) const {
  return fmt::format("{}/links/{}_{}", pinDir(), ifindex, runtime::toString(hook));  // bpffs refuses dots
}

bool NodeAgent::attachHook(int ifindex, runtime::TcHook hook, int progFd, bool firstHere, std::string& error) {
  if (!useTcx_) {
    if (!runtime::attachTc(ifindex, hook, progFd, error)) return false;
    std::string ignored;
    if (firstHere) runtime::detachTcx(linkPin(ifindex, hook), ignored);  // left by a tcx agent before
    return true;
  }
  if (!runtime::attachTcx(ifindex, hook, progFd, linkPin(ifindex, hook), error)) return false;
  // A classic tc filter left by an agent that ran without tcx (tcx runs
  // first and decides, so removing it after the link is in place leaves no gap).
  std::string ignored;
  if (firstHere) runtime::detachTc(ifindex, hook, ignored);
  return true;
}

bool NodeAgent::detachHook(int ifindex, runtime::TcHook hook, std::string& error) {
  bool ok = runtime::detachTcx(linkPin(ifindex, hook), error);
  char name[IF_NAMESIZE];
  if (if_indextoname(unsigned(ifindex), name)) ok &= runtime::detachTc(ifindex, hook, error);
  return ok;
}

void NodeAgent::publish(const ReconcileReport& report) {
  std::lock_guard<std::mutex> lock(statusMu_);
  completed_.fetch_add(1);
  AgentStatus& s = status_;
  s.last = report;
  ++s.reconciles;
  s.attachmentsApplied = attachmentsLowered_;
  s.localPods = localPods_;
  s.podCIDRs = podCIDRs_;
  if (report.result == "failed") {
    ++s.failures;
    s.lastFailure = report;
  } else if (report.result == "swapped") {
    ++s.swaps;
    s.lastSwap = report;
    s.compileMsTotal += report.compileMs;
    s.swapMsTotal += report.swapMs;
  } else if (report.result == "maps-updated") {
    ++s.mapUpdates;
  }
  refreshStatusLocked();
  statusChanged_.notify_all();
}

void NodeAgent::refreshStatusLocked() {
  AgentStatus& s = status_;
  s.generation = generation_;
  s.enforcing = maps_ != nullptr;
  s.endpoints.clear();
  {
    for (const ir::Endpoint& ep : node_.endpoints) {
      EndpointStatus e;
      e.pod = ep.key();
      if (!ep.ips.empty()) e.ip = ep.ips.front().str();
      if (auto p = placed_.find(e.pod); p != placed_.end()) {
        e.interface = p->second.ifname;
        e.attached = true;
      }
      if (auto u = unplaced_.find(e.pod); u != unplaced_.end()) {
        e.attached = false;
        e.problem = u->second;
      }
      s.endpoints.push_back(e);
    }
  }
  s.uplinks = uplinkNames_;
  s.uplinkProgram.clear();
  for (int idx : uplinkAttached_) {
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(unsigned(idx), name)) s.uplinkProgram += (s.uplinkProgram.empty() ? "" : ",") + std::string(name);
  }
}

}  // namespace sluice::agent
