// sluice_compile_bench: what compiling a whole cluster costs (issue 7,
// "Figures": compile time per stage and in total, peak memory, object size,
// instructions, verifier-processed instructions, load time, against cluster
// size, policy size and service count; the goal: every node of a 10,000-pod /
// 1,000-policy / 1,000-service / 100-node cluster in <= 10 s on 2 cores).
//
// Per size, sluice-gen (tools/gen) writes a cluster to a temporary directory
// once; then each run times, in this order:
//   parse    loadManifests() of that directory (YAML -> ClusterState), as `sluice compile DIR` reads it;
//   lower    ir::lower() of every node (ClusterState -> IR);
//   compile  codegen::compileNode() of every node, in worker processes (--jobs: 1 = sequential), whose
//            wall time is the figure; each node's own time is recorded too;
//   load     runtime::LoadedNode::load() of a sample of the nodes (every program through the verifier).
// compileNode is one call, so its inner stages are measured apart, on a few
// nodes, by compileNode itself keeping its LLVM IR: that IR, parsed again,
// is timed through BpfTarget::optimize (O2) and, after optimization, through
// BpfTarget::emitObject (the BPF backend); building the IR is the node's
// compile time minus those two. Workers are processes, not threads (as
// `sluice compile --jobs` uses), so that each worker's peak RSS is its own.
// The floor ("empty"): a one-pod node without policy, compiled and loaded in
// the same run, and an empty tc program loaded.
#include <bpf/bpf.h>
#include <fmt/format.h>
#include <llvm/AsmParser/Parser.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/SourceMgr.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "codegen/bpf_target.h"
#include "codegen/codegen.h"
#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "runtime/loader.h"
#include "tools/gen/cluster_generator.h"

namespace sluice::bench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct ClusterSize {
  int pods = 0, policies = 0, services = 0, nodes = 0;
  std::string label() const { return fmt::format("{}/{}/{}/{}", pods, policies, services, nodes); }
};

struct Options {
  std::vector<ClusterSize> sizes{{1000, 100, 100, 10}};
  int runs = 3;
  std::vector<int> jobs{1, 2};
  int loadNodes = -1;   // nodes loaded into the kernel per run; -1: all
  int stageNodes = 3;   // nodes whose compile is broken down into stages per run
  double timeoutS = 1800;  // per compile of a whole cluster
  uint64_t seed = 1;
  std::string jsonPath;
  std::string cpu = "v4";
};

