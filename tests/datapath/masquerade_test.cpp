// Masquerade in the kernel (BPF_PROG_TEST_RUN): a pod's connection to an
// address outside the cluster leaves with the node's address and a port of
// the SNAT range, the node's uplink program turns the replies back, and the
// pod's to-pod program admits them as replies. Destinations inside any pod
// CIDR, nodes and the configured non-masquerade CIDRs keep the pod's
// address; egress policy judges the pod's own address before all of it.
// Every returned packet is checked: addresses, ports and checksums.
#include <gtest/gtest.h>

#include "codegen/codegen.h"
#include "codegen/datapath/sluice_abi.h"
#include "ir/print.h"
#include "tests/datapath/datapath_util.h"
#include "tests/datapath/packet_util.h"
#include "tests/testing/manifests.h"

namespace sluice::datapath_test {
namespace {

const ir::L4Proto TCP = ir::L4Proto::TCP, UDP = ir::L4Proto::UDP, ICMP = ir::L4Proto::ICMP;
const char* kPodA = "10.244.1.10";  // x/a on n1
const char* kPodB = "10.244.2.10";  // x/b on n2
const char* kN1 = "192.168.1.1";
const char* kWorld = "203.0.113.5";
constexpr uint16_t kSnatMin = 61000, kSnatMax = 61999;

std::string cluster(const std::string& extra = "") {
  return testing::kTwoNodesThreeNamespaces + testing::podYaml("x", "a", "n1", kPodA, "app: a", "[]") +
         testing::podYaml("x", "b", "n2", kPodB, "app: b", "[]") + extra;
}

runtime::ClusterOptions masquerading(runtime::ClusterOptions o, uint16_t min = kSnatMin, uint16_t max = kSnatMax) {
  o.masquerade = true;
  o.nonMasqueradeCidrs = {*Cidr::parse("198.51.100.0/24")};
  o.snatPorts = std::make_pair(min, max);
  return o;
}

// ICMP's checksum covers only the ICMP message.
void fixIcmpChecksum(std::vector<uint8_t>& p) {
  p[36] = p[37] = 0;
  uint32_t sum = sum16(&p[34], p.size() - 34);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[36] = uint8_t(~sum >> 8);
  p[37] = uint8_t(~sum);
}
std::vector<uint8_t> echo(const std::string& src, const std::string& dst, uint8_t type, uint16_t id) {
  std::vector<uint8_t> p = runtime::buildPacket({*IpAddr::parse(src), *IpAddr::parse(dst), ICMP, id, type, false});
  fixIcmpChecksum(p);
  return p;
}
bool icmpChecksumValid(const std::vector<uint8_t>& p) { return folds(sum16(&p[14], 20)) && folds(sum16(&p[34], p.size() - 34)); }

class Masquerade : public testing::InBothDatapathModes {
 protected:
  void load(const std::string& yaml, uint16_t min = kSnatMin, uint16_t max = kSnatMax) {
    SLUICE_REQUIRE_ROOT();
    ASSERT_TRUE(c.load(yaml, masquerading(options(), min, max))) << c.diags.render();
    ASSERT_TRUE(testing::LoadedInMode(*c.kernel, mode()));
  }
  int podProgram(const std::string& node, const std::string& pod, ir::Direction dir) {
    const ir::NodeProgram* np = c.kernel->program().findNode(node);
    const ir::Endpoint* ep = np ? np->findEndpoint(pod) : nullptr;
    return ep ? c.kernel->loaded(node)->programFd(codegen::programName(*np, *ep, dir)) : -1;
  }
  int uplink(const std::string& node) { return c.kernel->loaded(node)->programFd(codegen::kUplinkProgram); }
  runtime::RunResult fromA(const std::vector<uint8_t>& p) { return runtime::runPacket(podProgram("n1", "x/a", ir::Direction::Egress), p); }

