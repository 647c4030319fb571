// The Cilium part of random clusters (RandomOptions::ciliumPolicies): Services
// with their EndpointSlices or legacy Endpoints, and CiliumNetworkPolicies /
// CiliumClusterwideNetworkPolicies mixing every L3/L4 corner the frontend
// accepts. Draws go through Rng only (see random_cluster.h).
//
// What the frontend refuses, and so is never written here
// (frontend/parse_cilium_policy.cpp): two L3 kinds in one peer rule
// (endpoints, CIDR, CIDRSet, entities, services), toPorts with icmps in one
// rule, toServices in ingress, a port entry without `port`, endPort with a
// named port or port 0 or below port, an `except` outside its cidr, unknown
// entities, nodeSelector (host policies), FQDN/L7/requires fields.
#include <algorithm>
#include <set>

#include "tests/reference/random_cluster_internal.h"

namespace sluice::reference::gen {
namespace {

const std::vector<int> kPorts = {53, 80, 81, 8080, 9000};
const std::vector<std::string> kNamedPorts = {"http", "metrics", "dns", "nope"};
const std::vector<std::string> kEntities = {"world", "world", "cluster", "cluster", "host", "host", "remote-node",
                                            "all", "kube-apiserver", "kube-apiserver", "health", "init",
                                            "unmanaged", "ingress", "none"};
// Cilium sees these keys on a pod (the reference's podCiliumLabels).
const Vocab kCiliumVocab = {{"app", {"a", "b", "c"}},
                            {"tier", {"web", "db"}},
                            {"io.kubernetes.pod.namespace", {"x", "y", "z"}},
                            {"io.cilium.k8s.namespace.labels.team", {"red", "blue"}},
                            {"io.cilium.k8s.policy.serviceaccount", {"default", "robot"}},
                            {"io.cilium.k8s.policy.cluster", {"default", "other"}}};

struct GenService {
  std::string ns, name;
  bool hasSelector = false;
};

struct CiliumGen {
  CiliumInput& in;
  std::vector<GenService> services;

  void line(int indent, const std::string& text) { in.out += std::string(size_t(indent), ' ') + text + "\n"; }
  bool chance(int percent) { return in.rng.chance(percent); }
  int range(int lo, int hi) { return in.rng.range(lo, hi); }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return in.rng.pick(v); }

  // ---- Services ----

  // Addresses for a selectorless service: outside, inside the pod range
  // without a pod, a node, a live pod.
  std::vector<std::string> manualAddresses() {
    std::vector<std::string> candidates = {"203.0.113.5", "198.51.100.7", "10.244.3.9"};
    for (const GenNode& n : in.nodes) candidates.push_back(n.ip);
    for (const GenPod& p : in.pods)
      if (!p.finished && !p.hostNetwork) candidates.push_back(p.ip);
    std::vector<std::string> out;
    int n = range(1, 2);
    for (int i = 0; i < n; ++i) {
      const std::string& a = pick(candidates);
      if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
    }
    return out;
  }

  // One Service, and its endpoints as a slice, as legacy Endpoints, or none.
  void service(const std::string& ns, const std::string& name, const std::string& clusterIP, const Labels& labels,
               const Labels& selector, std::vector<std::string> addresses, int endpointsKind) {
    line(0, "---");
    line(0, "apiVersion: v1");
    line(0, "kind: Service");
    line(0, "metadata: {name: " + name + ", namespace: " + ns + (labels.empty() ? "" : ", labels: " + flowMap(labels)) +
                "}");
    line(0, "spec:");
    line(2, "clusterIP: " + clusterIP);
    line(2, "ports: [{port: 80, protocol: TCP}]");
    if (!selector.empty()) line(2, "selector: " + flowMap(selector));
    if (endpointsKind == 0) return;  // no endpoints object (yet)
    if (endpointsKind == 1) {
      line(0, "---");
      line(0, "apiVersion: discovery.k8s.io/v1");
      line(0, "kind: EndpointSlice");
      line(0, "metadata: {name: " + name + "-1, namespace: " + ns + ", labels: {kubernetes.io/service-name: " + name +
                  "}}");
      line(0, "addressType: IPv4");
      line(0, "ports: [{port: 80, protocol: TCP}]");
      if (addresses.empty()) {
        line(0, "endpoints: []");
        return;
      }
      line(0, "endpoints:");
      for (const std::string& a : addresses) line(0, "- {addresses: [" + a + "], conditions: {ready: true}}");
      return;
    }
    line(0, "---");
    line(0, "apiVersion: v1");
    line(0, "kind: Endpoints");
    line(0, "metadata: {name: " + name + ", namespace: " + ns + "}");
    if (addresses.empty()) return;
    line(0, "subsets:");
    std::vector<std::string> items;
    for (const std::string& a : addresses) items.push_back("{ip: " + a + "}");
    line(0, "- addresses: " + flowList(items));
    line(2, "ports: [{port: 80, protocol: TCP}]");
  }

