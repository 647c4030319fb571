#include "runtime/cni/cni.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/net.h"
#include "base/text.h"

namespace sluice::cni {

const std::vector<std::string>& supportedVersions() {
  static const std::vector<std::string> versions = {"1.0.0", "1.1.0"};
  return versions;
}

bool isSupportedVersion(std::string_view version) {
  const auto& all = supportedVersions();
  return std::find(all.begin(), all.end(), version) != all.end();
}

bool versionHasStatusAndGc(std::string_view version) { return version == "1.1.0"; }

namespace {

constexpr std::pair<Command, std::string_view> kCommands[] = {
    {Command::Add, "ADD"},       {Command::Del, "DEL"}, {Command::Check, "CHECK"},
    {Command::Status, "STATUS"}, {Command::Gc, "GC"},   {Command::Version, "VERSION"},
};

}  // namespace

std::string_view commandName(Command command) {
  for (const auto& [c, name] : kCommands)
    if (c == command) return name;
  return "?";
}

std::optional<Command> parseCommand(std::string_view name) {
  for (const auto& [c, n] : kCommands)
    if (n == name) return c;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Results

namespace {

// One writer for the neutral form and both CNI versions: `v11` keeps the
// fields 1.1.0 added (interface mtu, socketPath, pciID; route mtu, advmss,
// priority, table, scope). Empty lists and an empty dns are left out, as the
// reference library does.
template <class Json>
void writeResult(Json& j, const Result& r, bool v11) {
  if (!r.interfaces.empty()) {
    Json list = Json::array();
    for (const Interface& i : r.interfaces) {
      Json o = Json::object();
      o["name"] = i.name;
      if (!i.mac.empty()) o["mac"] = i.mac;
      if (v11 && i.mtu != 0) o["mtu"] = i.mtu;
      if (!i.sandbox.empty()) o["sandbox"] = i.sandbox;
      if (v11 && !i.socketPath.empty()) o["socketPath"] = i.socketPath;
      if (v11 && !i.pciID.empty()) o["pciID"] = i.pciID;
      list.push_back(std::move(o));
    }
    j["interfaces"] = std::move(list);
  }
  if (!r.ips.empty()) {
    Json list = Json::array();
    for (const IpConfig& ip : r.ips) {
      Json o = Json::object();
      if (ip.interface) o["interface"] = *ip.interface;
      o["address"] = ip.address;
      if (!ip.gateway.empty()) o["gateway"] = ip.gateway;
      list.push_back(std::move(o));
    }
    j["ips"] = std::move(list);
  }
  if (!r.routes.empty()) {
    Json list = Json::array();
    for (const Route& rt : r.routes) {
      Json o = Json::object();
      o["dst"] = rt.dst;
      if (!rt.gw.empty()) o["gw"] = rt.gw;
      if (v11) {
        if (rt.mtu != 0) o["mtu"] = rt.mtu;
        if (rt.advmss != 0) o["advmss"] = rt.advmss;
        if (rt.priority != 0) o["priority"] = rt.priority;
        if (rt.table) o["table"] = *rt.table;
        if (rt.scope) o["scope"] = *rt.scope;
      }
      list.push_back(std::move(o));
    }
    j["routes"] = std::move(list);
  }
  if (!r.dns.empty()) {
    Json o = Json::object();
    if (!r.dns.nameservers.empty()) o["nameservers"] = r.dns.nameservers;
    if (!r.dns.domain.empty()) o["domain"] = r.dns.domain;
    if (!r.dns.search.empty()) o["search"] = r.dns.search;
    if (!r.dns.options.empty()) o["options"] = r.dns.options;
    j["dns"] = std::move(o);
  }
}

// Field readers for resultFromJson: absent is fine, the wrong type is not.
bool readString(const nlohmann::json& o, const char* key, std::string& out, const std::string& at,
                std::string& problem) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_string()) {
    problem = fmt::format("{}.{} is {}, not a string", at, key, it->type_name());
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool readUint(const nlohmann::json& o, const char* key, std::optional<uint32_t>& out, const std::string& at,
              std::string& problem) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > UINT32_MAX) {
    problem = fmt::format("{}.{} is {}, not an unsigned integer", at, key, it->dump());
    return false;
  }
  out = static_cast<uint32_t>(it->get<int64_t>());
  return true;
}

bool readUint(const nlohmann::json& o, const char* key, uint32_t& out, const std::string& at, std::string& problem) {
  std::optional<uint32_t> v;
  if (!readUint(o, key, v, at, problem)) return false;
  out = v.value_or(0);
  return true;
}

bool readStrings(const nlohmann::json& o, const char* key, std::vector<std::string>& out, const std::string& at,
                 std::string& problem) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_array()) {
    problem = fmt::format("{}.{} is {}, not a list of strings", at, key, it->type_name());
    return false;
  }
  for (const auto& s : *it) {
    if (!s.is_string()) {
      problem = fmt::format("{}.{} holds {}, not a string", at, key, s.dump());
      return false;
    }
    out.push_back(s.get<std::string>());
  }
  return true;
}

