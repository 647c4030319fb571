// deploy/ (what `kubectl apply -f deploy/` creates) checked against the code
// it deploys, so that the two cannot drift apart unnoticed:
// - every file parses as Kubernetes objects, one of each kind sluice needs;
// - the ClusterRole grants list and watch, and nothing else, on exactly the
//   resources of the agent's API client (kube::watchedResources()), and the
//   code makes no other request;
// - the DaemonSet passes only flags the built `sluice agent --help` lists,
//   and the built binary's own parser accepts the command line the
//   container runs (its shell script run as written, with the ConfigMap's
//   values, as the kubelet would);
// - the agent runs --in-cluster: the script hands it the kubelet's
//   KUBERNETES_SERVICE_HOST/_PORT, or the ConfigMap's API server address in
//   their place, and the agent's own in-cluster reader accepts what the pod
//   has (service-account token and CA) with that address;
// - the paths those flags name are host mounts at the same paths; the
//   socket and conflist agree with docs/cni.md; the probes hit what the
//   metrics server serves;
// - the init step, run as written against a temporary directory, installs a
//   sluice-cni that answers VERSION where the runtime looks for type "sluice".
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/kube/kube_watch.h"
#include "tests/testing/command.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSource = SLUICE_SOURCE_DIR;
const fs::path kDeploy = kSource / "deploy";

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void replaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size())
    text.replace(at, from.size(), to);
}

std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// ---------------------------------------------------------------------------
// The manifests

struct Object {
  std::string file;
  YAML::Node node;
};

// Every object of every manifest kubectl would apply from deploy/.
std::vector<Object> loadObjects() {
  std::vector<Object> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kDeploy))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files)
    for (const YAML::Node& doc : YAML::LoadAllFromFile(f.string()))
      if (doc && !doc.IsNull()) out.push_back({f.filename().string(), doc});
  return out;
}

// The one object of `kind` (the first test checks there is exactly one).
YAML::Node objectOf(const std::string& kind) {
  for (const Object& o : loadObjects())
    if (o.node["kind"].as<std::string>("") == kind) return o.node;
  ADD_FAILURE() << "deploy/ has no " << kind;
  return YAML::Node();
}

std::vector<std::string> strings(const YAML::Node& seq) {
  std::vector<std::string> out;
  if (seq && seq.IsSequence())
    for (const YAML::Node& n : seq) out.push_back(n.as<std::string>());
  return out;
}

YAML::Node podSpec() { return objectOf("DaemonSet")["spec"]["template"]["spec"]; }

YAML::Node container(const std::string& list, const std::string& name) {
  for (const YAML::Node& c : podSpec()[list])
    if (c["name"].as<std::string>("") == name) return c;
  ADD_FAILURE() << "the DaemonSet has no " << list << " entry named " << name;
  return YAML::Node();
}

YAML::Node agentContainer() { return container("containers", "agent"); }

// The init container that mounts host path `hostPath`.
YAML::Node initContainerMounting(const std::string& hostPath) {
  std::set<std::string> volumes;
  for (const YAML::Node& v : podSpec()["volumes"])
    if (v["hostPath"] && v["hostPath"]["path"].as<std::string>("") == hostPath)
      volumes.insert(v["name"].as<std::string>());
  for (const YAML::Node& c : podSpec()["initContainers"])
    for (const YAML::Node& m : c["volumeMounts"])
      if (volumes.count(m["name"].as<std::string>(""))) return c;
  ADD_FAILURE() << "no init container mounts host path " << hostPath;
  return YAML::Node();
}

// "--flag=value" arguments of the agent container's `args`.
std::map<std::string, std::string> agentArgs() {
  std::map<std::string, std::string> out;
  for (const std::string& a : strings(agentContainer()["args"])) {
    size_t eq = a.find('=');
    out[a.substr(0, eq)] = eq == std::string::npos ? "" : a.substr(eq + 1);
  }
  return out;
}

std::map<std::string, std::string> configMapData() {
  std::map<std::string, std::string> out;
  for (const auto& kv : objectOf("ConfigMap")["data"]) out[kv.first.as<std::string>()] = kv.second.as<std::string>();
  return out;
}

