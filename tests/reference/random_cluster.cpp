// Random clusters as YAML, and random flows over a loaded cluster: see random_cluster.h.
#include "tests/reference/random_cluster.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "tests/reference/random_cluster_internal.h"

namespace sluice::reference {

uint64_t Rng::below(uint64_t n) {
  // Values at or above `limit` would make the last bucket short: draw again.
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - max % n;
  uint64_t x = engine_();
  while (x >= limit) x = engine_();
  return x % n;
}

namespace {

using namespace gen;

const Vocab kPodVocab = {{"app", {"a", "b", "c"}}, {"tier", {"web", "db"}}};
const Vocab kNamespaceVocab = {{"team", {"red", "blue"}}, {"env", {"prod", "dev"}}};
const std::vector<std::string> kNamespaceNames = {"x", "y", "z"};
const std::vector<std::string> kPortNames = {"http", "metrics", "dns"};
const std::vector<int> kContainerPorts = {80, 81, 8080, 53};
const std::vector<int> kPolicyPorts = {53, 80, 81, 8080, 9000};
const std::vector<std::string> kProtocols = {"TCP", "UDP", "SCTP"};

struct Gen {
  Rng rng;
  const RandomOptions& opt;
  std::vector<GenNode> nodes;
  std::vector<std::string> namespaces;
  std::vector<GenPod> pods;
  std::set<std::string> usedIPs;
  std::string out;

  Gen(uint64_t seed, const RandomOptions& o) : rng(seed), opt(o) {}

  void line(int indent, const std::string& text) { out += std::string(size_t(indent), ' ') + text + "\n"; }

  Labels randomLabels(const Vocab& vocab, int percent) {
    Labels l;
    for (const auto& [key, values] : vocab)
      if (rng.chance(percent)) l[key] = rng.pick(values);
    return l;
  }

  // 1 or 2 distinct values of `values` (In / NotIn need at least one).
  std::vector<std::string> someValues(const std::vector<std::string>& values) {
    std::vector<std::string> picked = {rng.pick(values)};
    if (values.size() > 1 && rng.chance(40)) {
      const std::string& second = rng.pick(values);
      if (second != picked[0]) picked.push_back(second);
    }
    return picked;
  }

  // A metav1.LabelSelector in flow style: {} / matchLabels / matchExpressions / both.
  std::string randomSelector(const Vocab& vocab) {
    int kind = rng.range(0, 9);
    if (kind <= 2) return "{}";
    std::vector<std::string> parts;
    if (kind <= 5 || kind == 9) {
      Labels ml;
      for (const auto& [key, values] : vocab)
        if (rng.chance(60)) ml[key] = rng.pick(values);
      if (ml.empty()) ml[vocab[0].first] = rng.pick(vocab[0].second);
      parts.push_back("matchLabels: " + flowMap(ml));
    }
    if (kind >= 6) {
      static const std::vector<std::string> ops = {"In", "NotIn", "Exists", "DoesNotExist"};
      std::vector<std::string> exprs;
      int n = rng.range(1, 2);
      for (int i = 0; i < n; ++i) {
        const auto& [key, values] = rng.pick(vocab);
        const std::string& op = rng.pick(ops);
        std::string e = "{key: " + key + ", operator: " + op;
        if (op == "In" || op == "NotIn") e += ", values: " + flowList(someValues(values));
        exprs.push_back(e + "}");
      }
      parts.push_back("matchExpressions: " + flowList(exprs));
    }
    std::string s;
    for (const auto& p : parts) s += (s.empty() ? "" : ", ") + p;
    return "{" + s + "}";
  }

  std::string freshIP(const std::string& prefix) {
    for (;;) {
      std::string ip = prefix + std::to_string(rng.range(2, 250));
      if (usedIPs.insert(ip).second) return ip;
    }
  }

