// sluice_bench: what an endpoint policy of 10 to 10,000 rules costs, in the
// kernel and in the compiler (issue 3, "Benchmark"; the targets are in
// /work/shared/design/PERFORMANCE.md). A benchmark, not a test: it needs root,
// prints a Markdown table on stdout (progress on stderr) and is not run by ctest.
//
// The cluster is generated here: one node, 36 pods (namespaces x, y, z labelled
// team=red/blue/green; apps web, api, db, cache; three replicas each: 12
// identities) and the target pod x/target, whose NetworkPolicy has N ingress
// rules, rule i admitting TCP port 10000+i from, by i % 3: a podSelector
// (app), a namespaceSelector (team) or an ipBlock /24. The probes go through
// the target's to-pod program (its ingress policy):
//   - allowed: from an x/<app> pod that rule m admits, m the podSelector rule
//     nearest N/2, on m's port (checked: the kernel's decision names rule m);
//   - denied: from another x pod on the same port (its identity is admitted by
//     other rules, on other ports: the decision runs, no rule allows).
// Every figure of a run comes from the same process, one after the other, and
// the ratios are taken within a run before the median (PERFORMANCE.md:
// absolute numbers drift, ratios measured in one run compare).
//
// `--datapath specialized,generic` measures each size in both codegen modes
// (generic: the same IR as table lookups, docs/datapath.md) in the same
// process, their runs interleaved, and adds a table comparing them (issue 7's goal:
// a specialized new-flow verdict at least 2× faster than generic).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/bpf.h>
#include <poll.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "codegen/codegen.h"
#include "codegen/datapath/sluice_abi.h"
#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "runtime/loader.h"
#include "runtime/test_run.h"

namespace sluice::bench {
namespace {

struct Options {
  std::vector<int> rules{10, 100, 1000, 10000};
  int runs = 7;
  int instances = 1;  // --instances: loads of each size, the runs taken on each in turn
  uint32_t repeat = 1000000;   // BPF_PROG_TEST_RUN repeat for established, denied, empty
  uint32_t newFlows = 100000;  // distinct packets (repeat=1 each) for "new allowed"
  double compileTimeoutS = 120;
  double budgetS = 60;  // repeat a compile or a load for the median while their total stays under this
  std::string jsonPath;  // --json: also write the figures there
  std::vector<int> otherPods{0};  // --other-pods: pods on a second node, for the cluster-size axis
  std::vector<codegen::DatapathMode> modes{codegen::DatapathMode::Specialized};
};

const char* const kNamespaces[] = {"x", "y", "z"};
const char* const kTeams[] = {"red", "blue", "green"};
const char* const kApps[] = {"web", "api", "db", "cache"};
constexpr int kReplicas = 3;
constexpr size_t kEndpoints = 1 + 3 * 4 * kReplicas;  // the target and the pods
const char* const kTarget = "x/target";
const char* const kTargetIp = "10.244.1.5";

// Pod k (0..35): namespace k/12, app (k/3)%4, replica k%3, address 10.244.1.(10+k).
std::string podIp(int ns, int app, int replica) { return fmt::format("10.244.1.{}", 10 + ns * 12 + app * 3 + replica); }

// The rule the allowed probe hits: a podSelector rule (i % 3 == 0) in the middle.
int middleRule(int rules) { return rules / 2 - (rules / 2) % 3; }
int middleApp(int rules) { return (middleRule(rules) / 3) % 4; }

// `otherPods` more pods on node n2 (10.128.0.0/9), in the same namespaces
// and with the same apps: n1's programs are the same code, only the IP cache
// (one entry per pod) grows with the cluster.
std::string clusterYaml(int rules, int otherPods) {
  std::string y =
      "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDR: 10.244.1.0/24}\n"
      "status: {addresses: [{type: InternalIP, address: 192.168.1.1}]}\n";
  if (otherPods > 0)
    y += "---\napiVersion: v1\nkind: Node\nmetadata: {name: n2}\nspec: {podCIDR: 10.128.0.0/9}\n"
         "status: {addresses: [{type: InternalIP, address: 192.168.1.2}]}\n";
  for (int n = 0; n < 3; ++n)
    y += fmt::format("---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {}, labels: {{team: {}}}}}\n",
                     kNamespaces[n], kTeams[n]);
  auto pod = [&](const std::string& ns, const std::string& name, const std::string& app, const std::string& ip,
                 const char* node = "n1") {
    y += fmt::format(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {}, namespace: {}, labels: {{app: {}}}}}\n"
        "spec: {{nodeName: {}, containers: [{{name: main}}]}}\nstatus: {{phase: Running, podIP: {}}}\n",
        name, ns, app, node, ip);
  };
  pod("x", "target", "target", kTargetIp);
  for (int n = 0; n < 3; ++n)
    for (int a = 0; a < 4; ++a)
      for (int r = 0; r < kReplicas; ++r) pod(kNamespaces[n], fmt::format("{}-{}", kApps[a], r), kApps[a], podIp(n, a, r));
  for (int k = 0; k < otherPods; ++k)
    pod(kNamespaces[k % 3], fmt::format("far-{}", k), kApps[(k / 3) % 4],
        fmt::format("10.{}.{}.{}", 128 + k / 65536, (k / 256) % 256, k % 256), "n2");
  y += "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bench, namespace: x}\n"
       "spec:\n  podSelector: {matchLabels: {app: target}}\n  policyTypes: [Ingress]\n  ingress:\n";
  for (int i = 0; i < rules; ++i) {
    int j = i / 3;
    std::string peer;
    if (i % 3 == 0) peer = fmt::format("{{podSelector: {{matchLabels: {{app: {}}}}}}}", kApps[j % 4]);
    else if (i % 3 == 1) peer = fmt::format("{{namespaceSelector: {{matchLabels: {{team: {}}}}}}}", kTeams[j % 3]);
    else peer = fmt::format("{{ipBlock: {{cidr: 172.{}.{}.0/24}}}}", 16 + j / 256, j % 256);
    y += fmt::format("  - from: [{}]\n    ports: [{{protocol: TCP, port: {}}}]\n", peer, 10000 + i);
  }
  return y;
}

