#include "review/ir_diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include "ir/print.h"

namespace sluice::review {
namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

std::string trimmed(const std::string& l) {
  size_t i = l.find_first_not_of(' ');
  return i == std::string::npos ? "" : l.substr(i);
}

// Which group a changed line of an endpoint block belongs to.
std::string groupOf(const std::string& line) {
  if (line.find(" enforced by ") != std::string::npos || line.rfind("ingress ", 0) == 0 ||
      line.rfind("egress ", 0) == 0)
    return "isolation";
  size_t hash = line.find("  # ");
  if (hash != std::string::npos && (line.rfind("allow ", 0) == 0 || line.rfind("deny ", 0) == 0)) {
    std::string comment = line.substr(hash + 4);
    // "NetworkPolicy ns/name spec...": the kind and the name.
    size_t first = comment.find(' ');
    size_t second = first == std::string::npos ? first : comment.find(' ', first + 1);
    if (second != std::string::npos) return comment.substr(0, second);
  }
  return "endpoints";
}

// A node's text in parts: its own lines (addresses, pod CIDRs, masquerade),
// its endpoints' and services' blocks; its address table is compared as data
// (10,000 entries per node in a large cluster: no text unless they differ).
struct NodeText {
  std::set<std::string> own;
  std::map<std::string, std::set<std::string>> endpoints;  // key -> trimmed lines of its block
  std::map<std::string, std::set<std::string>> services;   // key -> "service ns/name: line"
  const std::vector<ir::IpcacheEntry>* ipcache = nullptr;
};

NodeText split(const ir::NodeProgram& np) {
  NodeText out;
  ir::NodeProgram header;
  header.node = np.node;
  header.nodeIPs = np.nodeIPs;
  header.podCIDRs = np.podCIDRs;
  header.masquerade = np.masquerade;
  for (const auto& l : lines(ir::str(header)))
    if (l.rfind("node ", 0) != 0) out.own.insert(trimmed(l));
  for (const auto& ep : np.endpoints) {
    auto& block = out.endpoints[ep.key()];
    for (const auto& l : lines(ir::str(ep))) block.insert(trimmed(l));
  }
  for (const auto& svc : np.services) {
    auto& block = out.services[svc.key()];
    for (const auto& l : lines(ir::str(svc))) {
      std::string t = trimmed(l);
      block.insert(t.rfind("service ", 0) == 0 ? t : "service " + svc.key() + ": " + t);
    }
  }
  out.ipcache = &np.ipcache;
  return out;
}

using Changes = std::map<std::string, std::map<std::pair<char, std::string>, std::set<std::string>>>;

// Records the lines of `a` not in `b` as removed and of `b` not in `a` as
// added, comparing them without line numbers. Returns whether it recorded any.
bool diffSets(const std::set<std::string>& a, const std::set<std::string>& b, const std::string& where,
              const std::function<std::string(const std::string&)>& group, Changes& out) {
  auto masked = [](const std::set<std::string>& lines) {
    std::map<std::string, const std::string*> m;  // without line numbers -> the line
    for (const auto& l : lines) m.emplace(withoutLineNumbers(l), &l);
    return m;
  };
  auto ma = masked(a), mb = masked(b);
  bool any = false;
  for (const auto& [key, line] : ma)
    if (!mb.count(key)) out[group(*line)][{'-', *line}].insert(where), any = true;
  for (const auto& [key, line] : mb)
    if (!ma.count(key)) out[group(*line)][{'+', *line}].insert(where), any = true;
  return any;
}

// The address tables of one node in two states, sorted by prefix: walked
// together, printed only where they differ. Returns whether they did.
bool diffIpcache(const std::vector<ir::IpcacheEntry>& a, const std::vector<ir::IpcacheEntry>& b,
                 const std::string& where, Changes& out) {
  std::map<std::pair<char, std::string>, std::set<std::string>> group;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].prefix < b[j].prefix)) {
      group[{'-', ir::str(a[i++])}].insert(where);
    } else if (i == a.size() || b[j].prefix < a[i].prefix) {
      group[{'+', ir::str(b[j++])}].insert(where);
    } else {
      if (a[i].identity != b[j].identity || a[i].owner != b[j].owner) {
        group[{'-', ir::str(a[i])}].insert(where);
        group[{'+', ir::str(b[j])}].insert(where);
      }
      ++i, ++j;
    }
  }
  for (auto& [line, places] : group) out["node tables"][line].insert(places.begin(), places.end());
  return !group.empty();
}

}  // namespace

std::string withoutLineNumbers(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "@ ") != 0) {
      out += text[i++];
      continue;
    }
    size_t end = text.find_first_of(" \n)", i + 2);
    if (end == std::string::npos) end = text.size();
    std::string token = text.substr(i, end - i);
    size_t colon = token.rfind(':');
    if (colon != std::string::npos && colon + 1 < token.size() &&
        token.find_first_not_of("0123456789", colon + 1) == std::string::npos)
      token.resize(colon);
    out += token;
    i = end;
  }
  return out;
}

