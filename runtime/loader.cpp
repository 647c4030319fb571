#include "runtime/loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <tuple>

#include "codegen/datapath/sluice_abi.h"
#include "codegen/datapath/sluice_generic_abi.h"
#include "codegen/generic_tables.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

namespace sluice::runtime {

namespace fs = std::filesystem;

std::string ensureBpffs() {
  struct statfs st {};
  if (statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC) return {};
  std::error_code ec;
  fs::create_directories("/sys/fs/bpf", ec);
  if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0)
    return fmt::format("cannot mount bpffs at /sys/fs/bpf: {} (sluice needs root or CAP_SYS_ADMIN)",
                       std::strerror(errno));
  return {};
}

// libbpf prints through this; keep warnings, drop debug chatter, and capture
// everything for the error message of a failed load.
static thread_local std::string* libbpfCapture = nullptr;
static int libbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  int n = vsnprintf(buf, sizeof buf, format, args);
  if (libbpfCapture) *libbpfCapture += buf;
  return n;
}

LoadedNode::LoadedNode(LoadedNode&& o) noexcept { *this = std::move(o); }
LoadedNode& LoadedNode::operator=(LoadedNode&& o) noexcept {
  std::swap(obj_, o.obj_);
  std::swap(pinDir_, o.pinDir_);
  std::swap(programs_, o.programs_);
  std::swap(services_, o.services_);
  std::swap(servicesWritten_, o.servicesWritten_);
  std::swap(backendsWritten_, o.backendsWritten_);
  std::swap(serviceMapsRead_, o.serviceMapsRead_);
  std::swap(ipcacheWritten_, o.ipcacheWritten_);
  std::swap(ipcacheRead_, o.ipcacheRead_);
  std::swap(snatPorts_, o.snatPorts_);
  std::swap(uplinkIfindex_, o.uplinkIfindex_);
  std::swap(vxlanPort_, o.vxlanPort_);
  std::swap(genericCapacity_, o.genericCapacity_);
  return *this;
}

void LoadedNode::inheritSyncState(const LoadedNode& previous) {
  services_ = previous.services_;
  servicesWritten_ = previous.servicesWritten_;
  backendsWritten_ = previous.backendsWritten_;
  serviceMapsRead_ = previous.serviceMapsRead_;
  ipcacheWritten_ = previous.ipcacheWritten_;
  ipcacheRead_ = previous.ipcacheRead_;
  if (!snatPorts_) snatPorts_ = previous.snatPorts_;
  if (!uplinkIfindex_) uplinkIfindex_ = previous.uplinkIfindex_;
}
LoadedNode::~LoadedNode() {
  if (obj_) bpf_object__close(obj_);
}

// Generic mode: the object's policy tables (its kGenericTablesSection) go
// into its own maps, which are never pinned (sluice_generic_abi.h: they
// belong to this generation). Sizing happens before the object loads,
// filling after, and both before load() returns: no program is attached
// before its tables are complete, so nothing runs on half a policy.
namespace {
bool readGenericTables(const codegen::CompiledNode& compiled, bpf_object* obj, codegen::GenericTables& tables,
                       bool& present, std::pair<uint32_t, uint32_t> capacity, std::string& error) {
  bpf_map* pol = bpf_object__find_map_by_name(obj, SLUICE_MAP_GENERIC_POLICY);
  bpf_map* cidr = bpf_object__find_map_by_name(obj, SLUICE_MAP_GENERIC_CIDR);
  auto section = codegen::elfSection(compiled.object, codegen::kGenericTablesSection);
  present = pol || cidr || section;
  if (!present) return true;
  if (!pol || !cidr || !section) {
    error = fmt::format("a generic-mode object needs the maps {} and {} and the section {}; this one lacks some",
                        SLUICE_MAP_GENERIC_POLICY, SLUICE_MAP_GENERIC_CIDR, codegen::kGenericTablesSection);
    return false;
  }
  if (!codegen::parse(*section, tables, error)) return false;
  // LPM tries must have room for every entry; at least one.
  bpf_map__set_max_entries(pol, uint32_t(std::max<size_t>({1, tables.policy.size(), capacity.first})));
  bpf_map__set_max_entries(cidr, uint32_t(std::max<size_t>({1, tables.cidrs.size(), capacity.second})));
  return true;
}

bool writeGenericTables(const codegen::GenericTables& tables, bpf_object* obj, std::string& error) {
  int pol = bpf_map__fd(bpf_object__find_map_by_name(obj, SLUICE_MAP_GENERIC_POLICY));
  int cidr = bpf_map__fd(bpf_object__find_map_by_name(obj, SLUICE_MAP_GENERIC_CIDR));
  for (const auto& e : tables.policy) {
    sluice_gpol_key k;
    sluice_gpol_value v;
    codegen::encode(e, k, v);
    if (bpf_map_update_elem(pol, &k, &v, BPF_NOEXIST) != 0) {
      error = fmt::format("cannot write {} (table {}, selector {:#x}, prefix {}): {}", SLUICE_MAP_GENERIC_POLICY,
                          e.table, e.selector, e.prefixLen, std::strerror(errno));
      return false;
    }
  }
  for (const auto& e : tables.cidrs) {
    sluice_gcidr_key k;
    sluice_gcidr_value v;
    codegen::encode(e, k, v);
    if (bpf_map_update_elem(cidr, &k, &v, BPF_NOEXIST) != 0) {
      error = fmt::format("cannot write {} (table {}, {}/{}): {}", SLUICE_MAP_GENERIC_CIDR, e.table,
                          IpAddr::v4(e.addr).str(), e.prefixLen, std::strerror(errno));
      return false;
    }
  }
  return true;
}
}  // namespace

