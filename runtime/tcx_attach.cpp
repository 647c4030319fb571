#include "runtime/tcx_attach.h"

#include <bpf/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>

namespace sluice::runtime {

namespace {

int attachType(TcHook hook) { return hook == TcHook::Ingress ? kBpfTcxIngress : kBpfTcxEgress; }

std::string where(int ifindex, TcHook hook) {
  char name[IF_NAMESIZE] = {};
  if (ifindex > 0 && if_indextoname(unsigned(ifindex), name))
    return fmt::format("tcx {} of {} (ifindex {})", toString(hook), name, ifindex);
  return fmt::format("tcx {} of ifindex {}", toString(hook), ifindex);
}

struct LinkTarget {
  uint32_t type = 0, ifindex = 0, attachType = 0;
};

// What a link fd is attached to. The tcx member of bpf_link_info's union
// ({ifindex, attach_type}) is not in Debian 12's headers; it starts where the
// xdp member ({ifindex}) does.
bool linkTarget(int fd, LinkTarget& out) {
  bpf_link_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return false;
  out.type = info.type;
  uint32_t words[2];
  std::memcpy(words, &info.xdp, sizeof words);
  out.ifindex = words[0];
  out.attachType = words[1];
  return true;
}

}  // namespace

bool tcxAvailable() {
  static std::once_flag once;
  static bool available = false;
  std::call_once(once, [] {
    uint32_t count = 0, flags = 0;
    // Kernels without tcx reject the attach type itself (EINVAL).
    available = bpf_prog_query(1, bpf_attach_type(kBpfTcxIngress), 0, &flags, nullptr, &count) == 0;
  });
  return available;
}

int pinnedTcxIfindex(const std::string& pinPath) {
  int fd = bpf_obj_get(pinPath.c_str());
  if (fd < 0) return -1;
  LinkTarget t;
  int ifindex = linkTarget(fd, t) && t.type == kBpfLinkTypeTcx ? int(t.ifindex) : 0;
  ::close(fd);
  return ifindex;
}

bool attachTcx(int ifindex, TcHook hook, int progFd, const std::string& pinPath, std::string& error) {
  int fd = bpf_obj_get(pinPath.c_str());
  if (fd >= 0) {
    LinkTarget t;
    if (linkTarget(fd, t) && t.type == kBpfLinkTypeTcx && int(t.ifindex) == ifindex &&
        int(t.attachType) == attachType(hook)) {
      int err = bpf_link_update(fd, progFd, nullptr);
      int saved = errno;
      ::close(fd);
      if (err == 0) return true;
      error = fmt::format("{}: cannot replace the program: {}", where(ifindex, hook), std::strerror(saved));
      return false;
    }
    // A pin from an interface that is gone (or another one under the same
    // name): it is not ours to update; drop it.
    ::close(fd);
    ::unlink(pinPath.c_str());
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(pinPath).parent_path(), ec);
  int link = bpf_link_create(progFd, ifindex, bpf_attach_type(attachType(hook)), nullptr);
  if (link < 0) {
    error = fmt::format("{}: cannot attach: {}", where(ifindex, hook), std::strerror(errno));
    return false;
  }
  if (bpf_obj_pin(link, pinPath.c_str()) != 0) {
    // Unpinned, the link would vanish with this fd: better no new program
    // than one that disappears when the agent does.
    error = fmt::format("{}: cannot pin the link at {}: {}", where(ifindex, hook), pinPath, std::strerror(errno));
    bpf_link_detach(link);
    ::close(link);
    return false;
  }
  ::close(link);
  return true;
}

bool detachTcx(const std::string& pinPath, std::string& error) {
  int fd = bpf_obj_get(pinPath.c_str());
  if (fd < 0) {
    if (errno == ENOENT) return true;
    error = fmt::format("{}: {}", pinPath, std::strerror(errno));
    return false;
  }
  int err = bpf_link_detach(fd);
  int saved = errno;
  ::close(fd);
  ::unlink(pinPath.c_str());
  // A defunct link (interface gone) is already detached.
  if (err != 0 && saved != ENOLINK && saved != EINVAL) {
    error = fmt::format("{}: cannot detach: {}", pinPath, std::strerror(saved));
    return false;
  }
  return true;
}

std::vector<uint32_t> tcxProgramIds(int ifindex, TcHook hook, std::string& error) {
  std::vector<uint32_t> ids(64);
  uint32_t count = uint32_t(ids.size()), flags = 0;
  if (bpf_prog_query(ifindex, bpf_attach_type(attachType(hook)), 0, &flags, ids.data(), &count) != 0) {
    error = fmt::format("{}: cannot query: {}", where(ifindex, hook), std::strerror(errno));
    return {};
  }
  ids.resize(count);
  return ids;
}

}  // namespace sluice::runtime