  void makeNodes() {
    for (int i = 1; i <= 2; ++i) {
      GenNode n;
      n.index = i;
      n.name = "n" + std::to_string(i);
      n.ip = freshIP("192.168." + std::to_string(i) + ".");
      n.podCIDR = "10.244." + std::to_string(i) + ".0/24";
      nodes.push_back(n);
    }
    for (const GenNode& n : nodes) {
      line(0, "---");
      line(0, "apiVersion: v1");
      line(0, "kind: Node");
      line(0, "metadata:");
      line(2, "name: " + n.name);
      line(0, "spec:");
      line(2, "podCIDR: " + n.podCIDR);
      line(0, "status:");
      line(2, "addresses:");
      line(2, "- {type: InternalIP, address: " + n.ip + "}");
      line(2, "- {type: Hostname, address: " + n.name + "}");
    }
  }

  void makeNamespaces() {
    int count = rng.range(opt.minNamespaces, opt.maxNamespaces);
    for (int i = 0; i < count; ++i) namespaces.push_back(kNamespaceNames[size_t(i)]);
    for (size_t i = 0; i < namespaces.size(); ++i) {
      // An implicit namespace carries only kubernetes.io/metadata.name.
      if (opt.implicitNamespaces && i > 0 && rng.chance(10)) continue;
      line(0, "---");
      line(0, "apiVersion: v1");
      line(0, "kind: Namespace");
      line(0, "metadata:");
      line(2, "name: " + namespaces[i]);
      Labels labels = randomLabels(kNamespaceVocab, 60);
      if (!labels.empty()) line(2, "labels: " + flowMap(labels));
    }
  }

  std::vector<GenPort> randomPorts() {
    std::vector<GenPort> ports;
    std::set<std::string> names;
    std::set<std::pair<int, std::string>> numbers;  // (number, protocol) once per pod
    int n = rng.range(0, 3);
    for (int i = 0; i < n; ++i) {
      GenPort p;
      p.number = rng.pick(kContainerPorts);
      p.protocol = rng.chance(30) ? "" : rng.pick(kProtocols);
      if (!numbers.insert({p.number, p.protocol.empty() ? "TCP" : p.protocol}).second) continue;
      // Port names are unique within a container (API validation); keep them unique per pod.
      if (rng.chance(75)) {
        const std::string& name = rng.pick(kPortNames);
        if (names.insert(name).second) p.name = name;
      }
      ports.push_back(p);
    }
    if (ports.size() >= 2 && rng.chance(30)) ports.back().sidecar = true;
    return ports;
  }

  void makePods() {
    int count = rng.range(opt.minPods, opt.maxPods);
    std::set<std::string> keys;
    for (int i = 0; i < count; ++i) {
      GenPod p;
      p.ns = rng.pick(namespaces);
      for (char c = 'a';; ++c) {  // the first free letter in the namespace
        std::string name = c <= 'z' ? std::string(1, c) : "p" + std::to_string(i);
        if (keys.insert(p.ns + "/" + name).second) {
          p.name = name;
          break;
        }
      }
      p.node = &rng.pick(nodes);
      p.phase = "Running";
      int kind = i < 2 ? 99 : rng.range(0, 99);  // the first two are plain running pods
      if (opt.hostNetworkPods && kind < 12) {
        p.hostNetwork = true;
        p.ip = p.node->ip;  // a hostNetwork pod has its node's address
      } else if (opt.pendingPods && kind < 20) {
        p.phase = "Pending";
      } else if (opt.finishedPods && kind < 27) {
        p.finished = true;
        p.phase = rng.chance(50) ? "Succeeded" : "Failed";
        // A finished pod's IP may be reused by a live pod (allowed: it is no endpoint).
        std::vector<std::string> live;
        for (const GenPod& q : pods)
          if (!q.hostNetwork && !q.finished) live.push_back(q.ip);
        if (!live.empty() && rng.chance(50)) p.ip = rng.pick(live);
      }
      if (p.ip.empty()) p.ip = freshIP("10.244." + std::to_string(p.node->index) + ".");
      p.labels = randomLabels(kPodVocab, 70);
      p.ports = randomPorts();
      p.podIPs = rng.chance(30);
      // Drawn only for Cilium clusters, so NetworkPolicy-only ones keep their text.
      if (opt.ciliumPolicies && rng.chance(30)) p.serviceAccount = "robot";
      pods.push_back(std::move(p));
    }
    for (const GenPod& p : pods) writePod(p);
  }

