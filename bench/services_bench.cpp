// sluice_svc_bench: what Services cost in the datapath as their number grows
// (issue 4, "Benchmark": ns per packet for the first packet of a connection
// and for an established one, 10 -> 30,000 services, "flat is the goal"), and
// how long a backend change takes to reach the maps. A benchmark, not a test:
// it needs root, prints Markdown on stdout (progress on stderr), no ctest.
//
// The cluster is generated here: nodes n1..n3, 60 backend pods on each
// (app=backend, port http 8080), two clients on n1, and N ClusterIP services
// s0..sN-1 (port 80 -> 8080), each with an EndpointSlice of three backends,
// one per node. bench/client may send TCP 8080 to app=backend (so a service
// connection is allowed after translation, as NetworkPolicy wants);
// bench/restricted only 9999 (so it is denied after translation). What is
// measured is bench/client's from-pod program on n1, where translation
// happens. Nothing about services is generated code (docs/datapath.md,
// "Services"), so the node is compiled and loaded once per size and the
// service maps filled by LoadedNode::syncServices, as the runtime does.
#include <bpf/bpf.h>
#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "codegen/codegen.h"
#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "runtime/loader.h"
#include "runtime/test_run.h"

namespace sluice::bench {
namespace {

struct Options {
  std::vector<int> services{10, 1000, 10000, 30000};
  int runs = 5;
  uint32_t repeat = 1000000;  // BPF_PROG_TEST_RUN repeat where a packet may be run again (empty, denied)
  uint32_t newFlows = 50000;  // distinct connections, one run each, per "new" figure (one client: < 64,000 ports)
  uint32_t established = 1000;  // tracked connections the established packets cycle through
  int changes = 5;              // backend changes (and as many changes back) timed per size
  std::string jsonPath;         // --json: also write the figures there
};

constexpr int kNodes = 3;
constexpr int kBackendsPerNode = 60;
constexpr uint16_t kServicePort = 80, kTargetPort = 8080;
const char* const kClientIp = "10.244.1.10";
const char* const kRestrictedIp = "10.244.1.11";

IpAddr ip(const std::string& s) { return *IpAddr::parse(s); }
std::string backendIp(int node, int k) { return fmt::format("10.244.{}.{}", node, 20 + k); }
// 10.96.0.1 upwards: service i's cluster IP.
IpAddr clusterIp(int i) { return IpAddr::v4(0x0a600000u + 1 + uint32_t(i)); }
// Service i's backend on node n (1..3): spread so services share few sets.
int backendOf(int i, int node) { return (i + node * 17) % kBackendsPerNode; }

std::string clusterYaml(int services) {
  std::string y;
  for (int n = 1; n <= kNodes; ++n)
    y += fmt::format(
        "---\napiVersion: v1\nkind: Node\nmetadata: {{name: n{0}}}\nspec: {{podCIDR: 10.244.{0}.0/24}}\n"
        "status: {{addresses: [{{type: InternalIP, address: 192.168.1.{0}}}]}}\n",
        n);
  y += "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n";
  auto pod = [&](const std::string& name, int node, const std::string& app, const std::string& addr) {
    y += fmt::format(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {}, namespace: bench, labels: {{app: {}}}}}\n"
        "spec: {{nodeName: n{}, containers: [{{name: main, ports: [{{name: http, containerPort: {}}}]}}]}}\n"
        "status: {{phase: Running, podIP: {}}}\n",
        name, app, node, kTargetPort, addr);
  };
  pod("client", 1, "client", kClientIp);
  pod("restricted", 1, "restricted", kRestrictedIp);
  for (int n = 1; n <= kNodes; ++n)
    for (int k = 0; k < kBackendsPerNode; ++k) pod(fmt::format("be-{}-{}", n, k), n, "backend", backendIp(n, k));
  for (auto [app, port] : {std::pair{"client", kTargetPort}, {"restricted", uint16_t(9999)}})
    y += fmt::format(
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {0}, namespace: bench}}\n"
        "spec: {{podSelector: {{matchLabels: {{app: {0}}}}}, policyTypes: [Egress], egress: [{{to: [{{podSelector: "
        "{{matchLabels: {{app: backend}}}}}}], ports: [{{protocol: TCP, port: {1}}}]}}]}}\n",
        app, port);
  for (int i = 0; i < services; ++i) {
    y += fmt::format(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{0}, namespace: bench}}\n"
        "spec: {{clusterIP: {1}, selector: {{app: backend}}, ports: [{{name: http, port: {2}, targetPort: {3}}}]}}\n"
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
        "metadata: {{name: s{0}-1, namespace: bench, labels: {{kubernetes.io/service-name: s{0}}}}}\n"
        "addressType: IPv4\nports: [{{name: http, port: {3}, protocol: TCP}}]\nendpoints:\n",
        i, clusterIp(i).str(), kServicePort, kTargetPort);
    for (int n = 1; n <= kNodes; ++n)
      y += fmt::format("- {{addresses: [{}], conditions: {{ready: true}}, nodeName: n{}}}\n",
                       backendIp(n, backendOf(i, n)), n);
  }
  return y;
}