// Per-stage peak memory: Linux lets a process reset its RSS high-water mark
// (VmHWM) by writing 5 to /proc/self/clear_refs, so each stage's peak is its
// own and not the largest of everything measured before it in this process.
void resetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }
// This process's CPU time (user + system): unlike wall time, hardly changed by
// other jobs competing for the CPUs, so it tells what an idle machine would take.
double cpuMs() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto ms = [](const timeval& t) { return double(t.tv_sec) * 1000 + double(t.tv_usec) / 1000; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

long peakRssKb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// The generator's options for a size: its usual mix (a CNP per five
// NetworkPolicies, a namespace per hundred pods).
gen::GenOptions genOptions(const ClusterSize& s, uint64_t seed) {
  gen::GenOptions o;
  o.pods = s.pods, o.nodes = s.nodes, o.policies = s.policies, o.cnps = s.policies / 5, o.services = s.services;
  o.namespaces = std::clamp(s.pods / 100, 4, 500);
  o.seed = seed;
  return o;
}

// A node with one pod and no policy or service: what any node costs.
const char* kEmptyCluster =
    "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDR: 10.244.1.0/24}\n"
    "status: {addresses: [{type: InternalIP, address: 192.168.1.1}]}\n"
    "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x, labels: {app: p}}\n"
    "spec: {nodeName: n1, containers: [{name: main}]}\nstatus: {phase: Running, podIP: 10.244.1.5}\n";

size_t objectInstructions(const codegen::CompiledNode& c) {
  size_t n = c.sharedInstructions;
  for (const auto& p : c.programs) n += p.instructions;
  return n;
}

// ---- worker processes ---------------------------------------------------------------
// Each worker takes node indices from a shared pipe (reads of 4 bytes are
// atomic), compiles them and writes one line per node to its own file:
//   N <node> <ms> <object bytes> <instructions> <programs> <CPU ms>
//   R <max RSS kB>            (at the end)
//   X <error>                 (a compile failed)
// Objects of the nodes to load are written to <dir>/n<node>.o.

void workerMain(const ir::Program& program, int queueFd, const std::string& out, const std::vector<bool>& keep,
                const std::string& dir, const std::string& cpu) {
  std::FILE* f = std::fopen(out.c_str(), "w");
  if (!f) ::_exit(3);
  resetPeakRss();
  codegen::CompileOptions copts;
  copts.cpu = cpu;
  for (int32_t i; ::read(queueFd, &i, sizeof i) == sizeof i;) {
    const ir::NodeProgram& np = program.nodes[size_t(i)];
    Diagnostics diags;
    double cpu0 = cpuMs();
    auto t0 = Clock::now();
    codegen::CompiledNode c = codegen::compileNode(program, np, copts, diags);
    double ms = msSince(t0), cpu = cpuMs() - cpu0;
    if (c.object.empty()) {
      std::string e = diags.render(false);
      std::replace(e.begin(), e.end(), '\n', ' ');
      std::fprintf(f, "X node %s: %s\n", np.node.c_str(), e.c_str());
      continue;
    }
    std::fprintf(f, "N %d %.3f %zu %zu %zu %.3f\n", i, ms, c.object.size(), objectInstructions(c), c.programs.size(),
                 cpu);
    if (keep[size_t(i)]) std::ofstream(fmt::format("{}/n{}.o", dir, i), std::ios::binary).write(c.object.data(), std::streamsize(c.object.size()));
  }
  std::fprintf(f, "R %ld\n", peakRssKb());
  std::fclose(f);
  ::_exit(0);
}

// The stage breakdown of one node (see the top of the file): optimize and emit
// timed on compileNode's own IR, parsed again.
//   B <node> <compile ms> <optimize ms> <emit ms>
void breakdownNode(const ir::Program& program, int i, const std::string& cpu, std::FILE* f) {
  const ir::NodeProgram& np = program.nodes[size_t(i)];
  codegen::CompileOptions copts;
  copts.cpu = cpu;
  Diagnostics diags;
  // The plain compile, timed here so that all three figures share this process's conditions; then
  // again keeping the IR (printing it costs time, so that compile is not timed).
  auto t0 = Clock::now();
  codegen::compileNode(program, np, copts, diags);
  double all = msSince(t0);
  copts.keepLlvmIr = copts.keepOptimizedIr = true;
  codegen::CompiledNode c = codegen::compileNode(program, np, copts, diags);
  if (c.object.empty()) return;
  codegen::BpfTarget target(cpu);
  llvm::SMDiagnostic err;
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> before = llvm::parseAssemblyString(c.llvmIr, err, ctx);
  llvm::LLVMContext ctx2;
  std::unique_ptr<llvm::Module> after = llvm::parseAssemblyString(c.optimizedIr, err, ctx2);
  if (!before || !after) {
    std::fprintf(f, "X node %s: its LLVM IR does not parse again: %s\n", np.node.c_str(), err.getMessage().str().c_str());
    return;
  }
  t0 = Clock::now();
  target.optimize(*before);
  double opt = msSince(t0);
  std::vector<char> elf;
  std::string error;
  t0 = Clock::now();
  bool ok = target.emitObject(*after, elf, error);
  double emit = msSince(t0);
  if (ok) std::fprintf(f, "B %d %.3f %.3f %.3f\n", i, all, opt, emit);
}

// The empty node and the breakdown nodes, in one process after the workers.
//   E <ms> <object bytes> <instructions>
void breakdownMain(const ir::Program& program, const std::vector<int>& nodes, const std::string& out,
                   const std::string& dir, const std::string& cpu) {
  std::FILE* f = std::fopen(out.c_str(), "w");
  if (!f) ::_exit(3);
  ClusterState state;
  Diagnostics diags;
  loadManifestText("empty.yaml", kEmptyCluster, state, diags);
  state.finalize();
  ir::Program empty = ir::lower(state, diags);
  if (const ir::NodeProgram* np = empty.findNode("n1"); np && !diags.hasErrors()) {
    codegen::CompileOptions copts;
    copts.cpu = cpu;
    auto t0 = Clock::now();
    codegen::CompiledNode c = codegen::compileNode(empty, *np, copts, diags);
    double ms = msSince(t0);
    if (!c.object.empty()) {
      std::fprintf(f, "E %.3f %zu %zu\n", ms, c.object.size(), objectInstructions(c));
      std::ofstream(dir + "/empty.o", std::ios::binary).write(c.object.data(), std::streamsize(c.object.size()));
    }
  }
  for (int i : nodes) breakdownNode(program, i, cpu, f);
  std::fclose(f);
  ::_exit(0);
}

// Runs `body` in `n` forked processes; returns the wall time in ms, or -1 when
// the deadline passed (the processes are killed) or one of them failed.
template <typename Body>
double inProcesses(int n, double timeoutS, Body body, std::string& error) {
  std::fflush(stdout);
  std::fflush(stderr);
  auto t0 = Clock::now();
  std::vector<pid_t> pids;
  for (int k = 0; k < n; ++k) {
    pid_t pid = ::fork();
    if (pid == 0) body(k);
    if (pid < 0) error = fmt::format("fork: {}", std::strerror(errno));
    else pids.push_back(pid);
  }
  bool failed = !error.empty();
  for (size_t done = 0; done < pids.size();) {
    int status = 0;
    pid_t p = ::waitpid(-1, &status, WNOHANG);
    if (p > 0 && std::find(pids.begin(), pids.end(), p) != pids.end()) {
      ++done;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        failed = true;
        if (error.empty()) error = WIFSIGNALED(status) ? fmt::format("a worker died of signal {}", WTERMSIG(status))
                                                       : fmt::format("a worker exited with {}", WEXITSTATUS(status));
      }
      continue;
    }
    if (msSince(t0) > timeoutS * 1000) {
      for (pid_t q : pids) ::kill(q, SIGKILL);
      while (::waitpid(-1, &status, 0) > 0) {}
      error = fmt::format("stopped after {:.0f} s (--timeout)", timeoutS);
      return -1;
    }
    ::usleep(2000);
  }
  double ms = msSince(t0);
  return failed ? -1 : ms;
}