  LoadedCluster c;
};
SLUICE_IN_BOTH_DATAPATH_MODES(Masquerade);

TEST_P(Masquerade, PodToWorldLeavesWithTheNodeAddressAndRepliesComeBack) {
  load(cluster());
  ASSERT_GE(uplink("n1"), 0) << "masquerade needs the uplink program for the replies";
  runtime::RunResult r = fromA(packet(kPodA, kWorld, TCP, 40000, 443));
  ASSERT_TRUE(forwarded(r)) << r.error << " action " << r.action << " outcome " << r.outcome;
  EXPECT_EQ(r.outcome, uint32_t(SLUICE_OUT_NEW_ALLOWED));
  Parsed out = parse(r.packetOut);
  EXPECT_EQ(out.src, kN1);
  EXPECT_EQ(out.dst, kWorld);
  EXPECT_EQ(out.dport, 443);
  EXPECT_GE(out.sport, kSnatMin);
  EXPECT_LE(out.sport, kSnatMax);
  EXPECT_TRUE(ChecksumsValid(r.packetOut));
  const uint16_t nport = out.sport;

  // A later packet of the connection takes the same port.
  runtime::RunResult again = fromA(packet(kPodA, kWorld, TCP, 40000, 443, false));
  ASSERT_TRUE(forwarded(again));
  EXPECT_EQ(again.outcome, uint32_t(SLUICE_OUT_ESTABLISHED));
  EXPECT_EQ(parse(again.packetOut).src, kN1);
  EXPECT_EQ(parse(again.packetOut).sport, nport);

  // The reply reaches the node; its uplink program turns it back to the pod.
  runtime::RunResult back = runtime::runPacket(uplink("n1"), packet(kWorld, kN1, TCP, 443, nport, false));
  ASSERT_TRUE(forwarded(back)) << back.error;
  EXPECT_EQ(back.action, kActOk) << "the reply is routed to the pod by the stack";
  Parsed in = parse(back.packetOut);
  EXPECT_EQ(in.src, kWorld);
  EXPECT_EQ(in.dst, kPodA);
  EXPECT_EQ(in.sport, 443);
  EXPECT_EQ(in.dport, 40000);
  EXPECT_TRUE(ChecksumsValid(back.packetOut));

  // And the pod's to-pod program passes it as a reply.
  runtime::RunResult delivered = runtime::runPacket(podProgram("n1", "x/a", ir::Direction::Ingress), back.packetOut);
  EXPECT_TRUE(delivered.passed());
  EXPECT_EQ(delivered.outcome, uint32_t(SLUICE_OUT_REPLY));

  // A packet to that node port from anyone else is not a reply: untouched.
  runtime::RunResult stranger = runtime::runPacket(uplink("n1"), packet("203.0.113.6", kN1, TCP, 443, nport, false));
  EXPECT_TRUE(stranger.passed());
  EXPECT_EQ(parse(stranger.packetOut).dst, kN1);

  // trace names what the connection leaves as.
  runtime::FlowQuery q;
  q.fromPod = "x/a";
  q.toIp = *IpAddr::parse(kWorld);
  q.port = 443;
  runtime::FlowTrace t = c.kernel->trace(q);
  EXPECT_TRUE(t.allowed);
  EXPECT_TRUE(t.masqueradedAs.starts_with(std::string(kN1) + ":6")) << t.masqueradedAs;
}

TEST_P(Masquerade, UdpAndPingAreMasqueradedToo) {
  load(cluster());
  runtime::RunResult r = fromA(packet(kPodA, kWorld, UDP, 5353, 53));
  ASSERT_TRUE(forwarded(r));
  Parsed out = parse(r.packetOut);
  EXPECT_EQ(out.src, kN1);
  EXPECT_TRUE(ChecksumsValid(r.packetOut));
  runtime::RunResult back = runtime::runPacket(uplink("n1"), packet(kWorld, kN1, UDP, 53, out.sport));
  EXPECT_EQ(parse(back.packetOut).dst, kPodA);
  EXPECT_EQ(parse(back.packetOut).dport, 5353);
  EXPECT_TRUE(ChecksumsValid(back.packetOut));

  // ICMP echo: the identifier stands for the port.
  runtime::RunResult ping = fromA(echo(kPodA, kWorld, 8, 777));
  ASSERT_TRUE(forwarded(ping)) << ping.error << " outcome " << ping.outcome;
  EXPECT_EQ(dotted(ping.packetOut, 26), kN1);
  uint16_t id = get16(ping.packetOut, 38);
  EXPECT_GE(id, kSnatMin);
  EXPECT_TRUE(icmpChecksumValid(ping.packetOut));
  runtime::RunResult pong = runtime::runPacket(uplink("n1"), echo(kWorld, kN1, 0, id));
  ASSERT_TRUE(pong.passed());
  EXPECT_EQ(dotted(pong.packetOut, 30), kPodA);
  EXPECT_EQ(get16(pong.packetOut, 38), 777);
  EXPECT_TRUE(icmpChecksumValid(pong.packetOut));
  runtime::RunResult delivered = runtime::runPacket(podProgram("n1", "x/a", ir::Direction::Ingress), pong.packetOut);
  EXPECT_TRUE(delivered.passed());
}

// Pods (any pod CIDR address, even an unused one), nodes and the configured
// non-masquerade CIDRs see the pod's own address.
TEST_P(Masquerade, InsideTheClusterAndExceptedDestinationsKeepThePodAddress) {
  load(cluster());
  for (const char* dst : {kPodB, "10.244.2.99", "192.168.2.1", "198.51.100.7"}) {
    SCOPED_TRACE(dst);
    runtime::RunResult r = fromA(packet(kPodA, dst, TCP, 40001, 80));
    ASSERT_TRUE(r.passed()) << r.error << " action " << r.action;
    EXPECT_EQ(parse(r.packetOut).src, kPodA);
    EXPECT_EQ(parse(r.packetOut).sport, 40001);
  }
  const ir::NodeProgram* n1 = c.kernel->program().findNode("n1");
  ASSERT_NE(n1, nullptr);
  EXPECT_NE(ir::str(*n1).find("masquerade to 192.168.1.1 except {10.244.1.0/24,10.244.2.0/24,198.51.100.0/24}"),
            std::string::npos)
      << ir::str(*n1);
}

// Egress policy judges the pod's own address, before masquerade: a denied
// connection is dropped and reserves nothing.
TEST_P(Masquerade, PolicyDecidesBeforeMasquerade) {
  load(cluster(R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.5/32]}}]
)"));
  runtime::RunResult denied = fromA(packet(kPodA, kWorld, TCP, 40002, 443));
  EXPECT_EQ(denied.action, kActShot);
  EXPECT_EQ(denied.outcome, uint32_t(SLUICE_OUT_NEW_DENIED));
  runtime::RunResult allowed = fromA(packet(kPodA, "203.0.113.6", TCP, 40002, 443));
  ASSERT_TRUE(forwarded(allowed));
  EXPECT_EQ(parse(allowed.packetOut).src, kN1);
}

