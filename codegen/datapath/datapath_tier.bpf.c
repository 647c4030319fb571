/* The agent's first tier (docs/agent.md, "Tiered enforcement"): three
 * programs compiled once per agent, not per endpoint, that enforce any
 * endpoint from tables:
 *
 *   tier_from_pod, tier_to_pod   the pod's hooks, as a specialized
 *                                endpoint's programs, with the endpoint's
 *                                address and its policy tables read from
 *                                sluice_tier_ep_v1 by the interface the
 *                                packet is on, and the decision taken by
 *                                generic mode's table lookup;
 *   tier_from_netdev             the uplink program, with the node's address
 *                                read from sluice_cfg_v2.
 *
 * A new or changed endpoint is thus enforced as soon as its tables are
 * written and these (already verified) programs attached; its specialized
 * programs replace them when a background compile has them ready. The
 * verdicts are generic mode's, which the test suites hold equal to the
 * specialized code's. A packet on an interface the map does not know is
 * dropped: the tier never guesses an endpoint.
 *
 * Built as a bitcode file of its own (the generic library plus this), so
 * that generic and specialized objects stay exactly as they were. */
#include "datapath_generic.bpf.c"

/* The agent's, not a generation's: never pinned; the tier object lives as
 * long as the agent and is the one that writes it. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SLUICE_TIER_ENDPOINTS_MAX);
  __type(key, __u32); /* the host-side interface's ifindex */
  __type(value, struct sluice_tier_endpoint);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} sluice_tier_ep_v1 SEC(".maps");

/* One hook of a tier endpoint: the generated programs' shape (compile_node.cpp),
 * with the constants looked up. */
static __always_inline int tier_endpoint(struct __sk_buff *skb, __u32 direction) {
  __u32 ifindex = skb->ifindex;
  const struct sluice_tier_endpoint *ep = bpf_map_lookup_elem(&sluice_tier_ep_v1, &ifindex);
  if (!ep) return TC_ACT_SHOT;
  __u32 addr = ep->addr;
  __u32 table = direction == SLUICE_DIR_EGRESS ? ep->egress : ep->ingress;
  int act = sluice_dp_fast(skb, addr, direction);
  if (act >= 0) return act;
  struct sluice_flow f;
  __u32 flags = ((table >> 24) & SLUICE_GEN_ISOLATED ? SLUICE_DP_ISOLATED : 0) |
                (act == SLUICE_DP_UNTRACKED ? SLUICE_DP_KNOWN_UNTRACKED : 0);
  act = sluice_dp_begin(skb, &f, addr, direction, flags);
  if (act != SLUICE_DP_DECIDE) return act;
  __u32 d = sluice_generic_decide(table, sluice_flow_identity(&f), sluice_flow_remote_addr(&f),
                                  sluice_flow_proto(&f), sluice_flow_port(&f));
  return sluice_dp_finish(skb, &f, d);
}

SEC("tc/tier_from_pod") int tier_from_pod(struct __sk_buff *skb) { return tier_endpoint(skb, SLUICE_DIR_EGRESS); }

SEC("tc/tier_to_pod") int tier_to_pod(struct __sk_buff *skb) { return tier_endpoint(skb, SLUICE_DIR_INGRESS); }

SEC("tc/tier_from_netdev") int tier_from_netdev(struct __sk_buff *skb) {
  __u32 zero = 0;
  const struct sluice_config *cfg = bpf_map_lookup_elem(&sluice_cfg_v2, &zero);
  return sluice_dp_uplink(skb, cfg ? cfg->node_addr : 0);
}