// The generated cluster, loaded like a user's manifests (loadManifestText,
// checkDuplicates, finalize) and lowered.
ir::Program lowerCluster(int rules, int otherPods, Diagnostics& diags) {
  ClusterState state;
  loadManifestText(fmt::format("bench-{}.yaml", rules), clusterYaml(rules, otherPods), state, diags);
  checkDuplicates(state, diags);
  state.finalize();
  return diags.hasErrors() ? ir::Program{} : ir::lower(state, diags);
}

// ---- compiling in a child process, so a slow size can be stopped ---------------
// The child compiles the node up to `runs` times (while their total stays under
// the budget) and sends back the object once and each wall time. Frames: a tag
// byte ('O' object, 'T' time in ms, 'E' error text, 'D' done), a u64 length,
// the payload.

bool writeFrame(int fd, char tag, const void* p, uint64_t n) {
  std::string buf(1, tag);
  buf.append(reinterpret_cast<const char*>(&n), sizeof n).append(static_cast<const char*>(p), n);
  for (size_t at = 0; at < buf.size();) {
    ssize_t w = ::write(fd, buf.data() + at, buf.size() - at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    at += size_t(w);
  }
  return true;
}

// 1: read; 0: end of stream or error; -1: the deadline passed.
int readAll(int fd, char* c, size_t n, Clock::time_point deadline) {
  while (n > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return -1;
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, int(std::min<long long>(left, 1000))) <= 0) continue;  // timeout or EINTR: check again
    ssize_t r = ::read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    c += r;
    n -= size_t(r);
  }
  return 1;
}

int readFrame(int fd, char& tag, std::string& data, Clock::time_point deadline) {
  uint64_t n = 0;
  int r = readAll(fd, &tag, 1, deadline);
  if (r == 1) r = readAll(fd, reinterpret_cast<char*>(&n), sizeof n, deadline);
  if (r != 1) return r;
  data.assign(n, '\0');
  return readAll(fd, data.data(), n, deadline);
}

struct CompileOutcome {
  bool timedOut = false;
  std::string error;
  codegen::CompiledNode compiled;  // object and program sizes
  std::vector<double> ms;          // compileNode wall time, each compile
};

CompileOutcome compileInChild(const ir::Program& program, const ir::NodeProgram& node, const Options& opt,
                              codegen::DatapathMode mode) {
  CompileOutcome out;
  int p[2];
  if (::pipe(p) != 0) {
    out.error = fmt::format("pipe: {}", std::strerror(errno));
    return out;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) {
    out.error = fmt::format("fork: {}", std::strerror(errno));
    return out;  // (the pipe's two descriptors leak, once)
  }
  if (pid == 0) {
    ::close(p[0]);
    double total = 0;
    for (int k = 0; k < opt.runs; ++k) {
      Diagnostics diags;
      auto t0 = Clock::now();
      codegen::CompileOptions copts;
      copts.datapath = mode;
      codegen::CompiledNode c = codegen::compileNode(program, node, copts, diags);
      double ms = msSince(t0);
      if (c.object.empty()) {
        std::string e = diags.render(false);
        writeFrame(p[1], 'E', e.data(), e.size());
        break;
      }
      if (k == 0 && !writeFrame(p[1], 'O', c.object.data(), c.object.size())) break;
      if (!writeFrame(p[1], 'T', &ms, sizeof ms)) break;
      total += ms;
      if (total > opt.budgetS * 1000) break;
    }
    writeFrame(p[1], 'D', nullptr, 0);
    ::_exit(0);
  }
  ::close(p[1]);
  for (;;) {
    auto deadline = opt.compileTimeoutS > 0
                        ? Clock::now() + std::chrono::milliseconds(int64_t(opt.compileTimeoutS * 1000))
                        : Clock::time_point::max();
    char tag = 0;
    std::string data;
    int r = readFrame(p[0], tag, data, deadline);
    if (r == -1) {
      out.timedOut = out.ms.empty();  // a later compile that stalls only loses its sample
      ::kill(pid, SIGKILL);
      break;
    }
    if (r == 0) {
      if (out.ms.empty() && out.error.empty()) out.error = "the compiling process ended without a result";
      break;
    }
    if (tag == 'O') out.compiled.object.assign(data.begin(), data.end());
    else if (tag == 'T' && data.size() == sizeof(double)) out.ms.push_back(*reinterpret_cast<const double*>(data.data()));
    else if (tag == 'E') out.error = data.empty() ? "compileNode failed" : data;
    else if (tag == 'D') break;
  }
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.compiled.node = node.node;
  out.compiled.datapath = mode;  // the object carries its tables (generic mode): the loader reads them there
  for (auto& [name, size] : codegen::programSizes(out.compiled.object)) {
    codegen::ProgramInfo& info = out.compiled.programs.emplace_back();
    std::tie(info.name, info.instructions) = std::tie(name, size);
  }
  return out;
}