bool LoadedNode::load(const codegen::CompiledNode& compiled, const ir::NodeProgram& node, const std::string& pinDir,
                      std::string& error) {
  return loadPrograms(compiled, node.node, pinDir, error) && syncIpcache(node, error) &&
         syncServices(node, error) && syncConfig(node, error);
}

bool LoadedNode::loadPrograms(const codegen::CompiledNode& compiled, const std::string& nodeName,
                              const std::string& pinDir, std::string& error) {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpfPrint); });
  if (std::string e = ensureBpffs(); !e.empty()) {
    error = e;
    return false;
  }
  std::error_code ec;
  fs::create_directories(pinDir, ec);
  if (ec) {
    error = fmt::format("cannot create {}: {}", pinDir, ec.message());
    return false;
  }
  pinDir_ = pinDir;
  std::string objectName = "sluice_" + nodeName;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = objectName.c_str(), .pin_root_path = pinDir_.c_str());
  std::string captured;
  libbpfCapture = &captured;
  obj_ = bpf_object__open_mem(compiled.object.data(), compiled.object.size(), &opts);
  if (!obj_) {
    libbpfCapture = nullptr;
    error = fmt::format("libbpf cannot open the object for node {}: {}\n{}", nodeName, std::strerror(errno),
                        captured);
    return false;
  }
  codegen::GenericTables tables;
  bool generic = false;
  if (!readGenericTables(compiled, obj_, tables, generic, genericCapacity_, error)) {
    libbpfCapture = nullptr;
    error = fmt::format("node {}: {}", nodeName, error);
    bpf_object__close(obj_);
    obj_ = nullptr;
    return false;
  }
  // Sections are "tc/<program>": set the type explicitly, and keep the
  // verifier's log of each program so a refusal can be explained.
  bpf_program* prog;
  std::vector<std::vector<char>> logBufs;
  bpf_object__for_each_program(prog, obj_) {
    bpf_program__set_type(prog, BPF_PROG_TYPE_SCHED_CLS);
    logBufs.emplace_back(1 << 20);
    bpf_program__set_log_buf(prog, logBufs.back().data(), logBufs.back().size());
  }
  auto start = std::chrono::steady_clock::now();
  int err = bpf_object__load(obj_);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  libbpfCapture = nullptr;
  if (err) {
    // Name the refused program and quote the end of its verifier log.
    std::string detail;
    size_t i = 0;
    bpf_object__for_each_program(prog, obj_) {
      std::string log(logBufs[i++].data());
      if (log.empty())  // only a refused program gets a log (libbpf retries it at log level 1)
        continue;
      size_t cut = log.size() > 2000 ? log.size() - 2000 : 0;
      detail += fmt::format("program {} was refused; verifier says:\n{}{}\n", bpf_program__name(prog),
                            cut ? "...\n" : "", log.substr(cut));
    }
    error = fmt::format("the kernel refused node {}'s programs: {}\n{}{}", nodeName, std::strerror(-err), detail,
                        detail.empty() ? captured : "");
    bpf_object__close(obj_);
    obj_ = nullptr;
    return false;
  }
  bpf_object__for_each_program(prog, obj_) {
    ProgramStats s;
    s.name = bpf_program__name(prog);
    s.fd = bpf_program__fd(prog);
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(s.fd, &info, &len) == 0) {
      s.instructions = info.xlated_prog_len / 8;
      s.verifiedInstructions = info.verified_insns;
      s.btfId = info.btf_id;
    }
    s.loadMs = ms / double(compiled.programs.empty() ? 1 : compiled.programs.size());
    programs_.push_back(s);
  }
  if (generic && !writeGenericTables(tables, obj_, error)) {
    error = fmt::format("node {}: {}", nodeName, error);
    bpf_object__close(obj_);
    obj_ = nullptr;
    programs_.clear();
    return false;
  }
  return true;
}

