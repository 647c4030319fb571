// A thin layer over libmnl for rtnetlink (NETLINK_ROUTE), for the code that
// builds pod and node networking: a socket, one request and its
// acknowledgement at a time with the kernel's own error text (the extended
// ack, e.g. "Nexthop has invalid gateway"), and dumps of links, addresses,
// routes and neighbours parsed into plain structs.
//
// Network namespaces: a netlink socket belongs to the namespace of the thread
// that opened it, for its whole life, whichever thread uses it later. Open it
// inside runInNetns (runtime/netns.h) to work in another namespace.
//
// Only IPv4 is parsed into the structs (what the datapath handles today); the
// Message builder takes any family.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/net.h"

struct mnl_socket;
struct nlattr;
struct nlmsghdr;

namespace sluice::runtime::netlink {

// One netlink request under construction: the header, one family header
// (ifinfomsg, rtmsg, ...) and attributes.
class Message {
 public:
  Message(uint16_t type, uint16_t flags);
  Message(Message&&) = default;  // the header stays in the moved buffer
  Message& operator=(Message&&) = default;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  // The family header, zeroed; call once, before any attribute.
  template <class T>
  T& familyHeader() {
    return *static_cast<T*>(putStruct(sizeof(T)));
  }
  // A zeroed struct inside a nest (VETH_INFO_PEER starts with an ifinfomsg).
  template <class T>
  T& nestedHeader() {
    return *static_cast<T*>(putStruct(sizeof(T)));
  }

  void put(uint16_t type, const void* data, size_t len);
  void putU8(uint16_t type, uint8_t value);
  void putU16(uint16_t type, uint16_t value);
  void putU32(uint16_t type, uint32_t value);
  void putString(uint16_t type, const std::string& value);
  void putAddress(uint16_t type, const IpAddr& address);  // 4 or 16 bytes, network order
  nlattr* beginNested(uint16_t type);
  void endNested(nlattr* nest);

  nlmsghdr* header() { return nlh_; }
  uint16_t type() const;

 private:
  void* putStruct(size_t size);

  std::vector<char> buf_;
  nlmsghdr* nlh_ = nullptr;
};

// The kernel's answer, as text: its extended-ack message when it sent one,
// followed by the errno text ("Nexthop has invalid gateway (Network is
// unreachable)"), else the errno text alone.
std::string kernelErrorText(int code, const std::string& extack);

// A NETLINK_ROUTE socket with extended acks on. Not thread-safe: one socket
// per thread (they are cheap).
class Socket {
 public:
  Socket() = default;
  ~Socket();
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // Opens the socket in the calling thread's network namespace.
  bool open(std::string& error);
  bool isOpen() const { return nl_ != nullptr; }

  // Sends `msg` with NLM_F_ACK and waits for the acknowledgement. Returns 0,
  // or the (positive) errno the kernel answered with `error` set to
  // kernelErrorText. Replies other than the ack (a GET by name) go to
  // `onReply` when given.
  int request(Message& msg, std::string& error,
              const std::function<void(const nlmsghdr*)>& onReply = nullptr);

  // Sends `msg` with NLM_F_DUMP and hands every reply to `onReply`. Returns 0
  // or an errno with `error` set; EAGAIN when the kernel flagged the dump as
  // interrupted by a concurrent change (NLM_F_DUMP_INTR): the replies may be
  // inconsistent, dump again.
  int dump(Message& msg, const std::function<void(const nlmsghdr*)>& onReply, std::string& error);

 private:
  int exchange(Message& msg, const std::function<void(const nlmsghdr*)>& onReply, std::string& error);

