// The IR diff `sluice diff` prints: what changed in each node's program,
// grouped by the policy each changed line came from, each line once with the
// endpoints it changed on. Lines are the IR's stable text (ir/print.h), so a
// change is read the way reviewers read `sluice ir`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/ir.h"

namespace sluice::review {

struct IrLineChange {
  char sign = '+';   // '+' added, '-' removed
  std::string line;  // the IR line, without its indentation
  std::vector<std::string> where;  // "ns/pod (node)" or "node N", sorted
};

struct IrGroup {
  // "NetworkPolicy shop/cart" for rule lines; "isolation" for enforced-by
  // lines; "endpoints" for endpoints that appeared, went or changed address;
  // "identities"; "node tables" for addresses, pod CIDRs, ipcache, services.
  std::string title;
  std::vector<IrLineChange> changes;  // removals before additions, each sorted
};

struct IrDiff {
  std::vector<std::string> changedNodes, addedNodes, removedNodes;  // sorted
  std::vector<IrGroup> groups;  // policies sorted by name, then the other groups
  bool empty() const { return groups.empty(); }
};

// Lines are compared without the line numbers of their provenance ("@ f.yaml:12"
// as "@ f.yaml"): an edit above a policy moves it without changing it.
IrDiff diffIr(const ir::Program& before, const ir::Program& after);

// IR text with every "@ file:line" shortened to "@ file".
std::string withoutLineNumbers(const std::string& text);

// The diff as text: a header per group, one "- line" / "+ line" per change
// with where it applies underneath (at most `maxWhere` names, then a count).
std::string str(const IrDiff& diff, size_t maxWhere = 6);

}  // namespace sluice::review
