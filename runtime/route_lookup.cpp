#include "runtime/route_lookup.h"

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include <fmt/format.h>

namespace sluice::runtime {

namespace {

struct Parsed {
  RouteHop hop;
  bool found = false;
};

int onAttribute(const nlattr* attr, void* data) {
  auto* parsed = static_cast<Parsed*>(data);
  switch (mnl_attr_get_type(attr)) {
    case RTA_OIF:
      if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
        parsed->hop.ifindex = int(mnl_attr_get_u32(attr));
        parsed->found = true;
      }
      break;
    case RTA_GATEWAY:
      parsed->hop.viaGateway = true;
      break;
    default:
      break;
  }
  return MNL_CB_OK;
}

int onMessage(const nlmsghdr* nlh, void* data) {
  auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  static_cast<Parsed*>(data)->hop.local = rtm->rtm_type == RTN_LOCAL;
  return mnl_attr_parse(nlh, sizeof(*rtm), onAttribute, data);
}

}  // namespace

std::optional<RouteHop> routeTo(const IpAddr& dst, std::string& error) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = unsigned(time(nullptr));
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = dst.isV4() ? AF_INET : AF_INET6;
  rtm->rtm_dst_len = uint8_t(dst.bits());
  mnl_attr_put(nlh, RTA_DST, dst.isV4() ? 4 : 16, dst.bytes.data());

  mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
  if (!nl) {
    error = fmt::format("cannot open a netlink socket: {}", std::strerror(errno));
    return std::nullopt;
  }
  struct Closer {
    mnl_socket* s;
    ~Closer() { mnl_socket_close(s); }
  } closer{nl};
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 || mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
    error = fmt::format("netlink: {}", std::strerror(errno));
    return std::nullopt;
  }
  unsigned portid = mnl_socket_get_portid(nl);
  Parsed parsed;
  ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
  if (n < 0) {
    error = fmt::format("netlink: {}", std::strerror(errno));
    return std::nullopt;
  }
  // An error reply (no route) comes back as NLMSG_ERROR; mnl_cb_run turns it into errno.
  if (mnl_cb_run(buf.data(), size_t(n), nlh->nlmsg_seq, portid, onMessage, &parsed) < 0) {
    error = fmt::format("no route to {}: {}", dst.str(), std::strerror(errno));
    return std::nullopt;
  }
  if (!parsed.found) {
    error = fmt::format("the route to {} names no interface", dst.str());
    return std::nullopt;
  }
  char name[IF_NAMESIZE] = {};
  if (if_indextoname(unsigned(parsed.hop.ifindex), name)) parsed.hop.ifname = name;
  return parsed.hop;
}

}  // namespace sluice::runtime
