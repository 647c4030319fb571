/* Services in the from-pod hook (the kube-proxy model, docs/datapath.md
 * "Services"): a new connection to a service address gets a backend, chosen
 * uniformly at random or by ClientIP affinity; a service that cannot serve it
 * is answered at once (TCP RST, ICMP port unreachable) or, under a Local
 * traffic policy with endpoints only elsewhere, dropped.
 *
 * Frontends and backends are maps the runtime rewrites in place; nothing here
 * depends on the cluster, so a backend change needs no recompile. Per packet
 * the cost is a fixed number of hash lookups whatever the number of services.
 *
 * Included by datapath.bpf.c after its flow and counter helpers. */
#ifndef SLUICE_DATAPATH_SERVICE_H
#define SLUICE_DATAPATH_SERVICE_H

#include <linux/tcp.h>

/* linux/icmp.h pulls in libc's socket headers, which a BPF build lacks. */
#define SLUICE_ICMP_DEST_UNREACH 3
#define SLUICE_ICMP_PORT_UNREACH 3
struct sluice_icmp_unreach {
  __u8 type, code;
  __u16 checksum;
  __u32 unused;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SLUICE_SERVICES_MAX_ENTRIES);
  __type(key, struct sluice_svc_key);
  __type(value, struct sluice_svc_value);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_svc_v1 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SLUICE_BACKENDS_MAX_ENTRIES);
  __type(key, struct sluice_be_key);
  __type(value, struct sluice_be_value);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_be_v1 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, SLUICE_AFFINITY_MAX_ENTRIES);
  __type(key, struct sluice_aff_key);
  __type(value, struct sluice_aff_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_aff_v1 SEC(".maps");

/* libbpf 1.1's helper list predates bpf_redirect_peer (kernel 5.10). */
static long (*sluice_redirect_peer)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect_peer;

/* ---- choosing a backend ------------------------------------------------------ */

static __always_inline struct sluice_be_value *backend_at(__u32 service_id, __u32 slot) {
  struct sluice_be_key k = {.service_id = service_id, .slot = slot};
  return bpf_map_lookup_elem(&sluice_be_v1, &k);
}

/* Uniform per connection; with ClientIP affinity the client's last backend
 * while its entry is younger than the timeout and that backend still holds
 * its slot (a backend that left or moved breaks affinity, as in kube-proxy). */
static __always_inline struct sluice_be_value *choose_backend(const struct sluice_flow *f,
                                                              const struct sluice_svc_value *svc, __u32 count,
                                                              __u32 *chosen_slot) {
  __u32 slot = bpf_get_prandom_u32() % count;
  *chosen_slot = slot;
  if (!(svc->flags & SLUICE_SVC_AFFINITY)) return backend_at(svc->service_id, slot);

  struct sluice_aff_key ak = {.client_addr = f->key.saddr, .service_id = svc->service_id};
  __u64 now = bpf_ktime_get_ns();
  struct sluice_aff_value *pinned = bpf_map_lookup_elem(&sluice_aff_v1, &ak);
  if (pinned && now - pinned->last_used_ns <= (__u64)svc->affinity_timeout_s * 1000000000ull &&
      pinned->slot < count) {
    struct sluice_be_value *be = backend_at(svc->service_id, pinned->slot);
    if (be && be->addr == pinned->backend_addr && be->port == pinned->backend_port) {
      pinned->last_used_ns = now;
      *chosen_slot = pinned->slot;
      return be;
    }
  }
  struct sluice_be_value *be = backend_at(svc->service_id, slot);
  if (be) {
    struct sluice_aff_value nv = {.last_used_ns = now, .backend_addr = be->addr, .backend_port = be->port,
                                  .slot = (__u16)slot};
    bpf_map_update_elem(&sluice_aff_v1, &ak, &nv, BPF_ANY);
  }
  return be;
}

/* ---- rejecting: the answer is built in place and sent back the way the question came -- */

static __always_inline __u16 csum_fold(__s64 partial) {
  __u32 s = (__u32)partial;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (__u16)~s;
}

/* From a pod, the answer goes to the peer of the interface it came in on:
 * straight into the client pod, past this veth's to-pod hook (the answer is
 * the service's, not a connection the pod's ingress policy should judge).
 * From the uplink, it leaves by the interface the question came in on, to
 * the neighbour that sent it (the MACs are swapped): a client behind a router
 * is answered through that router, with no route lookup. */
static __always_inline int send_back(struct __sk_buff *skb, const struct sluice_flow *f) {
  int act = f->direction == SLUICE_DIR_UPLINK ? bpf_redirect(skb->ifindex, 0) : sluice_redirect_peer(skb->ifindex, 0);
  return leave(skb, f, SLUICE_OUT_REJECTED, act);
}

static __always_inline void reply_ip(struct iphdr *out, __u32 saddr, __u32 daddr, __u8 proto, __u16 tot_len) {
  __builtin_memset(out, 0, sizeof(*out));
  out->version = 4;
  out->ihl = 5;
  out->tot_len = bpf_htons(tot_len);
  out->ttl = 64;
  out->protocol = proto;
  out->saddr = saddr;
  out->daddr = daddr;
  out->check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)out, sizeof(*out), 0));
}

