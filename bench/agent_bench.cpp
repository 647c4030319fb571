// sluice_agent_bench: time from a state change to its enforcement in the
// kernel (issue 6), at growing cluster sizes.
//
// For each size, sluice-gen writes a cluster (100 pods per node) into a
// directory; a network namespace gets one veth pair per pod of node-001 with
// a /32 route to it, as a CNI plugin leaves them; a NodeAgent for node-001
// runs in that namespace watching the directory. Then, repeatedly, the bench
// writes one small file and waits for the agent to have it in force:
//   - remote pod labels: a pod of another node switches between the labels
//     (and service account) of two existing deployments, i.e. between two
//     existing identities (node-001's code does not change: an IP cache write);
//   - local pod labels: the same for a pod of node-001 (its identity and the
//     policies that select it change: a new program);
//   - policy: a NetworkPolicy selecting one workload (with pods on node-001)
//     toggles a port (a new program for those pods).
// Reported: median and p99 of write -> reconcile done (programs attached or
// maps written), and the agent's own split (lower, compile, load, attach).
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "agent/node_agent.h"
#include "bench/bench_util.h"
#include "frontend/manifest_loader.h"
#include "tools/gen/cluster_generator.h"

namespace fs = std::filesystem;
using namespace sluice;
using bench::Clock;