// A container's environment as the kubelet makes it: ConfigMap keys from
// `data`, the node name from spec.nodeName.
std::map<std::string, std::string> containerEnv(const YAML::Node& c, const std::map<std::string, std::string>& data,
                                                const std::string& nodeName = "node-1") {
  std::map<std::string, std::string> env;
  for (const YAML::Node& e : c["env"]) {
    std::string name = e["name"].as<std::string>();
    if (e["value"]) {
      env[name] = e["value"].as<std::string>();
    } else if (const YAML::Node ref = e["valueFrom"]["configMapKeyRef"]) {
      EXPECT_EQ(ref["name"].as<std::string>(""), objectOf("ConfigMap")["metadata"]["name"].as<std::string>()) << name;
      std::string key = ref["key"].as<std::string>("");
      EXPECT_TRUE(data.count(key)) << name << ": ConfigMap key \"" << key << "\" does not exist";
      env[name] = data.count(key) ? data.at(key) : "";
    } else if (const YAML::Node field = e["valueFrom"]["fieldRef"]) {
      EXPECT_EQ(field["fieldPath"].as<std::string>(""), "spec.nodeName") << name;
      env[name] = nodeName;
    } else {
      ADD_FAILURE() << name << ": an env entry this test does not know";
    }
  }
  return env;
}

// The kubelet's $(VAR) expansion in command and args.
std::string expandVars(const std::string& s, const std::map<std::string, std::string>& env) {
  static const std::regex var(R"(\$\(([A-Za-z_][A-Za-z0-9_]*)\))");
  std::string out;
  auto last = s.cbegin();
  for (std::sregex_iterator it(s.begin(), s.end(), var), end; it != end; ++it) {
    out.append(last, (*it)[0].first);
    auto found = env.find((*it)[1].str());
    out += found != env.end() ? found->second : (*it)[0].str();
    last = (*it)[0].second;
  }
  out.append(last, s.cend());
  return out;
}

// Runs container `c`'s command and args as the kubelet would (expanded,
// exec'd without a shell of ours), with `env` only, each of `rewrite` (an
// absolute path in the image or on the host -> where this test puts it)
// applied first. Returns the exit status and output (stdout and stderr).
testing::CommandResult runContainer(const YAML::Node& c, const std::map<std::string, std::string>& env,
                                    const std::vector<std::pair<std::string, std::string>>& rewrite) {
  std::vector<std::string> argv = strings(c["command"]);
  for (const std::string& a : strings(c["args"])) argv.push_back(a);
  std::string line = "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& [k, v] : env) line += " " + shellQuote(k + "=" + v);
  for (std::string a : argv) {
    a = expandVars(a, env);
    for (const auto& [from, to] : rewrite) replaceAll(a, from, to);
    line += " " + shellQuote(a);
  }
  return testing::runCommand(line + " 2>&1");
}

// ---------------------------------------------------------------------------
// What the code does

// Flags `sluice agent --help` declares.
std::set<std::string> helpFlags(std::string* helpText = nullptr) {
  testing::CommandResult r = testing::runCommand(std::string(SLUICE_BIN) + " agent --help 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  if (helpText) *helpText = r.out;
  std::set<std::string> out;
  static const std::regex option(R"(^\s+(?:-[A-Za-z],)?(--[a-z][a-z0-9-]*))");
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Subcommands:", 0) == 0) break;
    std::smatch m;
    if (std::regex_search(line, m, option)) out.insert(m[1]);
  }
  return out;
}

// ---------------------------------------------------------------------------

TEST(Deploy, EveryFileIsAKubernetesObjectKubectlApplies) {
  // kubectl apply -f deploy/ reads .yaml, .yml and .json: all of them are
  // .yaml here, so none escapes these checks.
  for (const auto& e : fs::directory_iterator(kDeploy)) {
    std::string name = e.path().filename().string();
    EXPECT_TRUE(e.path().extension() == ".yaml" || name == "README.md" || name == "Dockerfile")
        << "deploy/" << name << ": a file this test does not check";
  }
  const std::map<std::string, std::string> kinds = {
      {"ServiceAccount", "v1"},
      {"ClusterRole", "rbac.authorization.k8s.io/v1"},
      {"ClusterRoleBinding", "rbac.authorization.k8s.io/v1"},
      {"ConfigMap", "v1"},
      {"DaemonSet", "apps/v1"},
  };
  const std::set<std::string> clusterScoped = {"ClusterRole", "ClusterRoleBinding"};
  std::map<std::string, int> seen;
  std::vector<Object> objects;
  ASSERT_NO_THROW(objects = loadObjects());
  std::string readme = readText(kDeploy / "README.md");
  for (const Object& o : objects) {
    SCOPED_TRACE(o.file);
    ASSERT_TRUE(o.node.IsMap());
    std::string kind = o.node["kind"].as<std::string>("");
    ASSERT_TRUE(kinds.count(kind)) << "kind \"" << kind << "\"";
    ++seen[kind];
    EXPECT_EQ(o.node["apiVersion"].as<std::string>(""), kinds.at(kind));
    EXPECT_FALSE(o.node["metadata"]["name"].as<std::string>("").empty());
    if (clusterScoped.count(kind))
      EXPECT_FALSE(o.node["metadata"]["namespace"]);
    else
      EXPECT_EQ(o.node["metadata"]["namespace"].as<std::string>(""), "kube-system");
    EXPECT_NE(readme.find(o.file), std::string::npos) << "deploy/README.md does not describe " << o.file;
  }
  for (const auto& [kind, apiVersion] : kinds) EXPECT_EQ(seen[kind], 1) << kind;
}

