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
#include "agent/specialization.h"
#include "runtime/first_tier.h"
#include "runtime/loader.h"
#include "runtime/route_lookup.h"
#include "runtime/tc_attach.h"
#include "runtime/tcx_attach.h"

namespace sluice::agent {

using Clock = std::chrono::steady_clock;

namespace {
constexpr std::chrono::milliseconds kCniSettle{1};

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
  if (jobThread_.joinable()) jobThread_.join();
  for (auto& [key, c] : code_) c.close();
  if (uplinkFd_ >= 0) ::close(uplinkFd_);
  if (wakeFd_ >= 0) ::close(wakeFd_);
  if (jobFd_ >= 0) ::close(jobFd_);
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
  jobFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0 || jobFd_ < 0) {
    error = fmt::format("eventfd: {}", std::strerror(errno));
    return false;
  }
  {
    // The first tier's programs serve every node and state: compiled once.
    Diagnostics diags;
    tierObject_ = std::make_unique<codegen::CompiledNode>(codegen::compileTierPrograms(options_.compile, diags));
    if (diags.hasErrors() || tierObject_->object.empty()) {
      error = "cannot compile the first tier's programs:\n" + diags.render(false);
      return false;
    }
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
  bool cniChange = false;  // the burst holds a CNI attachment (an ADD waits for it)
  auto settleOf = [&] {
    return cniChange && options_.firstTier ? std::min<std::chrono::milliseconds>(options_.settle, kCniSettle)
                                           : options_.settle;
  };
  while (!stopping_) {
    int timeoutMs = -1;
    auto now = Clock::now();
    if (dirty) {
      auto settleAt = lastChange + settleOf(), latest = firstChange + options_.maxDelay;
      auto at = std::min(settleAt, latest);
      timeoutMs = at <= now ? 0 : int(std::chrono::ceil<std::chrono::milliseconds>(at - now).count());
    } else if (tier_) {
      timeoutMs = int(options_.retry.count());
    }
    pollfd fds[3] = {{wakeFd_, POLLIN, 0}, {dir_ ? dir_->fd() : -1, POLLIN, 0}, {jobFd_, POLLIN, 0}};
    int n = ::poll(fds, 3, timeoutMs);
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
      if (cniWake_.exchange(false) && completed_ > 0) changed = cniChange = true;
    }
    if (dir_ && (fds[1].revents & POLLIN)) changed |= dir_->drain();
    if (fds[2].revents & POLLIN) finishSpecialization();
    now = Clock::now();
    if (changed) {
      if (!dirty) firstChange = now;
      dirty = true;
      lastChange = now;
    }
    // A pod's ADD waits for this reconcile: a short settle (a burst of ADDs
    // still shares reconciles, each cheap with the first tier).
    if (dirty && (now - lastChange >= settleOf() || now - firstChange >= options_.maxDelay)) {
      dirty = false;
      cniChange = false;
      reconcile(firstChange);
      lastRetry = Clock::now();
    } else if (!dirty && tier_ && now - lastRetry >= options_.retry) {
      // Pods whose interface appeared, or came back as a new one, since.
      attachEndpoints();
      tier_->collect();
      startSpecialization();  // held back by a test, or what a failed one left
      lastRetry = Clock::now();
      std::lock_guard<std::mutex> lock(statusMu_);
      refreshStatusLocked();
      statusChanged_.notify_all();
    }
  }
  if (jobThread_.joinable()) jobThread_.join();
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

  // The maps first (every program reads them, whichever tier it is): the
  // tier's LoadedNode owns them.
  std::string error;
  t = Clock::now();
  if (!tier_) {
    if (!loadFirstTier(node, error)) return fail(error);
  } else if (!tier_->maps().syncIpcache(node, error) || !tier_->maps().syncServices(node, error) ||
             !tier_->maps().syncConfig(node, error)) {
    return fail("cannot update the maps: " + error);
  }
  r.syncMs = msSince(t);
  bool mapsMoved = !sameMaps(node_, node);

  // Each endpoint's code inputs; those whose own programs do not enforce them
  // get first-tier tables now.
  std::map<std::string, std::string> keys;
  for (const ir::Endpoint& ep : node.endpoints) keys[ep.key()] = codegen::endpointCodeInputs(program, ep);
  size_t stale = 0;
  t = Clock::now();
  for (const ir::Endpoint& ep : node.endpoints) {
    auto have = code_.find(ep.key());
    if (have != code_.end() && have->second.key == keys[ep.key()]) continue;
    ++stale;
    if (options_.firstTier && !tier_->prepare(program, ep, keys[ep.key()], error))
      return fail(fmt::format("{}: {}", ep.key(), error));
  }
  r.tierMs = msSince(t);