/* A TCP RST for the segment (RFC 9293 3.10.7.1: the answer to a segment for
 * a closed port). */
static __always_inline int reject_tcp(struct __sk_buff *skb, const struct sluice_flow *f) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  struct iphdr *ip = (void *)(eth + 1);
  struct tcphdr *th = data + (f->l4_off & 0x7f);
  if ((void *)(ip + 1) > end || (void *)(th + 1) > end) return leave(skb, f, SLUICE_OUT_UNSUPPORTED, TC_ACT_SHOT);
  if (th->rst) return leave(skb, f, SLUICE_OUT_REJECTED, TC_ACT_SHOT); /* never answer a RST */

  struct ethhdr oeth;
  __builtin_memcpy(oeth.h_dest, eth->h_source, ETH_ALEN);
  __builtin_memcpy(oeth.h_source, eth->h_dest, ETH_ALEN);
  oeth.h_proto = bpf_htons(ETH_P_IP);
  struct {
    __u32 saddr, daddr;
    __u8 zero, proto;
    __u16 len;
    struct tcphdr tcp;
  } seg;
  __builtin_memset(&seg, 0, sizeof(seg));
  seg.saddr = ip->daddr;
  seg.daddr = ip->saddr;
  seg.proto = IPPROTO_TCP;
  seg.len = bpf_htons(sizeof(struct tcphdr));
  seg.tcp.source = th->dest;
  seg.tcp.dest = th->source;
  seg.tcp.doff = 5;
  seg.tcp.rst = 1;
  if (th->ack) {
    seg.tcp.seq = th->ack_seq;
  } else {
    __u32 payload = bpf_ntohs(ip->tot_len) - ip->ihl * 4 - th->doff * 4;
    seg.tcp.ack_seq = bpf_htonl(bpf_ntohl(th->seq) + payload + th->syn + th->fin);
    seg.tcp.ack = 1;
  }
  seg.tcp.check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)&seg, sizeof(seg), 0));
  struct iphdr oip;
  reply_ip(&oip, seg.saddr, seg.daddr, IPPROTO_TCP, sizeof(struct iphdr) + sizeof(struct tcphdr));

  if (bpf_skb_change_tail(skb, ETH_HLEN + sizeof(oip) + sizeof(seg.tcp), 0) ||
      bpf_skb_store_bytes(skb, 0, &oeth, ETH_HLEN, 0) ||
      bpf_skb_store_bytes(skb, ETH_HLEN, &oip, sizeof(oip), 0) ||
      bpf_skb_store_bytes(skb, ETH_HLEN + sizeof(oip), &seg.tcp, sizeof(seg.tcp), 0))
    return leave(skb, f, SLUICE_OUT_UNSUPPORTED, TC_ACT_SHOT);
  return send_back(skb, f);
}

/* ICMP destination unreachable, port unreachable (type 3 code 3), quoting the
 * IP header and the first 8 bytes of the packet, as a host answers a UDP or
 * SCTP packet for a port nothing listens on. */