  void writePod(const GenPod& p) {
    line(0, "---");
    line(0, "apiVersion: v1");
    line(0, "kind: Pod");
    line(0, "metadata:");
    line(2, "name: " + p.name);
    line(2, "namespace: " + p.ns);
    if (!p.labels.empty() || rng.chance(20)) line(2, "labels: " + flowMap(p.labels));
    line(0, "spec:");
    line(2, "nodeName: " + p.node->name);
    if (!p.serviceAccount.empty()) line(2, "serviceAccountName: " + p.serviceAccount);
    if (p.hostNetwork) line(2, "hostNetwork: true");
    line(2, "containers:");
    for (bool sidecar : {false, true}) {
      std::vector<const GenPort*> mine;
      for (const GenPort& port : p.ports)
        if (port.sidecar == sidecar) mine.push_back(&port);
      if (sidecar && mine.empty()) break;
      line(2, std::string("- name: ") + (sidecar ? "side" : "main"));
      line(4, "image: registry.k8s.io/e2e-test-images/agnhost:2.47");
      if (mine.empty()) continue;
      line(4, "ports:");
      for (const GenPort* port : mine) {
        line(4, "- containerPort: " + std::to_string(port->number));
        if (!port->name.empty()) line(6, "name: " + port->name);
        if (!port->protocol.empty()) line(6, "protocol: " + port->protocol);
      }
    }
    line(0, "status:");
    line(2, "phase: " + p.phase);
    line(2, "hostIP: " + p.node->ip);
    line(2, "podIP: " + p.ip);
    if (p.podIPs) line(2, "podIPs: [{ip: " + p.ip + "}]");
  }

  // ---- NetworkPolicies ----

  std::string randomIPBlock() {
    // Candidates: addresses and prefixes of this cluster and outside it.
    std::vector<std::string> cidrs = {"0.0.0.0/0", "10.244.0.0/16", "192.168.0.0/16", "203.0.113.0/24",
                                      "198.51.100.0/24"};
    std::vector<std::string> narrow = {"10.244.0.0/16", "203.0.113.5/32", "203.0.113.0/25", "10.244.3.0/24"};
    for (const GenNode& n : nodes) {
      cidrs.push_back(n.podCIDR);
      cidrs.push_back(n.ip + "/32");
      narrow.push_back(n.podCIDR);
      narrow.push_back(n.ip + "/32");
    }
    for (const GenPod& p : pods) {
      cidrs.push_back(p.ip + "/32");
      narrow.push_back(p.ip + "/32");
      narrow.push_back(p.ip + "/31");
    }
    std::string cidrText = rng.pick(cidrs);
    Cidr cidr = *Cidr::parse(cidrText);
    // except: strict subsets of cidr only (API validation), no repeats.
    std::vector<std::string> inside;
    for (const std::string& e : narrow) {
      Cidr c = *Cidr::parse(e);
      bool canonical = c.str() == e;  // no host bits (they would only add a warning)
      bool strictSubset = cidr.contains(c) && c.prefixLen > cidr.prefixLen;
      if (canonical && strictSubset && std::find(inside.begin(), inside.end(), e) == inside.end())
        inside.push_back(e);
    }
    std::vector<std::string> except;
    if (!inside.empty() && rng.chance(55)) {
      int n = rng.range(1, 2);
      for (int i = 0; i < n; ++i) {
        const std::string& e = rng.pick(inside);
        if (std::find(except.begin(), except.end(), e) == except.end()) except.push_back(e);
      }
    }
    std::string s = "{cidr: " + cidrText;
    if (!except.empty()) s += ", except: " + flowList(except);
    return s + "}";
  }

  void writePeer(int indent) {
    int kind = rng.range(0, 99);
    if (kind < 30) {
      line(indent, "- podSelector: " + randomSelector(kPodVocab));
    } else if (kind < 50) {
      line(indent, "- namespaceSelector: " + randomSelector(namespaceVocab()));
    } else if (kind < 70) {  // both in one peer: AND'd
      line(indent, "- namespaceSelector: " + randomSelector(namespaceVocab()));
      line(indent + 2, "podSelector: " + randomSelector(kPodVocab));
    } else {
      line(indent, "- ipBlock: " + randomIPBlock());
    }
  }