  void makeServices() {
    int n = range(1, 3);
    for (int i = 0; i < n; ++i) {
      GenService s{pick(in.namespaces), "s" + std::to_string(i), chance(60)};
      Labels labels;
      if (chance(80)) labels["svc"] = pick(std::vector<std::string>{"web", "db"});
      Labels selector;
      std::vector<std::string> addresses;
      int endpointsKind = 1;
      if (s.hasSelector) {
        selector[chance(60) ? "app" : "tier"] = "";
        if (selector.count("app")) selector["app"] = pick(std::vector<std::string>{"a", "b", "c"});
        if (selector.count("tier")) selector["tier"] = pick(std::vector<std::string>{"web", "db"});
        // The slice the EndpointSlice controller writes: every pod of the
        // namespace the selector matches that has an IP and has not finished
        // (hostNetwork pods too, with the node's address).
        for (const GenPod& p : in.pods) {
          bool match = p.ns == s.ns && !p.finished;
          for (const auto& [k, v] : selector) match = match && p.labels.count(k) && p.labels.at(k) == v;
          if (match) addresses.push_back(p.ip);
        }
        // Sometimes the controller lags: no slice yet, or one pod missing.
        int lag = range(0, 99);
        if (lag < 8) endpointsKind = 0;
        else if (lag < 16 && !addresses.empty()) addresses.pop_back();
      } else {
        addresses = manualAddresses();
        endpointsKind = chance(25) ? 2 : 1;
      }
      service(s.ns, s.name, "10.96.0." + std::to_string(10 + i), labels, selector, addresses, endpointsKind);
      services.push_back(s);
    }
    // A selectorless service in front of an outside address (SEMANTICS: its
    // endpoints are matched by address, here a world one).
    const std::string& ns = pick(in.namespaces);
    service(ns, "ext", "10.96.0.20", Labels{{"svc", "ext"}}, {}, {"203.0.113.77"}, chance(20) ? 2 : 1);
    services.push_back({ns, "ext", false});
    // default/kubernetes, its endpoint a node's address (kube-apiserver entity).
    if (chance(70)) {
      const GenNode& node = pick(in.nodes);
      service("default", "kubernetes", "10.96.0.1", Labels{{"component", "apiserver"}}, {}, {node.ip},
              chance(25) ? 2 : 1);
      services.push_back({"default", "kubernetes", false});
    }
  }

  // ---- selectors ----

  // A Cilium label key: bare, or with the k8s: / any: source.
  std::string sourced(const std::string& key) {
    int k = range(0, 99);
    std::string prefix = k < 60 ? "" : k < 85 ? "k8s:" : "any:";
    return "\"" + prefix + key + "\"";
  }

  // Keys weighted toward pod labels; the namespace key sometimes (it lifts a
  // CNP selector out of its namespace), namespace labels, service accounts.
  const std::pair<std::string, std::vector<std::string>>& someKey() {
    int k = range(0, 99);
    return kCiliumVocab[k < 30 ? 0 : k < 46 ? 1 : k < 64 ? 2 : k < 80 ? 3 : k < 94 ? 4 : 5];
  }

