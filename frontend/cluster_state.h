// ClusterState: one validated snapshot of the cluster, as typed objects that
// remember where they came from. The frontend fills it (manifest_loader.h);
// ir/lower reads it. Nothing here interprets policy semantics — that is the
// lowering's job — but every value here has passed the API server's validation.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frontend/label_selector.h"
#include "base/net.h"
#include "base/source.h"

namespace sluice {

enum class Protocol : uint8_t { TCP, UDP, SCTP };
const char* protocolName(Protocol p);

struct ObjectMeta {
  std::string name;
  std::string namespace_;  // empty for cluster-scoped kinds
  Labels labels;
  SourceLoc loc;  // of the document (its first key)
  // "shop/web" for namespaced objects, "web" otherwise.
  std::string key() const { return namespace_.empty() ? name : namespace_ + "/" + name; }
};

// An IntOrString port: a number, or the name of a container port.
struct PortRef {
  std::optional<uint16_t> number;
  std::string name;  // set when !number
  SourceLoc loc;
  bool isNamed() const { return !number.has_value(); }
  std::string str() const { return number ? std::to_string(*number) : name; }
};

// ---- core/v1 -------------------------------------------------------------

struct Namespace {
  ObjectMeta meta;
  bool implicit = false;  // not in the input; created because something lives in it
};

struct ContainerPort {
  std::string name;  // may be empty
  uint16_t port = 0;
  Protocol protocol = Protocol::TCP;
  SourceLoc loc;
};

enum class PodPhase : uint8_t { Unknown, Pending, Running, Succeeded, Failed };

struct Pod {
  ObjectMeta meta;
  std::string nodeName;
  SourceLoc nodeNameLoc;
  bool hostNetwork = false;
  std::string serviceAccount;  // spec.serviceAccountName, "default" when unset
  std::vector<ContainerPort> ports;  // of all containers, in order
  std::vector<IpAddr> ips;           // status.podIPs, else status.podIP; first is primary
  std::optional<IpAddr> hostIP;
  PodPhase phase = PodPhase::Unknown;
  bool terminating = false;  // metadata.deletionTimestamp set
};

struct NodeAddress {
  std::string type;  // InternalIP, ExternalIP, Hostname, ...
  std::string address;
};

struct Node {
  ObjectMeta meta;
  std::vector<NodeAddress> addresses;
  std::vector<IpAddr> ips;  // InternalIP then ExternalIP addresses that parse as IPs
  std::vector<Cidr> podCIDRs;
};

// ---- Services ------------------------------------------------------------

struct ServicePort {
  std::string name;
  Protocol protocol = Protocol::TCP;
  uint16_t port = 0;
  PortRef targetPort;  // defaults to `port`
  std::optional<uint16_t> nodePort;
  SourceLoc loc;
};

enum class ServiceType : uint8_t { ClusterIP, NodePort, LoadBalancer, ExternalName };
enum class TrafficPolicy : uint8_t { Cluster, Local };

struct LoadBalancerIngress {
  IpAddr ip;
  bool proxyMode = false;  // ipMode: Proxy (KEP-1860): not short-circuited on the node
};

struct Service {
  ObjectMeta meta;
  ServiceType type = ServiceType::ClusterIP;
  bool headless = false;               // clusterIP: None
  std::vector<IpAddr> clusterIPs;      // spec.clusterIPs, else spec.clusterIP
  std::vector<ServicePort> ports;
  std::optional<Labels> selector;      // absent: endpoints are managed by hand
  bool clientIPAffinity = false;
  uint32_t affinityTimeoutSeconds = 10800;
  std::vector<IpAddr> externalIPs;
  std::vector<LoadBalancerIngress> loadBalancerIngress;
  TrafficPolicy internalTrafficPolicy = TrafficPolicy::Cluster;
  TrafficPolicy externalTrafficPolicy = TrafficPolicy::Cluster;
  std::string externalName;
  bool publishNotReadyAddresses = false;
};

struct EndpointConditions {
  // nil fields keep nullopt; the lowering applies KEP-1672's defaults.
  std::optional<bool> ready, serving, terminating;
};

struct EndpointPort {
  std::string name;
  Protocol protocol = Protocol::TCP;
  std::optional<uint16_t> port;  // nil port: "all ports" in the API; unusable for proxying
};

struct SliceEndpoint {
  std::vector<IpAddr> addresses;
  EndpointConditions conditions;
  std::string nodeName;
  std::string zone;
  std::string targetPod;  // targetRef "ns/name" when kind is Pod
  SourceLoc loc;
};

struct EndpointSlice {
  ObjectMeta meta;
  std::string serviceName;  // label kubernetes.io/service-name
  std::string addressType;  // IPv4, IPv6, FQDN
  std::vector<SliceEndpoint> endpoints;
  std::vector<EndpointPort> ports;
};

// Legacy v1 Endpoints, used only for a Service that has no EndpointSlice.
struct EndpointsSubset {
  std::vector<SliceEndpoint> addresses;  // ready ones carry conditions.ready = true
  std::vector<EndpointPort> ports;
};

struct Endpoints {
  ObjectMeta meta;
  std::vector<EndpointsSubset> subsets;
};

// ---- networking.k8s.io/v1 NetworkPolicy ------------------------------------

struct IPBlock {
  Cidr cidr;
  std::vector<Cidr> except;
  SourceLoc loc;
};

struct NetworkPolicyPeer {
  std::optional<LabelSelector> podSelector;
  std::optional<LabelSelector> namespaceSelector;
  std::optional<IPBlock> ipBlock;
  SourceLoc loc;
};

struct NetworkPolicyPort {
  Protocol protocol = Protocol::TCP;  // absent means TCP
  std::optional<PortRef> port;        // absent: all ports of the protocol
  std::optional<uint16_t> endPort;    // only with a numeric port, >= port
  SourceLoc loc;
};

struct NetworkPolicyRule {
  // `from`/`to` and `ports`: absent or empty means "all".
  std::vector<NetworkPolicyPeer> peers;
  std::vector<NetworkPolicyPort> ports;
  SourceLoc loc;
};

struct NetworkPolicy {
  ObjectMeta meta;
  LabelSelector podSelector;
  // policyTypes after defaulting (SEMANTICS.md): Ingress always when unset,
  // Egress when unset and an egress section is present.
  bool ingressType = false;
  bool egressType = false;
  bool policyTypesExplicit = false;
  std::vector<NetworkPolicyRule> ingress;
  std::vector<NetworkPolicyRule> egress;
};

// ---- cilium.io/v2 CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy ------

struct CiliumCIDRRule {
  Cidr cidr;
  std::vector<Cidr> except;
  SourceLoc loc;
};

struct CiliumPortProtocol {
  PortRef port;                      // "0" or absent means all ports
  bool allPorts = false;
  std::optional<uint16_t> endPort;
  std::vector<Protocol> protocols;   // ANY/absent -> TCP, UDP, SCTP
  SourceLoc loc;
};

// headerMatches item without a mismatch action: the header must have this
// exact value (or, without a value, be present); else the rule fails.
struct HttpHeaderMatch {
  std::string name;
  std::optional<std::string> value;
};

struct HttpRule {
  std::string method, path, host;  // anchored RE2-style regexes; empty = any
  std::vector<std::string> headers;  // "Name: value" or "Name"
  std::vector<HttpHeaderMatch> headerMatches;
  SourceLoc loc;
};

struct KafkaRule {
  std::string role;                // "produce" | "consume" | ""
  std::optional<int32_t> apiKey;   // numeric API key (names are resolved on parse)
  std::string apiKeyName;          // as written, for printing
  std::optional<int32_t> apiVersion;
  std::string clientID;
  std::string topic;
  SourceLoc loc;
};

struct CiliumPortRule {
  std::vector<CiliumPortProtocol> ports;  // empty: all ports, all protocols
  std::vector<HttpRule> http;
  std::vector<KafkaRule> kafka;
  bool hasL7() const { return !http.empty() || !kafka.empty(); }
  SourceLoc loc;
};

struct IcmpField {
  IpAddr::Family family = IpAddr::Family::V4;
  uint8_t type = 0;
  SourceLoc loc;
};

struct CiliumServiceRef {
  // k8sService (name + namespace) or k8sServiceSelector (selector + namespace).
  std::string name;
  std::string namespace_;  // empty: the policy's namespace (CNP) / any (CCNP selector)
  std::optional<LabelSelector> selector;
  SourceLoc loc;
};

enum class CiliumDirection : uint8_t { Ingress, Egress };

// One item of ingress / ingressDeny / egress / egressDeny.
struct CiliumPeerRule {
  bool deny = false;
  std::vector<LabelSelector> endpoints;  // fromEndpoints / toEndpoints
  // An L3 list given empty (fromEndpoints: [], fromCIDR: [], ...): Cilium then
  // selects no peer for the whole rule, whatever else it says.
  bool emptyPeerList = false;
  std::vector<CiliumCIDRRule> cidrs;     // fromCIDR (no except) + fromCIDRSet
  std::vector<std::string> entities;     // validated names
  std::vector<CiliumServiceRef> services;  // egress only
  std::vector<CiliumPortRule> toPorts;
  std::vector<IcmpField> icmps;
  SourceLoc loc;
  // No L3 field at all: every peer (SEMANTICS.md).
  bool hasL3() const {
    return emptyPeerList || !endpoints.empty() || !cidrs.empty() || !entities.empty() || !services.empty();
  }
};

struct CiliumRule {
  std::string path;  // "spec" or "specs[2]", for provenance
  LabelSelector endpointSelector;
  std::vector<CiliumPeerRule> ingress;  // allow and deny items, deny flagged
  std::vector<CiliumPeerRule> egress;
  bool ingressSectionPresent = false;   // non-empty ingress or ingressDeny list
  bool egressSectionPresent = false;
  std::optional<bool> defaultDenyIngress, defaultDenyEgress;  // enableDefaultDeny
  std::string description;
  SourceLoc loc;
};

struct CiliumPolicy {
  ObjectMeta meta;
  bool clusterwide = false;  // CiliumClusterwideNetworkPolicy
  std::vector<CiliumRule> rules;  // spec, then specs
  std::string kindName() const {
    return clusterwide ? "CiliumClusterwideNetworkPolicy" : "CiliumNetworkPolicy";
  }
};

// ---- the snapshot --------------------------------------------------------

struct ClusterState {
  // Sorted by key after loading, so everything downstream is deterministic.
  std::vector<Namespace> namespaces;
  std::vector<Pod> pods;
  std::vector<Node> nodes;
  std::vector<Service> services;
  std::vector<EndpointSlice> endpointSlices;
  std::vector<Endpoints> endpoints;
  std::vector<NetworkPolicy> networkPolicies;
  std::vector<CiliumPolicy> ciliumPolicies;

  const Namespace* findNamespace(const std::string& name) const;
  const Node* findNode(const std::string& name) const;
  const Service* findService(const std::string& ns, const std::string& name) const;
  // Sorts every list by key and adds implicit namespaces. Called by the loader.
  void finalize();
  // Human-readable dump ("sluice ir --stage state"), stable like the IR text.
  std::string dump() const;
};

}  // namespace sluice

namespace sluice {
class Diagnostics;
// Reports objects defined twice (same kind and key) and pod IPs claimed twice;
// keeps the first definition. Called by the loader before finalize().
void checkDuplicates(ClusterState& state, Diagnostics& diags);
}  // namespace sluice