std::optional<std::pair<uint16_t, uint16_t>> snatPortRange(std::string& error) {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned lo = 0, hi = 0;
  if (!(in >> lo >> hi) || lo > hi || hi > 65535) {
    error = "cannot read net.ipv4.ip_local_port_range";
    return std::nullopt;
  }
  if (65535 - hi < 1024) {
    error = fmt::format("net.ipv4.ip_local_port_range ({}-{}) leaves fewer than 1,024 ports above it for "
                        "masquerade; narrow it or give the SNAT ports explicitly",
                        lo, hi);
    return std::nullopt;
  }
  return std::make_pair(uint16_t(hi + 1), uint16_t(65535));
}

bool LoadedNode::syncConfig(const ir::NodeProgram& node, std::string& error) {
  int cfgFd = mapFd(SLUICE_MAP_CONFIG), keepFd = mapFd(SLUICE_MAP_NOMASQ);
  if (cfgFd < 0 || keepFd < 0) {
    error = "the object has no config maps";
    return false;
  }
  sluice_config cfg{};
  // The node's address, which the first tier's uplink program reads (the
  // specialized one has it as a constant).
  for (const IpAddr& ip : node.nodeIPs)
    if (ip.isV4()) {
      cfg.node_addr = __builtin_bswap32(ip.v4HostOrder());
      break;
    }
  for (const Cidr& c : node.podCIDRs)
    if (c.addr.isV4() && c.prefixLen > 0) {
      uint32_t mask = c.prefixLen >= 32 ? ~0u : ~((1u << (32 - c.prefixLen)) - 1);
      cfg.local_pods_addr = __builtin_bswap32(c.addr.v4HostOrder() & mask);
      cfg.local_pods_mask = __builtin_bswap32(mask);
      break;
    }
  cfg.vxlan_port = __builtin_bswap16(vxlanPort_);
  if (node.masquerade.enabled) {
    if (!snatPorts_) {
      std::string e;
      snatPorts_ = snatPortRange(e);
      if (!snatPorts_) {
        error = "masquerade: " + e;
        return false;
      }
    }
    cfg.node_addr = __builtin_bswap32(node.masquerade.nodeAddress.v4HostOrder());
    cfg.flags = SLUICE_CFG_MASQUERADE;
    cfg.snat_port_min = snatPorts_->first;
    cfg.snat_port_max = snatPorts_->second;
    cfg.uplink_ifindex = uplinkIfindex_;
  }
  // The prefixes first, then the switch: turning masquerade on never sees a
  // half-written exception list. (Off: the switch first.)
  std::set<std::pair<uint32_t, uint32_t>> want;
  for (const Cidr& c : node.masquerade.keep)
    if (c.addr.isV4()) want.insert({c.prefixLen, __builtin_bswap32(c.addr.v4HostOrder())});
  uint32_t zero = 0;
  if (!node.masquerade.enabled && bpf_map_update_elem(cfgFd, &zero, &cfg, BPF_ANY) != 0) {
    error = fmt::format("cannot write {}: {}", SLUICE_MAP_CONFIG, std::strerror(errno));
    return false;
  }
  std::vector<sluice_nomasq_key> stale;
  sluice_nomasq_key key{}, next{};
  void* prev = nullptr;
  while (bpf_map_get_next_key(keepFd, prev, &next) == 0) {
    if (!want.count({next.prefixlen, next.addr})) stale.push_back(next);
    key = next;
    prev = &key;
  }
  for (const auto& [len, addr] : want) {
    sluice_nomasq_key k{len, addr};
    sluice_nomasq_value v{};
    if (bpf_map_update_elem(keepFd, &k, &v, BPF_ANY) != 0) {
      error = fmt::format("cannot write {}: {}", SLUICE_MAP_NOMASQ, std::strerror(errno));
      return false;
    }
  }
  for (const auto& k : stale) bpf_map_delete_elem(keepFd, &k);
  if (node.masquerade.enabled && bpf_map_update_elem(cfgFd, &zero, &cfg, BPF_ANY) != 0) {
    error = fmt::format("cannot write {}: {}", SLUICE_MAP_CONFIG, std::strerror(errno));
    return false;
  }
  return true;
}

