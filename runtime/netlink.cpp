#include "runtime/netlink.h"

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace sluice::runtime::netlink {

namespace {

constexpr size_t kRequestSize = 8192;
constexpr size_t kReceiveSize = 65536;  // past the kernel's 32 KiB dump batches
constexpr int kDumpAttempts = 5;

template <class F>
void forEachAttribute(const void* start, size_t len, F&& f) {
  const char* p = static_cast<const char*>(start);
  int remaining = int(len);
  while (mnl_attr_ok(reinterpret_cast<const nlattr*>(p), remaining)) {
    const auto* attr = reinterpret_cast<const nlattr*>(p);
    f(attr);
    int step = int(MNL_ALIGN(attr->nla_len));
    p += step;
    remaining -= step;
  }
}

template <class F>
void forEachNested(const nlattr* nest, F&& f) {
  forEachAttribute(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), f);
}

template <class T, class F>
void forEachMessageAttribute(const nlmsghdr* nlh, F&& f) {
  const char* payload = static_cast<const char*>(mnl_nlmsg_get_payload(nlh));
  size_t headerLen = MNL_ALIGN(sizeof(T));
  size_t payloadLen = mnl_nlmsg_get_payload_len(nlh);
  if (payloadLen < headerLen) return;
  forEachAttribute(payload + headerLen, payloadLen - headerLen, f);
}

IpAddr v4FromAttribute(const nlattr* attr) {
  IpAddr a;
  if (mnl_attr_get_payload_len(attr) >= 4) std::memcpy(a.bytes.data(), mnl_attr_get_payload(attr), 4);
  return a;
}

// Reads the text and the errno of an NLMSG_ERROR (or of the int of NLMSG_DONE).
struct KernelAnswer {
  int code = 0;  // positive errno, 0 = success
  std::string extack;
};

void parseExtack(const nlmsghdr* nlh, size_t offset, KernelAnswer& answer) {
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return;
  size_t total = nlh->nlmsg_len;
  if (offset >= total) return;
  std::string missing;
  forEachAttribute(reinterpret_cast<const char*>(nlh) + offset, total - offset, [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
      case NLMSGERR_ATTR_MSG:
        if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0) answer.extack = mnl_attr_get_str(attr);
        break;
      case NLMSGERR_ATTR_MISS_TYPE:
        if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
          missing = fmt::format("missing attribute type {}", mnl_attr_get_u32(attr));
        break;
      default:
        break;
    }
  });
  if (answer.extack.empty()) answer.extack = missing;
}

KernelAnswer readError(const nlmsghdr* nlh) {
  KernelAnswer answer;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr)) {
    answer.code = EBADMSG;
    answer.extack = "truncated netlink error message";
    return answer;
  }
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  answer.code = -err->error;
  // The TLVs follow the echoed request: only its header when capped.
  size_t offset = MNL_NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED) && err->msg.nlmsg_len > sizeof(nlmsghdr))
    offset += MNL_ALIGN(err->msg.nlmsg_len - sizeof(nlmsghdr));
  parseExtack(nlh, offset, answer);
  return answer;
}

KernelAnswer readDone(const nlmsghdr* nlh) {
  KernelAnswer answer;
  if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
    int value = 0;
    std::memcpy(&value, mnl_nlmsg_get_payload(nlh), sizeof value);
    answer.code = value < 0 ? -value : 0;
    parseExtack(nlh, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(int)), answer);
  }
  return answer;
}

}  // namespace

// ---- Message ---------------------------------------------------------------------

Message::Message(uint16_t type, uint16_t flags) : buf_(kRequestSize, 0) {
  nlh_ = mnl_nlmsg_put_header(buf_.data());
  nlh_->nlmsg_type = type;
  nlh_->nlmsg_flags = NLM_F_REQUEST | flags;
}

uint16_t Message::type() const { return nlh_->nlmsg_type; }

void* Message::putStruct(size_t size) {
  if (nlh_->nlmsg_len + MNL_ALIGN(size) > buf_.size())
    throw std::length_error("netlink request larger than its buffer");
  return mnl_nlmsg_put_extra_header(nlh_, size);
}

void Message::put(uint16_t type, const void* data, size_t len) {
  // Requests are a few hundred bytes; running out of the buffer is a bug here.
  if (!mnl_attr_put_check(nlh_, buf_.size(), type, len, data))
    throw std::length_error("netlink request larger than its buffer");
}

