#include "tools/sluice/cli_common.h"

#include <fmt/format.h>

#include <iostream>

namespace sluice::cli {

void addInputOptions(CLI::App& cmd, InputOptions& opts) {
  cmd.add_option("PATH", opts.paths,
                 "Manifests: YAML or JSON files, directories (read recursively: *.yaml, *.yml, *.json), "
                 "or - for stdin")
      ->required();
  cmd.add_flag("-v,--verbose", opts.verbose, "Print every note (by default only the first 10)");
  addClusterNameOption(cmd, opts.clusterName);
}

ir::LowerOptions lowerOptions(const InputOptions& opts, const std::string& node) {
  ir::LowerOptions lo;
  lo.onlyNode = node;
  lo.clusterName = opts.clusterName;
  return lo;
}

void addClusterNameOption(CLI::App& cmd, std::string& name) {
  cmd.add_option("--cluster-name", name,
                 "The cluster's name, as Cilium's --cluster-name: every pod carries the label "
                 "io.cilium.k8s.policy.cluster=NAME for CiliumNetworkPolicy selectors (selectors naming another "
                 "cluster match nothing)")
      ->capture_default_str();
}

void addDatapathOption(CLI::App& cmd, std::string& mode, const std::string& generic) {
  cmd.add_option("--datapath", mode,
                 "How programs decide new connections: specialized (default: code generated from each endpoint's "
                 "policy) or generic (one table-driven decision function looking the policy up in LPM-trie maps "
                 "that the compiler fills from the same IR and the object carries" +
                     (generic.empty() ? "" : "; " + generic) +
                     "). Same verdicts; generic is the baseline the specialized code is measured against")
      ->check(CLI::IsMember({"specialized", "generic"}));
}

codegen::DatapathMode datapathMode(const std::string& name) {
  return codegen::datapathModeFromName(name).value_or(codegen::DatapathMode::Specialized);
}

void printDiagnostics(const Diagnostics& diags, bool verbose) {
  constexpr size_t kNoteLimit = 10;
  size_t notes = 0, hiddenNotes = 0, warnings = 0;
  for (const auto& d : diags.all()) {
    if (d.severity == Severity::Note) {
      if (!verbose && notes >= kNoteLimit) {
        ++hiddenNotes;
        continue;
      }
      ++notes;
    }
    if (d.severity == Severity::Warning) ++warnings;
    std::cerr << Diagnostics::render(d);
  }
  if (hiddenNotes) std::cerr << fmt::format("note: {} more notes not shown (use --verbose)\n", hiddenNotes);
  if (diags.hasErrors())
    std::cerr << fmt::format("{} error{}{}\n", diags.errorCount(), diags.errorCount() == 1 ? "" : "s",
                             warnings ? fmt::format(", {} warning{}", warnings, warnings == 1 ? "" : "s") : "");
}

bool loadInputs(const InputOptions& opts, LoadResult& out) {
  loadManifests(opts.paths, out.state, out.diags);
  return !out.diags.hasErrors();
}

}  // namespace sluice::cli
