// KubeConfig::load: the current context's cluster and user of a kubeconfig
// file, with located errors ("file:line:col: what").
//
// Follows kubectl where it matters for an agent: *-data fields are base64,
// file references are relative to the kubeconfig's directory, a root CA
// together with insecure-skip-tls-verify is an error, and the *-data form
// wins over the file form. Auth this client does not implement (exec
// plugins, auth-provider, username/password) is an error, never ignored.
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "agent/kube/kube_watch.h"

namespace sluice::kube {

namespace {

// Kubeconfigs, certificates and tokens are a few KB. A name that leads to
// an endless stream (`tokenFile: /dev/zero`, /dev/urandom) must be refused,
// not read until the agent runs out of memory (found while writing
// tests/fuzz's kubeconfig target).
constexpr size_t kMaxFileBytes = size_t(16) << 20;

// On failure `error` is "\"path\": why".
bool readWhole(const std::string& path, std::string& text, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "\"" + path + "\": cannot read: " + std::strerror(errno);
    return false;
  }
  text.clear();
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, size_t(in.gcount()));
    if (text.size() > kMaxFileBytes) {
      error = "\"" + path + "\": larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB: refused";
      text.clear();
      return false;
    }
  }
  return true;
}

void trimRight(std::string& s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
}

struct LoadError {
  std::string text;
};

class Reader {
 public:
  Reader(const std::string& text, std::string path) : text_(text), path_(std::move(path)) {}

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& what) const {
    // yaml-cpp marks are 0-based; a null mark (-1) means "no position".
    int line = mark.line >= 0 ? mark.line + 1 : 1;
    int col = mark.column >= 0 ? mark.column + 1 : 1;
    throw LoadError{path_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + what};
  }

  std::string scalar(const YAML::Node& node, const std::string& field) const {
    if (!node.IsScalar()) fail(node.Mark(), field + ": expected a string");
    return node.Scalar();
  }

  // A required mapping entry of `map` (itself at `where`).
  YAML::Node child(const YAML::Node& map, const std::string& key, const std::string& where) const {
    if (!map.IsMap()) fail(map.Mark(), where + ": expected a mapping");
    YAML::Node n = map[key];
    if (!n) fail(map.Mark(), where + ": no \"" + key + "\"");
    return n;
  }

  // The `what` entry of list `listKey` whose name is `name`.
  YAML::Node named(const YAML::Node& root, const std::string& listKey, const std::string& what,
                   const std::string& name, const YAML::Mark& referencedAt) const {
    YAML::Node list = root[listKey];
    if (!list) fail(referencedAt, what + " \"" + name + "\" is referenced but there is no " + listKey);
    if (!list.IsSequence()) fail(list.Mark(), listKey + ": expected a list");
    for (const YAML::Node& entry : list) {
      YAML::Node n = child(entry, "name", listKey + " entry");
      if (scalar(n, listKey + "[].name") == name) return child(entry, what, listKey + " \"" + name + "\"");
    }
    fail(referencedAt, what + " \"" + name + "\" not found in " + listKey);
  }

  std::string resolve(const YAML::Node& node, const std::string& field) const {
    std::filesystem::path p = scalar(node, field);
    if (p.is_relative()) p = std::filesystem::path(path_).parent_path() / p;
    return p.string();
  }

  std::string readFile(const YAML::Node& node, const std::string& field) const {
    std::string p = resolve(node, field), text, error;
    if (!readWhole(p, text, error)) fail(node.Mark(), field + " " + error);
    return text;
  }

  std::string base64(const YAML::Node& node, const std::string& field) const {
    std::string text = scalar(node, field);
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    size_t padding = 0;
    for (char c : text) {
      int v;
      if (c >= 'A' && c <= 'Z') v = c - 'A';
      else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
      else if (c >= '0' && c <= '9') v = c - '0' + 52;
      else if (c == '+') v = 62;
      else if (c == '/') v = 63;
      else if (c == '=') { ++padding; continue; }
      else if (c == '\n' || c == '\r' || c == ' ') continue;
      else fail(node.Mark(), field + ": not base64 (character '" + std::string(1, c) + "')");
      if (padding) fail(node.Mark(), field + ": not base64 (data after '=')");
      acc = (acc << 6) | uint32_t(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(char((acc >> bits) & 0xff));
      }
    }
    if (padding > 2 || bits >= 6) fail(node.Mark(), field + ": not base64 (truncated)");
    return out;
  }

  // `data` if present (base64), else the file `file` names, else "".
  std::string dataOrFile(const YAML::Node& map, const std::string& dataKey,
                         const std::string& fileKey, YAML::Mark& from) const {
    if (YAML::Node d = map[dataKey]) {
      from = d.Mark();
      return base64(d, dataKey);
    }
    if (YAML::Node f = map[fileKey]) {
      from = f.Mark();
      return readFile(f, fileKey);
    }
    return "";
  }

  void expectPem(const std::string& text, const char* label, const YAML::Mark& at,
                 const std::string& field) const {
    if (text.find(std::string("-----BEGIN ") + label) == std::string::npos)
      fail(at, field + ": no PEM block \"-----BEGIN " + label + "\"");
  }

  KubeConfig load() const {
    YAML::Node root;
    try {
      root = YAML::Load(text_);
    } catch (const YAML::ParserException& e) {
      fail(e.mark, e.msg);
    }
    if (!root.IsMap()) fail(root.Mark(), "expected a kubeconfig mapping (apiVersion: v1, kind: Config)");
    YAML::Node currentNode = root["current-context"];
    if (!currentNode || scalar(currentNode, "current-context").empty())
      fail(currentNode ? currentNode.Mark() : root.Mark(), "no current-context");
    std::string current = currentNode.Scalar();
    YAML::Node context = named(root, "contexts", "context", current, currentNode.Mark());

    KubeConfig config;
    YAML::Node clusterRef = child(context, "cluster", "context \"" + current + "\"");
    std::string clusterName = scalar(clusterRef, "context.cluster");
    YAML::Node cluster = named(root, "clusters", "cluster", clusterName, clusterRef.Mark());
    YAML::Node server = child(cluster, "server", "cluster \"" + clusterName + "\"");
    config.server = scalar(server, "server");
    if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0)
      fail(server.Mark(), "server \"" + config.server + "\": expected https://host[:port] or http://host[:port]");
    YAML::Mark caAt;
    config.caPem = dataOrFile(cluster, "certificate-authority-data", "certificate-authority", caAt);
    if (!config.caPem.empty()) expectPem(config.caPem, "CERTIFICATE", caAt, "certificate-authority");
    if (YAML::Node insecure = cluster["insecure-skip-tls-verify"]) {
      std::string v = scalar(insecure, "insecure-skip-tls-verify");
      if (v == "true") config.insecureSkipTlsVerify = true;
      else if (v != "false") fail(insecure.Mark(), "insecure-skip-tls-verify: expected true or false");
      if (config.insecureSkipTlsVerify && !config.caPem.empty())
        fail(insecure.Mark(), "insecure-skip-tls-verify together with a certificate authority (kubectl refuses it too)");
    }

    // A context without a user talks to the server unauthenticated.
    if (YAML::Node userRef = context["user"]; userRef && !scalar(userRef, "context.user").empty()) {
      std::string userName = userRef.Scalar();
      YAML::Node user = named(root, "users", "user", userName, userRef.Mark());
      if (user.IsNull()) return config;  // "user: {}" written as "user:"
      if (!user.IsMap()) fail(user.Mark(), "user \"" + userName + "\": expected a mapping");
      for (const char* unsupported : {"exec", "auth-provider", "username", "password"})
        if (YAML::Node n = user[unsupported])
          fail(n.Mark(), std::string("user \"") + userName + "\": " + unsupported +
                             " is not supported by sluice's client; use a token, tokenFile or a client certificate");
      YAML::Mark certAt, keyAt;
      config.clientCertPem = dataOrFile(user, "client-certificate-data", "client-certificate", certAt);
      config.clientKeyPem = dataOrFile(user, "client-key-data", "client-key", keyAt);
      if (!config.clientCertPem.empty()) expectPem(config.clientCertPem, "CERTIFICATE", certAt, "client-certificate");
      if (!config.clientKeyPem.empty()) expectPem(config.clientKeyPem, "", keyAt, "client-key");
      if (config.clientCertPem.empty() != config.clientKeyPem.empty())
        fail(user.Mark(), "user \"" + userName + "\": client-certificate and client-key must be given together");
      if (YAML::Node token = user["token"]) {
        config.bearerToken = scalar(token, "token");
      } else if (YAML::Node tokenFile = user["tokenFile"]) {
        config.bearerToken = readFile(tokenFile, "tokenFile");
        config.tokenFile = resolve(tokenFile, "tokenFile");
        trimRight(config.bearerToken);
        if (config.bearerToken.empty()) fail(tokenFile.Mark(), "tokenFile: the file is empty");
      }
    }
    return config;
  }

 private:
  const std::string& text_;
  std::string path_;
};

}  // namespace

