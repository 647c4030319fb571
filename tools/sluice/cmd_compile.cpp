// sluice compile: one BPF object (and its IR) per node.
#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "codegen/codegen.h"
#include "ir/lower.h"
#include "ir/print.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/commands.h"

namespace sluice::cli {

namespace fs = std::filesystem;

namespace {

// One node's compile, done on a worker thread: its result and its own
// diagnostics (merged in node order, so the output does not depend on which
// thread finished first).
struct NodeResult {
  codegen::CompiledNode compiled;
  Diagnostics diags;
};

// Compiles `nodes` on `threads` threads (each compileNode has its own
// LLVMContext and target machine) and hands each result to `done` in node
// order, as soon as it and every node before it are compiled: the summary
// lines stream as progress.
void compileNodes(const ir::Program& program, const std::vector<const ir::NodeProgram*>& nodes,
                  const codegen::CompileOptions& options, size_t threads,
                  const std::function<void(const ir::NodeProgram&, NodeResult&)>& done) {
  std::vector<std::optional<NodeResult>> results(nodes.size());
  std::mutex mutex;
  std::condition_variable ready;
  size_t next = 0;
  auto work = [&] {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (next == nodes.size()) return;
        i = next++;
      }
      NodeResult r;
      r.compiled = codegen::compileNode(program, *nodes[i], options, r.diags);
      std::lock_guard<std::mutex> lock(mutex);
      results[i] = std::move(r);
      ready.notify_all();
    }
  };
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t) workers.emplace_back(work);
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::optional<NodeResult> r;
    {
      std::unique_lock<std::mutex> lock(mutex);
      ready.wait(lock, [&] { return results[i].has_value(); });
      r = std::move(results[i]);
    }
    done(*nodes[i], *r);
  }
  for (auto& w : workers) w.join();
}

double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

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
  auto jobs = std::make_shared<unsigned>(std::max(1u, std::thread::hardware_concurrency()));
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
  addDatapathOption(*cmd, *datapath, "also writes DIR/<node>.tables, their text form");
  cmd->add_option("-j,--jobs", *jobs,
                  "Nodes compiled at once, on that many threads (default: the number of CPUs, here " +
                      std::to_string(*jobs) +
                      "); the files written are byte-identical for any number, the summary in node order")
      ->check(CLI::Range(1u, 1024u));
  cmd->callback([=] {
    auto start = std::chrono::steady_clock::now();
    LoadResult in;
    bool ok = loadInputs(*opts, in);
    double parseMs = msSince(start);
    ir::Program program;
    double lowerMs = 0;
    if (ok) {
      auto lowerStart = std::chrono::steady_clock::now();
      program = ir::lower(in.state, in.diags, ir::LowerOptions{*node});
      lowerMs = msSince(lowerStart);
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
    copts.datapath = datapathMode(*datapath);
    copts.keepLlvmIr = copts.keepOptimizedIr = *emitLlvm;
    bool failed = false;
    std::cout << fmt::format("{:<24} {:>9} {:>7} {:>10} {:>9}  {}\n", "node", "endpoints", "rules",
                             "insns", "ms", "object");
    std::vector<const ir::NodeProgram*> nodes;
    for (const auto& np : program.nodes) nodes.push_back(&np);
    const size_t threads = std::max<size_t>(1, std::min<size_t>(*jobs, nodes.size()));
    auto compileStart = std::chrono::steady_clock::now();
    compileNodes(program, nodes, copts, threads, [&](const ir::NodeProgram& np, NodeResult& r) {
      for (const Diagnostic& d : r.diags.all()) in.diags.add(d);
      const codegen::CompiledNode& c = r.compiled;
      if (c.object.empty()) {
        failed = true;
        return;
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
        return;
      }
      size_t insns = c.sharedInstructions;  // shared decision functions, counted once
      for (const auto& p : c.programs) insns += p.instructions;
      std::cout << fmt::format("{:<24} {:>9} {:>7} {:>10} {:>9.1f}  {}.o\n", np.node, np.endpoints.size(), c.rules,
                               insns, c.compileMs, base.string())
                << std::flush;
    });
    std::cerr << fmt::format("sluice compile: {} node{} in {:.1f} s: parse {:.0f} ms, lower {:.0f} ms, compile "
                             "{:.0f} ms on {} thread{}\n",
                             nodes.size(), nodes.size() == 1 ? "" : "s", msSince(start) / 1000, parseMs, lowerMs,
                             msSince(compileStart), threads, threads == 1 ? "" : "s");
    printDiagnostics(in.diags, opts->verbose);
    if (failed || in.diags.hasErrors()) throw CLI::RuntimeError(kExitInputError);
  });
}

}  // namespace sluice::cli