int LoadedNode::programFd(const std::string& name) const {
  for (const auto& p : programs_)
    if (p.name == name) return p.fd;
  return -1;
}

int LoadedNode::mapFd(const std::string& name) const {
  bpf_map* m = obj_ ? bpf_object__find_map_by_name(obj_, name.c_str()) : nullptr;
  return m ? bpf_map__fd(m) : -1;
}

bool LoadedNode::syncIpcache(const ir::NodeProgram& node, std::string& error) {
  int fd = mapFd(SLUICE_MAP_IPCACHE);
  if (fd < 0) {
    error = "the object has no IP cache map";
    return false;
  }
  std::map<uint32_t, uint32_t> want;
  for (const auto& e : node.ipcache)
    if (e.prefix.addr.isV4() && e.prefix.prefixLen == 32) want[__builtin_bswap32(e.prefix.addr.v4HostOrder())] = e.identity;
  if (!ipcacheRead_) {
    // Another generation or process may have written it: start from what is there.
    ipcacheWritten_.clear();
    sluice_ipcache_key key{}, next{};
    void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      sluice_ipcache_value v{};
      if (bpf_map_lookup_elem(fd, &next, &v) == 0) ipcacheWritten_[next.addr] = v.identity;
      key = next;
      prev = &key;
    }
    ipcacheRead_ = true;
  }
  // Drop stale entries first, then write the ones that differ (each update is
  // atomic per key, so an address never reads as unknown while it changes).
  for (auto it = ipcacheWritten_.begin(); it != ipcacheWritten_.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    sluice_ipcache_key k{it->first};
    bpf_map_delete_elem(fd, &k);
    it = ipcacheWritten_.erase(it);
  }
  for (const auto& [addr, identity] : want) {
    auto have = ipcacheWritten_.find(addr);
    if (have != ipcacheWritten_.end() && have->second == identity) continue;
    sluice_ipcache_key k{addr};
    sluice_ipcache_value v{identity, 0};
    if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) != 0) {
      ipcacheRead_ = false;  // unsure what is there now: read it again next time
      error = fmt::format("cannot update the IP cache: {}", std::strerror(errno));
      return false;
    }
    ipcacheWritten_[addr] = identity;
  }
  return true;
}