// ---- kernel side -----------------------------------------------------------------

struct SizeResult {
  int rules = 0;
  int otherPods = 0;  // pods on n2; the cluster has kEndpoints + otherPods
  codegen::DatapathMode mode = codegen::DatapathMode::Specialized;
  bool compileTimedOut = false;
  std::vector<double> compileMs, loadMs;
  size_t insTo = 0, insFrom = 0;
  uint32_t verTo = 0, verFrom = 0, xlTo = 0, xlFrom = 0;
  bool measured = false;
  std::vector<double> empty, est, den, empty1, denied1, allowed1, rEst, rDen, rAllowed;
  std::vector<std::string> notes;
};

runtime::PacketSpec spec(const std::string& from, uint16_t sport, uint16_t dport, bool syn = true) {
  return runtime::PacketSpec{*IpAddr::parse(from), *IpAddr::parse(kTargetIp), ir::L4Proto::TCP, sport, dport, syn};
}

std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

size_t clusterPods(const SizeResult& r) { return kEndpoints + size_t(r.otherPods); }

// "rules=100 pods=1037 specialized": names one measurement in progress lines and notes.
std::string tagOf(const SizeResult& r) {
  return fmt::format("rules={} pods={} {}", r.rules, clusterPods(r), codegen::datapathModeName(r.mode));
}

// One size in one codegen mode, compiled, loaded and probed, then measured
// run by run: the runs of all sizes and modes interleave, so that whatever
// else the machine does meanwhile weighs on each alike.
struct Measurement {
  SizeResult res;
  runtime::LoadedNode node;
  int fd = -1, ctFd = -1, app = 0;
  uint16_t port = 0;
  std::vector<uint8_t> synEst, ackEst, denied, emptyPkt;
  bool ready = false;  // prepared; measureRun may run
  Measurement() = default;
  Measurement(const Measurement&) = delete;
  ~Measurement() { node.unpinMaps(); }
};

