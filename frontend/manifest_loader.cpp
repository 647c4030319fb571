#include "frontend/manifest_loader.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <new>
#include <optional>

#include "base/text.h"
#include "frontend/parsers.h"
#include "frontend/yaml_reader.h"
#include "frontend/yaml_tree.h"

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

// Cilium's own rule format: a list of rules, or one rule, each with an
// endpointSelector (or nodeSelector) and no apiVersion or kind.
bool looksLikeCiliumRules(const Field& doc) {
  auto isRule = [](const Field& f) {
    return f.isMap() && !f["kind"].present() && !f["apiVersion"].present() &&
           (f["endpointSelector"].present() || f["nodeSelector"].present());
  };
  if (isRule(doc)) return true;
  if (!doc.isSeq()) return false;
  for (const Field& item : doc.items())
    if (!isRule(item)) return false;
  return !doc.items().empty();
}

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view groupOf(std::string_view apiVersion) {
  size_t slash = apiVersion.find('/');
  return slash == std::string_view::npos ? std::string_view() : apiVersion.substr(0, slash);
}

// Kinds that decide what traffic passes, which sluice does not enforce: an
// error, never a skipped note. (A Cilium CIDR group only matters through a
// policy's cidrGroupRef, which is refused where it is used.)
std::optional<std::string> unenforcedPolicyKind(const std::string& kind, const std::string& apiVersion) {
  std::string_view group = groupOf(apiVersion);
  static const std::pair<std::string_view, std::string_view> kinds[] = {
      {"policy.networking.k8s.io", "AdminNetworkPolicy"},
      {"policy.networking.k8s.io", "BaselineAdminNetworkPolicy"},
      {"policy.networking.k8s.io", "ClusterNetworkPolicy"},
      {"cilium.io", "CiliumEgressGatewayPolicy"},
      {"cilium.io", "CiliumLocalRedirectPolicy"},
      {"projectcalico.org", "NetworkPolicy"},
      {"projectcalico.org", "GlobalNetworkPolicy"},
      {"crd.projectcalico.org", "NetworkPolicy"},
      {"crd.projectcalico.org", "GlobalNetworkPolicy"},
  };
  for (const auto& [g, k] : kinds)
    if (group == g && kind == k) return fmt::format("kind {}, a network policy of {},", k, apiVersion);
  return std::nullopt;
}

// A kind sluice reads, written slightly wrong: the same but for case or a
// plural (`networkpolicy`, `NetworkPolicies`), or a typo within the same API
// group (`CiliumNetworkPolicyy`). Kinds of other groups that happen to be
// close (Role and Node) are other kinds, not typos.
const KindInfo* nearMiss(const std::string& kind, const std::string& apiVersion) {
  std::string k = lowered(kind);
  for (const KindInfo& info : kinds()) {
    std::string want = lowered(info.kind);
    if (k == want || k == want + "s" || k == want + "es" ||
        (want.ends_with("y") && k == want.substr(0, want.size() - 1) + "ies"))
      return &info;
    bool sameGroup = std::any_of(info.apiVersions.begin(), info.apiVersions.end(),
                                 [&](const char* v) { return groupOf(v) == groupOf(apiVersion); });
    if (sameGroup && closestMatch(kind, {std::string_view(info.kind)}) == info.kind) return &info;
  }
  return nullptr;
}

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
  // `apiversion: v1`: a near miss of a key every object needs says so,
  // rather than only that the key is missing.
  bool nearMissKey = false;
  for (auto& [key, value] : doc.entries()) {
    std::string meant = closestMatch(key, {"apiVersion", "kind"});
    if (meant.empty() || meant == key || doc[meant].present()) continue;
    value.errorAtKey(unknownFieldMessage(key, {"apiVersion", "kind"}));
    nearMissKey = true;
  }
  if (nearMissKey) return;
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
  if (const KindInfo* meant = nearMiss(*kind, *apiVersion)) {
    doc["kind"].error(fmt::format("unknown kind {}: did you mean {}? (kinds are case-sensitive)",
                                  quote(*kind), meant->kind));
    return;
  }
  // Name the skipped object when it has a name, so a long kubectl dump stays readable.
  std::string name, ns;
  if (doc["metadata"].isMap()) {
    if (doc["metadata"]["name"].isScalar()) name = *doc["metadata"]["name"].str();
    if (doc["metadata"]["namespace"].isScalar()) ns = *doc["metadata"]["namespace"].str();
  }
  ctx->object = *kind + (name.empty() ? "" : " " + (ns.empty() ? name : ns + "/" + name));
  if (auto what = unenforcedPolicyKind(*kind, *apiVersion)) {
    // Skipping a policy would leave its rules out while the run succeeds:
    // what the user meant to deny would pass.
    ctx->diags->error(doc["kind"].loc(), ctx->object, "",
                      fmt::format("{} is not supported by sluice: refusing rather than compiling the cluster "
                                  "without its rules",
                                  *what));
  } else {
    ctx->diags->note(doc["kind"].loc(), ctx->object, "",
                     fmt::format("skipped: sluice does not read kind {} ({})", *kind, *apiVersion));
  }
  ctx->object.clear();
}

