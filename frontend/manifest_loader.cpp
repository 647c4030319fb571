#include "frontend/manifest_loader.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>

#include "frontend/parsers.h"
#include "frontend/yaml_reader.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

struct KindInfo {
  const char* kind;
  std::vector<const char*> apiVersions;  // accepted, first is the preferred one
  void (*parse)(const Field&, ClusterState&);
};

void parseCNP(const Field& d, ClusterState& s) { parseCiliumPolicy(d, s, false); }
void parseCCNP(const Field& d, ClusterState& s) { parseCiliumPolicy(d, s, true); }

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> table = {
      {"Namespace", {"v1"}, parseNamespace},
      {"Pod", {"v1"}, parsePod},
      {"Node", {"v1"}, parseNode},
      {"Service", {"v1"}, parseService},
      {"Endpoints", {"v1"}, parseEndpoints},
      {"EndpointSlice", {"discovery.k8s.io/v1"}, parseEndpointSlice},
      {"NetworkPolicy", {"networking.k8s.io/v1"}, parseNetworkPolicy},
      {"CiliumNetworkPolicy", {"cilium.io/v2"}, parseCNP},
      {"CiliumClusterwideNetworkPolicy", {"cilium.io/v2"}, parseCCNP},
  };
  return table;
}

void loadObject(const Field& doc, ClusterState& state, int listDepth);

void loadList(const Field& doc, ClusterState& state, int listDepth) {
  Field items = doc["items"];
  if (!items.present()) return;  // an empty list prints `items: []` or nothing
  for (const Field& item : items.items()) loadObject(item, state, listDepth + 1);
}

void loadObject(const Field& doc, ClusterState& state, int listDepth) {
  DocContext* ctx = doc.ctx();
  ctx->object.clear();
  if (!doc.present()) return;  // empty document (e.g. a trailing `---`)
  if (!doc.expectMap()) return;
  auto kind = doc["kind"].requiredStr();
  auto apiVersion = doc["apiVersion"].requiredStr();
  if (!kind || !apiVersion) return;

  // `kind: List` (kubectl get -o yaml) and typed lists (PodList, ... from the API).
  if (*kind == "List" || (kind->size() > 4 && kind->ends_with("List"))) {
    if (listDepth > 0) {
      doc["kind"].error("lists inside lists are not supported");
      return;
    }
    loadList(doc, state, listDepth);
    return;
  }

  for (const KindInfo& info : kinds()) {
    if (*kind != info.kind) continue;
    if (std::find_if(info.apiVersions.begin(), info.apiVersions.end(),
                     [&](const char* v) { return *apiVersion == v; }) == info.apiVersions.end()) {
      doc["apiVersion"].error(fmt::format("unsupported apiVersion \"{}\" for kind {} (expected \"{}\")",
                                          *apiVersion, *kind, info.apiVersions.front()));
      return;
    }
    ctx->object = *kind;
    info.parse(doc, state);
    ctx->object.clear();
    return;
  }
  // Name the skipped object when it has a name, so a long kubectl dump stays readable.
  std::string name, ns;
  if (doc["metadata"].isMap()) {
    if (doc["metadata"]["name"].isScalar()) name = *doc["metadata"]["name"].str();
    if (doc["metadata"]["namespace"].isScalar()) ns = *doc["metadata"]["namespace"].str();
  }
  ctx->object = *kind + (name.empty() ? "" : " " + (ns.empty() ? name : ns + "/" + name));
  ctx->diags->note(doc["kind"].loc(), ctx->object, "",
                   fmt::format("skipped: sluice does not read kind {} ({})", *kind, *apiVersion));
  ctx->object.clear();
}

std::string readStream(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool isManifestFile(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

}  // namespace

std::vector<std::string> manifestFilesIn(const std::string& dir, std::error_code& ec) {
  std::vector<std::string> files;
  ec.clear();
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().rfind('.', 0) == 0) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && isManifestFile(it->path())) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool loadManifestText(const std::string& name, std::string contents, ClusterState& state,
                      Diagnostics& diags) {
  size_t errorsBefore = diags.errorCount();
  auto file = std::make_shared<SourceFile>();
  file->name = name;
  file->contents = std::move(contents);
  DocContext ctx{&diags, file, ""};

  if (file->contents.find('\0') != std::string::npos) {
    diags.error(SourceLoc{file, 0, 0}, "", "", "file contains NUL bytes; expected YAML or JSON text");
    return false;
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(file->contents);
  } catch (const YAML::Exception& e) {
    // A syntax error makes the whole file unusable: report it and load nothing from it.
    diags.error(locOf(file, e.mark), "", "", fmt::format("invalid YAML/JSON: {}", e.msg));
    return false;
  } catch (const std::exception& e) {
    diags.error(SourceLoc{file, 0, 0}, "", "", fmt::format("invalid YAML/JSON: {}", e.what()));
    return false;
  }
  for (const YAML::Node& node : docs) {
    SourceLoc loc = locOf(file, node.Mark());
    if (!loc.known()) loc = SourceLoc{file, 1, 1};
    Field doc(&ctx, node, "", loc);
    if (doc.present() && !doc.isMap()) {
      doc.error("expected a Kubernetes object (a mapping with apiVersion and kind)");
      continue;
    }
    loadObject(doc, state, 0);
  }
  return diags.errorCount() == errorsBefore;
}

bool loadManifests(const std::vector<std::string>& paths, ClusterState& state, Diagnostics& diags) {
  size_t errorsBefore = diags.errorCount();
  bool stdinRead = false;
  auto loadFile = [&](const fs::path& p, const std::string& shown) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      diags.error(SourceLoc{std::make_shared<SourceFile>(SourceFile{shown, ""}), 0, 0}, "", "",
                  fmt::format("cannot read file: {}", std::strerror(errno)));
      return;
    }
    loadManifestText(shown, readStream(in), state, diags);
  };
  for (const std::string& path : paths) {
    if (path == "-") {
      if (stdinRead) continue;
      stdinRead = true;
      loadManifestText("<stdin>", readStream(std::cin), state, diags);
      continue;
    }
    std::error_code ec;
    fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      diags.error(SourceLoc{std::make_shared<SourceFile>(SourceFile{path, ""}), 0, 0}, "", "",
                  "no such file or directory");
      continue;
    }
    if (fs::is_directory(st)) {
      std::vector<std::string> files = manifestFilesIn(path, ec);
      if (ec) {
        diags.error(SourceLoc{std::make_shared<SourceFile>(SourceFile{path, ""}), 0, 0}, "", "",
                    fmt::format("cannot read directory: {}", ec.message()));
      }
      if (files.empty() && !ec)
        diags.warning(SourceLoc{std::make_shared<SourceFile>(SourceFile{path, ""}), 0, 0}, "", "",
                      "no manifest files (*.yaml, *.yml, *.json) in this directory");
      for (const auto& f : files) loadFile(f, f);
      continue;
    }
    loadFile(path, path);
  }
  checkDuplicates(state, diags);
  state.finalize();
  return diags.errorCount() == errorsBefore;
}

LoadResult loadCluster(const std::vector<std::string>& paths) {
  LoadResult r;
  loadManifests(paths, r.state, r.diags);
  return r;
}

}  // namespace sluice
