// `sluice reach`: every pod to every pod on each --port (and to every service
// port), through the real programs, one probe per distinct flow
// (review/reachability.h), printed as matrices, JSON or a picture.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <iostream>

#include "review/graph.h"
#include "review/reachability.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/commands.h"
#include "tools/sluice/review_cli.h"

namespace sluice::cli {
namespace {

using json = nlohmann::ordered_json;

const char* verdictMark(review::Verdict v) {
  switch (v) {
    case review::Verdict::Allow: return ".";
    case review::Verdict::Reject: return "R";
    case review::Verdict::Partial: return "P";
    case review::Verdict::Deny: return "X";
  }
  return "?";
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
  auto opts = std::make_shared<ReviewOptions>();
  auto ports = std::make_shared<std::vector<std::string>>();
  auto toServices = std::make_shared<bool>(false);
  auto output = std::make_shared<std::string>("table");
  CLI::App* cmd = app.add_subcommand(
      "reach", "Trace a new connection from every running pod to every running pod on each --port, and with "
               "--to-services from every endpoint pod to every port of every proxied service (by its cluster IP), "
               "through the real programs in the kernel, and print the verdicts. Pods that behave alike are probed "
               "once (--exhaustive probes every pair). Needs root.");
  addReviewOptions(*cmd, *opts);
  cmd->add_option("--port", *ports, "PORT/PROTO to probe between pods (repeatable), e.g. --port 80/TCP --port 53/UDP");
  cmd->add_flag("--to-services", *toServices,
                "Also probe every port of every proxied service (headless and ExternalName services are not) from "
                "every endpoint pod (hostNetwork pods reach services without sluice), through its cluster IP, then "
                "towards each backend the client's node picks from: allow when every backend allows, deny when none "
                "does, partial between. At least one of --port and --to-services is needed");
  cmd->add_option("--output", *output,
                  "table: a matrix per --port, and one with a column per service port (. allow, X deny or dropped, R "
                  "reject: no usable endpoint, P partial); json: {\"flows\": [...]}, service flows add \"service\", "
                  "the backend the traced connection reached (\"backend\", \"backendPod\") and \"backends\" with a "
                  "verdict each; " + std::string(kPictureFormatsHelp))
      ->check(CLI::IsMember({"table", "json", "dot", "svg", "html"}));
  cmd->callback([=] {
    std::vector<review::PortProbe> probes = parseProbes(*ports);
    if (probes.empty() && !*toServices) {
      std::cerr << "error: reach needs --port PORT/PROTO, --to-services, or both\n";
      throw CLI::RuntimeError(kExitUsage);
    }
    ReviewInput in = loadReview(*opts);
    review::Reachability& reach = *in.reach;
    if (*toServices) reach.alsoServices([](size_t) { return true; });
    evaluateOrExit(reach, {}, probes, in.load->diags, *opts);
    const auto& pods = reach.pods();
    const auto& services = *toServices ? reach.servicePorts() : std::vector<review::Reachability::ServicePort>{};
    if (*output == "dot" || *output == "svg" || *output == "html") {
      review::Graph g = review::reachGraph(reach, probes, *toServices);
      std::string title = "sluice reach " + fmt::format("{}", fmt::join(opts->input.paths, " "));
      printPicture(g, title, *output, "");
      return;
    }
    if (*output == "json") {
      json flows = json::array();
      for (size_t k = 0; k < probes.size(); ++k)
        for (size_t i = 0; i < pods.size(); ++i)
          for (size_t j = 0; j < pods.size(); ++j) {
            review::Flow f = reach.flow(i, j, k);
            flows.push_back({{"from", f.from},
                             {"to", f.to},
                             {"port", f.probe.port},
                             {"protocol", ir::l4ProtoName(f.probe.proto)},
                             {"verdict", review::verdictName(f.verdict)},
                             {"decision", decisionJson(f.decision)}});
          }
      for (size_t i = 0; i < pods.size(); ++i) {
        if (!reach.isEndpoint(i)) continue;
        for (size_t s = 0; s < services.size(); ++s) {
          review::Flow f = reach.serviceFlow(i, s);
          json row = {{"from", f.from},
                      {"to", f.to},
                      {"port", f.probe.port},
                      {"protocol", ir::l4ProtoName(f.probe.proto)},
                      {"service", f.service}};
          if (!f.backend.empty()) row["backend"] = f.backend;
          if (!f.backendPod.empty()) row["backendPod"] = f.backendPod;
          if (!f.backends.empty()) {
            json bs = json::array();
            for (const auto& [b, v] : f.backends) bs.push_back({{"backend", b}, {"verdict", review::verdictName(v)}});
            row["backends"] = bs;
          }
          row["verdict"] = review::verdictName(f.verdict);
          row["decision"] = decisionJson(f.decision);
          flows.push_back(std::move(row));
        }
      }
      std::cout << json{{"flows", flows}}.dump(2) << "\n";
      return;
    }
    for (size_t k = 0; k < probes.size(); ++k)
      printMatrix(fmt::format("{}  (rows: from, columns: to; . allow, X deny)", probes[k].str()), pods, pods,
                  [&](size_t i, size_t j) { return verdictMark(reach.verdict(i, j, k)); });
    if (!services.empty()) {
      std::vector<std::string> rows, columns;
      std::vector<size_t> clients;
      for (size_t i = 0; i < pods.size(); ++i)
        if (reach.isEndpoint(i)) rows.push_back(pods[i]), clients.push_back(i);
      for (const auto& s : services) columns.push_back(fmt::format("svc/{}:{}", s.service, s.probe.str()));
      printMatrix("services  (rows: from, columns: service ports by cluster IP; . allow, X deny or dropped, R "
                  "reject: no usable endpoint, P partial: some backends allow)",
                  rows, columns, [&](size_t i, size_t s) { return verdictMark(reach.serviceFlow(clients[i], s).verdict); });
    }
  });
}

}  // namespace sluice::cli