namespace {

// One backend set to publish: a port of a service, for cluster IPs or for
// the external / load-balancer addresses (their backends may differ).
struct BackendSet {
  LoadedNode::ServiceSlot slot;
  std::vector<sluice_svc_key> frontends;
  sluice_svc_value value{};
  std::vector<sluice_be_value> backends;
};

sluice_svc_key frontendKey(const IpAddr& ip, uint16_t port, ir::L4Proto proto, uint8_t scope = SLUICE_SVC_SCOPE_POD) {
  sluice_svc_key k{};
  k.addr = __builtin_bswap32(ip.v4HostOrder());
  k.port = port;
  k.proto = uint8_t(proto);
  k.scope = scope;
  return k;
}

struct FrontendLess {
  bool operator()(const sluice_svc_key& a, const sluice_svc_key& b) const {
    return std::tie(a.addr, a.port, a.proto, a.scope) < std::tie(b.addr, b.port, b.proto, b.scope);
  }
};
using FrontendFlags = std::map<sluice_svc_key, uint16_t, FrontendLess>;

std::vector<BackendSet> backendSets(const ir::NodeProgram& node, FrontendFlags& addresses) {
  std::vector<BackendSet> out;
  for (const ir::Service& svc : node.services) {
    std::vector<IpAddr> external = svc.externalIPs;
    external.insert(external.end(), svc.loadBalancerIPs.begin(), svc.loadBalancerIPs.end());
    // A cluster IP rejects the ports it does not serve (kube-proxy, KEP-3866);
    // an external address may be shared with other things, so it does not.
    for (const auto& ip : svc.clusterIPs)
      if (ip.isV4()) addresses[frontendKey(ip, 0, ir::L4Proto(0))] |= SLUICE_SVC_REJECT_UNSERVED;
    for (const auto& ip : external)
      if (ip.isV4()) addresses[frontendKey(ip, 0, ir::L4Proto(0))] |= 0;
    for (const ir::ServicePort& port : svc.ports) {
      if (port.proto != ir::L4Proto::TCP && port.proto != ir::L4Proto::UDP && port.proto != ir::L4Proto::SCTP) continue;
      auto make = [&](bool isExternal, const std::vector<IpAddr>& ips, const std::vector<ir::Backend>& backends,
                      bool uplink = false) {
        BackendSet set;
        set.slot = {svc.key(), port.name, port.proto, port.port, isExternal, uplink};
        for (const auto& ip : ips)
          if (ip.isV4())
            set.frontends.push_back(frontendKey(ip, port.port, port.proto,
                                                uplink ? SLUICE_SVC_SCOPE_UPLINK : SLUICE_SVC_SCOPE_POD));
        if (uplink && port.nodePort)
          for (const auto& ip : node.nodeIPs)
            if (ip.isV4()) set.frontends.push_back(frontendKey(ip, *port.nodePort, port.proto, SLUICE_SVC_SCOPE_UPLINK));
        for (const auto& b : backends)
          if (b.ip.isV4())
            set.backends.push_back({__builtin_bswap32(b.ip.v4HostOrder()), b.port,
                                    uint16_t(uplink && b.local ? SLUICE_BE_LOCAL : 0)});
        uint16_t flags = 0;
        if (svc.clientIPAffinity) flags |= SLUICE_SVC_AFFINITY;
        // No endpoint anywhere: answered (TCP RST / ICMP), as kube-proxy does.
        // Endpoints only on other nodes under a Local traffic policy: dropped.
        bool elsewhere = uplink ? port.externalEndpointsElsewhere : port.internalEndpointsElsewhere;
        if (set.backends.empty() && !elsewhere) flags |= SLUICE_SVC_REJECT;
        if (uplink && svc.externalTrafficPolicy == TrafficPolicy::Cluster) flags |= SLUICE_SVC_SNAT;
        set.value.backend_count = uint16_t(std::min<size_t>(set.backends.size(), 0xffff));
        set.value.flags = flags;
        set.value.affinity_timeout_s = svc.affinityTimeoutSeconds;
        if (!set.frontends.empty()) out.push_back(std::move(set));
      };
      // Pods reaching an external or load-balancer address are short-circuited
      // to the service like kube-proxy does; with externalTrafficPolicy Local
      // kube-proxy sends them to the cluster-wide endpoints, which are
      // `backends` unless internalTrafficPolicy is Local as well.
      bool externalDiffers = svc.externalTrafficPolicy == TrafficPolicy::Cluster &&
                             svc.internalTrafficPolicy == TrafficPolicy::Local;
      if (externalDiffers) {
        make(false, svc.clusterIPs, port.backends);
        make(true, external, port.externalBackends);
      } else {
        std::vector<IpAddr> all = svc.clusterIPs;
        all.insert(all.end(), external.begin(), external.end());
        make(false, all, port.backends);
      }
      // From outside, through the node's uplink program: NodePorts on this
      // node's addresses and the external / LB addresses, with the
      // externalTrafficPolicy set (Local: this node's endpoints only).
      make(true, external, port.externalBackends, true);
    }
  }
  return out;
}

template <class Key>
std::vector<Key> mapKeys(int fd) {
  std::vector<Key> keys;
  Key key{}, next{};
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  return keys;
}


template <class T>
std::string rawBytes(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}
template <class T>
T fromBytes(const std::string& bytes) {
  T v{};
  std::memcpy(&v, bytes.data(), std::min(bytes.size(), sizeof v));
  return v;
}

// A whole map, as key bytes -> value bytes.
template <class Key, class Value>
std::map<std::string, std::string> readMap(int fd) {
  std::map<std::string, std::string> out;
  for (const Key& k : mapKeys<Key>(fd)) {
    Value v{};
    if (bpf_map_lookup_elem(fd, &k, &v) == 0) out[rawBytes(k)] = rawBytes(v);
  }
  return out;
}

// Writes k -> v unless `written` says the map holds exactly that already.
template <class Key, class Value>
bool writeIfChanged(int fd, std::map<std::string, std::string>& written, const Key& k, const Value& v) {
  std::string kb = rawBytes(k), vb = rawBytes(v);
  auto it = written.find(kb);
  if (it != written.end() && it->second == vb) return true;
  if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) != 0) return false;
  written[kb] = std::move(vb);
  return true;
}
}  // namespace