TEST(Deploy, ClusterRoleGrantsListAndWatchOnExactlyTheResourcesTheAgentReads) {
  const std::vector<kube::WatchedResource>& code = kube::watchedResources();
  // The table is the one the client runs: the same kinds, in order.
  std::vector<std::string> kinds;
  for (const kube::WatchedResource& r : code) kinds.push_back(r.kind);
  ASSERT_EQ(kinds, kube::ClusterWatch::allKinds());

  // Each entry's group and resource, which RBAC names, are those of the
  // collection the client requests, and its apiVersion is that group's.
  std::set<std::pair<std::string, std::string>> wanted, granted;
  for (const kube::WatchedResource& r : code) {
    SCOPED_TRACE(r.kind);
    EXPECT_FALSE(r.resource.empty());
    std::string version = r.group.empty() ? r.apiVersion : r.apiVersion.substr(r.apiVersion.find('/') + 1);
    if (r.group.empty()) {
      EXPECT_EQ(r.apiVersion.find('/'), std::string::npos) << r.apiVersion;
      EXPECT_EQ(r.path, "/api/" + version + "/" + r.resource);
    } else {
      EXPECT_EQ(r.apiVersion.rfind(r.group + "/", 0), 0u) << r.apiVersion;
      EXPECT_EQ(r.path, "/apis/" + r.group + "/" + version + "/" + r.resource);
    }
    EXPECT_TRUE(wanted.insert({r.group, r.resource}).second) << "watched twice";
  }
  for (const YAML::Node& rule : objectOf("ClusterRole")["rules"]) {
    for (const auto& kv : rule) {
      std::string key = kv.first.as<std::string>();
      EXPECT_TRUE(key == "apiGroups" || key == "resources" || key == "verbs") << "a rule with " << key;
    }
    std::vector<std::string> verbs = strings(rule["verbs"]);
    std::sort(verbs.begin(), verbs.end());
    EXPECT_EQ(verbs, (std::vector<std::string>{"list", "watch"}));
    for (const std::string& g : strings(rule["apiGroups"]))
      for (const std::string& r : strings(rule["resources"])) {
        EXPECT_TRUE(g != "*" && r != "*" && r.find('/') == std::string::npos) << "\"" << g << "\" " << r;
        EXPECT_TRUE(granted.insert({g, r}).second) << "granted twice: \"" << g << "\" " << r;
      }
  }
  for (const auto& [g, r] : wanted) EXPECT_TRUE(granted.count({g, r})) << "not granted: \"" << g << "\" " << r;
  for (const auto& [g, r] : granted)
    EXPECT_TRUE(wanted.count({g, r})) << "granted but never read: \"" << g << "\" " << r;

  // list and watch are all the client does: its only requests are GETs of a
  // resource's collection, with ?limit= (list) or ?watch=1 (watch). A GET of
  // one object would need "get" above, anything else more verbs.
  std::string text = readText(kSource / "agent/kube/cluster_watch.cpp");
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++n;
    return n;
  };
  EXPECT_EQ(count("r.type->path"), 2u);
  EXPECT_EQ(count("r.type->path + \"?limit="), 1u);
  EXPECT_EQ(count("r.type->path + \"?watch=1&"), 1u);
  EXPECT_EQ(count("->Get("), 2u);
  for (const char* write : {"->Post(", "->Put(", "->Patch(", "->Delete("}) EXPECT_EQ(count(write), 0u) << write;
}

