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

// The disjoint address ranges a CIDR covers once its excepts are cut out.
static void coveredRanges(const CidrRule& c, std::vector<std::pair<uint64_t, uint64_t>>& out) {
  auto rangeOf = [](const Cidr& x) {
    uint64_t base = x.addr.v4HostOrder();
    uint64_t size = x.prefixLen == 0 ? (uint64_t(1) << 32) : (uint64_t(1) << (32 - x.prefixLen));
    return std::pair<uint64_t, uint64_t>(base, base + size - 1);
  };
  auto [first, last] = rangeOf(c.cidr);
  std::vector<std::pair<uint64_t, uint64_t>> holes;
  for (const auto& e : c.except)
    if (e.addr.isV4()) holes.push_back(rangeOf(e));
  std::sort(holes.begin(), holes.end());
  uint64_t at = first;
  for (const auto& [hf, hl] : holes) {
    if (hl < at) continue;
    if (hf > at) out.emplace_back(at, hf - 1);
    at = std::max(at, hl + 1);
  }
  if (at <= last) out.emplace_back(at, last);
}

// Cuts [0, 2^32) where any address-keyed peer starts or stops covering, by a
// sweep over range boundaries (O(n log n) in the number of prefixes), and
// records, per piece, which rules cover it.
static std::vector<AddressInterval> planAddresses(const DirectionPolicy& policy, const DirectionPlan& plan,
                                                   const GroupList& candidates) {
  struct Event {
    uint64_t at;
    int delta;
    uint32_t rule;  // the group
    bool worldOnly;
  };
  std::vector<Event> events;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (uint32_t r : candidates) {
    const Peer& p = policy.rules[plan.groups[r].rules.front() - 1].peer;
    bool worldOnly = p.cidrMeaning == CidrMeaning::OutsideCluster;
    for (const auto& c : p.cidrs) {
      if (!c.cidr.addr.isV4()) continue;
      ranges.clear();
      coveredRanges(c, ranges);
      for (const auto& [f, l] : ranges) {
        events.push_back({f, +1, r, worldOnly});
        events.push_back({l + 1, -1, r, worldOnly});
      }
    }
    // Per-pod addresses admit whatever identity the address has.
    for (const auto& [owner, ip] : p.pods) {
      if (!ip.isV4()) continue;
      events.push_back({ip.v4HostOrder(), +1, r, false});
      events.push_back({uint64_t(ip.v4HostOrder()) + 1, -1, r, false});
    }
  }
  if (events.empty()) return {};
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at < b.at; });
  std::map<std::pair<uint32_t, bool>, int> active;  // (rule, worldOnly) -> open ranges
  std::vector<AddressInterval> out;
  auto emit = [&](uint64_t first, uint64_t last) {
    AddressInterval iv{uint32_t(first), uint32_t(last), {}, {}};
    for (const auto& [key, count] : active) {
      if (count <= 0) continue;
      if (!key.second) iv.groups.push_back(key.first);
    }
    for (const auto& [key, count] : active)
      if (count > 0 && key.second && !std::binary_search(iv.groups.begin(), iv.groups.end(), key.first))
        iv.worldGroups.push_back(key.first);
    if (!out.empty() && out.back().groups == iv.groups && out.back().worldGroups == iv.worldGroups)
      out.back().last = iv.last;
    else
      out.push_back(std::move(iv));
  };
  uint64_t at = 0;
  for (size_t i = 0; i < events.size();) {
    uint64_t pos = events[i].at;
    if (pos > at) emit(at, pos - 1);
    for (; i < events.size() && events[i].at == pos; ++i) {
      int& count = active[{events[i].rule, events[i].worldOnly}];
      count += events[i].delta;
      if (count == 0) active.erase({events[i].rule, events[i].worldOnly});
    }
    at = pos;
  }
  if (at <= 0xffffffffull) emit(at, 0xffffffffull);
  return out;
}

// Two rules are in one group when their peers are the same.
static std::string peerKey(const Peer& p) {
  std::string k = p.any ? "any;" : ";";
  for (IdentityId id : p.identities) k += std::to_string(id) + ",";
  k += ";";
  for (Entity e : p.entities) k += std::to_string(int(e)) + ",";
  k += p.cidrMeaning == CidrMeaning::AnyAddress ? ";a;" : ";w;";
  for (const auto& c : p.cidrs) {
    k += c.cidr.str();
    for (const auto& e : c.except) k += "-" + e.str();
    k += ",";
  }
  k += ";";
  for (const auto& [owner, ip] : p.pods) k += ip.str() + ",";
  return k;
}

