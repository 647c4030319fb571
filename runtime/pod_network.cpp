#include "runtime/pod_network.h"

#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "runtime/netlink.h"
#include "runtime/netns.h"
#include "runtime/node_network.h"

namespace sluice::runtime {

namespace nl = netlink;

std::string hostInterfaceName(const std::string& containerId, const std::string& ifname) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, 64 bits
  auto mix = [&](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
  };
  mix(containerId);
  mix("/");
  mix(ifname);
  return fmt::format("{}{:012x}", kHostInterfacePrefix, h & 0xffffffffffffull);
}

namespace {

bool validName(const std::string& name) {
  return !name.empty() && name.size() < IFNAMSIZ && name.find_first_of("/ \t\n:") == std::string::npos &&
         name != "." && name != "..";
}

// The veth pair: the host end here, the peer created directly in the pod's
// namespace (IFLA_NET_NS_FD inside VETH_INFO_PEER), so it never appears in the
// node's namespace under the pod's name.
int createVeth(nl::Socket& s, const PodInterfaceSpec& spec, int podNetnsFd, std::string& error) {
  uint8_t mac[6];
  nl::parseMac(kHostEndMac, mac);
  nl::Message msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  msg.familyHeader<ifinfomsg>().ifi_family = AF_UNSPEC;
  msg.putString(IFLA_IFNAME, spec.hostIfname);
  msg.put(IFLA_ADDRESS, mac, sizeof mac);
  if (spec.mtu) msg.putU32(IFLA_MTU, spec.mtu);
  nlattr* info = msg.beginNested(IFLA_LINKINFO);
  msg.putString(IFLA_INFO_KIND, "veth");
  nlattr* data = msg.beginNested(IFLA_INFO_DATA);
  nlattr* peer = msg.beginNested(VETH_INFO_PEER);
  msg.nestedHeader<ifinfomsg>().ifi_family = AF_UNSPEC;
  msg.putString(IFLA_IFNAME, spec.ifname);
  msg.putU32(IFLA_NET_NS_FD, uint32_t(podNetnsFd));
  if (spec.mtu) msg.putU32(IFLA_MTU, spec.mtu);
  msg.endNested(peer);
  msg.endNested(data);
  msg.endNested(info);
  return s.request(msg, error);
}

// The pod's side, run inside its namespace.
bool configurePodSide(const PodInterfaceSpec& spec, const std::string& hostMac, PodInterface& out,
                      std::string& error) {
  nl::Socket s;
  if (!s.open(error)) return false;
  std::string e;
  nl::Link link;
  if (nl::getLink(s, spec.ifname, link, e) != 0) {
    error = fmt::format("the new interface {} in the container: {}", spec.ifname, e);
    return false;
  }
  out.podIfindex = link.ifindex;
  out.podMac = link.mac;

  nl::Link lo;
  if (nl::getLink(s, "lo", lo, e) == 0 && !lo.up() && nl::setLinkUp(s, lo.ifindex, e) != 0) {
    error = fmt::format("cannot bring lo up in the container: {}", e);
    return false;
  }
  if (nl::addAddress(s, nl::Address{link.ifindex, spec.address, 32}, e) != 0) {
    error = fmt::format("cannot add {}/32 to {} in the container: {}", spec.address.str(), spec.ifname, e);
    return false;
  }
  // Up before the routes: the kernel refuses a next hop on a down device.
  if (nl::setLinkUp(s, link.ifindex, e) != 0) {
    error = fmt::format("cannot bring {} up in the container: {}", spec.ifname, e);
    return false;
  }
  nl::Route toGateway;
  toGateway.dst = Cidr::host(spec.gateway);
  toGateway.oif = link.ifindex;
  toGateway.scope = RT_SCOPE_LINK;
  toGateway.protocol = kRouteProtocolPod;
  if (nl::addRoute(s, toGateway, /*replace=*/true, e) != 0) {
    error = fmt::format("cannot add the route to {} dev {} in the container: {}", spec.gateway.str(), spec.ifname, e);
    return false;
  }
  nl::Route byDefault;
  byDefault.dst = Cidr{IpAddr::v4(0), 0};
  byDefault.hasGateway = true;
  byDefault.gateway = spec.gateway;
  byDefault.oif = link.ifindex;
  byDefault.flags = RTNH_F_ONLINK;
  byDefault.scope = RT_SCOPE_UNIVERSE;
  byDefault.protocol = kRouteProtocolPod;
  if (nl::addRoute(s, byDefault, /*replace=*/true, e) != 0) {
    error = fmt::format("cannot add the default route via {} in the container: {}", spec.gateway.str(), e);
    return false;
  }
  nl::Neighbour gateway;
  gateway.family = AF_INET;
  gateway.ifindex = link.ifindex;
  gateway.hasDst = true;
  gateway.dst = spec.gateway;
  gateway.mac = hostMac;
  gateway.state = NUD_PERMANENT;
  if (nl::setNeighbour(s, gateway, e) != 0) {
    error = fmt::format("cannot add the neighbour {} lladdr {} in the container: {}", spec.gateway.str(), hostMac, e);
    return false;
  }
  return true;
}

bool configureHostSide(nl::Socket& s, const PodInterfaceSpec& spec, const PodInterface& pod, std::string& error) {
  std::string e;
  if (!setSysctl(fmt::format("net/ipv4/conf/{}/forwarding", spec.hostIfname), "1", e)) {
    error = e;
    return false;
  }
  if (nl::setLinkUp(s, pod.hostIfindex, e) != 0) {
    error = fmt::format("cannot bring {} up: {}", spec.hostIfname, e);
    return false;
  }
  nl::Route toPod;
  toPod.dst = Cidr::host(spec.address);
  toPod.oif = pod.hostIfindex;
  toPod.scope = RT_SCOPE_LINK;
  toPod.protocol = kRouteProtocolPod;
  int code = nl::addRoute(s, toPod, /*replace=*/false, e);
  if (code == EEXIST) {
    error = fmt::format("a route to {}/32 already exists in the node: is the address in use by another pod?",
                        spec.address.str());
    return false;
  }
  if (code != 0) {
    error = fmt::format("cannot add the route to {}/32 dev {}: {}", spec.address.str(), spec.hostIfname, e);
    return false;
  }
  nl::Neighbour neighbour;
  neighbour.family = AF_INET;
  neighbour.ifindex = pod.hostIfindex;
  neighbour.hasDst = true;
  neighbour.dst = spec.address;
  neighbour.mac = pod.podMac;
  neighbour.state = NUD_PERMANENT;
  if (nl::setNeighbour(s, neighbour, e) != 0) {
    error = fmt::format("cannot add the neighbour {} lladdr {} dev {}: {}", spec.address.str(), pod.podMac,
                        spec.hostIfname, e);
    return false;
  }
  return true;
}

}  // namespace

