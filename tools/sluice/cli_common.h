// What every sluice command shares: reading inputs, printing diagnostics,
// exit codes.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "codegen/codegen.h"
#include "ir/lower.h"
#include "base/diagnostics.h"
#include "frontend/manifest_loader.h"

namespace sluice::cli {

// Exit codes, the same for every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInputError = 1;  // bad manifests, unknown node, ...
inline constexpr int kExitUsage = 2;       // bad command line

struct InputOptions {
  std::vector<std::string> paths;
  bool verbose = false;  // print every note, not only the first few
  std::string clusterName = "default";  // Cilium's --cluster-name (CiliumNetworkPolicy selectors)
};

// The lowering options every command shares, for `node` ("" for all).
ir::LowerOptions lowerOptions(const InputOptions& opts, const std::string& node);

// Adds --cluster-name to a command that does not read manifests from PATH (the agent).
void addClusterNameOption(CLI::App& cmd, std::string& name);

// Adds PATH... and --verbose to a command.
void addInputOptions(CLI::App& cmd, InputOptions& opts);

// Adds --datapath specialized|generic (codegen::DatapathMode) to a command
// that compiles programs: every such command takes it, with the same text and
// check. `generic` says what the command does more in generic mode (text put
// inside the help's parenthesis about generic), e.g. compile's extra file.
// The value is checked by CLI11: datapathMode() of it never fails.
void addDatapathOption(CLI::App& cmd, std::string& mode, const std::string& generic = "");
codegen::DatapathMode datapathMode(const std::string& name);

// Prints diagnostics to stderr: errors and warnings in full, notes up to a
// limit unless verbose, then a one-line summary of errors and warnings.
void printDiagnostics(const Diagnostics& diags, bool verbose);

// Loads the inputs, printing diagnostics. Returns false when any error was
// reported (the caller exits with kExitInputError; nothing is half-done).
bool loadInputs(const InputOptions& opts, LoadResult& out);

}  // namespace sluice::cli