  Vocab namespaceVocab() const {
    Vocab v = kNamespaceVocab;
    v.push_back({"kubernetes.io/metadata.name", kNamespaceNames});
    return v;
  }

  std::string randomPort() {
    std::vector<std::string> fields;
    if (!rng.chance(25)) fields.push_back("protocol: " + rng.pick(kProtocols));
    int kind = rng.range(0, 99);
    if (kind < 15) {
      // no port: every port of the protocol
    } else if (kind < 55) {
      fields.push_back("port: " + std::to_string(rng.pick(kPolicyPorts)));
    } else if (kind < 70) {
      int first = rng.pick(std::vector<int>{53, 80, 81, 8080});
      std::vector<int> ends;
      for (int e : {first, first + 1, 81, 8080, 9000, 65535})
        if (e >= first) ends.push_back(e);
      fields.push_back("port: " + std::to_string(first));
      fields.push_back("endPort: " + std::to_string(rng.pick(ends)));
    } else {
      std::vector<std::string> names = kPortNames;
      names.push_back("nope");  // a name no pod has
      fields.push_back("port: " + rng.pick(names));
    }
    std::string s;
    for (const auto& f : fields) s += (s.empty() ? "" : ", ") + f;
    return "{" + s + "}";
  }

  void writeRule(const char* peersKey) {
    int peerKind = rng.range(0, 99);  // <15 absent, <22 [], else items
    int portKind = rng.range(0, 99);  // <25 absent, <30 [], else items
    if (peerKind < 15 && portKind < 25) {
      line(2, "- {}");
      return;
    }
    bool first = true;
    auto key = [&](const std::string& text) {
      line(first ? 2 : 4, (first ? "- " : "") + text);
      first = false;
    };
    if (peerKind >= 15 && peerKind < 22) key(std::string(peersKey) + ": []");
    if (peerKind >= 22) {
      key(std::string(peersKey) + ":");
      int n = rng.range(1, opt.maxPeers);
      for (int i = 0; i < n; ++i) writePeer(4);
    }
    if (portKind >= 25 && portKind < 30) key("ports: []");
    if (portKind >= 30) {
      key("ports:");
      int n = rng.range(1, opt.maxPorts);
      for (int i = 0; i < n; ++i) line(4, "- " + randomPort());
    }
  }

  // `ingress`/`egress`: absent, [], [{}] or rules.
  void writeSection(const char* section, const char* peersKey) {
    int kind = rng.range(0, 99);
    if (kind < 25) return;
    if (kind < 35) {
      line(2, std::string(section) + ": []");
    } else if (kind < 43) {
      line(2, std::string(section) + ": [{}]");
    } else {
      line(2, std::string(section) + ":");
      int n = rng.range(1, opt.maxRules);
      for (int i = 0; i < n; ++i) writeRule(peersKey);
    }
  }