struct SizeResult {
  int services = 0;
  double lowerMs = 0, compileMs = 0, loadMs = 0;
  size_t frontends = 0, backends = 0;  // entries in sluice_svc_v1 and sluice_be_v1 after the sync
  bool measured = false;
  // Per run (repeat=1 unless said): the empty program, new and established
  // connections to a service and to a pod directly; repeat=R: the empty
  // program and the new connections the policy denies after translation.
  std::vector<double> empty1, newSvc, newOne, newPod, estSvc, estPod, emptyR, denSvc, denPod;
  std::vector<double> rNewSvc, rNewOne, rNewPod, rEstSvc, rEstPod, rDenSvc, rDenPod;  // × empty, within the run
  std::vector<double> syncMs, writeUs;  // a backend change: syncServices; one backend-map write
  std::vector<std::string> notes;
};

runtime::PacketSpec tcp(const IpAddr& from, const IpAddr& to, uint16_t sport, uint16_t dport, bool syn = true) {
  return runtime::PacketSpec{from, to, ir::L4Proto::TCP, sport, dport, syn};
}

// The destination address of a packet a program returned (the backend after translation).
IpAddr destinationOf(const std::vector<uint8_t>& p) {
  if (p.size() < 34) return {};
  return IpAddr::v4(uint32_t(p[30]) << 24 | uint32_t(p[31]) << 16 | uint32_t(p[32]) << 8 | p[33]);
}

size_t countKeys(int fd, size_t keySize) {
  std::vector<uint8_t> key(keySize), next(keySize);
  size_t n = 0;
  for (void* prev = nullptr; bpf_map_get_next_key(fd, prev, next.data()) == 0; prev = key.data(), ++n) key = next;
  return n;
}

// Replaces the first backend of service `name`'s port with `replacement`.
bool replaceBackend(ir::NodeProgram& np, const std::string& name, const IpAddr& replacement) {
  for (auto& svc : np.services)
    if (svc.key() == name && !svc.ports.empty() && !svc.ports[0].backends.empty()) {
      svc.ports[0].backends[0].ip = replacement;
      svc.ports[0].backends[0].pod.clear();
      return true;
    }
  return false;
}