void Message::putU8(uint16_t type, uint8_t value) { put(type, &value, sizeof value); }
void Message::putU16(uint16_t type, uint16_t value) { put(type, &value, sizeof value); }
void Message::putU32(uint16_t type, uint32_t value) { put(type, &value, sizeof value); }
void Message::putString(uint16_t type, const std::string& value) {
  put(type, value.c_str(), value.size() + 1);
}
void Message::putAddress(uint16_t type, const IpAddr& address) {
  put(type, address.bytes.data(), address.isV4() ? 4 : 16);
}

nlattr* Message::beginNested(uint16_t type) {
  nlattr* nest = mnl_attr_nest_start_check(nlh_, buf_.size(), type);
  if (!nest) throw std::length_error("netlink request larger than its buffer");
  return nest;
}

void Message::endNested(nlattr* nest) { mnl_attr_nest_end(nlh_, nest); }

// ---- Socket ------------------------------------------------------------------------

std::string kernelErrorText(int code, const std::string& extack) {
  if (extack.empty()) return std::strerror(code);
  return fmt::format("{} ({})", extack, std::strerror(code));
}

Socket::~Socket() {
  if (nl_) mnl_socket_close(nl_);
}

Socket::Socket(Socket&& other) noexcept
    : nl_(std::exchange(other.nl_, nullptr)), portid_(other.portid_), seq_(other.seq_) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (nl_) mnl_socket_close(nl_);
    nl_ = std::exchange(other.nl_, nullptr);
    portid_ = other.portid_;
    seq_ = other.seq_;
  }
  return *this;
}

bool Socket::open(std::string& error) {
  if (nl_) return true;
  mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!nl) {
    error = fmt::format("cannot open a netlink socket: {}", std::strerror(errno));
    return false;
  }
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    error = fmt::format("cannot bind a netlink socket: {}", std::strerror(errno));
    mnl_socket_close(nl);
    return false;
  }
  // Best effort: kernels without them still answer, with bare errnos.
  int on = 1;
  mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &on, sizeof on);
  mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &on, sizeof on);
  nl_ = nl;
  portid_ = mnl_socket_get_portid(nl);
  seq_ = unsigned(time(nullptr));
  return true;
}

int Socket::request(Message& msg, std::string& error,
                    const std::function<void(const nlmsghdr*)>& onReply) {
  msg.header()->nlmsg_flags |= NLM_F_ACK;
  return exchange(msg, onReply, error);
}

int Socket::dump(Message& msg, const std::function<void(const nlmsghdr*)>& onReply, std::string& error) {
  msg.header()->nlmsg_flags |= NLM_F_DUMP;
  return exchange(msg, onReply, error);
}

int Socket::exchange(Message& msg, const std::function<void(const nlmsghdr*)>& onReply,
                     std::string& error) {
  if (!nl_) {
    error = "netlink socket is not open";
    return EBADF;
  }
  nlmsghdr* nlh = msg.header();
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) {
    int code = errno;
    error = fmt::format("netlink send: {}", std::strerror(code));
    return code;
  }
  std::vector<char> buf(kReceiveSize);
  bool interrupted = false;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      int code = errno;
      error = fmt::format("netlink receive: {}", std::strerror(code));
      return code;
    }
    int len = int(n);
    for (auto* reply = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(reply, len);
         reply = mnl_nlmsg_next(reply, &len)) {
      // Leftovers of an earlier exchange that gave up early are skipped.
      if (reply->nlmsg_seq != nlh->nlmsg_seq || (reply->nlmsg_pid && reply->nlmsg_pid != portid_)) continue;
      if (reply->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      switch (reply->nlmsg_type) {
        case NLMSG_NOOP:
          break;
        case NLMSG_ERROR: {
          KernelAnswer answer = readError(reply);
          if (answer.code != 0) error = kernelErrorText(answer.code, answer.extack);
          return answer.code;
        }
        case NLMSG_DONE: {
          KernelAnswer answer = readDone(reply);
          if (answer.code != 0) {
            error = kernelErrorText(answer.code, answer.extack);
            return answer.code;
          }
          if (interrupted) {
            error = "the dump was interrupted by a concurrent change";
            return EAGAIN;
          }
          return 0;
        }
        case NLMSG_OVERRUN:
          error = "netlink overrun";
          return ENOBUFS;
        default:
          if (onReply) onReply(reply);
          break;
      }
    }
  }
}

// ---- parsed objects --------------------------------------------------------------------