TEST(Deploy, TheBindingGivesTheRoleToTheDaemonSetsServiceAccount) {
  YAML::Node binding = objectOf("ClusterRoleBinding");
  EXPECT_EQ(binding["roleRef"]["apiGroup"].as<std::string>(""), "rbac.authorization.k8s.io");
  EXPECT_EQ(binding["roleRef"]["kind"].as<std::string>(""), "ClusterRole");
  EXPECT_EQ(binding["roleRef"]["name"].as<std::string>(""),
            objectOf("ClusterRole")["metadata"]["name"].as<std::string>());
  YAML::Node sa = objectOf("ServiceAccount");
  ASSERT_EQ(binding["subjects"].size(), 1u);
  EXPECT_EQ(binding["subjects"][0]["kind"].as<std::string>(""), "ServiceAccount");
  EXPECT_EQ(binding["subjects"][0]["name"].as<std::string>(""), sa["metadata"]["name"].as<std::string>());
  EXPECT_EQ(binding["subjects"][0]["namespace"].as<std::string>(""), sa["metadata"]["namespace"].as<std::string>());
  EXPECT_EQ(podSpec()["serviceAccountName"].as<std::string>(""), sa["metadata"]["name"].as<std::string>());
  EXPECT_EQ(objectOf("DaemonSet")["metadata"]["namespace"].as<std::string>(),
            sa["metadata"]["namespace"].as<std::string>());
}

TEST(Deploy, TheDaemonSetRunsOnEveryNodeInItsNetwork) {
  YAML::Node ds = objectOf("DaemonSet"), spec = podSpec();
  EXPECT_EQ(ds["spec"]["updateStrategy"]["type"].as<std::string>(""), "RollingUpdate");
  EXPECT_TRUE(spec["hostNetwork"].as<bool>(false));
  EXPECT_EQ(spec["priorityClassName"].as<std::string>(""), "system-node-critical");
  // Every taint tolerated (control plane, not-ready, network-unavailable):
  // a CNI must run before its node is Ready.
  bool all = false;
  for (const YAML::Node& t : spec["tolerations"])
    all |= t["operator"].as<std::string>("") == "Exists" && !t["key"] && !t["effect"];
  EXPECT_TRUE(all) << "no toleration {operator: Exists}";
  // Selected pods are the template's.
  for (const auto& kv : ds["spec"]["selector"]["matchLabels"])
    EXPECT_EQ(ds["spec"]["template"]["metadata"]["labels"][kv.first.as<std::string>()].as<std::string>(""),
              kv.second.as<std::string>());
}

TEST(Deploy, TheAgentGetsOnlyFlagsItHas) {
  std::set<std::string> known = helpFlags();
  ASSERT_TRUE(known.count("--node") && known.count("--cni")) << "`sluice agent --help` as parsed here";
  YAML::Node agent = agentContainer();
  std::vector<std::string> command = strings(agent["command"]), args = strings(agent["args"]);
  ASSERT_EQ(command.size(), 4u) << "command: [/bin/sh, -ec, SCRIPT, NAME]";
  EXPECT_EQ(command[0], "/bin/sh");
  EXPECT_NE(command[2].find("exec /usr/local/bin/sluice agent \"$@\""), std::string::npos);
  static const std::regex flag("--[a-z][a-z0-9-]*");
  std::set<std::string> used;
  for (const std::string& s : command)
    for (std::sregex_iterator it(s.begin(), s.end(), flag), end; it != end; ++it) used.insert(it->str());
  for (const std::string& a : args) {
    EXPECT_EQ(a.rfind("--", 0), 0u) << "args holds flags only: " << a;
    for (std::sregex_iterator it(a.begin(), a.end(), flag), end; it != end; ++it) used.insert(it->str());
  }
  for (const std::string& f : used) EXPECT_TRUE(known.count(f)) << f << " is not a flag of `sluice agent`";
  for (const char* needed : {"--node", "--in-cluster", "--cni", "--cni-socket", "--cni-conf-dir", "--state-dir",
                             "--bpffs-root", "--metrics-port"})
    EXPECT_TRUE(agentArgs().count(needed)) << needed;
  // The API server of the pod's service account, and no other source.
  EXPECT_EQ(agentArgs().at("--in-cluster"), "") << "a switch";
  for (const char* other : {"--kubeconfig", "--watch"}) EXPECT_FALSE(used.count(other)) << other;

  // The node name comes from the downward API.
  std::map<std::string, std::string> env = containerEnv(agent, configMapData(), "the-node");
  EXPECT_EQ(expandVars(agentArgs().at("--node"), env), "the-node");

  // Each variable the args and the script read is the container's, and each
  // ConfigMap key is read by some container: no dead option.
  static const std::regex kubeletVar(R"(\$\(([A-Za-z_][A-Za-z0-9_]*)\))"), shellVar(R"(\$\{?(SLUICE_[A-Z0-9_]+))");
  for (const std::string& a : args)
    for (std::sregex_iterator it(a.begin(), a.end(), kubeletVar), end; it != end; ++it)
      EXPECT_TRUE(env.count((*it)[1])) << (*it)[1] << " in args";
  for (std::sregex_iterator it(command[2].begin(), command[2].end(), shellVar), end; it != end; ++it)
    EXPECT_TRUE(env.count((*it)[1])) << (*it)[1] << " in the script";
  std::set<std::string> read;
  for (const char* list : {"initContainers", "containers"})
    for (const YAML::Node& c : podSpec()[list])
      for (const YAML::Node& e : c["env"])
        if (e["valueFrom"]["configMapKeyRef"]) read.insert(e["valueFrom"]["configMapKeyRef"]["key"].as<std::string>());
  for (const auto& [key, value] : configMapData())
    EXPECT_TRUE(read.count(key)) << "ConfigMap key " << key << " is read by no container";
}

