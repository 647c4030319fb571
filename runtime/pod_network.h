// A pod's interface, the way Calico and Cilium make it: a veth pair, no
// bridge, a /32 in the pod and a link-local gateway that the host end answers
// through a static neighbour entry (no proxy ARP).
//
//   pod netns                                  node netns (the caller's)
//   eth0  10.1.0.5/32  ─────── veth ───────  slc0123456789ab  (ee:ee:ee:ee:ee:ee, no address)
//   169.254.1.1 dev eth0 scope link           10.1.0.5 dev slc… scope link proto 227
//   default via 169.254.1.1 dev eth0 onlink   neigh 10.1.0.5 lladdr <eth0's MAC> permanent
//   neigh 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee permanent
//                                             net.ipv4.conf.slc….forwarding = 1
//
// Every host end has the same MAC, so the pod's gateway entry never goes
// stale. Neither side ever ARPs for the other.
//
// These functions work in the calling thread's network namespace (the
// node's) and enter the pod's namespace on a thread of their own
// (runtime/netns.h), so any thread of the agent or the CNI plugin can call
// them. The node's ip_forward is the caller's business (enableForwarding()
// in runtime/node_network.h, once at start).
#pragma once

#include <cstdint>
#include <string>

#include "base/net.h"

namespace sluice::runtime {

inline constexpr const char* kHostInterfacePrefix = "slc";
inline constexpr const char* kHostEndMac = "ee:ee:ee:ee:ee:ee";
inline IpAddr podGateway() { return IpAddr::v4(0xa9fe0101); }  // 169.254.1.1

// "slc" + 12 hex digits of the 64-bit FNV-1a hash of containerId + "/" +
// ifname: 15 characters, the kernel's limit. Stable across versions on
// purpose: a later agent must find the links an earlier one made.
std::string hostInterfaceName(const std::string& containerId, const std::string& ifname);

struct PodInterfaceSpec {
  std::string netns;       // the pod's network namespace: /proc/PID/ns/net, /var/run/netns/X
  std::string ifname;      // in the pod, e.g. "eth0" (CNI_IFNAME)
  std::string hostIfname;  // the host end, hostInterfaceName(...)
  IpAddr address;          // the pod's address (IPv4)
  uint32_t mtu = 0;        // both ends; 0 = the kernel's default (1500)
  IpAddr gateway = podGateway();
};

struct PodInterface {
  int hostIfindex = 0;  // in the node's namespace
  std::string hostMac;
  int podIfindex = 0;  // in the pod's namespace
  std::string podMac;
};

// Makes the pod's interface as drawn above. All or nothing: when any step
// fails, what was made is removed and `error` says which step and why (e.g.
// "interface eth0 already exists in the container"). A leftover host end of
// the same name (an earlier ADD of this container that died half-way) is
// replaced, as Calico does.
bool createPodInterface(const PodInterfaceSpec& spec, PodInterface& out, std::string& error);

// Deletes the host end, which takes the pod end, both namespaces' routes and
// neighbours with it. Idempotent: no such link is success.
bool deletePodInterface(const std::string& hostIfname, std::string& error);

// CNI CHECK: true when everything createPodInterface makes is still there;
// else `problem` names what is missing or wrong, "; "-separated ("the default
// route via 169.254.1.1 in the container is missing").
bool checkPodInterface(const PodInterfaceSpec& spec, std::string& problem);

// The MTU of the link that holds the default route (the uplink), or of the
// link named `ifname`; 0 with `error` set when there is none.
uint32_t defaultMtu(std::string& error);
uint32_t linkMtu(const std::string& ifname, std::string& error);

}  // namespace sluice::runtime
