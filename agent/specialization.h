// The agent's background compile job (node_agent_tiers.cpp), shared by the
// agent's sources that start, run inline, or finish one.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/node_agent.h"
#include "codegen/codegen.h"
#include "ir/ir.h"
#include "runtime/loader.h"

namespace sluice::agent {

// One compile of specialized programs: a snapshot of what it compiles, so
// that it can run on its own thread while the loop goes on.
struct NodeAgent::Specialization {
  std::shared_ptr<const ir::Program> program;  // the state in force when it started
  ir::NodeProgram changed;                  // the endpoints (and services) it compiles
  std::map<std::string, std::string> keys;  // endpoint -> the code inputs it compiles
  bool uplink = false;                      // the uplink's program too
  std::string uplinkKey;
  codegen::CompileOptions options;
  std::function<void(std::vector<char>&)> alterObject;
  std::string pinDir;
  Clock::time_point firstChange;
  // What it made.
  std::unique_ptr<runtime::LoadedNode> loaded;
  std::vector<codegen::ProgramInfo> programs;
  std::string error;
  double compileMs = 0, loadMs = 0;

  void run();  // compiles and verifies; sets `error` on failure
};

}  // namespace sluice::agent
