// Where the kernel would send a packet: the route to an address, looked up
// with RTM_GETROUTE in the calling thread's network namespace. The agent uses
// it to find a pod's host-side interface the way a CNI plugin leaves it: a
// direct route to the pod's address through the host end of its veth.
#pragma once

#include <optional>
#include <string>

#include "base/net.h"

namespace sluice::runtime {

struct RouteHop {
  int ifindex = 0;
  std::string ifname;
  bool viaGateway = false;  // the route goes through a next hop: not a local pod's interface
  bool local = false;       // the address is this namespace's own (RTN_LOCAL)
};

// nullopt with `error` set when there is no route (ENETUNREACH and the like
// say so in `error`) or netlink fails.
std::optional<RouteHop> routeTo(const IpAddr& dst, std::string& error);

}  // namespace sluice::runtime