  // `peer`: a fromEndpoints/toEndpoints item (may name a reserved identity);
  // otherwise an endpointSelector.
  std::string selector(bool peer) {
    int kind = range(0, 99);
    if (kind < 14) return "{}";
    if (peer && kind < 26) {
      std::string name = pick(std::vector<std::string>{"host", "host", "remote-node", "world"});
      return "{matchLabels: {\"reserved:" + name + "\": \"\"}}";
    }
    if (!peer && kind < 18) return "{matchLabels: {\"reserved:host\": \"\"}}";  // selects no pod
    std::vector<std::string> parts;
    std::set<std::string> keys;
    if (kind < 75) {
      std::vector<std::string> ml;
      int n = range(1, 2);
      for (int i = 0; i < n; ++i) {
        const auto& [key, values] = someKey();
        if (keys.insert(key).second) ml.push_back(sourced(key) + ": " + pick(values));
      }
      parts.push_back("matchLabels: " + std::string("{") + [&] {
        std::string s;
        for (const auto& m : ml) s += (s.empty() ? "" : ", ") + m;
        return s;
      }() + "}");
    }
    if (kind >= 60) {
      static const std::vector<std::string> ops = {"In", "NotIn", "Exists", "DoesNotExist"};
      std::vector<std::string> exprs;
      int n = range(1, 2);
      for (int i = 0; i < n; ++i) {
        const auto& [key, values] = someKey();
        if (!keys.insert(key).second) continue;
        const std::string& op = pick(ops);
        std::string e = "{key: " + sourced(key) + ", operator: " + op;
        if (op == "In" || op == "NotIn") {
          std::vector<std::string> vs = {pick(values)};
          const std::string& second = pick(values);
          if (chance(40) && second != vs[0]) vs.push_back(second);
          e += ", values: " + flowList(vs);
        }
        exprs.push_back(e + "}");
      }
      if (!exprs.empty()) parts.push_back("matchExpressions: " + flowList(exprs));
    }
    if (parts.empty()) return "{}";
    std::string s;
    for (const auto& p : parts) s += (s.empty() ? "" : ", ") + p;
    return "{" + s + "}";
  }

  // ---- L3 ----

  std::vector<std::string> cidrCandidates() {
    std::vector<std::string> c = {"0.0.0.0/0",      "10.244.0.0/16",   "192.168.0.0/16", "203.0.113.0/24",
                                  "203.0.113.77/32", "198.51.100.0/24", "10.244.3.0/24"};
    for (const GenNode& n : in.nodes) {
      c.push_back(n.podCIDR);
      c.push_back(n.ip + "/32");
    }
    for (const GenPod& p : in.pods) c.push_back(p.ip + "/32");
    return c;
  }

  std::string cidrSet() {
    std::string cidrText = pick(cidrCandidates());
    Cidr cidr = *Cidr::parse(cidrText);
    std::vector<std::string> narrow = {"10.244.0.0/16", "203.0.113.5/32", "203.0.113.77/32", "203.0.113.0/25",
                                       "198.51.100.7/32", "10.244.3.9/32", "10.244.3.0/24"};
    for (const GenNode& n : in.nodes) {
      narrow.push_back(n.podCIDR);
      narrow.push_back(n.ip + "/32");
    }
    for (const GenPod& p : in.pods) narrow.push_back(p.ip + "/32");
    std::vector<std::string> inside;  // strict subsets (the parser requires inside), once each
    for (const std::string& e : narrow) {
      Cidr c = *Cidr::parse(e);
      if (cidr.contains(c) && c.prefixLen > cidr.prefixLen &&
          std::find(inside.begin(), inside.end(), e) == inside.end())
        inside.push_back(e);
    }
    std::vector<std::string> except;
    if (!inside.empty() && chance(55)) {
      int n = range(1, 2);
      for (int i = 0; i < n; ++i) {
        const std::string& e = pick(inside);
        if (std::find(except.begin(), except.end(), e) == except.end()) except.push_back(e);
      }
    }
    return "{cidr: " + cidrText + (except.empty() ? "" : ", except: " + flowList(except)) + "}";
  }

