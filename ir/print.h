// The IR's two printed forms.
//
// Text: stable (sorted, no addresses or timestamps), one fact per line, each
// rule on one line ending in the manifest file:line it came from. This is the
// form golden tests compare and reviewers diff; the grammar is described in
// docs/ir.md. JSON: the same content for tools.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "ir/ir.h"

namespace sluice::ir {

std::string str(const Identity& id);
std::string str(const Peer& peer);
std::string str(const L4Match& l4);
std::string str(const L7Rules& l7);
std::string str(const Rule& rule);
std::string str(const DirectionPolicy& policy, Direction dir, int indent = 0);
std::string str(const Endpoint& ep, int indent = 0);
std::string str(const IpcacheEntry& e);
std::string str(const Service& svc, int indent = 0);
std::string str(const NodeProgram& node);
// The whole program; with `onlyNode`, the identities and that node.
std::string str(const Program& program, const std::string& onlyNode = "");

nlohmann::json toJson(const Rule& rule);
nlohmann::json toJson(const Endpoint& ep);
nlohmann::json toJson(const Service& svc);
nlohmann::json toJson(const NodeProgram& node);
nlohmann::json toJson(const Program& program, const std::string& onlyNode = "");

// Writes str(x) to stderr; for debuggers and quick looks.
template <typename T>
void dump(const T& x);

}  // namespace sluice::ir
