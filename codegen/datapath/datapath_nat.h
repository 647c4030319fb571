/* Rewriting a packet's addresses and ports in place, with its checksums:
 * the IPv4 header checksum, and the TCP/UDP checksum, which covers the
 * addresses through its pseudo-header. bpf_l4_csum_replace with
 * BPF_F_PSEUDO_HDR is right both for packets whose checksum is complete and
 * for CHECKSUM_PARTIAL ones (a pod's veth offloads checksums, so its TCP and
 * UDP packets arrive at from-pod holding only the pseudo-header sum).
 *
 * SCTP's CRC32c covers neither the addresses nor anything outside the SCTP
 * packet, so changing addresses needs no fix; changing a port does, and
 * sluice_global_sctp_crc_port_delta() computes how the CRC changes without reading the
 * payload (CRC is linear: see there).
 *
 * Included by datapath.bpf.c only. */
#ifndef SLUICE_DATAPATH_NAT_H
#define SLUICE_DATAPATH_NAT_H

#define SLUICE_IP_TTL_OFF (ETH_HLEN + 8)
#define SLUICE_IP_CSUM_OFF (ETH_HLEN + 10)
#define SLUICE_IP_SADDR_OFF (ETH_HLEN + 12)
#define SLUICE_IP_DADDR_OFF (ETH_HLEN + 16)

/* A tuple as a NAT sees it: addresses in network order, ports in host order. */
struct nat_tuple {
  __u32 saddr, daddr;
  __u16 sport, dport;
};

/* ---- SCTP: CRC32c (reflected polynomial 0x82f63b78) -------------------------
 * For two messages of the same length, crc(A) ^ crc(B) is the CRC of A ^ B
 * computed with a zero initial value and no final xor. A ^ B is zero except
 * for the two bytes of the changed port, and zeros before them leave that CRC
 * at 0; so the delta is the CRC of those two bytes, then advanced over the n
 * zero bytes that follow them: a multiplication by x^(8n) modulo the
 * polynomial. x^(8n) = x^(8*(n & 255)) * x^(2048*(n >> 8)), each factor from a
 * 256-entry table, so one change costs two 32-step multiplications whatever
 * the packet's length. (zlib's crc32_combine uses the same algebra.) */
#define SCTP_CRC32C_POLY 0x82f63b78u

#include "datapath_crc32c_tables.h"

/* v * bit, bit being 0 or 1, as a real multiplication. Neither a branch nor
 * a mask: the verifier walks both sides of a branch on an unknown value, and
 * this kernel's also splits its state on `x & m` when m is known to be 0 or
 * -1, which is what the compiler makes of `-(bit)` masks (and of a plain
 * `v * bit`, hence the asm): 64 such steps would be 2^64 paths. */
static __always_inline __u32 times_bit(__u32 v, __u32 bit) {
  __u64 r = v, m = bit;
  asm volatile("%[r] *= %[m]" : [r] "+r"(r) : [m] "r"(m));
  return (__u32)r;
}

/* One step of a reflected CRC: multiply by x. */
static __always_inline __u32 crc32c_times_x(__u32 b) { return (b >> 1) ^ times_bit(SCTP_CRC32C_POLY, b & 1); }

/* a * b modulo the polynomial, both in reflected form (zlib's multmodp).
 * A loop, not unrolled: unrolled, LLVM hoisted the 32 bit extractions and
 * spilled them, 216 bytes of stack on every call chain that may rewrite an
 * SCTP port (which must stay within 512 bytes); the verifier walks the 32
 * branch-free iterations once each. */
static __always_inline __u32 crc32c_multmod(__u32 a, __u32 b) {
  __u32 p = 0;
#pragma clang loop unroll(disable)
  for (int i = 0; i < 32; i++) {
    p ^= times_bit(b, (a >> (31 - i)) & 1);
    b = crc32c_times_x(b);
  }
  return p;
}

/* The change of an SCTP packet's CRC (as the little-endian 32-bit value it is
 * stored as) when the 16 bits at byte offset `at` (0: source port, 2:
 * destination port) change from old_be to new_be; `len` is the SCTP packet's
 * length.
 *
 * A BPF global function (noinline, external, scalar arguments; the compiler
 * keeps it global, see compile_node.cpp): the verifier checks it once, on
 * its own, instead of once per path through the NAT code, and its ~600
 * instructions exist once per object. */
__attribute__((noinline)) __u32 sluice_global_sctp_crc_port_delta(__u32 at, __u32 len, __u32 old_be, __u32 new_be) {
  __u16 diff = (__u16)(old_be ^ new_be);
  __u8 bytes[2] = {(__u8)diff, (__u8)(diff >> 8)}; /* in packet order (the value is big-endian) */
  __u32 c = 0;
#pragma clang loop unroll(full)
  for (int i = 0; i < 2; i++) {
    c ^= bytes[i];
#pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) c = crc32c_times_x(c);
  }
  __u32 zeros = len - at - 2;
  __u32 lo = zeros & 255, hi = (zeros >> 8) & 255;
  c = crc32c_multmod(sluice_crc32c_x8n_lo[lo], c);
  return crc32c_multmod(sluice_crc32c_x8n_hi[hi], c);
}