namespace {

int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = size_t(p * double(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Shape {
  std::string labels, serviceAccount;  // an existing workload's: its identity exists already
  std::string appKey, appValue;        // its app label, for a policy selecting the workload
};
struct Pick {
  std::string ns, name, node, ip;
  Shape a, b;
};

// No container ports: a named port would put the pod's address into the code
// of egress rules naming it (docs/agent.md), which is not what this measures.
std::string podYaml(const Pick& p, const Shape& shape) {
  return fmt::format(
      "apiVersion: v1\nkind: Pod\nmetadata: {{name: {}, namespace: {}, labels: {{{}}}}}\n"
      "spec: {{nodeName: {}, serviceAccountName: {}, containers: [{{name: main}}]}}\n"
      "status: {{phase: Running, podIP: {}}}\n",
      p.name, p.ns, shape.labels, p.node, shape.serviceAccount, p.ip);
}

std::string labelsText(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ", ") + fmt::format("\"{}\": \"{}\"", k, v);
  return out;
}

struct Series {
  std::string name;
  std::vector<double> ms, state, lower, compile, load, swap, specialized;
  std::set<std::string> results;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluice_agent_bench: time from a state change to enforcement by `sluice agent`, at growing cluster "
               "sizes (100 pods per node). Needs root.",
               "sluice_agent_bench"};
  std::vector<int> sizes{1000, 10000};
  int changes = 20;
  app.add_option("--pods", sizes, "Cluster sizes (pods)")->delimiter(',')->capture_default_str();
  app.add_option("--changes", changes, "Changes of each kind per size")->capture_default_str()->check(CLI::Range(2, 1000));
  std::string jsonPath;
  app.add_option("--json", jsonPath, "Also write the figures as JSON to this file (for tools/bench-report)");
  CLI11_PARSE(app, argc, argv);
  if (::geteuid() != 0) {
    std::cerr << "sluice_agent_bench: needs root (network namespaces, bpffs, tc)\n";
    return 2;
  }
  std::string command = "sluice_agent_bench";
  for (int i = 1; i < argc; ++i) command += " " + bench::shellQuote(argv[i]);
  std::cout << "# " << command;
  nlohmann::json rows = nlohmann::json::array();
  std::cout << "\n\n| pods | change | reconcile | median ms | p99 ms | state | lower | compile | load | attach | "
               "specialized after, median ms |\n"
               "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (int pods : sizes) {
    const std::string tag = fmt::format("{}-{}", ::getpid(), pods);
    const fs::path dir = fs::temp_directory_path() / ("sluice-agent-bench-" + tag);
    const std::string netns = "sluice-agent-bench-" + tag, pinRoot = "/sys/fs/bpf/sluice-agent-bench-" + tag;
    fs::remove_all(dir);
    fs::create_directories(dir);
    gen::GenOptions g;
    g.pods = pods, g.nodes = std::max(2, pods / 100), g.namespaces = std::max(4, pods / 200);
    g.policies = pods / 10, g.cnps = pods / 50, g.services = std::max(2, pods / 10), g.seed = 7;
    for (const auto& f : gen::generateCluster(g).files) std::ofstream(dir / f.name) << f.text;

    // What to change: pods of node-001 and of node-002, with the labels of
    // two other workloads of their namespace (existing identities).
    LoadResult loaded = loadCluster({dir.string()});
    const std::string node = "node-001";
    std::map<std::string, std::vector<const Pod*>> byNs;
    for (const Pod& p : loaded.state.pods)
      if (!p.hostNetwork && !p.ips.empty()) byNs[p.meta.namespace_].push_back(&p);
    auto shapeOf = [](const Pod& p) {
      Shape s{labelsText(p.meta.labels), p.serviceAccount, "", ""};
      for (const char* key : {"app", "app.kubernetes.io/name"})
        if (p.meta.labels.count(key)) s.appKey = key, s.appValue = p.meta.labels.at(key);
      return s;
    };
    auto pick = [&](const std::string& onNode, const std::string& name) {
      for (auto& [ns, list] : byNs) {
        const Pod* on = nullptr;
        std::set<std::string> apps;
        std::vector<const Pod*> shapes;
        for (const Pod* p : list) {
          if (!on && p->nodeName == onNode) on = p;
          // Deployments' pods (a statefulset's carry their own name as a label).
          if (p->meta.labels.count("pod-template-hash") && apps.insert(p->meta.labels.at("pod-template-hash")).second)
            shapes.push_back(p);
        }
        if (on && shapes.size() >= 2)
          return Pick{ns, name, onNode, on->ips.front().str(),
                      shapeOf(*shapes[0]), shapeOf(*shapes[1])};
      }
      throw std::runtime_error("no namespace with two workloads and a pod on " + onNode);
    };
    // New pods (own files), with addresses next to an existing pod's: the /24 of its node.
    Pick remote = pick("node-002", "bench-remote"), local = pick(node, "bench-local");
    auto bump = [](std::string ip) { return ip.substr(0, ip.rfind('.')) + ".250"; };
    remote.ip = bump(remote.ip);
    local.ip = bump(local.ip);
    std::ofstream(dir / "bench-remote.yaml") << podYaml(remote, remote.a);
    std::ofstream(dir / "bench-local.yaml") << podYaml(local, local.a);
    auto policy = [&](int port) {
      return fmt::format(
          "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: bench, namespace: {}}}\n"
          "spec:\n  podSelector: {{matchLabels: {{\"{}\": \"{}\"}}}}\n  policyTypes: [Ingress]\n"
          "  ingress:\n  - ports: [{{port: {}}}]\n",
          local.ns, local.a.appKey, local.a.appValue, port);
    };
    std::ofstream(dir / "bench-policy.yaml") << policy(7000);

    // The node's pods' host-side interfaces, as a CNI plugin leaves them.
    sh("ip netns add " + netns);
    std::string batch;
    int i = 0;
    for (const Pod& p : loaded.state.pods) {
      if (p.nodeName != node || p.hostNetwork || p.ips.empty()) continue;
      batch += fmt::format("link add h{0} type veth peer name p{0}\nlink set h{0} up\nlink set p{0} up\n"
                           "route add {1}/32 dev h{0}\n", i++, p.ips.front().str());
    }
    batch += fmt::format("link add h{0} type veth peer name p{0}\nlink set h{0} up\nlink set p{0} up\n"
                         "route add {1}/32 dev h{0}\n", i++, local.ip);
    std::ofstream(dir / ".batch") << batch;
    if (sh("ip -n " + netns + " -batch " + (dir / ".batch").string()) != 0) {
      std::cerr << "cannot create the interfaces\n";
      return 1;
    }

    agent::AgentOptions o;
    o.node = node;
    o.watchDir = dir.string();
    o.bpffsRoot = pinRoot;
    o.metricsPort = -1;
    o.log = [](const std::string&) {};
    agent::NodeAgent a(o);
    std::thread runner([&] {
      int fd = ::open(("/run/netns/" + netns).c_str(), O_RDONLY);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) std::abort();
      ::close(fd);
      a.run();
    });
    auto start = Clock::now();
    while (a.status().generation < 1 && bench::msSince(start) < 600000)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    agent::AgentStatus first = a.status();
    double firstMs = bench::msSince(start);
    // The first tier enforces at once; the changes are measured from an idle
    // agent whose endpoints all run their specialized programs.
    while (!a.status().specialized && bench::msSince(start) < 600000)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::cerr << fmt::format("{} pods: every endpoint specialized {:.0f} ms after the start (background compile "
                             "{:.0f} ms, load {:.0f} ms)\n",
                             pods, bench::msSince(start), a.status().lastSwap.compileMs, a.status().lastSwap.loadMs);
    std::cerr << fmt::format("{} pods: first generation in {:.0f} ms ({} endpoints): lower {:.0f}, compile {:.0f}, "
                             "load {:.0f}, attach {:.1f}\n",
                             pods, firstMs, first.endpoints.size(), first.last.lowerMs,
                             first.last.compileMs, first.last.loadMs, first.last.swapMs);

