// Address management for the pods sluice-cni attaches on this node: one
// address per attachment (container ID, interface name) from the node's
// spec.podCIDR(s), persisted in a state file so that a restarted agent knows
// what is taken, released on DEL, reconciled by GC. The agent owns it (not a
// delegated host-local plugin): it already knows the Node object and its
// podCIDR, and the same records tell it which pod holds which address before
// kubelet publishes status.podIP (docs/cni.md, "Addresses").
//
// Not thread-safe: the agent calls it under its CNI lock.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/net.h"

namespace sluice::agent {

struct Allocation {
  std::string containerID;
  std::string ifname;
  IpAddr address;
  std::string podNamespace;  // "" for a container without pod arguments (ctr run --cni)
  std::string podName;
  std::string netns;       // as the ADD gave it (CHECK needs it)
  std::string hostIfname;  // the host end of its veth
  // Written before the interface is made; true once its programs were
  // attached and ADD answered. A restarted agent rolls back what is not.
  bool ready = false;
  std::string podKey() const { return podNamespace.empty() ? "" : podNamespace + "/" + podName; }
};

class Ipam {
 public:
  // `stateFile`: where allocations persist ("" keeps them in memory: tests).
  explicit Ipam(std::string stateFile) : stateFile_(std::move(stateFile)) {}

  // Reads the state file (a missing file is an empty state).
  bool load(std::string& error);

  // The node's pod CIDRs (IPv4 ones are used). Allocations outside them stay
  // until released: a changed podCIDR does not renumber running pods.
  void setPools(const std::vector<Cidr>& pools) { pools_ = pools; }
  const std::vector<Cidr>& pools() const { return pools_; }

  // A free address for `a` (its address field is filled in), recorded and
  // persisted with ready = false. Neither a pool's network address (the
  // VXLAN tunnel endpoint's) nor its broadcast address is handed out; after
  // the last address handed out comes the next one, so a released address
  // is not reused at once. Empty with `error` when there are no pools, no
  // free address, or the state cannot be written.
  std::optional<IpAddr> allocate(Allocation a, std::string& error);
  bool markReady(const std::string& containerID, const std::string& ifname, std::string& error);
  // Forgets the attachment; absent is success.
  bool release(const std::string& containerID, const std::string& ifname, std::string& error);

  const Allocation* find(const std::string& containerID, const std::string& ifname) const;
  const std::vector<Allocation>& all() const { return allocations_; }

 private:
  bool save(std::string& error) const;

  std::string stateFile_;
  std::vector<Cidr> pools_;
  std::vector<Allocation> allocations_;
  std::optional<IpAddr> last_;  // the address handed out last
};

}  // namespace sluice::agent