bool measureSize(int services, const Options& opt, int emptyFd, const std::string& pinRoot, SizeResult& res) {
  res.services = services;
  std::fprintf(stderr, "services=%d: generating and lowering...\n", services);
  Diagnostics diags;
  auto t0 = Clock::now();
  ClusterState state;
  loadManifestText(fmt::format("bench-services-{}.yaml", services), clusterYaml(services), state, diags);
  checkDuplicates(state, diags);
  state.finalize();
  // Only n1 is measured: lower (and compile) that node alone.
  ir::Program program = diags.hasErrors() ? ir::Program{} : ir::lower(state, diags, [] {
    ir::LowerOptions lo;
    lo.onlyNode = "n1";
    return lo;
  }());
  res.lowerMs = msSince(t0);
  const ir::NodeProgram* np = program.findNode("n1");
  const ir::Endpoint* client = np ? np->findEndpoint("bench/client") : nullptr;
  const ir::Endpoint* restricted = np ? np->findEndpoint("bench/restricted") : nullptr;
  if (diags.hasErrors() || !client || !restricted || np->services.size() != size_t(services)) {
    res.notes.push_back(fmt::format("the generated cluster did not lower as expected ({} services in n1's IR): {}",
                                    np ? np->services.size() : 0, diags.render(false).substr(0, 300)));
    return false;
  }
  std::fprintf(stderr, "services=%d: lowered in %.0f ms; compiling n1...\n", services, res.lowerMs);
  t0 = Clock::now();
  codegen::CompiledNode compiled = codegen::compileNode(program, *np, {}, diags);
  res.compileMs = msSince(t0);
  if (compiled.object.empty()) {
    res.notes.push_back("compile failed: " + diags.render(false).substr(0, 300));
    return false;
  }
  runtime::LoadedNode node;
  std::string error;
  t0 = Clock::now();
  bool loaded = node.load(compiled, *np, fmt::format("{}/s{}", pinRoot, services), error);  // syncs the services
  res.loadMs = msSince(t0);
  struct Unpin { runtime::LoadedNode& n; ~Unpin() { n.unpinMaps(); } } unpin{node};  // NOLINT
  if (!loaded) {
    res.notes.push_back("load failed: " + error.substr(0, 300));
    return false;
  }
  const int fd = node.programFd(codegen::programName(*np, *client, ir::Direction::Egress));
  const int rfd = node.programFd(codegen::programName(*np, *restricted, ir::Direction::Egress));
  const int ctFd = node.mapFd(SLUICE_MAP_CT), svcFd = node.mapFd(SLUICE_MAP_SERVICES),
            beFd = node.mapFd(SLUICE_MAP_BACKENDS);
  if (fd < 0 || rfd < 0 || ctFd < 0 || svcFd < 0 || beFd < 0) {
    res.notes.push_back("a program or map is missing from the loaded node");
    return false;
  }
  res.frontends = countKeys(svcFd, sizeof(sluice_svc_key));
  res.backends = countKeys(beFd, sizeof(sluice_be_key));

  // The packets, built once. New connections go to services spread over the
  // whole table (a stride prime to N), each from its own source port, so
  // every packet is a new connection and the lookups touch the whole map.
  const IpAddr from = ip(kClientIp), restrictedFrom = ip(kRestrictedIp);
  const uint32_t nEst = std::min(opt.established, opt.newFlows);
  std::vector<std::vector<uint8_t>> newSvc, newOne, newPod, synSvc, ackSvc, synPod, ackPod;
  for (uint32_t i = 0; i < opt.newFlows; ++i) {
    int s = int((uint64_t(i) * 7919) % uint64_t(services));
    int n = 1 + int(i % kNodes), k = int(i / kNodes % kBackendsPerNode);
    newSvc.push_back(runtime::buildPacket(tcp(from, clusterIp(s), uint16_t(1024 + i), kServicePort)));
    newOne.push_back(runtime::buildPacket(tcp(from, clusterIp(services / 2), uint16_t(1024 + i), kServicePort)));
    newPod.push_back(runtime::buildPacket(tcp(from, ip(backendIp(n, k)), uint16_t(1024 + i), kTargetPort)));
    if (i < nEst) {
      synSvc.push_back(newSvc.back());
      ackSvc.push_back(runtime::buildPacket(tcp(from, clusterIp(s), uint16_t(1024 + i), kServicePort, false)));
      synPod.push_back(newPod.back());
      ackPod.push_back(runtime::buildPacket(tcp(from, ip(backendIp(n, k)), uint16_t(1024 + i), kTargetPort, false)));
    }
  }
  const auto emptyPkt = newPod.front();
  const auto denSvc = runtime::buildPacket(tcp(restrictedFrom, clusterIp(services / 2), 999, kServicePort));
  const auto denPod = runtime::buildPacket(tcp(restrictedFrom, ip(backendIp(2, 0)), 999, kTargetPort));

  std::string bad;  // the first run that did not report what it should
  // wantService: the run must (1) or must not (0) name a service; -1: not checked (the empty program).
  auto probe = [&](int prog, const std::vector<uint8_t>& packet, uint32_t repeat, uint32_t want, int wantService,
                   const char* what) {
    runtime::RunResult r = runtime::runPacket(prog, packet, repeat);
    if (bad.empty() && (!r.ok || r.outcome != want || (wantService >= 0 && (r.serviceId != 0) != bool(wantService))))
      bad = fmt::format("{} (repeat={}): action {}, outcome {}, service id {} {}", what, repeat, r.action, r.outcome,
                        r.serviceId, r.error);
    return double(r.durationNs);
  };
  // One test run per packet, the kernel's durations averaged.
  auto single = [&](int prog, const std::vector<std::vector<uint8_t>>& packets, uint32_t count, uint32_t want,
                    int wantService, const char* what) {
    double sum = 0;
    for (uint32_t i = 0; i < count && bad.empty(); ++i)
      sum += probe(prog, packets[i % packets.size()], 1, want, wantService, what);
    return sum / count;
  };
  const uint32_t NEW = SLUICE_OUT_NEW_ALLOWED, EST = SLUICE_OUT_ESTABLISHED, DENIED = SLUICE_OUT_NEW_DENIED;
  for (int run = 0; run < opt.runs && bad.empty(); ++run) {
    std::fprintf(stderr, "services=%d: run %d/%d\n", services, run + 1, opt.runs);
    clearCt(ctFd);
    double e1 = single(emptyFd, {emptyPkt}, opt.newFlows, 0, -1, "empty program");
    double ns = single(fd, newSvc, opt.newFlows, NEW, 1, "new connection to a service");
    clearCt(ctFd);
    // The same, all to one service: its entries stay in the cache, which
    // separates what the lookups cost from what reaching N services costs.
    double n1 = single(fd, newOne, opt.newFlows, NEW, 1, "new connection to one service");
    clearCt(ctFd);
    double np1 = single(fd, newPod, opt.newFlows, NEW, 0, "new connection to a pod");
    clearCt(ctFd);
    single(fd, synSvc, nEst, NEW, 1, "SYN to a service");
    single(fd, synPod, nEst, NEW, 0, "SYN to a pod");
    double es = single(fd, ackSvc, opt.newFlows, EST, 1, "established connection to a service");
    double ep = single(fd, ackPod, opt.newFlows, EST, 0, "established connection to a pod");
    // Denied after translation: never tracked and never rewritten, so one
    // packet may run `repeat` times. The translation's lookups without the
    // tracking inserts, against the same decision for a pod directly.
    double eR = probe(emptyFd, emptyPkt, opt.repeat, 0, -1, "empty program");
    double ds = probe(rfd, denSvc, opt.repeat, DENIED, 1, "denied connection to a service");
    double dp = probe(rfd, denPod, opt.repeat, DENIED, 0, "denied connection to a pod");
    if (!bad.empty()) break;
    auto per = [](double x, double e) { return x / std::max(1e-9, e); };
    for (auto [v, x] : {std::pair{&res.empty1, e1}, {&res.newSvc, ns}, {&res.newOne, n1}, {&res.newPod, np1}, {&res.estSvc, es},
                        {&res.estPod, ep}, {&res.emptyR, eR}, {&res.denSvc, ds}, {&res.denPod, dp},
                        {&res.rNewSvc, per(ns, e1)}, {&res.rNewOne, per(n1, e1)},
                        {&res.rNewPod, per(np1, e1)}, {&res.rEstSvc, per(es, e1)},
                        {&res.rEstPod, per(ep, e1)}, {&res.rDenSvc, per(ds, eR)}, {&res.rDenPod, per(dp, eR)}})
      v->push_back(x);
  }
  clearCt(ctFd);
  if (!bad.empty()) {
    res.notes.push_back(bad);
    return false;
  }

  // A backend change: one service (in the middle of the table) gets another
  // backend in place of its first, and back; no recompile, no program swap.
  // Each sync is timed, then checked: new connections to that service reach
  // exactly its current backends.
  const int target = services / 2;
  const std::string name = fmt::format("bench/s{}", target);
  const IpAddr spare = ip(backendIp(1, (backendOf(target, 1) + kBackendsPerNode / 2) % kBackendsPerNode));
  ir::NodeProgram changed = *np;
  if (!replaceBackend(changed, name, spare)) {
    res.notes.push_back("no service " + name + " to change");
    return false;
  }
  const auto probeChange = runtime::buildPacket(tcp(from, clusterIp(target), 999, kServicePort));
  for (int c = 0; c < 2 * opt.changes && bad.empty(); ++c) {
    const ir::NodeProgram& want = c % 2 ? *np : changed;
    t0 = Clock::now();
    bool ok = node.syncServices(want, error);
    double ms = msSince(t0);
    if (!ok) {
      bad = "syncServices: " + error;
      break;
    }
    res.syncMs.push_back(ms);
    std::set<IpAddr> allowed, seen;
    for (const auto& svc : want.services)
      if (svc.key() == name)
        for (const auto& b : svc.ports[0].backends) allowed.insert(b.ip);
    for (int k = 0; k < 60; ++k) {
      clearCt(ctFd);
      runtime::RunResult r = runtime::runPacket(fd, probeChange);
      seen.insert(destinationOf(r.packetOut));
    }
    if (seen != allowed)
      bad = fmt::format("after the backend change {}, connections to {} reached {} distinct backends, not its {}", c,
                        name, seen.size(), allowed.size());
  }
  clearCt(ctFd);
  // What the change needs at least: one write of one backend slot (the same
  // value written back, so the maps stay as synced).
  sluice_svc_key fk{__builtin_bswap32(clusterIp(target).v4HostOrder()), kServicePort, uint8_t(ir::L4Proto::TCP), 0};
  sluice_svc_value fv{};
  sluice_be_value bv{};
  bool found = bad.empty() && bpf_map_lookup_elem(svcFd, &fk, &fv) == 0;
  sluice_be_key bk{fv.service_id, 0};
  if (found && bpf_map_lookup_elem(beFd, &bk, &bv) == 0) {
    for (int k = 0; k < 1000; ++k) {
      t0 = Clock::now();
      bpf_map_update_elem(beFd, &bk, &bv, BPF_EXIST);
      res.writeUs.push_back(msSince(t0) * 1000);
    }
  } else if (bad.empty()) {
    bad = "the changed service's frontend or first backend is not in the maps";
  }
  if (!bad.empty()) {
    res.notes.push_back(bad);
    return false;
  }
  res.measured = true;
  return true;
}