  t = Clock::now();
  program_ = std::make_shared<const ir::Program>(std::move(program));
  node_ = std::move(node);
  keys_ = std::move(keys);
  uplinkWanted_ = codegen::uplinkCodeInputs(node_);
  // Ingress before egress on each interface, pods before the uplink.
  bool moved = attachEndpoints();
  moved |= syncUplink();
  detachGone(node_);
  r.swapMs = msSince(t);
  bool specialized = false;
  if (!options_.firstTier) {
    // Without the tier, the reconcile waits for the new programs.
    if (auto job = specializationFor(firstChange, true)) {
      job->run();
      r.compileMs = job->compileMs;
      r.loadMs = job->loadMs;
      if (!job->error.empty()) return fail(job->error);
      t = Clock::now();
      moved |= installSpecialization(*job);
      r.swapMs += msSince(t);
      specialized = true;
    }
  }
  if (moved || generation_ == 0) ++generation_;
  r.result = specialized && moved ? "swapped" : moved ? "tiered" : mapsMoved ? "maps-updated" : "unchanged";
  r.sinceChangeMs = msSince(firstChange);
  r.totalMs = msSince(start);
  if (r.result != "unchanged")
    log(fmt::format("reconcile {}: {} (generation {}, {} of {} endpoints with new code{}, {} not placed) in {:.1f} ms: "
                    "lower {:.1f}, maps {:.1f}, tier {:.1f}, compile {:.1f}, load {:.1f}, attach {:.1f}",
                    r.number, r.result, generation_, stale, node_.endpoints.size(),
                    uplinkWanted_ != uplinkKey_ ? ", uplink" : "", unplaced_.size(), r.totalMs, r.lowerMs, r.syncMs,
                    r.tierMs, r.compileMs, r.loadMs, r.swapMs));
  publish(r);
  if (!straysChecked_) {
    straysChecked_ = true;
    detachStrays();
  }
  tier_->collect();
  startSpecialization();
}

void NodeAgent::EndpointCode::close() {
  if (fromFd >= 0) ::close(fromFd);
  if (toFd >= 0) ::close(toFd);
  fromFd = toFd = -1;
}

void NodeAgent::swapUplink(int uplinkFd) {
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

void NodeAgent::refreshUplinks(const std::vector<IpAddr>& nodeIPs) {
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
        for (const IpAddr& ip : nodeIPs)
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

bool NodeAgent::syncUplink() {
  // Its own program when compiled for the state in force, else the tier's,
  // else (without the tier) the older one until the new one is ready.
  int fd = -1;
  uint64_t serial = 0;
  std::string enforces;
  if (uplinkWanted_.empty()) {
    // Nothing for it to do (no NodePort, external address or masquerade).
  } else if (uplinkFd_ >= 0 && uplinkKey_ == uplinkWanted_) {
    fd = uplinkFd_, serial = uplinkSerial_, enforces = uplinkKey_;
  } else if (options_.firstTier) {
    fd = tier_->uplinkFd(), serial = kTierSerial, enforces = uplinkWanted_;
  } else if (uplinkFd_ >= 0) {
    fd = uplinkFd_, serial = uplinkSerial_, enforces = uplinkKey_;
  } else {
    return false;  // being compiled
  }
  bool missing = false;
  for (int ifindex : uplinkIfindexes_) missing |= fd >= 0 && !uplinkAttached_.count(ifindex);
  if (!uplinkSynced_ || serial != uplinkAttachedSerial_ || missing) {
    swapUplink(fd);
    uplinkAttachedSerial_ = serial;
    uplinkSynced_ = true;
  }
  bool moved = enforces != uplinkEnforced_;
  uplinkEnforced_ = enforces;
  return moved;
}

bool NodeAgent::codeIsCurrent(const std::string& endpoint) const {
  auto code = code_.find(endpoint);
  auto key = keys_.find(endpoint);
  return code != code_.end() && key != keys_.end() && code->second.key == key->second && code->second.fromFd >= 0 &&
         code->second.toFd >= 0;
}

bool NodeAgent::attachEndpoints() {
  refreshUplinks(node_.nodeIPs);
  std::set<int> uplinks(uplinkIfindexes_.begin(), uplinkIfindexes_.end());
  bool moved = false;
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
    // Which programs: its own when compiled for the state in force, else the
    // first tier's (its tables written first), else (without the tier) its
    // older own ones until the new ones are ready.
    const std::string& wanted = keys_[key];
    auto code = code_.find(key);
    bool own = code != code_.end() && code->second.fromFd >= 0 && code->second.toFd >= 0;
    int toFd = -1, fromFd = -1;
    uint64_t serial = 0;
    std::string enforces;
    if (own && code->second.key == wanted) {
      toFd = code->second.toFd, fromFd = code->second.fromFd, serial = code->second.serial, enforces = wanted;
    } else if (options_.firstTier) {
      if (!tier_->serves(key, wanted, hop->ifindex) &&
          (!tier_->prepare(*program_, ep, wanted, error) || !tier_->enter(key, hop->ifindex, error))) {
        unplaced_[key] = error;
        log(fmt::format("{}: {}", key, error));
        continue;
      }
      toFd = tier_->toPodFd(), fromFd = tier_->fromPodFd(), serial = kTierSerial, enforces = wanted;
    } else if (own) {
      toFd = code->second.toFd, fromFd = code->second.fromFd, serial = code->second.serial,
      enforces = code->second.key;
    } else {
      unplaced_[key] = "its programs are being compiled";
      continue;
    }
    auto old = placed_.find(key);
    bool sameInterface = old != placed_.end() && old->second.ifindex == hop->ifindex;
    // A new pod's interface that its ADD already gave the tier's programs.
    bool preAttached = !sameInterface && options_.cni && takePreAttached(hop->ifindex, hop->ifname) &&
                       serial == kTierSerial;
    bool classicTc = preAttached || !useTcx_ || (sameInterface && old->second.classicTc);
    if (!preAttached && (!sameInterface || old->second.serial != serial)) {
      // Ingress policy first: a pod that becomes isolated is protected before
      // its own egress program changes. Moving from an ADD's classic tc
      // filters to tcx links counts as a first attach: the filters go once
      // the links are in place.
      bool firstHere = !sameInterface || (useTcx_ && old->second.classicTc);
      if (!attachHook(hop->ifindex, runtime::TcHook::Egress, toFd, firstHere, error) ||
          !attachHook(hop->ifindex, runtime::TcHook::Ingress, fromFd, firstHere, error)) {
        unplaced_[key] = error;
        log(fmt::format("{}: {}", key, error));
        continue;
      }
      classicTc = !useTcx_;
    }
    if (old != placed_.end() && !sameInterface) {
      // The pod came back on a new interface; the old one is most likely gone.
      std::string ignored;
      detachHook(old->second.ifindex, runtime::TcHook::Egress, ignored);
      detachHook(old->second.ifindex, runtime::TcHook::Ingress, ignored);
    }
    // Off the tier: its tables go a grace period later.
    if (serial != kTierSerial && (old == placed_.end() || old->second.serial == kTierSerial)) tier_->leave(key);
    moved |= old == placed_.end() || old->second.enforced != enforces;
    placed_[key] = Placement{hop->ifindex, hop->ifname, serial, enforces, classicTc};
    unplaced_.erase(key);
  }
  return moved;
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
    tier_->leave(it->first);
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
  for (auto it = unplaced_.begin(); it != unplaced_.end();) {
    if (next.findEndpoint(it->first)) {
      ++it;
      continue;
    }
    tier_->leave(it->first);  // tables written for a pod that never got an interface
    it = unplaced_.erase(it);
  }
  for (auto it = failedKeys_.begin(); it != failedKeys_.end();)
    it = next.findEndpoint(it->first) ? std::next(it) : failedKeys_.erase(it);
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
  } else if (report.result == "tiered") {
    ++s.tiered;
  } else if (report.result == "maps-updated") {
    ++s.mapUpdates;
  }
  refreshStatusLocked();
  statusChanged_.notify_all();
}

