/* NodePort, external and load-balancer addresses reached from outside the
 * cluster: the node's uplink program (`from_netdev`, tc ingress of the node's
 * uplink interface; docs/datapath.md "From outside: the uplink program").
 *
 * A new connection to an uplink frontend (sluice_svc_v1 entries of scope
 * SLUICE_SVC_SCOPE_UPLINK: node address:nodePort, external / LB address:port)
 * gets a backend from the externalTrafficPolicy set, and then
 *   - a backend on this node: the destination is rewritten and routing
 *     delivers the packet to the pod, whose to-pod program applies its ingress
 *     policy (the client is world, or a node). Its replies meet the pod's
 *     from-pod program first: the to-pod program, admitting the connection,
 *     finds the translation this program left (scope SLUICE_CT_UPLINK_DNAT)
 *     and tracks the replies with it (sluice_dp_finish);
 *   - a backend elsewhere (externalTrafficPolicy Cluster): the source becomes
 *     this node (and a port that keeps the reply tuple unique), so the replies
 *     come back through this node's uplink, where this program's entry turns
 *     them back. With Local the runtime lists this node's endpoints only.
 * A frontend without any endpoint is answered like a closed port (TCP RST,
 * ICMP port unreachable) back out of the uplink; Local with endpoints on
 * other nodes only is dropped (both as kube-proxy does).
 * Packets whose source becomes this node's address are routed by the program
 * (SLUICE_NAT_ROUTE): the stack would drop them as martians (a local source
 * arriving on an interface).
 *
 * Everything else passes untouched: the uplink carries the node's own traffic.
 * Included by datapath.bpf.c after the service helpers. */
#ifndef SLUICE_DATAPATH_UPLINK_H
#define SLUICE_DATAPATH_UPLINK_H

#define SLUICE_AF_INET 2

/* The node's settings (sluice_abi.h), written by the runtime. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sluice_config);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_cfg_v2 SEC(".maps");
/* Ports the SNAT picks from when the client's own is taken (Linux's default
 * ephemeral range). */
#define SLUICE_SNAT_PORT_MIN 32768
#define SLUICE_SNAT_PORT_SPAN 28232
#define SLUICE_SNAT_TRIES 4

/* The node forwards this packet, so it costs a hop as routed traffic does
 * (TTL and protocol share a checksummed 16-bit word). The last hop is dropped
 * (-1) where a router would answer "time exceeded". */
static __always_inline int forward_hop(struct __sk_buff *skb) {
  __u8 hop[2];
  if (bpf_skb_load_bytes(skb, SLUICE_IP_TTL_OFF, hop, 2) || hop[0] <= 1) return -1;
  __u16 before, after;
  __builtin_memcpy(&before, hop, 2);
  hop[0] -= 1;
  __builtin_memcpy(&after, hop, 2);
  if (bpf_l3_csum_replace(skb, SLUICE_IP_CSUM_OFF, before, after, 2) ||
      bpf_skb_store_bytes(skb, SLUICE_IP_TTL_OFF, hop, 2, 0))
    return -1;
  return 0;
}

/* Sends a packet whose source is now this node's address towards its
 * destination: the route's device and neighbour, as if the node sent it.
 * Anything the FIB does not forward (a local destination, no route) is left
 * to the stack. */
/* A BPF global function (verified once, on its own): its 64-byte FIB query
 * would otherwise sit on sluice_dp_begin's stack, and a program's call chain
 * (program, sluice_dp_begin, the SCTP CRC function) must stay within 512 bytes. */
__attribute__((noinline)) int sluice_global_route_out(struct __sk_buff *skb, __u32 saddr, __u32 daddr) {
  struct bpf_fib_lookup p;
  __builtin_memset(&p, 0, sizeof(p));
  p.family = SLUICE_AF_INET;
  p.ipv4_src = saddr;
  p.ipv4_dst = daddr;
  p.ifindex = skb->ifindex;
  long rc = bpf_fib_lookup(skb, &p, sizeof(p), 0);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) return TC_ACT_OK;
  if (forward_hop(skb)) return TC_ACT_SHOT;
  /* bpf_redirect_neigh resolves the next hop's address itself (and queues
     the packet while it does), so a cold neighbour cache loses nothing. */
  return bpf_redirect_neigh(p.ifindex, NULL, 0, 0);
}

/* Reserves the reply tuple backend:bport -> node:port for this connection,
 * trying the client's port first: BPF_NOEXIST makes the reservation atomic
 * against other CPUs. Returns the port, or 0 when every try was taken. */