std::string macText(const uint8_t* bytes, size_t len) {
  std::string s;
  for (size_t i = 0; i < len; ++i) s += fmt::format("{}{:02x}", i ? ":" : "", bytes[i]);
  return s;
}

bool parseMac(const std::string& text, uint8_t (&out)[6]) {
  unsigned v[6];
  char tail;
  if (std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                  &tail) != 6)
    return false;
  for (int i = 0; i < 6; ++i) out[i] = uint8_t(v[i]);
  return true;
}

bool Link::up() const { return flags & IFF_UP; }

namespace {

void parseVxlan(const nlattr* data, VxlanAttributes& v) {
  forEachNested(data, [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
      case IFLA_VXLAN_ID:
        v.vni = mnl_attr_get_u32(attr);
        break;
      case IFLA_VXLAN_LOCAL:
        v.local = v4FromAttribute(attr);
        break;
      case IFLA_VXLAN_PORT:
        v.port = ntohs(mnl_attr_get_u16(attr));
        break;
      case IFLA_VXLAN_LEARNING:
        v.learning = mnl_attr_get_u8(attr) != 0;
        break;
      case IFLA_VXLAN_LINK:
        v.link = int(mnl_attr_get_u32(attr));
        break;
      default:
        break;
    }
  });
}

Link parseLink(const nlmsghdr* nlh) {
  Link link;
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  link.ifindex = ifi->ifi_index;
  link.flags = ifi->ifi_flags;
  forEachMessageAttribute<ifinfomsg>(nlh, [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
      case IFLA_IFNAME:
        if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0) link.name = mnl_attr_get_str(attr);
        break;
      case IFLA_MTU:
        link.mtu = mnl_attr_get_u32(attr);
        break;
      case IFLA_ADDRESS:
        link.mac = macText(static_cast<const uint8_t*>(mnl_attr_get_payload(attr)),
                           mnl_attr_get_payload_len(attr));
        break;
      case IFLA_LINKINFO: {
        const nlattr* data = nullptr;
        forEachNested(attr, [&](const nlattr* info) {
          if (mnl_attr_get_type(info) == IFLA_INFO_KIND) link.kind = mnl_attr_get_str(info);
          if (mnl_attr_get_type(info) == IFLA_INFO_DATA) data = info;
        });
        if (data && link.kind == "vxlan") parseVxlan(data, link.vxlan);
        break;
      }
      default:
        break;
    }
  });
  return link;
}

template <class T>
int dumpWithRetry(Socket& s, std::vector<T>& out, std::string& error,
                  const std::function<Message()>& makeRequest,
                  const std::function<void(const nlmsghdr*, std::vector<T>&)>& parse) {
  int code = 0;
  for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
    out.clear();
    Message msg = makeRequest();
    code = s.dump(msg, [&](const nlmsghdr* nlh) { parse(nlh, out); }, error);
    if (code != EAGAIN) return code;
  }
  return code;
}

}  // namespace

int getLink(Socket& s, const std::string& name, Link& out, std::string& error) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    error = fmt::format("'{}' is not an interface name", name);
    return EINVAL;
  }
  Message msg(RTM_GETLINK, 0);
  msg.familyHeader<ifinfomsg>().ifi_family = AF_UNSPEC;
  msg.putString(IFLA_IFNAME, name);
  msg.putU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  bool found = false;
  int code = s.request(msg, error, [&](const nlmsghdr* nlh) {
    if (nlh->nlmsg_type == RTM_NEWLINK) {
      out = parseLink(nlh);
      found = true;
    }
  });
  if (code == 0 && !found) {
    error = fmt::format("no link named {}", name);
    return ENODEV;
  }
  return code;
}

int dumpLinks(Socket& s, std::vector<Link>& out, std::string& error) {
  return dumpWithRetry<Link>(
      s, out, error,
      [] {
        Message msg(RTM_GETLINK, 0);
        msg.familyHeader<ifinfomsg>().ifi_family = AF_UNSPEC;
        msg.putU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        return msg;
      },
      [](const nlmsghdr* nlh, std::vector<Link>& links) {
        if (nlh->nlmsg_type == RTM_NEWLINK) links.push_back(parseLink(nlh));
      });
}