// ---- output ----------------------------------------------------------------------

void printTables(const std::vector<SizeResult>& results, const Options& opt, const std::string& command) {
  utsname u{};
  ::uname(&u);
  const SizeResult* base = nullptr;
  for (const auto& r : results)
    if (r.measured && !base) base = &r;
  auto vsBase = [&](const SizeResult& r, std::vector<double> SizeResult::*v) {
    return base ? fmt::format("{:.2f}", median(r.*v) / std::max(1e-9, median(base->*v))) : std::string("—");
  };
  std::printf("## sluice_svc_bench: bench/client's from-pod program with N services, medians of %d runs\n\n",
              opt.runs);
  std::printf("Command: `%s`  \n", command.c_str());
  std::printf("Kernel %s, %ld CPUs; new connections: %u per run, each a distinct connection run once (repeat=1); "
              "established: %u tracked connections cycled through, repeat=1; denied: BPF_PROG_TEST_RUN repeat %u.\n\n",
              u.release, ::sysconf(_SC_NPROCESSORS_ONLN), opt.newFlows, std::min(opt.established, opt.newFlows),
              opt.repeat);
  const int n0 = base ? base->services : 0;
  std::printf("| services | empty ns (repeat=1) | new to services ns (× empty, × N=%d) | new to one service ns (× "
              "empty, × N=%d) | new to a pod ns (× empty) | established to a service ns (× empty, × N=%d) | "
              "established to a pod ns (× empty) | repeat=%u: empty / denied to a service (× empty, × N=%d) / denied "
              "to a pod ns |\n",
              n0, n0, n0, opt.repeat, n0);
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const SizeResult& r : results) {
    if (!r.measured) {
      std::printf("| %d | — | — | — | — | — | — | — |\n", r.services);
      continue;
    }
    std::printf("| %d | %.1f | %.1f (%.2f×, %s×) | %.1f (%.2f×, %s×) | %.1f (%.2f×) | %.1f (%.2f×, %s×) | %.1f "
                "(%.2f×) | %.1f / %.1f (%.2f×, %s×) / %.1f |\n",
                r.services, median(r.empty1), median(r.newSvc), median(r.rNewSvc), vsBase(r, &SizeResult::newSvc).c_str(),
                median(r.newOne), median(r.rNewOne), vsBase(r, &SizeResult::newOne).c_str(), median(r.newPod), median(r.rNewPod), median(r.estSvc), median(r.rEstSvc),
                vsBase(r, &SizeResult::estSvc).c_str(), median(r.estPod), median(r.rEstPod), median(r.emptyR),
                median(r.denSvc), median(r.rDenSvc), vsBase(r, &SizeResult::denSvc).c_str(), median(r.denPod));
  }
  std::printf("\n### The control plane: filling the maps and changing a backend\n\n");
  std::printf("| services | sluice_svc_v1 / sluice_be_v1 entries | lower ms (manifests → n1's IR) | compile ms (n1) | "
              "load ms (n1, first service sync included) | a backend change: syncServices ms (× N=%d) | one "
              "backend-map write µs |\n",
              n0);
  std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const SizeResult& r : results) {
    std::string sync = r.measured ? fmt::format("{:.2f} ({}×)", median(r.syncMs), vsBase(r, &SizeResult::syncMs)) : "—";
    std::string write = r.measured ? fmt::format("{:.2f}", median(r.writeUs)) : "—";
    std::printf("| %d | %zu / %zu | %.0f | %.0f | %.0f | %s | %s |\n", r.services, r.frontends, r.backends, r.lowerMs,
                r.compileMs, r.loadMs, sync.c_str(), write.c_str());
  }
  std::printf(
      "\n- Service i (s0..sN-1) has cluster IP 10.96.0.1 + i, port 80/TCP → 8080, and three ready backends, one on "
      "each of n1, n2, n3 (180 backend pods shared by the services). bench/client's egress policy allows TCP 8080 to "
      "the backends, bench/restricted's only 9999: the decision is taken on the translated packet.\n"
      "- New to a service: connection i goes to service (7919·i) mod N from source port 1024+i: every packet is a "
      "new connection (the tracking map is emptied before each figure), translated, decided and tracked both ways, "
      "and the services it reaches are spread over the whole table. New to one service: the same, all to s(N/2), so its map entries stay cached. New to a pod: the same client and ports to the "
      "backend pods directly (no translation). Established: the ACK of a tracked connection (service: the tracked "
      "translation is applied to it; pod: untranslated). Each checked: the outcome the kernel reports, and whether "
      "a service id is set.\n"
      "- repeat=1 figures are the kernel's per-run durations averaged; a repeat=1 run includes the kernel's timer "
      "reads and a colder cache, so it is compared with the empty program measured the same way. A translated "
      "packet is rewritten in place and BPF_PROG_TEST_RUN does not restore it between repeats, which is why service "
      "packets are run once each. Denied: never tracked nor rewritten, so measured with `repeat`.\n"
      "- Ratios × empty are taken within each run, then the median; × N=%d compares the medians with the first size.\n"
      "- A backend change: the first backend of service s(N/2) is replaced by another pod, then put back, %d times "
      "each; every sync is `LoadedNode::syncServices` with n1's whole service table, as the runtime calls it, and "
      "after each one 60 new connections to that service must reach exactly its current backends. One "
      "backend-map write: `bpf_map_update_elem` of one slot of that service (the least a backend change writes), "
      "median of 1,000.\n",
      n0, opt.changes);
  for (const SizeResult& r : results)
    for (const auto& n : r.notes) std::printf("- services=%d: %s\n", r.services, n.c_str());
}