static __always_inline __u16 snat_reserve(__u32 backend, __u16 bport, __u32 node, __u16 cport, __u8 proto,
                                          const struct sluice_ct_value *reply) {
  __u16 port = cport;
  /* A bounded loop, not unrolled: less code to compile per node. */
#pragma clang loop unroll(disable)
  for (int i = 0; i < SLUICE_SNAT_TRIES; i++) {
    struct sluice_ct_key k = ct_key(backend, node, bport, port, proto, SLUICE_CT_UPLINK);
    if (bpf_map_update_elem(&sluice_ct_v2, &k, reply, BPF_NOEXIST) == 0) return port;
    port = SLUICE_SNAT_PORT_MIN + bpf_get_prandom_u32() % SLUICE_SNAT_PORT_SPAN;
  }
  return 0;
}

/* A new connection from outside to an uplink frontend. f holds the parsed
 * tuple (scope SLUICE_CT_UPLINK). Returns a TC action, or SLUICE_DP_DECIDE
 * with `to` (and `route`) set: the caller rewrites the packet, one rewrite
 * site for new and tracked packets (code size is per-node compile time).
 * A BPF subprogram, not inlined: its locals (the reject's answer headers, the
 * tracking entries) then stay off the program's own frame, and the chain
 * program -> sluice_global_route_out stays within the 512-byte stack (inlined
 * with the reject, it was 528). */
DP_SUBPROG int sluice_dp_uplink_new(struct __sk_buff *skb, struct sluice_flow *f, struct nat_tuple *to,
                                    __u32 *route) {
  struct sluice_svc_key sk = {.addr = f->key.daddr, .port = f->key.dport, .proto = f->key.proto,
                              .scope = SLUICE_SVC_SCOPE_UPLINK};
  struct sluice_svc_value *svc = bpf_map_lookup_elem(&sluice_svc_v1, &sk);
  if (!svc) return TC_ACT_OK; /* not a frontend: the node's own traffic */
  skb->cb[SLUICE_CB_SERVICE] = svc->service_id;
  __u32 count = svc->backend_count;
  /* No endpoint at all: answered, as kube-proxy does (the client sees
     "refused" at once, not a timeout). Local with endpoints on other nodes
     only: dropped, as kube-proxy does (a load balancer's health check takes
     this node out instead). */
  if (count == 0)
    return svc->flags & SLUICE_SVC_REJECT ? reject(skb, f) : leave(skb, f, SLUICE_OUT_SVC_DROPPED, TC_ACT_SHOT);
  __u32 slot;
  struct sluice_be_value *be = choose_backend(f, svc, count, &slot);
  if (!be) return leave(skb, f, SLUICE_OUT_SVC_DROPPED, TC_ACT_SHOT);
  __u32 client = f->key.saddr, vip = f->key.daddr, backend = be->addr;
  __u16 cport = f->key.sport, vport = f->key.dport, bport = be->port;
  __u8 proto = f->key.proto;
  int local = be->flags & SLUICE_BE_LOCAL;
  if (!local && (!(svc->flags & SLUICE_SVC_SNAT) || !f->endpoint_addr))
    return leave(skb, f, SLUICE_OUT_SVC_DROPPED, TC_ACT_SHOT);

  /* The replies' translation: back to vip:vport -> client:cport. For a local
     backend it is left (keyed by the translated tuple) for the pod's to-pod
     program; for a remote one it is the uplink's entry for backend -> node. */
  struct sluice_ct_value v = {.created_ns = bpf_ktime_get_ns(), .packets = 1, .service_id = svc->service_id,
                              .is_reply = 1, .nat_saddr = vip, .nat_sport = vport, .nat_daddr = client,
                              .nat_dport = cport};
  to->saddr = client;
  to->sport = cport;
  to->daddr = backend;
  to->dport = bport;
  struct sluice_ct_key k;
  if (local) {
    v.nat_flags = SLUICE_NAT_SRC | SLUICE_NAT_ROUTE;
    k = ct_key(client, backend, cport, bport, proto, SLUICE_CT_UPLINK_DNAT);
    track(&k, &v);
  } else {
    v.nat_flags = SLUICE_NAT_SRC | SLUICE_NAT_DST | SLUICE_NAT_ROUTE;
    __u16 sport = snat_reserve(backend, bport, f->endpoint_addr, cport, proto, &v);
    if (!sport) return leave(skb, f, SLUICE_OUT_SVC_DROPPED, TC_ACT_SHOT);
    to->saddr = f->endpoint_addr;
    to->sport = sport;
  }
  v.is_reply = 0;
  v.nat_flags = SLUICE_NAT_DST | (local ? 0 : SLUICE_NAT_SRC | SLUICE_NAT_ROUTE);
  v.nat_saddr = to->saddr;
  v.nat_sport = to->sport;
  v.nat_daddr = backend;
  v.nat_dport = bport;
  k = ct_key(client, vip, cport, vport, proto, SLUICE_CT_UPLINK);
  track(&k, &v);
  *route = !local;
  leave(skb, f, SLUICE_OUT_NEW_ALLOWED, TC_ACT_OK);
  return SLUICE_DP_DECIDE;
}

