#include "agent/api_source.h"

#include <unistd.h>

#include <fmt/format.h>

#include "agent/kube/kube_watch.h"

namespace sluice::agent {

ApiSource::ApiSource(std::string kubeconfig, int wakeFd, std::function<void(const std::string&)> log)
    : kubeconfig_(std::move(kubeconfig)), wakeFd_(wakeFd), log_(std::move(log)) {}

ApiSource::~ApiSource() { stop(); }

bool ApiSource::start(std::string& error) {
  // No kubeconfig: in a pod (the DaemonSet), with its service account.
  auto config = kubeconfig_.empty() ? kube::KubeConfig::inCluster(error) : kube::KubeConfig::load(kubeconfig_, error);
  if (!config) return false;
  kube::ClusterWatch::Options options;
  options.log = log_;
  watch_ = std::make_unique<kube::ClusterWatch>(std::move(*config), options);
  try {
    watch_->start([fd = wakeFd_] {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
    });
  } catch (const std::exception& e) {  // TLS material OpenSSL cannot read, and the like
    error = fmt::format("{}: {}", kubeconfig_.empty() ? "in-cluster configuration" : kubeconfig_, e.what());
    watch_.reset();
    return false;
  }
  return true;
}

void ApiSource::stop() {
  if (watch_) watch_->stop();
}

bool ApiSource::synced() const { return watch_ && watch_->synced(); }

int ApiSource::update(StateFragments& fragments) {
  auto snapshot = watch_->snapshot();
  int changed = 0;
  for (const auto& [key, text] : snapshot) {
    auto it = applied_.find(key);
    if (it != applied_.end() && it->second == text) continue;  // the same object version
    fragments.update("api:" + key, *text);
    applied_[key] = text;
    ++changed;
  }
  for (auto it = applied_.begin(); it != applied_.end();) {
    if (!snapshot.count(it->first)) {
      fragments.remove("api:" + it->first);
      it = applied_.erase(it);
      ++changed;
    } else {
      ++it;
    }
  }
  return changed;
}

}  // namespace sluice::agent
