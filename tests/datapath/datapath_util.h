// Shared helpers of the datapath kernel tests: manifests loaded through the
// frontend like a user's, compiled and loaded into this kernel, traced with
// BPF_PROG_TEST_RUN, and a one-line summary of what each hook decided.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <ostream>
#include <string>

#include "codegen/datapath/sluice_abi.h"
#include "codegen/codegen.h"
#include "frontend/manifest_loader.h"
#include "runtime/kernel_cluster.h"
#include "tests/testing/datapath_modes.h"

namespace sluice::datapath_test {

#define SLUICE_REQUIRE_ROOT() \
  ASSERT_EQ(geteuid(), 0u) << "kernel tests must run as root (they fail instead of skipping)"

// A cluster loaded from YAML text and built into the kernel.
struct LoadedCluster {
  ClusterState state;
  Diagnostics diags;
  std::unique_ptr<runtime::KernelCluster> kernel = std::make_unique<runtime::KernelCluster>();
  bool built = false;

  // Loads like `sluice`: loadManifestText, checkDuplicates, finalize. Returns
  // false (diagnostics in `diags`) on a load or build error.
  bool load(const std::string& yaml, const runtime::ClusterOptions& options = {}) {
    loadManifestText("cluster.yaml", yaml, state, diags);
    checkDuplicates(state, diags);
    state.finalize();
    if (diags.hasErrors()) return false;
    built = kernel->build(state, diags, options);
    return built && !diags.hasErrors();
  }
};

inline double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// One node compiled and loaded on its own, timed — for the scale tests, which
// print their figures even when the verifier refuses. Maps are pinned under a
// private directory and unpinned when this goes away.
struct TimedNode {
  codegen::CompiledNode compiled;
  runtime::LoadedNode node;
  double compileMs = 0, loadMs = 0;
  bool loaded = false;
  std::string error;  // the verifier's complaint when not loaded

  TimedNode() = default;
  TimedNode(const TimedNode&) = delete;
  ~TimedNode() { node.unpinMaps(); }

  // Compiles (diagnostics in `diags`; nothing loaded when the object is
  // empty) and loads under /sys/fs/bpf/sluice-<tag>-<pid>.
  void build(const ir::Program& program, const ir::NodeProgram& n, Diagnostics& diags, const std::string& tag) {
    auto t0 = std::chrono::steady_clock::now();
    compiled = codegen::compileNode(program, n, {}, diags);
    compileMs = msSince(t0);
    if (compiled.object.empty()) return;
    t0 = std::chrono::steady_clock::now();
    loaded = node.load(compiled, n, "/sys/fs/bpf/sluice-" + tag + "-" + std::to_string(getpid()), error);
    loadMs = msSince(t0);
  }
  const runtime::ProgramStats* stats(const std::string& program) const {
    for (const auto& p : node.programs())
      if (p.name == program) return &p;
    return nullptr;
  }
  // "N instructions, M verifier-processed", or why there are none.
  std::string summary(const std::string& program) const {
    if (!loaded) return "REFUSED by the verifier";
    const runtime::ProgramStats* s = stats(program);
    return s ? std::to_string(s->instructions) + " instructions, " + std::to_string(s->verifiedInstructions) +
                   " verifier-processed"
             : "no program";
  }
};

// What one hook decided, in one word: the deciding rule's name, or
// "unisolated" / "isolated" (no rule allowed) / "own-node" (ingress from the
// pod's own node, always allowed) / the outcome when no policy
// decision was made ("established", "reply", "spoofed", ...).
inline std::string hookDecision(const runtime::HookStep& s) {
  if (s.rule) return s.rule->name;
  switch (SLUICE_DECISION_KIND(s.run.decision)) {
    case SLUICE_DECIDE_ALLOW_UNISOLATED: return "unisolated";
    case SLUICE_DECIDE_DENY_DEFAULT: return "isolated";
    case SLUICE_DECIDE_ALLOW_RULE: return "allow-rule?";
    case SLUICE_DECIDE_DENY_RULE: return "deny-rule?";
    case SLUICE_DECIDE_ALLOW_OWN_NODE: return "own-node";
  }
  switch (s.run.outcome) {
    case SLUICE_OUT_ESTABLISHED: return "established";
    case SLUICE_OUT_REPLY: return "reply";
    case SLUICE_OUT_SPOOFED: return "spoofed";
    case SLUICE_OUT_UNSUPPORTED: return "unsupported";
    case SLUICE_OUT_NOT_IP: return "not-ip";
  }
  return s.run.passed() ? "passed" : "dropped";
}

// "allow from-pod=unisolated to-pod=np.x.p.ingress0.from1", "deny from-pod=isolated",
// "allow (self)" for a pod reaching itself; "error: ..." when the trace failed.
inline std::string summarize(const runtime::FlowTrace& t) {
  if (!t.ok) return "error: " + t.error;
  std::string s = t.allowed ? "allow" : "deny";
  if (t.steps.empty() && !t.note.empty()) s += " (self)";
  for (const auto& step : t.steps) s += " " + step.hook + "=" + hookDecision(step);
  return s;
}

// Every hook's explanation, one per line, for failure messages.
inline std::string explain(const runtime::FlowTrace& t) {
  std::string s;
  if (!t.note.empty()) s += "    note: " + t.note + "\n";
  for (const auto& step : t.steps)
    s += "    " + step.hook + " " + step.endpoint + " on " + step.node + " (" + step.program + "): " +
         step.explanation + "\n";
  if (!t.ok) s += "    error: " + t.error + "\n";
  return s;
}

}  // namespace sluice::datapath_test
