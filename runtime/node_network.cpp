#include "runtime/node_network.h"

#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

#include "runtime/netlink.h"

namespace sluice::runtime {

namespace nl = netlink;

namespace {

std::string sysctlPath(const std::string& path) {
  return path.starts_with("/") ? path : "/proc/sys/" + path;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : "; ") + p;
  return s;
}

}  // namespace

// ---- helpers --------------------------------------------------------------------------

bool setSysctl(const std::string& path, const std::string& value, std::string& error) {
  std::string full = sysctlPath(path);
  int fd = open(full.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    error = fmt::format("cannot open {}: {}", full, std::strerror(errno));
    return false;
  }
  ssize_t n = write(fd, value.data(), value.size());
  int saved = errno;
  close(fd);
  if (n != ssize_t(value.size())) {
    error = fmt::format("cannot write {} to {}: {}", value, full, n < 0 ? std::strerror(saved) : "short write");
    return false;
  }
  return true;
}

std::string getSysctl(const std::string& path, std::string& error) {
  std::string full = sysctlPath(path);
  int fd = open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = fmt::format("cannot open {}: {}", full, std::strerror(errno));
    return "";
  }
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf);
  int saved = errno;
  close(fd);
  if (n < 0) {
    error = fmt::format("cannot read {}: {}", full, std::strerror(saved));
    return "";
  }
  std::string value(buf, size_t(n));
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

bool enableForwarding(std::string& error) { return setSysctl("net/ipv4/ip_forward", "1", error); }

std::vector<std::string> linksWithPrefix(const std::string& prefix, std::string& error) {
  std::vector<std::string> names;
  nl::Socket s;
  std::vector<nl::Link> links;
  if (!s.open(error) || nl::dumpLinks(s, links, error) != 0) return names;
  for (const auto& l : links)
    if (l.name.starts_with(prefix)) names.push_back(l.name);
  std::sort(names.begin(), names.end());
  return names;
}

int ifindexOf(const std::string& name) {
  nl::Socket s;
  std::string error;
  nl::Link link;
  if (!s.open(error) || nl::getLink(s, name, link, error) != 0) return 0;
  return link.ifindex;
}

// ---- native routing ----------------------------------------------------------------------

bool syncPodCidrRoutes(const std::vector<RemotePodCidr>& wanted, std::string& error) {
  std::vector<std::string> failures;
  std::map<Cidr, IpAddr> want;
  for (const auto& w : wanted) {
    if (!w.podCidr.addr.isV4() || !w.nodeIp.isV4()) {
      failures.push_back(fmt::format("{} via {}: only IPv4 is routed", w.podCidr.str(), w.nodeIp.str()));
      continue;
    }
    auto [it, inserted] = want.emplace(w.podCidr, w.nodeIp);
    if (!inserted && it->second != w.nodeIp)
      failures.push_back(fmt::format("{} is wanted via both {} and {}; keeping {}", w.podCidr.str(),
                                     it->second.str(), w.nodeIp.str(), it->second.str()));
  }

  nl::Socket s;
  std::vector<nl::Route> routes;
  if (!s.open(error)) return false;
  if (nl::dumpRoutes(s, routes, error) != 0) {
    error = "cannot list the routes: " + error;
    return false;
  }
  std::map<Cidr, std::vector<nl::Route>> ours;
  std::map<Cidr, nl::Route> foreign;  // what a replace of ours would overwrite
  for (const auto& r : routes) {
    if (r.table != RT_TABLE_MAIN) continue;
    if (r.protocol == kRouteProtocolNative)
      ours[r.dst].push_back(r);
    else if (r.priority == 0)
      foreign.emplace(r.dst, r);
  }

  std::set<std::pair<Cidr, IpAddr>> kept;
  for (const auto& [cidr, gateway] : want) {
    bool present = false;
    for (const auto& r : ours[cidr])
      if (r.hasGateway && r.gateway == gateway && r.priority == 0) present = true;
    if (present) {
      kept.emplace(cidr, gateway);
      continue;
    }
    if (auto f = foreign.find(cidr); f != foreign.end()) {
      failures.push_back(fmt::format("a route to {} that sluice did not make is in the way (protocol {}); "
                                     "not replacing it",
                                     cidr.str(), f->second.protocol));
      continue;
    }
    nl::Route r;
    r.dst = cidr;
    r.hasGateway = true;
    r.gateway = gateway;
    r.protocol = kRouteProtocolNative;
    r.scope = RT_SCOPE_UNIVERSE;
    std::string e;
    if (nl::addRoute(s, r, /*replace=*/true, e) != 0)
      failures.push_back(fmt::format("cannot add the route {} via {}: {}", cidr.str(), gateway.str(), e));
    else
      kept.emplace(cidr, gateway);
  }

  // Everything else of ours goes, including duplicates of a kept route at
  // another priority. A route replaced in place above no longer matches its
  // dumped gateway: ESRCH, fine.
  for (const auto& [cidr, list] : ours) {
    bool keptOne = false;
    for (const auto& r : list) {
      auto w = want.find(cidr);
      bool keep = !keptOne && w != want.end() && r.hasGateway && r.gateway == w->second && r.priority == 0 &&
                  kept.count({cidr, w->second});
      if (keep) {
        keptOne = true;
        continue;
      }
      std::string e;
      int code = nl::deleteRoute(s, r, e);
      if (code != 0 && code != ESRCH)
        failures.push_back(fmt::format("cannot delete the route {}{}: {}", cidr.str(),
                                       r.hasGateway ? " via " + r.gateway.str() : "", e));
    }
  }
  if (!failures.empty()) {
    error = joined(failures);
    return false;
  }
  return true;
}

