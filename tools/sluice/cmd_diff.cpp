// `sluice diff OLD NEW` / `sluice diff --git REV PATH...`: what a change to
// the cluster state does — the per-node IR diff grouped by policy, then every
// flow between pods of both states whose verdict changed, with the deciding
// rule before and after, traced through the real programs of both states.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "review/ir_diff.h"
#include "review/reach_diff.h"
#include "review/render_graph.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/commands.h"
#include "tools/sluice/review_cli.h"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

inline constexpr int kExitChanged = 1;  // like diff(1): 0 same, 1 different, 2 trouble
inline constexpr int kExitTrouble = 2;

// ---- OLD from a git revision --------------------------------------------------

// Runs a command, returning its standard output; false when it failed.
bool capture(const std::string& command, std::string& out) {
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return false;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  return ::pclose(p) == 0;
}

std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The current directory relative to the top of the work tree ("sub/", or "").
std::string gitPrefix() {
  std::string prefix;
  capture("git rev-parse --show-prefix", prefix);
  while (!prefix.empty() && prefix.back() == '\n') prefix.pop_back();
  return prefix;
}

// Writes `paths` as they were at `rev` under `root`, laid out as in the
// repository, so that loading them from `root`/gitPrefix() names files as the
// user wrote them (also "../x"). Exits with kExitTrouble when git cannot give them.
void checkoutAt(const std::string& rev, const std::vector<std::string>& paths, const fs::path& root) {
  for (const auto& path : paths) {
    if (fs::path(path).is_absolute()) {
      std::cerr << fmt::format("error: --git needs paths relative to the current directory, not '{}'\n", path);
      throw CLI::RuntimeError(kExitTrouble);
    }
    // Every file under the path at that revision, relative to the current directory.
    std::string files;
    if (!capture(fmt::format("git ls-tree -r --name-only --full-name {} -- {} 2>&1", shellQuote(rev), shellQuote(path)),
                 files)) {
      std::cerr << fmt::format("error: --git {}: git cannot list '{}': {}", rev, path, files);
      throw CLI::RuntimeError(kExitTrouble);
    }
    size_t count = 0;
    for (size_t pos = 0; pos < files.size();) {
      size_t end = files.find('\n', pos);
      std::string file = files.substr(pos, end - pos);
      pos = end == std::string::npos ? files.size() : end + 1;
      if (file.empty()) continue;
      std::string contents;
      if (!capture(fmt::format("git show {} 2>&1", shellQuote(rev + ":" + file)), contents)) {
        std::cerr << fmt::format("error: --git {}: git cannot show '{}': {}", rev, file, contents);
        throw CLI::RuntimeError(kExitTrouble);
      }
      fs::path target = root / file;
      fs::create_directories(target.parent_path());
      std::ofstream(target, std::ios::binary) << contents;
      ++count;
    }
    if (count == 0) {
      std::cerr << fmt::format("error: --git {}: '{}' did not exist at that revision\n", rev, path);
      throw CLI::RuntimeError(kExitTrouble);
    }
  }
}

// Loads `paths` from inside `root` (relative names stay as written), and
// `common` (absolute: the same names in both states) with them.
std::unique_ptr<LoadResult> loadFrom(const fs::path& root, std::vector<std::string> paths,
                                     const std::vector<std::string>& common) {
  for (const auto& c : common) paths.push_back(c.empty() || c == "-" ? c : fs::absolute(c).lexically_normal().string());
  auto load = std::make_unique<LoadResult>();
  fs::path cwd = fs::current_path();
  fs::current_path(root);
  loadManifests(paths, load->state, load->diags);
  fs::current_path(cwd);
  return load;
}

// Loads one state given as a file or directory so that its files are named
// relative to it: OLD and NEW then name the same policy file alike, and the
// diff shows what changed in it, not where each copy lives.
std::unique_ptr<LoadResult> loadRelative(const std::string& path, const std::vector<std::string>& common) {
  fs::path p(path);
  std::error_code ec;
  if (!fs::is_directory(p, ec)) {
    if (!fs::exists(p, ec)) {
      auto load = std::make_unique<LoadResult>();
      loadManifests({path}, load->state, load->diags);  // says the file does not exist
      return load;
    }
    return loadFrom(p.has_parent_path() ? p.parent_path() : fs::path("."), {p.filename().string()}, common);
  }
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(p)) {
    std::string name = e.path().filename().string();
    std::string ext = e.path().extension().string();
    if (name.empty() || name[0] == '.') continue;
    if (e.is_directory() || ext == ".yaml" || ext == ".yml" || ext == ".json") entries.push_back(name);
  }
  std::sort(entries.begin(), entries.end());
  if (entries.empty()) {
    auto load = std::make_unique<LoadResult>();
    loadManifests({path}, load->state, load->diags);
    return load;
  }
  return loadFrom(p, entries, common);
}