// Compiles, loads and checks the probes of one size. Returns false when
// nothing can be measured (the reason is in `res.notes`).
bool prepareSize(int rules, int otherPods, codegen::DatapathMode mode, const Options& opt, const std::string& pinRoot,
                 Measurement& out) {
  SizeResult& res = out.res;
  runtime::LoadedNode& node = out.node;
  res.rules = rules;
  res.otherPods = otherPods;
  res.mode = mode;
  const std::string tag = tagOf(res);
  const std::string pinDir = fmt::format("{}/r{}-p{}-{}", pinRoot, rules, otherPods, codegen::datapathModeName(mode));
  Diagnostics diags;
  ir::Program program = lowerCluster(rules, otherPods, diags);
  if (diags.hasErrors()) {
    res.notes.push_back("the generated cluster did not load: " + firstLine(diags.render(false)));
    std::fprintf(stderr, "%s\n", diags.render(false).c_str());
    return false;
  }
  const ir::NodeProgram* np = program.findNode("n1");
  const ir::Endpoint* ep = np ? np->findEndpoint(kTarget) : nullptr;
  if (!ep || ep->ingress.rules.size() != size_t(rules)) {
    res.notes.push_back(fmt::format("{} has {} ingress rules in the IR, expected {}", kTarget,
                                    ep ? ep->ingress.rules.size() : 0, rules));
    return false;
  }
  const std::string toPod = codegen::programName(*np, *ep, ir::Direction::Ingress);
  const std::string fromPod = codegen::programName(*np, *ep, ir::Direction::Egress);

  std::fprintf(stderr, "%s: compiling node n1 (%zu endpoints)...\n", tag.c_str(), np->endpoints.size());
  CompileOutcome c = compileInChild(program, *np, opt, mode);
  res.compileMs = c.ms;
  if (c.timedOut) {
    res.compileTimedOut = true;
    res.notes.push_back(fmt::format("compiling took more than {:.0f} s and was stopped", opt.compileTimeoutS));
    return false;
  }
  if (c.compiled.object.empty()) {
    res.notes.push_back("compile failed: " + firstLine(c.error));
    std::fprintf(stderr, "%s\n", c.error.c_str());
    return false;
  }
  for (const auto& p : c.compiled.programs) {
    if (p.name == toPod) res.insTo = p.instructions;
    if (p.name == fromPod) res.insFrom = p.instructions;
  }
  std::fprintf(stderr, "%s: compiled in %.0f ms (%zu samples); loading...\n", tag.c_str(), median(res.compileMs),
               res.compileMs.size());

  // The node measured on; then more loads of the same object, for the median.
  std::string error;
  auto t0 = Clock::now();
  bool loaded = node.load(c.compiled, *np, pinDir, error);
  res.loadMs.push_back(msSince(t0));
  if (!loaded) {
    std::string line;
    size_t cut = error.size() > 1500 ? error.size() - 1500 : 0;
    std::fprintf(stderr, "%s: load failed:\n%s\n", tag.c_str(), error.substr(cut).c_str());
    // "program P was refused" and the verifier's last words before its "processed N insns" line.
    std::string refused, last;
    for (std::istringstream in(error); std::getline(in, line);) {
      if (line.find(" was refused") != std::string::npos) refused = line.substr(0, line.find(';'));
      else if (line.rfind("processed ", 0) == 0) break;
      else if (!line.empty()) last = line;
    }
    res.notes.push_back(fmt::format("load failed after {:.0f} ms: {}{}", res.loadMs[0], firstLine(error),
                                    refused.empty() ? "" : fmt::format(" ({}: {})", refused, last)));
    return false;
  }
  for (double total = res.loadMs[0]; int(res.loadMs.size()) < opt.runs && total < opt.budgetS * 1000;) {
    runtime::LoadedNode again;
    std::string e;
    t0 = Clock::now();
    bool ok = again.load(c.compiled, *np, fmt::format("{}-{}", pinDir, res.loadMs.size()), e);
    double ms = msSince(t0);
    again.unpinMaps();
    if (!ok) break;
    res.loadMs.push_back(ms);
    total += ms;
  }
  for (const auto& p : node.programs()) {
    if (p.name == toPod) std::tie(res.verTo, res.xlTo) = std::tie(p.verifiedInstructions, p.instructions);
    if (p.name == fromPod) std::tie(res.verFrom, res.xlFrom) = std::tie(p.verifiedInstructions, p.instructions);
  }
  int fd = node.programFd(toPod), ctFd = node.mapFd(SLUICE_MAP_CT);
  if (fd < 0 || ctFd < 0) {
    res.notes.push_back(fd < 0 ? "program " + toPod + " is not loaded" : "no tracking map");
    return false;
  }

  // The probes, checked once before measuring.
  const int m = middleRule(rules), app = middleApp(rules);
  const uint16_t port = uint16_t(10000 + m);
  const std::string deniedSrc = podIp(0, (app + 1) % 4, 0);
  const std::string wantRule = fmt::format("np.x.bench.ingress{}.from0", m);
  auto decidingRule = [&](const runtime::RunResult& r) {
    uint32_t i = SLUICE_DECISION_RULE(r.decision);
    return i >= 1 && i <= ep->ingress.rules.size() ? ep->ingress.rules[i - 1].name : std::string("(none)");
  };
  clearCt(ctFd);
  runtime::RunResult a = runtime::runPacket(fd, runtime::buildPacket(spec(podIp(0, app, 0), 999, port)));
  runtime::RunResult d = runtime::runPacket(fd, runtime::buildPacket(spec(deniedSrc, 998, port)));
  if (!a.passed() || a.outcome != SLUICE_OUT_NEW_ALLOWED || decidingRule(a) != wantRule || !d.ok || d.passed() ||
      d.outcome != SLUICE_OUT_NEW_DENIED) {
    res.notes.push_back(fmt::format("probes: want allowed by {}, got action {} outcome {} rule {} {}; want denied, got "
                                    "action {} outcome {} {}", wantRule, a.action, a.outcome, decidingRule(a), a.error,
                                    d.action, d.outcome, d.error));
    return false;
  }

  out.fd = fd;
  out.ctFd = ctFd;
  out.app = app;
  out.port = port;
  out.synEst = runtime::buildPacket(spec(podIp(0, app, 1), 1000, port));
  out.ackEst = runtime::buildPacket(spec(podIp(0, app, 1), 1000, port, false));
  out.denied = runtime::buildPacket(spec(deniedSrc, 1001, port));
  out.emptyPkt = runtime::buildPacket(spec(podIp(0, app, 0), 1002, port));
  out.ready = true;
  return true;
}