// The objects of list `key`, or false when it is not a list of objects.
bool readObjects(const nlohmann::json& o, const char* key, std::vector<const nlohmann::json*>& out,
                 std::string& problem) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_array()) {
    problem = fmt::format("{} is {}, not a list", key, it->type_name());
    return false;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_object()) {
      problem = fmt::format("{}[{}] is {}, not an object", key, i, (*it)[i].type_name());
      return false;
    }
    out.push_back(&(*it)[i]);
  }
  return true;
}

}  // namespace

nlohmann::json resultToJson(const Result& result) {
  nlohmann::json j = nlohmann::json::object();
  writeResult(j, result, /*v11=*/true);
  return j;
}

bool resultFromJson(const nlohmann::json& json, Result& out, std::string& problem) {
  out = Result{};
  if (!json.is_object()) {
    problem = fmt::format("the result is {}, not an object", json.type_name());
    return false;
  }
  std::vector<const nlohmann::json*> objects;
  if (!readObjects(json, "interfaces", objects, problem)) return false;
  for (size_t i = 0; i < objects.size(); ++i) {
    const auto& o = *objects[i];
    std::string at = fmt::format("interfaces[{}]", i);
    Interface intf;
    if (!readString(o, "name", intf.name, at, problem) || !readString(o, "mac", intf.mac, at, problem) ||
        !readUint(o, "mtu", intf.mtu, at, problem) || !readString(o, "sandbox", intf.sandbox, at, problem) ||
        !readString(o, "socketPath", intf.socketPath, at, problem) || !readString(o, "pciID", intf.pciID, at, problem))
      return false;
    out.interfaces.push_back(std::move(intf));
  }
  objects.clear();
  if (!readObjects(json, "ips", objects, problem)) return false;
  for (size_t i = 0; i < objects.size(); ++i) {
    const auto& o = *objects[i];
    std::string at = fmt::format("ips[{}]", i);
    IpConfig ip;
    if (!readString(o, "address", ip.address, at, problem) || !readString(o, "gateway", ip.gateway, at, problem) ||
        !readUint(o, "interface", ip.interface, at, problem))
      return false;
    out.ips.push_back(std::move(ip));
  }
  objects.clear();
  if (!readObjects(json, "routes", objects, problem)) return false;
  for (size_t i = 0; i < objects.size(); ++i) {
    const auto& o = *objects[i];
    std::string at = fmt::format("routes[{}]", i);
    Route rt;
    if (!readString(o, "dst", rt.dst, at, problem) || !readString(o, "gw", rt.gw, at, problem) ||
        !readUint(o, "mtu", rt.mtu, at, problem) || !readUint(o, "advmss", rt.advmss, at, problem) ||
        !readUint(o, "priority", rt.priority, at, problem) || !readUint(o, "table", rt.table, at, problem) ||
        !readUint(o, "scope", rt.scope, at, problem))
      return false;
    out.routes.push_back(std::move(rt));
  }
  if (auto it = json.find("dns"); it != json.end() && !it->is_null()) {
    if (!it->is_object()) {
      problem = fmt::format("dns is {}, not an object", it->type_name());
      return false;
    }
    if (!readStrings(*it, "nameservers", out.dns.nameservers, "dns", problem) ||
        !readString(*it, "domain", out.dns.domain, "dns", problem) ||
        !readStrings(*it, "search", out.dns.search, "dns", problem) ||
        !readStrings(*it, "options", out.dns.options, "dns", problem))
      return false;
  }
  return true;
}

std::string checkResult(const Result& r) {
  for (size_t i = 0; i < r.interfaces.size(); ++i)
    if (r.interfaces[i].name.empty()) return fmt::format("interfaces[{}] has no name", i);
  for (size_t i = 0; i < r.ips.size(); ++i) {
    const IpConfig& ip = r.ips[i];
    if (ip.address.find('/') == std::string::npos || !Cidr::parse(ip.address))
      return fmt::format("ips[{}].address {} is not an address with a prefix length", i, quote(ip.address));
    if (!ip.gateway.empty() && !IpAddr::parse(ip.gateway))
      return fmt::format("ips[{}].gateway {} is not an address", i, quote(ip.gateway));
    if (ip.interface && *ip.interface >= r.interfaces.size())
      return fmt::format("ips[{}].interface is {}, but there are {} interfaces", i, *ip.interface, r.interfaces.size());
  }
  for (size_t i = 0; i < r.routes.size(); ++i) {
    const Route& rt = r.routes[i];
    if (rt.dst.find('/') == std::string::npos || !Cidr::parse(rt.dst))
      return fmt::format("routes[{}].dst {} is not a prefix", i, quote(rt.dst));
    if (!rt.gw.empty() && !IpAddr::parse(rt.gw))
      return fmt::format("routes[{}].gw {} is not an address", i, quote(rt.gw));
  }
  for (const std::string& ns : r.dns.nameservers)
    if (!IpAddr::parse(ns)) return fmt::format("dns.nameservers holds {}, not an address", quote(ns));
  return "";
}

