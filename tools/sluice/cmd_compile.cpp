// sluice compile: one BPF object (and its IR) per node.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "codegen/codegen.h"
#include "ir/lower.h"
#include "ir/print.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/commands.h"

namespace sluice::cli {

namespace fs = std::filesystem;

static bool writeFile(const fs::path& path, const std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  return bool(out);
}

void registerCompile(CLI::App& app) {
  auto opts = std::make_shared<InputOptions>();
  auto outDir = std::make_shared<std::string>();
  auto node = std::make_shared<std::string>();
  auto emitLlvm = std::make_shared<bool>(false);
  auto cpu = std::make_shared<std::string>("v4");
  auto datapath = std::make_shared<std::string>("specialized");
  CLI::App* cmd = app.add_subcommand(
      "compile", "Compile each node's policy to a BPF object: writes DIR/<node>.o and DIR/<node>.ir, and prints a "
                 "summary per node (endpoints, rules, BPF instructions, compile time)");
  addInputOptions(*cmd, *opts);
  cmd->add_option("-o,--output-dir", *outDir, "Directory for the objects (created if missing)")->required();
  cmd->add_option("--node", *node, "Compile only this node");
  cmd->add_flag("--emit-llvm", *emitLlvm,
                "Also write DIR/<node>.ll (generated LLVM IR before optimization: functions named after endpoints "
                "and rules) and DIR/<node>.opt.ll (after O2)");
  cmd->add_option("--cpu", *cpu, "BPF instruction set: v4 (kernel >= 6.6, long jumps) or v3 (>= 5.1)")
      ->check(CLI::IsMember({"v3", "v4"}));
  cmd->add_option("--datapath", *datapath,
                  "How programs decide new connections: specialized (default: code generated from each endpoint's "
                  "policy) or generic (one table-driven decision function looking the policy up in LPM-trie maps "
                  "that the compiler fills from the same IR and the object carries; also writes DIR/<node>.tables, "
                  "their text form). Same verdicts; generic is the baseline the specialized code is measured against")
      ->check(CLI::IsMember({"specialized", "generic"}));
  cmd->callback([=] {
    LoadResult in;
    bool ok = loadInputs(*opts, in);
    ir::Program program;
    if (ok) {
      program = ir::lower(in.state, in.diags, ir::LowerOptions{*node});
      ok = !in.diags.hasErrors();
    }
    if (!ok) {
      printDiagnostics(in.diags, opts->verbose);
      throw CLI::RuntimeError(kExitInputError);
    }
    std::error_code ec;
    fs::create_directories(*outDir, ec);
    if (ec) {
      printDiagnostics(in.diags, opts->verbose);
      std::cerr << fmt::format("error: cannot create {}: {}\n", *outDir, ec.message());
      throw CLI::RuntimeError(kExitInputError);
    }
    codegen::CompileOptions copts;
    copts.cpu = *cpu;
    copts.datapath = *codegen::datapathModeFromName(*datapath);  // checked by CLI11
    copts.keepLlvmIr = copts.keepOptimizedIr = *emitLlvm;
    bool failed = false;
    std::cout << fmt::format("{:<24} {:>9} {:>7} {:>10} {:>9}  {}\n", "node", "endpoints", "rules",
                             "insns", "ms", "object");
    for (const auto& np : program.nodes) {
      codegen::CompiledNode c = codegen::compileNode(program, np, copts, in.diags);
      if (c.object.empty()) {
        failed = true;
        continue;
      }
      fs::path base = fs::path(*outDir) / np.node;
      bool written = writeFile(base.string() + ".o", std::string_view(c.object.data(), c.object.size())) &&
                     writeFile(base.string() + ".ir", ir::str(program, np.node));
      if (copts.datapath == codegen::DatapathMode::Generic)
        written = written && writeFile(base.string() + ".tables", codegen::str(c.tables));
      if (*emitLlvm)
        written = written && writeFile(base.string() + ".ll", c.llvmIr) &&
                  writeFile(base.string() + ".opt.ll", c.optimizedIr);
      if (!written) {
        std::cerr << fmt::format("error: cannot write {}.o\n", base.string());
        failed = true;
        continue;
      }
      size_t insns = c.sharedInstructions;  // shared decision functions, counted once
      for (const auto& p : c.programs) insns += p.instructions;
      std::cout << fmt::format("{:<24} {:>9} {:>7} {:>10} {:>9.1f}  {}.o\n", np.node, np.endpoints.size(), c.rules,
                               insns, c.compileMs, base.string());
    }
    printDiagnostics(in.diags, opts->verbose);
    if (failed || in.diags.hasErrors()) throw CLI::RuntimeError(kExitInputError);
  });
}

}  // namespace sluice::cli
