// Differential test: the kernel's verdict against the reference evaluator.
//
// For each seed, a random cluster (tests/reference/random_cluster.h) goes
// through the frontend like a user's manifests, every node is compiled and
// loaded into this kernel (runtime::KernelCluster), and random new
// connections are traced through the real programs with BPF_PROG_TEST_RUN.
// Each kernel verdict must equal reference::evaluate's (default Options: a pod
// always reaches itself, ingress from the pod's own node is always allowed),
// and so must each hook's: from-pod against reference::evaluateEgress, to-pod
// against reference::evaluateIngress.
//
// A flow needs a source pod to be traced. Flows from a bare address are traced
// from a hostNetwork pod with that address when there is one (its packets
// carry the node's address, which is exactly what the reference sees); other
// bare-address sources are skipped. Flows to a bare address use FlowQuery::toIp.
//
// Size, from the environment:
//   SLUICE_DIFF_CASES  flows to trace, at least (default 12000: CI runs > 10,000)
//   SLUICE_DIFF_SEED   the first cluster seed (default 1); seeds go up by one
//   SLUICE_DIFF_FLOWS_PER_CLUSTER  flows generated per cluster (default 40; DifferentialCilium 150)
//   SLUICE_DIFF_JOBS   clusters built and traced at once (default: the CPUs, at most 4)
// Millions, e.g. overnight (12,000 flows take about 70 s on 2 idle cores, 100 s on one):
//   SLUICE_DIFF_CASES=2000000 ./build/tests/datapath/datapath_test --gtest_filter=Differential.*
// A failure prints the seed, the flow, what each hook said and why the
// reference disagrees, and writes the cluster to /tmp/sluice-diff-<seed>.yaml;
// one cluster alone: SLUICE_DIFF_SEED=<seed> SLUICE_DIFF_CASES=1 SLUICE_DIFF_JOBS=1.
//
// Both suites run in both datapath modes (codegen::DatapathMode, the test's
// parameter: .../specialized and .../generic): generic mode's tables must give
// the kernel the same verdicts. The hook-by-hook comparison is of verdicts,
// as the reference evaluator knows no rule numbers; that generic mode also
// names the same deciding rule is checked by corners_test.cpp and
// cilium_test.cpp, which compare rule names, in both modes.
// Generic mode traces fewer flows by default (SLUICE_DIFF_GENERIC_CASES,
// default 4000: 100 clusters; SLUICE_DIFF_CILIUM_GENERIC_CASES, default 1500)
// to keep the default run within a few minutes on 2 cores: its tables come
// from the same decision plans as the specialized code, which the 12,000
// specialized flows exercise, so the generic run checks the flattening into
// tables and the lookups rather than the planning again.
//
// DifferentialCilium does the same over clusters that also hold
// CiliumNetworkPolicies, CiliumClusterwideNetworkPolicies and the Services
// they name (reference::ciliumRandomOptions), with ICMP echo requests and
// more bare addresses among the flows (ciliumFlowOptions). Flows from a bare
// address no hostNetwork pod holds are traced too (FlowQuery::fromIp: only the
// destination's to-pod hook sees them), since fromCIDR and fromEntities are
// about exactly those. Its size: SLUICE_DIFF_CILIUM_CASES (default 1500 flows,
// 150 per cluster: 10 clusters, about 20 s on 2 cores); the seed,
// flows-per-cluster and jobs knobs above apply to it too; its clusters go to
// /tmp/sluice-diff-cilium-<seed>.yaml.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/datapath/datapath_util.h"
#include "tests/reference/random_cluster.h"
#include "tests/reference/reference.h"

namespace sluice::datapath_test {
namespace {

uint64_t envNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v, &end, 10);
  if (end == v || *end) {
    ADD_FAILURE() << name << "=" << v << " is not a number; using " << fallback;
    return fallback;
  }
  return n;
}