TEST(Deploy, TheAgentAcceptsTheCommandLineTheContainerRuns) {
  YAML::Node agent = agentContainer();
  std::map<std::string, std::string> data = configMapData();
  // Every option set, lists with two entries, to run each line of the script.
  std::map<std::string, std::string> full = data;
  full["non-masquerade-cidrs"] = "10.0.0.0/8 192.168.0.0/16";
  full["snat-ports"] = "40000-50000";
  full["uplinks"] = "eth0 eth1";
  for (const auto* values : {&data, &full}) {
    SCOPED_TRACE(values == &data ? "the ConfigMap as shipped" : "every option set");
    std::map<std::string, std::string> env = containerEnv(agent, *values);
    // The command line the agent gets, one argument per line.
    testing::CommandResult argv =
        runContainer(agent, env, {{"exec /usr/local/bin/sluice agent \"$@\"", "printf '%s\\n' agent \"$@\""}});
    ASSERT_EQ(argv.status, 0) << argv.out;
    EXPECT_EQ(argv.out.find("$("), std::string::npos) << "a variable the kubelet would not expand:\n" << argv.out;
    EXPECT_EQ(argv.out.find("=\n"), std::string::npos) << "a flag with an empty value:\n" << argv.out;
    EXPECT_NE(argv.out.find("\n--node=node-1\n"), std::string::npos) << argv.out;
    if (values == &full) {
      for (const char* a : {"--non-masquerade-cidr=10.0.0.0/8", "--non-masquerade-cidr=192.168.0.0/16",
                            "--snat-ports=40000-50000", "--uplink=eth0", "--uplink=eth1"})
        EXPECT_NE(argv.out.find(std::string("\n") + a + "\n"), std::string::npos) << a << " in\n" << argv.out;
    } else {
      EXPECT_EQ(argv.out.find("--uplink"), std::string::npos) << "an empty option is left out:\n" << argv.out;
    }
    // The built agent's own parser on that command line, every value checked
    // (types, ranges, choices), ended by the `status` subcommand, which asks
    // a port nothing serves and so starts nothing: exit 1 "no agent answers",
    // where a command line it refuses is exit 2.
    testing::CommandResult parsed =
        runContainer(agent, env,
                     {{"exec /usr/local/bin/sluice agent \"$@\"",
                       std::string("exec ") + SLUICE_BIN + " agent \"$@\" status --metrics-port 1"}});
    EXPECT_EQ(parsed.status, 1) << parsed.out;
    EXPECT_NE(parsed.out.find("no agent answers on 127.0.0.1:1"), std::string::npos) << parsed.out;
  }
}

