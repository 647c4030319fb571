// Attaching sluice programs with tcx (kernel >= 6.6): a BPF link per hook,
// pinned in bpffs so that it outlives the process that made it (an unpinned
// tcx link goes away with its last fd). A program swap is bpf_link_update on
// that link: atomic, and no netlink round trip. Where the kernel has no tcx,
// runtime/tc_attach.h (classic tc filters, replaced in place) does the same.
//
// libbpf 1.1 has no tcx wrappers and Debian 12's UAPI headers predate tcx:
// the attach types and the link type are spelt out here (kernel UAPI values).
// Like tc_attach, ifindexes are those of the calling thread's network namespace.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tc_attach.h"

namespace sluice::runtime {

inline constexpr int kBpfTcxIngress = 46;  // enum bpf_attach_type BPF_TCX_INGRESS
inline constexpr int kBpfTcxEgress = 47;   // BPF_TCX_EGRESS
inline constexpr uint32_t kBpfLinkTypeTcx = 11;

// Whether this kernel attaches tcx links (probed once, on the loopback interface).
bool tcxAvailable();

// Makes `progFd` the program of the hook through the link pinned at `pinPath`:
// updates that link in place when it exists and is attached to this interface
// and hook, else creates a link and pins it there (replacing a stale pin, e.g.
// one whose interface went away). False with `error` naming the interface,
// the hook and the reason; on failure whatever was attached stays.
bool attachTcx(int ifindex, TcHook hook, int progFd, const std::string& pinPath, std::string& error);

// Detaches the link pinned at `pinPath` (if any) and removes the pin. No pin
// is success: the end state is the one asked for.
bool detachTcx(const std::string& pinPath, std::string& error);

// The interface a pinned tcx link is attached to, 0 when the link is defunct
// (its interface went away) or -1 when there is no such pin.
int pinnedTcxIfindex(const std::string& pinPath);

// Ids of the programs attached to the hook through tcx, in run order.
std::vector<uint32_t> tcxProgramIds(int ifindex, TcHook hook, std::string& error);

}  // namespace sluice::runtime
