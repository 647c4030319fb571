#include "runtime/first_tier.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "codegen/datapath/sluice_generic_abi.h"
#include "codegen/decision_plan.h"
#include "codegen/generic_tables.h"

namespace sluice::runtime {

namespace {
// Room in the tier's LPM tries (allocated as used: BPF_F_NO_PREALLOC).
constexpr uint32_t kPolicyCapacity = 1u << 20, kCidrCapacity = 1u << 18;
constexpr uint32_t kLastTableId = 0xffffff;  // the call packs the number into 24 bits

template <typename T>
std::vector<uint8_t> bytesOf(const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  return std::vector<uint8_t>(p, p + sizeof v);
}
}  // namespace

bool FirstTier::load(const codegen::CompiledNode& tier, const ir::NodeProgram& node, const std::string& pinDir,
                     const std::function<void(LoadedNode&)>& configure, std::string& error) {
  node_.setGenericCapacity(kPolicyCapacity, kCidrCapacity);
  if (configure) configure(node_);
  if (!node_.load(tier, node, pinDir, error)) return false;
  policyFd_ = node_.mapFd(SLUICE_MAP_GENERIC_POLICY);
  cidrFd_ = node_.mapFd(SLUICE_MAP_GENERIC_CIDR);
  endpointFd_ = node_.mapFd(SLUICE_MAP_TIER_ENDPOINT);
  if (policyFd_ < 0 || cidrFd_ < 0 || endpointFd_ < 0 || fromPodFd() < 0 || toPodFd() < 0 || uplinkFd() < 0) {
    error = "the first tier's object lacks its programs or maps (a build problem)";
    return false;
  }
  loaded_ = true;
  return true;
}

uint32_t FirstTier::allocateId() {
  if (!freeIds_.empty()) {
    uint32_t id = freeIds_.back();
    freeIds_.pop_back();
    return id;
  }
  return nextId_ <= kLastTableId ? nextId_++ : 0;
}

bool FirstTier::write(const codegen::GenericTables& built, uint32_t id, Tables& tables, std::string& error) {
  for (codegen::GenericTables::PolicyEntry e : built.policy) {
    e.table = id;
    sluice_gpol_key k;
    sluice_gpol_value v;
    codegen::encode(e, k, v);
    if (bpf_map_update_elem(policyFd_, &k, &v, BPF_ANY) != 0) {
      error = fmt::format("cannot write the first tier's {}: {}", SLUICE_MAP_GENERIC_POLICY, std::strerror(errno));
      return false;
    }
    tables.policyKeys.push_back(bytesOf(k));
  }
  for (codegen::GenericTables::CidrEntry e : built.cidrs) {
    e.table = id;
    sluice_gcidr_key k;
    sluice_gcidr_value v;
    codegen::encode(e, k, v);
    if (bpf_map_update_elem(cidrFd_, &k, &v, BPF_ANY) != 0) {
      error = fmt::format("cannot write the first tier's {}: {}", SLUICE_MAP_GENERIC_CIDR, std::strerror(errno));
      return false;
    }
    tables.cidrKeys.push_back(bytesOf(k));
  }
  return true;
}

void FirstTier::erase(const Tables& tables) {
  for (const auto& k : tables.policyKeys) bpf_map_delete_elem(policyFd_, k.data());
  for (const auto& k : tables.cidrKeys) bpf_map_delete_elem(cidrFd_, k.data());
  for (uint32_t arg : {tables.egress, tables.ingress})
    if (arg & kLastTableId) freeIds_.push_back(arg & kLastTableId);
}

bool FirstTier::prepare(const ir::Program& program, const ir::Endpoint& ep, const std::string& codeKey,
                        std::string& error) {
  auto it = endpoints_.find(ep.key());
  if (it != endpoints_.end() && it->second.codeKey == codeKey) return true;
  std::vector<ir::IdentityId> known;
  known.reserve(program.identities.size());
  for (const auto& id : program.identities) known.push_back(id.id);

  Tables fresh;
  for (ir::Direction dir : {ir::Direction::Egress, ir::Direction::Ingress}) {
    uint32_t id = allocateId();
    if (id == 0) {
      erase(fresh);
      error = "the first tier has no table number left";
      return false;
    }
    // A table of its own, numbered 1, renumbered as it is written.
    codegen::GenericTables built;
    const ir::DirectionPolicy& policy = ep.policy(dir);
    const auto& t = codegen::addGenericTable(built, policy, codegen::planDirection(policy, known), dir, ep.key());
    (dir == ir::Direction::Egress ? fresh.egress : fresh.ingress) = id | t.flags << 24;
    if (!write(built, id, fresh, error)) {
      erase(fresh);
      return false;
    }
  }
  uint32_t addr = 0;
  for (const IpAddr& ip : ep.ips)
    if (ip.isV4()) {
      addr = __builtin_bswap32(ip.v4HostOrder());
      break;
    }
  Endpoint& e = endpoints_[ep.key()];
  if (e.tables.egress || e.tables.ingress) {
    // Still read through the interface entry until enter() points it at the
    // new tables: retired, not erased.
    retire(std::move(e.tables), 0);
  }
  e.codeKey = codeKey;
  e.addrBe = addr;
  e.tables = std::move(fresh);
  // An interface already pointed at older tables moves to the new ones now.
  if (e.ifindex) {
    int ifindex = e.ifindex;
    e.ifindex = 0;
    return enter(ep.key(), ifindex, error);
  }
  return true;
}

bool FirstTier::enter(const std::string& key, int ifindex, std::string& error) {
  auto it = endpoints_.find(key);
  if (it == endpoints_.end()) {
    error = fmt::format("the first tier has no tables for {}", key);
    return false;
  }
  Endpoint& e = it->second;
  sluice_tier_endpoint value{e.addrBe, e.tables.egress, e.tables.ingress};
  uint32_t k = uint32_t(ifindex);
  if (bpf_map_update_elem(endpointFd_, &k, &value, BPF_ANY) != 0) {
    error = fmt::format("cannot write the first tier's {}: {}", SLUICE_MAP_TIER_ENDPOINT, std::strerror(errno));
    return false;
  }
  if (e.ifindex && e.ifindex != ifindex) retire({}, e.ifindex);  // the pod came back on a new interface
  e.ifindex = ifindex;
  return true;
}

bool FirstTier::serves(const std::string& key, const std::string& codeKey, int ifindex) const {
  auto it = endpoints_.find(key);
  return it != endpoints_.end() && it->second.codeKey == codeKey && it->second.ifindex == ifindex;
}

void FirstTier::leave(const std::string& key) {
  auto it = endpoints_.find(key);
  if (it == endpoints_.end()) return;
  retire(std::move(it->second.tables), it->second.ifindex);
  endpoints_.erase(it);
}

void FirstTier::retire(Tables tables, int ifindex) {
  retired_.push_back({Clock::now(), std::move(tables), ifindex});
}

void FirstTier::collect() {
  auto now = Clock::now();
  std::set<int> inUse;
  for (const auto& [key, e] : endpoints_)
    if (e.ifindex) inUse.insert(e.ifindex);
  for (auto it = retired_.begin(); it != retired_.end();) {
    if (now - it->at < kGracePeriod) {
      ++it;
      continue;
    }
    erase(it->tables);
    // An interface entry goes unless an endpoint entered the tier on it since.
    uint32_t k = uint32_t(it->ifindex);
    if (it->ifindex && !inUse.count(it->ifindex)) bpf_map_delete_elem(endpointFd_, &k);
    it = retired_.erase(it);
  }
}

}  // namespace sluice::runtime