TEST(Deploy, TheFlagsPathsAreTheHostsOwn) {
  // Volumes by name, as host path ("hostPath:/x") or "emptyDir".
  std::map<std::string, std::string> volumes;
  for (const YAML::Node& v : podSpec()["volumes"])
    volumes.emplace(v["name"].as<std::string>(), v["hostPath"]   ? "hostPath:" + v["hostPath"]["path"].as<std::string>()
                                                 : v["emptyDir"] ? "emptyDir"
                                                                 : "other");
  YAML::Node agent = agentContainer();
  struct Mount {
    std::string name, path, propagation;
    bool readOnly = false;
  };
  // The agent's mount holding `path`: the deepest mountPath that is `path` or a parent of it.
  auto mountOf = [&](const fs::path& path) {
    std::optional<Mount> best;
    for (const YAML::Node& m : agent["volumeMounts"]) {
      fs::path at = m["mountPath"].as<std::string>();
      if (std::mismatch(at.begin(), at.end(), path.begin(), path.end()).first != at.end()) continue;
      if (best && best->path.size() >= at.string().size()) continue;
      best = Mount{m["name"].as<std::string>(), at.string(), m["mountPropagation"].as<std::string>(""),
                   m["readOnly"].as<bool>(false)};
    }
    return best;
  };
  // Shared with the host at the same path: sluice-cni on the host connects to
  // the socket the agent listens on, the runtime reads the conflist the agent
  // writes, and state and pins outlive the container.
  std::map<std::string, std::string> args = agentArgs();
  for (const auto& [flag, path] :
       std::vector<std::pair<std::string, fs::path>>{{"--cni-socket", fs::path(args["--cni-socket"]).parent_path()},
                                                     {"--cni-conf-dir", args["--cni-conf-dir"]},
                                                     {"--state-dir", args["--state-dir"]},
                                                     {"--bpffs-root", args["--bpffs-root"]}}) {
    SCOPED_TRACE(flag + " " + path.string());
    ASSERT_TRUE(path.is_absolute());
    std::optional<Mount> m = mountOf(path);
    ASSERT_TRUE(m) << "not under any volume mount";
    EXPECT_EQ(volumes[m->name], "hostPath:" + m->path) << "not the host's own path";
    EXPECT_FALSE(m->readOnly);
  }
  // bpffs where the agent looks for it and mounts it when missing
  // (runtime/loader.cpp, ensureBpffs), and the mount seen by the host: that
  // needs Bidirectional, which needs a privileged container.
  EXPECT_NE(readText(kSource / "runtime/loader.cpp").find("mount(\"bpf\", \"/sys/fs/bpf\""), std::string::npos);
  std::optional<Mount> bpffs = mountOf("/sys/fs/bpf");
  ASSERT_TRUE(bpffs);
  EXPECT_EQ(bpffs->path, "/sys/fs/bpf");
  EXPECT_EQ(volumes[bpffs->name], "hostPath:/sys/fs/bpf");
  EXPECT_EQ(bpffs->propagation, "Bidirectional");
  EXPECT_TRUE(agent["securityContext"]["privileged"].as<bool>(false));
  // Pods' network namespaces (CNI_NETNS), bind-mounted there after the agent started.
  std::optional<Mount> netns = mountOf("/run/netns/cni-1234");
  ASSERT_TRUE(netns);
  EXPECT_EQ(volumes[netns->name], "hostPath:/run/netns");
  EXPECT_EQ(netns->propagation, "HostToContainer");
  // Every volume is used by some container.
  std::set<std::string> mounted;
  for (const char* list : {"initContainers", "containers"})
    for (const YAML::Node& c : podSpec()[list])
      for (const YAML::Node& m : c["volumeMounts"]) mounted.insert(m["name"].as<std::string>(""));
  for (const auto& [name, source] : volumes) EXPECT_TRUE(mounted.count(name)) << "volume " << name << " is not mounted";
}

