// The commands that load programs into this kernel: verify, trace, reach.
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

using PortProto = review::PortProbe;

std::optional<PortProto> parsePortProto(const std::string& text, std::string& error) {
  return review::parsePortProbe(text, error);
}

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
    std::optional<PortProto> pp;
    if (colon != std::string::npos) pp = parsePortProto(to->substr(colon + 1), error);
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

namespace {

// A port of a proxied service, as `reach --to-services` probes it.
struct ServiceProbe {
  std::string service;  // "ns/name"
  PortProto port;
};

// Every port of every proxied service with an IPv4 cluster IP, sorted by
// service: the union of the nodes' tables (a service is in every node's table;
// only its backends differ from node to node).
std::vector<ServiceProbe> serviceProbes(const ir::Program& program) {
  std::map<std::string, const ir::Service*> services;
  for (const auto& np : program.nodes)
    for (const auto& svc : np.services) services.emplace(svc.key(), &svc);
  std::vector<ServiceProbe> out;
  for (const auto& [key, svc] : services) {
    bool v4 = std::any_of(svc->clusterIPs.begin(), svc->clusterIPs.end(), [](const IpAddr& ip) { return ip.isV4(); });
    if (!v4) {
      std::cerr << fmt::format("note: service {} has no IPv4 cluster IP; not probed\n", key);
      continue;
    }
    for (const auto& p : svc->ports) out.push_back({key, {p.port, p.proto}});
  }
  return out;
}

const char* flowVerdict(const runtime::FlowTrace& t) { return t.rejected ? "reject" : t.allowed ? "allow" : "deny"; }
const char* verdictMark(const char* verdict) {
  return verdict[0] == 'a' ? "." : verdict[0] == 'r' ? "R" : "X";
}

// Rows: `rows`; columns: numbered, named in a legend above the matrix.
void printMatrix(const std::string& title, const std::vector<std::string>& rows, const std::vector<std::string>& columns,
                 const std::function<const char*(size_t, size_t)>& mark) {
  std::cout << title << "\n";
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.size());
  for (size_t j = 0; j < columns.size(); ++j) std::cout << fmt::format("{:>{}}  {:>3} = {}\n", "", width, j, columns[j]);
  std::cout << fmt::format("{:>{}} ", "", width);
  for (size_t j = 0; j < columns.size(); ++j) std::cout << fmt::format("{:>3}", j);
  std::cout << "\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    std::cout << fmt::format("{:>{}} ", rows[i], width);
    for (size_t j = 0; j < columns.size(); ++j) std::cout << fmt::format("{:>3}", mark(i, j));
    std::cout << "\n";
  }
  std::cout << "\n";
}

}  // namespace