/* ---- the rewrite ---------------------------------------------------------------- */

/* Rewrites the packet at `l4_off` (an IPv4 packet of protocol `proto`: TCP,
 * UDP, SCTP, or an ICMP echo, whose identifier stands for the port it has
 * in the tuple) from tuple `from` to tuple `to`. Returns 0, or -1 when the
 * kernel refused a change (the caller drops the packet). */
static __always_inline int nat_rewrite(struct __sk_buff *skb, __u32 l4_off, __u8 proto, const struct nat_tuple *from,
                                       const struct nat_tuple *to) {
  __u32 csum_off = l4_off + (proto == IPPROTO_TCP ? 16 : proto == IPPROTO_ICMP ? 2 : 6);
  /* A UDP checksum of 0 means "none": keep it so (and never produce 0). */
  __u64 l4_flags = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
  int sctp = proto == IPPROTO_SCTP;
  /* Neither SCTP's CRC nor ICMP's checksum covers the addresses. */
  int l4_covers_addresses = !sctp && proto != IPPROTO_ICMP;
  if (proto == IPPROTO_ICMP) {
    /* The echo identifier: the tuple's source port in a request, its
       destination port in a reply (one of the two is 0). */
    __u16 o = bpf_htons(from->sport | from->dport), n = bpf_htons(to->sport | to->dport);
    if (o != n) {
      if (bpf_l4_csum_replace(skb, csum_off, o, n, 2)) return -1;
      if (bpf_skb_store_bytes(skb, l4_off + 4, &n, 2, 0)) return -1;
    }
  }
  if (from->saddr != to->saddr) {
    if (bpf_l3_csum_replace(skb, SLUICE_IP_CSUM_OFF, from->saddr, to->saddr, 4)) return -1;
    if (l4_covers_addresses &&
        bpf_l4_csum_replace(skb, csum_off, from->saddr, to->saddr, BPF_F_PSEUDO_HDR | l4_flags | 4))
      return -1;
    if (bpf_skb_store_bytes(skb, SLUICE_IP_SADDR_OFF, &to->saddr, 4, 0)) return -1;
  }
  if (from->daddr != to->daddr) {
    if (bpf_l3_csum_replace(skb, SLUICE_IP_CSUM_OFF, from->daddr, to->daddr, 4)) return -1;
    if (l4_covers_addresses &&
        bpf_l4_csum_replace(skb, csum_off, from->daddr, to->daddr, BPF_F_PSEUDO_HDR | l4_flags | 4))
      return -1;
    if (bpf_skb_store_bytes(skb, SLUICE_IP_DADDR_OFF, &to->daddr, 4, 0)) return -1;
  }
  if (proto == IPPROTO_ICMP) return 0;
  __u32 crc_delta = 0, sctp_len = 0;
  if (sctp) {
    /* The SCTP packet ends where the IP packet does (a frame may be padded). */
    __u16 tot_len_be;
    if (bpf_skb_load_bytes(skb, ETH_HLEN + 2, &tot_len_be, 2)) return -1;
    sctp_len = bpf_ntohs(tot_len_be) - (l4_off - ETH_HLEN);
  }
  if (from->sport != to->sport) {
    __u16 o = bpf_htons(from->sport), n = bpf_htons(to->sport);
    if (sctp) crc_delta ^= sluice_global_sctp_crc_port_delta(0, sctp_len, o, n);
    else if (bpf_l4_csum_replace(skb, csum_off, o, n, l4_flags | 2)) return -1;
    if (bpf_skb_store_bytes(skb, l4_off, &n, 2, 0)) return -1;
  }
  if (from->dport != to->dport) {
    __u16 o = bpf_htons(from->dport), n = bpf_htons(to->dport);
    if (sctp) crc_delta ^= sluice_global_sctp_crc_port_delta(2, sctp_len, o, n);
    else if (bpf_l4_csum_replace(skb, csum_off, o, n, l4_flags | 2)) return -1;
    if (bpf_skb_store_bytes(skb, l4_off + 2, &n, 2, 0)) return -1;
  }
  if (crc_delta) {
    __u32 crc;
    if (bpf_skb_load_bytes(skb, l4_off + 8, &crc, 4)) return -1;
    crc ^= crc_delta;
    if (bpf_skb_store_bytes(skb, l4_off + 8, &crc, 4, 0)) return -1;
  }
  return 0;
}

#endif /* SLUICE_DATAPATH_NAT_H */