// ---- reporting ----------------------------------------------------------------

int rank(review::Verdict v) {
  return v == review::Verdict::Allow ? 2 : v == review::Verdict::Partial ? 1 : 0;
}
const char* changeName(const review::FlowChange& c) {
  int a = rank(c.before.verdict), b = rank(c.after.verdict);
  return b > a ? "opened" : b < a ? "closed" : "changed";
}

std::string ruleText(const review::Decision& d) {
  if (d.rule.empty()) return decisionText(d);
  return fmt::format("{} ({} {}) @ {}", d.rule, d.policy, d.path, d.source);
}

// Flow changes between the same workloads, on the same probe, for the same reasons.
struct ChangeGroup {
  std::string from, to;  // workload ids, or "svc/ns/name"
  size_t fromPods = 0, toPods = 0;
  review::PortProbe probe;
  const review::FlowChange* example = nullptr;
  size_t pairs = 0;
};

std::vector<ChangeGroup> groupChanges(const review::ReachDiff& d, const review::Reachability& after) {
  std::map<std::tuple<std::string, std::string, review::PortProbe, std::string, std::string, std::string, std::string>,
           ChangeGroup>
      groups;
  auto workload = [&](const std::string& pod) -> const review::Workload* {
    int i = after.podIndex(pod);
    return i < 0 ? nullptr : &after.workloads()[after.workloadOf(size_t(i))];
  };
  for (const auto& c : d.flows) {
    const review::Workload* from = workload(c.after.from);
    const review::Workload* to = c.after.to.rfind("svc/", 0) == 0 ? nullptr : workload(c.after.to);
    std::string fromId = from ? from->id : c.after.from, toId = to ? to->id : c.after.to;
    auto key = std::make_tuple(fromId, toId, c.after.probe, std::string(review::verdictName(c.before.verdict)),
                               std::string(review::verdictName(c.after.verdict)), ruleText(c.before.decision),
                               ruleText(c.after.decision));
    ChangeGroup& g = groups[key];
    if (!g.example) {
      g = {fromId, toId, from ? from->pods.size() : 1, to ? to->pods.size() : 0, c.after.probe, &c, 0};
    }
    ++g.pairs;
  }
  std::vector<ChangeGroup> out;
  for (auto& [k, g] : groups) out.push_back(g);
  return out;
}

std::string podsNote(size_t n) { return n == 1 ? "1 pod" : fmt::format("{} pods", n); }

struct DiffReport {
  review::IrDiff ir;
  review::ReachDiff reach;
  std::vector<ChangeGroup> groups;
  size_t opened = 0, closed = 0;
};

void printText(const DiffReport& r) {
  if (r.ir.empty()) {
    std::cout << "IR: no change\n";
  } else {
    std::cout << fmt::format("IR: {} node{} changed{}\n", r.ir.changedNodes.size(),
                             r.ir.changedNodes.size() == 1 ? "" : "s",
                             r.ir.changedNodes.empty() ? "" : fmt::format(" ({})", fmt::join(r.ir.changedNodes, ", ")));
    for (const auto& n : r.ir.addedNodes) std::cout << "  + node " << n << "\n";
    for (const auto& n : r.ir.removedNodes) std::cout << "  - node " << n << "\n";
    std::cout << review::str(r.ir);
  }
  std::cout << "\n";
  std::cout << fmt::format("Reachability: {} flow{} changed ({} opened, {} closed)\n", r.reach.flows.size(),
                           r.reach.flows.size() == 1 ? "" : "s", r.opened, r.closed);
  for (const auto& g : r.groups) {
    const review::FlowChange& c = *g.example;
    std::cout << fmt::format("  {} {} ({}) -> {}{} {}: {} -> {}  [{} pod pair{}]\n", changeName(c), g.from,
                             podsNote(g.fromPods), g.to, g.toPods ? " (" + podsNote(g.toPods) + ")" : "",
                             g.probe.str(), review::verdictName(c.before.verdict),
                             review::verdictName(c.after.verdict), g.pairs, g.pairs == 1 ? "" : "s");
    std::cout << "      before: " << ruleText(c.before.decision) << "\n";
    std::cout << "      after:  " << ruleText(c.after.decision) << "\n";
  }
  auto list = [](const char* title, const std::vector<std::string>& v) {
    if (v.empty()) return;
    std::cout << fmt::format("{} ({}): {}\n", title, v.size(), fmt::join(v, ", "));
  };
  list("Pods only in OLD", r.reach.removedPods);
  list("Pods only in NEW", r.reach.addedPods);
  list("Service ports only in OLD", r.reach.removedServices);
  list("Service ports only in NEW", r.reach.addedServices);
}

