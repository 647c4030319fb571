// sluice compile: one BPF object (and its IR) per node.
#include <fmt/format.h>

#include <stdlib.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "base/text.h"
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

namespace {

// A node name as a file name: names come from manifests (and CI compiles
// manifests from pull requests), so even after the frontend's DNS-1123
// check no name may leave the output directory or hide in it.
bool safeFileStem(const std::string& name) {
  return !name.empty() && name.size() <= 253 && name[0] != '.' &&
         name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

// The output directory is replaced as a set: every file is written into a
// staging directory inside it first, and moved into place (one rename each)
// only once every node compiled. A failed run leaves DIR as it was. The list
// of what the last run wrote (kOutputList) lets a run that compiles every node
// remove the files of nodes that no longer exist, never anyone else's files.
constexpr const char* kOutputList = ".sluice-compile-outputs";

class OutputDir {
 public:
  explicit OutputDir(fs::path dir) : dir_(std::move(dir)) {}
  ~OutputDir() { discard(); }

  bool open(std::string& error) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) {
      error = fmt::format("cannot create {}: {}", dir_.string(), ec.message());
      return false;
    }
    std::string pattern = (dir_ / ".sluice-staging-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) {
      error = fmt::format("cannot create a staging directory in {}: {}", dir_.string(), std::strerror(errno));
      return false;
    }
    staging_ = pattern;
    return true;
  }

  bool write(const std::string& name, std::string_view bytes) {
    if (!writeFile(staging_ / name, bytes)) return false;
    written_.push_back(name);
    return true;
  }

  // Moves every staged file into place. `complete`: this run compiled every
  // node, so files the previous run listed and this one did not write go.
  bool commit(bool complete, std::string& error) {
    std::vector<std::string> previous = readList();
    for (const std::string& name : written_) {
      std::error_code ec;
      fs::rename(staging_ / name, dir_ / name, ec);
      if (ec) {
        error = fmt::format("cannot move {} into {}: {}", name, dir_.string(), ec.message());
        return false;
      }
    }
    std::set<std::string> now(written_.begin(), written_.end());
    std::set<std::string> listed = now;
    for (const std::string& old : previous) {
      if (now.count(old)) continue;
      if (complete) {
        std::error_code ec;
        fs::remove(dir_ / old, ec);  // a node gone from the cluster: its files go too
      } else {
        listed.insert(old);
      }
    }
    std::string list;
    for (const std::string& name : listed) list += name + "\n";
    std::error_code ec;
    if (!writeFile(staging_ / kOutputList, list)) ec = std::make_error_code(std::errc::io_error);
    if (!ec) fs::rename(staging_ / kOutputList, dir_ / kOutputList, ec);
    if (ec) {
      error = fmt::format("cannot write {}/{}: {}", dir_.string(), kOutputList, ec.message());
      return false;
    }
    return true;
  }

  void discard() {
    if (staging_.empty()) return;
    std::error_code ec;
    fs::remove_all(staging_, ec);
    staging_.clear();
  }

 private:
  std::vector<std::string> readList() const {
    std::vector<std::string> out;
    std::ifstream in(dir_ / kOutputList);
    for (std::string line; std::getline(in, line);)
      if (safeFileStem(line)) out.push_back(line);
    return out;
  }

  fs::path dir_;
  fs::path staging_;
  std::vector<std::string> written_;
};

}  // namespace

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
  cmd->add_option("-o,--output-dir", *outDir, "Directory for the objects (created if missing). Its files are replaced only once every node "
                  "compiled: a failed run changes nothing in it, and a run of every node also removes the files "
                  "an earlier run wrote for nodes that are gone (listed in DIR/.sluice-compile-outputs)")->required();
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
      program = ir::lower(in.state, in.diags, lowerOptions(*opts, *node));
      lowerMs = msSince(lowerStart);
      ok = !in.diags.hasErrors();
    }
    if (!ok) {
      printDiagnostics(in.diags, opts->verbose);
      throw CLI::RuntimeError(kExitInputError);
    }
    for (const auto& np : program.nodes)
      if (!safeFileStem(np.node)) {
        printDiagnostics(in.diags, opts->verbose);
        std::cerr << fmt::format("error: node name {} cannot name a file in {}\n", quote(np.node), *outDir);
        throw CLI::RuntimeError(kExitInputError);
      }
    OutputDir output(*outDir);
    if (std::string error; !output.open(error)) {
      printDiagnostics(in.diags, opts->verbose);
      std::cerr << fmt::format("error: {}\n", error);
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
      const std::string& stem = np.node;
      bool written = output.write(stem + ".o", std::string_view(c.object.data(), c.object.size())) &&
                     output.write(stem + ".ir", ir::str(program, np.node));
      if (copts.datapath == codegen::DatapathMode::Generic)
        written = written && output.write(stem + ".tables", codegen::str(c.tables));
      if (*emitLlvm)
        written = written && output.write(stem + ".ll", c.llvmIr) && output.write(stem + ".opt.ll", c.optimizedIr);
      if (!written) {
        std::cerr << fmt::format("error: cannot write {}'s files: {}\n", np.node, std::strerror(errno));
        failed = true;
        return;
      }
      fs::path base = fs::path(*outDir) / np.node;
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
    if (failed || in.diags.hasErrors()) {
      output.discard();
      std::cerr << fmt::format("sluice compile: nothing in {} was changed (a run replaces its files only when every "
                               "node compiled)\n",
                               *outDir);
      throw CLI::RuntimeError(kExitInputError);
    }
    if (std::string error; !output.commit(node->empty(), error)) {
      std::cerr << fmt::format("error: {}\n", error);
      throw CLI::RuntimeError(kExitInputError);
    }
  });
}

}  // namespace sluice::cli