void registerReach(CLI::App& app) {
  auto opts = std::make_shared<InputOptions>();
  auto ports = std::make_shared<std::vector<std::string>>();
  auto toServices = std::make_shared<bool>(false);
  auto output = std::make_shared<std::string>("table");
  auto datapath = std::make_shared<std::string>("specialized");
  CLI::App* cmd = app.add_subcommand(
      "reach", "Trace a new connection from every running pod to every running pod on each --port, and with "
               "--to-services to every port of every proxied service (by its cluster IP), through the real programs "
               "in the kernel, and print the verdicts. Needs root.");
  addInputOptions(*cmd, *opts);
  cmd->add_option("--port", *ports, "PORT/PROTO to probe between pods (repeatable), e.g. --port 80/TCP --port 53/UDP");
  cmd->add_flag("--to-services", *toServices,
                "Also probe every port of every proxied service (headless and ExternalName services are not) from "
                "every running pod, through its cluster IP; each probe is a new connection, so its backend is chosen at "
                "random. At least one of --port and --to-services is needed");
  cmd->add_option("--output", *output,
                  "json: {\"flows\": [...]}; service flows add \"service\" and, when the client's program "
                  "translated the connection, \"backend\" (and \"backendPod\"); table: a matrix per --port, and one "
                  "with a column per service port (. allow, X deny or dropped, R reject: no usable endpoint)")
      ->check(CLI::IsMember({"json", "table"}));
  addDatapathOption(*cmd, *datapath);
  cmd->callback([=] {
    std::vector<PortProto> probes;
    for (const auto& p : *ports) {
      std::string error;
      auto pp = parsePortProto(p, error);
      if (!pp) {
        std::cerr << "error: --port " << error << "\n";
        throw CLI::RuntimeError(kExitUsage);
      }
      probes.push_back(*pp);
    }
    if (probes.empty() && !*toServices) {
      std::cerr << "error: reach needs --port PORT/PROTO, --to-services, or both\n";
      throw CLI::RuntimeError(kExitUsage);
    }
    auto cluster = buildCluster(*opts, "v4", *datapath);
    std::vector<std::string> pods = cluster->runningPods();
    json flows = json::array();
    auto traceOrExit = [&](const runtime::FlowQuery& q, const std::string& to) {
      runtime::FlowTrace t = cluster->trace(q);
      if (!t.ok) {
        std::cerr << fmt::format("error: {} -> {}: {}\n", q.fromPod, to, t.error);
        throw CLI::RuntimeError(kExitInputError);
      }
      return t;
    };
    std::map<std::tuple<size_t, size_t, size_t>, const char*> verdicts;
    for (size_t k = 0; k < probes.size(); ++k)
      for (size_t i = 0; i < pods.size(); ++i)
        for (size_t j = 0; j < pods.size(); ++j) {
          runtime::FlowQuery q;
          q.fromPod = pods[i];
          q.toPod = pods[j];
          q.proto = probes[k].proto;
          q.port = probes[k].port;
          const char* verdict = flowVerdict(traceOrExit(q, pods[j]));
          verdicts[{k, i, j}] = verdict;
          flows.push_back({{"from", pods[i]},
                           {"to", pods[j]},
                           {"port", probes[k].port},
                           {"protocol", ir::l4ProtoName(probes[k].proto)},
                           {"verdict", verdict}});
        }
    std::vector<ServiceProbe> services;
    if (*toServices) services = serviceProbes(cluster->program());
    std::map<std::pair<size_t, size_t>, const char*> serviceVerdicts;  // (pod, service port)
    for (size_t i = 0; i < pods.size(); ++i)
      for (size_t s = 0; s < services.size(); ++s) {
        runtime::FlowQuery q;
        q.fromPod = pods[i];
        q.toService = services[s].service;
        q.proto = services[s].port.proto;
        q.port = services[s].port.port;
        runtime::FlowTrace t = traceOrExit(q, "svc/" + services[s].service);
        const char* verdict = flowVerdict(t);
        serviceVerdicts[{i, s}] = verdict;
        json row = {{"from", pods[i]},
                    {"to", "svc/" + services[s].service},
                    {"port", q.port},
                    {"protocol", ir::l4ProtoName(q.proto)},
                    {"service", services[s].service}};
        if (!t.backend.empty()) row["backend"] = t.backend;
        if (!t.backendPod.empty()) row["backendPod"] = t.backendPod;
        row["verdict"] = verdict;
        flows.push_back(std::move(row));
      }
    if (*output == "json") {
      std::cout << json{{"flows", flows}}.dump(2) << "\n";
      return;
    }
    for (size_t k = 0; k < probes.size(); ++k)
      printMatrix(fmt::format("{}/{}  (rows: from, columns: to; . allow, X deny)", probes[k].port,
                              ir::l4ProtoName(probes[k].proto)),
                  pods, pods, [&](size_t i, size_t j) { return verdictMark(verdicts[{k, i, j}]); });
    if (!services.empty()) {
      std::vector<std::string> columns;
      for (const auto& s : services)
        columns.push_back(fmt::format("svc/{}:{}/{}", s.service, s.port.port, ir::l4ProtoName(s.port.proto)));
      printMatrix("services  (rows: from, columns: service ports by cluster IP; . allow, X deny or dropped, R "
                  "reject: no usable endpoint)",
                  pods, columns, [&](size_t i, size_t s) { return verdictMark(serviceVerdicts[{i, s}]); });
    }
  });
}

}  // namespace sluice::cli