// One run of a prepared size: appends one sample to each figure. Returns
// false (the reason in `res.notes`, the size no longer ready) when a run did
// not report what it should.
bool measureRun(Measurement& m, const Options& opt, int emptyFd, int run) {
  SizeResult& res = m.res;
  const int fd = m.fd, app = m.app;
  const uint16_t port = m.port;
  std::string bad;  // the first run that did not report what it should
  // One test run (`repeat` runs); `want` is the outcome it must report (0 for the empty program).
  auto probe = [&](int prog, const std::vector<uint8_t>& packet, uint32_t repeat, uint32_t want, const char* what) {
    runtime::RunResult r = runtime::runPacket(prog, packet, repeat);
    if (bad.empty() && (!r.ok || r.outcome != want))
      bad = fmt::format("{} (repeat={}): action {}, outcome {} {}", what, repeat, r.action, r.outcome, r.error);
    return double(r.durationNs);
  };
  // Repeat=1, one test run per packet, the kernel's durations averaged: a new
  // allowed flow needs it (its first run tracks the tuple), so each packet is a
  // distinct flow (source pod and port). The empty program and the denied flow
  // are measured the same way too, to compare like with like.
  auto single = [&](int prog, auto packet, uint32_t want, const char* what) {
    double sum = 0;
    for (uint32_t i = 0; i < opt.newFlows && bad.empty(); ++i) sum += probe(prog, packet(i), 1, want, what);
    return sum / opt.newFlows;
  };
  std::fprintf(stderr, "%s: run %d/%d\n", tagOf(res).c_str(), run + 1, opt.runs);
  clearCt(m.ctFd);
  double e = probe(emptyFd, m.emptyPkt, opt.repeat, 0, "empty program");
  // Established: the SYN tracks the flow, then the same tuple again and again.
  probe(fd, m.synEst, 1, SLUICE_OUT_NEW_ALLOWED, "established flow's SYN");
  double est = probe(fd, m.ackEst, opt.repeat, SLUICE_OUT_ESTABLISHED, "established flow");
  // New denied: never tracked, so every repeat is a new flow.
  double den = probe(fd, m.denied, opt.repeat, SLUICE_OUT_NEW_DENIED, "new denied flow");
  double e1 = single(emptyFd, [&](uint32_t) { return m.emptyPkt; }, 0, "empty program");
  double al = single(fd, [&](uint32_t i) {
    return runtime::buildPacket(spec(podIp(0, app, int(i % kReplicas)), uint16_t(1024 + i / kReplicas), port));
  }, SLUICE_OUT_NEW_ALLOWED, "new allowed flow");
  double den1 = single(fd, [&](uint32_t) { return m.denied; }, SLUICE_OUT_NEW_DENIED, "new denied flow");
  clearCt(m.ctFd);
  if (!bad.empty()) {
    res.notes.push_back(bad);
    m.ready = false;
    return false;
  }
  for (auto [v, x] : {std::pair{&res.empty, e}, {&res.est, est}, {&res.den, den}, {&res.empty1, e1},
                      {&res.denied1, den1}, {&res.allowed1, al}, {&res.rEst, est / std::max(1.0, e)},
                      {&res.rDen, den / std::max(1.0, e)}, {&res.rAllowed, al / std::max(1e-9, e1)}})
    v->push_back(x);
  res.measured = true;
  return true;
}

// ---- output ----------------------------------------------------------------------

// Specialized against generic, per size measured in both: the new-flow verdict
// (repeat=1 allowed, repeat=N denied), absolute and as each mode's own ratio to
// the empty program of its runs, and generic ÷ specialized of those ratios.
void printModeComparison(const std::vector<SizeResult>& results) {
  std::string rows;
  for (const SizeResult& s : results) {
    if (s.mode != codegen::DatapathMode::Specialized || !s.measured) continue;
    for (const SizeResult& g : results) {
      if (g.mode != codegen::DatapathMode::Generic || g.rules != s.rules || g.otherPods != s.otherPods ||
          !g.measured)
        continue;
      rows += fmt::format("| {} | {} | {:.1f} / {:.1f} | {:.2f}× | {:.0f} / {:.0f} | {:.2f}× | {:.0f} / {:.0f} |\n",
                          s.rules, clusterPods(s), median(s.allowed1), median(g.allowed1), median(g.rAllowed) / median(s.rAllowed),
                          median(s.den), median(g.den), median(g.rDen) / median(s.rDen), median(s.est),
                          median(g.est));
    }
  }
  if (rows.empty()) return;
  std::printf(
      "\n### Specialized vs generic (same process, runs interleaved)\n\n"
      "| rules | pods | new allowed ns, repeat=1: specialized / generic | generic ÷ specialized (× empty) | new denied ns: "
      "specialized / generic | generic ÷ specialized (× empty) | established ns: specialized / generic |\n"
      "|---:|---:|---:|---:|---:|---:|---:|\n%s"
      "\n- generic ÷ specialized divides the medians of each mode's ratio to the empty program measured in "
      "its own runs (the runs of the two modes alternate). The established path is the same code in both "
      "modes.\n",
      rows.c_str());
}

