// Decision plan: one endpoint direction's rules rearranged into the shape the
// code generator emits — a pure analysis of the IR, with no LLVM in it, so it
// can be tested and printed on its own.
//
// Why this shape. The verifier walks every path and keeps a pending state per
// open branch (at most 8,192), and it cannot prune states while a matched value
// is a known constant (TOOLCHAIN.md). A chain "if rule 1 matches … if rule N
// matches" therefore stops loading near 4,000 rules. Here nothing is a chain:
//   1. identity  -> a switch over the identities the rules name (LLVM lowers it
//                   to a balanced compare tree), each case going to the list of
//                   rules that admit that identity;
//   2. address   -> for CIDR and per-pod address rules, a binary search over the
//                   disjoint address intervals their prefixes and excepts cut;
//   3. protocol  -> per group of rules with the same peer, a switch, then a
//                   binary search over disjoint port (or ICMP type) intervals
//                   whose leaves are constants: the first rule of the group, in
//                   IR order, that admits the packet. A dispatch reaching several
//                   groups takes the lowest rule index they return.
// Every path is O(log n) compares long and ends in a constant, and each rule's
// ports are compiled once (in its group), so code and verification cost grow
// with the number of rules, not with rules x identities.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/ir.h"

namespace sluice::codegen {

// A set of rules, as sorted 1-based indices into DirectionPolicy::rules.
using RuleList = std::vector<uint32_t>;

// For one protocol: disjoint, sorted intervals of the port (or ICMP type) and
// the first rule index admitting each; 0 = none. Covers [0, 65535] / [0, 255].
struct PortInterval {
  uint32_t first = 0, last = 0;
  uint32_t rule = 0;
};
struct L4Plan {
  std::map<uint8_t, std::vector<PortInterval>> byProto;  // IP protocol number -> intervals
  uint32_t anyRule = 0;  // first rule with L4 "any": answers every other protocol
  size_t leaves() const;
};

// Rules with the same peer form a group: one L4 tree per group, so each rule's
// ports are compiled once however many identities or addresses reach it.
struct RuleGroup {
  RuleList rules;
  L4Plan l4;
};
using GroupList = std::vector<uint32_t>;  // sorted indices into DirectionPlan::groups

// Address intervals over IPv4 (host order) for CIDR and per-pod address rules.
struct AddressInterval {
  uint32_t first = 0, last = 0;
  GroupList groups;       // groups whose peer covers these addresses for any identity
  GroupList worldGroups;  // groups covering them only when the identity is world (Cilium CIDRs)
};

struct MatcherPlan {
  // Identity dispatch. `byIdentity` lists identities that some rule names
  // explicitly (or through an entity); others fall to `otherClusterIdentity`.
  std::map<ir::IdentityId, GroupList> byIdentity;
  GroupList otherClusterIdentity;  // identities no rule names: any/all/cluster rules
  std::vector<AddressInterval> addresses;  // empty when no rule is address-keyed
  bool empty() const { return byIdentity.empty() && otherClusterIdentity.empty() && addresses.empty(); }
};

struct DirectionPlan {
  bool isolated = false;
  std::vector<RuleGroup> groups;
  MatcherPlan deny, allow;
};

// `knownIdentities`: every identity of the program (reserved included), so that
// entities (cluster, world, host, …) expand into the switch exactly.
DirectionPlan planDirection(const ir::DirectionPolicy& policy, const std::vector<ir::IdentityId>& knownIdentities);

// The L4 plan of a rule list (exposed for tests).
L4Plan planL4(const ir::DirectionPolicy& policy, const RuleList& rules);

// Does an entity cover this identity? (`cluster` covers everything but world.)
bool entityCovers(ir::Entity e, ir::IdentityId id);

// Human-readable form, for `--emit-plan` style debugging and tests.
std::string str(const DirectionPlan& plan);

}  // namespace sluice::codegen