bool isManifestFile(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

std::string fileTypeName(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Reads at most kMaxManifestBytes + 1 bytes from fd (one more tells "too large").
bool readBounded(int fd, std::string& out, std::string& error) {
  out.clear();
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = fmt::format("cannot read file: {}", std::strerror(errno));
      return false;
    }
    if (n == 0) return true;
    out.append(buf, size_t(n));
    if (out.size() > kMaxManifestBytes) {
      error = fmt::format("file is larger than {} MiB: refused (split it into several files)",
                          kMaxManifestBytes >> 20);
      return false;
    }
  }
}

SourceLoc wholeFileLoc(const std::string& name) { return SourceLoc{std::make_shared<SourceFile>(name, ""), 1, 1}; }

}  // namespace

bool readManifestFile(const std::string& path, std::string& contents, std::string& error) {
  // Non-blocking, so that opening a FIFO nobody writes to does not hang.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    error = fmt::format("cannot read file: {}", std::strerror(errno));
    return false;
  }
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0;
  if (!ok) {
    error = fmt::format("cannot read file: {}", std::strerror(errno));
  } else if (S_ISDIR(st.st_mode)) {
    error = "is a directory";
    ok = false;
  } else if (!S_ISREG(st.st_mode)) {
    error = fmt::format("is {}, not a regular file: refused (to read a stream, pass - and pipe it to "
                        "standard input)",
                        fileTypeName(st.st_mode));
    ok = false;
  } else if (uint64_t(st.st_size) > kMaxManifestBytes) {
    error = fmt::format("file is larger than {} MiB: refused (split it into several files)", kMaxManifestBytes >> 20);
    ok = false;
  } else {
    ok = readBounded(fd, contents, error);
  }
  ::close(fd);
  return ok;
}

bool readManifestStdin(std::string& contents, std::string& error) { return readBounded(0, contents, error); }

ManifestFiles manifestFilesIn(const std::string& dir) {
  ManifestFiles out;
  std::vector<fs::path> pending = {dir};
  while (!pending.empty()) {
    fs::path at = std::move(pending.back());
    pending.pop_back();
    std::error_code ec;
    fs::directory_iterator it(at, ec), end;
    if (ec) {
      out.unreadable.emplace_back(at.string(), fmt::format("cannot read directory: {}", ec.message()));
      continue;
    }
    for (; it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      if (p.filename().string().starts_with(".")) continue;
      std::error_code typeEc;
      // Real directories only: a symlink to a directory is not followed (no loops).
      if (it->symlink_status(typeEc).type() == fs::file_type::directory) {
        pending.push_back(p);
        continue;
      }
      if (!isManifestFile(p)) continue;
      fs::file_status st = it->status(typeEc);
      if (typeEc)
        out.unreadable.emplace_back(p.string(), fmt::format("cannot read file: {}", typeEc.message()));
      else if (fs::is_regular_file(st))
        out.files.push_back(p.string());
      else if (!fs::is_directory(st))
        out.unreadable.emplace_back(p.string(), "not a regular file: refused");
    }
    if (ec) out.unreadable.emplace_back(at.string(), fmt::format("cannot read directory: {}", ec.message()));
  }
  std::sort(out.files.begin(), out.files.end());
  std::sort(out.unreadable.begin(), out.unreadable.end());
  return out;
}