std::string mdEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|' || c == '*' || c == '_' || c == '<' || c == '>' || c == '`') out += '\\';
    out += c;
  }
  return out;
}

void printMarkdown(const DiffReport& r) {
  std::cout << fmt::format("### sluice diff: {} connection{} opened, {} closed\n\n", r.opened,
                           r.opened == 1 ? "" : "s", r.closed);
  if (!r.groups.empty()) {
    std::cout << "| | From | To | Port | Before | After | Deciding rule |\n"
                 "|---|---|---|---|---|---|---|\n";
    for (const auto& g : r.groups) {
      const review::FlowChange& c = *g.example;
      std::string mark = std::string(changeName(c)) == "opened" ? "➕ opened" : std::string(changeName(c)) == "closed" ? "➖ closed" : "changed";
      std::cout << fmt::format("| {} | {} ({}) | {}{} | {} | {} | {} | after: {}<br>before: {} |\n", mark, mdEscape(g.from),
                               podsNote(g.fromPods), mdEscape(g.to),
                               g.toPods ? " (" + podsNote(g.toPods) + ")" : "", g.probe.str(),
                               review::verdictName(c.before.verdict), review::verdictName(c.after.verdict),
                               mdEscape(ruleText(c.after.decision)), mdEscape(ruleText(c.before.decision)));
    }
    std::cout << "\n";
  } else {
    std::cout << "No connection between existing pods changes verdict.\n\n";
  }
  auto list = [](const char* title, const std::vector<std::string>& v) {
    if (v.empty()) return;
    std::cout << fmt::format("**{}** ({}): {}\n\n", title, v.size(), mdEscape(fmt::format("{}", fmt::join(v, ", "))));
  };
  list("Pods only before", r.reach.removedPods);
  list("Pods only after", r.reach.addedPods);
  list("Service ports only before", r.reach.removedServices);
  list("Service ports only after", r.reach.addedServices);
  std::cout << fmt::format("<details><summary>IR diff: {} node{} changed</summary>\n\n```diff\n",
                           r.ir.changedNodes.size(), r.ir.changedNodes.size() == 1 ? "" : "s");
  for (const auto& g : r.ir.groups) {
    std::cout << "@@ " << g.title << " @@\n";
    for (const auto& c : g.changes) {
      std::cout << c.sign << " " << c.line << "\n";
      std::cout << "#     on " << fmt::format("{}", fmt::join(c.where, ", ")) << "\n";
    }
  }
  std::cout << "```\n\n</details>\n";
}

json jsonReport(const DiffReport& r) {
  json flows = json::array();
  for (const auto& c : r.reach.flows) {
    json f = {{"from", c.after.from},
              {"to", c.after.to},
              {"port", c.after.probe.port},
              {"protocol", ir::l4ProtoName(c.after.probe.proto)},
              {"before", review::verdictName(c.before.verdict)},
              {"after", review::verdictName(c.after.verdict)},
              {"beforeRule", decisionJson(c.before.decision)},
              {"afterRule", decisionJson(c.after.decision)}};
    if (!c.after.service.empty()) f["service"] = c.after.service;
    flows.push_back(std::move(f));
  }
  json groups = json::array();
  for (const auto& g : r.ir.groups) {
    json changes = json::array();
    for (const auto& c : g.changes)
      changes.push_back({{"change", c.sign == '+' ? "added" : "removed"}, {"line", c.line}, {"where", c.where}});
    groups.push_back({{"title", g.title}, {"changes", changes}});
  }
  return {{"flows", flows},
          {"pods", {{"onlyBefore", r.reach.removedPods}, {"onlyAfter", r.reach.addedPods}}},
          {"services", {{"onlyBefore", r.reach.removedServices}, {"onlyAfter", r.reach.addedServices}}},
          {"ir",
           {{"changedNodes", r.ir.changedNodes},
            {"addedNodes", r.ir.addedNodes},
            {"removedNodes", r.ir.removedNodes},
            {"groups", groups}}}};
}

