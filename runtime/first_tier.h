// The agent's first tier (docs/agent.md, "Tiered enforcement"): the programs
// of codegen::compileTierPrograms, loaded and verified once, enforce every
// endpoint whose own specialized programs are not ready yet. An endpoint
// enters the tier when its policy tables (generic mode's, built from the
// same IR: codegen::addGenericTable) are written and its interface is
// pointed at them in sluice_tier_ep_v1; it leaves when its specialized
// programs replace the tier's on its hooks. A changed endpoint gets new
// tables and its interface entry is replaced whole, so a packet meets the
// old tables or the new ones; what an endpoint no longer uses is deleted a
// grace period later (collect()), never under a program that may still
// read it.
//
// The tier's LoadedNode also owns the node's shared maps for the agent: its
// syncs keep the IP cache, the services and the settings in step with the
// state, whichever programs run.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "codegen/codegen.h"
#include "ir/ir.h"
#include "runtime/loader.h"

namespace sluice::runtime {

class FirstTier {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kGracePeriod{1000};

  // Loads the tier object with the node's maps pinned under `pinDir`, and
  // syncs them with `node`. `configure` is applied to the LoadedNode before
  // it loads (SNAT ports, uplink interface).
  bool load(const codegen::CompiledNode& tier, const ir::NodeProgram& node, const std::string& pinDir,
            const std::function<void(LoadedNode&)>& configure, std::string& error);
  bool loaded() const { return loaded_; }
  LoadedNode& maps() { return node_; }
  int fromPodFd() const { return node_.programFd(codegen::kTierFromPod); }
  int toPodFd() const { return node_.programFd(codegen::kTierToPod); }
  int uplinkFd() const { return node_.programFd(codegen::kTierUplink); }

  // Writes the tables of endpoint `ep` (both directions) for the code
  // inputs `codeKey`, unless they are written already. Returns false (and
  // writes nothing) when a map refuses an entry.
  bool prepare(const ir::Program& program, const ir::Endpoint& ep, const std::string& codeKey, std::string& error);
  // Points interface `ifindex` at the prepared tables of endpoint `key`: from
  // then on the tier's programs, on that interface, enforce them. Tables it
  // used before are retired.
  bool enter(const std::string& key, int ifindex, std::string& error);
  // Whether interface `ifindex` is pointed at `key`'s tables for `codeKey`.
  bool serves(const std::string& key, const std::string& codeKey, int ifindex) const;
  // The endpoint's own programs took over (or it went away): its tables and
  // its interface entry are retired.
  void leave(const std::string& key);
  // Deletes what was retired more than kGracePeriod ago.
  void collect();

  // Endpoints that have tables in the tier (status: tierEntries).
  size_t endpoints() const { return endpoints_.size(); }

 private:
  struct Tables {
    uint32_t egress = 0, ingress = 0;  // sluice_generic_decide's first argument: table | flags << 24
    std::vector<std::vector<uint8_t>> policyKeys, cidrKeys;  // what to delete
  };
  struct Endpoint {
    std::string codeKey;
    uint32_t addrBe = 0;
    Tables tables;
    int ifindex = 0;  // 0: not entered
  };
  struct Retired {
    Clock::time_point at;
    Tables tables;
    int ifindex = 0;  // an interface entry to delete too (0: none)
  };
  bool write(const codegen::GenericTables& built, uint32_t id, Tables& tables, std::string& error);
  void erase(const Tables& tables);
  uint32_t allocateId();
  void retire(Tables tables, int ifindex);

  bool loaded_ = false;
  LoadedNode node_;
  int policyFd_ = -1, cidrFd_ = -1, endpointFd_ = -1;
  std::map<std::string, Endpoint> endpoints_;
  std::vector<Retired> retired_;
  uint32_t nextId_ = 1;
  std::vector<uint32_t> freeIds_;
};

}  // namespace sluice::runtime
