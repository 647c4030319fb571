#include "tools/sluice/review_cli.h"

#include <fmt/format.h>

#include <iostream>

#include "review/render_graph.h"

namespace sluice::cli {

void addReviewOptions(CLI::App& cmd, ReviewOptions& opts, bool withPaths) {
  if (withPaths) addInputOptions(cmd, opts.input);
  else {
    cmd.add_flag("-v,--verbose", opts.input.verbose, "Print every note, not only the first few");
    addClusterNameOption(cmd, opts.input.clusterName);
  }
  addDatapathOption(cmd, opts.datapath);
  cmd.add_flag("--exhaustive", opts.exhaustive,
               "Probe every pod pair instead of one pair per class of pods that behave alike (same identity, same "
               "policy text, same named ports, same membership in every CIDR and per-pod peer); the same answer, "
               "slower: the reference the grouping is tested against (in diff, every pair present in both states is "
               "also traced whole in both, not only pairs with a changed end)");
  cmd.add_option("-j,--jobs", opts.jobs, "Nodes compiled at once")->check(CLI::Range(1u, 256u))->capture_default_str();
}

std::vector<review::PortProbe> parseProbes(const std::vector<std::string>& texts, const std::string& option) {
  std::vector<review::PortProbe> out;
  for (const auto& t : texts) {
    std::string error;
    auto p = review::parsePortProbe(t, error);
    if (!p) {
      std::cerr << "error: " << option << " " << error << "\n";
      throw CLI::RuntimeError(kExitUsage);
    }
    if (std::find(out.begin(), out.end(), *p) == out.end()) out.push_back(*p);
  }
  return out;
}

ReviewInput loadReviewState(const ReviewOptions& opts, std::unique_ptr<LoadResult> load) {
  ReviewInput in;
  in.load = std::move(load);
  in.reach = std::make_unique<review::Reachability>();
  review::ReachOptions ro;
  ro.datapath = datapathMode(opts.datapath);
  ro.clusterName = opts.input.clusterName;
  ro.exhaustive = opts.exhaustive;
  ro.jobs = opts.jobs;
  bool ok = !in.load->diags.hasErrors() && in.reach->prepare(in.load->state, in.load->diags, ro);
  printDiagnostics(in.load->diags, opts.input.verbose);
  if (!ok) throw CLI::RuntimeError(kExitInputError);
  return in;
}

ReviewInput loadReview(const ReviewOptions& opts, const std::vector<std::string>& paths) {
  auto load = std::make_unique<LoadResult>();
  InputOptions input = opts.input;
  if (!paths.empty()) input.paths = paths;
  loadInputs(input, *load);
  return loadReviewState(opts, std::move(load));
}

void evaluateOrExit(review::Reachability& reach, const std::function<bool(size_t, size_t)>& wanted,
                    const std::vector<review::PortProbe>& probes, Diagnostics& diags, const ReviewOptions& opts,
                    const std::string& label) {
  std::string error;
  bool ok = reach.evaluate(wanted, probes, diags, error);
  printDiagnostics(diags, opts.input.verbose);
  if (!ok) {
    std::cerr << "error: " << error << "\n";
    throw CLI::RuntimeError(kExitInputError);
  }
  printReachStats(reach, label);
}

void printReachStats(const review::Reachability& reach, const std::string& label) {
  const review::ReachStats& s = reach.stats();
  std::cerr << fmt::format("{}{} pods in {} classes: {} flows, {} probes run through {} endpoint programs in {} "
                           "node objects (lower {:.0f} ms, compile {:.0f} ms, trace {:.0f} ms)\n",
                           label.empty() ? "" : label + ": ", s.pods, s.classes, s.pairsWanted, s.traced,
                           s.endpointsCompiled, s.nodesCompiled, s.lowerMs, s.compileMs, s.traceMs);
}

nlohmann::ordered_json decisionJson(const review::Decision& d) {
  nlohmann::ordered_json j = {{"hook", d.hook}, {"explanation", d.explanation}};
  if (!d.rule.empty()) {
    j["rule"] = d.rule;
    j["policy"] = d.policy;
    j["path"] = d.path;
    j["source"] = d.source;
  }
  return j;
}

std::string decisionText(const review::Decision& d) {
  std::string where = d.hook.empty() ? "" : d.hook + ": ";
  return where + d.explanation;
}

void printPicture(const review::Graph& g, const std::string& title, const std::string& format,
                  const std::string& tableHtml) {
  std::string dot = review::toDot(g, title);
  if (format == "dot") {
    std::cout << dot;
    return;
  }
  std::string svg, error;
  if (!review::renderSvg(dot, svg, error)) {
    std::cerr << "error: " << error << "\n";
    throw CLI::RuntimeError(kExitInputError);
  }
  std::cout << (format == "svg" ? svg : review::toHtml(g, title, svg, tableHtml));
}

}  // namespace sluice::cli
