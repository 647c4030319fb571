// Running packets through loaded programs in the kernel (BPF_PROG_TEST_RUN),
// for `trace`, `reach`, tests and benchmarks. The verdict is what the kernel
// returned, read back with the decision the program left in skb->cb.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/net.h"
#include "ir/ir.h"

namespace sluice::runtime {

struct PacketSpec {
  IpAddr src, dst;
  ir::L4Proto proto = ir::L4Proto::TCP;
  uint16_t sport = 40000, dport = 80;  // for ICMP: dport is the type (8 = echo request), sport the echo id
  bool tcpSyn = true;
};

// An Ethernet + IPv4 frame for `spec` (TCP SYN, UDP, SCTP INIT, ICMP).
std::vector<uint8_t> buildPacket(const PacketSpec& spec);

struct RunResult {
  bool ok = false;      // the syscall worked
  std::string error;
  int action = -1;      // TC_ACT_OK (0) passes, TC_ACT_SHOT (2) drops
  uint32_t decision = 0;  // sluice_abi.h encoding
  uint32_t outcome = 0;   // enum sluice_outcome
  uint32_t identity = 0;  // the remote end's identity, as the program looked it up
  uint32_t serviceId = 0;  // the service that translated the packet (sluice_abi.h), 0 if none
  std::vector<uint8_t> packetOut;  // the packet as the program left it (translated, or a reject answer)
  uint32_t durationNs = 0;  // average per run, from the kernel
  bool passed() const { return ok && action == 0; }
  // TC_ACT_REDIRECT: a reject sent back to its client, or a packet the uplink routed itself.
  bool redirected() const { return ok && action == 7; }
};

RunResult runPacket(int progFd, const std::vector<uint8_t>& packet, uint32_t repeat = 1);

}  // namespace sluice::runtime
