// sluice ir: print the IR of the cluster (or of one node).
#include <nlohmann/json.hpp>

#include <iostream>

#include "ir/lower.h"
#include "ir/print.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/commands.h"

namespace sluice::cli {

void registerIr(CLI::App& app) {
  auto opts = std::make_shared<InputOptions>();
  auto node = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("text");
  auto state = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("ir", "Print the IR: identities, and per node its endpoints with their "
                                           "ingress/egress rules, the IP-to-identity table and the services");
  addInputOptions(*cmd, *opts);
  cmd->add_option("--node", *node, "Print only this node's program (identities are always printed)");
  cmd->add_option("-o,--output", *format, "Output format")->check(CLI::IsMember({"text", "json"}));
  cmd->add_flag("--dump-state", *state, "Print the parsed ClusterState instead of the IR (for debugging the frontend)");
  cmd->callback([=] {
    LoadResult in;
    bool ok = loadInputs(*opts, in);
    ir::Program program;
    if (ok && !*state) {
      program = ir::lower(in.state, in.diags, lowerOptions(*opts, *node));
      ok = !in.diags.hasErrors();
    }
    printDiagnostics(in.diags, opts->verbose);
    if (!ok) throw CLI::RuntimeError(kExitInputError);
    if (*state) {
      std::cout << in.state.dump();
    } else if (*format == "json") {
      std::cout << ir::toJson(program, *node).dump(2) << "\n";
    } else {
      std::cout << ir::str(program, *node);
    }
  });
}

}  // namespace sluice::cli