static __always_inline int reject_icmp(struct __sk_buff *skb, const struct sluice_flow *f) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  struct iphdr *ip = (void *)(eth + 1);
  __u8 *l4 = (void *)(ip + 1);
  /* Packets with IP options are dropped rather than quoted. */
  if ((void *)(l4 + 8) > end || ip->ihl != 5) return leave(skb, f, SLUICE_OUT_UNSUPPORTED, TC_ACT_SHOT);

  struct ethhdr oeth;
  __builtin_memcpy(oeth.h_dest, eth->h_source, ETH_ALEN);
  __builtin_memcpy(oeth.h_source, eth->h_dest, ETH_ALEN);
  oeth.h_proto = bpf_htons(ETH_P_IP);
  struct {
    struct sluice_icmp_unreach icmp;
    struct iphdr quoted;
    __u8 quoted_l4[8];
  } msg;
  __builtin_memset(&msg, 0, sizeof(msg));
  msg.icmp.type = SLUICE_ICMP_DEST_UNREACH;
  msg.icmp.code = SLUICE_ICMP_PORT_UNREACH;
  __builtin_memcpy(&msg.quoted, ip, sizeof(msg.quoted));
  __builtin_memcpy(msg.quoted_l4, l4, sizeof(msg.quoted_l4));
  msg.icmp.checksum = csum_fold(bpf_csum_diff(0, 0, (__be32 *)&msg, sizeof(msg), 0));
  struct iphdr oip;
  reply_ip(&oip, ip->daddr, ip->saddr, IPPROTO_ICMP, sizeof(oip) + sizeof(msg));

  if (bpf_skb_change_tail(skb, ETH_HLEN + sizeof(oip) + sizeof(msg), 0) ||
      bpf_skb_store_bytes(skb, 0, &oeth, ETH_HLEN, 0) ||
      bpf_skb_store_bytes(skb, ETH_HLEN, &oip, sizeof(oip), 0) ||
      bpf_skb_store_bytes(skb, ETH_HLEN + sizeof(oip), &msg, sizeof(msg), 0))
    return leave(skb, f, SLUICE_OUT_UNSUPPORTED, TC_ACT_SHOT);
  return send_back(skb, f);
}

static __always_inline int reject(struct __sk_buff *skb, const struct sluice_flow *f) {
  return f->proto == IPPROTO_TCP ? reject_tcp(skb, f) : reject_icmp(skb, f);
}

/* ---- the lookup ---------------------------------------------------------------- */

/* For a new TCP/UDP/SCTP connection leaving a pod. Returns SLUICE_DP_DECIDE
 * to go on to the policy decision (with f->nat set when a service translated
 * the connection: the decision then sees the backend), or a TC action when
 * the service answered or dropped the packet itself. One lookup for an
 * address that is no service's. */
static __always_inline int service_translate(struct __sk_buff *skb, struct sluice_flow *f) {
  struct sluice_svc_key k = {.addr = f->key.daddr};
  struct sluice_svc_value *address = bpf_map_lookup_elem(&sluice_svc_v1, &k);
  if (!address) return SLUICE_DP_DECIDE;
  __u16 address_flags = address->flags;
  k.port = f->key.dport;
  k.proto = f->key.proto;
  struct sluice_svc_value *svc = bpf_map_lookup_elem(&sluice_svc_v1, &k);
  if (!svc) return address_flags & SLUICE_SVC_REJECT_UNSERVED ? reject(skb, f) : SLUICE_DP_DECIDE;

  skb->cb[SLUICE_CB_SERVICE] = svc->service_id;
  __u32 count = svc->backend_count;
  if (count == 0) return svc->flags & SLUICE_SVC_REJECT ? reject(skb, f) : leave(skb, f, SLUICE_OUT_SVC_DROPPED, TC_ACT_SHOT);
  /* A SYN reopening a tracked service tuple keeps its backend while that
     backend still holds its slot; otherwise, and for new tuples, choose. */
  struct sluice_be_value *be = NULL;
  __u32 slot = f->backend_slot - 1;
  if (f->backend_slot && slot < count) {
    be = backend_at(svc->service_id, slot);
    if (be && (be->addr != f->nat_daddr || be->port != f->nat_dport)) be = NULL;
  }
  if (!be) be = choose_backend(f, svc, count, &slot);
  /* A slot missing means the runtime is between two writes: drop this
     packet, the client's retransmission will find the table whole. */
  if (!be) return leave(skb, f, SLUICE_OUT_SVC_DROPPED, TC_ACT_SHOT);
  f->service_id = svc->service_id;
  f->backend_slot = (__u16)(slot + 1);
  f->nat_daddr = be->addr;
  f->nat_dport = be->port;
  f->hairpin = be->addr == f->endpoint_addr;
  return SLUICE_DP_DECIDE;
}

#endif /* SLUICE_DATAPATH_SERVICE_H */