// ---- one size -------------------------------------------------------------------------

struct NodeFigures {
  std::string name;
  size_t endpoints = 0, rules = 0;
  std::vector<double> compileMs, cpuMs;  // the first jobs value's runs: wall and CPU time
  size_t objectBytes = 0, instructions = 0, programs = 0;
  std::vector<double> loadMs;
  uint64_t verified = 0, xlated = 0;
  uint32_t maxVerifiedProgram = 0;
};

struct SizeFigures {
  ClusterSize size;
  gen::GenOptions gen;
  double generateMs = 0;
  size_t manifestBytes = 0;
  std::vector<double> parseMs, lowerMs, loadNodeMs;  // loadNodeMs: sum over the loaded nodes, per run
  std::map<int, std::vector<double>> compileWallMs;  // jobs -> per run
  std::vector<double> compileSumMs, compileCpuSumMs;  // sums of the nodes' own wall / CPU times, first jobs value
  std::vector<double> bdOpt, bdEmit, bdPlain;  // breakdown nodes: optimize, emit, compile; summed per run
  std::vector<double> emptyCompileMs, emptyLoadMs, emptyTcLoadMs;
  size_t emptyBytes = 0, emptyInstructions = 0;
  uint32_t emptyVerified = 0;
  long rssParseKb = 0, rssLowerKb = 0, rssCompileKb = 0, rssLoadKb = 0;
  std::vector<NodeFigures> nodes;
  int loadedNodes = 0, identities = 0;
  std::vector<std::string> notes;
};

void readLines(const std::string& path, const std::function<void(std::istringstream&, char)>& each) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::istringstream s(line);
    char tag = 0;
    s >> tag;
    each(s, tag);
  }
}