// One port in the range: a second connection to the same remote address and
// port finds none (dropped, counted as such); to another port it reuses it.
TEST_P(Masquerade, AnExhaustedRangeDropsOnlyWhatItCannotTell) {
  load(cluster(), 61000, 61000);
  runtime::RunResult first = fromA(packet(kPodA, kWorld, TCP, 40010, 443));
  ASSERT_TRUE(forwarded(first));
  EXPECT_EQ(parse(first.packetOut).sport, 61000);
  runtime::RunResult second = fromA(packet(kPodA, kWorld, TCP, 40011, 443));
  EXPECT_EQ(second.action, kActShot);
  EXPECT_EQ(second.outcome, uint32_t(SLUICE_OUT_SNAT_EXHAUSTED));
  runtime::RunResult other = fromA(packet(kPodA, kWorld, TCP, 40011, 8443));
  ASSERT_TRUE(forwarded(other));
  EXPECT_EQ(parse(other.packetOut).sport, 61000);
}

// Off unless asked for: the IR and the objects are as before.
TEST_P(Masquerade, OffByDefault) {
  SLUICE_REQUIRE_ROOT();
  ASSERT_TRUE(c.load(cluster(), options())) << c.diags.render();
  EXPECT_LT(c.kernel->uplinkFd("n1"), 0) << "no frontend and no masquerade: no uplink program";
  runtime::RunResult r = fromA(packet(kPodA, kWorld, TCP, 40003, 443));
  ASSERT_TRUE(r.passed());
  EXPECT_EQ(parse(r.packetOut).src, kPodA);
  EXPECT_EQ(ir::str(*c.kernel->program().findNode("n1")).find("masquerade"), std::string::npos);
}

}  // namespace
}  // namespace sluice::datapath_test