TEST(Deploy, SocketConflistAndProbesAgreeWithTheDocsAndTheAgent) {
  std::string help;
  helpFlags(&help);
  std::map<std::string, std::string> args = agentArgs();
  // docs/cni.md's conflist is what the agent writes.
  std::string doc = readText(kSource / "docs/cni.md");
  size_t section = doc.find("## The conflist");
  ASSERT_NE(section, std::string::npos);
  size_t begin = doc.find("```json\n", section), end = doc.find("```", begin + 8);
  ASSERT_NE(begin, std::string::npos);
  json conflist = json::parse(doc.substr(begin + 8, end - begin - 8));
  EXPECT_EQ(conflist["name"], "sluice");
  EXPECT_EQ(conflist["plugins"][0]["type"], "sluice");
  EXPECT_EQ(conflist["plugins"][0]["agentSocket"], args["--cni-socket"]);
  // ... and the agent's own defaults, which sluice-cni assumes too.
  EXPECT_NE(help.find("--cni-socket TEXT=" + args["--cni-socket"]), std::string::npos) << help;
  EXPECT_NE(help.find("--cni-conf-dir TEXT=" + args["--cni-conf-dir"]), std::string::npos) << help;
  EXPECT_EQ(args["--cni-conf-dir"], "/etc/cni/net.d");
  // The conflist's file name, as the agent names it, is the one the README tells to remove.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(help, m, std::regex(R"((\S+\.conflist))")));
  EXPECT_NE(readText(kDeploy / "README.md").find(args["--cni-conf-dir"] + "/" + m[1].str()), std::string::npos) << m[1];

  // Probes: on the agent's metrics port, from the node (hostNetwork), on what
  // agent/metrics_server.cpp serves.
  std::string served = readText(kSource / "agent/metrics_server.cpp");
  YAML::Node agent = agentContainer();
  for (const char* probe : {"readinessProbe", "livenessProbe"}) {
    SCOPED_TRACE(probe);
    YAML::Node get = agent[probe]["httpGet"];
    ASSERT_TRUE(get);
    EXPECT_EQ(get["host"].as<std::string>(""), "127.0.0.1");
    EXPECT_EQ(get["port"].as<std::string>(""), args["--metrics-port"]);
    std::string path = get["path"].as<std::string>("");
    EXPECT_NE(served.find("Get(\"" + path + "\""), std::string::npos) << path << " is not served";
  }
}

// A temporary directory for each test, removed after it.
class DeployTempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sluice-deploy-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

class DeployInitSteps : public DeployTempDir {};

TEST_F(DeployInitSteps, InstallsAPluginThatAnswersWhereTheRuntimeLooks) {
  YAML::Node install = initContainerMounting("/opt/cni/bin");
  fs::path bin = dir_ / "opt-cni-bin";
  fs::create_directories(bin);
  testing::CommandResult r =
      runContainer(install, {}, {{"/usr/local/bin/sluice-cni", SLUICE_CNI_BIN}, {"/opt/cni/bin", bin.string()}});
  ASSERT_EQ(r.status, 0) << r.out;
  // The runtime runs the conflist's type from its CNI path.
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(bin)) files.push_back(e.path().filename().string());
  EXPECT_EQ(files, std::vector<std::string>{"sluice"}) << "what the step left in /opt/cni/bin";
  EXPECT_TRUE((fs::status(bin / "sluice").permissions() & fs::perms::owner_exec) != fs::perms::none);
  testing::CommandResult version = testing::runCommand(
      "echo '{\"cniVersion\": \"1.0.0\"}' | env -i CNI_COMMAND=VERSION " + shellQuote((bin / "sluice").string()));
  ASSERT_EQ(version.status, 0) << version.out;
  json answer = json::parse(version.out);
  EXPECT_NE(std::find(answer["supportedVersions"].begin(), answer["supportedVersions"].end(), "1.0.0"),
            answer["supportedVersions"].end())
      << version.out;
  // Run again over the installed one (an upgrade): replaced in place.
  r = runContainer(install, {}, {{"/usr/local/bin/sluice-cni", SLUICE_CNI_BIN}, {"/opt/cni/bin", bin.string()}});
  EXPECT_EQ(r.status, 0) << r.out;
  // The image has the binary where the step copies it from, and the agent
  // where the agent's script runs it: the Dockerfile copies the build's two
  // (its context is the build's tools/ directory).
  std::string dockerfile = readText(kDeploy / "Dockerfile");
  EXPECT_NE(dockerfile.find("COPY sluice/sluice sluice-cni/sluice-cni /usr/local/bin/"), std::string::npos);
  EXPECT_EQ(fs::path(SLUICE_BIN).parent_path().parent_path(), fs::path(SLUICE_CNI_BIN).parent_path().parent_path());
  EXPECT_EQ(fs::path(SLUICE_BIN).parent_path().filename(), "sluice");
  EXPECT_EQ(fs::path(SLUICE_CNI_BIN).parent_path().filename(), "sluice-cni");
}