// The indices of `count` nodes spread over the nodes sorted by endpoints (smallest to largest).
std::vector<int> spreadNodes(const ir::Program& program, int count) {
  std::vector<int> order(program.nodes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return program.nodes[size_t(a)].endpoints.size() < program.nodes[size_t(b)].endpoints.size();
  });
  if (count < 0 || size_t(count) >= order.size()) return order;
  std::vector<int> out;
  for (int k = 0; k < count; ++k) out.push_back(order[count == 1 ? order.size() / 2 : size_t(k) * (order.size() - 1) / size_t(count - 1)]);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool measureRun(int run, const Options& opt, const std::string& dir, SizeFigures& f) {
  const std::string tag = f.size.label();
  std::string where = dir + "/manifests";
  ClusterState state;
  Diagnostics diags;
  resetPeakRss();
  auto t0 = Clock::now();
  loadManifests({where}, state, diags);
  f.parseMs.push_back(msSince(t0));
  f.rssParseKb = std::max(f.rssParseKb, peakRssKb());
  if (diags.hasErrors()) {
    f.notes.push_back("the generated cluster does not load: " + diags.render(false).substr(0, 500));
    return false;
  }
  resetPeakRss();
  t0 = Clock::now();
  ir::Program program = ir::lower(state, diags);
  f.lowerMs.push_back(msSince(t0));
  f.rssLowerKb = std::max(f.rssLowerKb, peakRssKb());
  if (diags.hasErrors()) {
    f.notes.push_back("the generated cluster does not lower: " + diags.render(false).substr(0, 500));
    return false;
  }
  std::fprintf(stderr, "%s run %d/%d: parsed in %.0f ms, lowered in %.0f ms (%zu nodes, %zu identities)\n",
               tag.c_str(), run + 1, opt.runs, f.parseMs.back(), f.lowerMs.back(), program.nodes.size(),
               program.identities.size());
  if (f.nodes.empty()) {
    f.identities = int(program.identities.size());
    for (const auto& np : program.nodes) {
      NodeFigures& n = f.nodes.emplace_back();
      n.name = np.node;
      n.endpoints = np.endpoints.size();
      for (const auto& ep : np.endpoints) n.rules += ep.ingress.rules.size() + ep.egress.rules.size();
    }
  }
  std::vector<int> loadSet = spreadNodes(program, opt.loadNodes);
  if (::geteuid() != 0 || opt.loadNodes == 0) loadSet.clear();
  std::vector<bool> keep(program.nodes.size(), false);
  for (int i : loadSet) keep[size_t(i)] = true;

  for (size_t j = 0; j < opt.jobs.size(); ++j) {
    int jobs = opt.jobs[j];
    int queue[2];
    if (::pipe(queue) != 0) return false;
    for (int32_t i = 0; i < int32_t(program.nodes.size()); ++i)
      if (::write(queue[1], &i, sizeof i) != sizeof i) return false;
    ::close(queue[1]);
    std::fprintf(stderr, "%s run %d/%d: compiling %zu nodes in %d process%s...\n", tag.c_str(), run + 1, opt.runs,
                 program.nodes.size(), jobs, jobs == 1 ? "" : "es");
    std::string error;
    double wall = inProcesses(jobs, opt.timeoutS, [&](int k) {
      workerMain(program, queue[0], fmt::format("{}/w{}.txt", dir, k), keep, dir, opt.cpu);
    }, error);
    ::close(queue[0]);
    double sum = 0, cpuSum = 0;
    for (int k = 0; k < jobs; ++k)
      readLines(fmt::format("{}/w{}.txt", dir, k), [&](std::istringstream& s, char t) {
        if (t == 'N') {
          int i = -1;
          double ms = 0;
          s >> i >> ms;
          if (i < 0 || size_t(i) >= f.nodes.size()) return;
          NodeFigures& node = f.nodes[size_t(i)];
          double cpu = 0;
          s >> node.objectBytes >> node.instructions >> node.programs >> cpu;
          if (j == 0) node.compileMs.push_back(ms), node.cpuMs.push_back(cpu);
          sum += ms, cpuSum += cpu;
        } else if (t == 'R') {
          long kb = 0;
          s >> kb;
          f.rssCompileKb = std::max(f.rssCompileKb, kb);
        } else if (t == 'X') {
          std::string rest;
          std::getline(s, rest);
          if (error.empty()) error = "compile failed: " + rest.substr(0, 500);
        }
      });
    if (wall < 0 || !error.empty()) {
      f.notes.push_back(fmt::format("jobs={}: {}", jobs, error));
      return false;
    }
    f.compileWallMs[jobs].push_back(wall);
    if (j == 0) f.compileSumMs.push_back(sum), f.compileCpuSumMs.push_back(cpuSum);
    std::fprintf(stderr, "%s run %d/%d: %d process%s compiled every node in %.0f ms (nodes' own times: %.0f ms)\n",
                 tag.c_str(), run + 1, opt.runs, jobs, jobs == 1 ? "" : "es", wall, sum);
  }

  // Stage breakdown and the empty node, in one process after the workers.
  std::vector<int> bdNodes = spreadNodes(program, opt.stageNodes);
  std::string error;
  inProcesses(1, opt.timeoutS, [&](int) { breakdownMain(program, bdNodes, dir + "/b.txt", dir, opt.cpu); }, error);
  double o = 0, e = 0, plain = 0;
  readLines(dir + "/b.txt", [&](std::istringstream& s, char t) {
    if (t == 'B') {
      int i = 0;
      double a = 0, x = 0, y = 0;
      s >> i >> a >> x >> y;
      o += x, e += y, plain += a;
    } else if (t == 'E') {
      double ms = 0;
      s >> ms >> f.emptyBytes >> f.emptyInstructions;
      f.emptyCompileMs.push_back(ms);
    }
  });
  if (plain > 0) f.bdOpt.push_back(o), f.bdEmit.push_back(e), f.bdPlain.push_back(plain);

  // Load: the sampled nodes, then the empty node and an empty tc program.
  if (!loadSet.empty()) {
    const std::string pinRoot = fmt::format("/sys/fs/bpf/sluice-compile-bench-{}", ::getpid());
    double total = 0;
    resetPeakRss();
    std::fprintf(stderr, "%s run %d/%d: loading %zu nodes...\n", tag.c_str(), run + 1, opt.runs, loadSet.size());
    auto loadOne = [&](const std::string& path, const ir::NodeProgram& np, std::string& error) -> std::optional<std::pair<double, runtime::LoadedNode>> {
      std::ifstream in(path, std::ios::binary);
      codegen::CompiledNode c;
      c.node = np.node;
      c.object.assign(std::istreambuf_iterator<char>(in), {});
      for (auto& [name, size] : codegen::programSizes(c.object)) c.programs.push_back({name, "", {}, "", size});
      runtime::LoadedNode node;
      auto t = Clock::now();
      bool ok = node.load(c, np, fmt::format("{}/{}", pinRoot, np.node), error);
      double ms = msSince(t);
      node.unpinMaps();
      if (!ok) return std::nullopt;
      return std::make_pair(ms, std::move(node));
    };
    for (int i : loadSet) {
      std::string error;
      auto r = loadOne(fmt::format("{}/n{}.o", dir, i), program.nodes[size_t(i)], error);
      if (!r) {
        f.notes.push_back(fmt::format("node {} did not load: {}", program.nodes[size_t(i)].node, error.substr(0, 300)));
        continue;
      }
      NodeFigures& n = f.nodes[size_t(i)];
      n.loadMs.push_back(r->first);
      total += r->first;
      n.verified = n.xlated = 0;
      n.maxVerifiedProgram = 0;
      for (const auto& p : r->second.programs()) {
        n.verified += p.verifiedInstructions;
        n.xlated += p.instructions;
        n.maxVerifiedProgram = std::max(n.maxVerifiedProgram, p.verifiedInstructions);
      }
    }
    f.loadNodeMs.push_back(total);
    f.loadedNodes = int(loadSet.size());
    ClusterState es;
    Diagnostics ed;
    loadManifestText("empty.yaml", kEmptyCluster, es, ed);
    es.finalize();
    ir::Program empty = ir::lower(es, ed);
    if (const ir::NodeProgram* np = empty.findNode("n1"); np && fs::exists(dir + "/empty.o")) {
      std::string error;
      if (auto r = loadOne(dir + "/empty.o", *np, error)) {
        f.emptyLoadMs.push_back(r->first);
        f.emptyVerified = 0;
        for (const auto& p : r->second.programs()) f.emptyVerified += p.verifiedInstructions;
      }
    }
    std::vector<double> tc;
    for (int k = 0; k < 21; ++k) {
      auto t = Clock::now();
      int fd = loadEmptyProgram();
      tc.push_back(msSince(t));
      if (fd >= 0) ::close(fd);
    }
    f.emptyTcLoadMs.push_back(median(tc));
    f.rssLoadKb = std::max(f.rssLoadKb, peakRssKb());
    std::error_code ec;
    fs::remove_all(pinRoot, ec);
    std::fprintf(stderr, "%s run %d/%d: loaded %zu nodes in %.0f ms\n", tag.c_str(), run + 1, opt.runs, loadSet.size(), total);
  }
  return true;
}