std::optional<KubeConfig> KubeConfig::load(const std::string& path, std::string& error) {
  std::string text;
  if (!readWhole(path, text, error)) {
    error = path + error.substr(path.size() + 2);  // without the quotes: "path: why"
    return std::nullopt;
  }
  return parse(text, path, error);
}

std::optional<KubeConfig> KubeConfig::parse(const std::string& text, const std::string& path,
                                            std::string& error) {
  try {
    return Reader(text, path).load();
  } catch (const LoadError& e) {
    error = e.text;
  } catch (const YAML::Exception& e) {  // e.g. a malformed node deep inside
    error = path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg;
  }
  return std::nullopt;
}

std::optional<KubeConfig> KubeConfig::inCluster(std::string& error, const std::string& dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    error = "not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set";
    return std::nullopt;
  }
  KubeConfig config;
  std::string h = host;
  config.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  config.tokenFile = dir + "/token";
  if (!readWhole(config.tokenFile, config.bearerToken, error) || !readWhole(dir + "/ca.crt", config.caPem, error)) {
    error = "in-cluster config: " + error;
    return std::nullopt;
  }
  trimRight(config.bearerToken);
  if (config.bearerToken.empty()) {
    error = "in-cluster config: \"" + config.tokenFile + "\" is empty";
    return std::nullopt;
  }
  return config;
}

}  // namespace sluice::kube