// The same figures for tools/bench-report: medians; x_empty ratios taken within each run.
nlohmann::json toJson(const std::vector<SizeResult>& results, const Options& opt) {
  nlohmann::json sizes = nlohmann::json::array();
  for (const SizeResult& r : results) {
    nlohmann::json j = {{"services", r.services}, {"measured", r.measured}, {"notes", r.notes}};
    if (r.measured) {
      j["frontends"] = r.frontends, j["backends"] = r.backends;
      j["lower_ms"] = r.lowerMs, j["compile_ms"] = r.compileMs, j["load_ms"] = r.loadMs;
      j["empty_repeat1_ns"] = median(r.empty1), j["empty_ns"] = median(r.emptyR);
      j["new_to_services_ns"] = median(r.newSvc), j["new_to_services_x_empty"] = median(r.rNewSvc);
      j["new_to_one_service_ns"] = median(r.newOne), j["new_to_one_service_x_empty"] = median(r.rNewOne);
      j["new_to_pod_ns"] = median(r.newPod), j["new_to_pod_x_empty"] = median(r.rNewPod);
      j["established_to_service_ns"] = median(r.estSvc), j["established_to_service_x_empty"] = median(r.rEstSvc);
      j["established_to_pod_ns"] = median(r.estPod), j["established_to_pod_x_empty"] = median(r.rEstPod);
      j["denied_to_service_ns"] = median(r.denSvc), j["denied_to_service_x_empty"] = median(r.rDenSvc);
      j["denied_to_pod_ns"] = median(r.denPod);
      j["sync_services_ms"] = median(r.syncMs), j["backend_write_us"] = median(r.writeUs);
    }
    sizes.push_back(j);
  }
  return {{"runs", opt.runs}, {"repeat", opt.repeat}, {"new_flows", opt.newFlows}, {"sizes", sizes}};
}

