#include "runtime/tc_attach.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::runtime {

const char* toString(TcHook hook) { return hook == TcHook::Ingress ? "ingress" : "egress"; }

namespace {

bpf_tc_attach_point attachPoint(TcHook hook) { return hook == TcHook::Ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS; }

// "tc ingress of lxc12340 (ifindex 7)", named in the caller's namespace.
std::string where(int ifindex, TcHook hook) {
  char name[IF_NAMESIZE + 1] = {};
  if (ifindex > 0 && if_indextoname(static_cast<unsigned>(ifindex), name))
    return fmt::format("tc {} of {} (ifindex {})", toString(hook), name, ifindex);
  return fmt::format("tc {} of ifindex {}", toString(hook), ifindex);
}

// False (with `error`) when the interface does not exist in this namespace:
// the kernel's answers for a missing interface and a missing qdisc can look
// alike, so check first and say the clear thing.
bool interfaceExists(int ifindex, TcHook hook, std::string& error) {
  char name[IF_NAMESIZE + 1] = {};
  if (ifindex > 0 && if_indextoname(static_cast<unsigned>(ifindex), name)) return true;
  error = fmt::format("tc {}: no interface with ifindex {} in this network namespace", toString(hook), ifindex);
  return false;
}

// libbpf 1.x returns negative error codes.
std::string why(int rc) { return std::strerror(rc < 0 ? -rc : rc); }

// The kind of the qdisc in the interface's ingress slot ("clsact",
// "ingress"), "" when there is none; false with `error` when netlink fails.
// One RTM_GETQDISC request (NLM_F_ECHO: the kernel answers a single get only
// when asked to echo), answered in the calling thread's namespace.
bool ingressQdiscKind(int ifindex, std::string& kind, std::string& error) {
  kind.clear();
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    error = fmt::format("cannot open a netlink socket: {}", std::strerror(errno));
    return false;
  }
  timeval timeout{2, 0};  // never hang a dataplane on a lost answer
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  struct {
    nlmsghdr nh;
    tcmsg tc;
  } req{};
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = RTM_GETQDISC;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ECHO | NLM_F_ACK;
  req.nh.nlmsg_seq = 1;
  req.tc.tcm_family = AF_UNSPEC;
  req.tc.tcm_ifindex = ifindex;
  req.tc.tcm_parent = TC_H_INGRESS;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, &req, sizeof req, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    error = fmt::format("cannot ask for the interface's qdisc: {}", std::strerror(errno));
    close(fd);
    return false;
  }
  // Read until the acknowledgement (an NLMSG_ERROR, 0 on success).
  bool done = false, ok = false;
  while (!done) {
    alignas(nlmsghdr) char buf[8192];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = fmt::format("cannot read the interface's qdisc: {}", n < 0 ? std::strerror(errno) : "no answer");
      break;
    }
    int left = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, static_cast<unsigned>(left));
         nh = NLMSG_NEXT(nh, left)) {
      if (nh->nlmsg_seq != req.nh.nlmsg_seq) continue;
      if (nh->nlmsg_type == NLMSG_ERROR) {
        int err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(nh))->error;
        if (err == 0 || err == ENOENT) ok = true;  // ENOENT: no qdisc there
        else error = fmt::format("cannot read the interface's qdisc: {}", std::strerror(err));
        done = true;
        break;
      }
      if (nh->nlmsg_type == NLMSG_DONE) {
        ok = done = true;
        break;
      }
      if (nh->nlmsg_type != RTM_NEWQDISC) continue;
      auto* tc = static_cast<tcmsg*>(NLMSG_DATA(nh));
      if (tc->tcm_ifindex != ifindex) continue;
      int len = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof *tc));
      for (auto* a = reinterpret_cast<rtattr*>(TCA_RTA(tc)); RTA_OK(a, len); a = RTA_NEXT(a, len))
        if (a->rta_type == TCA_KIND) {
          const char* text = static_cast<const char*>(RTA_DATA(a));
          kind.assign(text, strnlen(text, RTA_PAYLOAD(a)));
        }
    }
  }
  close(fd);
  return ok;
}

}  // namespace

