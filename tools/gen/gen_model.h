// The generator's in-memory plan of a cluster (nodes, namespaces, workloads,
// pods, services), built by planCluster() in gen_model.cpp and written out as
// YAML by gen_yaml.cpp. Indices into the vectors link the pieces.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tools/gen/cluster_generator.h"

namespace sluice::gen {

// Uniform integers from std::mt19937_64 by rejection sampling: unbiased and,
// unlike std::uniform_int_distribution, the same on every standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t below(uint64_t n) {  // [0, n), n > 0
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = engine_(); while (x >= limit);
    return x % n;
  }
  int between(int lo, int hi) { return lo + int(below(uint64_t(hi - lo + 1))); }  // inclusive
  bool percent(int p) { return int(below(100)) < p; }
  template <class T>
  const T& pick(const std::vector<T>& items) { return items[below(items.size())]; }
  // Kubernetes' random suffixes (pod names, pod-template-hash) use this alphabet.
  std::string suffix(int length) {
    static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    std::string s;
    for (int i = 0; i < length; ++i) s += kAlphabet[below(sizeof kAlphabet - 1)];
    return s;
  }

 private:
  std::mt19937_64 engine_;
};

struct PortSpec {
  std::string name;  // container port name (IANA_SVC_NAME)
  int number = 0;
  std::string protocol = "TCP";
  int servicePort = 0;  // the port a Service exposes it on
};

enum class Tier { Frontend, Backend, Data, System };
const char* tierName(Tier tier);

enum class WorkloadKind { Deployment, StatefulSet, DaemonSet };

struct Workload {
  std::string name;
  int ns = 0;
  WorkloadKind kind = WorkloadKind::Deployment;
  Tier tier = Tier::Backend;
  bool recommendedLabels = false;  // app.kubernetes.io/* instead of app=
  bool hostNetwork = false;
  std::string version;  // "" or v1..v3
  std::string templateHash;
  std::vector<PortSpec> ports;
  std::vector<std::pair<std::string, std::string>> selector;  // what its Services select
  std::vector<int> pods;
};

struct PodRec {
  std::string name;
  int workload = 0;
  int node = -1;  // -1: Pending, not scheduled
  uint32_t ip = 0;  // 0: none yet
  bool ready = true;
  int ordinal = 0;  // statefulset pod index
};

struct NodeRec {
  std::string name, zone;
  uint32_t ip = 0;
  uint32_t podCidrBase = 0;
  int podCidrPrefix = 24;
  int podsPlaced = 0;  // pods with a pod-network address
};

struct NamespaceRec {
  std::string name, team, env;
  bool system = false;
  bool pci = false;
  std::vector<int> workloads;
  std::vector<int> services;
};

enum class ServiceKind { ClusterIP, NodePort, Headless, External };

struct ServicePortRec {
  std::string name;
  int port = 0;
  std::string targetName;  // named targetPort ("" = targetNumber)
  int targetNumber = 0;    // what EndpointSlices carry
  std::string protocol = "TCP";
  int nodePort = 0;
};

struct ServiceRec {
  std::string name;
  int ns = 0;
  int workload = -1;  // -1: no selector (endpoints written by hand)
  ServiceKind kind = ServiceKind::ClusterIP;
  uint32_t clusterIP = 0;
  std::vector<ServicePortRec> ports;
  std::vector<uint32_t> externalAddresses;  // selector-less services' endpoints
  std::vector<std::pair<std::string, std::string>> labels;
};

struct ClusterPlan {
  std::vector<NodeRec> nodes;
  std::vector<NamespaceRec> namespaces;
  std::vector<Workload> workloads;
  std::vector<PodRec> pods;
  std::vector<ServiceRec> services;
  std::vector<int> appNamespaces;  // namespaces policies go into
};

constexpr uint32_t ipv4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return a << 24 | b << 16 | c << 8 | d; }
std::string ipText(uint32_t ip);

ClusterPlan planCluster(const GenOptions& options, Rng& rng);

}  // namespace sluice::gen