// ---- command line ----------------------------------------------------------------

const char* kUsage =
    "Usage: sluice_svc_bench [--services LIST] [--runs N] [--repeat N] [--new-flows N] [--established N]\n"
    "                        [--changes N] [--json FILE]\n"
    "\n"
    "Measures a client pod's from-pod program (where services are translated) in a cluster of N\n"
    "ClusterIP services, for each N (root needed): ns per packet (BPF_PROG_TEST_RUN) for the\n"
    "first packet of a connection to a service and for an established one, the same to a pod\n"
    "directly, and a connection the policy denies after translation, each against an empty tc\n"
    "program measured the same way in the same run; and how long a backend change takes to\n"
    "reach the maps (LoadedNode::syncServices, no recompile). Prints Markdown tables (medians)\n"
    "on stdout, progress on stderr.\n"
    "\n"
    "  --services LIST  service counts, comma-separated (default 10,1000,10000,30000; at most 60000)\n"
    "  --runs N         runs per size; figures are medians (default 5)\n"
    "  --repeat N       BPF_PROG_TEST_RUN repeat for the empty program and denied connections (default 1000000)\n"
    "  --new-flows N    distinct connections, one run each, per new-connection figure (default 50000; at most 64000)\n"
    "  --established N  tracked connections the established packets cycle through (default 1000)\n"
    "  --changes N      backend changes timed per size, each followed by a change back (default 5)\n"
    "  --json FILE      also write the figures as JSON (for tools/bench-report)\n"
    "  -h, --help       this text\n";

