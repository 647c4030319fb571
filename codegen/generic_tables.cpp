#include "codegen/generic_tables.h"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

namespace sluice::codegen {
namespace {

using Answer = std::pair<uint32_t, uint32_t>;  // {deny rule, allow rule}, 0 = none

RuleList rulesOf(const DirectionPlan& plan, const GroupList& groups) {
  RuleList out;
  for (uint32_t g : groups) out.insert(out.end(), plan.groups[g].rules.begin(), plan.groups[g].rules.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The groups a matcher's identity switch reaches for `id` (its default case
// when the identity has no case of its own).
const GroupList& groupsFor(const MatcherPlan& m, ir::IdentityId id) {
  auto it = m.byIdentity.find(id);
  return it == m.byIdentity.end() ? m.otherClusterIdentity : it->second;
}

// Splits [first, last] into blocks aligned to their power-of-two size, the
// largest first: what an LPM trie can hold. `bits` is the field's width.
template <typename Emit>
void alignedBlocks(uint64_t first, uint64_t last, unsigned bits, Emit emit) {
  while (first <= last) {
    unsigned size = 0;  // log2 of the block
    while (size < bits && (first & ((uint64_t(1) << (size + 1)) - 1)) == 0 &&
           first + (uint64_t(1) << (size + 1)) - 1 <= last)
      ++size;
    emit(first, bits - size);
    first += uint64_t(1) << size;
  }
}

// The rule an L4 plan answers for (proto, port).
uint32_t answerOf(const L4Plan& plan, uint8_t proto, uint32_t port) {
  auto it = plan.byProto.find(proto);
  if (it == plan.byProto.end()) return plan.anyRule;
  const auto& ivs = it->second;
  auto iv = std::upper_bound(ivs.begin(), ivs.end(), port,
                             [](uint32_t p, const PortInterval& i) { return p < i.first; });
  return iv == ivs.begin() ? 0 : std::prev(iv)->rule;  // intervals cover every port, so never begin()
}

struct TableBuilder {
  GenericTables& out;
  const ir::DirectionPolicy& policy;
  const DirectionPlan& plan;
  uint32_t table;

  // Every entry of one selector: its marker (the answer for whatever no port
  // block covers) and the port blocks whose answer differs from it.
  void addSelector(uint32_t selector, const RuleList& denyRules, const RuleList& allowRules) {
    L4Plan deny = planL4(policy, denyRules), allow = planL4(policy, allowRules);
    Answer marker{deny.anyRule, allow.anyRule};
    out.policy.push_back({table, selector, SLUICE_GPOL_SELECTOR_PREFIX, 0, 0, marker.first, marker.second});
    std::set<uint8_t> protos;
    for (const auto* p : {&deny, &allow})
      for (const auto& [proto, ivs] : p->byProto) protos.insert(proto);
    for (uint8_t proto : protos) {
      // Both plans' interval starts cut the port space into pieces with one answer each.
      std::set<uint32_t> cuts{0};
      for (const auto* p : {&deny, &allow}) {
        auto it = p->byProto.find(proto);
        if (it != p->byProto.end())
          for (const auto& iv : it->second) cuts.insert(iv.first);
      }
      std::vector<uint32_t> starts(cuts.begin(), cuts.end());
      uint32_t top = 65535;
      for (const auto* p : {&deny, &allow}) {
        auto it = p->byProto.find(proto);
        if (it != p->byProto.end()) top = it->second.back().last;  // 255 for ICMP
      }
      // Adjacent pieces with one answer make one range, then aligned blocks.
      uint32_t runFirst = 0;
      Answer run = {answerOf(deny, proto, 0), answerOf(allow, proto, 0)};
      auto flush = [&](uint32_t last) {
        if (run == marker) return;
        alignedBlocks(runFirst, last, 16, [&](uint64_t first, unsigned prefix) {
          out.policy.push_back({table, selector, SLUICE_GPOL_PROTO_PREFIX + prefix, proto, uint16_t(first),
                                run.first, run.second});
        });
      };
      for (size_t i = 1; i < starts.size(); ++i) {
        Answer a{answerOf(deny, proto, starts[i]), answerOf(allow, proto, starts[i])};
        if (a == run) continue;
        flush(starts[i] - 1);
        runFirst = starts[i];
        run = a;
      }
      flush(top);
    }
  }

  // Address classes: the deny and allow matchers' address partitions merged,
  // one class per distinct (deny rules, allow rules), for any identity and for
  // world (Cilium CIDR rules admit only addresses outside the cluster).
  bool addAddresses() {
    const auto& d = plan.deny.addresses;
    const auto& a = plan.allow.addresses;
    if (d.empty() && a.empty()) return false;
    std::set<uint64_t> cuts{0};
    for (const auto* list : {&d, &a})
      for (const auto& iv : *list) cuts.insert(iv.first);
    auto at = [](const std::vector<AddressInterval>& ivs, uint64_t addr) -> const AddressInterval* {
      auto it = std::upper_bound(ivs.begin(), ivs.end(), addr,
                                 [](uint64_t x, const AddressInterval& i) { return x < i.first; });
      return it == ivs.begin() ? nullptr : &*std::prev(it);
    };
    std::map<std::pair<RuleList, RuleList>, uint32_t> classes;
    auto selectorOf = [&](const RuleList& denyRules, const RuleList& allowRules) -> uint32_t {
      if (denyRules.empty() && allowRules.empty()) return 0;
      auto [it, inserted] = classes.emplace(std::pair(denyRules, allowRules), 0);
      if (inserted) {
        it->second = SLUICE_GPOL_ADDRESS_CLASS | uint32_t(classes.size());
        addSelector(it->second, denyRules, allowRules);
      }
      return it->second;
    };
    auto merged = [](const GroupList& x, const GroupList& y) {
      GroupList out = x;
      out.insert(out.end(), y.begin(), y.end());
      std::sort(out.begin(), out.end());
      return out;
    };
    std::vector<uint64_t> starts(cuts.begin(), cuts.end());
    std::pair<uint32_t, uint32_t> run{0, 0};
    uint64_t runFirst = 0;
    bool any = false;
    auto flush = [&](uint64_t last) {
      if (run == std::pair<uint32_t, uint32_t>{0, 0}) return;
      alignedBlocks(runFirst, last, 32, [&](uint64_t first, unsigned prefix) {
        out.cidrs.push_back({table, uint32_t(first), uint8_t(prefix), run.first, run.second});
        any = true;
      });
    };
    for (size_t i = 0; i < starts.size(); ++i) {
      static const AddressInterval kNone{};
      const AddressInterval* di = at(d, starts[i]);
      const AddressInterval* ai = at(a, starts[i]);
      if (!di) di = &kNone;
      if (!ai) ai = &kNone;
      std::pair<uint32_t, uint32_t> sel{
          selectorOf(rulesOf(plan, di->groups), rulesOf(plan, ai->groups)),
          selectorOf(rulesOf(plan, merged(di->groups, di->worldGroups)),
                     rulesOf(plan, merged(ai->groups, ai->worldGroups)))};
      if (i > 0 && sel == run) continue;
      if (i > 0) flush(starts[i] - 1);
      runFirst = starts[i];
      run = sel;
    }
    flush(0xffffffffull);
    return any;
  }

  uint32_t build() {
    std::set<ir::IdentityId> named;
    for (const auto* m : {&plan.deny, &plan.allow})
      for (const auto& [id, groups] : m->byIdentity) named.insert(id);
    for (ir::IdentityId id : named)
      addSelector(id, rulesOf(plan, groupsFor(plan.deny, id)), rulesOf(plan, groupsFor(plan.allow, id)));
    if (!plan.deny.otherClusterIdentity.empty() || !plan.allow.otherClusterIdentity.empty())
      addSelector(SLUICE_GPOL_OTHER_IDENTITY, rulesOf(plan, plan.deny.otherClusterIdentity),
                  rulesOf(plan, plan.allow.otherClusterIdentity));
    return addAddresses() ? SLUICE_GEN_ADDRESS : 0;
  }
};

std::string selectorName(uint32_t s) {
  if (s == SLUICE_GPOL_OTHER_IDENTITY) return "other-identity";
  if (s & SLUICE_GPOL_ADDRESS_CLASS) return fmt::format("address-class {}", s & ~SLUICE_GPOL_ADDRESS_CLASS);
  return fmt::format("identity {}", s);
}

std::string flagNames(uint32_t flags) {
  std::string out;
  if (flags & SLUICE_GEN_ISOLATED) out += " isolated";
  if (flags & SLUICE_GEN_INGRESS) out += " ingress";
  if (flags & SLUICE_GEN_ADDRESS) out += " address";
  return out.empty() ? " -" : out;
}

// ---- serialization: little-endian fixed-width fields, strings length-prefixed ----

constexpr std::string_view kMagic = "SLUICE-GENERIC-TABLES-1";

struct Writer {
  std::string out;
  void u32(uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
  void str(const std::string& s) {
    u32(uint32_t(s.size()));
    out += s;
  }
};

struct Reader {
  std::string_view in;
  bool ok = true;
  uint32_t u32() {
    if (in.size() < 4) return ok = false, 0;
    uint32_t v;
    std::memcpy(&v, in.data(), 4);
    in.remove_prefix(4);
    return v;
  }
  std::string str() {
    uint32_t n = u32();
    if (!ok || in.size() < n) return ok = false, std::string();
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

}  // namespace

const GenericTables::Table& addGenericTable(GenericTables& tables, const ir::DirectionPolicy& policy,
                                            const DirectionPlan& plan, ir::Direction direction,
                                            const std::string& endpoint) {
  GenericTables::Table t;
  t.id = uint32_t(tables.tables.size() + 1);
  t.endpoint = endpoint;
  t.direction = direction;
  t.flags = TableBuilder{tables, policy, plan, t.id}.build();
  if (plan.isolated) t.flags |= SLUICE_GEN_ISOLATED;
  if (direction == ir::Direction::Ingress) t.flags |= SLUICE_GEN_INGRESS;
  tables.tables.push_back(t);
  return tables.tables.back();
}

void encode(const GenericTables::PolicyEntry& e, sluice_gpol_key& key, sluice_gpol_value& value) {
  key = {};
  key.prefixlen = e.prefixLen;
  key.table = __builtin_bswap32(e.table);
  key.selector = __builtin_bswap32(e.selector);
  key.proto = e.proto;
  key.port_hi = uint8_t(e.port >> 8);
  key.port_lo = uint8_t(e.port & 0xff);
  value = {e.denyRule, e.allowRule};
}

void encode(const GenericTables::CidrEntry& e, sluice_gcidr_key& key, sluice_gcidr_value& value) {
  key = {};
  key.prefixlen = 32 + e.prefixLen;
  key.table = __builtin_bswap32(e.table);
  key.addr = __builtin_bswap32(e.addr);
  value = {e.selector, e.worldSelector};
}

std::string str(const GenericTables& tables) {
  std::string out;
  for (const auto& t : tables.tables) {
    out += fmt::format("table {} {} {} flags{}\n", t.id, t.endpoint,
                       t.direction == ir::Direction::Ingress ? "ingress" : "egress", flagNames(t.flags));
    for (const auto& e : tables.policy) {
      if (e.table != t.id) continue;
      std::string what = "any";
      if (e.prefixLen > SLUICE_GPOL_SELECTOR_PREFIX) {
        uint32_t bits = 16 - (e.prefixLen - SLUICE_GPOL_PROTO_PREFIX);
        uint32_t last = e.port + (uint32_t(1) << bits) - 1;
        what = fmt::format("proto {} port {}", e.proto, e.port == last ? fmt::format("{}", e.port)
                                                                         : fmt::format("{}..{}", e.port, last));
      }
      out += fmt::format("  {} {} -> deny {} allow {}\n", selectorName(e.selector), what, e.denyRule, e.allowRule);
    }
    for (const auto& c : tables.cidrs) {
      if (c.table != t.id) continue;
      out += fmt::format("  cidr {}/{} -> {} world {}\n", IpAddr::v4(c.addr).str(), c.prefixLen,
                         c.selector ? selectorName(c.selector) : "none",
                         c.worldSelector ? selectorName(c.worldSelector) : "none");
    }
  }
  return out;
}

std::string serialize(const GenericTables& tables) {
  Writer w;
  w.out = kMagic;
  w.u32(uint32_t(tables.tables.size()));
  for (const auto& t : tables.tables) {
    w.u32(t.id);
    w.str(t.endpoint);
    w.u32(uint32_t(t.direction));
    w.u32(t.flags);
  }
  w.u32(uint32_t(tables.policy.size()));
  for (const auto& e : tables.policy)
    for (uint32_t v : {e.table, e.selector, e.prefixLen, uint32_t(e.proto), uint32_t(e.port), e.denyRule, e.allowRule})
      w.u32(v);
  w.u32(uint32_t(tables.cidrs.size()));
  for (const auto& c : tables.cidrs)
    for (uint32_t v : {c.table, c.addr, uint32_t(c.prefixLen), c.selector, c.worldSelector}) w.u32(v);
  return w.out;
}

bool parse(std::string_view bytes, GenericTables& out, std::string& error) {
  out = {};
  if (bytes.substr(0, kMagic.size()) != kMagic) {
    error = fmt::format("the {} section does not start with {} (an object from another sluice version?)",
                        kGenericTablesSection, kMagic);
    return false;
  }
  Reader r{bytes.substr(kMagic.size())};
  uint32_t n = r.u32();
  for (uint32_t i = 0; r.ok && i < n; ++i) {
    GenericTables::Table t;
    t.id = r.u32();
    t.endpoint = r.str();
    t.direction = ir::Direction(r.u32());
    t.flags = r.u32();
    out.tables.push_back(t);
  }
  n = r.u32();
  for (uint32_t i = 0; r.ok && i < n; ++i) {
    GenericTables::PolicyEntry e;
    e.table = r.u32(), e.selector = r.u32(), e.prefixLen = r.u32();
    e.proto = uint8_t(r.u32()), e.port = uint16_t(r.u32());
    e.denyRule = r.u32(), e.allowRule = r.u32();
    out.policy.push_back(e);
  }
  n = r.u32();
  for (uint32_t i = 0; r.ok && i < n; ++i) {
    GenericTables::CidrEntry c;
    c.table = r.u32(), c.addr = r.u32(), c.prefixLen = uint8_t(r.u32());
    c.selector = r.u32(), c.worldSelector = r.u32();
    out.cidrs.push_back(c);
  }
  if (!r.ok || !r.in.empty()) {
    error = fmt::format("the {} section is truncated or has trailing bytes", kGenericTablesSection);
    return false;
  }
  return true;
}

std::optional<std::string_view> elfSection(const std::vector<char>& object, const std::string& name) {
  // A 64-bit little-endian ELF, as the BPF backend writes it.
  if (object.size() < sizeof(Elf64_Ehdr)) return std::nullopt;
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(object.data());
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_shoff == 0 ||
      eh->e_shoff + size_t(eh->e_shnum) * sizeof(Elf64_Shdr) > object.size() || eh->e_shstrndx >= eh->e_shnum)
    return std::nullopt;
  const auto* sh = reinterpret_cast<const Elf64_Shdr*>(object.data() + eh->e_shoff);
  const Elf64_Shdr& names = sh[eh->e_shstrndx];
  for (unsigned i = 0; i < eh->e_shnum; ++i) {
    if (names.sh_offset + sh[i].sh_name >= object.size()) continue;
    if (name != object.data() + names.sh_offset + sh[i].sh_name) continue;
    if (sh[i].sh_type == SHT_NOBITS || sh[i].sh_offset + sh[i].sh_size > object.size()) return std::nullopt;
    return std::string_view(object.data() + sh[i].sh_offset, sh[i].sh_size);
  }
  return std::nullopt;
}

}  // namespace sluice::codegen
