// The sluice IR: what one cluster snapshot means for each node, with every
// selector resolved. Lowered from a ClusterState by ir/lower.h; consumed by
// ir passes and codegen. Designed for the whole mission: allow and deny rules,
// entities, CIDR sets in both the Kubernetes and the Cilium meaning, L7 rule
// lists, services with affinity and traffic policies, per-rule provenance.
//
// Every type prints itself in one stable text form (ir/print.h): sorted, no
// addresses or timestamps, one fact per line, so that a one-pod change to the
// cluster is a few-line diff. That text is what golden tests compare.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frontend/cluster_state.h"
#include "base/net.h"
#include "base/source.h"

namespace sluice::ir {

// ---- identities ------------------------------------------------------------

using IdentityId = uint32_t;

// Numbers of the reserved identities (the same as Cilium's, for familiarity).
namespace reserved {
inline constexpr IdentityId kHost = 1;
inline constexpr IdentityId kWorld = 2;
inline constexpr IdentityId kUnmanaged = 3;
inline constexpr IdentityId kHealth = 4;
inline constexpr IdentityId kInit = 5;
inline constexpr IdentityId kRemoteNode = 6;
inline constexpr IdentityId kKubeApiserver = 7;
inline constexpr IdentityId kIngress = 8;
}  // namespace reserved

// Cluster identities are drawn from [kFirstClusterIdentity, kLastClusterIdentity]
// by hashing their labels (ir/identity.h documents the scheme).
inline constexpr IdentityId kFirstClusterIdentity = 0x10000;
inline constexpr IdentityId kLastClusterIdentity = 0x7fffffff;

struct Identity {
  IdentityId id = 0;
  // Security-relevant labels with their source: "k8s:app=web",
  // "k8s:io.kubernetes.pod.namespace=shop", "reserved:host". Sorted.
  std::vector<std::string> labels;
  std::string namespace_;  // empty for reserved identities
  bool isReserved() const { return id < kFirstClusterIdentity; }
};

// Entities (Cilium's fromEntities / toEntities), kept symbolic in the IR: what
// they cover depends only on the peer's identity class, not on which pods exist.
enum class Entity : uint8_t {
  Host,           // this node (identity 1)
  RemoteNode,     // any other node (identity 6)
  Cluster,        // every identity but world: pods, nodes, health, init, unmanaged
  World,          // outside the cluster (identity 2)
  All,            // everything
  Health,
  Init,
  Unmanaged,
  KubeApiserver,
  Ingress,
};
const char* entityName(Entity e);
std::optional<Entity> entityFromName(const std::string& name);

// ---- peers, ports, L7 --------------------------------------------------------

// How a CIDR peer treats addresses that belong to the cluster.
enum class CidrMeaning : uint8_t {
  AnyAddress,      // Kubernetes ipBlock: matches pod and node IPs too
  OutsideCluster,  // Cilium toCIDR/fromCIDR: only addresses whose identity is world
};

struct CidrRule {
  Cidr cidr;
  std::vector<Cidr> except;  // sorted; each strictly inside `cidr`
  bool operator==(const CidrRule&) const = default;
};

// The remote end of a rule. A peer matches when any part matches.
struct Peer {
  bool any = false;                      // every peer, every address
  std::vector<IdentityId> identities;    // sorted, unique
  std::vector<Entity> entities;          // sorted, unique
  std::vector<CidrRule> cidrs;
  CidrMeaning cidrMeaning = CidrMeaning::AnyAddress;
  // Specific pods, when a rule applies per destination pod (an egress rule with
  // a named port resolves the name on each destination pod separately).
  std::vector<std::pair<std::string, IpAddr>> pods;  // "ns/name", address; sorted
  // The selector text this peer came from, for readers ("ns=shop app=web").
  std::string selectorText;

