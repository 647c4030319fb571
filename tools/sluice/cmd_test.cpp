// `sluice test EXPECTATIONS.yaml... [PATH...]`: unit tests for policy.
// review/expectations.h has the file format and the semantics; this file
// only sorts the arguments, builds each cluster once and prints the results.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "review/expectations.h"
#include "runtime/kernel_cluster.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/commands.h"

namespace sluice::cli {
namespace {

// A cluster loaded into the kernel with the state its labels come from.
struct LoadedCluster {
  std::vector<std::string> paths;
  LoadResult input;
  runtime::KernelCluster kernel;
};

std::unique_ptr<LoadedCluster> loadCluster(const std::vector<std::string>& paths, const InputOptions& opts,
                                           const std::string& datapath) {
  auto cluster = std::make_unique<LoadedCluster>();
  cluster->paths = paths;
  bool ok = loadManifests(paths, cluster->input.state, cluster->input.diags);
  if (ok) {
    runtime::ClusterOptions co;
    co.compile.datapath = datapathMode(datapath);
    co.clusterName = opts.clusterName;
    ok = cluster->kernel.build(cluster->input.state, cluster->input.diags, co);
  }
  printDiagnostics(cluster->input.diags, opts.verbose);
  if (!ok) throw CLI::RuntimeError(kExitInputError);
  return cluster;
}

}  // namespace

void registerTest(CLI::App& app) {
  auto opts = std::make_shared<InputOptions>();
  auto output = std::make_shared<std::string>("text");
  auto datapath = std::make_shared<std::string>("specialized");
  CLI::App* cmd = app.add_subcommand(
      "test",
      "Check expectations files: unit tests for policy. Each expectation says that the flows from some pods to some "
      "pods or to a service, on some ports (or any port), are allowed or denied; every such flow is traced as a new "
      "connection through the real programs (as `trace` does) and must have the expected verdict (reject counts as "
      "deny). Prints PASS or FAIL per expectation, under a failing one up to 10 offending flows with the rule that "
      "decided each, then a summary. Exit status: 0 when every expectation holds, 1 when one fails or an input is "
      "invalid, 2 for a bad command line. The format is in docs/ci.md. Needs root.");
  addInputOptions(*cmd, *opts);
  cmd->get_option("PATH")->description(
      "Expectations files (YAML with a top-level `expectations:` list), and manifests: YAML or JSON files, "
      "directories (read recursively: *.yaml, *.yml, *.json), or - for stdin. Manifests given here are the cluster "
      "of every expectations file, in place of their `cluster:`");
  cmd->add_option("--output", *output,
                  "text, or json: {\"expectations\": [{\"name\", \"source\", \"expect\", \"passed\", "
                  "\"flows_checked\", \"failures\": [{\"from\", \"to\", \"port\", \"protocol\", \"verdict\", "
                  "\"decision\": {\"hook\", \"rule\", ...}}]}]} with every failing flow (and \"error\" when an "
                  "expectation could not be checked)")
      ->check(CLI::IsMember({"text", "json"}));
  addDatapathOption(*cmd, *datapath);
  cmd->callback([=] {
    std::vector<std::string> files, manifests;
    for (const auto& path : opts->paths) (review::isExpectationsFile(path) ? files : manifests).push_back(path);
    if (files.empty()) {
      std::cerr << "error: sluice test needs an expectations file (YAML with a top-level `expectations:` list); "
                   "only manifests were given\n";
      throw CLI::RuntimeError(kExitUsage);
    }
    Diagnostics parseDiags;
    std::vector<review::ExpectationsFile> parsed;
    for (const auto& f : files)
      if (auto e = review::readExpectations(f, parseDiags)) parsed.push_back(std::move(*e));
    if (parseDiags.hasErrors()) {
      printDiagnostics(parseDiags, opts->verbose);
      throw CLI::RuntimeError(kExitInputError);
    }
    for (auto& file : parsed) {
      if (!manifests.empty()) file.cluster = manifests;
      if (file.cluster.empty()) {
        std::cerr << fmt::format("error: {}: no cluster to check: the file has no `cluster:` and no manifest PATH "
                                 "was given\n",
                                 file.path);
        throw CLI::RuntimeError(kExitUsage);
      }
    }
    // Files naming the same cluster share one build (with manifest PATHs, all do).
    std::vector<review::ExpectationResult> results;
    std::unique_ptr<LoadedCluster> cluster;
    for (const auto& file : parsed) {
      if (!cluster || cluster->paths != file.cluster) {
        cluster.reset();  // one cluster in the kernel at a time
        cluster = loadCluster(file.cluster, *opts, *datapath);
      }
      review::ClusterView view{cluster->input.state, cluster->kernel.program(), cluster->kernel.runningPods()};
      Diagnostics checkDiags;  // each error is in its result's line too
      auto fileResults =
          review::checkExpectations(file, view, review::kernelFlowEvaluator(cluster->kernel), checkDiags);
      results.insert(results.end(), fileResults.begin(), fileResults.end());
    }
    std::cout << (*output == "json" ? review::renderExpectationsJson(results)
                                    : review::renderExpectationsText(results));
    for (const auto& r : results)
      if (!r.passed()) throw CLI::RuntimeError(kExitInputError);
  });
}

}  // namespace sluice::cli
