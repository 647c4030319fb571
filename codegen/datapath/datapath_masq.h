/* Masquerade: a pod's connection to an address outside the cluster leaves
 * with the node's address (docs/datapath.md, "Masquerade").
 *
 * The from-pod program, having admitted a new connection from pod P:p to a
 * world address R:r that no prefix of sluice_nomasq_v1 covers, rewrites its
 * source to the node N and a port n from the configured SNAT range (one the
 * node's own sockets never use) and routes it out itself (the stack would
 * drop a received packet with a local source as a martian). Three entries:
 *   from-pod, P:p -> R:r     : rewrite the source to N:n, route (later packets)
 *   uplink,   R:r -> N:n     : rewrite the destination back to P:p (the replies,
 *                              reserved first, atomically: it is what makes n free)
 *   to-pod,   R:r -> P:p     : the replies, as for any admitted connection
 * Egress policy has already judged the connection by the pod's own address.
 * ICMP echo is masqueraded the same way, its identifier standing for the port.
 * Included by datapath.bpf.c after the uplink helpers. */
#ifndef SLUICE_DATAPATH_MASQ_H
#define SLUICE_DATAPATH_MASQ_H

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, SLUICE_NOMASQ_MAX_ENTRIES);
  __type(key, struct sluice_nomasq_key);
  __type(value, struct sluice_nomasq_value);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_nomasq_v1 SEC(".maps");

#define SLUICE_MASQ_TRIES 8
#define SLUICE_IDENTITY_WORLD 2

/* The node's settings when this admitted connection is to be masqueraded. */
static __always_inline const struct sluice_config *masquerade_for(const struct sluice_flow *f) {
  if (f->direction != SLUICE_DIR_EGRESS || f->remote_identity != SLUICE_IDENTITY_WORLD) return NULL;
  if (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP && f->proto != IPPROTO_SCTP &&
      !(f->proto == IPPROTO_ICMP && f->port == 8 /* echo request */))
    return NULL;
  __u32 zero = 0;
  const struct sluice_config *cfg = bpf_map_lookup_elem(&sluice_cfg_v2, &zero);
  if (!cfg || !(cfg->flags & SLUICE_CFG_MASQUERADE) || !cfg->node_addr || cfg->snat_port_max < cfg->snat_port_min)
    return NULL;
  struct sluice_nomasq_key k = {.prefixlen = 32, .addr = f->key.daddr};
  if (bpf_map_lookup_elem(&sluice_nomasq_v1, &k)) return NULL;
  return cfg;
}

/* Reserves the reply tuple R:r -> N:n for a port n of the range, with
 * BPF_NOEXIST (atomic against other CPUs). Returns n, or 0 when every try was
 * taken. */
static __always_inline __u16 masq_reserve(__u32 remote, __u16 rport, __u32 node, __u8 proto,
                                          const struct sluice_config *cfg, const struct sluice_ct_value *reply) {
  __u32 span = (__u32)cfg->snat_port_max - cfg->snat_port_min + 1;
#pragma clang loop unroll(disable)
  for (int i = 0; i < SLUICE_MASQ_TRIES; i++) {
    __u16 port = cfg->snat_port_min + bpf_get_prandom_u32() % span;
    struct sluice_ct_key k = ct_key(remote, node, rport, port, proto, SLUICE_CT_UPLINK);
    if (bpf_map_update_elem(&sluice_ct_v2, &k, reply, BPF_NOEXIST) == 0) return port;
  }
  return 0;
}

/* Admits and masquerades a new connection (v: its tracking value, decision
 * set). One value is reused for the three entries: the call chain program ->
 * sluice_dp_finish -> sluice_global_route_out must stay within 512 bytes. */
static __always_inline int finish_masquerade(struct __sk_buff *skb, struct sluice_flow *f, struct sluice_ct_value *v,
                                             const struct sluice_config *cfg) {
  __u32 pod = f->key.saddr, remote = f->key.daddr, node = cfg->node_addr;
  __u16 pport = f->key.sport, rport = f->key.dport;
  __u8 proto = f->key.proto;

  /* The uplink's entry for the replies, reserved first: it makes the port free. */
  v->is_reply = 1;
  v->nat_flags = SLUICE_NAT_DST;
  v->nat_daddr = pod;
  v->nat_dport = pport;
  __u16 nport = masq_reserve(remote, rport, node, proto, cfg, v);
  if (!nport) return leave(skb, f, SLUICE_OUT_SNAT_EXHAUSTED, TC_ACT_SHOT);
  /* The replies, after the uplink turned them back, at the pod's to-pod hook. */
  v->nat_flags = 0;
  v->nat_daddr = 0;
  v->nat_dport = 0;
  struct sluice_ct_key k = ct_key(remote, pod, rport, pport, proto, SLUICE_CT_INGRESS);
  track(&k, v);
  /* This hook's: later packets are rewritten and routed out the same way. */
  v->is_reply = 0;
  v->nat_flags = SLUICE_NAT_SRC | SLUICE_NAT_ROUTE;
  v->nat_saddr = node;
  v->nat_sport = nport;
  track(&f->key, v);

  struct nat_tuple from = {.saddr = pod, .daddr = remote, .sport = pport, .dport = rport};
  struct nat_tuple to = {.saddr = node, .daddr = remote, .sport = nport, .dport = rport};
  if (nat_rewrite(skb, f->l4_off, proto, &from, &to)) return leave(skb, f, SLUICE_OUT_UNSUPPORTED, TC_ACT_SHOT);
  leave(skb, f, SLUICE_OUT_NEW_ALLOWED, TC_ACT_OK);
  /* Out of the uplink, its next hop found by the kernel (bpf_redirect_neigh
     does the route lookup when given none): no 64-byte FIB query on this
     call chain's stack, which sluice_global_route_out would put over 512
     bytes here. Later packets take sluice_global_route_out from
     sluice_dp_begin. Without a known uplink (a trace), the stack has it. */
  if (!cfg->uplink_ifindex) return TC_ACT_OK;
  if (forward_hop(skb)) return TC_ACT_SHOT;
  return bpf_redirect_neigh(cfg->uplink_ifindex, NULL, 0, 0);
}

#endif /* SLUICE_DATAPATH_MASQ_H */
