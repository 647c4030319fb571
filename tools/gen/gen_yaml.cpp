// Writes a ClusterPlan as manifests, the way the API server would return them
// (kubectl get -o yaml, trimmed to the fields networking depends on), and adds
// the NetworkPolicies and CiliumNetworkPolicies.
#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "tools/gen/cluster_generator.h"
#include "tools/gen/gen_model.h"

namespace sluice::gen {
namespace {

using Out = std::string;
using LabelList = std::vector<std::pair<std::string, std::string>>;

template <class... Args>
void put(Out& out, fmt::format_string<Args...> format, Args&&... args) {
  fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
}

// Plain scalars YAML would read as a number or a boolean are quoted, so that
// a pod-template-hash like 5678924567 stays a string.
std::string scalar(const std::string& s) {
  bool digits = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  static const std::set<std::string> kSpecial = {"", "true", "false", "yes", "no", "on", "off", "null", "y", "n"};
  return digits || kSpecial.count(s) ? "\"" + s + "\"" : s;
}

void putLabels(Out& out, const LabelList& labels, int indent) {
  for (const auto& [key, value] : labels) put(out, "{:{}}{}: {}\n", "", indent, key, scalar(value));
}

std::string podCidr(const NodeRec& n) { return fmt::format("{}/{}", ipText(n.podCidrBase), n.podCidrPrefix); }

void writeNode(Out& out, const NodeRec& n) {
  put(out,
      "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {0}\n  labels:\n    kubernetes.io/hostname: {0}\n"
      "    kubernetes.io/os: linux\n    kubernetes.io/arch: amd64\n    node.kubernetes.io/instance-type: m6i.2xlarge\n"
      "    topology.kubernetes.io/region: eu-central-1\n    topology.kubernetes.io/zone: {1}\n"
      "spec:\n  podCIDR: {2}\n  podCIDRs: [{2}]\nstatus:\n  addresses:\n  - type: InternalIP\n    address: {3}\n"
      "  - type: Hostname\n    address: {0}\n",
      n.name, n.zone, podCidr(n), ipText(n.ip));
}

void writeNamespace(Out& out, const NamespaceRec& ns) {
  put(out, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {0}\n  labels:\n    kubernetes.io/metadata.name: {0}\n",
      ns.name);
  if (!ns.team.empty()) put(out, "    team: {}\n", ns.team);
  if (!ns.env.empty()) put(out, "    env: {}\n", ns.env);
  if (ns.pci) put(out, "    compliance: pci\n");
}

LabelList podLabels(const Workload& w, const PodRec& p) {
  LabelList labels = w.selector;
  if (w.kind == WorkloadKind::DaemonSet) {
    labels.push_back({"controller-revision-hash", w.templateHash});
    labels.push_back({"pod-template-generation", "1"});
    return labels;
  }
  if (w.tier != Tier::System) {
    labels.push_back({"tier", tierName(w.tier)});
    if (w.recommendedLabels) labels.push_back({"app.kubernetes.io/component", tierName(w.tier)});
  }
  if (!w.version.empty()) labels.push_back({"version", w.version});
  if (w.kind == WorkloadKind::StatefulSet) {
    labels.push_back({"controller-revision-hash", w.name + "-" + w.templateHash});
    labels.push_back({"statefulset.kubernetes.io/pod-name", p.name});
  } else {
    labels.push_back({"pod-template-hash", w.templateHash});
  }
  return labels;
}

void writePod(Out& out, const ClusterPlan& plan, const PodRec& p) {
  const Workload& w = plan.workloads[size_t(p.workload)];
  const NamespaceRec& ns = plan.namespaces[size_t(w.ns)];
  put(out, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {}\n  namespace: {}\n  labels:\n", p.name, ns.name);
  putLabels(out, podLabels(w, p), 4);
  put(out, "spec:\n");
  if (p.node >= 0) put(out, "  nodeName: {}\n", plan.nodes[size_t(p.node)].name);
  if (w.hostNetwork) put(out, "  hostNetwork: true\n");
  put(out, "  serviceAccountName: {}\n  containers:\n  - name: {}\n    image: registry.example.com/{}/{}:1.{}.0\n    ports:\n",
      w.name, w.name, ns.name, w.name, w.templateHash.size());
  for (const PortSpec& port : w.ports)
    put(out, "    - name: {}\n      containerPort: {}\n      protocol: {}\n", port.name, port.number, port.protocol);
  if (p.node < 0) {
    put(out, "status:\n  phase: Pending\n  conditions:\n  - type: PodScheduled\n    status: \"False\"\n    reason: Unschedulable\n");
    return;
  }
  const std::string podIP = ipText(p.ip);
  put(out, "status:\n  phase: Running\n  conditions:\n  - type: Ready\n    status: \"{}\"\n  hostIP: {}\n  podIP: {}\n  podIPs:\n  - ip: {}\n",
      p.ready ? "True" : "False", ipText(plan.nodes[size_t(p.node)].ip), podIP, podIP);
}

void writeService(Out& out, const ClusterPlan& plan, const ServiceRec& s) {
  put(out, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {}\n  namespace: {}\n  labels:\n", s.name,
      plan.namespaces[size_t(s.ns)].name);
  putLabels(out, s.labels, 4);
  put(out, "spec:\n");
  if (s.kind == ServiceKind::NodePort) put(out, "  type: NodePort\n");
  if (s.kind == ServiceKind::Headless) put(out, "  clusterIP: None\n  clusterIPs: [None]\n");
  else put(out, "  clusterIP: {0}\n  clusterIPs: [{0}]\n", ipText(s.clusterIP));
  if (s.workload >= 0) {
    put(out, "  selector:\n");
    putLabels(out, plan.workloads[size_t(s.workload)].selector, 4);
  }
  put(out, "  ports:\n");
  for (const ServicePortRec& p : s.ports) {
    put(out, "  - name: {}\n    protocol: {}\n    port: {}\n", p.name, p.protocol, p.port);
    if (p.targetName.empty()) put(out, "    targetPort: {}\n", p.targetNumber);
    else put(out, "    targetPort: {}\n", p.targetName);
    if (p.nodePort) put(out, "    nodePort: {}\n", p.nodePort);
  }
}

void writeSliceHeader(Out& out, const std::string& name, const std::string& ns, const ServiceRec& s, bool managed) {
  put(out, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {}\n  namespace: {}\n  labels:\n"
           "    kubernetes.io/service-name: {}\n", name, ns, s.name);
  if (managed) put(out, "    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io\n");
  put(out, "addressType: IPv4\nendpoints:\n");
}

void writeSlicePorts(Out& out, const ServiceRec& s) {
  put(out, "ports:\n");
  for (const ServicePortRec& p : s.ports) put(out, "- name: {}\n  protocol: {}\n  port: {}\n", p.name, p.protocol, p.targetNumber);
}

// The EndpointSlice controller's view: every scheduled pod the service
// selects, at most 100 endpoints per slice, readiness from the pod.
int writeEndpointSlices(Out& out, Rng& rng, const ClusterPlan& plan, const ServiceRec& s, std::set<std::string>& sliceNames) {
  const std::string& ns = plan.namespaces[size_t(s.ns)].name;
  if (s.workload < 0) {  // hand-written, pointing outside the cluster
    writeSliceHeader(out, s.name, ns, s, false);
    for (uint32_t ip : s.externalAddresses) put(out, "- addresses: [{}]\n  conditions:\n    ready: true\n", ipText(ip));
    writeSlicePorts(out, s);
    sliceNames.insert(s.name);
    return 1;
  }
  std::vector<const PodRec*> endpoints;
  for (int podIndex : plan.workloads[size_t(s.workload)].pods)
    if (plan.pods[size_t(podIndex)].ip != 0) endpoints.push_back(&plan.pods[size_t(podIndex)]);
  int slices = 0;
  for (size_t first = 0; first < endpoints.size(); first += 100, ++slices) {
    std::string name;
    do name = s.name + "-" + rng.suffix(5); while (!sliceNames.insert(name).second);
    writeSliceHeader(out, name, ns, s, true);
    for (size_t i = first; i < std::min(endpoints.size(), first + 100); ++i) {
      const PodRec& p = *endpoints[i];
      const NodeRec& node = plan.nodes[size_t(p.node)];
      const char* ready = p.ready ? "true" : "false";
      put(out, "- addresses: [{}]\n  conditions:\n    ready: {}\n    serving: {}\n    terminating: false\n  nodeName: {}\n"
               "  zone: {}\n  targetRef:\n    kind: Pod\n    name: {}\n    namespace: {}\n",
          ipText(p.ip), ready, ready, node.name, node.zone, p.name, ns);
    }
    writeSlicePorts(out, s);
  }
  return slices;
}

// ---- NetworkPolicy -------------------------------------------------------

void putMatchLabels(Out& out, const LabelList& labels, int indent) {
  if (labels.empty()) { put(out, "{:{}}{{}}\n", "", indent); return; }
  put(out, "{:{}}matchLabels:\n", "", indent);
  putLabels(out, labels, indent + 2);
}

void npHeader(Out& out, const std::string& name, const std::string& ns, const LabelList& podSelector, const char* types) {
  put(out, "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n  podSelector:",
      name, ns);
  if (podSelector.empty()) put(out, " {{}}\n");
  else put(out, "\n"), putMatchLabels(out, podSelector, 4);
  put(out, "  policyTypes: [{}]\n", types);
}

constexpr const char* kPrivateExcepts = "        except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]\n";

void putDnsEgress(Out& out) {
  put(out, "  - to:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: kube-system\n"
           "      podSelector:\n        matchLabels:\n          k8s-app: kube-dns\n"
           "    ports:\n    - protocol: UDP\n      port: 53\n    - protocol: TCP\n      port: 53\n");
}

// The policy of one workload, by tier: who may call it, and what it may call.
void writeWorkloadPolicy(Out& out, Rng& rng, const ClusterPlan& plan, const Workload& w, const std::string& name) {
  const NamespaceRec& ns = plan.namespaces[size_t(w.ns)];
  bool egress = rng.percent(60);
  npHeader(out, name, ns.name, w.selector, egress ? "Ingress, Egress" : "Ingress");
  const std::string& mainPort = w.ports.front().name;
  put(out, "  ingress:\n");
  switch (w.tier) {
    case Tier::Frontend:  // the internet through the load balancer, on a named port
      put(out, "  - from:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n{}    ports:\n    - port: {}\n", kPrivateExcepts, mainPort);
      break;
    case Tier::Backend:
      put(out, "  - from:\n    - podSelector:\n        matchLabels:\n          tier: frontend\n"
               "    - namespaceSelector:\n        matchLabels:\n          team: {}\n      podSelector:\n"
               "        matchLabels:\n          tier: frontend\n    ports:\n", ns.team);
      for (const PortSpec& p : w.ports)
        if (p.name != "metrics") put(out, "    - port: {}\n", p.name);
      if (w.ports.size() == 1) put(out, "    - port: {}\n", mainPort);
      break;
    default:
      put(out, "  - from:\n    - podSelector:\n        matchLabels:\n          tier: backend\n");
      if (rng.percent(30))
        put(out, "    - namespaceSelector:\n        matchExpressions:\n        - key: team\n          operator: In\n"
                 "          values: [data, platform]\n");
      put(out, "    ports:\n    - protocol: {}\n      port: {}\n", w.ports.front().protocol, w.ports.front().number);
      break;
  }
  if (!egress) return;
  put(out, "  egress:\n");
  putDnsEgress(out);
  if (w.tier != Tier::Data)
    put(out, "  - to:\n    - podSelector:\n        matchLabels:\n          tier: {}\n    ports:\n    - port: 5432\n"
             "    - port: 6379\n    - port: 9092\n", w.tier == Tier::Frontend ? "backend" : "data");
  if (w.tier == Tier::Frontend)
    put(out, "    - port: http\n    - port: grpc\n");
  if (rng.percent(30))  // third-party APIs over HTTPS
    put(out, "  - to:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n{}    ports:\n    - protocol: TCP\n      port: 443\n", kPrivateExcepts);
  if (rng.percent(20))  // a port range (endPort), e.g. a fleet of sidecar ports
    put(out, "  - to:\n    - namespaceSelector:\n        matchLabels:\n          team: {}\n    ports:\n"
             "    - protocol: TCP\n      port: 8000\n      endPort: 8099\n", ns.team);
}

// Round r of namespace ns: the baseline policies first (what most clusters
// start with), then one per workload.
void writeNetworkPolicy(Out& out, Rng& rng, const ClusterPlan& plan, int nsIndex, int round) {
  const NamespaceRec& ns = plan.namespaces[size_t(nsIndex)];
  switch (round) {
    case 0:
      npHeader(out, "default-deny", ns.name, {}, ns.env == "prod" ? "Ingress, Egress" : "Ingress");
      return;
    case 1:
      npHeader(out, "allow-dns", ns.name, {}, "Egress");
      put(out, "  egress:\n");
      putDnsEgress(out);
      return;
    case 2:
      npHeader(out, "allow-same-namespace", ns.name, {}, "Ingress");
      put(out, "  ingress:\n  - from:\n    - podSelector: {{}}\n");
      return;
    case 3:
      npHeader(out, "allow-monitoring", ns.name, {}, "Ingress");
      put(out, "  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: monitoring\n"
               "      podSelector:\n        matchLabels:\n          app.kubernetes.io/name: prometheus\n    ports:\n    - port: metrics\n");
      return;
  }
  if (ns.workloads.empty()) {  // nothing runs here yet: a team-wide allow on a port range
    npHeader(out, fmt::format("allow-team-{}", round), ns.name, {}, "Ingress");
    put(out, "  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          team: {}\n    ports:\n"
             "    - protocol: TCP\n      port: 8080\n      endPort: {}\n", ns.team.empty() ? "platform" : ns.team, 8080 + round);
    return;
  }
  int k = round - 4, count = int(ns.workloads.size());
  const Workload& w = plan.workloads[size_t(ns.workloads[size_t(k % count)])];
  writeWorkloadPolicy(out, rng, plan, w, k < count ? w.name : fmt::format("{}-p{}", w.name, k / count + 1));
}

// ---- CiliumNetworkPolicy --------------------------------------------------

void cnpHeader(Out& out, const std::string& name, const std::string& ns, const LabelList& selector) {
  put(out, "---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n"
           "  endpointSelector:", name, ns);
  if (selector.empty()) put(out, " {{}}\n");
  else put(out, "\n"), putMatchLabels(out, selector, 4);
}

constexpr const char* kCnpDns =
    "  - toEndpoints:\n    - matchLabels:\n        k8s:io.kubernetes.pod.namespace: kube-system\n        k8s:k8s-app: kube-dns\n"
    "    toPorts:\n    - ports:\n      - port: \"53\"\n        protocol: ANY\n";

// One CNP for a workload (or the whole namespace when nothing runs there).
// Proportions: egress to the world 30%, ingress from the cluster 20%, CIDR
// egress 15%, toServices 15%, deny rules 20%.
void writeCnp(Out& out, Rng& rng, const ClusterPlan& plan, int nsIndex, std::set<std::string>& names) {
  const NamespaceRec& ns = plan.namespaces[size_t(nsIndex)];
  const Workload* w = ns.workloads.empty() ? nullptr : &plan.workloads[size_t(ns.workloads[rng.below(ns.workloads.size())])];
  int roll = rng.between(0, 99);
  const ServiceRec* target = nullptr;
  if (roll >= 65 && roll < 80 && !ns.services.empty()) target = &plan.services[size_t(ns.services[rng.below(ns.services.size())])];
  const char* what = roll < 30 ? "egress-world" : roll < 50 ? "from-cluster" : roll < 65 ? "egress-cidr"
                   : roll < 80 ? (target ? "to-services" : "egress-world") : "deny";
  std::string base = fmt::format("{}-{}", w ? w->name : "namespace", what), name = base;
  for (int k = 2; !names.insert(name).second; ++k) name = fmt::format("{}-{}", base, k);
  cnpHeader(out, name, ns.name, w ? w->selector : LabelList{});
  std::string what_s = what;
  if (what_s == "egress-world") {
    put(out, "  egress:\n  - toEntities:\n    - world\n    toPorts:\n    - ports:\n      - port: \"443\"\n        protocol: TCP\n{}", kCnpDns);
  } else if (what_s == "from-cluster") {
    std::string port = w ? w->ports.front().name : "8080";
    put(out, "  ingress:\n  - fromEntities:\n    - cluster\n    toPorts:\n    - ports:\n      - port: \"{}\"\n        protocol: {}\n",
        port, w ? w->ports.front().protocol : "TCP");
    put(out, "  - fromEntities:\n    - host\n    - remote-node\n");
  } else if (what_s == "egress-cidr") {
    put(out, "  egress:\n  - toCIDRSet:\n    - cidr: 203.0.113.0/24\n      except:\n      - 203.0.113.128/25\n"
             "    - cidr: 198.51.100.0/24\n    toPorts:\n    - ports:\n");
    if (rng.percent(50)) put(out, "      - port: \"5432\"\n        protocol: TCP\n");
    else put(out, "      - port: \"8000\"\n        endPort: 8099\n        protocol: TCP\n");
  } else if (what_s == "to-services") {
    put(out, "  egress:\n  - toServices:\n    - k8sService:\n        serviceName: {}\n        namespace: {}\n", target->name, ns.name);
  } else {
    put(out, "  ingress:\n  - fromEndpoints:\n    - {{}}\n  ingressDeny:\n  - fromEndpoints:\n    - matchLabels:\n        tier: frontend\n"
             "  - fromCIDRSet:\n    - cidr: 192.168.100.0/24\n");
  }
}

std::string header(const GenOptions& o) {
  return fmt::format("# Generated by sluice-gen --pods {} --nodes {} --namespaces {} --policies {} --cnps {} --services {} --seed {}\n",
                     o.pods, o.nodes, o.namespaces, o.policies, o.cnps, o.services, o.seed);
}

constexpr int kPodsPerFile = 5000;

}  // namespace

std::string validateOptions(const GenOptions& o) {
  if (o.pods < 1 || o.pods > 200000) return "--pods must be between 1 and 200000";
  if (o.nodes < 1 || o.nodes > 5000) return "--nodes must be between 1 and 5000";
  if (o.namespaces < 3 || o.namespaces > 10000) return "--namespaces must be between 3 and 10000 (default and kube-system are two of them)";
  if (o.policies < 0 || o.cnps < 0) return "--policies and --cnps must not be negative";
  if (o.services < 2 || o.services > 200000) return "--services must be between 2 and 200000 (kubernetes and kube-dns are two of them)";
  return "";
}

GeneratedCluster generateCluster(const GenOptions& o, const std::function<void(const std::string&)>& progress) {
  if (std::string problem = validateOptions(o); !problem.empty()) throw std::invalid_argument(problem);
  auto report = [&](const std::string& line) { if (progress && o.pods >= 20000) progress(line); };
  Rng rng(o.seed);
  ClusterPlan plan = planCluster(o, rng);
  report(fmt::format("planned {} pods in {} workloads on {} nodes", plan.pods.size(), plan.workloads.size(), plan.nodes.size()));

  GeneratedCluster result;
  GenSummary& sum = result.summary;
  std::map<std::string, std::string> files;
  std::string& nodes = files["nodes.yaml"];
  nodes = header(o);
  for (const NodeRec& n : plan.nodes) writeNode(nodes, n);
  sum.nodes = int(plan.nodes.size());

  std::vector<std::string> nsText(plan.namespaces.size());
  for (size_t i = 0; i < plan.namespaces.size(); ++i) {
    nsText[i] = header(o);
    writeNamespace(nsText[i], plan.namespaces[i]);
    ++sum.namespaces;
  }
  for (const ServiceRec& s : plan.services) writeService(nsText[size_t(s.ns)], plan, s), ++sum.services;
  std::vector<std::set<std::string>> sliceNames(plan.namespaces.size());
  for (const ServiceRec& s : plan.services)
    sum.endpointSlices += writeEndpointSlices(nsText[size_t(s.ns)], rng, plan, s, sliceNames[size_t(s.ns)]);
  if (plan.appNamespaces.empty() && (o.policies > 0 || o.cnps > 0))
    throw std::invalid_argument("policies need an application namespace: use --namespaces 3 or more");
  for (int round = 0; sum.networkPolicies < o.policies; ++round)
    for (int ns : plan.appNamespaces)
      if (sum.networkPolicies < o.policies) writeNetworkPolicy(nsText[size_t(ns)], rng, plan, ns, round), ++sum.networkPolicies;
  std::vector<std::set<std::string>> cnpNames(plan.namespaces.size());
  for (size_t i = 0; sum.ciliumPolicies < o.cnps; ++i, ++sum.ciliumPolicies) {
    int ns = plan.appNamespaces[i % plan.appNamespaces.size()];
    writeCnp(nsText[size_t(ns)], rng, plan, ns, cnpNames[size_t(ns)]);
  }
  for (size_t i = 0; i < plan.namespaces.size(); ++i) files["ns-" + plan.namespaces[i].name + ".yaml"] = std::move(nsText[i]);

  // Pods by namespace, at most kPodsPerFile per file so no file gets huge.
  std::vector<std::vector<int>> podsByNamespace(plan.namespaces.size());
  for (const Workload& w : plan.workloads) {
    for (int p : w.pods) podsByNamespace[size_t(w.ns)].push_back(p);
    if (w.kind == WorkloadKind::DaemonSet) sum.hostNetworkPods += int(w.pods.size());
    else if (w.kind == WorkloadKind::StatefulSet) ++sum.statefulSets;
    else ++sum.deployments;
  }
  for (size_t ns = 0; ns < plan.namespaces.size(); ++ns) {
    const std::vector<int>& pods = podsByNamespace[ns];
    for (size_t first = 0; first < pods.size(); first += kPodsPerFile) {
      std::string name = pods.size() <= kPodsPerFile ? fmt::format("pods-{}.yaml", plan.namespaces[ns].name)
                                                     : fmt::format("pods-{}-{}.yaml", plan.namespaces[ns].name, first / kPodsPerFile + 1);
      std::string& text = files[name];
      text = header(o);
      for (size_t i = first; i < std::min(pods.size(), first + kPodsPerFile); ++i) {
        writePod(text, plan, plan.pods[size_t(pods[i])]);
        if (++sum.pods % 20000 == 0) report(fmt::format("wrote {} of {} pods", sum.pods, plan.pods.size()));
      }
    }
  }
  for (auto& [name, text] : files) result.files.push_back({name, std::move(text)});
  return result;
}

}  // namespace sluice::gen
