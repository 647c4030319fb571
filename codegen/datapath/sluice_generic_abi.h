/* The generic (table-driven) datapath's policy tables: `sluice compile
 * --datapath generic`. Instead of a decision function generated per endpoint
 * policy, every program calls one function in datapath_generic.h that looks
 * the connection up in two maps the compiler fills from the same IR
 * (codegen/generic_tables.h builds them; docs/datapath.md, "Generic mode").
 *
 * The tables belong to one program generation: they are never pinned (each
 * load of an object gets fresh maps, filled before any program is attached),
 * so a new generation never rewrites the tables an older one still runs
 * with, and table numbers and selectors need not be stable across compiles.
 *
 * Both maps are LPM tries. Their keys are compared bit by bit from the first
 * byte after `prefixlen`, so every field is in network byte order.
 */
#ifndef SLUICE_GENERIC_ABI_H
#define SLUICE_GENERIC_ABI_H

#include "sluice_abi.h"

#define SLUICE_MAP_GENERIC_POLICY "sluice_gpol_v1"
#define SLUICE_MAP_GENERIC_CIDR "sluice_gcidr_v1"

/* {table, selector, protocol, port} -> the lowest-numbered deny rule and the
 * lowest-numbered allow rule matching it (one lookup answers both, as in
 * Cilium's policy map, where denies take precedence).
 *
 * A table is one endpoint direction's policy (endpoints with identical
 * policies share one). A selector is what the remote end is:
 *   - an identity the table's rules name (explicitly or through an entity);
 *   - SLUICE_GPOL_OTHER_IDENTITY: any identity the table does not name (a pod
 *     identity born after the compile), looked up only when the identity's
 *     own selector has no entry at all;
 *   - SLUICE_GPOL_ADDRESS_CLASS | n: an address class from the CIDR map.
 * Entries of one selector:
 *   - prefix 64 (table and selector only): the selector is known; its value
 *     answers every protocol and port no longer entry covers (the rule with
 *     L4 "any", or 0 = none). An identity with this entry never falls back to
 *     SLUICE_GPOL_OTHER_IDENTITY;
 *   - prefix 72 + k: a port range aligned to 2^(16-k) ports of one protocol
 *     (an endPort range is a few such entries), for ICMP the type. Ranges of
 *     one selector never overlap, so the longest match is the only one. */
struct sluice_gpol_key {
  sluice_u32 prefixlen;
  sluice_u32 table;    /* network order */
  sluice_u32 selector; /* network order */
  sluice_u8 proto;
  sluice_u8 port_hi;   /* the destination port (ICMP: type in port_lo) */
  sluice_u8 port_lo;
  sluice_u8 pad;
};
#define SLUICE_GPOL_FULL_PREFIX 96 /* every bit: lookups */
#define SLUICE_GPOL_SELECTOR_PREFIX 64
#define SLUICE_GPOL_PROTO_PREFIX 72
#define SLUICE_GPOL_OTHER_IDENTITY 0u
#define SLUICE_GPOL_ADDRESS_CLASS 0x80000000u /* identities stay below it (ir::kLastClusterIdentity) */

/* 1-based indices into the IR's rules of that endpoint direction; 0 = none. */
struct sluice_gpol_value {
  sluice_u32 deny_rule;
  sluice_u32 allow_rule;
};

/* {table, address} -> the address class of CIDR and per-pod address rules
 * covering it (ipBlock with except: the excepted ranges are another class,
 * or absent). Prefix 32 + the block's length; blocks never overlap. */
struct sluice_gcidr_key {
  sluice_u32 prefixlen;
  sluice_u32 table; /* network order */
  sluice_u32 addr;  /* network order */
};
#define SLUICE_GCIDR_FULL_PREFIX 64

struct sluice_gcidr_value {
  sluice_u32 selector;       /* for any identity; 0 = no rule covers it */
  sluice_u32 world_selector; /* when the identity is world: Cilium's toCIDR/fromCIDR count too */
};

/* The generated code passes these with the table numbers (a program's own
 * configuration, as Cilium compiles an endpoint's). */
enum sluice_generic_flags {
  SLUICE_GEN_ISOLATED = 1, /* the direction is isolated: allow rules decide */
  SLUICE_GEN_INGRESS = 2,  /* to-pod: the pod's own node is always allowed */
  SLUICE_GEN_ADDRESS = 4   /* the table has CIDR / per-pod address rules: look the address up too */
};

/* The agent's first tier (datapath_tier.bpf.c): what its programs know of
 * the endpoint on an interface, keyed by the host-side interface's ifindex.
 * An update replaces a value whole (a hash map), so a program sees the old
 * tables or the new ones, never half of each. */
#define SLUICE_MAP_TIER_ENDPOINT "sluice_tier_ep_v1"
#define SLUICE_TIER_ENDPOINTS_MAX 65536
struct sluice_tier_endpoint {
  sluice_u32 addr;    /* the pod's IPv4, network order */
  sluice_u32 egress;  /* from-pod: table | flags << 24, sluice_generic_decide's first argument */
  sluice_u32 ingress; /* to-pod: the same */
};

#endif /* SLUICE_GENERIC_ABI_H */