int dumpAddresses(Socket& s, std::vector<Address>& out, std::string& error) {
  return dumpWithRetry<Address>(
      s, out, error,
      [] {
        Message msg(RTM_GETADDR, 0);
        msg.familyHeader<ifaddrmsg>().ifa_family = AF_INET;
        return msg;
      },
      [](const nlmsghdr* nlh, std::vector<Address>& addresses) {
        if (nlh->nlmsg_type != RTM_NEWADDR) return;
        const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
        if (ifa->ifa_family != AF_INET) return;
        Address a;
        a.ifindex = int(ifa->ifa_index);
        a.prefixLen = ifa->ifa_prefixlen;
        bool haveLocal = false;
        forEachMessageAttribute<ifaddrmsg>(nlh, [&](const nlattr* attr) {
          // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's
          // on point-to-point links, else the same.
          if (mnl_attr_get_type(attr) == IFA_LOCAL) {
            a.address = v4FromAttribute(attr);
            haveLocal = true;
          } else if (mnl_attr_get_type(attr) == IFA_ADDRESS && !haveLocal) {
            a.address = v4FromAttribute(attr);
          }
        });
        addresses.push_back(a);
      });
}

int dumpRoutes(Socket& s, std::vector<Route>& out, std::string& error) {
  return dumpWithRetry<Route>(
      s, out, error,
      [] {
        Message msg(RTM_GETROUTE, 0);
        msg.familyHeader<rtmsg>().rtm_family = AF_INET;
        return msg;
      },
      [](const nlmsghdr* nlh, std::vector<Route>& routes) {
        if (nlh->nlmsg_type != RTM_NEWROUTE) return;
        const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
        if (rtm->rtm_family != AF_INET) return;
        Route r;
        r.dst.addr.family = IpAddr::Family::V4;
        r.dst.prefixLen = rtm->rtm_dst_len;
        r.table = rtm->rtm_table;
        r.protocol = rtm->rtm_protocol;
        r.scope = rtm->rtm_scope;
        r.type = rtm->rtm_type;
        r.flags = rtm->rtm_flags;
        forEachMessageAttribute<rtmsg>(nlh, [&](const nlattr* attr) {
          switch (mnl_attr_get_type(attr)) {
            case RTA_DST:
              r.dst.addr = v4FromAttribute(attr);
              break;
            case RTA_GATEWAY:
              r.gateway = v4FromAttribute(attr);
              r.hasGateway = true;
              break;
            case RTA_OIF:
              r.oif = int(mnl_attr_get_u32(attr));
              break;
            case RTA_TABLE:
              r.table = mnl_attr_get_u32(attr);
              break;
            case RTA_PRIORITY:
              r.priority = mnl_attr_get_u32(attr);
              break;
            case RTA_MULTIPATH: {
              if (mnl_attr_get_payload_len(attr) < sizeof(rtnexthop)) break;
              const auto* nh = static_cast<const rtnexthop*>(mnl_attr_get_payload(attr));
              if (!r.oif) r.oif = nh->rtnh_ifindex;
              break;
            }
            default:
              break;
          }
        });
        routes.push_back(r);
      });
}

int dumpNeighbours(Socket& s, uint8_t family, std::vector<Neighbour>& out, std::string& error) {
  return dumpWithRetry<Neighbour>(
      s, out, error,
      [family] {
        Message msg(RTM_GETNEIGH, 0);
        msg.familyHeader<ndmsg>().ndm_family = family;
        return msg;
      },
      [family](const nlmsghdr* nlh, std::vector<Neighbour>& neighbours) {
        if (nlh->nlmsg_type != RTM_NEWNEIGH) return;
        const auto* ndm = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
        if (ndm->ndm_family != family) return;
        Neighbour n;
        n.family = ndm->ndm_family;
        n.ifindex = ndm->ndm_ifindex;
        n.state = ndm->ndm_state;
        n.flags = ndm->ndm_flags;
        forEachMessageAttribute<ndmsg>(nlh, [&](const nlattr* attr) {
          switch (mnl_attr_get_type(attr)) {
            case NDA_DST:
              if (mnl_attr_get_payload_len(attr) == 4) {  // IPv4 only
                n.dst = v4FromAttribute(attr);
                n.hasDst = true;
              }
              break;
            case NDA_LLADDR:
              n.mac = macText(static_cast<const uint8_t*>(mnl_attr_get_payload(attr)),
                              mnl_attr_get_payload_len(attr));
              break;
            default:
              break;
          }
        });
        neighbours.push_back(n);
      });
}