  void makePolicies() {
    // Mostly some policies: a cluster without any only says "allow".
    int count = opt.maxPolicies == 0 || rng.chance(10) ? 0 : rng.range(1, opt.maxPolicies);
    for (int i = 0; i < count; ++i) {
      line(0, "---");
      line(0, "apiVersion: networking.k8s.io/v1");
      line(0, "kind: NetworkPolicy");
      line(0, "metadata:");
      line(2, "name: p" + std::to_string(i));
      line(2, "namespace: " + rng.pick(namespaces));
      const size_t specAt = out.size();
      line(0, "spec:");
      if (!rng.chance(8)) line(2, "podSelector: " + randomSelector(kPodVocab));  // absent: all pods, warned
      int types = rng.range(0, 99);
      if (types < 40) {
        // absent: Ingress, plus Egress when there is an egress section
      } else if (types < 55) {
        line(2, "policyTypes: [Ingress]");
      } else if (types < 70) {
        line(2, "policyTypes: [Egress]");
      } else if (types < 90) {
        line(2, "policyTypes: [Ingress, Egress]");
      } else if (types < 95) {
        line(2, "policyTypes:");  // block style, other order
        line(2, "- Egress");
        line(2, "- Ingress");
      } else {
        line(2, "policyTypes: []");  // empty = unset: defaulted like absent
      }
      writeSection("ingress", "from");
      writeSection("egress", "to");
      if (out.size() == specAt + 6) {  // nothing under `spec:` would read as null
        out.resize(specAt);
        line(0, "spec: {}");
      }
    }
  }
};

}  // namespace

std::string randomClusterYaml(uint64_t seed, const RandomOptions& options) {
  Gen g(seed, options);
  g.line(0, "# sluice random cluster, seed " + std::to_string(seed));
  g.makeNodes();
  g.makeNamespaces();
  g.makePods();
  g.makePolicies();
  if (options.ciliumPolicies) {
    CiliumInput in{g.rng, options, g.nodes, g.namespaces, g.pods, g.out};
    writeCiliumPart(in);
  }
  return g.out;
}

std::vector<Flow> randomFlows(const ClusterState& state, uint64_t seed, size_t n, const FlowOptions& options) {
  Rng rng(seed);
  std::vector<const Pod*> pods;
  for (const Pod& p : state.pods)
    if (isPolicyEndpoint(p) && podEndpoint(p).ip.isV4() && podEndpoint(p).ip != IpAddr{}) pods.push_back(&p);
  std::vector<Flow> flows;
  if (pods.empty()) return flows;

  std::vector<IpAddr> addresses;
  for (const char* a : {"203.0.113.5", "203.0.113.77", "198.51.100.7", "10.244.3.9"})
    addresses.push_back(*IpAddr::parse(a));
  for (const Node& node : state.nodes)
    for (const IpAddr& ip : node.ips)
      if (ip.isV4()) addresses.push_back(ip);
  if (options.finishedPodAddresses)
    for (const Pod& p : state.pods)
      if ((p.phase == PodPhase::Succeeded || p.phase == PodPhase::Failed) && !p.ips.empty() && p.ips[0].isV4() &&
          endpointForAddress(state, p.ips[0]).pod == nullptr &&
          std::find(addresses.begin(), addresses.end(), p.ips[0]) == addresses.end())
        addresses.push_back(p.ips[0]);

  static const std::vector<Protocol> protocols = {Protocol::TCP, Protocol::UDP, Protocol::SCTP};
  static const std::vector<uint16_t> ports = {53, 80, 81, 8080, 9000};
  flows.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    Flow f;
    f.proto = rng.pick(protocols);
    f.port = rng.pick(ports);
    const Pod* a = rng.pick(pods);
    if (rng.chance(options.outsidePercent)) {
      Endpoint other = addressEndpoint(rng.pick(addresses));
      if (rng.chance(50)) {
        f.from = podEndpoint(*a);
        f.to = other;
      } else {
        f.from = other;
        f.to = podEndpoint(*a);
      }
    } else {
      // Pod to itself only now and then (options.selfFlows).
      const Pod* b = rng.pick(pods);
      bool self = pods.size() == 1 || (options.selfFlows && rng.chance(5));
      while (!self && b == a) b = rng.pick(pods);
      if (self) b = a;
      f.from = podEndpoint(*a);
      f.to = podEndpoint(*b);
    }
    // Often a port the destination pod serves, with its protocol, so that
    // named ports and container ports meet the policies' ports.
    if (f.to.pod != nullptr && !f.to.pod->ports.empty() && rng.chance(options.servedPortPercent)) {
      const ContainerPort& cp = rng.pick(f.to.pod->ports);
      f.port = cp.port;
      f.proto = cp.protocol;
    }
    // An echo request opens an ICMP "connection" (the datapath tracks it by id).
    if (options.icmpPercent > 0 && rng.chance(options.icmpPercent)) {
      f.icmp = true;
      f.icmpType = 8;
    }
    flows.push_back(f);
  }
  return flows;
}

}  // namespace sluice::reference