  std::string serviceRef() {
    std::vector<std::string> fields;
    if (chance(55)) {
      std::vector<std::string> names = {"nosvc"};
      for (const GenService& s : services) names.push_back(s.name);
      std::string name = pick(names);
      fields.push_back("serviceName: " + name);
      // Often the service's own namespace, sometimes another, sometimes none.
      std::string ns;
      for (const GenService& s : services)
        if (s.name == name) ns = s.ns;
      int k = range(0, 99);
      if (k < 55 && !ns.empty()) fields.push_back("namespace: " + ns);
      else if (k < 70) fields.push_back("namespace: " + pick(in.namespaces));
      return "{k8sService: {" + fields[0] + (fields.size() > 1 ? ", " + fields[1] : "") + "}}";
    }
    std::string sel = "{matchLabels: {" + sourced("svc") + ": " +
                      pick(std::vector<std::string>{"web", "db", "ext"}) + "}}";
    if (chance(15)) sel = "{}";
    std::string ns = chance(40) ? ", namespace: " + pick(in.namespaces) : "";
    return "{k8sServiceSelector: {selector: " + sel + ns + "}}";
  }

  // ---- L4 ----

  std::string portEntry() {
    std::vector<std::string> fields;
    int kind = range(0, 99);
    if (kind < 12) {
      fields.push_back("port: \"0\"");
    } else if (kind < 55) {
      fields.push_back("port: \"" + std::to_string(pick(kPorts)) + "\"");
    } else if (kind < 70) {
      int first = pick(std::vector<int>{53, 80, 81, 8080});
      std::vector<int> ends;
      for (int e : {first, first + 1, 81, 8080, 9000, 65535})
        if (e >= first) ends.push_back(e);
      fields.push_back("port: \"" + std::to_string(first) + "\"");
      fields.push_back("endPort: " + std::to_string(pick(ends)));
    } else {
      fields.push_back("port: " + pick(kNamedPorts));
    }
    int proto = range(0, 99);
    if (proto < 55) fields.push_back("protocol: " + pick(std::vector<std::string>{"TCP", "UDP", "SCTP"}));
    else if (proto < 75) fields.push_back("protocol: ANY");
    std::string s;
    for (const auto& f : fields) s += (s.empty() ? "" : ", ") + f;
    return "{" + s + "}";
  }

  std::string toPorts() {
    std::vector<std::string> items;
    int n = range(1, 2);
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> ports;
      int m = range(1, 3);
      for (int j = 0; j < m; ++j) ports.push_back(portEntry());
      items.push_back("{ports: " + flowList(ports) + "}");
    }
    return flowList(items);
  }

  std::string icmps() {
    std::vector<std::string> fields;
    int n = range(1, 2);
    for (int i = 0; i < n; ++i) {
      int k = range(0, 99);
      std::string type = k < 55 ? "8" : k < 75 ? "EchoRequest" : k < 90 ? "0" : "13";
      fields.push_back("{type: " + type + (chance(40) ? ", family: IPv4" : "") + "}");
    }
    return "[{fields: " + flowList(fields) + "}]";
  }

  // ---- rules ----

  void peerRule(int indent, bool ingress) {
    const std::string p = ingress ? "from" : "to";
    std::vector<std::string> keys;
    int l3 = range(0, 99);
    if (l3 < 14) {
      // no L3 field: every peer when there are ports, nothing otherwise
    } else if (l3 < 17) {
      // An L3 list given empty selects no peer, even with toPorts.
      keys.push_back(p + pick(std::vector<std::string>{"Endpoints", "Endpoints", "CIDR", "CIDRSet", "Entities"}) +
                     ": []");
    } else if (l3 < 42) {
      std::vector<std::string> sels;
      if (chance(20)) sels.push_back("{}");
      int n = range(1, 2);
      for (int i = 0; i < n; ++i) sels.push_back(selector(true));
      keys.push_back(p + "Endpoints: " + flowList(sels));
    } else if (l3 < 62) {
      std::vector<std::string> names;
      int n = range(1, 2);
      for (int i = 0; i < n; ++i) names.push_back(pick(kEntities));
      keys.push_back(p + "Entities: " + flowList(names));
    } else if (l3 < 72) {
      std::vector<std::string> cidrs;
      int n = range(1, 2);
      for (int i = 0; i < n; ++i) {
        std::string c = pick(cidrCandidates());
        if (c.ends_with("/32") && chance(40)) c.resize(c.size() - 3);  // a bare IP is a host prefix
        cidrs.push_back(c);
      }
      keys.push_back(p + "CIDR: " + flowList(cidrs));
    } else if (l3 < 84 || ingress) {
      std::vector<std::string> sets;
      int n = range(1, 2);
      for (int i = 0; i < n; ++i) sets.push_back(cidrSet());
      keys.push_back(p + "CIDRSet: " + flowList(sets));
    } else {
      std::vector<std::string> refs;
      int n = range(1, 2);
      for (int i = 0; i < n; ++i) refs.push_back(serviceRef());
      keys.push_back("toServices: " + flowList(refs));
    }
    int l4 = range(0, 99);
    bool services = !keys.empty() && keys[0].starts_with("toServices");  // Cilium refuses toServices + toPorts
    if (l4 >= 40 && l4 < 85 && !services) keys.push_back("toPorts: " + toPorts());
    if (l4 >= 85) keys.push_back("icmps: " + icmps());
    if (keys.empty()) {
      line(indent, "- {}");  // admits nothing, still isolates
      return;
    }
    for (size_t i = 0; i < keys.size(); ++i) line(indent + (i ? 2 : 0), (i ? "" : "- ") + keys[i]);
  }