static MatcherPlan planMatcher(const DirectionPolicy& policy, DirectionPlan& plan, Verdict verdict,
                               const std::vector<IdentityId>& knownIdentities) {
  MatcherPlan mp;
  std::map<std::string, uint32_t> groupOf;
  GroupList groups, addressKeyed;
  for (uint32_t i = 0; i < policy.rules.size(); ++i) {
    const Rule& r = policy.rules[i];
    if (r.verdict != verdict || r.l4.matchesNothing() || r.peer.matchesNothing()) continue;
    auto [it, inserted] = groupOf.emplace(peerKey(r.peer), uint32_t(plan.groups.size()));
    if (inserted) {
      plan.groups.push_back({});
      groups.push_back(it->second);
      if (!r.peer.cidrs.empty() || !r.peer.pods.empty()) addressKeyed.push_back(it->second);
    }
    plan.groups[it->second].rules.push_back(i + 1);
  }
  auto peerOf = [&](uint32_t g) -> const Peer& { return policy.rules[plan.groups[g].rules.front() - 1].peer; };
  // Identities worth a case: those some rule names, and the reserved ones when
  // entities are in play.
  std::set<IdentityId> named;
  GroupList broad;  // groups with entities or "any": checked against every case
  std::map<IdentityId, GroupList> lists;
  for (uint32_t g : groups) {
    const Peer& p = peerOf(g);
    for (IdentityId id : p.identities) lists[id].push_back(g);
    named.insert(p.identities.begin(), p.identities.end());
    if (p.any || !p.entities.empty()) broad.push_back(g);
    if (!p.entities.empty())
      for (IdentityId id : knownIdentities)
        if (id < kFirstClusterIdentity) named.insert(id);
    if (coversOtherClusterIdentity(p)) mp.otherClusterIdentity.push_back(g);
  }
  // World (2) must be a case whenever "other cluster identity" groups exist,
  // since those must not cover it.
  if (!mp.otherClusterIdentity.empty()) named.insert(reserved::kWorld);
  for (IdentityId id : named) {
    GroupList& list = lists[id];
    for (uint32_t g : broad)
      if (coversIdentity(peerOf(g), id)) list.push_back(g);
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
    if (!list.empty() || !mp.otherClusterIdentity.empty()) mp.byIdentity[id] = std::move(list);
  }
  mp.addresses = planAddresses(policy, plan, addressKeyed);
  return mp;
}

L4Plan planL4(const DirectionPolicy& policy, const RuleList& rules) {
  L4Plan plan;
  struct Event {
    uint32_t at;
    int delta;
    uint32_t rule;
  };
  std::map<uint8_t, std::vector<Event>> events;  // proto -> boundaries
  for (uint32_t r : rules) {
    const L4Match& l4 = policy.rules[r - 1].l4;
    if (l4.any) {
      if (!plan.anyRule) plan.anyRule = r;
      continue;
    }
    for (const auto& p : l4.ports) {
      events[uint8_t(p.proto)].push_back({p.first, +1, r});
      events[uint8_t(p.proto)].push_back({uint32_t(p.last) + 1, -1, r});
    }
    for (const auto& i : l4.icmps) {
      events[uint8_t(i.proto)].push_back({i.type, +1, r});
      events[uint8_t(i.proto)].push_back({uint32_t(i.type) + 1, -1, r});
    }
  }
  // Sweep each protocol's boundaries; a piece's answer is the lowest active
  // rule (or the first "any" rule, if lower).
  for (auto& [proto, list] : events) {
    uint32_t top = (proto == uint8_t(L4Proto::ICMP) || proto == uint8_t(L4Proto::ICMPv6)) ? 255 : 65535;
    std::sort(list.begin(), list.end(), [](const Event& a, const Event& b) { return a.at < b.at; });
    std::map<uint32_t, int> active;
    std::vector<PortInterval> out;
    auto emit = [&](uint32_t first, uint32_t last) {
      uint32_t best = active.empty() ? 0 : active.begin()->first;
      if (plan.anyRule && (best == 0 || plan.anyRule < best)) best = plan.anyRule;
      if (!out.empty() && out.back().rule == best) out.back().last = last;
      else out.push_back({first, last, best});
    };
    uint32_t at = 0;
    for (size_t i = 0; i < list.size();) {
      uint32_t pos = list[i].at;
      if (pos > at) emit(at, pos - 1);
      for (; i < list.size() && list[i].at == pos; ++i) {
        int& count = active[list[i].rule];
        count += list[i].delta;
        if (count == 0) active.erase(list[i].rule);
      }
      at = pos;
    }
    if (at <= top) emit(at, top);
    plan.byProto[proto] = std::move(out);
  }
  return plan;
}

size_t L4Plan::leaves() const {
  size_t n = 1;
  for (const auto& [proto, ivs] : byProto) n += ivs.size();
  return n;
}

DirectionPlan planDirection(const DirectionPolicy& policy, const std::vector<IdentityId>& knownIdentities) {
  DirectionPlan plan;
  plan.isolated = policy.enforced;
  plan.deny = planMatcher(policy, plan, Verdict::Deny, knownIdentities);
  plan.allow = planMatcher(policy, plan, Verdict::Allow, knownIdentities);
  for (auto& g : plan.groups) g.l4 = planL4(policy, g.rules);
  return plan;
}

static std::string listStr(const std::vector<uint32_t>& l) { return "[" + fmt::format("{}", fmt::join(l, ",")) + "]"; }

std::string str(const DirectionPlan& plan) {
  std::string out = fmt::format("isolated {}\n", plan.isolated);
  for (size_t g = 0; g < plan.groups.size(); ++g) {
    out += fmt::format("group {} rules {} any {}\n", g, listStr(plan.groups[g].rules), plan.groups[g].l4.anyRule);
    for (const auto& [proto, ivs] : plan.groups[g].l4.byProto)
      for (const auto& iv : ivs) out += fmt::format("  proto {} {}..{} -> {}\n", proto, iv.first, iv.last, iv.rule);
  }
  for (const auto* m : {&plan.deny, &plan.allow}) {
    out += m == &plan.deny ? "deny\n" : "allow\n";
    for (const auto& [id, list] : m->byIdentity) out += fmt::format("  identity {} -> groups {}\n", id, listStr(list));
    out += fmt::format("  other -> groups {}\n", listStr(m->otherClusterIdentity));
    for (const auto& a : m->addresses)
      out += fmt::format("  address {}..{} -> groups {} world {}\n", IpAddr::v4(a.first).str(),
                         IpAddr::v4(a.last).str(), listStr(a.groups), listStr(a.worldGroups));
  }
  return out;
}

}  // namespace sluice::codegen
