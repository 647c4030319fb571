// Plans the cluster: which workloads exist where, where their pods run and
// which addresses they get, and which Services front them.
#include "tools/gen/gen_model.h"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace sluice::gen {

const char* tierName(Tier tier) {
  switch (tier) {
    case Tier::Frontend: return "frontend";
    case Tier::Backend: return "backend";
    case Tier::Data: return "data";
    case Tier::System: return "system";
  }
  return "backend";
}

std::string ipText(uint32_t ip) {
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

namespace {

struct Component {
  std::string name;
  Tier tier;
  bool stateful;
  std::vector<PortSpec> ports;
  int weight;  // how often it appears, relative to the others
};

PortSpec port(std::string name, int number, int servicePort, std::string protocol = "TCP") {
  return PortSpec{std::move(name), number, std::move(protocol), servicePort};
}

// What application namespaces run, roughly in the proportions of a real
// microservice estate: many HTTP/gRPC backends, fewer frontends and stores.
const std::vector<Component>& catalog() {
  static const std::vector<Component> kCatalog = [] {
    const PortSpec http = port("http", 8080, 80), grpc = port("grpc", 9000, 9000), metrics = port("metrics", 9090, 9090);
    std::vector<Component> c = {
        {"frontend", Tier::Frontend, false, {http, metrics}, 3},
        {"web", Tier::Frontend, false, {port("http", 3000, 80), metrics}, 2},
        {"bff", Tier::Frontend, false, {http, grpc, metrics}, 2},
        {"worker", Tier::Backend, false, {metrics}, 3},
        {"scheduler", Tier::Backend, false, {http, metrics}, 1},
        {"redis", Tier::Data, true, {port("redis", 6379, 6379), port("metrics", 9121, 9121)}, 2},
        {"postgres", Tier::Data, true, {port("postgres", 5432, 5432), port("metrics", 9187, 9187)}, 2},
        {"kafka", Tier::Data, true, {port("kafka", 9092, 9092), port("metrics", 9308, 9308)}, 1},
        {"elasticsearch", Tier::Data, true, {port("http", 9200, 9200), port("transport", 9300, 9300)}, 1},
        {"memcached", Tier::Data, false, {port("memcache", 11211, 11211), port("memcache-udp", 11211, 11211, "UDP")}, 1},
        {"rabbitmq", Tier::Data, true, {port("amqp", 5672, 5672), port("management", 15672, 15672), port("metrics", 15692, 15692)}, 1},
    };
    for (const char* name : {"api", "auth", "cart", "catalog", "checkout", "orders", "search", "notifications",
                             "recommendations", "inventory", "billing", "profile", "pricing", "shipping"})
      c.push_back({name, Tier::Backend, false, {http, grpc, metrics}, 3});
    return c;
  }();
  return kCatalog;
}

const std::vector<std::string> kNamespaceWords = {
    "shop", "payments", "search", "identity", "media", "analytics", "messaging", "catalog",
    "billing", "ads", "maps", "support", "inventory", "logistics", "booking", "reviews",
    "social", "video", "ml-platform", "data-pipeline", "gateway", "notifications", "reporting", "crm"};
const std::vector<std::string> kTeams = {"web", "commerce", "platform", "data", "identity", "growth", "ml", "sre"};
const std::vector<std::string> kZones = {"eu-central-1a", "eu-central-1b", "eu-central-1c"};

// Pods on 10.0.0.0/10 (below the service range 10.96.0.0/12), nodes on 172.16.0.0/12.
constexpr uint32_t kPodNetwork = ipv4(10, 0, 0, 0);
constexpr uint32_t kPodNetworkSize = 1u << 22;
constexpr uint32_t kNodeNetwork = ipv4(172, 16, 0, 0);
constexpr uint32_t kServiceNetwork = ipv4(10, 96, 0, 0);

NamespaceRec namespaceRec(std::string name, std::string team, std::string env, bool system) {
  NamespaceRec ns;
  ns.name = std::move(name), ns.team = std::move(team), ns.env = std::move(env), ns.system = system;
  return ns;
}

ServiceRec serviceRec(std::string name, int ns, ServiceKind kind, uint32_t clusterIP = 0) {
  ServiceRec s;
  s.name = std::move(name), s.ns = ns, s.kind = kind, s.clusterIP = clusterIP;
  return s;
}

void planNamespaces(const GenOptions& o, Rng& rng, ClusterPlan& plan) {
  plan.namespaces.push_back(namespaceRec("default", "", "", true));
  plan.namespaces.push_back(namespaceRec("kube-system", "platform", "", true));
  if (o.namespaces >= 4) {
    plan.namespaces.push_back(namespaceRec("monitoring", "sre", "prod", false));
    plan.appNamespaces.push_back(2);
  }
  for (int i = 0; int(plan.namespaces.size()) < o.namespaces; ++i) {
    const std::string& word = kNamespaceWords[i % kNamespaceWords.size()];
    std::string name = i < int(kNamespaceWords.size()) ? word : fmt::format("{}-{}", word, i / kNamespaceWords.size() + 1);
    int envRoll = rng.between(0, 9);
    NamespaceRec ns = namespaceRec(name, rng.pick(kTeams), envRoll < 5 ? "prod" : envRoll < 8 ? "staging" : "dev", false);
    ns.pci = ns.env == "prod" && rng.percent(15);
    plan.appNamespaces.push_back(int(plan.namespaces.size()));
    plan.namespaces.push_back(std::move(ns));
  }
}

void planNodes(const GenOptions& o, ClusterPlan& plan) {
  for (int i = 0; i < o.nodes; ++i) {
    NodeRec n;
    n.name = fmt::format("node-{:03}", i + 1);
    n.zone = kZones[i % kZones.size()];
    n.ip = kNodeNetwork + 10 + uint32_t(i);
    plan.nodes.push_back(std::move(n));
  }
}

Workload makeWorkload(Rng& rng, ClusterPlan& plan, std::map<std::pair<int, std::string>, int>& namesUsed, int ns,
                      const Component& c, WorkloadKind kind) {
  Workload w;
  int& uses = namesUsed[{ns, c.name}];
  w.name = uses == 0 ? c.name : fmt::format("{}-{}", c.name, uses + 1);
  ++uses;
  w.ns = ns;
  w.kind = kind;
  w.tier = c.tier;
  w.ports = c.ports;
  w.templateHash = rng.suffix(10);
  // Teams that adopted Helm charts use the recommended labels; older ones app=.
  w.recommendedLabels = kind != WorkloadKind::DaemonSet && rng.percent(40);
  if (kind == WorkloadKind::Deployment && rng.percent(50)) w.version = fmt::format("v{}", rng.between(1, 3));
  if (w.recommendedLabels)
    w.selector = {{"app.kubernetes.io/instance", w.name}, {"app.kubernetes.io/name", w.name}};
  else
    w.selector = {{"app", w.name}};
  plan.namespaces[ns].workloads.push_back(int(plan.workloads.size()));
  return w;
}

void addPods(Rng& rng, ClusterPlan& plan, Workload& w, int count) {
  for (int i = 0; i < count; ++i) {
    PodRec p;
    p.workload = int(plan.workloads.size());
    p.ordinal = i;
    if (w.kind == WorkloadKind::StatefulSet) p.name = fmt::format("{}-{}", w.name, i);
    else if (w.kind == WorkloadKind::DaemonSet) p.name = fmt::format("{}-{}", w.name, rng.suffix(5));
    else p.name = fmt::format("{}-{}-{}", w.name, w.templateHash, rng.suffix(5));
    w.pods.push_back(int(plan.pods.size()));
    plan.pods.push_back(std::move(p));
  }
}

// Pod names are random like the ReplicaSet controller's; a collision inside a
// namespace (rare at 5 characters) is re-drawn so every name stays unique.
void makePodNamesUnique(Rng& rng, ClusterPlan& plan) {
  std::set<std::pair<int, std::string>> seen;
  for (PodRec& p : plan.pods) {
    const Workload& w = plan.workloads[p.workload];
    while (!seen.insert({w.ns, p.name}).second)
      p.name = fmt::format("{}-{}-{}", w.name, w.templateHash, rng.suffix(5));
  }
}

void planWorkloads(const GenOptions& o, Rng& rng, ClusterPlan& plan) {
  std::map<std::pair<int, std::string>, int> namesUsed;
  int budget = o.pods;
  auto take = [&](Workload w, int replicas) {
    replicas = std::min(replicas, budget);
    budget -= replicas;
    addPods(rng, plan, w, replicas);
    plan.workloads.push_back(std::move(w));
  };
  // System pods first: two CoreDNS replicas, then hostNetwork daemonsets
  // (node-exporter, the sluice agent) while they stay a small share of the pods.
  Component coredns{"coredns", Tier::System, false,
                    {port("dns", 53, 53, "UDP"), port("dns-tcp", 53, 53), port("metrics", 9153, 9153)}, 0};
  Workload dns = makeWorkload(rng, plan, namesUsed, 1, coredns, WorkloadKind::Deployment);
  dns.selector = {{"k8s-app", "kube-dns"}};
  dns.recommendedLabels = false;
  dns.version.clear();
  take(std::move(dns), 2);
  int daemonsets = budget >= 8 * o.nodes ? 2 : budget >= 4 * o.nodes ? 1 : 0;
  const Component agents[] = {{"node-exporter", Tier::System, false, {port("metrics", 9100, 9100)}, 0},
                              {"sluice-agent", Tier::System, false, {port("health", 9879, 9879)}, 0}};
  for (int d = 0; d < daemonsets; ++d) {
    Workload w = makeWorkload(rng, plan, namesUsed, 1, agents[d], WorkloadKind::DaemonSet);
    w.hostNetwork = true;
    w.selector = {{"app.kubernetes.io/name", w.name}};
    take(std::move(w), o.nodes);
  }
  if (o.namespaces >= 4 && budget > 0) {
    Component prometheus{"prometheus", Tier::System, true, {port("web", 9090, 9090)}, 0};
    Workload w = makeWorkload(rng, plan, namesUsed, 2, prometheus, WorkloadKind::StatefulSet);
    w.selector = {{"app.kubernetes.io/name", "prometheus"}};
    w.recommendedLabels = true;
    take(std::move(w), 2);
  }
  // Application namespaces differ in size: weights 1..8 give a skewed spread.
  std::vector<int> candidates, cumulative;
  int total = 0;
  for (int ns : plan.appNamespaces) {
    if (plan.namespaces[ns].name == "monitoring") continue;
    total += rng.between(1, 8);
    candidates.push_back(ns);
    cumulative.push_back(total);
  }
  if (candidates.empty()) candidates.push_back(1), cumulative.push_back(total = 1);
  int catalogWeight = 0;
  for (const Component& c : catalog()) catalogWeight += c.weight;
  while (budget > 0) {
    int roll = int(rng.below(uint64_t(total)));
    int ns = candidates[std::upper_bound(cumulative.begin(), cumulative.end(), roll) - cumulative.begin()];
    int croll = int(rng.below(uint64_t(catalogWeight)));
    const Component* c = &catalog().front();
    for (const Component& candidate : catalog())
      if ((croll -= candidate.weight) < 0) { c = &candidate; break; }
    WorkloadKind kind = c->stateful ? WorkloadKind::StatefulSet : WorkloadKind::Deployment;
    int replicas = kind == WorkloadKind::StatefulSet ? rng.between(2, 5) : rng.between(3, 10);
    take(makeWorkload(rng, plan, namesUsed, ns, *c, kind), replicas);
  }
  makePodNamesUnique(rng, plan);
}

// Scheduling: daemonset pods go one per node; the rest by "power of two
// choices" (the less loaded of two random nodes), which spreads like the
// default scheduler's balancing. About 0.5% stay Pending (no node, no address)
// and 1% run but are not ready.
void schedulePods(Rng& rng, ClusterPlan& plan) {
  const int nodes = int(plan.nodes.size());
  std::vector<int> load(size_t(nodes), 0);
  for (Workload& w : plan.workloads) {
    for (size_t i = 0; i < w.pods.size(); ++i) {
      PodRec& p = plan.pods[w.pods[i]];
      if (w.kind == WorkloadKind::DaemonSet) { p.node = int(i) % nodes; continue; }
      if (rng.below(1000) < 5) { p.ready = false; continue; }
      int a = int(rng.below(uint64_t(nodes))), b = int(rng.below(uint64_t(nodes)));
      p.node = load[size_t(b)] < load[size_t(a)] ? b : a;
      ++load[size_t(p.node)];
      p.ready = rng.below(100) != 0;
    }
  }
  // Each node's podCIDR is one block sized for its pods (a /24 when they fit,
  // as kube-controller-manager's default; larger when a node runs hundreds).
  int most = *std::max_element(load.begin(), load.end());
  uint32_t block = 256;
  int prefix = 24;
  while (block < uint32_t(most) + 3) block *= 2, --prefix;  // network, gateway and broadcast addresses
  if (uint64_t(block) * uint64_t(nodes) > kPodNetworkSize)
    throw std::invalid_argument("too many pods per node for the pod network 10.0.0.0/10; add nodes");
  for (int n = 0; n < nodes; ++n) {
    plan.nodes[size_t(n)].podCidrBase = kPodNetwork + uint32_t(n) * block;
    plan.nodes[size_t(n)].podCidrPrefix = prefix;
  }
  for (const Workload& w : plan.workloads)
    for (int podIndex : w.pods) {
      PodRec& p = plan.pods[size_t(podIndex)];
      if (p.node < 0) continue;
      NodeRec& node = plan.nodes[size_t(p.node)];
      p.ip = w.hostNetwork ? node.ip : node.podCidrBase + 2 + uint32_t(node.podsPlaced++);
    }
}

ServiceRec serviceFor(const ClusterPlan& plan, int workload, std::string name) {
  const Workload& w = plan.workloads[size_t(workload)];
  ServiceRec s;
  s.name = std::move(name);
  s.ns = w.ns;
  s.workload = workload;
  s.kind = w.kind == WorkloadKind::StatefulSet ? ServiceKind::Headless : ServiceKind::ClusterIP;
  for (const PortSpec& p : w.ports)
    s.ports.push_back({p.name, p.servicePort, p.name, p.number, p.protocol, 0});
  s.labels = w.recommendedLabels ? std::vector<std::pair<std::string, std::string>>{{"app.kubernetes.io/name", w.name}}
                                 : std::vector<std::pair<std::string, std::string>>{{"app", w.name}};
  return s;
}

void planServices(const GenOptions& o, Rng& rng, ClusterPlan& plan) {
  ServiceRec api = serviceRec("kubernetes", 0, ServiceKind::ClusterIP, ipv4(10, 96, 0, 1));
  api.ports = {{"https", 443, "", 6443, "TCP", 0}};
  api.externalAddresses = {ipv4(172, 31, 0, 10)};  // the managed control plane
  api.labels = {{"component", "apiserver"}, {"provider", "kubernetes"}};
  plan.services.push_back(std::move(api));
  ServiceRec dns = serviceFor(plan, 0, "kube-dns");
  dns.clusterIP = ipv4(10, 96, 0, 10);
  dns.labels = {{"k8s-app", "kube-dns"}};
  plan.services.push_back(std::move(dns));

  // A few selector-less services for things outside the cluster (legacy
  // databases, partner APIs); then one Service per workload; then, if more are
  // asked for, second Services on workloads (metrics, admin, internal, ...).
  int remaining = o.services - 2;
  int external = std::min(remaining, remaining / 25 + (remaining >= 10 ? 1 : 0));
  std::vector<int> appWorkloads;
  for (size_t i = 0; i < plan.workloads.size(); ++i)
    if (plan.workloads[i].kind != WorkloadKind::DaemonSet && i != 0) appWorkloads.push_back(int(i));
  if (appWorkloads.empty()) external = remaining;
  std::set<std::pair<int, std::string>> names;
  std::vector<ServiceRec> planned;
  static const std::vector<std::string> kExternalNames = {"legacy-db", "partner-api", "mainframe", "ldap", "smtp-relay"};
  for (int i = 0; i < external; ++i) {
    int ns = plan.appNamespaces.empty() ? 0 : plan.appNamespaces[rng.below(plan.appNamespaces.size())];
    std::string base = rng.pick(kExternalNames), name = base;
    for (int k = 2; !names.insert({ns, name}).second; ++k) name = fmt::format("{}-{}", base, k);
    ServiceRec s = serviceRec(name, ns, ServiceKind::External);
    s.ports = base == "legacy-db" ? std::vector<ServicePortRec>{{"postgres", 5432, "", 5432, "TCP", 0}}
                                  : std::vector<ServicePortRec>{{"https", 443, "", 443, "TCP", 0}};
    int addresses = rng.between(1, 3);
    for (int a = 0; a < addresses; ++a) s.externalAddresses.push_back(ipv4(192, 168, 100, uint32_t(rng.between(10, 250))));
    std::sort(s.externalAddresses.begin(), s.externalAddresses.end());
    s.externalAddresses.erase(std::unique(s.externalAddresses.begin(), s.externalAddresses.end()), s.externalAddresses.end());
    s.labels = {{"app.kubernetes.io/part-of", "external"}};
    planned.push_back(std::move(s));
  }
  remaining -= external;
  static const std::vector<std::string> kSecondNames = {"internal", "metrics", "admin", "v2", "canary", "grpc"};
  for (int round = 0; remaining > 0 && !appWorkloads.empty(); ++round)
    for (size_t i = 0; i < appWorkloads.size() && remaining > 0; ++i, --remaining) {
      const Workload& w = plan.workloads[size_t(appWorkloads[i])];
      std::string name = round == 0 ? w.name
                         : round <= int(kSecondNames.size()) ? fmt::format("{}-{}", w.name, kSecondNames[size_t(round - 1)])
                                                             : fmt::format("{}-x{}", w.name, round);
      for (int k = 2; !names.insert({w.ns, name}).second; ++k) name = fmt::format("{}-{}", w.name, k);
      ServiceRec s = serviceFor(plan, appWorkloads[i], name);
      if (round > 0 && s.kind == ServiceKind::Headless) s.kind = ServiceKind::ClusterIP;
      if (s.kind == ServiceKind::ClusterIP && rng.percent(w.tier == Tier::Frontend ? 30 : 3)) s.kind = ServiceKind::NodePort;
      planned.push_back(std::move(s));
    }
  int nextNodePort = 30000;
  uint32_t nextClusterIP = kServiceNetwork + 256;
  for (ServiceRec& s : planned) {
    if (s.kind != ServiceKind::Headless) s.clusterIP = nextClusterIP++;
    if (s.kind == ServiceKind::NodePort) {
      if (nextNodePort + int(s.ports.size()) > 32767) s.kind = ServiceKind::ClusterIP;  // the range is used up
      else for (ServicePortRec& p : s.ports) p.nodePort = nextNodePort++;
    }
    plan.services.push_back(std::move(s));
  }
  for (size_t i = 0; i < plan.services.size(); ++i) plan.namespaces[size_t(plan.services[i].ns)].services.push_back(int(i));
}

}  // namespace

ClusterPlan planCluster(const GenOptions& options, Rng& rng) {
  ClusterPlan plan;
  planNamespaces(options, rng, plan);
  planNodes(options, plan);
  planWorkloads(options, rng, plan);
  schedulePods(rng, plan);
  planServices(options, rng, plan);
  return plan;
}

}  // namespace sluice::gen