  // One rule (spec, or an item of specs) at `indent`; `lead` is "" or "- ".
  void rule(int indent, const std::string& lead) {
    line(indent, lead + "endpointSelector: " + selector(false));
    const int in2 = indent + int(lead.size());
    for (const char* section : {"ingress", "ingressDeny", "egress", "egressDeny"}) {
      bool deny = std::string(section).ends_with("Deny");
      int k = range(0, 99);
      if (k < (deny ? 70 : 40)) continue;
      if (k < (deny ? 75 : 47)) {
        line(in2, std::string(section) + ": []");  // does nothing
        continue;
      }
      line(in2, std::string(section) + ":");
      int n = range(1, in.opt.maxCiliumRules);
      for (int i = 0; i < n; ++i) peerRule(in2, section[0] == 'i');
    }
    int dd = range(0, 99);
    if (dd < 6) line(in2, "enableDefaultDeny: {ingress: false}");
    else if (dd < 12) line(in2, "enableDefaultDeny: {egress: false}");
    else if (dd < 15) line(in2, "enableDefaultDeny: {ingress: false, egress: false}");
    else if (dd < 18) line(in2, "enableDefaultDeny: {ingress: true, egress: true}");
  }

  void makePolicies() {
    int count = chance(5) ? 0 : range(1, in.opt.maxCiliumPolicies);
    for (int i = 0; i < count; ++i) {
      bool clusterwide = chance(35);
      line(0, "---");
      line(0, "apiVersion: cilium.io/v2");
      line(0, clusterwide ? "kind: CiliumClusterwideNetworkPolicy" : "kind: CiliumNetworkPolicy");
      line(0, "metadata:");
      line(2, "name: c" + std::to_string(i));
      if (!clusterwide) line(2, "namespace: " + pick(in.namespaces));
      if (chance(25)) {
        line(0, "specs:");
        int n = range(1, 2);
        for (int j = 0; j < n; ++j) rule(0, "- ");
      } else {
        line(0, "spec:");
        rule(2, "");
      }
    }
  }
};

}  // namespace

void writeCiliumPart(CiliumInput& in) {
  CiliumGen g{in, {}};
  g.makeServices();  // first, so that policies can name them
  g.makePolicies();
}

}  // namespace sluice::reference::gen

namespace sluice::reference {

RandomOptions ciliumRandomOptions() {
  RandomOptions o;
  o.ciliumPolicies = true;
  o.maxPolicies = 2;  // NetworkPolicies too (allows add up, deny wins over them), fewer
  o.maxPods = 6;      // each endpoint is two programs to compile: keep clusters quick to build
  return o;
}

FlowOptions ciliumFlowOptions() {
  FlowOptions o;
  o.outsidePercent = 35;  // entities and CIDR rules are about addresses
  o.icmpPercent = 10;
  o.finishedPodAddresses = true;
  return o;
}

}  // namespace sluice::reference