// Adds another loaded instance's samples of the same size to `into`.
void mergeSamples(SizeResult& into, const SizeResult& from) {
  for (auto [a, b] : {std::pair{&into.compileMs, &from.compileMs}, {&into.loadMs, &from.loadMs}, {&into.empty, &from.empty},
                      {&into.est, &from.est}, {&into.den, &from.den}, {&into.empty1, &from.empty1},
                      {&into.denied1, &from.denied1}, {&into.allowed1, &from.allowed1}, {&into.rEst, &from.rEst},
                      {&into.rDen, &from.rDen}, {&into.rAllowed, &from.rAllowed}})
    a->insert(a->end(), b->begin(), b->end());
  into.measured = into.measured || from.measured;
  into.compileTimedOut = into.compileTimedOut || from.compileTimedOut;
  for (const auto& n : from.notes)
    if (std::find(into.notes.begin(), into.notes.end(), n) == into.notes.end()) into.notes.push_back(n);
}

// "1234", or "1234 (n=2)" when fewer samples than runs were taken.
std::string withCount(const std::vector<double>& v, int runs) {
  return fmt::format("{:.0f}{}", median(v), v.size() < size_t(runs) ? fmt::format(" (n={})", v.size()) : "");
}

void printTable(const std::vector<SizeResult>& results, const Options& opt, const std::string& command) {
  utsname u{};
  ::uname(&u);
  std::printf("## sluice_bench: x/target's to-pod program (its ingress policy), medians of %d runs on each of %d "
              "loaded instance%s\n\n",
              opt.runs, opt.instances, opt.instances == 1 ? "" : "s");
  std::printf("Command: `%s`  \n", command.c_str());
  std::printf("Kernel %s, %ld CPUs; BPF_PROG_TEST_RUN repeat %u; new allowed flows: %u distinct packets per run; "
              "cluster: %zu pods on n1, the rest (pods − %zu) on n2.\n\n",
              u.release, ::sysconf(_SC_NPROCESSORS_ONLN), opt.repeat, opt.newFlows, kEndpoints, kEndpoints);
  std::printf(
      "| rules | pods | datapath | compile ms (node) | BPF insns to-pod / from-pod | verifier-processed to-pod / from-pod | load ms "
      "(node) | empty ns | established ns (× empty) | new denied ns (× empty) | repeat=1: empty / new denied ns | "
      "new allowed ns, repeat=1 (× empty repeat=1) |\n");
  std::printf("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  const std::string none = "—";
  for (const SizeResult& r : results) {
    std::string compile = r.compileTimedOut ? fmt::format("> {:.0f} s (stopped)", opt.compileTimeoutS)
                          : r.compileMs.empty() ? none
                                                : withCount(r.compileMs, opt.runs);
    std::string ins = r.xlTo ? fmt::format("{} / {}", r.xlTo, r.xlFrom)
                      : r.insTo ? fmt::format("(object: {} / {})", r.insTo, r.insFrom) : none;
    std::string ver = r.verTo ? fmt::format("{} / {}", r.verTo, r.verFrom) : none;
    std::string load = r.verTo ? withCount(r.loadMs, opt.runs) : none;
    std::string e = none, est = none, den = none, e1 = none, al = none;
    if (r.measured) {
      e = fmt::format("{:.0f}", median(r.empty));
      est = fmt::format("{:.0f} ({:.2f}×)", median(r.est), median(r.rEst));
      den = fmt::format("{:.0f} ({:.2f}×)", median(r.den), median(r.rDen));
      e1 = fmt::format("{:.1f} / {:.1f}", median(r.empty1), median(r.denied1));
      al = fmt::format("{:.1f} ({:.2f}×)", median(r.allowed1), median(r.rAllowed));
    }
    std::printf("| %d | %zu | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.rules, clusterPods(r),
                codegen::datapathModeName(r.mode), compile.c_str(), ins.c_str(),
                ver.c_str(), load.c_str(), e.c_str(), est.c_str(), den.c_str(), e1.c_str(), al.c_str());
  }
  std::printf(
      "\n- Rule i admits TCP port 10000+i from a podSelector, a namespaceSelector or an ipBlock /24 (i %% 3); the "
      "allowed probe hits the podSelector rule nearest the middle (checked by the decision the kernel returns), the "
      "denied probe comes from a pod other rules admit, on that rule's port.\n"
      "- ns are the kernel's average per run (BPF_PROG_TEST_RUN `duration`, whole ns). Ratios are taken within each "
      "run, then the median.\n"
      "- Established: one SYN tracks the flow, then the same tuple is run `repeat` times. New denied: never tracked, "
      "so run `repeat` times. New allowed: an allowed packet is tracked on its first run, so each is a distinct flow "
      "(source pod and port) run once (repeat=1), the kernel's durations averaged. A repeat=1 run includes the "
      "kernel's timer reads and a colder cache, so it is compared with the empty program measured the same way; the "
      "new denied flow measured so too shows what tracking a connection adds (new allowed − new denied).\n"
      "- BPF insns: as loaded (xlated, BPF subprograms included); when the load failed, the object's count of the "
      "programs' own sections (subprograms not included).\n"
      "- Compile: `codegen::compileNode` wall time for the node (%zu endpoints, two programs each). Load: "
      "`LoadedNode::load` wall time for the node (every program verified, maps created). (n=k): fewer samples, "
      "repeats stop after %.0f s in total.\n",
      kEndpoints, opt.budgetS);
  for (const SizeResult& r : results)
    for (const auto& n : r.notes)
      std::printf("- %s: %s\n", tagOf(r).c_str(), n.c_str());
  printModeComparison(results);
}

// The same figures for tools/bench-report: medians, ns and ratios as in the table.
nlohmann::json toJson(const std::vector<SizeResult>& results, const Options& opt) {
  nlohmann::json sizes = nlohmann::json::array();
  for (const SizeResult& r : results) {
    nlohmann::json j = {{"rules", r.rules},
                        {"pods", clusterPods(r)},
                        {"datapath", codegen::datapathModeName(r.mode)},
                        {"measured", r.measured},
                        {"compile_timed_out", r.compileTimedOut},
                        {"endpoints", kEndpoints}, {"notes", r.notes}};
    if (!r.compileMs.empty()) j["compile_ms"] = median(r.compileMs);
    if (r.verTo) {
      j["load_ms"] = median(r.loadMs);
      j["insns_to_pod"] = r.xlTo, j["insns_from_pod"] = r.xlFrom;
      j["verified_to_pod"] = r.verTo, j["verified_from_pod"] = r.verFrom;
    }
    if (r.measured) {
      j["empty_ns"] = median(r.empty), j["established_ns"] = median(r.est), j["established_x_empty"] = median(r.rEst);
      j["new_denied_ns"] = median(r.den), j["new_denied_x_empty"] = median(r.rDen);
      j["empty_repeat1_ns"] = median(r.empty1), j["new_denied_repeat1_ns"] = median(r.denied1);
      j["new_allowed_repeat1_ns"] = median(r.allowed1), j["new_allowed_x_empty_repeat1"] = median(r.rAllowed);
    }
    sizes.push_back(j);
  }
  return {{"runs", opt.runs}, {"instances", opt.instances}, {"repeat", opt.repeat}, {"new_flows", opt.newFlows},
          {"sizes", sizes}};
}

// ---- command line ----------------------------------------------------------------

const char* kUsage =
    "Usage: sluice_bench [--rules LIST] [--datapath LIST] [--runs N] [--instances N]\n"
    "                    [--repeat N] [--new-flows N] [--compile-timeout SEC] [--other-pods LIST]\n"
    "                    [--json FILE]\n"
    "\n"
    "Measures x/target's to-pod program for endpoint policies of each size (root needed):\n"
    "ns per packet (BPF_PROG_TEST_RUN) for an established flow, a new denied flow and a new\n"
    "allowed flow, each against an empty tc program measured in the same run; compile time\n"
    "per node; BPF instructions and verifier-processed instructions; load time. Prints a\n"
    "Markdown table (medians) on stdout, progress on stderr. Every size (rules, pods, mode) is\n"
    "compiled and loaded first; then the runs go round all of them, so they share the machine's noise.\n"
    "\n"
    "  --rules LIST          ingress rule counts, comma-separated (default 10,100,1000,10000; at most 55000)\n"
    "  --datapath LIST       codegen modes, comma-separated: specialized, generic (default specialized);\n"
    "                        with both, each size is measured in each and a comparison table follows\n"
    "  --runs N              runs per size; figures are medians (default 7)\n"
    "  --instances N         load each size N times and take the runs on each (default 1): the place the\n"
    "                        kernel gives a program and its maps moves its cost by a few ns\n"
    "  --repeat N            BPF_PROG_TEST_RUN repeat (default 1000000; the issue asks >= 100000)\n"
    "  --new-flows N         distinct packets, one run each, for a new allowed flow (default 100000)\n"
    "  --compile-timeout SEC stop a size whose compile takes longer, report it, go on (default 120; 0: never)\n"
    "  --other-pods LIST     pod counts on a second node, comma-separated (default 0): the cluster-size axis;\n"
    "                        n1's code is the same, its IP cache holds every pod (each at most 400000)\n"
    "  --json FILE           also write the figures as JSON (for tools/bench-report)\n"
    "  -h, --help            this text\n";

int run(int argc, char** argv) {
  Options opt;
  const std::string command = commandLine(argc, argv);
  for (int i = 1; i < argc; ++i) {
    std::string a, value;
    if (int r = nextOption(argc, argv, i, a, value, "sluice_bench", kUsage); r != 0) {
      if (r == 1) std::fputs(kUsage, stdout);
      return r == 1 ? 0 : 2;
    }
    bool ok = true;
    if (a == "--rules") {
      opt.rules.clear();
      std::istringstream in(value);
      for (std::string item; ok && std::getline(in, item, ',');)
        ok = parseNumber(item, opt.rules.emplace_back(), 1, 55000);
      ok = ok && !opt.rules.empty();
    } else if (a == "--datapath") {
      opt.modes.clear();
      std::istringstream in(value);
      for (std::string item; ok && std::getline(in, item, ',');) {
        auto mode = codegen::datapathModeFromName(item);
        ok = mode.has_value();
        if (ok) opt.modes.push_back(*mode);
      }
      ok = ok && !opt.modes.empty();
    } else if (a == "--runs") {
      ok = parseNumber(value, opt.runs, 1, 1000);
    } else if (a == "--instances") {
      ok = parseNumber(value, opt.instances, 1, 20);
    } else if (a == "--repeat") {
      ok = parseNumber(value, opt.repeat, 1u, 100000000u);
    } else if (a == "--new-flows") {
      ok = parseNumber(value, opt.newFlows, 1u, 190000u);
    } else if (a == "--other-pods") {
      opt.otherPods.clear();
      std::istringstream in(value);
      for (std::string item; ok && std::getline(in, item, ',');)
        ok = parseNumber(item, opt.otherPods.emplace_back(), 0, 400000);
      ok = ok && !opt.otherPods.empty();
    } else if (a == "--json") {
      opt.jsonPath = value;
    } else if (a == "--compile-timeout") {
      int s = 0;
      ok = parseNumber(value, s, 0, 86400);
      opt.compileTimeoutS = s;
    } else {
      std::fprintf(stderr, "sluice_bench: unknown option %s\n\n%s", a.c_str(), kUsage);
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "sluice_bench: bad value '%s' for %s\n\n%s", value.c_str(), a.c_str(), kUsage);
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr,
                 "sluice_bench needs root: it loads programs into the kernel, runs them with BPF_PROG_TEST_RUN and "
                 "pins maps in bpffs. Run it as root (e.g. with sudo).\n");
    return 1;
  }
  if (opt.repeat < 100000) std::fprintf(stderr, "note: --repeat %u is below the 100,000 the issue asks for\n", opt.repeat);
  if (std::string e = runtime::ensureBpffs(); !e.empty()) {
    std::fprintf(stderr, "sluice_bench: %s\n", e.c_str());
    return 1;
  }
  int emptyFd = loadEmptyProgram();
  if (emptyFd < 0) {
    std::fprintf(stderr, "sluice_bench: cannot load the empty tc program: %s\n", std::strerror(errno));
    return 1;
  }
  const std::string pinRoot = fmt::format("/sys/fs/bpf/sluice-bench-{}", ::getpid());
  // Warm LLVM up once here, so a child's first compile is not also the backend's initialization.
  Diagnostics warmup;
  ir::Program small = lowerCluster(1, 0, warmup);
  if (const ir::NodeProgram* np = small.findNode("n1"); np && !warmup.hasErrors())
    codegen::compileNode(small, *np, {}, warmup);
  std::vector<SizeResult> results;
  bool any = false;
  // Every rule count, cluster size and mode compiled and loaded first (`instances` times each: where the JIT
  // and the kernel place a program and its maps moves its cost by a few ns, so one load is one sample of that),
  // then their runs interleaved: whatever else the machine does meanwhile weighs on all of them alike.
  Options timedOnce = opt;  // the extra instances: their compile and load timed once, not `runs` times
  timedOnce.runs = 1;
  std::vector<std::unique_ptr<Measurement>> all;
  for (int rules : opt.rules)
    for (int otherPods : opt.otherPods)
      for (codegen::DatapathMode mode : opt.modes)
        for (int k = 0; k < opt.instances; ++k) {
          all.push_back(std::make_unique<Measurement>());
          prepareSize(rules, otherPods, mode, k == 0 ? opt : timedOnce, fmt::format("{}/i{}", pinRoot, k),
                      *all.back());
        }
  for (int run = 0; run < opt.runs; ++run)
    for (auto& m : all)
      if (m->ready) measureRun(*m, opt, emptyFd, run);
  // One result per size: its instances' samples together.
  for (size_t i = 0; i < all.size(); i += size_t(opt.instances)) {
    SizeResult merged = std::move(all[i]->res);
    for (int k = 1; k < opt.instances; ++k) mergeSamples(merged, all[i + k]->res);
    any |= merged.measured;
    for (const auto& n : merged.notes) std::fprintf(stderr, "%s: %s\n", tagOf(merged).c_str(), n.c_str());
    results.push_back(std::move(merged));
  }
  std::error_code ec;
  std::filesystem::remove_all(pinRoot, ec);
  ::close(emptyFd);
  printTable(results, opt, command);
  if (!opt.jsonPath.empty() && !writeJsonFile(opt.jsonPath, "sluice_bench", command, toJson(results, opt))) return 1;
  return any ? 0 : 1;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) { return sluice::bench::run(argc, argv); }