  mnl_socket* nl_ = nullptr;
  unsigned portid_ = 0;
  unsigned seq_ = 0;
};

// ---- parsed objects ----------------------------------------------------------

std::string macText(const uint8_t* bytes, size_t len);  // "ee:ee:ee:ee:ee:ee"
bool parseMac(const std::string& text, uint8_t (&out)[6]);

struct VxlanAttributes {
  uint32_t vni = 0;
  IpAddr local;
  uint16_t port = 0;  // host order
  bool learning = true;
  int link = 0;  // underlay ifindex, 0 = none
};

struct Link {
  int ifindex = 0;
  std::string name;
  unsigned flags = 0;  // IFF_*
  uint32_t mtu = 0;
  std::string mac;   // "" when the link has none
  std::string kind;  // IFLA_INFO_KIND: "veth", "vxlan", ... ("" for physical ones)
  VxlanAttributes vxlan;  // when kind == "vxlan"
  bool up() const;
};

struct Address {  // IPv4
  int ifindex = 0;
  IpAddr address;
  unsigned prefixLen = 0;
};

struct Route {  // IPv4, unicast and the rest (type says which)
  Cidr dst;
  bool hasGateway = false;
  IpAddr gateway;
  int oif = 0;  // for a multipath route: the first next hop's
  uint32_t table = 0;
  uint8_t protocol = 0;
  uint8_t scope = 0;
  uint8_t type = 0;
  uint32_t priority = 0;
  unsigned flags = 0;  // rtm_flags (RTNH_F_ONLINK, ...)
};

struct Neighbour {  // an ARP entry (AF_INET) or a forwarding-database entry (AF_BRIDGE)
  uint8_t family = 0;
  int ifindex = 0;
  bool hasDst = false;
  IpAddr dst;  // ARP: the address; FDB of a VXLAN device: the remote
  std::string mac;
  uint16_t state = 0;  // NUD_*
  uint8_t flags = 0;   // NTF_*
};

// The dumps retry an interrupted dump a few times. They return 0 or an errno
// with `error` set.
int getLink(Socket& s, const std::string& name, Link& out, std::string& error);  // ENODEV when absent
int dumpLinks(Socket& s, std::vector<Link>& out, std::string& error);
int dumpAddresses(Socket& s, std::vector<Address>& out, std::string& error);  // IPv4
int dumpRoutes(Socket& s, std::vector<Route>& out, std::string& error);       // IPv4, every table
int dumpNeighbours(Socket& s, uint8_t family, std::vector<Neighbour>& out, std::string& error);

// Writes. Each returns 0 or an errno with `error` set to the kernel's text.
//
// addRoute: the route `r` describes (dst, gateway when hasGateway, oif when
// set, table (0 = main), protocol, scope, type (0 = unicast), priority,
// RTNH_F_ONLINK in flags), created, or replaced when `replace` (the kernel
// replaces the route of the same table, prefix and priority).
int addRoute(Socket& s, const Route& r, bool replace, std::string& error);
// deleteRoute: the route of r.dst in r.table (0 = main) whose protocol is
// r.protocol, and gateway, oif, priority when set (as a dump reports them,
// so a dumped route deletes exactly itself). ESRCH when there is none.
int deleteRoute(Socket& s, const Route& r, std::string& error);
// setNeighbour: creates or replaces an ARP entry (AF_INET: dst → mac) or an
// FDB entry (AF_BRIDGE: mac, optionally → dst, with n.flags such as NTF_SELF),
// in state n.state.
int setNeighbour(Socket& s, const Neighbour& n, std::string& error);
// deleteNeighbour: the ARP entry of n.dst, or the whole FDB entry of n.mac. ENOENT when absent.
int deleteNeighbour(Socket& s, const Neighbour& n, std::string& error);
// addAddress: creates or replaces a.address/a.prefixLen on a.ifindex.
int addAddress(Socket& s, const Address& a, std::string& error);
int deleteAddress(Socket& s, const Address& a, std::string& error);

// Deletes the link named `name`. Returns 0, ENODEV when there was none, or
// another errno with `error` set.
int deleteLink(Socket& s, const std::string& name, std::string& error);
// Sets IFF_UP on the link.
int setLinkUp(Socket& s, int ifindex, std::string& error);

}  // namespace sluice::runtime::netlink
