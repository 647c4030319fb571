// The agent's tiers (docs/agent.md, "Tiered enforcement"): the first tier
// loaded once, and the specialized programs compiled in the background for
// whatever the tier enforces, installed when ready if still wanted.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <fmt/format.h>

#include "agent/node_agent.h"
#include "agent/specialization.h"
#include "runtime/first_tier.h"
#include "runtime/loader.h"
#include "runtime/node_network.h"
#include "runtime/tc_attach.h"

namespace sluice::agent {

namespace {
double msSince(NodeAgent::Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(NodeAgent::Clock::now() - t).count();
}
}  // namespace

void NodeAgent::Specialization::run() {
  auto t = Clock::now();
  Diagnostics diags;
  codegen::CompiledNode compiled = codegen::compileNode(*program, changed, options, diags);
  compileMs = msSince(t);
  if (diags.hasErrors() || compiled.object.empty()) {
    error = "code generation failed:\n" + diags.render(false);
    return;
  }
  if (alterObject) alterObject(compiled.object);
  t = Clock::now();
  // Verified against the node's pinned maps, which the tier keeps in step.
  loaded = std::make_unique<runtime::LoadedNode>();
  if (!loaded->loadPrograms(compiled, changed.node, pinDir, error)) loaded.reset();
  loadMs = msSince(t);
  programs = std::move(compiled.programs);
}

bool NodeAgent::loadFirstTier(const ir::NodeProgram& node, std::string& error) {
  auto tier = std::make_unique<runtime::FirstTier>();
  auto configure = [&](runtime::LoadedNode& maps) {
    if (options_.cni && options_.routing == AgentOptions::Routing::Vxlan) maps.setVxlanPort(runtime::kVxlanPort);
    if (options_.snatPorts) maps.setSnatPorts(options_.snatPorts->first, options_.snatPorts->second);
    if (options_.masquerade) {
      refreshUplinks(node.nodeIPs);
      maps.setUplinkIfindex(uplinkIfindexes_.empty() ? 0 : uint32_t(uplinkIfindexes_.front()));
    }
  };
  if (!tier->load(*tierObject_, node, pinDir(), configure, error)) {
    error = "cannot load the first tier: " + error;
    return false;
  }
  tier_ = std::move(tier);
  return true;
}

std::unique_ptr<NodeAgent::Specialization> NodeAgent::specializationFor(Clock::time_point firstChange,
                                                                        bool retryFailed) {
  bool stale = !uplinkWanted_.empty() && !(uplinkFd_ >= 0 && uplinkKey_ == uplinkWanted_);
  for (const ir::Endpoint& ep : node_.endpoints) stale |= !codeIsCurrent(ep.key());
  if (!stale) return nullptr;
  auto job = std::make_unique<Specialization>();
  job->changed = node_;
  job->changed.endpoints.clear();
  for (const ir::Endpoint& ep : node_.endpoints) {
    const std::string& key = keys_[ep.key()];
    if (codeIsCurrent(ep.key())) continue;
    if (!retryFailed) {
      auto failed = failedKeys_.find(ep.key());
      if (failed != failedKeys_.end() && failed->second == key) continue;
    }
    job->changed.endpoints.push_back(ep);
    job->keys[ep.key()] = key;
  }
  job->uplink = !uplinkWanted_.empty() && !(uplinkFd_ >= 0 && uplinkKey_ == uplinkWanted_) &&
                (retryFailed || failedUplinkKey_ != uplinkWanted_);
  job->uplinkKey = uplinkWanted_;
  // Without its uplink program, the object needs no service frontends.
  if (!job->uplink) job->changed.services.clear();
  if (job->changed.endpoints.empty() && !job->uplink) return nullptr;
  job->program = program_;
  job->options = options_.compile;
  job->alterObject = options_.alterObject;
  job->pinDir = pinDir();
  job->firstChange = firstChange;
  return job;
}

void NodeAgent::startSpecialization() {
  if (!options_.firstTier || job_ || stopping_) return;
  if (options_.holdSpecialization && options_.holdSpecialization()) return;
  job_ = specializationFor(Clock::now(), false);
  if (!job_) {
    std::lock_guard<std::mutex> lock(statusMu_);
    refreshStatusLocked();
    return;
  }
  log(fmt::format("compiling specialized programs for {} endpoint(s){} in the background", job_->keys.size(),
                  job_->uplink ? " and the uplink" : ""));
  jobThread_ = std::thread([job = job_.get(), fd = jobFd_] {
    job->run();
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
  });
}

void NodeAgent::finishSpecialization() {
  uint64_t v;
  [[maybe_unused]] ssize_t n = ::read(jobFd_, &v, sizeof v);
  if (!job_) return;
  jobThread_.join();
  std::unique_ptr<Specialization> job = std::move(job_);
  ReconcileReport r;
  r.number = reconciles_;
  r.compileMs = job->compileMs;
  r.loadMs = job->loadMs;
  auto start = Clock::now();
  if (!job->error.empty()) {
    // Not retried as they are: the tier keeps enforcing them.
    for (const auto& [key, codeKey] : job->keys) failedKeys_[key] = codeKey;
    if (job->uplink) failedUplinkKey_ = job->uplinkKey;
    r.result = "failed";
    r.error = job->error;
    log(fmt::format("specialized programs for {} endpoint(s) failed; the first tier keeps enforcing them: {}",
                    job->keys.size(), job->error));
  } else {
    bool moved = installSpecialization(*job);
    if (moved) ++generation_;  // an endpoint that had nothing attached
    r.result = "swapped";
    r.swapMs = msSince(start);
    r.sinceChangeMs = msSince(job->firstChange);
    r.totalMs = r.compileMs + r.loadMs + r.swapMs;
    log(fmt::format("specialized programs in force for {} endpoint(s){}: compile {:.1f}, load {:.1f}, attach {:.1f} ms",
                    job->keys.size(), job->uplink ? " and the uplink" : "", r.compileMs, r.loadMs, r.swapMs));
  }
  publishSpecialization(r);
  tier_->collect();
  startSpecialization();  // what changed while it compiled
}

bool NodeAgent::installSpecialization(Specialization& job) {
  int uplinkFd = -1;
  std::map<std::string, EndpointCode> fresh;
  for (const codegen::ProgramInfo& info : job.programs) {
    int fd = job.loaded->programFd(info.name);
    if (fd < 0) continue;
    if (info.endpoint.empty()) {
      uplinkFd = fd;
      continue;
    }
    auto compiledFor = job.keys.find(info.endpoint);
    auto wanted = keys_.find(info.endpoint);
    // The state moved on for this endpoint: the next job compiles it anew.
    if (compiledFor == job.keys.end() || wanted == keys_.end() || wanted->second != compiledFor->second) continue;
    EndpointCode& c = fresh[info.endpoint];
    c.key = compiledFor->second;
    // Our own descriptors: they outlive the object, which the next one replaces.
    (info.direction == ir::Direction::Egress ? c.fromFd : c.toFd) = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  }
  for (auto& [key, c] : fresh) {
    if (c.fromFd < 0 || c.toFd < 0) {
      c.close();
      continue;
    }
    c.serial = nextSerial_++;
    if (auto old = code_.find(key); old != code_.end()) old->second.close();
    code_[key] = c;
    failedKeys_.erase(key);
  }
  if (job.uplink && uplinkFd >= 0 && job.uplinkKey == uplinkWanted_) {
    if (uplinkFd_ >= 0) ::close(uplinkFd_);
    uplinkFd_ = ::fcntl(uplinkFd, F_DUPFD_CLOEXEC, 0);
    uplinkKey_ = job.uplinkKey;
    uplinkSerial_ = nextSerial_++;
    failedUplinkKey_.clear();
  }
  // The object goes with the job: the programs live on through the
  // descriptors taken above and the hooks they are attached to.
  bool moved = attachEndpoints();
  moved |= syncUplink();
  return moved;
}

void NodeAgent::preAttachFirstTier(int ifindex, const std::string& ifname) {
  if (ifindex <= 0 || !tier_) return;  // tier_: set before the first reconcile was published
  {
    std::lock_guard<std::mutex> lock(attachMu_);
    preAttached_[ifindex] = PreAttach{ifname};
  }
  std::string error;
  // Ingress policy first, as everywhere. Until the loop writes the pod's
  // entry, the tier's programs drop whatever they see on this interface.
  // Classic tc filters even where the agent uses tcx: a tcx attach waits
  // for an RCU grace period under RTNL (~12 ms per hook here, against
  // ~0.1 ms for a filter); the pod's own programs move it to tcx later.
  bool ok = runtime::attachTc(ifindex, runtime::TcHook::Egress, tier_->toPodFd(), error) &&
            runtime::attachTc(ifindex, runtime::TcHook::Ingress, tier_->fromPodFd(), error);
  if (!ok) log(fmt::format("cni: cannot put the first tier on {} ahead (the loop will attach): {}", ifname, error));
  {
    std::lock_guard<std::mutex> lock(attachMu_);
    auto it = preAttached_.find(ifindex);
    if (it != preAttached_.end() && it->second.ifname == ifname) it->second.done = true, it->second.ok = ok;
  }
  preAttachDone_.notify_all();
}

bool NodeAgent::takePreAttached(int ifindex, const std::string& ifname) {
  std::unique_lock<std::mutex> lock(attachMu_);
  if (!preAttached_.count(ifindex)) return false;
  preAttachDone_.wait_for(lock, std::chrono::seconds(5), [&] {
    auto it = preAttached_.find(ifindex);
    return it == preAttached_.end() || it->second.done;
  });
  auto it = preAttached_.find(ifindex);
  if (it == preAttached_.end()) return false;
  bool ok = it->second.done && it->second.ok && it->second.ifname == ifname;
  preAttached_.erase(it);
  return ok;
}

}  // namespace sluice::agent