bool attachTc(int ifindex, TcHook hook, int progFd, std::string& error) {
  if (progFd < 0) {
    error = fmt::format("{}: no program to attach (fd {})", where(ifindex, hook), progFd);
    return false;
  }
  if (!interfaceExists(ifindex, hook, error)) return false;
  LIBBPF_OPTS(bpf_tc_hook, tcHook, .ifindex = ifindex, .attach_point = attachPoint(hook));
  // Creates a clsact qdisc (serving both hooks); EEXIST: one is there already.
  int rc = bpf_tc_hook_create(&tcHook);
  if (rc < 0 && rc != -EEXIST) {
    error = fmt::format("{}: cannot create the clsact qdisc: {}", where(ifindex, hook), why(rc));
    return false;
  }
  if (rc == -EEXIST) {
    // EEXIST also answers for a plain `ingress` qdisc, which has a single
    // block: an "egress" filter would land on ingress and judge the wrong
    // packets. Refuse rather than enforce the wrong direction.
    std::string kind, e;
    if (!ingressQdiscKind(ifindex, kind, e)) {
      error = fmt::format("{}: {}", where(ifindex, hook), e);
      return false;
    }
    if (kind != "clsact") {
      error = fmt::format("{}: the interface's ingress qdisc is '{}', not clsact; remove it first", where(ifindex, hook),
                          kind.empty() ? "unknown" : kind);
      return false;
    }
  }
  // Fixed handle and priority + REPLACE: the first attach creates the filter,
  // every later one swaps its program atomically.
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = progFd, .flags = BPF_TC_F_REPLACE, .handle = kTcHandle,
              .priority = kTcPriority);
  rc = bpf_tc_attach(&tcHook, &opts);
  if (rc < 0) {
    error = fmt::format("{}: cannot attach program fd {} at handle {:#x} priority {}: {}{}", where(ifindex, hook),
                        progFd, kTcHandle, kTcPriority, why(rc),
                        rc == -EINVAL ? " (is it a SCHED_CLS program?)" : "");
    return false;
  }
  return true;
}

// No clsact qdisc means no sluice filter; asking libbpf anyway makes the
// kernel log "Parent Qdisc doesn't exists" for every such interface.
static bool hasClsact(int ifindex) {
  std::string kind, ignored;
  return !ingressQdiscKind(ifindex, kind, ignored) || kind == "clsact";  // unsure: ask libbpf
}

bool detachTc(int ifindex, TcHook hook, std::string& error) {
  if (!interfaceExists(ifindex, hook, error)) return false;
  if (!hasClsact(ifindex)) return true;
  LIBBPF_OPTS(bpf_tc_hook, tcHook, .ifindex = ifindex, .attach_point = attachPoint(hook));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  int rc = bpf_tc_detach(&tcHook, &opts);
  // ENOENT: no such filter. EINVAL: the kernel's answer when there is no
  // clsact qdisc ("Parent Qdisc doesn't exists"); the interface exists (checked above).
  if (rc == 0 || rc == -ENOENT || rc == -EINVAL) return true;
  error = fmt::format("{}: cannot detach the filter at handle {:#x} priority {}: {}", where(ifindex, hook), kTcHandle,
                      kTcPriority, why(rc));
  return false;
}

int64_t attachedTcProgramId(int ifindex, TcHook hook, std::string& error) {
  if (!interfaceExists(ifindex, hook, error)) return -1;
  if (!hasClsact(ifindex)) return 0;
  LIBBPF_OPTS(bpf_tc_hook, tcHook, .ifindex = ifindex, .attach_point = attachPoint(hook));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  int rc = bpf_tc_query(&tcHook, &opts);
  if (rc == -ENOENT || rc == -EINVAL) return 0;  // no filter / no clsact qdisc (as in detachTc)
  if (rc < 0) {
    error = fmt::format("{}: cannot query the filter at handle {:#x} priority {}: {}", where(ifindex, hook), kTcHandle,
                        kTcPriority, why(rc));
    return -1;
  }
  return opts.prog_id;
}

}  // namespace sluice::runtime
