// Reading expectations files (the format is in expectations.h) with the
// frontend's located YAML reader: every problem names file:line:col and the
// field path, as manifest errors do.
#include "review/expectations.h"

#include <fmt/format.h>

#include <filesystem>

#include "base/text.h"
#include "frontend/manifest_loader.h"
#include "frontend/yaml_reader.h"
#include "frontend/yaml_tree.h"

namespace sluice::review {

namespace fs = std::filesystem;

std::string PodSet::str() const {
  if (!service.empty()) return "svc/" + service;
  if (!pod.empty()) return namespace_ + "/" + pod;
  std::string pods = selector && !selector->empty() ? "pods " + selector->str() : "every pod";
  if (!namespace_.empty()) return pods + " in " + namespace_;
  if (namespaceSelector) return pods + " in namespaces " + namespaceSelector->str();
  return pods;
}

namespace {

// "80/TCP, 53/UDP", "any port", or "each port" of a service.
std::string portsText(const Expectation& e) {
  if (e.anyPort) return "any port";
  if (e.ports.empty()) return "each port";
  std::string out;
  for (const auto& p : e.ports) out += (out.empty() ? "" : ", ") + p.str();
  return out;
}

// A selector as kubectl's -l text, or a mapping of labels that must all match.
std::optional<LabelSelector> parseSelectorField(const Field& f) {
  if (f.isMap()) {
    LabelSelector selector;
    for (auto& [key, value] : f.stringMap(/*asLabels=*/true)) {
      LabelRequirement r;
      r.key = key;
      r.values = {value};
      selector.requirements.push_back(std::move(r));
    }
    return selector;
  }
  auto text = f.str();
  if (!text) return std::nullopt;
  std::string error;
  auto selector = parseSelectorText(*text, error);
  if (!selector)
    f.error(fmt::format("invalid selector {}: {} (kubectl -l syntax: \"app=web,tier!=db\", \"env in (a,b)\", "
                        "\"!legacy\")",
                        quote(*text), error));
  return selector;
}

std::optional<PodSet> parsePodSet(const Field& f, bool isDestination) {
  if (!f.present()) {
    f.error(isDestination ? "required field is missing (pods: namespace, pod, selector, namespaceSelector; or service)"
                          : "required field is missing (pods: namespace, pod, selector, namespaceSelector)");
    return std::nullopt;
  }
  if (!f.expectMap()) return std::nullopt;
  f.onlyKeys({"namespace", "pod", "selector", "namespaceSelector", "service"});
  PodSet set;
  set.loc = f.loc();
  set.field = f.path();
  // The most specific field written is where "selects no pod" points.
  auto mostSpecific = [&set](const Field& field) {
    if (!field.present()) return;
    set.loc = field.loc();
    set.field = field.path();
  };
  const Field ns = f["namespace"], pod = f["pod"], selector = f["selector"], nsSelector = f["namespaceSelector"],
              service = f["service"];
  mostSpecific(ns);
  mostSpecific(nsSelector);
  mostSpecific(selector);
  mostSpecific(pod);
  mostSpecific(service);
  if (service.present()) {
    if (!isDestination) {
      service.errorAtKey("a service is never the source of a flow: name the pods behind it");
      return std::nullopt;
    }
    if (ns.present() || pod.present() || selector.present() || nsSelector.present()) {
      service.errorAtKey("`service` stands alone: the service's namespace is part of its name (ns/name)");
      return std::nullopt;
    }
    auto name = service.requiredStr();
    if (!name) return std::nullopt;
    size_t slash = name->find('/');
    if (slash == std::string::npos || !checkDNS1123Label(name->substr(0, slash)).empty() ||
        !checkDNS1123Label(name->substr(slash + 1)).empty()) {
      service.error(fmt::format("expected NAMESPACE/NAME of a service, got {}", quote(*name)));
      return std::nullopt;
    }
    set.service = *name;
    return set;
  }
  if (auto name = ns.present() ? ns.requiredStr() : std::nullopt) {
    if (std::string err = checkDNS1123Label(*name); !err.empty())
      ns.error(fmt::format("invalid namespace name {}: {}", quote(*name), err));
    set.namespace_ = *name;
  }
  if (pod.present()) {
    if (!ns.present()) pod.errorAtKey("`pod` needs `namespace`: pods are named within their namespace");
    if (selector.present() || nsSelector.present())
      pod.errorAtKey("`pod` names one pod: leave out `selector` and `namespaceSelector`");
    if (auto name = pod.requiredStr()) {
      if (std::string err = checkDNS1123Subdomain(*name); !err.empty())
        pod.error(fmt::format("invalid pod name {}: {}", quote(*name), err));
      set.pod = *name;
    }
  }
  if (ns.present() && nsSelector.present())
    nsSelector.errorAtKey("give `namespace` or `namespaceSelector`, not both");
  if (selector.present()) set.selector = parseSelectorField(selector);
  if (nsSelector.present()) set.namespaceSelector = parseSelectorField(nsSelector);
  return set;
}

// `ports`: a list of PORT/PROTO (a single one may stand without the list),
// or `any`.
void parsePorts(const Field& f, Expectation& e) {
  bool toService = !e.to.service.empty();
  if (!f.present()) {
    if (!toService) f.error("required field is missing: a list such as [8080/TCP, 53/UDP], or any");
    return;
  }
  std::vector<Field> items = f.isSeq() ? f.items() : std::vector<Field>{f};
  if (items.empty()) {
    f.error("expected at least one port (or any)");
    return;
  }
  for (const Field& item : items) {
    auto text = item.str();
    if (!text) continue;
    if (*text == "any") {
      if (f.isSeq()) item.error("`any` stands alone: write `ports: any`");
      else if (toService)
        item.error("a service listens only on its own ports: leave `ports` out to check each of them");
      else e.anyPort = true;
      continue;
    }
    std::string error;
    if (auto probe = parsePortProbe(*text, error)) e.ports.push_back(*probe);
    else item.error(error);
  }
}

std::optional<Expectation> parseExpectation(const Field& f) {
  if (!f.expectMap()) {
    if (!f.present()) f.error("expected an expectation (a mapping with from, to, ports, expect)");
    return std::nullopt;
  }
  f.onlyKeys({"name", "from", "to", "ports", "expect"});
  Expectation e;
  e.loc = f.loc();
  auto from = parsePodSet(f["from"], /*isDestination=*/false);
  auto to = parsePodSet(f["to"], /*isDestination=*/true);
  if (from) e.from = std::move(*from);
  if (to) e.to = std::move(*to);
  if (to) parsePorts(f["ports"], e);
  const Field expect = f["expect"];
  if (!expect.present()) expect.error("required field is missing: allow or deny");
  else if (auto verdict = expect.oneOf({"allow", "deny"}))
    e.expect = *verdict == "allow" ? Verdict::Allow : Verdict::Deny;
  const Field name = f["name"];
  if (name.present()) {
    if (auto text = name.requiredStr()) e.name = *text;
  } else {
    e.name = fmt::format("{} -> {} on {}: {}", e.from.str(), e.to.str(), portsText(e), verdictName(e.expect));
  }
  if (!from || !to) return std::nullopt;
  return e;
}

// `cluster`: one path or a list, relative to the expectations file.
std::vector<std::string> parseCluster(const Field& f, const std::string& fileName) {
  std::vector<std::string> out;
  if (!f.present()) return out;
  std::vector<Field> items = f.isSeq() ? f.items() : std::vector<Field>{f};
  if (items.empty()) f.error("expected a manifest path or a list of them");
  fs::path base = fs::path(fileName).parent_path();
  for (const Field& item : items) {
    auto path = item.requiredStr();
    if (!path) continue;
    if (*path == "-") {
      item.error("stdin cannot be named here: give the manifests as PATH arguments");
      continue;
    }
    fs::path p(*path);
    out.push_back(p.is_absolute() || base.empty() ? p.string() : (base / p).lexically_normal().string());
  }
  return out;
}

}  // namespace

std::optional<ExpectationsFile> parseExpectations(const std::string& name, std::string text, Diagnostics& diags) {
  size_t errorsBefore = diags.errorCount();
  auto file = std::make_shared<SourceFile>(name, std::move(text));
  const SourceLoc wholeFile{file, 1, 1};
  DocContext ctx{&diags, file, ""};
  yaml::Stream stream;
  if (!stream.parse(file->contents)) {
    const yaml::Error& e = stream.error();
    diags.error(SourceLoc{file, e.line, e.col}, "", "", fmt::format("invalid YAML: {}", e.message));
    return std::nullopt;
  }
  const auto& documents = stream.documents();
  if (documents.size() > 1) {
    const yaml::Node* second = documents[1];
    diags.error(second->line ? locOf(file, *second) : wholeFile, "", "",
                "one expectations document per file (this is a second one)");
    return std::nullopt;
  }
  const yaml::Node* root = documents.empty() ? nullptr : documents[0];
  Field doc(&ctx, root, "", root && root->line ? locOf(file, *root) : wholeFile);
  if (!doc.present() || !doc.isMap()) {
    doc.error("expected a mapping with `expectations:` (a list of expectations) and optionally `cluster:`");
    return std::nullopt;
  }
  doc.expectMap();
  doc.onlyKeys({"cluster", "expectations"});
  ExpectationsFile out;
  out.path = name;
  out.cluster = parseCluster(doc["cluster"], name);
  const Field list = doc["expectations"];
  if (!list.present()) list.error("required field is missing: a list of expectations");
  else if (list.isSeq() && list.items().empty()) list.error("expected at least one expectation");
  for (const Field& item : list.items())
    if (auto e = parseExpectation(item)) out.expectations.push_back(std::move(*e));
  if (diags.errorCount() != errorsBefore) return std::nullopt;
  return out;
}

std::optional<ExpectationsFile> readExpectations(const std::string& path, Diagnostics& diags) {
  std::string contents, error;
  if (!readManifestFile(path, contents, error)) {
    diags.error(SourceLoc{std::make_shared<SourceFile>(path, ""), 1, 1}, "", "", error);
    return std::nullopt;
  }
  return parseExpectations(path, std::move(contents), diags);
}

bool isExpectationsFile(const std::string& path) {
  std::error_code ec;
  if (path == "-" || !fs::is_regular_file(path, ec)) return false;
  std::string contents, error;
  if (!readManifestFile(path, contents, error)) return false;
  yaml::Stream stream;
  if (stream.parse(contents)) {
    if (stream.documents().empty()) return false;
    const yaml::Node* root = stream.documents()[0];
    if (!root->isMap()) return false;
    for (size_t i = 0; i + 1 < root->children.size(); i += 2)
      if (root->children[i]->isScalar() && root->children[i]->value == "expectations") return true;
    return false;
  }
  // Not valid YAML: an expectations file still shows its top-level key, and
  // is better reported as one than as a broken manifest.
  return contents.rfind("expectations:", 0) == 0 || contents.find("\nexpectations:") != std::string::npos;
}

}  // namespace sluice::review