IrDiff diffIr(const ir::Program& before, const ir::Program& after) {
  IrDiff d;
  Changes changes;
  std::set<std::string> idsBefore, idsAfter;
  for (const auto& id : before.identities) idsBefore.insert(ir::str(id));
  for (const auto& id : after.identities) idsAfter.insert(ir::str(id));
  diffSets(idsBefore, idsAfter, "cluster", [](const std::string&) { return std::string("identities"); }, changes);

  std::map<std::string, const ir::NodeProgram*> a, b;
  for (const auto& np : before.nodes) a[np.node] = &np;
  for (const auto& np : after.nodes) b[np.node] = &np;
  std::set<std::string> names;
  for (const auto& [n, p] : a) names.insert(n);
  for (const auto& [n, p] : b) names.insert(n);
  for (const auto& name : names) {
    auto ia = a.find(name), ib = b.find(name);
    if (ia == a.end()) d.addedNodes.push_back(name);
    if (ib == b.end()) d.removedNodes.push_back(name);
    static const std::vector<ir::IpcacheEntry> noEntries;
    NodeText ta = ia == a.end() ? NodeText{} : split(*ia->second);
    NodeText tb = ib == b.end() ? NodeText{} : split(*ib->second);
    auto table = [](const std::string&) { return std::string("node tables"); };
    bool changed = diffSets(ta.own, tb.own, "node " + name, table, changes);
    changed |= diffIpcache(ta.ipcache ? *ta.ipcache : noEntries, tb.ipcache ? *tb.ipcache : noEntries,
                           "node " + name, changes);
    std::set<std::string> services;
    for (const auto& [k, l] : ta.services) services.insert(k);
    for (const auto& [k, l] : tb.services) services.insert(k);
    static const std::set<std::string> none;
    for (const auto& k : services) {
      auto sa = ta.services.find(k), sb = tb.services.find(k);
      changed |= diffSets(sa == ta.services.end() ? none : sa->second, sb == tb.services.end() ? none : sb->second,
                          "node " + name, table, changes);
    }
    std::set<std::string> keys;
    for (const auto& [k, l] : ta.endpoints) keys.insert(k);
    for (const auto& [k, l] : tb.endpoints) keys.insert(k);
    for (const auto& k : keys) {
      auto ea = ta.endpoints.find(k), eb = tb.endpoints.find(k);
      static const std::set<std::string> empty;
      const auto& la = ea == ta.endpoints.end() ? empty : ea->second;
      const auto& lb = eb == tb.endpoints.end() ? empty : eb->second;
      // A pod that appeared or went is one line, not its whole block.
      if (ea == ta.endpoints.end() || eb == tb.endpoints.end()) {
        const auto& block = ea == ta.endpoints.end() ? lb : la;
        for (const auto& l : block)
          if (l.rfind("endpoint ", 0) == 0)
            changes["endpoints"][{ea == ta.endpoints.end() ? '+' : '-', l}].insert("node " + name);
        changed = true;
        continue;
      }
      changed |= diffSets(la, lb, fmt::format("{} ({})", k, name), groupOf, changes);
    }
    if (ia != a.end() && ib != b.end() && changed) d.changedNodes.push_back(name);
  }
  // Policies first, by name; then isolation, endpoints, identities, node tables.
  static const std::vector<std::string> tail{"isolation", "endpoints", "identities", "node tables"};
  auto emit = [&](const std::string& title, const std::map<std::pair<char, std::string>, std::set<std::string>>& m) {
    IrGroup g{title, {}};
    for (char sign : {'-', '+'})
      for (const auto& [key, where] : m)
        if (key.first == sign) g.changes.push_back({sign, key.second, {where.begin(), where.end()}});
    d.groups.push_back(std::move(g));
  };
  for (const auto& [title, m] : changes)
    if (std::find(tail.begin(), tail.end(), title) == tail.end()) emit(title, m);
  for (const auto& title : tail)
    if (auto it = changes.find(title); it != changes.end()) emit(title, it->second);
  return d;
}

std::string str(const IrDiff& diff, size_t maxWhere) {
  std::string out;
  for (const auto& g : diff.groups) {
    out += g.title + "\n";
    for (const auto& c : g.changes) {
      out += fmt::format("  {} {}\n", c.sign, c.line);
      std::vector<std::string> shown(c.where.begin(), c.where.begin() + std::min(maxWhere, c.where.size()));
      std::string more = c.where.size() > maxWhere ? fmt::format(" and {} more", c.where.size() - maxWhere) : "";
      out += fmt::format("      on {}{}\n", fmt::join(shown, ", "), more);
    }
  }
  return out;
}

}  // namespace sluice::review