bool measureSize(const ClusterSize& size, const Options& opt, SizeFigures& f) {
  f.size = size;
  f.gen = genOptions(size, opt.seed);
  if (std::string problem = gen::validateOptions(f.gen); !problem.empty()) {
    f.notes.push_back("sluice-gen refuses this size: " + problem);
    return false;
  }
  const std::string dir = fmt::format("/tmp/sluice-compile-bench-{}", ::getpid());
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir + "/manifests");
  std::fprintf(stderr, "%s: generating the cluster...\n", size.label().c_str());
  // Generated in a child process, so that this one's peak memory is sluice's own.
  std::string error;
  f.generateMs = inProcesses(1, opt.timeoutS, [&](int) {
    auto cluster = gen::generateCluster(f.gen);
    for (const auto& file : cluster.files) std::ofstream(dir + "/manifests/" + file.name, std::ios::binary) << file.text;
    ::_exit(0);
  }, error);
  for (const auto& e : fs::directory_iterator(dir + "/manifests")) f.manifestBytes += e.file_size();
  bool ok = f.generateMs >= 0;
  if (!ok) f.notes.push_back("generating failed: " + error);
  for (int run = 0; ok && run < opt.runs; ++run) ok = measureRun(run, opt, dir, f);
  fs::remove_all(dir, ec);
  return ok || !f.parseMs.empty();
}



// ---- output ---------------------------------------------------------------------------

double sumOf(const std::vector<NodeFigures>& nodes, size_t NodeFigures::*field) {
  double s = 0;
  for (const auto& n : nodes) s += double(n.*field);
  return s;
}
size_t maxOf(const std::vector<NodeFigures>& nodes, size_t NodeFigures::*field) {
  size_t m = 0;
  for (const auto& n : nodes) m = std::max(m, n.*field);
  return m;
}

// The stage shares of compiling, from the breakdown nodes: building the IR
// (compile minus the two), O2, BPF emission, all timed in the breakdown
// process one after the other. Medians over runs of the sums.
struct Shares {
  double build = 0, optimize = 0, emit = 0;
  bool known = false;
};
Shares shares(const SizeFigures& f) {
  Shares s;
  double plain = median(f.bdPlain), o = median(f.bdOpt), e = median(f.bdEmit);
  if (plain <= 0 || o + e <= 0) return s;
  s.known = true;
  s.optimize = std::min(1.0, o / plain), s.emit = std::min(1.0 - s.optimize, e / plain);
  s.build = 1.0 - s.optimize - s.emit;
  return s;
}