/* The uplink program's body (inlined into the node's one from_netdev
 * program). node_addr_be: the node's IPv4, the source of SNATed connections. */
DP_FN int sluice_dp_uplink(struct __sk_buff *skb, __u32 node_addr_be) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  skb->cb[SLUICE_CB_DECISION] = 0;
  skb->cb[SLUICE_CB_OUTCOME] = 0;
  skb->cb[SLUICE_CB_IDENTITY] = 0;
  skb->cb[SLUICE_CB_SERVICE] = 0;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->ihl != 5 || (ip->frag_off & bpf_htons(0x1fff))) return TC_ACT_OK;
  __u16 sport, dport;
  if (ip->protocol == IPPROTO_ICMP) {
    /* Only echo replies, of pods' masqueraded pings (tracked: never new). */
    __u8 *icmp = (void *)(ip + 1);
    if ((void *)(icmp + 8) > end || icmp[0] != 0) return TC_ACT_OK;
    sport = 0;
    dport = ((__u16)icmp[4] << 8) | icmp[5];
  } else if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP || ip->protocol == IPPROTO_SCTP) {
    __be16 *ports = (void *)(ip + 1);
    if ((void *)(ports + 2) > end) return TC_ACT_OK;
    sport = bpf_ntohs(ports[0]);
    dport = bpf_ntohs(ports[1]);
  } else {
    return TC_ACT_OK;
  }
  /* Most of what crosses the uplink is for this node's pods (native
     routing) or the overlay's datagrams (VXLAN): neither a frontend nor a
     tracked uplink connection, so no lookup. */
  __u32 zero = 0;
  const struct sluice_config *cfg = bpf_map_lookup_elem(&sluice_cfg_v2, &zero);
  if (cfg) {
    if (cfg->local_pods_mask && (ip->daddr & cfg->local_pods_mask) == cfg->local_pods_addr) return TC_ACT_OK;
    if (cfg->vxlan_port && ip->protocol == IPPROTO_UDP && ip->daddr == node_addr_be &&
        bpf_htons(dport) == cfg->vxlan_port)
      return TC_ACT_OK;
  }

  struct sluice_flow fl;
  struct sluice_flow *f = &fl;
  __builtin_memset(f, 0, sizeof(*f));
  f->endpoint_addr = node_addr_be;
  f->direction = SLUICE_DIR_UPLINK;
  f->len = skb->len;
  f->proto = ip->protocol;
  f->l4_off = ETH_HLEN + sizeof(struct iphdr);
  f->key = ct_key(ip->saddr, ip->daddr, sport, dport, ip->protocol, SLUICE_CT_UPLINK);

  struct nat_tuple from = {.saddr = f->key.saddr, .daddr = f->key.daddr, .sport = f->key.sport,
                           .dport = f->key.dport};
  struct nat_tuple to = from;
  __u32 route = 0;
  struct sluice_ct_value *ct = bpf_map_lookup_elem(&sluice_ct_v2, &f->key);
  if (!ct && f->proto == IPPROTO_ICMP) return TC_ACT_OK;
  if (!ct) {
    int act = sluice_dp_uplink_new(skb, f, &to, &route);
    if (act != SLUICE_DP_DECIDE) return act;
  } else {
    skb->cb[SLUICE_CB_OUTCOME] = ct->is_reply ? SLUICE_OUT_REPLY : SLUICE_OUT_ESTABLISHED;
    skb->cb[SLUICE_CB_SERVICE] = ct->service_id;
    route = ct->nat_flags & SLUICE_NAT_ROUTE;
    if (ct->nat_flags & SLUICE_NAT_SRC) {
      to.saddr = ct->nat_saddr;
      to.sport = ct->nat_sport;
    }
    if (ct->nat_flags & SLUICE_NAT_DST) {
      to.daddr = ct->nat_daddr;
      to.dport = ct->nat_dport;
    }
  }
  if (nat_rewrite(skb, f->l4_off, f->proto, &from, &to)) return TC_ACT_SHOT;
  return route ? sluice_global_route_out(skb, to.saddr, to.daddr) : TC_ACT_OK;
}

#endif /* SLUICE_DATAPATH_UPLINK_H */
