#include "codegen/decision_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace sluice::codegen {

using namespace sluice::ir;

bool entityCovers(Entity e, IdentityId id) {
  switch (e) {
    case Entity::All: return true;
    case Entity::Cluster: return id != reserved::kWorld;
    case Entity::World: return id == reserved::kWorld;
    case Entity::Host: return id == reserved::kHost;
    case Entity::RemoteNode: return id == reserved::kRemoteNode;
    case Entity::Health: return id == reserved::kHealth;
    case Entity::Init: return id == reserved::kInit;
    case Entity::Unmanaged: return id == reserved::kUnmanaged;
    case Entity::KubeApiserver: return id == reserved::kKubeApiserver;
    case Entity::Ingress: return id == reserved::kIngress;
  }
  return false;
}

// An identity that no rule names: a cluster identity born after this compile
// (the runtime adds it to the IP cache without recompiling).
static bool coversOtherClusterIdentity(const Peer& p) {
  if (p.any) return true;
  for (Entity e : p.entities)
    if (e == Entity::All || e == Entity::Cluster) return true;
  return false;
}

static bool coversIdentity(const Peer& p, IdentityId id) {
  if (p.any) return true;
  if (std::binary_search(p.identities.begin(), p.identities.end(), id)) return true;
  for (Entity e : p.entities)
    if (entityCovers(e, id)) return true;
  return false;
}

// Cuts [0, 2^32) at every boundary of the address-keyed peers and records, per
// piece, which rules cover it.
static std::vector<AddressInterval> planAddresses(const DirectionPolicy& policy, const RuleList& candidates) {
  struct Range {
    uint64_t first, last;  // inclusive
  };
  auto rangeOf = [](const Cidr& c) {
    uint32_t base = c.addr.v4HostOrder();
    uint64_t size = c.prefixLen == 0 ? (uint64_t(1) << 32) : (uint64_t(1) << (32 - c.prefixLen));
    return Range{base, base + size - 1};
  };
  std::set<uint64_t> cuts = {0};
  bool any = false;
  for (uint32_t r : candidates) {
    const Peer& p = policy.rules[r - 1].peer;
    for (const auto& c : p.cidrs) {
      if (!c.cidr.addr.isV4()) continue;
      Range rg = rangeOf(c.cidr);
      cuts.insert(rg.first);
      cuts.insert(rg.last + 1);
      for (const auto& e : c.except) {
        Range er = rangeOf(e);
        cuts.insert(er.first);
        cuts.insert(er.last + 1);
      }
      any = true;
    }
    for (const auto& [owner, ip] : p.pods) {
      if (!ip.isV4()) continue;
      cuts.insert(ip.v4HostOrder());
      cuts.insert(uint64_t(ip.v4HostOrder()) + 1);
      any = true;
    }
  }
  if (!any) return {};
  cuts.insert(uint64_t(1) << 32);
  std::vector<AddressInterval> out;
  for (auto it = cuts.begin(); std::next(it) != cuts.end(); ++it) {
    uint64_t first = *it, last = *std::next(it) - 1;
    IpAddr probe = IpAddr::v4(uint32_t(first));
    AddressInterval iv{uint32_t(first), uint32_t(last), {}, {}};
    for (uint32_t r : candidates) {
      const Peer& p = policy.rules[r - 1].peer;
      bool covered = false;
      for (const auto& c : p.cidrs) {
        if (!c.cidr.contains(probe)) continue;
        if (std::none_of(c.except.begin(), c.except.end(), [&](const Cidr& e) { return e.contains(probe); }))
          covered = true;
      }
      bool viaCidr = covered;
      for (const auto& [owner, ip] : p.pods)
        if (ip == probe) covered = true;
      if (!covered) continue;
      // Cilium CIDRs cover only world addresses; per-pod addresses any identity.
      if (viaCidr && p.cidrMeaning == CidrMeaning::OutsideCluster &&
          std::none_of(p.pods.begin(), p.pods.end(), [&](const auto& pp) { return pp.second == probe; }))
        iv.worldRules.push_back(r);
      else
        iv.rules.push_back(r);
    }
    // Merge with the previous piece when nothing changes.
    if (!out.empty() && out.back().rules == iv.rules && out.back().worldRules == iv.worldRules &&
        uint64_t(out.back().last) + 1 == first) {
      out.back().last = iv.last;
    } else {
      out.push_back(std::move(iv));
    }
  }
  return out;
}

