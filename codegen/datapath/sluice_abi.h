/* The ABI between sluice program generations and user space: map names,
 * key and value layouts, decision codes, and what a program leaves in
 * skb->cb for `trace`. Included by the BPF datapath (C) and by the compiler,
 * runtime and tests (C++).
 *
 * Rules: a layout never changes under the same map name. A change bumps the
 * version suffix (`_v1` -> `_v2`), so a new generation gets a new pinned map
 * instead of misreading an old one.
 */
#ifndef SLUICE_ABI_H
#define SLUICE_ABI_H

#ifdef __cplusplus
#include <cstdint>
typedef uint8_t sluice_u8;
typedef uint16_t sluice_u16;
typedef uint32_t sluice_u32;
typedef uint64_t sluice_u64;
#else
#include <linux/types.h>
typedef __u8 sluice_u8;
typedef __u16 sluice_u16;
typedef __u32 sluice_u32;
typedef __u64 sluice_u64;
#endif

/* Map names (also the pin names under the runtime's bpffs directory).
 * sluice_ct_v1 (no NAT fields) is retired: v2 carries the service translation. */
#define SLUICE_MAP_CT "sluice_ct_v2"
#define SLUICE_MAP_IPCACHE "sluice_ipc_v1"
#define SLUICE_MAP_COUNTERS "sluice_cnt_v1"
#define SLUICE_MAP_SERVICES "sluice_svc_v1"
#define SLUICE_MAP_BACKENDS "sluice_be_v1"
#define SLUICE_MAP_AFFINITY "sluice_aff_v1"
#define SLUICE_MAP_CONFIG "sluice_cfg_v2"
#define SLUICE_MAP_NOMASQ "sluice_nomasq_v1"

#define SLUICE_CT_MAX_ENTRIES 262144
#define SLUICE_IPCACHE_MAX_ENTRIES 524288
#define SLUICE_COUNTERS_MAX_ENTRIES 65536
#define SLUICE_SERVICES_MAX_ENTRIES 131072 /* frontends: (address, port, protocol) plus one per address */
#define SLUICE_BACKENDS_MAX_ENTRIES 524288
#define SLUICE_AFFINITY_MAX_ENTRIES 131072
#define SLUICE_NOMASQ_MAX_ENTRIES 16384

/* Connection tracking. An entry is scoped to the hook that looks it up:
 * EGRESS entries are read by from-pod programs, INGRESS by to-pod. When a
 * hook admits a connection it adds two entries: its own tuple in its scope,
 * and the reversed tuple in the other scope (the replies, which pass the same
 * endpoint's other hook). A same-node connection meets the client's from-pod
 * and then the server's to-pod; the client's entries are keyed by tuples the
 * server's hook never looks up, so the server's ingress policy always runs. */
enum sluice_ct_scope {
  SLUICE_CT_EGRESS = 1,
  SLUICE_CT_INGRESS = 2,
  /* The node's uplink program (from_netdev): connections from outside to a
   * NodePort / external / LB frontend, and the replies of SNATed ones. */
  SLUICE_CT_UPLINK = 3,
  /* Written by the uplink program for a connection it sent to a pod on this
   * node, keyed by the translated tuple (client -> backend): the pod's to-pod
   * program, admitting it, takes the reverse translation from it for the
   * replies. Added values only: older programs never look these scopes up. */
  SLUICE_CT_UPLINK_DNAT = 4,
};

struct sluice_ct_key {
  sluice_u32 saddr; /* network byte order */
  sluice_u32 daddr;
  sluice_u16 sport; /* host byte order; ICMP echo: identifier in sport (request) / dport (reply) */
  sluice_u16 dport;
  sluice_u8 proto;
  sluice_u8 scope;
  sluice_u16 pad;
};

/* A tracked packet may need rewriting: `nat_flags` says which half of the
 * tuple becomes nat_saddr:nat_sport / nat_daddr:nat_dport. A service
 * connection's entries carry it (docs/datapath.md, "Services"):
 *   client's from-pod, original tuple      -> DST to the backend (and SRC to the
 *                                             hairpin address when the client is the backend)
 *   client's to-pod, the backend's replies -> SRC back to the service address
 *   hairpin: the pod's from-pod, its replies as server -> SRC and DST back */
enum sluice_nat_flags {
  SLUICE_NAT_SRC = 1,
  SLUICE_NAT_DST = 2,
  /* After rewriting, the program routes the packet itself (FIB lookup and
   * redirect): its source is now this node's address, which the stack drops
   * as a martian on a packet it receives. Uplink (NodePort) translations. */
  SLUICE_NAT_ROUTE = 4,
};