json toJson(const SizeFigures& f, const Options& opt) {
  json j;
  j["pods"] = f.size.pods, j["policies"] = f.size.policies, j["services"] = f.size.services, j["nodes"] = f.size.nodes;
  j["cnps"] = f.gen.cnps, j["namespaces"] = f.gen.namespaces, j["seed"] = f.gen.seed;
  j["manifest_bytes"] = f.manifestBytes, j["generate_ms"] = f.generateMs, j["identities"] = f.identities;
  j["endpoints"] = sumOf(f.nodes, &NodeFigures::endpoints), j["rules"] = sumOf(f.nodes, &NodeFigures::rules);
  j["max_node_endpoints"] = maxOf(f.nodes, &NodeFigures::endpoints);
  j["runs"] = f.parseMs.size();
  j["parse_ms"] = median(f.parseMs), j["lower_ms"] = median(f.lowerMs);
  json wall = json::object();
  for (const auto& [jobs, v] : f.compileWallMs) wall[std::to_string(jobs)] = median(v);
  j["compile_wall_ms"] = wall;
  j["compile_nodes_sum_ms"] = median(f.compileSumMs);
  j["compile_nodes_cpu_sum_ms"] = median(f.compileCpuSumMs);
  j["compile_jobs_of_sum"] = opt.jobs.front();
  std::vector<double> perNode;
  for (const auto& n : f.nodes)
    if (!n.compileMs.empty()) perNode.push_back(median(n.compileMs));
  j["compile_node_median_ms"] = median(perNode);
  std::vector<double> cpuPerNode;
  for (const auto& n : f.nodes)
    if (!n.cpuMs.empty()) cpuPerNode.push_back(median(n.cpuMs));
  j["compile_node_cpu_median_ms"] = median(cpuPerNode);
  j["compile_node_max_ms"] = perNode.empty() ? 0 : *std::max_element(perNode.begin(), perNode.end());
  Shares s = shares(f);
  j["stage_share"] = s.known ? json{{"build_ir", s.build}, {"optimize", s.optimize}, {"emit", s.emit}} : json();
  j["stage_nodes"] = opt.stageNodes;
  j["peak_rss_kb"] = {{"parse", f.rssParseKb}, {"lower", f.rssLowerKb}, {"compile_worker", f.rssCompileKb},
                      {"load", f.rssLoadKb}};
  j["object_bytes"] = {{"total", sumOf(f.nodes, &NodeFigures::objectBytes)},
                       {"max_node", maxOf(f.nodes, &NodeFigures::objectBytes)}};
  j["instructions"] = {{"total", sumOf(f.nodes, &NodeFigures::instructions)},
                       {"max_node", maxOf(f.nodes, &NodeFigures::instructions)}};
  j["programs"] = sumOf(f.nodes, &NodeFigures::programs);
  uint64_t verified = 0, xlated = 0;
  uint32_t maxProgram = 0;
  std::vector<double> loadPerNode;
  for (const auto& n : f.nodes)
    if (!n.loadMs.empty()) {
      verified += n.verified, xlated += n.xlated, maxProgram = std::max(maxProgram, n.maxVerifiedProgram);
      loadPerNode.push_back(median(n.loadMs));
    }
  j["loaded_nodes"] = f.loadedNodes;
  j["load_ms"] = f.loadNodeMs.empty() ? json() : json(median(f.loadNodeMs));
  j["load_node_median_ms"] = loadPerNode.empty() ? json() : json(median(loadPerNode));
  j["verified_insns_loaded"] = verified, j["xlated_insns_loaded"] = xlated, j["max_verified_program"] = maxProgram;
  j["empty"] = {{"compile_ms", median(f.emptyCompileMs)}, {"object_bytes", f.emptyBytes},
                {"instructions", f.emptyInstructions}, {"verified_insns", f.emptyVerified},
                {"load_ms", f.emptyLoadMs.empty() ? json() : json(median(f.emptyLoadMs))},
                {"tc_load_ms", f.emptyTcLoadMs.empty() ? json() : json(median(f.emptyTcLoadMs))}};
  j["notes"] = f.notes;
  return j;
}

std::string kb(double bytes) { return fmt::format("{:.0f}", bytes / 1024); }
std::string mb(long kbs) { return kbs ? fmt::format("{:.0f}", double(kbs) / 1024) : "—"; }