// ---- VXLAN ----------------------------------------------------------------------------------

std::string vtepMac(const IpAddr& nodeIp) {
  const auto& b = nodeIp.bytes;
  return fmt::format("02:5c:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3]);
}

namespace {

// The link holding `address`, or an error.
bool linkWithAddress(nl::Socket& s, const IpAddr& address, nl::Link& out, std::string& error) {
  std::vector<nl::Address> addresses;
  std::vector<nl::Link> links;
  if (nl::dumpAddresses(s, addresses, error) != 0 || nl::dumpLinks(s, links, error) != 0) return false;
  for (const auto& a : addresses) {
    if (a.address != address) continue;
    for (const auto& l : links)
      if (l.ifindex == a.ifindex) {
        out = l;
        return true;
      }
  }
  error = fmt::format("no interface has the node address {}", address.str());
  return false;
}

bool createVxlan(nl::Socket& s, const VxlanSpec& spec, int underlay, uint32_t mtu, std::string& error) {
  uint8_t mac[6];
  nl::parseMac(vtepMac(spec.localIp), mac);
  nl::Message msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  msg.familyHeader<ifinfomsg>().ifi_family = AF_UNSPEC;
  msg.putString(IFLA_IFNAME, spec.name);
  msg.putU32(IFLA_MTU, mtu);
  msg.put(IFLA_ADDRESS, mac, sizeof mac);
  nlattr* info = msg.beginNested(IFLA_LINKINFO);
  msg.putString(IFLA_INFO_KIND, "vxlan");
  nlattr* data = msg.beginNested(IFLA_INFO_DATA);
  msg.putU32(IFLA_VXLAN_ID, spec.vni);
  msg.putAddress(IFLA_VXLAN_LOCAL, spec.localIp);
  msg.putU16(IFLA_VXLAN_PORT, htons(spec.port));
  msg.putU8(IFLA_VXLAN_LEARNING, 0);
  msg.putU32(IFLA_VXLAN_LINK, uint32_t(underlay));
  msg.endNested(data);
  msg.endNested(info);
  std::string e;
  if (s.request(msg, e) != 0) {
    error = fmt::format("cannot create the VXLAN device {}: {}", spec.name, e);
    return false;
  }
  return true;
}

}  // namespace

bool ensureVxlanDevice(const VxlanSpec& spec, std::string& error) {
  if (spec.name.empty() || spec.name.size() >= IFNAMSIZ) {
    error = fmt::format("'{}' is not an interface name", spec.name);
    return false;
  }
  if (!spec.localIp.isV4() || !spec.podCidr.addr.isV4()) {
    error = "VXLAN: only IPv4 node addresses and pod CIDRs are supported";
    return false;
  }
  if (spec.vni == 0 || spec.vni >= (1u << 24)) {
    error = fmt::format("VXLAN: VNI {} is outside 1..16777215", spec.vni);
    return false;
  }
  nl::Socket s;
  if (!s.open(error)) return false;
  nl::Link underlay;
  std::string e;
  if (!spec.uplink.empty()) {
    if (nl::getLink(s, spec.uplink, underlay, e) != 0) {
      error = fmt::format("VXLAN: the uplink {}: {}", spec.uplink, e);
      return false;
    }
  } else if (!linkWithAddress(s, spec.localIp, underlay, e)) {
    error = "VXLAN: " + e;
    return false;
  }
  uint32_t mtu = spec.mtu;
  if (mtu == 0) {
    if (underlay.mtu < 68 + kVxlanOverhead) {
      error = fmt::format("VXLAN: the uplink {} has MTU {}, too small for encapsulation", underlay.name, underlay.mtu);
      return false;
    }
    mtu = underlay.mtu - kVxlanOverhead;
  }
  std::string mac = vtepMac(spec.localIp);

  nl::Link device;
  int code = nl::getLink(s, spec.name, device, e);
  bool exists = code == 0;
  if (code != 0 && code != ENODEV) {
    error = fmt::format("VXLAN: cannot look up {}: {}", spec.name, e);
    return false;
  }
  if (exists && device.kind != "vxlan") {
    error = fmt::format("a link named {} exists and is not a VXLAN device (kind '{}'); remove it", spec.name,
                        device.kind);
    return false;
  }
  if (exists) {
    const auto& v = device.vxlan;
    if (v.vni != spec.vni || v.local != spec.localIp || v.port != spec.port || v.learning ||
        v.link != underlay.ifindex) {
      // These cannot all be changed in place: make it anew.
      int deleted = nl::deleteLink(s, spec.name, e);
      if (deleted != 0 && deleted != ENODEV) {
        error = fmt::format("cannot delete the outdated VXLAN device {}: {}", spec.name, e);
        return false;
      }
      exists = false;
    }
  }
  bool created = false;
  if (!exists) {
    if (!createVxlan(s, spec, underlay.ifindex, mtu, error)) return false;
    created = true;
    if (nl::getLink(s, spec.name, device, e) != 0) {
      error = fmt::format("the new VXLAN device {}: {}", spec.name, e);
      return false;
    }
  }
  auto fail = [&](std::string message) {
    if (created) {
      std::string ignored;
      nl::deleteLink(s, spec.name, ignored);
    }
    error = std::move(message);
    return false;
  };

  if (device.mtu != mtu || device.mac != mac) {
    uint8_t macBytes[6];
    nl::parseMac(mac, macBytes);
    nl::Message msg(RTM_NEWLINK, 0);
    auto& ifi = msg.familyHeader<ifinfomsg>();
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = device.ifindex;
    if (device.mtu != mtu) msg.putU32(IFLA_MTU, mtu);
    if (device.mac != mac) msg.put(IFLA_ADDRESS, macBytes, sizeof macBytes);
    if (s.request(msg, e) != 0)
      return fail(fmt::format("cannot set the MTU {} and MAC {} of {}: {}", mtu, mac, spec.name, e));
  }

  // One address: the podCIDR's network address as a /32.
  std::vector<nl::Address> addresses;
  if (nl::dumpAddresses(s, addresses, e) != 0) return fail("cannot list the addresses: " + e);
  IpAddr vtep = vtepAddress(spec.podCidr);
  bool hasVtep = false;
  for (const auto& a : addresses) {
    if (a.ifindex != device.ifindex) continue;
    if (a.address == vtep && a.prefixLen == 32) {
      hasVtep = true;
      continue;
    }
    int deleted = nl::deleteAddress(s, a, e);
    if (deleted != 0 && deleted != EADDRNOTAVAIL)
      return fail(fmt::format("cannot remove {}/{} from {}: {}", a.address.str(), a.prefixLen, spec.name, e));
  }
  if (!hasVtep && nl::addAddress(s, nl::Address{device.ifindex, vtep, 32}, e) != 0)
    return fail(fmt::format("cannot add {}/32 to {}: {}", vtep.str(), spec.name, e));

  if (!device.up() && nl::setLinkUp(s, device.ifindex, e) != 0)
    return fail(fmt::format("cannot bring {} up: {}", spec.name, e));
  return true;
}

bool syncVxlanPeers(const std::string& device, const std::vector<VxlanPeer>& peers, std::string& error) {
  nl::Socket s;
  if (!s.open(error)) return false;
  std::string e;
  nl::Link link;
  if (nl::getLink(s, device, link, e) != 0) {
    error = fmt::format("the VXLAN device {}: {} (ensureVxlanDevice first)", device, e);
    return false;
  }
  if (link.kind != "vxlan") {
    error = fmt::format("{} is not a VXLAN device (kind '{}')", device, link.kind);
    return false;
  }

  std::vector<std::string> failures;
  std::map<Cidr, IpAddr> routesWanted;        // podCIDR → node IP
  std::map<IpAddr, std::string> neighWanted;  // VTEP address → VTEP MAC
  std::map<std::string, IpAddr> fdbWanted;    // VTEP MAC → node IP
  for (const auto& p : peers) {
    if (!p.podCidr.addr.isV4() || !p.nodeIp.isV4()) {
      failures.push_back(fmt::format("{} via {}: only IPv4 is routed", p.podCidr.str(), p.nodeIp.str()));
      continue;
    }
    auto [it, inserted] = routesWanted.emplace(p.podCidr, p.nodeIp);
    if (!inserted) {
      if (it->second != p.nodeIp)
        failures.push_back(fmt::format("{} is wanted via both {} and {}; keeping {}", p.podCidr.str(),
                                       it->second.str(), p.nodeIp.str(), it->second.str()));
      continue;
    }
    neighWanted[vtepAddress(p.podCidr)] = vtepMac(p.nodeIp);
    fdbWanted[vtepMac(p.nodeIp)] = p.nodeIp;
  }

  std::vector<nl::Neighbour> arp, fdb;
  std::vector<nl::Route> routes;
  if (nl::dumpNeighbours(s, AF_INET, arp, e) != 0 || nl::dumpNeighbours(s, AF_BRIDGE, fdb, e) != 0 ||
      nl::dumpRoutes(s, routes, e) != 0) {
    error = fmt::format("cannot list the state of {}: {}", device, e);
    return false;
  }
  std::erase_if(arp, [&](const nl::Neighbour& n) { return n.ifindex != link.ifindex || !n.hasDst; });
  std::erase_if(fdb, [&](const nl::Neighbour& n) { return n.ifindex != link.ifindex; });
  std::erase_if(routes, [](const nl::Route& r) {
    return r.table != RT_TABLE_MAIN || r.protocol != kRouteProtocolVxlan;
  });

  // Neighbours and FDB entries first: a route must never lead to a VTEP
  // that cannot be resolved.
  for (const auto& [vtep, mac] : neighWanted) {
    bool present = std::any_of(arp.begin(), arp.end(), [&](const nl::Neighbour& n) {
      return n.dst == vtep && n.mac == mac && (n.state & NUD_PERMANENT);
    });
    if (present) continue;
    nl::Neighbour n;
    n.family = AF_INET;
    n.ifindex = link.ifindex;
    n.hasDst = true;
    n.dst = vtep;
    n.mac = mac;
    n.state = NUD_PERMANENT;
    if (nl::setNeighbour(s, n, e) != 0)
      failures.push_back(fmt::format("cannot add the neighbour {} lladdr {} on {}: {}", vtep.str(), mac, device, e));
  }
  for (const auto& [mac, nodeIp] : fdbWanted) {
    bool present = std::any_of(fdb.begin(), fdb.end(), [&](const nl::Neighbour& n) {
      return n.mac == mac && n.hasDst && n.dst == nodeIp && (n.state & NUD_PERMANENT);
    });
    if (present) continue;
    nl::Neighbour n;
    n.family = AF_BRIDGE;
    n.ifindex = link.ifindex;
    n.hasDst = true;
    n.dst = nodeIp;
    n.mac = mac;
    n.state = NUD_PERMANENT;
    n.flags = NTF_SELF;
    if (nl::setNeighbour(s, n, e) != 0)
      failures.push_back(fmt::format("cannot add the FDB entry {} dst {} on {}: {}", mac, nodeIp.str(), device, e));
  }
  std::set<Cidr> routeKept;
  for (const auto& [cidr, nodeIp] : routesWanted) {
    IpAddr vtep = vtepAddress(cidr);
    bool present = std::any_of(routes.begin(), routes.end(), [&](const nl::Route& r) {
      return r.dst == cidr && r.hasGateway && r.gateway == vtep && r.oif == link.ifindex &&
             (r.flags & RTNH_F_ONLINK) && r.priority == 0;
    });
    if (!present) {
      nl::Route r;
      r.dst = cidr;
      r.hasGateway = true;
      r.gateway = vtep;
      r.oif = link.ifindex;
      r.flags = RTNH_F_ONLINK;
      r.protocol = kRouteProtocolVxlan;
      r.scope = RT_SCOPE_UNIVERSE;
      if (nl::addRoute(s, r, /*replace=*/true, e) != 0) {
        failures.push_back(fmt::format("cannot add the route {} via {} dev {} onlink: {}", cidr.str(), vtep.str(),
                                       device, e));
        continue;
      }
    }
    routeKept.insert(cidr);
  }

  // Stale state, routes first.
  std::set<Cidr> routeSeen;
  for (const auto& r : routes) {
    bool keep = routeKept.count(r.dst) && !routeSeen.count(r.dst) && r.hasGateway &&
                r.gateway == vtepAddress(r.dst) && r.oif == link.ifindex && (r.flags & RTNH_F_ONLINK) &&
                r.priority == 0;
    if (keep) {
      routeSeen.insert(r.dst);
      continue;
    }
    int code = nl::deleteRoute(s, r, e);
    if (code != 0 && code != ESRCH)
      failures.push_back(fmt::format("cannot delete the route {}: {}", r.dst.str(), e));
  }
  for (const auto& n : arp) {
    if (!(n.state & NUD_PERMANENT) || neighWanted.count(n.dst)) continue;
    int code = nl::deleteNeighbour(s, n, e);
    if (code != 0 && code != ENOENT)
      failures.push_back(fmt::format("cannot delete the neighbour {} on {}: {}", n.dst.str(), device, e));
  }
  for (const auto& n : fdb) {
    if (fdbWanted.count(n.mac)) continue;
    int code = nl::deleteNeighbour(s, n, e);
    if (code != 0 && code != ENOENT)
      failures.push_back(fmt::format("cannot delete the FDB entry {} on {}: {}", n.mac, device, e));
  }
  if (!failures.empty()) {
    error = joined(failures);
    return false;
  }
  return true;
}

bool deleteVxlanDevice(const std::string& device, std::string& error) {
  nl::Socket s;
  if (!s.open(error)) return false;
  nl::Link link;
  std::string e;
  int code = nl::getLink(s, device, link, e);
  if (code == ENODEV) return true;
  if (code != 0) {
    error = fmt::format("cannot look up {}: {}", device, e);
    return false;
  }
  if (link.kind != "vxlan") {
    error = fmt::format("{} is not a VXLAN device (kind '{}'); not deleting it", device, link.kind);
    return false;
  }
  code = nl::deleteLink(s, device, e);
  if (code != 0 && code != ENODEV) {
    error = fmt::format("cannot delete {}: {}", device, e);
    return false;
  }
  return true;
}

}  // namespace sluice::runtime
