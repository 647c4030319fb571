// Attaching sluice programs to tc hooks, the way the dataplane does it on a
// node: a pod's `from_pod_*` program on tc ingress of its host-side veth
// (packets the pod sends), its `to_pod_*` program on tc egress of it (packets
// delivered to the pod). A node's uplink program (`from_netdev`, NodePort and
// external addresses from outside) goes on tc ingress of its uplink interface(s):
// attachTc(uplinkIfindex, TcHook::Ingress, fd).
//
// One filter per hook, always at the same handle and priority (kTcHandle,
// kTcPriority): attaching again replaces the program in place, atomically
// (BPF_TC_F_REPLACE), so no packet ever sees an interface without a program
// during a swap — and connection tracking lives in pinned maps, so tracked
// connections survive it. Other tc filters on the interface (other handles or
// priorities) are left alone.
//
// Network namespaces: `ifindex` is resolved in the network namespace of the
// calling thread, and the netlink socket libbpf opens for each call is created
// in that namespace too. The caller must already be in the namespace that
// owns the interface (e.g. setns(CLONE_NEWNET) on a dedicated thread; not `ip
// netns exec`, which remounts /sys and hides bpffs). Program fds are not tied
// to a namespace: a program loaded anywhere can be attached here.
//
// Uses only the libbpf 1.1 tc API (bpf_tc_hook_create, bpf_tc_attach,
// bpf_tc_detach, bpf_tc_query), i.e. classic tc filters under a clsact qdisc
// in direct-action mode — not tcx links, which libbpf 1.1 does not wrap.
#pragma once

#include <cstdint>
#include <string>

namespace sluice::runtime {

enum class TcHook {
  Ingress,  // packets the interface receives (on a host-side veth: what the pod sends)
  Egress,   // packets the interface transmits (on a host-side veth: what the pod receives)
};

const char* toString(TcHook hook);  // "ingress" / "egress"

// The tc filter sluice owns on each hook ("pref 1 ... handle 0x5c1" in `tc filter show`).
inline constexpr uint32_t kTcHandle = 0x5c1;
inline constexpr uint32_t kTcPriority = 1;

// Attaches the SCHED_CLS program `progFd` to the hook of interface `ifindex`
// (in the calling thread's network namespace). Creates the clsact qdisc when
// the interface has none; replaces sluice's filter when one is attached.
// Refuses an interface whose ingress slot holds another qdisc (a plain
// `ingress` qdisc has one block for both directions: the program would judge
// the wrong packets). Returns false with `error` naming the interface, the
// hook and the reason; a refused attach leaves the attached program in place.
bool attachTc(int ifindex, TcHook hook, int progFd, std::string& error);

// Removes sluice's filter from the hook. Detaching a hook where sluice has
// nothing attached (no filter, or no clsact qdisc) succeeds: the end state is
// the one asked for. The clsact qdisc itself stays, since other filters may
// use it. Returns false with `error` when the interface does not exist or the
// kernel refuses.
bool detachTc(int ifindex, TcHook hook, std::string& error);

// The id of the program sluice has attached to the hook, 0 when none (no
// filter, no qdisc), -1 with `error` set on failure (e.g. no such interface).
int64_t attachedTcProgramId(int ifindex, TcHook hook, std::string& error);

}  // namespace sluice::runtime