void printTables(const std::vector<SizeFigures>& all, const Options& opt, const std::string& command) {
  utsname u{};
  ::uname(&u);
  std::printf("## sluice_compile_bench: every node of a sluice-gen cluster, medians of %d runs\n\n", opt.runs);
  std::printf("Command: `%s`  \n", command.c_str());
  std::printf("Kernel %s, %ld CPUs. Size: pods/policies/services/nodes (CNPs: policies/5).\n\n", u.release,
              ::sysconf(_SC_NPROCESSORS_ONLN));
  std::string jobsHeader;
  for (int jobs : opt.jobs) jobsHeader += fmt::format(" compile, {} process{} ms |", jobs, jobs == 1 ? "" : "es");
  std::printf("| size | endpoints / rules | parse ms | lower ms |%s node compile ms median / max (× empty node) | "
              "IR build / O2 / BPF emit | total ms (best) |\n",
              jobsHeader.c_str());
  std::string jobsRule;
  for (size_t k = 0; k < opt.jobs.size(); ++k) jobsRule += "---:|";
  std::printf("|---|---:|---:|---:|%s---:|---|---:|\n", jobsRule.c_str());
  for (const SizeFigures& f : all) {
    json j = toJson(f, opt);
    std::string cols;
    double best = 0;
    for (int jobs : opt.jobs) {
      auto it = f.compileWallMs.find(jobs);
      double w = it == f.compileWallMs.end() ? 0 : median(it->second);
      cols += w > 0 ? fmt::format(" {:.0f} |", w) : " — |";
      if (w > 0 && (best == 0 || w < best)) best = w;
    }
    Shares s = shares(f);
    double empty = median(f.emptyCompileMs);
    std::printf("| %s | %.0f / %.0f | %.0f | %.0f |%s %.0f / %.0f (%.1f×) | %s | %s |\n", f.size.label().c_str(),
                double(j["endpoints"]), double(j["rules"]), median(f.parseMs), median(f.lowerMs), cols.c_str(),
                double(j["compile_node_median_ms"]), double(j["compile_node_max_ms"]),
                empty > 0 ? double(j["compile_node_median_ms"]) / empty : 0.0,
                s.known ? fmt::format("{:.0f}% / {:.0f}% / {:.0f}%", 100 * s.build, 100 * s.optimize, 100 * s.emit).c_str() : "—",
                best > 0 ? fmt::format("{:.0f}", median(f.parseMs) + median(f.lowerMs) + best).c_str() : "—");
  }
  std::printf("\n| size | peak RSS MB: parse / lower / compile worker / load | object KB total (max node) | BPF "
              "insns total (max node) | loaded nodes | load ms per node (× empty node) | verifier-processed insns "
              "(loaded nodes; max one program) |\n|---|---|---:|---:|---:|---:|---:|\n");
  for (const SizeFigures& f : all) {
    json j = toJson(f, opt);
    double emptyLoad = f.emptyLoadMs.empty() ? 0 : median(f.emptyLoadMs);
    std::string load = j["load_node_median_ms"].is_null()
                           ? "—"
                           : fmt::format("{:.0f} ({:.1f}×)", double(j["load_node_median_ms"]),
                                         emptyLoad > 0 ? double(j["load_node_median_ms"]) / emptyLoad : 0.0);
    std::printf("| %s | %s / %s / %s / %s | %s (%s) | %.0f (%zu) | %d | %s | %llu (%u) |\n", f.size.label().c_str(),
                mb(f.rssParseKb).c_str(), mb(f.rssLowerKb).c_str(), mb(f.rssCompileKb).c_str(),
                mb(f.rssLoadKb).c_str(), kb(sumOf(f.nodes, &NodeFigures::objectBytes)).c_str(),
                kb(double(maxOf(f.nodes, &NodeFigures::objectBytes))).c_str(), sumOf(f.nodes, &NodeFigures::instructions),
                maxOf(f.nodes, &NodeFigures::instructions), f.loadedNodes, load.c_str(),
                (unsigned long long)j["verified_insns_loaded"], unsigned(j["max_verified_program"]));
  }
  if (!all.empty()) {
    const SizeFigures& f = all.front();
    std::printf("\nThe empty node (one pod, no policy, no service), same run: compile %.0f ms, object %zu bytes, %zu "
                "insns, load %s ms, %u verifier-processed insns; an empty tc program loads in %s ms.\n",
                median(f.emptyCompileMs), f.emptyBytes, f.emptyInstructions,
                f.emptyLoadMs.empty() ? "—" : fmt::format("{:.1f}", median(f.emptyLoadMs)).c_str(), f.emptyVerified,
                f.emptyTcLoadMs.empty() ? "—" : fmt::format("{:.3f}", median(f.emptyTcLoadMs)).c_str());
  }
  std::printf(
      "\n- parse: loadManifests() of the generated directory (YAML → ClusterState, files read included); lower: "
      "ir::lower() of all nodes; compile: codegen::compileNode() of every node in that many worker processes "
      "(wall time; a process takes the next node when it is done); total: parse + lower + the best compile wall "
      "time (load excluded: each node loads its own object).\n"
      "- IR build / O2 / BPF emit: on %d nodes spread by size, compileNode's LLVM IR is parsed again and timed "
      "through BpfTarget::optimize and, optimized, through BpfTarget::emitObject; IR build is the node's compile "
      "time (timed in the same process) minus those: a residual, 0 when the two, timed on re-parsed modules, add up "
      "to more.\n"
      "- Peak RSS: the process's high-water mark during that stage (VmHWM, reset before each stage); it includes what "
      "the process held already (the ClusterState during lower, ClusterState and IR in a compile worker and during "
      "load). Kernel memory of loaded programs is not counted.\n"
      "- load: LoadedNode::load() (every program verified, maps created and filled) of the loaded nodes, spread by "
      "size.\n",
      opt.stageNodes);
  for (const SizeFigures& f : all)
    for (const auto& n : f.notes) std::printf("- %s: %s\n", f.size.label().c_str(), n.c_str());
}

// ---- command line ---------------------------------------------------------------------