void NodeAgent::publishSpecialization(const ReconcileReport& report) {
  std::lock_guard<std::mutex> lock(statusMu_);
  AgentStatus& s = status_;
  if (report.result == "failed") {
    ++s.specializationFailures;
    s.lastFailure = report;
  } else {
    ++s.specializations;
    s.lastSwap = report;
    s.compileMsTotal += report.compileMs;
    s.swapMsTotal += report.swapMs;
  }
  refreshStatusLocked();
  statusChanged_.notify_all();
}

void NodeAgent::refreshStatusLocked() {
  AgentStatus& s = status_;
  s.generation = generation_;
  s.enforcing = generation_ > 0;
  s.tierEntries = tier_ ? tier_->endpoints() : 0;
  s.endpoints.clear();
  bool specialized = !job_ && (uplinkWanted_.empty() || (uplinkKey_ == uplinkWanted_ && uplinkAttachedSerial_ == uplinkSerial_));
  for (const ir::Endpoint& ep : node_.endpoints) {
    EndpointStatus e;
    e.pod = ep.key();
    if (!ep.ips.empty()) e.ip = ep.ips.front().str();
    if (auto p = placed_.find(e.pod); p != placed_.end()) {
      e.interface = p->second.ifname;
      e.attached = true;
      e.program = p->second.serial == kTierSerial ? "first tier" : "specialized";
      specialized &= p->second.serial != kTierSerial && codeIsCurrent(e.pod);
    }
    if (auto u = unplaced_.find(e.pod); u != unplaced_.end()) {
      e.attached = false;
      e.program.clear();
      e.problem = u->second;
      specialized &= codeIsCurrent(e.pod);
    }
    s.endpoints.push_back(e);
  }
  s.specialized = specialized;
  s.uplinks = uplinkNames_;
  s.uplinkProgram.clear();
  for (int idx : uplinkAttached_) {
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(unsigned(idx), name)) s.uplinkProgram += (s.uplinkProgram.empty() ? "" : ",") + std::string(name);
  }
}

}  // namespace sluice::agent
