// Loading a node's compiled object into the kernel with libbpf: maps pinned
// under a per-node bpffs directory (shared by every program generation of
// that node, so connection tracking survives swaps), every program verified,
// the IP cache and the service tables filled from the node's IR, and a
// generic-mode object's policy tables (its .sluice.tables section) written
// into its own, unpinned maps before load() returns. Nothing is half-loaded: on failure
// no program stays loaded and the error says which program the verifier
// refused and why.
#pragma once

#include <map>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "codegen/codegen.h"
#include "ir/ir.h"

struct bpf_object;

namespace sluice::runtime {

// Mounts bpffs at /sys/fs/bpf if it is not mounted (tests and CLI run as root).
// Returns an empty string on success, else what went wrong.
std::string ensureBpffs();

struct ProgramStats {
  std::string name;
  int fd = -1;
  uint32_t instructions = 0;       // xlated BPF instructions
  uint32_t verifiedInstructions = 0;  // instructions the verifier processed
  uint32_t btfId = 0;
  double loadMs = 0;
};

class LoadedNode {
 public:
  LoadedNode() = default;
  LoadedNode(const LoadedNode&) = delete;
  LoadedNode& operator=(const LoadedNode&) = delete;
  LoadedNode(LoadedNode&& other) noexcept;
  LoadedNode& operator=(LoadedNode&& other) noexcept;
  ~LoadedNode();

  // Loads `compiled` with maps pinned under `pinDir` (created if missing).
  // Returns false with `error` set (verifier log included) on failure.
  bool load(const codegen::CompiledNode& compiled, const ir::NodeProgram& node, const std::string& pinDir,
            std::string& error);
  // load() without writing the node's maps: the programs of `compiled`
  // verified, the pinned maps they share opened, nothing synced. For an
  // object whose maps another LoadedNode keeps in step (the agent's first
  // tier), and safe on another thread than that one's.
  bool loadPrograms(const codegen::CompiledNode& compiled, const std::string& nodeName, const std::string& pinDir,
                    std::string& error);
  // A generic-mode object's own tables get room for this many entries, not
  // just those of its section (the agent's first tier adds tables later).
  // Call before load().
  void setGenericCapacity(uint32_t policyEntries, uint32_t cidrEntries) {
    genericCapacity_ = {policyEntries, cidrEntries};
  }

  const std::vector<ProgramStats>& programs() const { return programs_; }
  int programFd(const std::string& name) const;
  int mapFd(const std::string& name) const;
  // Makes the IP cache say what the node's table says, writing only the
  // entries that differ from what this node last wrote.
  bool syncIpcache(const ir::NodeProgram& node, std::string& error);
  // Makes the service maps (sluice_svc_v1, sluice_be_v1) say what the node's
  // service table says, in place, writing only the entries that differ:
  // programs keep running, a frontend keeps its
  // service id across syncs (and program generations: ids are read back from
  // the pinned map), so tracked connections and affinity stay meaningful.
  bool syncServices(const ir::NodeProgram& node, std::string& error);
  // Makes the node's settings (sluice_cfg_v2: masquerade, its address and
  // SNAT ports) and the destinations never masqueraded (sluice_nomasq_v1)
  // say what the node's IR says. load() calls it too.
  bool syncConfig(const ir::NodeProgram& node, std::string& error);
  // The ports masquerade may take (call before load()); by default, the ones
  // above this network namespace's ephemeral range (snatPortRange()).
  void setSnatPorts(uint16_t min, uint16_t max) { snatPorts_ = {min, max}; }
  // The interface masqueraded connections leave by (0: let the stack route
  // them). Takes effect at the next syncConfig().
  void setUplinkIfindex(uint32_t ifindex) { uplinkIfindex_ = ifindex; }
  // The overlay's UDP port (0: none), whose datagrams to the node's address
  // the uplink program passes at once. Call before load().
  void setVxlanPort(uint16_t port) { vxlanPort_ = port; }

  // What a service id (sluice_abi.h) stands for, for `trace`.
  struct ServiceSlot {
    std::string service;  // "ns/name"
    std::string portName;
    ir::L4Proto proto = ir::L4Proto::TCP;
    uint16_t port = 0;
    bool external = false;  // the backend set of external / load-balancer addresses
    bool uplink = false;    // looked up by the uplink program (NodePort, external / LB from outside)
  };
  const ServiceSlot* serviceSlot(uint32_t serviceId) const;
  // Takes over what `previous` (an earlier generation of the same node, same
  // pinned maps) knows it wrote, so this one's first sync need not read the
  // maps back. Call before load().
  void inheritSyncState(const LoadedNode& previous);
  // Unpins this node's maps (the directory is removed when empty).
  void unpinMaps();

 private:
  bpf_object* obj_ = nullptr;
  std::string pinDir_;
  std::vector<ProgramStats> programs_;
  std::map<uint32_t, ServiceSlot> services_;
  // What the service maps hold (raw key bytes -> raw value bytes), as this
  // node last wrote them, so that a sync writes and deletes only what changed
  // (a backend change is then a few map writes at any number of services).
  // Read from the pinned maps by the first sync: another generation, or a
  // process before a restart, may have written them. One LoadedNode writes a
  // node's maps at a time.
  std::map<std::string, std::string> servicesWritten_, backendsWritten_;
  bool serviceMapsRead_ = false;
  std::map<uint32_t, uint32_t> ipcacheWritten_;  // address (network order) -> identity
  bool ipcacheRead_ = false;
  std::optional<std::pair<uint16_t, uint16_t>> snatPorts_;
  uint32_t uplinkIfindex_ = 0;
  uint16_t vxlanPort_ = 0;
  std::pair<uint32_t, uint32_t> genericCapacity_{0, 0};
};

// Ports for masquerade that the node's own sockets never take: those above
// net.ipv4.ip_local_port_range (Linux's default 32768-60999 gives
// 61000-65535). Empty, with `error`, when fewer than 1,024 are left there.
std::optional<std::pair<uint16_t, uint16_t>> snatPortRange(std::string& error);

}  // namespace sluice::runtime
