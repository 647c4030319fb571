// Generic mode's policy tables (`sluice compile --datapath generic`): the same
// decision plans the specialized code generator emits as code, flattened into
// the entries of two LPM tries (codegen/datapath/sluice_generic_abi.h) that
// one table-driven decision function looks up. Pure analysis, no LLVM, so the
// contents can be printed and checked on their own.
//
// The compiled object carries its tables in an ELF section
// (kGenericTablesSection) that the runtime reads when it loads the object and
// writes into the object's own, unpinned maps before any program is attached.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codegen/datapath/sluice_generic_abi.h"
#include "codegen/decision_plan.h"

namespace sluice::codegen {

inline constexpr const char* kGenericTablesSection = ".sluice.tables";

struct GenericTables {
  // One endpoint direction's policy (shared by endpoints with identical ones).
  struct Table {
    uint32_t id = 0;          // > 0
    std::string endpoint;     // the first endpoint using it, "ns/name"
    ir::Direction direction = ir::Direction::Ingress;
    uint32_t flags = 0;       // enum sluice_generic_flags: the generated call passes them
  };
  // sluice_gpol_v1: {table, selector, proto, port block} -> {deny rule, allow rule}.
  struct PolicyEntry {
    uint32_t table = 0, selector = 0;
    uint32_t prefixLen = 0;  // SLUICE_GPOL_SELECTOR_PREFIX (selector only) or PROTO_PREFIX + k (a port block)
    uint8_t proto = 0;
    uint16_t port = 0;       // first port of the block
    uint32_t denyRule = 0, allowRule = 0;
    bool operator==(const PolicyEntry&) const = default;
  };
  // sluice_gcidr_v1: {table, address block} -> address-class selectors.
  struct CidrEntry {
    uint32_t table = 0;
    uint32_t addr = 0;  // host order, first address of the block
    uint8_t prefixLen = 0;  // of the address (0..32)
    uint32_t selector = 0, worldSelector = 0;
    bool operator==(const CidrEntry&) const = default;
  };
  std::vector<Table> tables;
  std::vector<PolicyEntry> policy;
  std::vector<CidrEntry> cidrs;
};

// Adds one endpoint direction's table (numbered tables.size() + 1) and
// returns it. The entries answer exactly what emitDecision's code answers for
// the same plan: the deciding rule of each kind, not only the verdict.
const GenericTables::Table& addGenericTable(GenericTables& tables, const ir::DirectionPolicy& policy,
                                            const DirectionPlan& plan, ir::Direction direction,
                                            const std::string& endpoint);

// The raw map key and value of an entry, as the runtime writes them.
void encode(const GenericTables::PolicyEntry& e, sluice_gpol_key& key, sluice_gpol_value& value);
void encode(const GenericTables::CidrEntry& e, sluice_gcidr_key& key, sluice_gcidr_value& value);

// Stable text: one table, then one entry per line, port blocks as ranges.
std::string str(const GenericTables& tables);

// The ELF section's bytes, and back. parse() says what is wrong on failure.
std::string serialize(const GenericTables& tables);
bool parse(std::string_view bytes, GenericTables& out, std::string& error);

// A section's bytes in an ELF object, or nullopt when it has none.
std::optional<std::string_view> elfSection(const std::vector<char>& object, const std::string& name);

}  // namespace sluice::codegen