// What a differential run draws and how it traces.
struct Config {
  const char* name;  // "Differential" or "DifferentialCilium": the gtest suite, in rerun lines
  const char* file;  // "/tmp/sluice-diff-" or "/tmp/sluice-diff-cilium-"
  reference::RandomOptions cluster;
  reference::FlowOptions flows;
  bool bareSources = false;  // trace flows from bare addresses (FlowQuery::fromIp) instead of skipping them
  uint64_t flowsPerCluster = 40;  // unless SLUICE_DIFF_FLOWS_PER_CLUSTER says otherwise
  codegen::DatapathMode mode = codegen::DatapathMode::Specialized;
  const char* casesVar = "SLUICE_DIFF_CASES";  // the environment variable that sizes the run
};

std::string writeYaml(const Config& cfg, uint64_t seed, const std::string& yaml) {
  std::string path = cfg.file + std::to_string(seed) + ".yaml";
  std::ofstream(path) << yaml;
  return path;
}

// The running hostNetwork pods by address, as KernelCluster knows them.
std::map<IpAddr, std::string> hostNetworkPodsByIp(const ClusterState& state) {
  std::map<IpAddr, std::string> out;
  for (const Pod& p : state.pods)
    if (p.hostNetwork && !p.ips.empty() && !p.nodeName.empty() && p.phase != PodPhase::Succeeded &&
        p.phase != PodPhase::Failed)
      out.emplace(p.ips.front(), p.meta.key());
  return out;
}

// What one cluster gave: counts, and a full report per mismatch.
struct Tally {
  uint64_t clusters = 0, traced = 0, allowed = 0, denied = 0, skipped = 0, viaHostNetwork = 0, fromAddress = 0;
  uint64_t mismatches = 0, buildFailures = 0;
  double buildSeconds = 0, compileSeconds = 0, traceSeconds = 0;
  std::map<uint64_t, std::vector<std::string>> reports;  // by seed

