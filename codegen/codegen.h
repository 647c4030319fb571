// codegen: one IR NodeProgram -> one BPF ELF object (with BTF) for that node.
//
// Per endpoint two tc programs: `from_pod_<ns>_<pod>` (tc ingress on the pod's
// host-side veth: the pod's egress policy) and `to_pod_<ns>_<pod>` (tc egress
// on it: the pod's ingress policy). Each is the datapath library
// (codegen/datapath/, compiled to bitcode at build time) around a generated
// decision function for that endpoint and direction (decision_plan.h says why
// it has the shape it has). Maps are the ABI of codegen/datapath/sluice_abi.h.
//
// Generic mode (DatapathMode::Generic) compiles the same IR into a
// table-driven datapath instead: every program calls one decision function
// that looks the connection up in policy tables (generic_tables.h), the
// baseline the specialized code is measured against (docs/datapath.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "codegen/generic_tables.h"
#include "base/diagnostics.h"
#include "ir/ir.h"

namespace sluice::codegen {

// How a program decides a new connection: generated code per endpoint policy
// (the default), or lookups in tables the compiler fills (Cilium-style).
enum class DatapathMode { Specialized, Generic };
const char* datapathModeName(DatapathMode mode);  // "specialized" / "generic"
std::optional<DatapathMode> datapathModeFromName(const std::string& name);

struct CompileOptions {
  std::string cpu = "v4";   // v4 needs kernel >= 6.6; v3 stops at 32K instructions per program
  DatapathMode datapath = DatapathMode::Specialized;
  bool keepLlvmIr = false;  // fill CompiledNode::llvmIr (before optimization)
  bool keepOptimizedIr = false;
};

// One program of the object, for the runtime and for `trace`.
struct ProgramInfo {
  std::string name;      // ELF symbol and libbpf program name
  std::string endpoint;  // "ns/pod"; empty for the uplink program
  ir::Direction direction = ir::Direction::Ingress;  // Egress = from-pod, Ingress = to-pod
  std::string attach;    // "tc-ingress" (from-pod) or "tc-egress" (to-pod), on the host-side veth
  size_t instructions = 0;  // BPF instructions in the object
};

struct CompiledNode {
  std::string node;
  DatapathMode datapath = DatapathMode::Specialized;
  std::vector<char> object;  // the ELF; empty on failure
  // Generic mode: the policy tables, also in the object's kGenericTablesSection
  // (the runtime loads them from there). Empty in specialized mode.
  GenericTables tables;
  std::vector<ProgramInfo> programs;
  std::string llvmIr, optimizedIr;
  double compileMs = 0;
  size_t rules = 0;  // IR rules over all endpoints and directions
  // BPF instructions of the functions programs share (the large decision
  // trees, in .text); each program's own count leaves them out.
  size_t sharedInstructions = 0;
};

// Compiles one node. Problems (unsupported features, LLVM limits) go to
// `diags`; on error the result has no object.
CompiledNode compileNode(const ir::Program& program, const ir::NodeProgram& node, const CompileOptions& options,
                         Diagnostics& diags);

// The agent's first tier (docs/agent.md, "Tiered enforcement"): an object
// with three programs that serve every endpoint and the uplink of a node,
// reading what a specialized program has as constants from maps
// (datapath/datapath_tier.bpf.c): kTierFromPod and kTierToPod (the
// endpoint's address and generic-mode tables, by interface) and
// kTierUplink. Compiled once per agent; its ProgramInfos have no endpoint.
// The object carries an empty generic-tables section: the agent writes the
// tables as endpoints come and go.
inline constexpr const char* kTierFromPod = "tier_from_pod";
inline constexpr const char* kTierToPod = "tier_to_pod";
inline constexpr const char* kTierUplink = "tier_from_netdev";
CompiledNode compileTierPrograms(const CompileOptions& options, Diagnostics& diags);

// The node's uplink program (tc ingress of its uplink interface): NodePort,
// external and load-balancer addresses reached from outside, and the replies
// of masqueraded connections. Present only when needsUplinkProgram(node)
// (such a frontend, or masquerade on); its ProgramInfo has an empty `endpoint`.
inline constexpr const char* kUplinkProgram = "from_netdev";
bool needsUplinkProgram(const ir::NodeProgram& node);

// Everything compileNode reads from the IR, as text: equal texts compile to
// equal programs. Per endpoint (its two programs: the node's reserved
// identities, which entities expand over, and the endpoint itself), for the
// uplink program ("" when the node needs none), and for the whole node. The
// agent compares them between generations to recompile only what changed;
// the rest of the IR (addresses, peers' identities, service backends) lives
// in maps the runtime updates in place.
std::string endpointCodeInputs(const ir::Program& program, const ir::Endpoint& ep);
std::string uplinkCodeInputs(const ir::NodeProgram& node);
std::string codeInputs(const ir::Program& program, const ir::NodeProgram& node);

// The program names for an endpoint (stable, C identifiers, unique per node).
std::string programName(const ir::NodeProgram& node, const ir::Endpoint& ep, ir::Direction dir);

// Counts BPF instructions of each program in an ELF object (its own section).
std::vector<std::pair<std::string, size_t>> programSizes(const std::vector<char>& object);
// BPF instructions in the object's .text section (functions programs share).
size_t sharedTextInstructions(const std::vector<char>& object);

}  // namespace sluice::codegen