// The picture of a diff: the workloads that changed edges, each change an edge.
review::Graph diffGraph(const DiffReport& r, const review::Reachability& after) {
  review::Graph g;
  std::set<std::string> ids, services;
  std::map<std::tuple<std::string, std::string, review::EdgeChange>, review::Edge> edges;
  for (const auto& c : r.groups) {
    auto kind = std::string(changeName(*c.example)) == "closed" ? review::EdgeChange::Closed : review::EdgeChange::Opened;
    review::Edge& e = edges[{c.from, c.to, kind}];
    e.from = c.from;
    e.to = c.to;
    e.change = kind;
    if (std::find(e.probes.begin(), e.probes.end(), c.probe) == e.probes.end()) e.probes.push_back(c.probe);
    std::sort(e.probes.begin(), e.probes.end());
    e.pairs = std::max(e.pairs, c.pairs);
    e.ofPairs = c.to.rfind("svc/", 0) == 0 ? c.fromPods : c.fromPods * c.toPods;
    ids.insert(c.from);
    if (c.to.rfind("svc/", 0) == 0) services.insert(c.to);
    else ids.insert(c.to);
  }
  for (const auto& w : after.workloads())
    if (ids.count(w.id)) g.workloads.push_back(w);
  g.services.assign(services.begin(), services.end());
  for (auto& [k, e] : edges) g.edges.push_back(std::move(e));
  return g;
}

}  // namespace