  void add(Tally&& o) {
    clusters += o.clusters, traced += o.traced, allowed += o.allowed, denied += o.denied;
    skipped += o.skipped, viaHostNetwork += o.viaHostNetwork, fromAddress += o.fromAddress;
    mismatches += o.mismatches;
    buildFailures += o.buildFailures;
    buildSeconds += o.buildSeconds, compileSeconds += o.compileSeconds, traceSeconds += o.traceSeconds;
    for (auto& [seed, r] : o.reports) reports[seed] = std::move(r);
  }
};

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Builds the cluster of `seed` into the kernel and compares `perCluster` random flows.
Tally runCluster(const Config& cfg, uint64_t seed, uint64_t perCluster) {
  Tally out;
  std::string yaml = reference::randomClusterYaml(seed, cfg.cluster);
  auto t0 = Clock::now();
  LoadedCluster c;
  runtime::ClusterOptions options;
  options.compile.datapath = cfg.mode;
  bool loaded = c.load(yaml, options);
  out.buildSeconds = since(t0);
  if (!loaded) {
    out.buildFailures = 1;
    out.reports[seed].push_back("seed " + std::to_string(seed) + ": the cluster does not load or build (cluster in " +
                                writeYaml(cfg, seed, yaml) + "):\n" + c.diags.render());
    return out;
  }
  out.clusters = 1;
  for (const auto& node : c.kernel->compiled()) out.compileSeconds += node.compileMs / 1000;
  auto hostNetwork = hostNetworkPodsByIp(c.state);
  std::string path;  // the cluster's YAML, written on the first mismatch
  t0 = Clock::now();
  for (const reference::Flow& flow : reference::randomFlows(c.state, seed, perCluster, cfg.flows)) {
    runtime::FlowQuery q;
    if (flow.from.pod) {
      q.fromPod = flow.from.pod->meta.key();
    } else if (auto it = hostNetwork.find(flow.from.ip); it != hostNetwork.end()) {
      q.fromPod = it->second;  // a node's address: send from a hostNetwork pod of that node
      ++out.viaHostNetwork;
    } else if (cfg.bareSources) {
      q.fromIp = flow.from.ip;  // only the destination's to-pod hook sees it
      ++out.fromAddress;
    } else {
      ++out.skipped;
      continue;
    }
    if (flow.to.pod)
      q.toPod = flow.to.pod->meta.key();
    else
      q.toIp = flow.to.ip;
    q.proto = flow.icmp ? ir::L4Proto::ICMP : ir::toL4(flow.proto);
    q.port = flow.icmp ? flow.icmpType : flow.port;  // for ICMP the type (runtime/test_run.h)

    runtime::FlowTrace t = c.kernel->trace(q);
    reference::Explanation want = reference::evaluate(c.state, flow);
    ++out.traced;
    (t.allowed ? out.allowed : out.denied)++;
    // Hook by hook too, so that two wrong halves cannot make a right verdict:
    // from-pod is the source's egress, to-pod the destination's ingress.
    std::string hookDisagrees;
    for (const runtime::HookStep& step : t.steps) {
      bool egress = step.hook == "from-pod";
      reference::Explanation half =
          egress ? reference::evaluateEgress(c.state, flow) : reference::evaluateIngress(c.state, flow);
      if (step.run.passed() != half.allowed())
        hookDisagrees += "  reference on " + step.hook + ": " + reference::verdictName(half.verdict) + ": " +
                         half.reason + "\n";
    }
    if (t.ok && t.allowed == want.allowed() && hookDisagrees.empty()) continue;

    ++out.mismatches;
    // The first report of a seed carries the whole cluster, so the failure
    // log alone reproduces it; later ones point at the file.
    bool first = path.empty();
    if (first) path = writeYaml(cfg, seed, yaml);
    std::string tracedFrom = q.fromPod.empty() ? flow.from.ip.str() : q.fromPod;
    out.reports[seed].push_back(
        "seed " + std::to_string(seed) + ": " + reference::describe(flow) + " (traced from " + tracedFrom + ")\n" +
        "  kernel:    " + (t.ok ? (t.allowed ? "allow" : "deny") : "error") + "  [" + summarize(t) + "]\n" +
        explain(t) + "  reference: " + reference::verdictName(want.verdict) + ": " + want.reason + "\n" +
        hookDisagrees +
        "  cluster:   " + path + "\n" + "  rerun:     SLUICE_DIFF_SEED=" + std::to_string(seed) +
        " " + cfg.casesVar +
        "=1 SLUICE_DIFF_JOBS=1 <datapath_test> --gtest_filter=" + cfg.name + ".*/" +
        codegen::datapathModeName(cfg.mode) +
        (first ? "\n  cluster YAML:\n" + yaml : ""));
  }
  out.traceSeconds = since(t0);
  return out;  // `c` goes: programs unloaded, maps unpinned
}

