// The commands that load programs into this kernel: verify, trace (reach: cmd_reach.cpp).
// They need root (CAP_BPF, CAP_SYS_ADMIN for bpffs); nothing is attached.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <functional>
#include <iostream>
#include <map>
#include <tuple>

#include "codegen/datapath/sluice_abi.h"
#include "review/review_model.h"
#include "runtime/kernel_cluster.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/commands.h"

namespace sluice::cli {
namespace {

// ordered_json: keys print in the documented order ("from", "to", "port", ...).
using json = nlohmann::ordered_json;

// Loads, lowers, compiles (in `datapath` mode: --datapath) and loads every
// node; exits on error.
std::unique_ptr<runtime::KernelCluster> buildCluster(const InputOptions& opts, const std::string& cpu,
                                                     const std::string& datapath) {
  LoadResult in;
  bool ok = loadInputs(opts, in);
  auto cluster = std::make_unique<runtime::KernelCluster>();
  if (ok) {
    runtime::ClusterOptions co;
    co.compile.cpu = cpu;
    co.compile.datapath = datapathMode(datapath);
    co.clusterName = opts.clusterName;
    ok = cluster->build(in.state, in.diags, co);
  }
  printDiagnostics(in.diags, opts.verbose);
  if (!ok) throw CLI::RuntimeError(kExitInputError);
  return cluster;
}

const char* stepVerdict(const runtime::HookStep& s) {
  if (s.run.outcome == SLUICE_OUT_REJECTED) return "reject";
  // The uplink routes a translated packet itself (TC_ACT_REDIRECT): it went on.
  // The uplink routes a translated packet itself, and so does from-pod a masqueraded one.
  return s.run.passed() || (s.hook != "to-pod" && s.run.redirected()) ? "allow" : "deny";
}

json stepJson(const runtime::HookStep& s) {
  json j = {{"hook", s.hook},
            {"endpoint", s.endpoint},
            {"node", s.node},
            {"program", s.program},
            {"verdict", stepVerdict(s)},
            {"explanation", s.explanation}};
  if (s.rule) {
    j["rule"] = {{"name", s.rule->name},
                 {"policy", s.rule->origin.policy},
                 {"path", s.rule->origin.path},
                 {"file", s.rule->origin.loc.fileName()},
                 {"line", s.rule->origin.loc.line}};
  }
  return j;
}

}  // namespace

void registerVerify(CLI::App& app) {
  auto opts = std::make_shared<InputOptions>();
  auto cpu = std::make_shared<std::string>("v4");
  auto datapath = std::make_shared<std::string>("specialized");
  CLI::App* cmd = app.add_subcommand(
      "verify", "Load every node's programs into the kernel verifier (nothing is attached) and report, per program, "
                "its instructions and the instructions the verifier processed, or the verifier's complaint. Needs root.");
  addInputOptions(*cmd, *opts);
  cmd->add_option("--cpu", *cpu, "BPF instruction set: v4 or v3")->check(CLI::IsMember({"v3", "v4"}));
  addDatapathOption(*cmd, *datapath);
  cmd->callback([=] {
    auto cluster = buildCluster(*opts, *cpu, *datapath);
    std::cout << fmt::format("{:<16} {:<60} {:>8} {:>10} {:>6}\n", "node", "program", "insns", "verified", "btf");
    for (const auto& np : cluster->program().nodes) {
      runtime::LoadedNode* node = cluster->loaded(np.node);
      for (const auto& p : node->programs())
        std::cout << fmt::format("{:<16} {:<60} {:>8} {:>10} {:>6}\n", np.node, p.name, p.instructions,
                                 p.verifiedInstructions, p.btfId ? "yes" : "NO");
    }
    std::cout << "all programs loaded\n";
  });
}

void registerTrace(CLI::App& app) {
  auto opts = std::make_shared<InputOptions>();
  auto from = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>("text");
  auto datapath = std::make_shared<std::string>("specialized");
  CLI::App* cmd = app.add_subcommand(
      "trace", "Send one packet of a new connection through the real programs on its path (the source pod's from-pod "
               "program, then the destination pod's to-pod program; from an outside address to a NodePort, external "
               "or load-balancer address, the node's uplink program first) and say the verdict (allow, deny, or "
               "reject: answered by a service without endpoints) and which rule decided it. Needs root.");
  addInputOptions(*cmd, *opts);
  cmd->add_option("--from", *from,
                  "Source: NS/POD, or an IP address (a pod's means that pod; a node's or any other address meets "
                  "only the destination's to-pod program)")
      ->required();
  cmd->add_option("--to", *to,
                  "Destination: NS/POD:PORT/PROTO, IP:PORT/PROTO (a pod's, a service's or any address) or "
                  "svc/NS/NAME:PORT/PROTO (the service's cluster IP); PROTO: TCP, UDP, SCTP, or TYPE/ICMP "
                  "(an ICMP type, e.g. 8/ICMP)")
      ->required();
  cmd->add_option("--output", *output, "Output format")->check(CLI::IsMember({"text", "json"}));
  addDatapathOption(*cmd, *datapath);
  cmd->callback([=] {
    runtime::FlowQuery q;
    if (auto ip = IpAddr::parse(*from)) q.fromIp = *ip;
    else q.fromPod = *from;
    size_t colon = to->rfind(':');
    std::string error;
    std::optional<review::PortProbe> pp;
    if (colon != std::string::npos) pp = review::parsePortProbe(to->substr(colon + 1), error);
    else error = fmt::format("--to '{}': expected NS/POD:PORT/PROTO, IP:PORT/PROTO or svc/NS/NAME:PORT/PROTO", *to);
    if (pp) {
      std::string target = to->substr(0, colon);
      if (auto ip = IpAddr::parse(target)) q.toIp = *ip;
      else if (target.rfind("svc/", 0) == 0 && target.find('/', 4) != std::string::npos) q.toService = target.substr(4);
      else if (target.find('/') != std::string::npos) q.toPod = target;
      else error = fmt::format("--to '{}': '{}' is neither NS/POD nor an IP address", *to, target);
      q.port = pp->port;
      q.proto = pp->proto;
    }
    if (!q.fromIp && from->find('/') == std::string::npos)
      error = fmt::format("--from '{}': expected NS/POD or an IP address", *from);
    if (!error.empty()) {
      std::cerr << "error: " << error << "\n";
      throw CLI::RuntimeError(kExitUsage);
    }
    auto cluster = buildCluster(*opts, "v4", *datapath);
    runtime::FlowTrace t = cluster->trace(q);
    if (!t.ok) {
      std::cerr << "error: " << t.error << "\n";
      throw CLI::RuntimeError(kExitInputError);
    }
    const char* verdict = t.rejected ? "reject" : t.allowed ? "allow" : "deny";
    if (*output == "json") {
      json steps = json::array();
      for (const auto& s : t.steps) steps.push_back(stepJson(s));
      json j = {{"from", t.from}, {"to", t.to}, {"src", t.srcIp.str()}, {"dst", t.dstIp.str()},
                {"port", q.port}, {"protocol", ir::l4ProtoName(q.proto)}};
      // Only when a service was involved, so other flows print as before.
      if (!t.service.empty()) j["service"] = t.service;
      if (!t.backend.empty()) j["backend"] = t.backend;
      if (!t.backendPod.empty()) j["backendPod"] = t.backendPod;
      if (!t.masqueradedAs.empty()) j["masquerade"] = t.masqueradedAs;
      j["verdict"] = verdict;
      j["hooks"] = steps;
      if (!t.note.empty()) j["note"] = t.note;
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{} ({}) -> {} ({}) {}/{}: {}\n", t.from, t.srcIp.str(), t.to, t.dstIp.str(), q.port,
                             ir::l4ProtoName(q.proto), t.rejected ? "REJECT" : t.allowed ? "ALLOW" : "DENY");
    if (!t.service.empty())
      std::cout << fmt::format("  service {}{}{}\n", t.service, t.backend.empty() ? "" : " -> backend " + t.backend,
                               t.backendPod.empty() ? "" : " (" + t.backendPod + ")");
    if (!t.masqueradedAs.empty()) std::cout << "  masqueraded: leaves as " << t.masqueradedAs << "\n";
    if (!t.note.empty()) std::cout << "  " << t.note << "\n";
    for (const auto& s : t.steps)
      std::cout << fmt::format("  {} {} on {} [{}]: {}\n", s.hook, s.endpoint, s.node, s.program, s.explanation);
    if (t.steps.empty() && t.note.empty()) std::cout << "  no sluice hook on this path\n";
  });
}

}  // namespace sluice::cli