const char* kUsage =
    "Usage: sluice_compile_bench [--sizes LIST] [--runs N] [--jobs LIST] [--load-nodes N] [--stage-nodes N]\n"
    "                            [--seed N] [--timeout SEC] [--cpu v3|v4] [--json FILE]\n"
    "\n"
    "Compiles every node of sluice-gen clusters (tools/gen) and measures each stage: parse, lower,\n"
    "compile (with IR build / O2 / BPF emission shares), load into the kernel; peak memory, object\n"
    "size, BPF instructions, verifier-processed instructions; an empty node and an empty tc program\n"
    "as the floor. Prints Markdown tables (medians) on stdout, progress on stderr. Loading needs\n"
    "root; without it (or with --load-nodes 0) loads are skipped.\n"
    "\n"
    "  --sizes LIST      PODS/POLICIES/SERVICES/NODES, comma-separated (default 1000/100/100/10;\n"
    "                    the issue's goal is 10000/1000/1000/100, about 10 minutes per run here)\n"
    "  --runs N          runs per size; figures are medians (default 3)\n"
    "  --jobs LIST       worker-process counts to compile with, each timed (default 1,2)\n"
    "  --load-nodes N    nodes loaded into the kernel per run, spread by size (default: all; 0: none)\n"
    "  --stage-nodes N   nodes whose compile is broken down into stages per run (default 3)\n"
    "  --seed N          sluice-gen seed (default 1)\n"
    "  --timeout SEC     stop a compile of a whole cluster that takes longer (default 1800)\n"
    "  --cpu v3|v4       BPF instruction set, as sluice compile --cpu (default v4)\n"
    "  --json FILE       also write every figure as JSON (for tools/bench-report)\n"
    "  -h, --help        this text\n";

bool parseSize(const std::string& text, ClusterSize& s) {
  std::istringstream in(text);
  std::string a, b, c, d;
  return std::getline(in, a, '/') && std::getline(in, b, '/') && std::getline(in, c, '/') && std::getline(in, d) &&
         parseNumber(a, s.pods, 1, 200000) && parseNumber(b, s.policies, 0, 100000) &&
         parseNumber(c, s.services, 2, 200000) && parseNumber(d, s.nodes, 1, 5000);
}

int run(int argc, char** argv) {
  Options opt;
  const std::string command = commandLine(argc, argv);
  for (int i = 1; i < argc; ++i) {
    std::string a, value;
    if (int r = nextOption(argc, argv, i, a, value, "sluice_compile_bench", kUsage); r != 0) {
      if (r == 1) std::fputs(kUsage, stdout);
      return r == 1 ? 0 : 2;
    }
    bool ok = true;
    auto list = [&](auto parseItem) {
      std::istringstream in(value);
      int count = 0;
      for (std::string item; ok && std::getline(in, item, ',');) ok = parseItem(item), ++count;
      ok = ok && count > 0;
    };
    if (a == "--sizes") {
      opt.sizes.clear();
      list([&](const std::string& item) { return parseSize(item, opt.sizes.emplace_back()); });
    } else if (a == "--runs") {
      ok = parseNumber(value, opt.runs, 1, 1000);
    } else if (a == "--jobs") {
      opt.jobs.clear();
      list([&](const std::string& item) { return parseNumber(item, opt.jobs.emplace_back(), 1, 256); });
    } else if (a == "--load-nodes") {
      ok = parseNumber(value, opt.loadNodes, 0, 5000);
    } else if (a == "--stage-nodes") {
      ok = parseNumber(value, opt.stageNodes, 0, 5000);
    } else if (a == "--seed") {
      ok = parseNumber(value, opt.seed, uint64_t(0), UINT64_MAX);
    } else if (a == "--timeout") {
      int s = 0;
      ok = parseNumber(value, s, 1, 86400);
      opt.timeoutS = s;
    } else if (a == "--cpu") {
      ok = value == "v3" || value == "v4";
      opt.cpu = value;
    } else if (a == "--json") {
      opt.jsonPath = value;
    } else {
      std::fprintf(stderr, "sluice_compile_bench: unknown option %s\n\n%s", a.c_str(), kUsage);
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "sluice_compile_bench: bad value '%s' for %s\n\n%s", value.c_str(), a.c_str(), kUsage);
      return 2;
    }
  }
  if (::geteuid() != 0 && opt.loadNodes != 0)
    std::fprintf(stderr, "note: not root, so nothing is loaded into the kernel (no load times, no verifier figures)\n");
  if (::geteuid() == 0 && opt.loadNodes != 0)
    if (std::string e = runtime::ensureBpffs(); !e.empty()) {
      std::fprintf(stderr, "sluice_compile_bench: %s\n", e.c_str());
      return 1;
    }
  std::vector<SizeFigures> all;
  bool any = false;
  for (const ClusterSize& size : opt.sizes) {
    SizeFigures f;
    any |= measureSize(size, opt, f);
    for (const auto& n : f.notes) std::fprintf(stderr, "%s: %s\n", size.label().c_str(), n.c_str());
    all.push_back(std::move(f));
  }
  printTables(all, opt, command);
  if (!opt.jsonPath.empty()) {
    utsname u{};
    ::uname(&u);
    json j = {{"bench", "sluice_compile_bench"}, {"command", command}, {"kernel", u.release},
              {"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)}, {"runs", opt.runs}, {"jobs", opt.jobs}};
    for (const SizeFigures& f : all) j["sizes"].push_back(toJson(f, opt));
    std::ofstream out(opt.jsonPath);
    out << j.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "sluice_compile_bench: cannot write %s\n", opt.jsonPath.c_str());
      return 1;
    }
  }
  return any ? 0 : 1;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) { return sluice::bench::run(argc, argv); }