// Traces random flows over random clusters until `casesVar` (default
// `defaultCases`) flows are traced, and fails on any disagreement.
void runDifferential(const Config& cfg, uint64_t defaultCases) {
  const uint64_t cases = envNumber(cfg.casesVar, defaultCases);
  const uint64_t firstSeed = envNumber("SLUICE_DIFF_SEED", 1);
  const uint64_t perCluster = std::max<uint64_t>(1, envNumber("SLUICE_DIFF_FLOWS_PER_CLUSTER", cfg.flowsPerCluster));
  const uint64_t jobs =
      std::max<uint64_t>(1, envNumber("SLUICE_DIFF_JOBS", std::min(4u, std::max(1u, std::thread::hardware_concurrency()))));
  const size_t kMaxReported = 25;  // mismatches printed in full; all are counted

  // Workers take seeds in order until enough flows are traced; every seed's
  // result is deterministic, only the last few seeds covered may vary.
  auto start = Clock::now();
  std::mutex mutex;
  Tally total;
  uint64_t nextSeed = firstSeed;
  auto worker = [&] {
    for (;;) {
      uint64_t seed;
      {
        std::lock_guard<std::mutex> lock(mutex);
        // Stop early when something is broken everywhere.
        if (total.traced >= cases || total.buildFailures > 5 || total.mismatches > 1000) return;
        seed = nextSeed++;
      }
      Tally t = runCluster(cfg, seed, perCluster);
      std::lock_guard<std::mutex> lock(mutex);
      total.add(std::move(t));
    }
  };
  std::vector<std::thread> threads;
  for (uint64_t i = 0; i < jobs; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  double seconds = since(start);

  size_t reported = 0;
  std::string seeds;
  for (const auto& [seed, reports] : total.reports) {
    seeds += (seeds.empty() ? "" : " ") + std::to_string(seed);
    for (const std::string& r : reports)
      if (reported++ < kMaxReported) ADD_FAILURE() << r;
  }
  std::printf(
      "%s (%s): %llu clusters (seeds %llu..%llu), %llu flows traced (%llu allowed, %llu denied; %llu from a "
      "hostNetwork pod, %llu from a bare address; %llu bare-address sources skipped), %llu mismatches, %.1f s "
      "with %llu jobs (CPU time: build %.1f s of which LLVM %.1f s, trace %.1f s)\n",
      cfg.name, codegen::datapathModeName(cfg.mode), (unsigned long long)total.clusters, (unsigned long long)firstSeed,
      (unsigned long long)(nextSeed - 1), (unsigned long long)total.traced, (unsigned long long)total.allowed,
      (unsigned long long)total.denied, (unsigned long long)total.viaHostNetwork,
      (unsigned long long)total.fromAddress, (unsigned long long)total.skipped,
      (unsigned long long)total.mismatches, seconds, (unsigned long long)jobs, total.buildSeconds,
      total.compileSeconds, total.traceSeconds);
  EXPECT_EQ(total.mismatches, 0u) << "failing seeds: " << seeds;
  EXPECT_EQ(total.buildFailures, 0u);
  EXPECT_GE(total.traced, cases);
  // Both verdicts must be well represented, or the comparison says little.
  EXPECT_GT(total.allowed, total.traced / 10);
  EXPECT_GT(total.denied, total.traced / 10);
}

class Differential : public ::testing::TestWithParam<codegen::DatapathMode> {};
class DifferentialCilium : public ::testing::TestWithParam<codegen::DatapathMode> {};
const auto kBothModes = ::testing::Values(codegen::DatapathMode::Specialized, codegen::DatapathMode::Generic);
std::string modeName(const ::testing::TestParamInfo<codegen::DatapathMode>& info) {
  return codegen::datapathModeName(info.param);
}
INSTANTIATE_TEST_SUITE_P(, Differential, kBothModes, modeName);
INSTANTIATE_TEST_SUITE_P(, DifferentialCilium, kBothModes, modeName);

TEST_P(Differential, KernelAgreesWithReference) {
  SLUICE_REQUIRE_ROOT();
  Config cfg{"Differential", "/tmp/sluice-diff-", {}, {}, false};
  cfg.mode = GetParam();
  bool generic = cfg.mode == codegen::DatapathMode::Generic;
  cfg.casesVar = generic ? "SLUICE_DIFF_GENERIC_CASES" : "SLUICE_DIFF_CASES";
  runDifferential(cfg, generic ? 4000 : 12000);  // generic: fewer, see the top of this file
}

TEST_P(DifferentialCilium, KernelAgreesWithReference) {
  SLUICE_REQUIRE_ROOT();
  // Building a cluster (LLVM) costs seconds and a flow microseconds: many
  // flows per cluster keep the default run short.
  Config cfg{"DifferentialCilium", "/tmp/sluice-diff-cilium-", reference::ciliumRandomOptions(),
             reference::ciliumFlowOptions(), true, 150};
  cfg.mode = GetParam();
  cfg.casesVar = cfg.mode == codegen::DatapathMode::Generic ? "SLUICE_DIFF_CILIUM_GENERIC_CASES"
                                                             : "SLUICE_DIFF_CILIUM_CASES";
  runDifferential(cfg, 1500);
}

}  // namespace
}  // namespace sluice::datapath_test