int run(int argc, char** argv) {
  Options opt;
  const std::string command = commandLine(argc, argv);
  for (int i = 1; i < argc; ++i) {
    std::string a, value;
    if (int r = nextOption(argc, argv, i, a, value, "sluice_svc_bench", kUsage); r != 0) {
      if (r == 1) std::fputs(kUsage, stdout);
      return r == 1 ? 0 : 2;
    }
    bool ok = true;
    if (a == "--services") {
      // At most 60,000: two service-map entries per service, under SLUICE_SERVICES_MAX_ENTRIES (131,072).
      opt.services.clear();
      std::istringstream in(value);
      for (std::string item; ok && std::getline(in, item, ',');)
        ok = parseNumber(item, opt.services.emplace_back(), 1, 60000);
      ok = ok && !opt.services.empty();
    } else if (a == "--runs") {
      ok = parseNumber(value, opt.runs, 1, 1000);
    } else if (a == "--repeat") {
      ok = parseNumber(value, opt.repeat, 1u, 100000000u);
    } else if (a == "--new-flows") {
      ok = parseNumber(value, opt.newFlows, 1u, 64000u);  // source ports 1024.. of one client
    } else if (a == "--established") {
      ok = parseNumber(value, opt.established, 1u, 64000u);
    } else if (a == "--json") {
      opt.jsonPath = value;
    } else if (a == "--changes") {
      ok = parseNumber(value, opt.changes, 1, 1000);
    } else {
      std::fprintf(stderr, "sluice_svc_bench: unknown option %s\n\n%s", a.c_str(), kUsage);
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "sluice_svc_bench: bad value '%s' for %s\n\n%s", value.c_str(), a.c_str(), kUsage);
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr,
                 "sluice_svc_bench needs root: it loads programs into the kernel, runs them with BPF_PROG_TEST_RUN "
                 "and pins maps in bpffs. Run it as root (e.g. with sudo).\n");
    return 1;
  }
  if (std::string e = runtime::ensureBpffs(); !e.empty()) {
    std::fprintf(stderr, "sluice_svc_bench: %s\n", e.c_str());
    return 1;
  }
  int emptyFd = loadEmptyProgram();
  if (emptyFd < 0) {
    std::fprintf(stderr, "sluice_svc_bench: cannot load the empty tc program: %s\n", std::strerror(errno));
    return 1;
  }
  const std::string pinRoot = fmt::format("/sys/fs/bpf/sluice-svc-bench-{}", ::getpid());
  std::vector<SizeResult> results;
  bool any = false;
  for (int n : opt.services) {
    SizeResult r;
    any |= measureSize(n, opt, emptyFd, pinRoot, r);
    for (const auto& note : r.notes) std::fprintf(stderr, "services=%d: %s\n", n, note.c_str());
    results.push_back(std::move(r));
  }
  std::error_code ec;
  std::filesystem::remove_all(pinRoot, ec);
  ::close(emptyFd);
  printTables(results, opt, command);
  if (!opt.jsonPath.empty() && !writeJsonFile(opt.jsonPath, "sluice_svc_bench", command, toJson(results, opt)))
    return 1;
  return any ? 0 : 1;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) { return sluice::bench::run(argc, argv); }