  bool matchesNothing() const {
    return !any && identities.empty() && entities.empty() && cidrs.empty() && pods.empty();
  }
};

enum class L4Proto : uint8_t { TCP = 6, UDP = 17, SCTP = 132, ICMP = 1, ICMPv6 = 58 };
const char* l4ProtoName(L4Proto p);
L4Proto toL4(Protocol p);

struct PortRange {
  L4Proto proto = L4Proto::TCP;
  uint16_t first = 0, last = 65535;  // inclusive; 0..65535 = every port
  std::string fromName;              // the named port this was resolved from, if any
  bool allPorts() const { return first == 0 && last == 65535; }
  auto operator<=>(const PortRange&) const = default;
};

struct IcmpType {
  L4Proto proto = L4Proto::ICMP;  // ICMP or ICMPv6
  uint8_t type = 0;
  auto operator<=>(const IcmpType&) const = default;
};

// What the rule admits at L4. `any` = every protocol and port.
struct L4Match {
  bool any = false;
  std::vector<PortRange> ports;  // sorted
  std::vector<IcmpType> icmps;   // sorted
  bool matchesNothing() const { return !any && ports.empty() && icmps.empty(); }
};

struct HttpRule {
  std::string method, path, host;   // anchored regexes; empty = any
  std::vector<std::string> headers;  // as written: "Name: value" (exact) or "Name" (present)
  // headerMatches: exact value, or presence when the value is absent.
  std::vector<std::pair<std::string, std::optional<std::string>>> headerMatches;
};

struct KafkaRule {
  std::vector<int32_t> apiKeys;     // resolved from role/apiKey; empty = any
  std::optional<int32_t> apiVersion;
  std::string clientID, topic;
};

// L7 rules narrow an allow rule to requests matching any of them.
struct L7Rules {
  std::vector<HttpRule> http;
  std::vector<KafkaRule> kafka;
  bool empty() const { return http.empty() && kafka.empty(); }
};

// ---- rules and policies -----------------------------------------------------

enum class Verdict : uint8_t { Allow, Deny };

// Where a rule came from, for `trace`, `--emit-llvm` names and code review.
struct Provenance {
  std::string policy;  // "NetworkPolicy shop/allow-web"
  std::string path;    // "spec.ingress[0].from[1]"
  SourceLoc loc;       // of that peer (or of the rule when it has no peers)
};

struct Rule {
  // Stable, unique within its endpoint and direction, usable as a symbol:
  // "np.shop.allow-web.ingress0.from1".
  std::string name;
  Verdict verdict = Verdict::Allow;
  Peer peer;
  L4Match l4;
  L7Rules l7;
  Provenance origin;
};

// One endpoint's policy in one direction. When `enforced` is false everything
// is allowed (no policy isolates the pod in this direction) — unless a deny
// rule matches: Cilium deny rules apply without isolating.
struct DirectionPolicy {
  bool enforced = false;
  std::vector<std::string> enforcedBy;  // policies that isolate it, sorted
  std::vector<Rule> rules;              // deny rules first, then allow; each group by name
};

enum class Direction : uint8_t { Ingress, Egress };

struct NamedPort {
  std::string name;
  L4Proto proto = L4Proto::TCP;
  uint16_t port = 0;
};

struct Endpoint {
  std::string namespace_, name;
  std::string key() const { return namespace_ + "/" + name; }
  std::vector<IpAddr> ips;
  IdentityId identity = 0;
  std::vector<NamedPort> namedPorts;  // sorted by name
  DirectionPolicy ingress, egress;
  SourceLoc loc;
  const DirectionPolicy& policy(Direction d) const { return d == Direction::Ingress ? ingress : egress; }
};

// What the datapath knows about an address: whose it is and its identity.
struct IpcacheEntry {
  Cidr prefix;  // a /32 or /128 for pods and nodes
  IdentityId identity = 0;
  std::string owner;  // "pod shop/web-1", "node worker-2"
};

// ---- services ----------------------------------------------------------------

enum class FrontendKind : uint8_t { ClusterIP, NodePort, ExternalIP, LoadBalancer };
const char* frontendKindName(FrontendKind k);

struct Backend {
  IpAddr ip;
  uint16_t port = 0;
  std::string pod;   // "ns/name" when the endpoint is a known pod
  std::string node;  // its node, if known
  bool local = false;        // on the node this program is for
  bool terminating = false;  // serving-and-terminating fallback (KEP-1669)
};

struct ServicePort {
  std::string name;
  L4Proto proto = L4Proto::TCP;
  uint16_t port = 0;                  // on ClusterIP / external / LB addresses
  std::optional<uint16_t> nodePort;
  std::string targetPort;             // as written ("8080" or "http"), for readers
  // Usable backends after readiness and traffic-policy filtering, sorted.
  std::vector<Backend> backends;      // for in-cluster clients (internalTrafficPolicy)
  std::vector<Backend> externalBackends;  // for NodePort/external/LB (externalTrafficPolicy)
  // `backends` is empty only because internalTrafficPolicy is Local: other
  // nodes have usable endpoints. Such traffic is dropped, not rejected
  // (KEP-2086, kube-proxy). Not printed: the IR text stays as it was.
  bool internalEndpointsElsewhere = false;
  // Likewise for `externalBackends` under externalTrafficPolicy Local: a
  // NodePort / external client of this node is dropped, not rejected.
  bool externalEndpointsElsewhere = false;
};

struct Service {
  std::string namespace_, name;
  std::string key() const { return namespace_ + "/" + name; }
  std::vector<IpAddr> clusterIPs;
  std::vector<IpAddr> externalIPs;
  std::vector<IpAddr> loadBalancerIPs;  // short-circuited on the node (not ipMode: Proxy)
  std::vector<ServicePort> ports;
  bool clientIPAffinity = false;
  uint32_t affinityTimeoutSeconds = 0;
  TrafficPolicy internalTrafficPolicy = TrafficPolicy::Cluster;
  TrafficPolicy externalTrafficPolicy = TrafficPolicy::Cluster;
  SourceLoc loc;
};

// ---- programs ------------------------------------------------------------------

// Everything one node's datapath needs.
// Pod traffic leaving the cluster gets the node's address (the datapath's
// masquerade; the runtime writes these into the node's config maps, so a
// change needs no code). Off unless asked for (sluice agent --masquerade).
struct Masquerade {
  bool enabled = false;
  IpAddr nodeAddress;      // the source masqueraded traffic leaves with
  std::vector<Cidr> keep;  // destinations never masqueraded: every pod CIDR, then the configured ones; sorted
};

struct NodeProgram {
  std::string node;
  std::vector<IpAddr> nodeIPs;
  std::vector<Cidr> podCIDRs;
  Masquerade masquerade;
  std::vector<Endpoint> endpoints;     // this node's pods, sorted by key
  std::vector<IpcacheEntry> ipcache;   // every known address, sorted by prefix
  std::vector<Service> services;       // proxied services, sorted by key

  const Endpoint* findEndpoint(const std::string& key) const;
};

struct Program {
  std::vector<Identity> identities;  // sorted by id
  std::vector<NodeProgram> nodes;    // sorted by name
  const Identity* findIdentity(IdentityId id) const;
  const NodeProgram* findNode(const std::string& name) const;
};

}  // namespace sluice::ir