void registerDiff(CLI::App& app) {
  auto opts = std::make_shared<ReviewOptions>();
  auto paths = std::make_shared<std::vector<std::string>>();
  auto gitRev = std::make_shared<std::string>();
  auto common = std::make_shared<std::vector<std::string>>();
  auto ports = std::make_shared<std::vector<std::string>>();
  auto toServices = std::make_shared<bool>(false);
  auto output = std::make_shared<std::string>("text");
  CLI::App* cmd = app.add_subcommand(
      "diff", "Compare two cluster states: print the per-node IR diff grouped by policy, then every flow between "
              "pods running in both whose verdict differs (pod to pod on each --port, and with --to-services pod to "
              "service port), with the deciding rule and its file:line before and after, traced through the real "
              "programs of both states. Files are named relative to OLD and NEW (or as given, with --git). Only flows with an end whose policy, identity or address changed are traced. "
              "Exit status: 0 no change in reachability, 1 changes (a flow changed verdict, or pods or service ports "
              "exist in one state only), 2 trouble. Needs root.");
  cmd->add_option("PATH", *paths,
                  "OLD NEW (each a manifest file or directory), or with --git the paths of the new state")
      ->required();
  cmd->add_option("--git", *gitRev,
                  "Take OLD from this git revision of the same PATHs (relative to the current directory, inside a "
                  "git work tree); NEW is PATH... as they are now");
  cmd->add_option("--common", *common,
                  "Manifests both states share, read as given (repeatable): e.g. a snapshot of the cluster's pods "
                  "and services, with OLD and NEW holding only the policies");
  addReviewOptions(*cmd, *opts, false);
  cmd->add_option("--port", *ports, "PORT/PROTO to probe between pods (repeatable), e.g. --port 80/TCP");
  cmd->add_flag("--to-services", *toServices,
                "Also compare every pod's verdict towards every service port present in both states (as `reach "
                "--to-services` computes it; compiles every node)");
  cmd->add_option("--output", *output,
                  "text (default); markdown: a pull-request comment; json: {\"flows\": [only flows whose verdict "
                  "changed, with before/after and beforeRule/afterRule], \"pods\", \"services\", \"ir\"}; svg, "
                  "html: a picture of the workloads whose connections opened (green) or closed (red)")
      ->check(CLI::IsMember({"text", "markdown", "json", "svg", "html", "dot"}));
  cmd->callback([=] {
    std::vector<review::PortProbe> probes = parseProbes(*ports);
    if (probes.empty() && !*toServices) {
      std::cerr << "error: diff needs --port PORT/PROTO, --to-services, or both\n";
      throw CLI::RuntimeError(kExitTrouble);
    }
    std::unique_ptr<LoadResult> oldLoad, newLoad;
    std::string oldName, newName;
    if (!gitRev->empty()) {
      fs::path tmp = fs::temp_directory_path() / fmt::format("sluice-diff-{}", ::getpid());
      fs::remove_all(tmp);
      try {
        checkoutAt(*gitRev, *paths, tmp);
        fs::path cwdThen = tmp / gitPrefix();
        fs::create_directories(cwdThen);
        oldLoad = loadFrom(cwdThen, *paths, *common);
      } catch (...) {
        fs::remove_all(tmp);
        throw;
      }
      fs::remove_all(tmp);
      newLoad = loadFrom(fs::current_path(), *paths, *common);
      oldName = *gitRev;
      newName = "working tree";
    } else {
      if (paths->size() != 2) {
        std::cerr << "error: diff takes OLD and NEW (two paths), or --git REV PATH...\n";
        throw CLI::RuntimeError(kExitTrouble);
      }
      oldLoad = loadRelative((*paths)[0], *common);
      newLoad = loadRelative((*paths)[1], *common);
      oldName = (*paths)[0];
      newName = (*paths)[1];
    }
    ReviewInput before, after;
    try {
      if (oldLoad->diags.hasErrors()) std::cerr << "in OLD (" << oldName << "):\n";
      before = loadReviewState(*opts, std::move(oldLoad));
      if (newLoad->diags.hasErrors()) std::cerr << "in NEW (" << newName << "):\n";
      after = loadReviewState(*opts, std::move(newLoad));
    } catch (const CLI::RuntimeError&) {
      throw CLI::RuntimeError(kExitTrouble);
    }
    review::ReachDiffer differ(*before.reach, *after.reach, opts->exhaustive);
    if (*toServices) differ.alsoServices();
    std::string error;
    bool ok = differ.run(probes, before.load->diags, after.load->diags, error,
                         [](const std::string& step) { std::cerr << "sluice diff: tracing " << step << "\n"; });
    printDiagnostics(before.load->diags, opts->input.verbose);
    printDiagnostics(after.load->diags, opts->input.verbose);
    if (!ok) {
      std::cerr << "error: " << error << "\n";
      throw CLI::RuntimeError(kExitTrouble);
    }
    printReachStats(*before.reach, "OLD");
    printReachStats(*after.reach, "NEW");
    DiffReport r;
    r.ir = review::diffIr(before.reach->program(), after.reach->program());
    r.reach = differ.collect(probes);
    for (const auto& c : r.reach.flows) {
      std::string change = changeName(c);
      r.opened += change == "opened";
      r.closed += change == "closed";
    }
    r.groups = groupChanges(r.reach, *after.reach);
    if (*output == "json") std::cout << jsonReport(r).dump(2) << "\n";
    else if (*output == "markdown") printMarkdown(r);
    else if (*output == "text") printText(r);
    else {
      std::string table;
      if (*output == "html") {
        table = "<table><tr><th></th><th>From</th><th>To</th><th>Port</th><th>Before</th><th>After</th><th>Rule "
                "after</th><th>Rule before</th></tr>\n";
        for (const auto& g : r.groups) {
          const review::FlowChange& c = *g.example;
          table += fmt::format(
              "<tr class=\"{}\"><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
              "</tr>\n",
              changeName(c), changeName(c), review::htmlEscape(g.from), podsNote(g.fromPods), review::htmlEscape(g.to),
              g.probe.str(), review::verdictName(c.before.verdict), review::verdictName(c.after.verdict),
              review::htmlEscape(ruleText(c.after.decision)), review::htmlEscape(ruleText(c.before.decision)));
        }
        table += "</table>\n";
      }
      try {
        printPicture(diffGraph(r, *after.reach), fmt::format("sluice diff {} → {}", oldName, newName), *output, table);
      } catch (const CLI::RuntimeError&) {
        throw CLI::RuntimeError(kExitTrouble);  // 1 would read as "changes"
      }
    }
    if (!r.reach.empty()) throw CLI::RuntimeError(kExitChanged);
  });
}

}  // namespace sluice::cli