struct sluice_ct_value {
  sluice_u64 created_ns;
  sluice_u64 packets;
  sluice_u32 decision;   /* the decision that admitted the connection */
  sluice_u32 is_reply;   /* 1 on the entry that tracks the connection's replies */
  sluice_u32 service_id; /* the service that translated the connection, 0 if none */
  sluice_u32 nat_flags;  /* enum sluice_nat_flags */
  sluice_u32 nat_saddr;  /* network byte order */
  sluice_u32 nat_daddr;
  sluice_u16 nat_sport;  /* host byte order */
  sluice_u16 nat_dport;
  /* A service connection's original-direction entry: the chosen backend's
   * slot + 1 (0: none, or written by a program older than this field, which
   * left it as padding). A retransmitted SYN keeps that backend while it
   * still holds the slot. */
  sluice_u32 backend_slot;
};

/* ---- services (kube-proxy model; the runtime fills these from the IR) ----
 * Frontends and backends live in maps, not in generated code: backends churn,
 * and a change must not need a recompile. A "service id" names one backend
 * set: one port of one service as seen from one kind of frontend (cluster IP,
 * or external/load-balancer addresses when their set differs). */
struct sluice_svc_key {
  sluice_u32 addr;  /* network byte order */
  sluice_u16 port;  /* host byte order; 0 with proto 0: the address itself */
  sluice_u8 proto;  /* IPPROTO_TCP / UDP / SCTP; 0 with port 0 */
  sluice_u8 scope;  /* enum sluice_svc_scope (was padding, always 0: the pod-side entries keep meaning 0) */
};

/* Who looks a frontend up. Pods (from-pod) see cluster IPs and external / LB
 * addresses with the internal backend set; the uplink program sees NodePorts
 * (node address, nodePort) and external / LB addresses with the
 * externalTrafficPolicy set. */
enum sluice_svc_scope {
  SLUICE_SVC_SCOPE_POD = 0,
  SLUICE_SVC_SCOPE_UPLINK = 1,
};

enum sluice_svc_flags {
  SLUICE_SVC_AFFINITY = 1,        /* sessionAffinity: ClientIP */
  SLUICE_SVC_REJECT = 2,          /* no backend: answer TCP RST / ICMP port unreachable (else drop) */
  SLUICE_SVC_REJECT_UNSERVED = 4, /* address entry: a port the address does not serve is rejected */
  SLUICE_SVC_SNAT = 8,            /* uplink, externalTrafficPolicy Cluster: a backend elsewhere gets the node as source */
};

/* For an address entry (port 0, proto 0) only `flags` matters. */
struct sluice_svc_value {
  sluice_u32 service_id; /* > 0 */
  sluice_u16 backend_count;
  sluice_u16 flags;                 /* enum sluice_svc_flags */
  sluice_u32 affinity_timeout_s;
  sluice_u32 pad;
};

/* Backend `slot` (0 .. backend_count-1) of a service id. */
struct sluice_be_key {
  sluice_u32 service_id;
  sluice_u32 slot;
};
struct sluice_be_value {
  sluice_u32 addr; /* network byte order */
  sluice_u16 port; /* host byte order */
  sluice_u16 flags; /* enum sluice_be_flags (was padding, always 0) */
};
enum sluice_be_flags {
  SLUICE_BE_LOCAL = 1, /* on the node whose maps these are (the uplink needs no SNAT for it) */
};

/* ClientIP affinity (LRU): the backend a client last used, and when. The slot
 * and backend are both kept, so a backend that moved or left is noticed. */
struct sluice_aff_key {
  sluice_u32 client_addr; /* network byte order */
  sluice_u32 service_id;
};
struct sluice_aff_value {
  sluice_u64 last_used_ns;
  sluice_u32 backend_addr;
  sluice_u16 backend_port;
  sluice_u16 slot;
};

/* The source a hairpin connection (a pod reaching its own service and landing
 * on itself) is given, so that its replies leave the pod (169.254.42.1, the
 * address Cilium uses for the same purpose; link-local, never routed). */
#define SLUICE_HAIRPIN_ADDR_HOST 0xa9fe2a01u

/* ---- the node's settings (one entry, index 0; the runtime writes it) ----
 * Masquerade: a pod's new connection to an address whose identity is world
 * and that no prefix of sluice_nomasq_v1 covers (every pod CIDR, and the
 * configured non-masquerade CIDRs) leaves with the node's address and a port
 * of [snat_port_min, snat_port_max], a range the node's own sockets never
 * use; the uplink program turns the replies back. A zeroed entry (a map the
 * runtime has not written) masquerades nothing. */
