// Frames for BPF_PROG_TEST_RUN tests of translating programs (NodePort,
// masquerade): building them with correct checksums, and reading back the
// addresses, ports and checksums of what a program left.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/net.h"
#include "ir/ir.h"
#include "runtime/test_run.h"

namespace sluice::datapath_test {

constexpr int kActOk = 0, kActShot = 2, kActRedirect = 7;

inline uint16_t get16(const std::vector<uint8_t>& p, size_t at) { return uint16_t(p[at] << 8 | p[at + 1]); }
inline std::string dotted(const std::vector<uint8_t>& p, size_t at) {
  return std::to_string(p[at]) + "." + std::to_string(p[at + 1]) + "." + std::to_string(p[at + 2]) + "." +
         std::to_string(p[at + 3]);
}
struct Parsed {
  std::string src, dst;
  uint16_t sport = 0, dport = 0;
};
inline Parsed parse(const std::vector<uint8_t>& p) {
  Parsed r;
  if (p.size() < 38) return r;
  r.src = dotted(p, 26);
  r.dst = dotted(p, 30);
  r.sport = get16(p, 34);
  r.dport = get16(p, 36);
  return r;
}
inline uint32_t sum16(const uint8_t* d, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(d[i]) << 8 | d[i + 1];
  if (n & 1) sum += uint32_t(d[n - 1]) << 8;
  return sum;
}
inline bool folds(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}
// IPv4 header and TCP/UDP (pseudo-header) checksums both right.
inline ::testing::AssertionResult ChecksumsValid(const std::vector<uint8_t>& p) {
  if (p.size() < 34) return ::testing::AssertionFailure() << "short frame";
  if (!folds(sum16(&p[14], 20))) return ::testing::AssertionFailure() << "bad IPv4 header checksum";
  size_t l4 = 34, len = get16(p, 16) - 20;
  if (p.size() < l4 + len) return ::testing::AssertionFailure() << "truncated";
  uint32_t pseudo = sum16(&p[26], 8) + p[23] + uint32_t(len);
  if (!folds(sum16(&p[l4], len, pseudo))) return ::testing::AssertionFailure() << "bad TCP/UDP checksum";
  return ::testing::AssertionSuccess();
}
// Recomputes a TCP/UDP frame's L4 checksum (buildPacket leaves it at zero).
inline void fixL4Checksum(std::vector<uint8_t>& p) {
  uint8_t proto = p[23];
  size_t l4 = 34, len = p.size() - l4, at = l4 + (proto == uint8_t(ir::L4Proto::TCP) ? 16 : 6);
  p[at] = p[at + 1] = 0;
  uint32_t sum = sum16(&p[l4], len, sum16(&p[26], 8) + proto + uint32_t(len));
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[at] = uint8_t(~sum >> 8);
  p[at + 1] = uint8_t(~sum);
}
// A frame with correct checksums.
inline std::vector<uint8_t> packet(const std::string& src, const std::string& dst, ir::L4Proto proto, uint16_t sport,
                            uint16_t dport, bool syn = true) {
  std::vector<uint8_t> p = runtime::buildPacket({*IpAddr::parse(src), *IpAddr::parse(dst), proto, sport, dport, syn});
  fixL4Checksum(p);
  return p;
}
inline uint32_t get32(const std::vector<uint8_t>& p, size_t at) { return uint32_t(get16(p, at)) << 16 | get16(p, at + 2); }

// A packet the uplink sent on: passed to the stack, or routed by the program
// itself (a source that is the node's address: see datapath_uplink.h).
inline bool forwarded(const runtime::RunResult& r) { return r.ok && (r.action == kActOk || r.action == kActRedirect); }

}  // namespace sluice::datapath_test
