/* The datapath library of generic mode (`sluice compile --datapath generic`):
 * the whole specialized library (datapath.bpf.c, included unchanged) plus one
 * table-driven decision function that replaces the generated ones. Built as a
 * second bitcode file so that specialized objects stay exactly as they were.
 *
 *   int to_pod_x(struct __sk_buff *skb) {
 *     ... as in datapath.bpf.c, with the decision:
 *     __u32 d = sluice_generic_decide(<table> | <flags> << 24, identity, addr, proto, port);
 *   }
 *
 * The answer is the same decision value the specialized function returns
 * (kind and deciding rule): deny rules first, then the pod's own node for
 * ingress, then "not isolated", then the lowest-numbered allow rule. Tables
 * and their layout: sluice_generic_abi.h.
 */
#include "datapath.bpf.c"

#include "sluice_generic_abi.h"

/* Never pinned: the tables belong to one program generation (sluice_generic_abi.h).
 * max_entries is set by the loader to the table's size before the object loads. */
struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1);
  __type(key, struct sluice_gpol_key);
  __type(value, struct sluice_gpol_value);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} sluice_gpol_v1 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1);
  __type(key, struct sluice_gcidr_key);
  __type(value, struct sluice_gcidr_value);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} sluice_gcidr_v1 SEC(".maps");

/* Every lookup builds its key in one 16-byte slot. */
union generic_key {
  struct sluice_gpol_key policy;
  struct sluice_gcidr_key cidr;
};

static __always_inline struct sluice_gpol_value *generic_policy_lookup(union generic_key *k, __u32 table,
                                                                       __u32 selector, __u32 proto, __u32 port) {
  __builtin_memset(k, 0, sizeof(*k));
  k->policy.prefixlen = SLUICE_GPOL_FULL_PREFIX;
  k->policy.table = bpf_htonl(table);
  k->policy.selector = bpf_htonl(selector);
  k->policy.proto = proto;
  k->policy.port_hi = port >> 8;
  k->policy.port_lo = port & 0xff;
  return bpf_map_lookup_elem(&sluice_gpol_v1, &k->policy);
}

/* min over rule indices, 0 meaning none. */
static __always_inline __u32 first_rule(__u32 a, __u32 b) { return (a - 1) < (b - 1) ? a : b; }

/* A BPF subprogram, not inlined: inlined, its lookup key joined the program's
 * frame, which is part of the call chain program -> sluice_dp_begin ->
 * sluice_global_route_out that the verifier limits to 512 bytes (16 over,
 * measured). The call costs a few ns per new connection (docs/reports/generic-mode.md).
 * A BPF call takes at most five arguments: the table number (low 24 bits)
 * and the flags (high 8) share one. */
DP_SUBPROG __u32 sluice_generic_decide(__u32 table_and_flags, __u32 identity, __u32 addr_host, __u32 proto,
                                       __u32 port) {
  __u32 table = table_and_flags & 0xffffff, flags = table_and_flags >> 24;
  union generic_key k;
  __u32 deny = 0, allow = 0;
  struct sluice_gpol_value *v = generic_policy_lookup(&k, table, identity, proto, port);
  /* An identity the table does not name gets the rules for "any other identity". */
  if (!v) v = generic_policy_lookup(&k, table, SLUICE_GPOL_OTHER_IDENTITY, proto, port);
  if (v) {
    deny = v->deny_rule;
    allow = v->allow_rule;
  }
  if (flags & SLUICE_GEN_ADDRESS) {
    __builtin_memset(&k, 0, sizeof(k));
    k.cidr.prefixlen = SLUICE_GCIDR_FULL_PREFIX;
    k.cidr.table = bpf_htonl(table);
    k.cidr.addr = bpf_htonl(addr_host);
    struct sluice_gcidr_value *c = bpf_map_lookup_elem(&sluice_gcidr_v1, &k.cidr);
    if (c) {
      __u32 selector = identity == 2 /* world */ ? c->world_selector : c->selector;
      struct sluice_gpol_value *a = selector ? generic_policy_lookup(&k, table, selector, proto, port) : 0;
      if (a) {
        deny = first_rule(deny, a->deny_rule);
        allow = first_rule(allow, a->allow_rule);
      }
    }
  }
  if (deny) return SLUICE_DECISION(SLUICE_DECIDE_DENY_RULE, deny);
  if (!(flags & SLUICE_GEN_ISOLATED)) return SLUICE_DECISION(SLUICE_DECIDE_ALLOW_UNISOLATED, 0);
  if ((flags & SLUICE_GEN_INGRESS) && identity == 1 /* host */) return SLUICE_DECISION(SLUICE_DECIDE_ALLOW_OWN_NODE, 0);
  if (allow) return SLUICE_DECISION(SLUICE_DECIDE_ALLOW_RULE, allow);
  return SLUICE_DECISION(SLUICE_DECIDE_DENY_DEFAULT, 0);
}