namespace {

void putRouteHeader(Message& msg, const Route& r, uint8_t scope, uint8_t type) {
  auto& rtm = msg.familyHeader<rtmsg>();
  uint32_t table = r.table ? r.table : RT_TABLE_MAIN;
  rtm.rtm_family = AF_INET;
  rtm.rtm_dst_len = uint8_t(r.dst.prefixLen);
  rtm.rtm_table = table < 256 ? uint8_t(table) : uint8_t(RT_TABLE_UNSPEC);
  rtm.rtm_protocol = r.protocol;
  rtm.rtm_scope = scope;
  rtm.rtm_type = type;
  rtm.rtm_flags = r.flags & RTNH_F_ONLINK;
  msg.putAddress(RTA_DST, r.dst.addr);
  if (table >= 256) msg.putU32(RTA_TABLE, table);
  if (r.hasGateway) msg.putAddress(RTA_GATEWAY, r.gateway);
  if (r.oif) msg.putU32(RTA_OIF, uint32_t(r.oif));
  if (r.priority) msg.putU32(RTA_PRIORITY, r.priority);
}

}  // namespace

int addRoute(Socket& s, const Route& r, bool replace, std::string& error) {
  Message msg(RTM_NEWROUTE, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL));
  putRouteHeader(msg, r, r.scope, r.type ? r.type : uint8_t(RTN_UNICAST));
  return s.request(msg, error);
}

int deleteRoute(Socket& s, const Route& r, std::string& error) {
  Message msg(RTM_DELROUTE, 0);
  // Scope "nowhere" and type 0 match any route; the protocol must match.
  putRouteHeader(msg, r, RT_SCOPE_NOWHERE, 0);
  return s.request(msg, error);
}

int setNeighbour(Socket& s, const Neighbour& n, std::string& error) {
  uint8_t mac[6];
  if (!parseMac(n.mac, mac)) {
    error = fmt::format("'{}' is not a MAC address", n.mac);
    return EINVAL;
  }
  Message msg(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
  auto& ndm = msg.familyHeader<ndmsg>();
  ndm.ndm_family = n.family;
  ndm.ndm_ifindex = n.ifindex;
  ndm.ndm_state = n.state;
  ndm.ndm_flags = n.flags;
  ndm.ndm_type = RTN_UNICAST;
  if (n.hasDst) msg.putAddress(NDA_DST, n.dst);
  msg.put(NDA_LLADDR, mac, sizeof mac);
  return s.request(msg, error);
}

int deleteNeighbour(Socket& s, const Neighbour& n, std::string& error) {
  Message msg(RTM_DELNEIGH, 0);
  auto& ndm = msg.familyHeader<ndmsg>();
  ndm.ndm_family = n.family;
  ndm.ndm_ifindex = n.ifindex;
  ndm.ndm_flags = n.flags;
  if (n.family == AF_BRIDGE) {
    uint8_t mac[6];
    if (!parseMac(n.mac, mac)) {
      error = fmt::format("'{}' is not a MAC address", n.mac);
      return EINVAL;
    }
    msg.put(NDA_LLADDR, mac, sizeof mac);
  } else {
    msg.putAddress(NDA_DST, n.dst);
  }
  return s.request(msg, error);
}

namespace {

int addressRequest(Socket& s, uint16_t type, uint16_t flags, const Address& a, std::string& error) {
  Message msg(type, flags);
  auto& ifa = msg.familyHeader<ifaddrmsg>();
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = uint8_t(a.prefixLen);
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  ifa.ifa_index = unsigned(a.ifindex);
  msg.putAddress(IFA_LOCAL, a.address);
  msg.putAddress(IFA_ADDRESS, a.address);
  return s.request(msg, error);
}

}  // namespace

int addAddress(Socket& s, const Address& a, std::string& error) {
  return addressRequest(s, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, a, error);
}

int deleteAddress(Socket& s, const Address& a, std::string& error) {
  return addressRequest(s, RTM_DELADDR, 0, a, error);
}

int deleteLink(Socket& s, const std::string& name, std::string& error) {
  Message msg(RTM_DELLINK, 0);
  msg.familyHeader<ifinfomsg>().ifi_family = AF_UNSPEC;
  msg.putString(IFLA_IFNAME, name);
  return s.request(msg, error);
}

int setLinkUp(Socket& s, int ifindex, std::string& error) {
  Message msg(RTM_NEWLINK, 0);
  auto& ifi = msg.familyHeader<ifinfomsg>();
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = IFF_UP;
  ifi.ifi_change = IFF_UP;
  return s.request(msg, error);
}

}  // namespace sluice::runtime::netlink