static MatcherPlan planMatcher(const DirectionPolicy& policy, Verdict verdict,
                               const std::vector<IdentityId>& knownIdentities) {
  MatcherPlan plan;
  RuleList candidates, addressKeyed;
  for (uint32_t i = 0; i < policy.rules.size(); ++i) {
    const Rule& r = policy.rules[i];
    if (r.verdict != verdict || r.l4.matchesNothing()) continue;
    candidates.push_back(i + 1);
    if (!r.peer.cidrs.empty() || !r.peer.pods.empty()) addressKeyed.push_back(i + 1);
  }
  // Identities worth a case: those some rule names, reserved ones that entities
  // cover, and every known identity when entities partition them.
  std::set<IdentityId> named;
  for (uint32_t r : candidates) {
    const Peer& p = policy.rules[r - 1].peer;
    named.insert(p.identities.begin(), p.identities.end());
    if (!p.entities.empty())
      for (IdentityId id : knownIdentities)
        if (id < kFirstClusterIdentity) named.insert(id);
  }
  for (uint32_t r : candidates)
    if (coversOtherClusterIdentity(policy.rules[r - 1].peer)) plan.otherClusterIdentity.push_back(r);
  // World (2) must be a case whenever "other cluster identity" rules exist,
  // since those must not cover it.
  if (!plan.otherClusterIdentity.empty()) named.insert(reserved::kWorld);
  for (IdentityId id : named) {
    RuleList list;
    for (uint32_t r : candidates)
      if (coversIdentity(policy.rules[r - 1].peer, id)) list.push_back(r);
    if (!list.empty() || !plan.otherClusterIdentity.empty()) plan.byIdentity[id] = std::move(list);
  }
  plan.addresses = planAddresses(policy, addressKeyed);
  return plan;
}

L4Plan planL4(const DirectionPolicy& policy, const RuleList& rules) {
  L4Plan plan;
  std::map<uint8_t, std::vector<std::pair<PortInterval, uint32_t>>> ranges;  // proto -> (range, rule)
  for (uint32_t r : rules) {
    const L4Match& l4 = policy.rules[r - 1].l4;
    if (l4.any) {
      if (!plan.anyRule) plan.anyRule = r;
      continue;
    }
    for (const auto& p : l4.ports) ranges[uint8_t(p.proto)].push_back({{p.first, p.last, r}, r});
    for (const auto& i : l4.icmps) ranges[uint8_t(i.proto)].push_back({{i.type, i.type, r}, r});
  }
  for (auto& [proto, list] : ranges) {
    uint32_t top = (proto == uint8_t(L4Proto::ICMP) || proto == uint8_t(L4Proto::ICMPv6)) ? 255 : 65535;
    std::set<uint32_t> cuts = {0, top + 1};
    for (const auto& [iv, r] : list) {
      cuts.insert(iv.first);
      cuts.insert(iv.last + 1);
    }
    std::vector<PortInterval> out;
    for (auto it = cuts.begin(); std::next(it) != cuts.end(); ++it) {
      uint32_t first = *it, last = *std::next(it) - 1;
      uint32_t best = plan.anyRule;
      for (const auto& [iv, r] : list)
        if (iv.first <= first && last <= iv.last && (best == 0 || r < best)) best = r;
      if (!out.empty() && out.back().rule == best) out.back().last = last;
      else out.push_back({first, last, best});
    }
    plan.byProto[proto] = std::move(out);
  }
  return plan;
}

DirectionPlan planDirection(const DirectionPolicy& policy, const std::vector<IdentityId>& knownIdentities) {
  DirectionPlan plan;
  plan.isolated = policy.enforced;
  plan.deny = planMatcher(policy, Verdict::Deny, knownIdentities);
  plan.allow = planMatcher(policy, Verdict::Allow, knownIdentities);
  auto addLists = [&](const MatcherPlan& m) {
    for (const auto& [id, list] : m.byIdentity) plan.l4.emplace(list, L4Plan{});
    plan.l4.emplace(m.otherClusterIdentity, L4Plan{});
    for (const auto& a : m.addresses) {
      plan.l4.emplace(a.rules, L4Plan{});
      RuleList both = a.rules;
      both.insert(both.end(), a.worldRules.begin(), a.worldRules.end());
      std::sort(both.begin(), both.end());
      plan.l4.emplace(both, L4Plan{});
    }
  };
  addLists(plan.deny);
  addLists(plan.allow);
  for (auto& [list, l4] : plan.l4) l4 = planL4(policy, list);
  return plan;
}

static std::string listStr(const RuleList& l) { return "[" + fmt::format("{}", fmt::join(l, ",")) + "]"; }

std::string str(const DirectionPlan& plan) {
  std::string out = fmt::format("isolated {}\n", plan.isolated);
  for (const auto* m : {&plan.deny, &plan.allow}) {
    out += m == &plan.deny ? "deny\n" : "allow\n";
    for (const auto& [id, list] : m->byIdentity) out += fmt::format("  identity {} -> {}\n", id, listStr(list));
    out += fmt::format("  other -> {}\n", listStr(m->otherClusterIdentity));
    for (const auto& a : m->addresses)
      out += fmt::format("  address {}..{} -> {} world {}\n", IpAddr::v4(a.first).str(), IpAddr::v4(a.last).str(),
                         listStr(a.rules), listStr(a.worldRules));
  }
  for (const auto& [list, l4] : plan.l4) {
    out += fmt::format("l4 {} any {}\n", listStr(list), l4.anyRule);
    for (const auto& [proto, ivs] : l4.byProto)
      for (const auto& iv : ivs) out += fmt::format("  proto {} {}..{} -> {}\n", proto, iv.first, iv.last, iv.rule);
  }
  return out;
}

}  // namespace sluice::codegen
