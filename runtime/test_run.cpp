#include "runtime/test_run.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <fmt/format.h>

#include <cstring>

#include "codegen/datapath/sluice_abi.h"

namespace sluice::runtime {

static void put16(std::vector<uint8_t>& p, size_t at, uint16_t v) {
  p[at] = uint8_t(v >> 8);
  p[at + 1] = uint8_t(v);
}

static uint16_t ipChecksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += uint32_t(data[i]) << 8 | data[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

std::vector<uint8_t> buildPacket(const PacketSpec& s) {
  size_t l4len = 8;
  if (s.proto == ir::L4Proto::TCP) l4len = 20;
  if (s.proto == ir::L4Proto::SCTP) l4len = 12 + 20;  // common header + INIT chunk
  std::vector<uint8_t> p(14 + 20 + l4len, 0);
  // Ethernet: locally administered MACs; the programs do not look at them.
  const uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 2}, smac[6] = {0x02, 0, 0, 0, 0, 1};
  std::memcpy(&p[0], dmac, 6);
  std::memcpy(&p[6], smac, 6);
  put16(p, 12, 0x0800);
  uint8_t* ip = &p[14];
  ip[0] = 0x45;
  put16(p, 16, uint16_t(20 + l4len));
  ip[8] = 64;
  ip[9] = uint8_t(s.proto);
  std::memcpy(ip + 12, s.src.bytes.data(), 4);
  std::memcpy(ip + 16, s.dst.bytes.data(), 4);
  put16(p, 24, ipChecksum(ip, 20));
  size_t l4 = 34;
  switch (s.proto) {
    case ir::L4Proto::TCP:
      put16(p, l4, s.sport);
      put16(p, l4 + 2, s.dport);
      p[l4 + 12] = 0x50;                 // data offset 5
      p[l4 + 13] = s.tcpSyn ? 0x02 : 0x10;  // SYN, or ACK
      put16(p, l4 + 14, 65535);
      break;
    case ir::L4Proto::UDP:
      put16(p, l4, s.sport);
      put16(p, l4 + 2, s.dport);
      put16(p, l4 + 4, 8);
      break;
    case ir::L4Proto::SCTP:
      put16(p, l4, s.sport);
      put16(p, l4 + 2, s.dport);
      p[l4 + 12] = 1;  // INIT
      put16(p, l4 + 14, 20);
      break;
    case ir::L4Proto::ICMP:
    case ir::L4Proto::ICMPv6:
      p[l4] = uint8_t(s.dport);  // type
      put16(p, l4 + 4, s.sport);  // echo identifier
      break;
  }
  return p;
}

RunResult runPacket(int progFd, const std::vector<uint8_t>& packet, uint32_t repeat) {
  RunResult r;
  std::vector<uint8_t> out(packet.size() + 256);
  __sk_buff ctx{};
  __sk_buff ctxOut{};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(), .data_out = out.data(),
              .data_size_in = uint32_t(packet.size()), .data_size_out = uint32_t(out.size()), .ctx_in = &ctx,
              .ctx_out = &ctxOut, .ctx_size_in = sizeof ctx, .ctx_size_out = sizeof ctxOut, .repeat = repeat);
  if (bpf_prog_test_run_opts(progFd, &opts) != 0) {
    r.error = fmt::format("BPF_PROG_TEST_RUN failed: {}", std::strerror(errno));
    return r;
  }
  r.ok = true;
  r.action = int(opts.retval);
  r.decision = ctxOut.cb[SLUICE_CB_DECISION];
  r.outcome = ctxOut.cb[SLUICE_CB_OUTCOME];
  r.identity = ctxOut.cb[SLUICE_CB_IDENTITY];
  r.serviceId = ctxOut.cb[SLUICE_CB_SERVICE];
  out.resize(opts.data_size_out);
  r.packetOut = std::move(out);
  r.durationNs = opts.duration;
  return r;
}

}  // namespace sluice::runtime