    auto measure = [&](Series& s, const fs::path& file, const std::function<std::string(int)>& text) {
      for (int k = 1; k <= changes; ++k) {
        uint64_t before = a.reconciles();
        auto tmp = file.parent_path() / ("." + file.filename().string());
        std::ofstream(tmp) << text(k);
        auto t0 = Clock::now();
        fs::rename(tmp, file);
        while (a.reconciles() == before) std::this_thread::sleep_for(std::chrono::microseconds(100));
        double ms = bench::msSince(t0);
        agent::ReconcileReport r = a.status().last;
        s.ms.push_back(ms);
        s.state.push_back(r.loadStateMs);
        s.lower.push_back(r.lowerMs);
        s.compile.push_back(r.compileMs);
        s.load.push_back(r.loadMs);
        s.swap.push_back(r.swapMs);
        s.results.insert(r.result);
        // Then the specialized programs, compiled in the background (the
        // next change starts from an idle agent).
        while (!a.status().specialized && bench::msSince(t0) < 120000)
          std::this_thread::sleep_for(std::chrono::microseconds(500));
        s.specialized.push_back(bench::msSince(t0));
      }
    };
    std::vector<Series> series(3);
    series[0].name = "remote pod labels";
    series[1].name = "local pod labels";
    series[2].name = "policy";
    measure(series[0], dir / "bench-remote.yaml", [&](int k) { return podYaml(remote, k % 2 ? remote.b : remote.a); });
    measure(series[1], dir / "bench-local.yaml", [&](int k) { return podYaml(local, k % 2 ? local.b : local.a); });
    measure(series[2], dir / "bench-policy.yaml", [&](int k) { return policy(7000 + k); });
    for (const Series& s : series) {
      std::string results;
      for (const auto& r : s.results) results += (results.empty() ? "" : ", ") + r;
      std::cout << fmt::format("| {} | {} | {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.2f} | {:.0f} |\n",
                               pods, s.name, results, bench::median(s.ms), percentile(s.ms, 0.99),
                               bench::median(s.state), bench::median(s.lower), bench::median(s.compile),
                               bench::median(s.load), bench::median(s.swap), bench::median(s.specialized));
      rows.push_back({{"pods", pods}, {"change", s.name}, {"reconcile", results}, {"median_ms", bench::median(s.ms)},
                      {"p99_ms", percentile(s.ms, 0.99)}, {"state_ms", bench::median(s.state)},
                      {"lower_ms", bench::median(s.lower)}, {"compile_ms", bench::median(s.compile)},
                      {"load_ms", bench::median(s.load)}, {"attach_ms", bench::median(s.swap)},
                      {"specialized_ms", bench::median(s.specialized)}});
    }
    std::cout.flush();
    a.stop();
    runner.join();
    sh("ip netns del " + netns);
    fs::remove_all(pinRoot);
    fs::remove_all(dir);
  }
  if (!jsonPath.empty() &&
      !bench::writeJsonFile(jsonPath, "sluice_agent_bench", command, {{"changes", changes}, {"rows", rows}}))
    return 1;
  return 0;
}
