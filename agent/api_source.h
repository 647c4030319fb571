// `sluice agent --kubeconfig FILE`: the cluster state from the Kubernetes API
// (agent/kube: list, then watch, every resource sluice reads). Each object is
// a unit of the agent's StateFragments, parsed by the same frontend as a
// manifest file and re-parsed only when the API server changed it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "agent/state_fragments.h"

namespace sluice::kube {
class ClusterWatch;
}

namespace sluice::agent {

class ApiSource {
 public:
  // `wakeFd`: an eventfd written whenever the API server changed something.
  ApiSource(std::string kubeconfig, int wakeFd, std::function<void(const std::string&)> log);
  ~ApiSource();
  bool start(std::string& error);
  void stop();
  // Every resource listed at least once: before that the state is partial
  // and must not be enforced (a pod without its policies is a hole).
  bool synced() const;
  // Brings `fragments` up to date with the objects now known; returns how many changed.
  int update(StateFragments& fragments);

 private:
  std::string kubeconfig_;
  int wakeFd_;
  std::function<void(const std::string&)> log_;
  std::unique_ptr<kube::ClusterWatch> watch_;
  std::map<std::string, std::shared_ptr<const std::string>> applied_;  // what the fragments hold
};

}  // namespace sluice::agent