// --in-cluster: the agent reads the API server's address from
// KUBERNETES_SERVICE_HOST/_PORT and the token and CA from the service-account
// directory the kubelet mounts (kube::KubeConfig::inCluster).
class DeployInCluster : public DeployTempDir {
 protected:
  void SetUp() override {
    DeployTempDir::SetUp();
    for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"})
      if (const char* v = std::getenv(name)) saved_[name] = v;
  }
  void TearDown() override {
    for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}) {
      if (saved_.count(name))
        ::setenv(name, saved_[name].c_str(), 1);
      else
        ::unsetenv(name);
    }
    DeployTempDir::TearDown();
  }
  std::map<std::string, std::string> saved_;
};

TEST_F(DeployInCluster, TheAgentGetsTheApiServerOfTheConfigMapOrTheKubelet) {
  YAML::Node agent = agentContainer();
  // The service-account directory as the kubelet mounts it (also "namespace").
  const std::string saDir = "/var/run/secrets/kubernetes.io/serviceaccount";
  EXPECT_TRUE(podSpec()["automountServiceAccountToken"].as<bool>(true));
  for (const YAML::Node& m : agent["volumeMounts"]) {
    fs::path at = m["mountPath"].as<std::string>("");
    EXPECT_NE(fs::path(saDir).lexically_relative(at).string().rfind("..", 0), std::string::npos)
        << at << " hides the service account's token and CA";
  }
  fs::path sa = dir_ / "serviceaccount";
  fs::create_directories(sa);
  std::ofstream(sa / "token") << "the-token\n";
  std::ofstream(sa / "ca.crt") << "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  std::ofstream(sa / "namespace") << "kube-system";

  // Runs the agent's script as written, with the ConfigMap's `data` and the
  // kubelet's variables, up to its exec of the agent; then the agent's
  // in-cluster reader with the environment the agent would have had.
  auto run = [&](const std::map<std::string, std::string>& data, const std::map<std::string, std::string>& kubelet,
                 const std::string& server) {
    SCOPED_TRACE(server);
    std::map<std::string, std::string> env = containerEnv(agent, data);
    env.insert(kubelet.begin(), kubelet.end());
    testing::CommandResult r = runContainer(agent, env, {{"exec /usr/local/bin/sluice agent \"$@\"", "exec env"}});
    ASSERT_EQ(r.status, 0) << r.out;
    std::map<std::string, std::string> got;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      size_t eq = line.find('=');
      if (eq != std::string::npos) got[line.substr(0, eq)] = line.substr(eq + 1);
    }
    for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}) {
      ASSERT_TRUE(got.count(name)) << name << " not in the agent's environment:\n" << r.out;
      ::setenv(name, got[name].c_str(), 1);
    }
    std::string error;
    auto config = kube::KubeConfig::inCluster(error, sa.string());
    ASSERT_TRUE(config) << error;
    EXPECT_EQ(config->server, server);
    EXPECT_EQ(config->bearerToken, "the-token");
    EXPECT_EQ(config->tokenFile, (sa / "token").string()) << "re-read as the kubelet rotates it";
    EXPECT_NE(config->caPem.find("BEGIN CERTIFICATE"), std::string::npos);
  };

  const std::map<std::string, std::string> kubelet = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                                      {"KUBERNETES_SERVICE_PORT", "443"}};
  // As shipped: the kubelet's, the `kubernetes` Service.
  std::map<std::string, std::string> data = configMapData();
  ASSERT_EQ(data["k8s-service-host"], "");
  run(data, kubelet, "https://10.96.0.1:443");
  run(data, {{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}}, "https://[fd00::1]:443");
  // The API server's own address, for nodes where the ClusterIP is not
  // translated: in place of the kubelet's, port 6443 unless given.
  data["k8s-service-host"] = "192.168.1.10";
  run(data, kubelet, "https://192.168.1.10:6443");
  data["k8s-service-port"] = "8443";
  run(data, kubelet, "https://192.168.1.10:8443");
  data["k8s-service-host"] = "fd00:10::10";
  run(data, kubelet, "https://[fd00:10::10]:8443");

  // What the pod lacks, the agent says.
  std::string error;
  fs::remove(sa / "ca.crt");
  EXPECT_FALSE(kube::KubeConfig::inCluster(error, sa.string()));
  EXPECT_NE(error.find("ca.crt"), std::string::npos) << error;
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_FALSE(kube::KubeConfig::inCluster(error, sa.string()));
  EXPECT_NE(error.find("KUBERNETES_SERVICE_HOST"), std::string::npos) << error;
}

}  // namespace
}  // namespace sluice