bool loadManifestText(const std::string& name, std::string contents, ClusterState& state,
                      Diagnostics& diags) {
  size_t errorsBefore = diags.errorCount();
  auto file = std::make_shared<SourceFile>(name, std::move(contents));
  DocContext ctx{&diags, file, ""};
  const SourceLoc wholeFile{file, 1, 1};

  if (file->contents.size() > kMaxManifestBytes) {
    diags.error(wholeFile, "", "",
                fmt::format("file is larger than {} MiB: refused (split it into several files)",
                            kMaxManifestBytes >> 20));
    return false;
  }
  if (size_t nul = file->contents.find('\0'); nul != std::string::npos) {
    diags.error(locAt(file, nul), "", "", "file contains NUL bytes; expected YAML or JSON text");
    return false;
  }
  try {
    yaml::Stream stream;
    if (!stream.parse(file->contents)) {
      // A syntax error makes the whole file unusable: report it and load nothing from it.
      const yaml::Error& e = stream.error();
      diags.error(SourceLoc{file, e.line, e.col}, "", "", fmt::format("invalid YAML/JSON: {}", e.message));
      return false;
    }
    for (const yaml::Node* node : stream.documents()) {
      SourceLoc loc = node->line ? locOf(file, *node) : wholeFile;
      Field doc(&ctx, node, "", loc);
      if (looksLikeCiliumRules(doc)) {
        doc.error("this is a list of Cilium policy rules (as `cilium policy import` takes), not a Kubernetes "
                  "object: put the rules under `specs:` of a CiliumNetworkPolicy (apiVersion: cilium.io/v2)");
        continue;
      }
      if (doc.present() && !doc.isMap()) {
        doc.error("expected a Kubernetes object (a mapping with apiVersion and kind)");
        continue;
      }
      loadObject(doc, state, 0);
    }
  } catch (const std::bad_alloc&) {
    diags.error(wholeFile, "", "", "out of memory while reading this file: refused");
    return false;
  }
  return diags.errorCount() == errorsBefore;
}

bool loadManifests(const std::vector<std::string>& paths, ClusterState& state, Diagnostics& diags) {
  size_t errorsBefore = diags.errorCount();
  bool stdinRead = false;
  auto loadFile = [&](const std::string& path) {
    std::string contents, error;
    if (!readManifestFile(path, contents, error)) {
      diags.error(wholeFileLoc(path), "", "", error);
      return;
    }
    loadManifestText(path, std::move(contents), state, diags);
  };
  for (const std::string& path : paths) {
    if (path == "-") {
      if (stdinRead) continue;
      stdinRead = true;
      std::string contents, error;
      if (!readManifestStdin(contents, error))
        diags.error(wholeFileLoc("<stdin>"), "", "", error);
      else
        loadManifestText("<stdin>", std::move(contents), state, diags);
      continue;
    }
    std::error_code ec;
    fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      diags.error(wholeFileLoc(path), "", "",
                  ec && ec != std::errc::no_such_file_or_directory ? fmt::format("cannot read: {}", ec.message())
                                                                   : "no such file or directory");
      continue;
    }
    if (fs::is_directory(st)) {
      ManifestFiles found = manifestFilesIn(path);
      // Nothing is skipped silently: a part of the tree that cannot be read
      // could hold a policy, and compiling without it would open a hole.
      for (const auto& [where, why] : found.unreadable) diags.error(wholeFileLoc(where), "", "", why);
      if (found.files.empty() && found.unreadable.empty())
        diags.warning(wholeFileLoc(path), "", "", "no manifest files (*.yaml, *.yml, *.json) in this directory");
      for (const auto& f : found.files) loadFile(f);
      continue;
    }
    loadFile(path);
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