const LoadedNode::ServiceSlot* LoadedNode::serviceSlot(uint32_t serviceId) const {
  auto it = services_.find(serviceId);
  return it == services_.end() ? nullptr : &it->second;
}

bool LoadedNode::syncServices(const ir::NodeProgram& node, std::string& error) {
  int svcFd = mapFd(SLUICE_MAP_SERVICES), beFd = mapFd(SLUICE_MAP_BACKENDS);
  if (svcFd < 0 || beFd < 0) {
    error = "the object has no service maps";
    return false;
  }
  FrontendFlags addresses;
  std::vector<BackendSet> sets = backendSets(node, addresses);

  if (!serviceMapsRead_) {
    servicesWritten_ = readMap<sluice_svc_key, sluice_svc_value>(svcFd);
    backendsWritten_ = readMap<sluice_be_key, sluice_be_value>(beFd);
    serviceMapsRead_ = true;
  }

  // What is there now: a frontend keeps its id, so a connection tracked or an
  // affinity pinned under it stays with the same backend set.
  std::map<sluice_svc_key, uint32_t, FrontendLess> currentIds;
  uint32_t maxId = 0;
  for (const auto& [kb, vb] : servicesWritten_) {
    auto k = fromBytes<sluice_svc_key>(kb);
    if (k.proto == 0) continue;  // an address entry, not a frontend
    auto v = fromBytes<sluice_svc_value>(vb);
    currentIds[k] = v.service_id;
    maxId = std::max(maxId, v.service_id);
  }
  std::set<uint32_t> taken;
  for (auto& set : sets) {
    for (const auto& fe : set.frontends) {
      auto it = currentIds.find(fe);
      if (it != currentIds.end() && !taken.count(it->second)) {
        set.value.service_id = it->second;
        break;
      }
    }
    if (set.value.service_id) taken.insert(set.value.service_id);
  }
  for (auto& set : sets)
    if (!set.value.service_id) taken.insert(set.value.service_id = ++maxId);

  // Backends first, then the frontends that count them, then what is stale:
  // a program reading mid-sync sees either the old count or slots that exist.
  auto fail = [&](const char* what) {
    error = fmt::format("cannot update {}: {}", what, std::strerror(errno));
    return false;
  };
  for (const auto& set : sets)
    for (uint32_t slot = 0; slot < set.value.backend_count; ++slot) {
      sluice_be_key k{set.value.service_id, slot};
      if (!writeIfChanged(beFd, backendsWritten_, k, set.backends[slot])) return fail("the backend map");
    }
  std::set<std::string> wanted;
  for (const auto& [k, flags] : addresses) {
    sluice_svc_value v{};
    v.flags = flags;
    if (!writeIfChanged(svcFd, servicesWritten_, k, v)) return fail("the service map");
    wanted.insert(rawBytes(k));
  }
  std::map<uint32_t, uint32_t> wantedCounts;
  services_.clear();
  for (const auto& set : sets) {
    for (const auto& fe : set.frontends) {
      if (!writeIfChanged(svcFd, servicesWritten_, fe, set.value)) return fail("the service map");
      wanted.insert(rawBytes(fe));
    }
    wantedCounts[set.value.service_id] = set.value.backend_count;
    services_[set.value.service_id] = set.slot;
  }
  for (auto it = servicesWritten_.begin(); it != servicesWritten_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    auto k = fromBytes<sluice_svc_key>(it->first);
    bpf_map_delete_elem(svcFd, &k);
    it = servicesWritten_.erase(it);
  }
  for (auto it = backendsWritten_.begin(); it != backendsWritten_.end();) {
    auto k = fromBytes<sluice_be_key>(it->first);
    auto count = wantedCounts.find(k.service_id);
    if (count != wantedCounts.end() && k.slot < count->second) {
      ++it;
      continue;
    }
    bpf_map_delete_elem(beFd, &k);
    it = backendsWritten_.erase(it);
  }
  return true;
}

void LoadedNode::unpinMaps() {
  if (obj_) bpf_object__unpin_maps(obj_, nullptr);
  std::error_code ec;
  if (!pinDir_.empty()) fs::remove(pinDir_, ec);
}

}  // namespace sluice::runtime