Result mergeResults(const Result& prev, const Result& own) {
  Result merged = prev;
  uint32_t shift = static_cast<uint32_t>(prev.interfaces.size());
  merged.interfaces.insert(merged.interfaces.end(), own.interfaces.begin(), own.interfaces.end());
  for (IpConfig ip : own.ips) {
    if (ip.interface) *ip.interface += shift;
    merged.ips.push_back(std::move(ip));
  }
  merged.routes.insert(merged.routes.end(), own.routes.begin(), own.routes.end());
  if (!own.dns.empty()) merged.dns = own.dns;
  return merged;
}

nlohmann::ordered_json renderResult(const Result& result, std::string_view cniVersion) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["cniVersion"] = cniVersion;
  writeResult(j, result, /*v11=*/cniVersion != "1.0.0");
  return j;
}

nlohmann::ordered_json renderError(const Error& error, std::string_view cniVersion) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["cniVersion"] = cniVersion;
  j["code"] = error.code;
  j["msg"] = error.msg;
  if (!error.details.empty()) j["details"] = error.details;
  return j;
}

nlohmann::ordered_json renderVersion(std::string_view cniVersion) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["cniVersion"] = cniVersion;
  j["supportedVersions"] = supportedVersions();
  return j;
}

// ---------------------------------------------------------------------------
// Attachment parameters

namespace {

bool isAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// [a-zA-Z0-9][a-zA-Z0-9_.-]*, the spec's rule for container IDs and network names.
std::string nameProblem(std::string_view s) {
  if (s.empty()) return "it is empty";
  if (!isAlnum(s[0])) return fmt::format("it starts with {}, not a letter or digit", quote(s.substr(0, 1)));
  for (char c : s)
    if (!isAlnum(c) && c != '_' && c != '.' && c != '-')
      return fmt::format("it contains {} (only letters, digits, '_', '.' and '-' are allowed)",
                         quote(std::string_view(&c, 1)));
  return "";
}

// The code points Go's unicode.IsSpace reports, which the reference
// implementation's interface-name check uses: ASCII white space, NEL, NBSP and
// Unicode's space separators.
bool isUnicodeSpace(uint32_t cp) {
  switch (cp) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

// The next code point of UTF-8 text at `i` (advanced); an invalid byte reads
// as U+FFFD, one byte long, which is not a space.
uint32_t nextCodePoint(std::string_view s, size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    ++i;
    return 0xFFFD;
  }
  uint32_t cp = len == 1 ? b : b & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c >> 6) != 0x2) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  i += len;
  return cp;
}

}  // namespace

std::string containerIdProblem(std::string_view id) { return nameProblem(id); }
std::string networkNameProblem(std::string_view name) { return nameProblem(name); }

std::string interfaceNameProblem(std::string_view name) {
  if (name.empty()) return "it is empty";
  if (name.size() > 15) return fmt::format("it is {} bytes long; interface names have at most 15", name.size());
  if (name == "." || name == "..") return "it cannot be '.' or '..'";
  for (size_t i = 0; i < name.size();) {
    uint32_t cp = nextCodePoint(name, i);
    if (cp == '/' || cp == ':') return fmt::format("it contains '{}'", static_cast<char>(cp));
    if (isUnicodeSpace(cp)) return "it contains white space";
  }
  return "";
}

bool parseCniArgs(std::string_view text, PodArgs& out, std::string& problem) {
  out = PodArgs{};
  bool ignoreUnknown = false;
  std::vector<std::string> unknown;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view pair = text.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0 || pair.find('=', eq + 1) != std::string_view::npos) {
      problem = fmt::format("{} is not a KEY=VALUE pair", quote(pair));
      return false;
    }
    std::string_view key = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (key == "K8S_POD_NAMESPACE") {
      out.podNamespace = value;
    } else if (key == "K8S_POD_NAME") {
      out.podName = value;
    } else if (key == "K8S_POD_INFRA_CONTAINER_ID") {
      out.infraContainerID = value;
    } else if (key == "K8S_POD_UID") {
      out.podUID = value;
    } else if (key == "IgnoreUnknown") {
      std::string v(value);
      std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
      if (v == "1" || v == "true") {
        ignoreUnknown = true;
      } else if (v == "0" || v == "false") {
        ignoreUnknown = false;
      } else {
        problem = fmt::format("IgnoreUnknown={} is not a boolean (1, true, 0 or false)", displayText(value));
        return false;
      }
    } else {
      unknown.push_back(displayText(pair));
    }
  }
  if (!unknown.empty() && !ignoreUnknown) {
    problem = fmt::format(
        "sluice-cni does not know {} (it reads K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID and "
        "K8S_POD_UID; add IgnoreUnknown=1 to pass other keys)",
        fmt::join(unknown, ", "));
    return false;
  }
  return true;
}

std::string describeAttachment(const PodArgs& pod, std::string_view containerID) {
  if (!pod.podNamespace.empty() && !pod.podName.empty())
    return fmt::format("pod {}/{}", displayText(pod.podNamespace), displayText(pod.podName));
  return fmt::format("container {}", displayText(containerID));
}

}  // namespace sluice::cni