bool createPodInterface(const PodInterfaceSpec& spec, PodInterface& out, std::string& error) {
  if (!validName(spec.ifname)) {
    error = fmt::format("'{}' is not a valid interface name", spec.ifname);
    return false;
  }
  if (!validName(spec.hostIfname)) {
    error = fmt::format("'{}' is not a valid host interface name", spec.hostIfname);
    return false;
  }
  if (!spec.address.isV4() || !spec.gateway.isV4()) {
    error = "only IPv4 pod addresses are supported";
    return false;
  }
  Netns pod;
  if (!pod.open(spec.netns, error)) return false;

  std::string e;
  int podLookup = 0;
  bool ran = pod.run(
      [&] {
        nl::Socket ps;
        nl::Link existing;
        podLookup = ps.open(e) ? nl::getLink(ps, spec.ifname, existing, e) : EBADF;
      },
      e);
  if (!ran || (podLookup != 0 && podLookup != ENODEV)) {
    error = fmt::format("cannot look into the container's network namespace {}: {}", spec.netns, e);
    return false;
  }
  if (podLookup == 0) {
    error = fmt::format("interface {} already exists in the container", spec.ifname);
    return false;
  }

  nl::Socket s;
  if (!s.open(error)) return false;
  nl::Link stale;
  int code = nl::getLink(s, spec.hostIfname, stale, e);
  if (code == 0) {
    if (stale.kind != "veth") {
      error = fmt::format("a link named {} exists in the node and is not a veth (kind '{}')", spec.hostIfname,
                          stale.kind);
      return false;
    }
    code = nl::deleteLink(s, spec.hostIfname, e);
    if (code != 0 && code != ENODEV) {
      error = fmt::format("cannot remove the leftover {}: {}", spec.hostIfname, e);
      return false;
    }
  } else if (code != ENODEV) {
    error = fmt::format("cannot look up {}: {}", spec.hostIfname, e);
    return false;
  }

  code = createVeth(s, spec, pod.fd(), e);
  if (code == EEXIST) {
    error = fmt::format("interface {} already exists in the container, or {} in the node", spec.ifname,
                        spec.hostIfname);
    return false;
  }
  if (code != 0) {
    error = fmt::format("cannot create the veth pair {} / {}: {}", spec.hostIfname, spec.ifname, e);
    return false;
  }

  // From here on, a failure removes the pair (and with it everything on it).
  auto fail = [&](const std::string& message) {
    std::string ignored;
    nl::deleteLink(s, spec.hostIfname, ignored);
    error = message;
    return false;
  };
  PodInterface made;
  nl::Link host;
  if (nl::getLink(s, spec.hostIfname, host, e) != 0) return fail(fmt::format("the new {}: {}", spec.hostIfname, e));
  made.hostIfindex = host.ifindex;
  made.hostMac = host.mac;

  bool podOk = false;
  std::string podError;
  if (!pod.run([&] { podOk = configurePodSide(spec, made.hostMac, made, podError); }, e)) return fail(e);
  if (!podOk) return fail(podError);
  if (!configureHostSide(s, spec, made, e)) return fail(e);
  out = made;
  return true;
}

