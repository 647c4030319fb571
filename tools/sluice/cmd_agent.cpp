// `sluice agent`: the node runtime (agent/node_agent.h), and `sluice agent
// status`, which asks a running agent on this node how it is doing.
#include <httplib.h>

#include <csignal>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/node_agent.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/commands.h"

namespace sluice::cli {

namespace {

agent::NodeAgent* runningAgent = nullptr;

void onSignal(int) {
  if (runningAgent) runningAgent->stop();  // async-signal-safe: an atomic store and an eventfd write
}

int printStatus(const std::string& address, int port, bool json) {
  httplib::Client client(address, port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  auto res = client.Get("/status");
  if (!res || res->status != 200) {
    std::cerr << fmt::format("sluice agent status: no agent answers on {}:{} ({})\n", address, port,
                             res ? fmt::format("HTTP {}", res->status) : httplib::to_string(res.error()));
    return kExitInputError;
  }
  if (json) {
    std::cout << res->body;
    return kExitOk;
  }
  auto s = nlohmann::json::parse(res->body, nullptr, false);
  if (s.is_discarded()) {
    std::cerr << "sluice agent status: the agent's answer is not JSON\n";
    return kExitInputError;
  }
  std::cout << fmt::format("node {}: {} from {}\n", s["node"].get<std::string>(),
                           s["enforcing"].get<bool>() ? fmt::format("enforcing generation {}", s["generation"].get<uint64_t>())
                                                      : std::string("not enforcing yet"),
                           s["source"].get<std::string>());
  const auto& last = s["last"];
  std::cout << fmt::format("reconciles {} (first tier {}, swaps {}, map updates {}, failures {}); last: {} in {:.1f} ms\n",
                           s["reconciles"].get<uint64_t>(), s["tiered"].get<uint64_t>(), s["swaps"].get<uint64_t>(),
                           s["mapUpdates"].get<uint64_t>(), s["failures"].get<uint64_t>(),
                           last["result"].get<std::string>(), last["totalMs"].get<double>());
  std::cout << fmt::format("specialized programs: {} ({} compiled in the background, {} failed)\n",
                           s["specialized"].get<bool>() ? "in force everywhere" : "not everywhere yet",
                           s["specializations"].get<uint64_t>(), s["specializationFailures"].get<uint64_t>());
  if (s["swaps"].get<uint64_t>() + s["specializations"].get<uint64_t>() > 0) {
    const auto& sw = s["lastSwap"];
    std::cout << fmt::format("last swap: compile {:.1f} ms, load {:.1f} ms, attach {:.1f} ms, {:.1f} ms after the change\n",
                             sw["compileMs"].get<double>(), sw["loadMs"].get<double>(), sw["swapMs"].get<double>(),
                             sw["sinceChangeMs"].get<double>());
  }
  if (!s["lastFailure"].is_null())
    std::cout << "last failure (what was in force stayed):\n  "
              << s["lastFailure"]["error"].get<std::string>() << "\n";
  if (!s["sourceErrors"].get<std::string>().empty())
    std::cout << "manifests that do not parse (their last good objects stay):\n"
              << s["sourceErrors"].get<std::string>();
  for (const auto& e : s["endpoints"])
    std::cout << fmt::format("  {:<40} {:<15} {}\n", e["pod"].get<std::string>(), e["ip"].get<std::string>(),
                             e["attached"].get<bool>() ? fmt::format("attached on {} ({})", e["interface"].get<std::string>(),
                                                                     e["program"].get<std::string>())
                                                       : "NOT attached: " + e["problem"].get<std::string>());
  if (!s["uplinkProgram"].get<std::string>().empty())
    std::cout << "  uplink program on " << s["uplinkProgram"].get<std::string>() << "\n";
  return kExitOk;
}

}  // namespace

void registerAgent(CLI::App& app) {
  auto o = std::make_shared<agent::AgentOptions>();
  auto settleMs = std::make_shared<int>(10);
  auto noMetrics = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "agent",
      "Run the node runtime: follow the cluster state (a manifest directory or the Kubernetes API), compile this "
      "node's programs when their code changes, attach them to the local pods' host-side interfaces (found by the "
      "route to each pod's address) and swap them atomically; update the pinned maps in place when only addresses, "
      "identities or service backends changed. Programs stay attached and enforcing when the agent stops or dies; a "
      "restarted agent replaces them without a gap. Needs root. Metrics and status on a loopback HTTP endpoint.");
  cmd->add_option("--node", o->node, "The Node this agent serves (required)");
  addClusterNameOption(*cmd, o->clusterName);
  auto* watch = cmd->add_option("--watch", o->watchDir,
                                "A directory of manifests, followed as files change (written in place or replaced by "
                                "rename; hidden files are ignored)");
  auto* kube = cmd->add_option("--kubeconfig", o->kubeconfig,
                               "A kubeconfig file: list and watch the API server of its current context");
  auto* inCluster = cmd->add_flag("--in-cluster", o->inCluster,
                                  "In a pod (the DaemonSet in deploy/): list and watch the API server at "
                                  "KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT with the pod's service-account "
                                  "token and CA");
  watch->excludes(kube);
  watch->excludes(inCluster);
  kube->excludes(inCluster);
  cmd->add_option("--bpffs-root", o->bpffsRoot, "Where the node's long-lived maps are pinned (<root>/<node>)")
      ->capture_default_str();
  cmd->add_option("--uplink", o->uplinks,
                  "Interface for the uplink program (NodePort, external addresses); repeatable. Default: the "
                  "interfaces holding the node's addresses");
  cmd->add_option("--metrics-port", o->metricsPort, "Port of the metrics and status endpoint on 127.0.0.1")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_flag("--no-metrics", *noMetrics, "Serve no metrics or status endpoint");
  cmd->add_flag("--no-first-tier", [o](int64_t) { o->firstTier = false; },
                "Enforce changed code only with its own specialized programs: each reconcile waits for the compile "
                "(a new pod waits too) instead of enforcing at once through the first tier's tables");
  cmd->add_option("--settle-ms", *settleMs, "Quiet time that ends a burst of changes before a reconcile")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  auto attach = std::make_shared<std::string>("auto");
  cmd->add_option("--attach", *attach,
                  "How programs are attached: tcx (pinned BPF links, kernel 6.6 and later), tc (classic filters "
                  "under clsact), or auto (tcx where the kernel has it). With --cni and the first tier, a new pod's first programs go on as classic filters (an ADD does not wait for tcx's RCU grace period) and move to the chosen mechanism with its own programs")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "tcx", "tc"}));
  cmd->add_option("--cpu", o->compile.cpu, "BPF instruction set: v4 or v3")->check(CLI::IsMember({"v3", "v4"}));
  auto datapath = std::make_shared<std::string>("specialized");
  addDatapathOption(*cmd, *datapath);

  // Pod networking (docs/cni.md).
  cmd->add_flag("--cni", o->cni,
                "Be the node's network: serve sluice-cni on --cni-socket (each pod gets an address of the node's "
                "podCIDR and its interface, and ADD returns once its programs are attached), route the other nodes' "
                "pod CIDRs (--routing) and masquerade pod traffic leaving the cluster (--masquerade)");
  cmd->add_option("--cni-socket", o->cniSocket, "The unix socket sluice-cni talks to (with --cni)")
      ->capture_default_str();
  auto confDir = std::make_shared<std::string>("/etc/cni/net.d");
  cmd->add_option("--cni-conf-dir", *confDir,
                  "Where the agent writes 10-sluice.conflist for the container runtime (with --cni; \"\" writes "
                  "none)")
      ->capture_default_str();
  cmd->add_option("--state-dir", o->stateDir, "Where pod addresses persist (<dir>/<node>/ipam.json; with --cni)")
      ->capture_default_str();
  auto routing = std::make_shared<std::string>("native");
  cmd->add_option("--routing", *routing,
                  "How the other nodes' pod CIDRs are reached (with --cni): native (a route via each node's address; "
                  "nodes on one L2 segment), vxlan (the kernel's VXLAN device, UDP 8472), or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"native", "vxlan", "none"}));
  auto masquerade = std::make_shared<std::string>("auto");
  cmd->add_option("--masquerade", *masquerade,
                  "Pod traffic to addresses outside every pod CIDR and --non-masquerade-cidr leaves with the node's "
                  "address, in BPF: on, off, or auto (on with --cni)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "on", "off"}));
  auto nonMasq = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--non-masquerade-cidr", *nonMasq, "A destination prefix never masqueraded; repeatable");
  auto snat = std::make_shared<std::string>();
  cmd->add_option("--snat-ports", *snat,
                  "MIN-MAX: the ports masquerade takes. Default: those above net.ipv4.ip_local_port_range, which the "
                  "node's own sockets never use (61000-65535 with Linux's default range)");

  auto statusPort = std::make_shared<int>(9964);
  auto statusJson = std::make_shared<bool>(false);
  CLI::App* status = cmd->add_subcommand("status", "Ask the agent running on this node (in this network namespace) "
                                                   "what it enforces: generation, last reconcile, endpoints");
  status->add_option("--metrics-port", *statusPort, "The agent's metrics port")->capture_default_str();
  status->add_flag("--json", *statusJson, "Print the agent's JSON status as is");
  status->callback([=] {
    int code = printStatus("127.0.0.1", *statusPort, *statusJson);
    if (code != kExitOk) throw CLI::RuntimeError(code);
  });
  cmd->callback([=] {
    if (cmd->got_subcommand(status)) return;
    if (o->node.empty()) {
      std::cerr << "sluice agent: --node is required\n";
      throw CLI::RuntimeError(kExitUsage);
    }
    if (o->watchDir.empty() && o->kubeconfig.empty() && !o->inCluster) {
      std::cerr << "sluice agent: give a state source: --watch DIR, --kubeconfig FILE or --in-cluster\n";
      throw CLI::RuntimeError(kExitUsage);
    }
    if (*noMetrics) o->metricsPort = -1;
    o->compile.datapath = datapathMode(*datapath);
    o->attach = *attach == "tcx" ? agent::AttachMode::Tcx : *attach == "tc" ? agent::AttachMode::Tc : agent::AttachMode::Auto;
    o->settle = std::chrono::milliseconds(*settleMs);
    o->cniConfDir = o->cni ? *confDir : "";
    o->routing = *routing == "vxlan"  ? agent::AgentOptions::Routing::Vxlan
                 : *routing == "none" ? agent::AgentOptions::Routing::None
                                      : agent::AgentOptions::Routing::Native;
    o->masquerade = *masquerade == "on" || (*masquerade == "auto" && o->cni);
    for (const std::string& text : *nonMasq) {
      auto c = Cidr::parse(text);
      if (!c) {
        std::cerr << fmt::format("sluice agent: --non-masquerade-cidr {}: not a CIDR (e.g. 10.0.0.0/8)\n", text);
        throw CLI::RuntimeError(kExitUsage);
      }
      o->nonMasqueradeCidrs.push_back(*c);
    }
    if (!snat->empty()) {
      unsigned lo = 0, hi = 0;
      char dash = 0;
      std::istringstream in(*snat);
      if (!(in >> lo >> dash >> hi) || dash != '-' || lo < 1024 || lo > hi || hi > 65535) {
        std::cerr << fmt::format("sluice agent: --snat-ports {}: expected MIN-MAX within 1024-65535\n", *snat);
        throw CLI::RuntimeError(kExitUsage);
      }
      o->snatPorts = std::make_pair(uint16_t(lo), uint16_t(hi));
    }
    agent::NodeAgent a(*o);
    runningAgent = &a;
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    int code = a.run();
    runningAgent = nullptr;
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace sluice::cli