enum sluice_config_flags {
  SLUICE_CFG_MASQUERADE = 1,
};
struct sluice_config {
  sluice_u32 node_addr; /* network byte order */
  sluice_u32 flags;     /* enum sluice_config_flags */
  sluice_u16 snat_port_min; /* host byte order */
  sluice_u16 snat_port_max;
  sluice_u32 uplink_ifindex; /* where masqueraded connections leave (0: unknown, the stack routes them) */
  /* What the uplink program passes without a lookup: this node's pod CIDR
     (never a frontend, never a tracked uplink connection; mask 0: none) and
     the overlay's UDP port on the node's address (0: no overlay). */
  sluice_u32 local_pods_addr; /* network byte order */
  sluice_u32 local_pods_mask; /* network byte order */
  sluice_u16 vxlan_port;      /* network byte order */
  sluice_u16 unused;
};
/* Destinations never masqueraded (an LPM trie: prefixlen then the address). */
struct sluice_nomasq_key {
  sluice_u32 prefixlen;
  sluice_u32 addr; /* network byte order */
};
struct sluice_nomasq_value {
  sluice_u32 unused;
};

/* IP -> security identity, for pods and nodes (IPv4, network byte order).
 * Anything not in the map is world. The runtime updates it in place: pod
 * IPs churn, policy structure does not. */
struct sluice_ipcache_key {
  sluice_u32 addr;
};
struct sluice_ipcache_value {
  sluice_u32 identity;
  sluice_u32 flags;
};

/* Per-endpoint packet counters (per CPU). */
struct sluice_counter_key {
  sluice_u32 endpoint_addr; /* the endpoint's IPv4, network byte order */
  sluice_u8 direction;      /* 0 ingress (to-pod), 1 egress (from-pod) */
  sluice_u8 outcome;        /* enum sluice_outcome */
  sluice_u16 pad;
};
struct sluice_counter_value {
  sluice_u64 packets;
  sluice_u64 bytes;
};

/* A policy decision, as returned by the generated decision functions and
 * left in skb->cb[SLUICE_CB_DECISION]: the kind in the top byte, the 1-based
 * index of the deciding rule (in the IR's order for that endpoint and
 * direction) in the low 24 bits. */
enum sluice_decision_kind {
  SLUICE_DECIDE_ALLOW_UNISOLATED = 1, /* no policy isolates this direction */
  SLUICE_DECIDE_ALLOW_RULE = 2,
  SLUICE_DECIDE_DENY_RULE = 3,
  SLUICE_DECIDE_DENY_DEFAULT = 4, /* isolated and no rule allows */
  SLUICE_DECIDE_ALLOW_OWN_NODE = 5, /* ingress from the pod's own node: always allowed */
  SLUICE_DECIDE_ALLOW_HAIRPIN = 6,  /* ingress of a pod's connection to itself through a service */
};
#define SLUICE_DECISION(kind, rule) (((sluice_u32)(kind) << 24) | ((sluice_u32)(rule)&0xffffff))
#define SLUICE_DECISION_KIND(d) ((d) >> 24)
#define SLUICE_DECISION_RULE(d) ((d)&0xffffff)
#define SLUICE_DECISION_ALLOWS(d)                                                                         \
  (SLUICE_DECISION_KIND(d) == SLUICE_DECIDE_ALLOW_UNISOLATED || SLUICE_DECISION_KIND(d) == SLUICE_DECIDE_ALLOW_RULE || \
   SLUICE_DECISION_KIND(d) == SLUICE_DECIDE_ALLOW_OWN_NODE || SLUICE_DECISION_KIND(d) == SLUICE_DECIDE_ALLOW_HAIRPIN)

/* What the packet met, for counters and trace. */
enum sluice_outcome {
  SLUICE_OUT_NEW_ALLOWED = 1,
  SLUICE_OUT_NEW_DENIED = 2,
  SLUICE_OUT_ESTABLISHED = 3,
  SLUICE_OUT_REPLY = 4,
  SLUICE_OUT_NOT_IP = 5,      /* ARP and the like: passed */
  SLUICE_OUT_UNSUPPORTED = 6, /* IPv6, fragments, bad headers: dropped when isolated */
  SLUICE_OUT_SPOOFED = 7,     /* from-pod source is not the endpoint's address: dropped */
  SLUICE_OUT_REJECTED = 8,    /* a service address that cannot serve it: answered (TCP RST / ICMP) */
  SLUICE_OUT_SVC_DROPPED = 9, /* a service with no backend this node may use (Local policy): dropped */
  SLUICE_OUT_SNAT_EXHAUSTED = 10, /* masquerade found no free port for the connection: dropped */
};

/* skb->cb slots a program writes (read back by BPF_PROG_TEST_RUN's ctx_out). */
#define SLUICE_CB_DECISION 0
#define SLUICE_CB_OUTCOME 1
#define SLUICE_CB_IDENTITY 2 /* the remote end's identity */
#define SLUICE_CB_SERVICE 3  /* the service id that translated the packet, 0 if none */

#endif /* SLUICE_ABI_H */
