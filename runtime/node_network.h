// A node's side of pod networking, in the calling thread's network namespace
// (the node's): routes to the other nodes' pod CIDRs, natively or through a
// VXLAN device, and the small kernel helpers the agent needs.
//
// Ownership: every route sluice makes carries a protocol number that names
// which function owns it (`ip route show proto 228`), and each function only
// ever changes or deletes routes of its own number, so it can reconcile
// ("delete what is not wanted") without touching anyone else's routes.
//
// Native routing (nodes on one L2 segment): `10.2.0.0/24 via 192.168.1.12`.
// VXLAN (nodes that are not), flannel's layout:
//   sluice_vxlan  vni 1, dstport 8472, local <node IP>, nolearning,
//                 MTU = uplink - 50, MAC 02:5c:<node IP>, address <podCIDR>.0/32
//   per peer: route  10.2.0.0/24 via 10.2.0.0 dev sluice_vxlan onlink
//             neigh  10.2.0.0 lladdr 02:5c:<peer IP> permanent   (ARP never leaves the node)
//             fdb    02:5c:<peer IP> dst <peer IP> self permanent  (where to send the UDP)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/net.h"

namespace sluice::runtime {

// Route protocol numbers (rtm_protocol), one per owner.
inline constexpr uint8_t kRouteProtocolPod = 0xe3;     // 227: a local pod's /32 via its host veth
inline constexpr uint8_t kRouteProtocolNative = 0xe4;  // 228: another node's podCIDR via its IP
inline constexpr uint8_t kRouteProtocolVxlan = 0xe5;   // 229: another node's podCIDR via its VTEP

// ---- helpers ----------------------------------------------------------------------

// Writes `value` to /proc/sys/<path> ("net/ipv4/ip_forward", or an absolute
// /proc/sys path). Slashes, not dots: interface names may contain dots.
// /proc/sys/net is the calling thread's network namespace's.
bool setSysctl(const std::string& path, const std::string& value, std::string& error);
// The contents of /proc/sys/<path>, without the trailing newline; "" with `error` on failure.
std::string getSysctl(const std::string& path, std::string& error);
// net.ipv4.ip_forward=1 (which also sets every interface's forwarding).
bool enableForwarding(std::string& error);

// The names of the links whose name starts with `prefix` (e.g. "slc", the
// pods' host ends), sorted; empty with `error` set if netlink fails.
std::vector<std::string> linksWithPrefix(const std::string& prefix, std::string& error);
// The ifindex of the link named `name`, 0 when there is none (or netlink fails).
int ifindexOf(const std::string& name);

// ---- native routing ---------------------------------------------------------------

struct RemotePodCidr {
  Cidr podCidr;  // another node's spec.podCIDR
  IpAddr nodeIp;  // its InternalIP, on this node's L2 segment
};

// Makes the routes of protocol kRouteProtocolNative in the main table exactly
// `wanted`: adds missing ones, replaces those whose next hop changed, deletes
// the rest. Idempotent; a no-op when nothing changed. A route to the same
// prefix that sluice did not make is not replaced (an error names it), and the
// other entries are still synced. False with `error` (every failure, "; "-
// separated) when any entry failed.
bool syncPodCidrRoutes(const std::vector<RemotePodCidr>& wanted, std::string& error);

// ---- VXLAN ------------------------------------------------------------------------

inline constexpr const char* kVxlanDevice = "sluice_vxlan";
inline constexpr uint16_t kVxlanPort = 8472;  // the Linux default, flannel's and Cilium's
inline constexpr uint32_t kVxlanOverhead = 50;  // outer IPv4 20 + UDP 8 + VXLAN 8 + Ethernet 14

struct VxlanSpec {
  std::string name = kVxlanDevice;
  uint32_t vni = 1;
  uint16_t port = kVxlanPort;
  IpAddr localIp;  // this node's IP: the tunnel's source
  Cidr podCidr;    // this node's podCIDR: its network address goes on the device as a /32
  std::string uplink;  // the underlay link; "" = the link that holds localIp
  uint32_t mtu = 0;    // 0 = the uplink's MTU - kVxlanOverhead
};

// The VTEP MAC of a node: 02:5c:<the 4 bytes of its IPv4 address>.
std::string vtepMac(const IpAddr& nodeIp);
// A node's VTEP address: the network address of its podCIDR.
inline IpAddr vtepAddress(const Cidr& podCidr) { return podCidr.addr; }

// Creates the VXLAN device or brings it to `spec` (a device of that name with
// another VNI, port, local address or underlay is recreated; a link of that
// name that is not VXLAN is an error), with its MTU, MAC and single address,
// and up. Idempotent.
bool ensureVxlanDevice(const VxlanSpec& spec, std::string& error);

struct VxlanPeer {
  Cidr podCidr;   // the peer's podCIDR
  IpAddr nodeIp;  // the peer's node IP (the outer destination)
};

// Makes the device's peers exactly `peers`: per peer a permanent neighbour
// (VTEP address → VTEP MAC), an FDB entry (VTEP MAC → node IP) and a route
// (podCIDR via the VTEP address, onlink, protocol kRouteProtocolVxlan); changed
// ones are replaced, stale ones removed. Only writes what differs. False with
// `error` when the device does not exist or any entry failed.
bool syncVxlanPeers(const std::string& device, const std::vector<VxlanPeer>& peers, std::string& error);
inline bool syncVxlanPeers(const std::vector<VxlanPeer>& peers, std::string& error) {
  return syncVxlanPeers(kVxlanDevice, peers, error);
}

// Deletes the device (and with it its routes, neighbours and FDB). Absent = success.
bool deleteVxlanDevice(const std::string& device, std::string& error);
inline bool deleteVxlanDevice(std::string& error) { return deleteVxlanDevice(kVxlanDevice, error); }

}  // namespace sluice::runtime