bool deletePodInterface(const std::string& hostIfname, std::string& error) {
  if (!validName(hostIfname)) {
    error = fmt::format("'{}' is not a valid host interface name", hostIfname);
    return false;
  }
  nl::Socket s;
  if (!s.open(error)) return false;
  std::string e;
  nl::Link link;
  int code = nl::getLink(s, hostIfname, link, e);
  if (code == ENODEV) return true;
  if (code != 0) {
    error = fmt::format("cannot look up {}: {}", hostIfname, e);
    return false;
  }
  if (link.kind != "veth") {
    error = fmt::format("{} is not a veth (kind '{}'); not deleting it", hostIfname, link.kind);
    return false;
  }
  code = nl::deleteLink(s, hostIfname, e);
  if (code != 0 && code != ENODEV) {
    error = fmt::format("cannot delete {}: {}", hostIfname, e);
    return false;
  }
  return true;
}

bool checkPodInterface(const PodInterfaceSpec& spec, std::string& problem) {
  std::vector<std::string> problems;
  std::string e;
  auto report = [&] {
    problem.clear();
    for (const auto& p : problems) problem += (problem.empty() ? "" : "; ") + p;
    return problems.empty();
  };

  // The node's side.
  nl::Socket s;
  if (!s.open(e)) {
    problems.push_back(e);
    return report();
  }
  nl::Link host;
  int code = nl::getLink(s, spec.hostIfname, host, e);
  if (code == ENODEV) {
    problems.push_back(fmt::format("the host interface {} is missing", spec.hostIfname));
  } else if (code != 0) {
    problems.push_back(fmt::format("cannot look up the host interface {}: {}", spec.hostIfname, e));
  } else {
    if (!host.up()) problems.push_back(fmt::format("the host interface {} is down", spec.hostIfname));
    std::vector<nl::Route> routes;
    if (nl::dumpRoutes(s, routes, e) != 0) {
      problems.push_back("cannot list the node's routes: " + e);
    } else {
      bool found = false;
      for (const auto& r : routes)
        if (r.table == RT_TABLE_MAIN && r.dst == Cidr::host(spec.address) && r.oif == host.ifindex) found = true;
      if (!found)
        problems.push_back(
            fmt::format("the route to {}/32 dev {} in the node is missing", spec.address.str(), spec.hostIfname));
    }
  }

  // The container's side.
  std::string podProblem;
  bool ran = runInNetns(
      spec.netns,
      [&] {
        nl::Socket ps;
        std::string pe;
        if (!ps.open(pe)) {
          problems.push_back(pe);
          return;
        }
        nl::Link link;
        int c = nl::getLink(ps, spec.ifname, link, pe);
        if (c == ENODEV) {
          problems.push_back(fmt::format("interface {} in the container is missing", spec.ifname));
          return;
        }
        if (c != 0) {
          problems.push_back(fmt::format("cannot look up {} in the container: {}", spec.ifname, pe));
          return;
        }
        if (!link.up()) problems.push_back(fmt::format("interface {} in the container is down", spec.ifname));
        std::vector<nl::Address> addresses;
        std::vector<nl::Route> routes;
        std::vector<nl::Neighbour> neighbours;
        if (nl::dumpAddresses(ps, addresses, pe) != 0 || nl::dumpRoutes(ps, routes, pe) != 0 ||
            nl::dumpNeighbours(ps, AF_INET, neighbours, pe) != 0) {
          problems.push_back("cannot list the container's addresses, routes and neighbours: " + pe);
          return;
        }
        bool hasAddress = false, hasDefault = false, hasNeighbour = false;
        for (const auto& a : addresses)
          if (a.ifindex == link.ifindex && a.address == spec.address && a.prefixLen == 32) hasAddress = true;
        for (const auto& r : routes)
          if (r.table == RT_TABLE_MAIN && r.dst.prefixLen == 0 && r.hasGateway && r.gateway == spec.gateway &&
              r.oif == link.ifindex)
            hasDefault = true;
        for (const auto& n : neighbours)
          if (n.ifindex == link.ifindex && n.hasDst && n.dst == spec.gateway && (n.state & NUD_PERMANENT))
            hasNeighbour = true;
        if (!hasAddress)
          problems.push_back(
              fmt::format("the address {}/32 on {} in the container is missing", spec.address.str(), spec.ifname));
        if (!hasDefault)
          problems.push_back(fmt::format("the default route via {} in the container is missing", spec.gateway.str()));
        if (!hasNeighbour)
          problems.push_back(
              fmt::format("the permanent neighbour entry for {} in the container is missing", spec.gateway.str()));
      },
      podProblem);
  if (!ran) problems.push_back(podProblem);
  return report();
}

uint32_t linkMtu(const std::string& ifname, std::string& error) {
  nl::Socket s;
  nl::Link link;
  if (!s.open(error)) return 0;
  if (nl::getLink(s, ifname, link, error) != 0) return 0;
  return link.mtu;
}

uint32_t defaultMtu(std::string& error) {
  nl::Socket s;
  if (!s.open(error)) return 0;
  std::vector<nl::Route> routes;
  if (nl::dumpRoutes(s, routes, error) != 0) return 0;
  const nl::Route* best = nullptr;
  for (const auto& r : routes)
    if (r.table == RT_TABLE_MAIN && r.dst.prefixLen == 0 && r.type == RTN_UNICAST && r.oif &&
        (!best || r.priority < best->priority))
      best = &r;
  if (!best) {
    error = "there is no default route, so no uplink to take the MTU from";
    return 0;
  }
  std::vector<nl::Link> links;
  if (nl::dumpLinks(s, links, error) != 0) return 0;
  for (const auto& l : links)
    if (l.ifindex == best->oif) return l.mtu;
  error = fmt::format("the default route's interface (ifindex {}) is gone", best->oif);
  return 0;
}

}  // namespace sluice::runtime
