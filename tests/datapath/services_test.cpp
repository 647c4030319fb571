// Services in the datapath, in the kernel (BPF_PROG_TEST_RUN): translation
// to a backend, reverse translation of replies, policy after translation,
// spread, affinity, rejects, traffic policies, a backend change through the
// maps, hairpin. Every packet a program returns is checked byte by byte:
// addresses, ports and checksums (IP, TCP/UDP/ICMP, SCTP's CRC32c).
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <time.h>

#include <map>
#include <set>

#include "codegen/codegen.h"
#include "tests/datapath/datapath_util.h"
#include "tests/testing/manifests.h"

namespace sluice::datapath_test {
namespace {

const ir::L4Proto TCP = ir::L4Proto::TCP, UDP = ir::L4Proto::UDP, SCTP = ir::L4Proto::SCTP;

// n1: x/client 10.244.1.10, x/web1 10.244.1.20; n2: x/web2 10.244.2.20, x/web3 10.244.2.21.
std::string pods() {
  std::string ports = "[{name: http, containerPort: 8080}]";
  return testing::kTwoNodesThreeNamespaces +
         testing::podYaml("x", "client", "n1", "10.244.1.10", "app: client", ports) +
         testing::podYaml("x", "web1", "n1", "10.244.1.20", "app: web", ports) +
         testing::podYaml("x", "web2", "n2", "10.244.2.20", "app: web", ports) +
         testing::podYaml("x", "web3", "n2", "10.244.2.21", "app: web", ports);
}

// A Service in namespace x; `extra` adds spec fields (indented two spaces).
std::string service(const std::string& name, const std::string& ip, const std::string& ports,
                    const std::string& extra = "") {
  return "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: x}\nspec:\n  clusterIP: " +
         ip + "\n  selector: {app: web}\n  ports: " + ports + "\n" + extra;
}

// One endpoint of a slice: address, node, pod, conditions (flow-mapping body).
std::string endpoint(const std::string& ip, const std::string& node, const std::string& pod,
                     const std::string& conditions = "ready: true") {
  return "- addresses: [" + ip + "]\n  conditions: {" + conditions + "}\n  nodeName: " + node +
         "\n  targetRef: {kind: Pod, name: " + pod + ", namespace: x}\n";
}

std::string slice(const std::string& service, const std::string& ports, const std::string& endpoints) {
  return "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + service +
         "-1, namespace: x, labels: {kubernetes.io/service-name: " + service + "}}\naddressType: IPv4\nports: " +
         ports + "\nendpoints:\n" + endpoints;
}

const std::string kAllWeb = endpoint("10.244.1.20", "n1", "web1") + endpoint("10.244.2.20", "n2", "web2") +
                            endpoint("10.244.2.21", "n2", "web3");
const std::string kWebPorts =
    "[{name: http, port: 80, targetPort: 8080}, {name: dns, protocol: UDP, port: 53, targetPort: 5353},"
    " {name: assoc, protocol: SCTP, port: 9000, targetPort: 9001}]";
const std::string kWebSlicePorts =
    "[{name: http, port: 8080, protocol: TCP}, {name: dns, port: 5353, protocol: UDP},"
    " {name: assoc, port: 9001, protocol: SCTP}]";
const std::string kHttp = "[{name: http, port: 80, targetPort: 8080}]";
const std::string kHttpSlice = "[{name: http, port: 8080, protocol: TCP}]";

std::string services() {
  return service("web", "10.96.0.10", kWebPorts) + slice("web", kWebSlicePorts, kAllWeb) +
         service("empty", "10.96.0.11", "[{name: http, port: 80}, {name: dns, protocol: UDP, port: 53}]") +
         service("sticky", "10.96.0.12", kHttp,
                 "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}\n") +
         slice("sticky", kHttpSlice, kAllWeb) +
         service("local", "10.96.0.13", kHttp, "  internalTrafficPolicy: Local\n") +
         slice("local", kHttpSlice, endpoint("10.244.1.20", "n1", "web1") + endpoint("10.244.2.20", "n2", "web2")) +
         service("remote", "10.96.0.14", kHttp, "  internalTrafficPolicy: Local\n") +
         slice("remote", kHttpSlice, endpoint("10.244.2.20", "n2", "web2")) +
         service("draining", "10.96.0.15", kHttp) +
         slice("draining", kHttpSlice,
               endpoint("10.244.1.20", "n1", "web1", "ready: false, serving: true, terminating: true") +
                   endpoint("10.244.2.20", "n2", "web2", "ready: false, serving: false, terminating: true")) +
         service("self", "10.96.0.16", kHttp) +
         slice("self", kHttpSlice, endpoint("10.244.1.10", "n1", "client"));
}

// ---- packets ------------------------------------------------------------------

struct Parsed {
  std::string src, dst;  // dotted
  uint8_t proto = 0;
  uint16_t sport = 0, dport = 0;
  size_t l4 = 0;
};

uint16_t get16(const std::vector<uint8_t>& p, size_t at) { return uint16_t(p[at] << 8 | p[at + 1]); }
uint32_t get32(const std::vector<uint8_t>& p, size_t at) { return uint32_t(get16(p, at)) << 16 | get16(p, at + 2); }

std::string dotted(const std::vector<uint8_t>& p, size_t at) {
  return std::to_string(p[at]) + "." + std::to_string(p[at + 1]) + "." + std::to_string(p[at + 2]) + "." +
         std::to_string(p[at + 3]);
}

Parsed parse(const std::vector<uint8_t>& p) {
  Parsed r;
  if (p.size() < 34) return r;
  r.src = dotted(p, 26);
  r.dst = dotted(p, 30);
  r.proto = p[23];
  r.l4 = 14 + (p[14] & 0x0f) * 4;
  if (p.size() >= r.l4 + 4) {
    r.sport = get16(p, r.l4);
    r.dport = get16(p, r.l4 + 2);
  }
  return r;
}

uint32_t sum16(const uint8_t* d, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(d[i]) << 8 | d[i + 1];
  if (n & 1) sum += uint32_t(d[n - 1]) << 8;
  return sum;
}
bool folds(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

uint32_t crc32c(const uint8_t* d, size_t n) {
  uint32_t c = 0xffffffff;
  for (size_t i = 0; i < n; ++i) {
    c ^= d[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82f63b78 & (0u - (c & 1)));
  }
  return ~c;
}

// True when the IPv4 header checksum and the L4 checksum (TCP/UDP with the
// pseudo-header, ICMP, SCTP CRC32c) of the frame are right.
::testing::AssertionResult ChecksumsValid(const std::vector<uint8_t>& p) {
  if (p.size() < 34) return ::testing::AssertionFailure() << "short frame";
  if (!folds(sum16(&p[14], 20))) return ::testing::AssertionFailure() << "bad IPv4 header checksum";
  size_t l4 = 14 + (p[14] & 0x0f) * 4, len = get16(p, 16) - (l4 - 14);
  if (p.size() < l4 + len) return ::testing::AssertionFailure() << "truncated";
  const uint8_t* seg = &p[l4];
  switch (p[23]) {
    case 6:
    case 17: {
      if (p[23] == 17 && get16(p, l4 + 6) == 0) return ::testing::AssertionSuccess();  // no UDP checksum
      uint32_t pseudo = sum16(&p[26], 8) + p[23] + uint32_t(len);
      if (!folds(sum16(seg, len, pseudo))) return ::testing::AssertionFailure() << "bad TCP/UDP checksum";
      return ::testing::AssertionSuccess();
    }
    case 1:
      if (!folds(sum16(seg, len))) return ::testing::AssertionFailure() << "bad ICMP checksum";
      return ::testing::AssertionSuccess();
    case 132: {
      std::vector<uint8_t> copy(seg, seg + len);
      uint32_t stored = copy[8] | copy[9] << 8 | copy[10] << 16 | uint32_t(copy[11]) << 24;
      copy[8] = copy[9] = copy[10] = copy[11] = 0;
      if (crc32c(copy.data(), copy.size()) != stored) return ::testing::AssertionFailure() << "bad SCTP CRC32c";
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "unexpected protocol " << int(p[23]);
}

// A frame with correct checksums (buildPacket leaves L4 checksums at zero).
std::vector<uint8_t> packet(const std::string& src, const std::string& dst, ir::L4Proto proto, uint16_t sport,
                            uint16_t dport, bool syn = true) {
  std::vector<uint8_t> p = runtime::buildPacket({*IpAddr::parse(src), *IpAddr::parse(dst), proto, sport, dport, syn});
  size_t l4 = 34, len = p.size() - l4;
  if (proto == TCP || proto == UDP) {
    size_t at = l4 + (proto == TCP ? 16 : 6);
    uint32_t sum = sum16(&p[26], 8) + uint8_t(proto) + uint32_t(len);
    sum = sum16(&p[l4], len, sum);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    p[at] = uint8_t(~sum >> 8);
    p[at + 1] = uint8_t(~sum);
  } else if (proto == SCTP) {
    p[l4 + 4] = 0x12;  // a verification tag, so the CRC covers something besides ports
    uint32_t c = crc32c(&p[l4], len);
    for (int i = 0; i < 4; ++i) p[l4 + 8 + i] = uint8_t(c >> (8 * i));
  }
  return p;
}

// In both datapath modes: the services code is the same library in both, but
// policy after translation, hairpin and replies meet each mode's decision.
class Services : public testing::InBothDatapathModes {
 protected:
  void SetUp() override {
    SLUICE_REQUIRE_ROOT();
    ASSERT_TRUE(c.load(pods() + services() + extraManifests(), options())) << c.diags.render();
    ASSERT_TRUE(testing::LoadedInMode(*c.kernel, mode()));
  }
  virtual std::string extraManifests() { return ""; }

  runtime::FlowTrace trace(const std::string& to, uint16_t port, ir::L4Proto proto = TCP,
                           const std::string& from = "x/client") {
    runtime::FlowQuery q;
    q.fromPod = from;
    q.toIp = *IpAddr::parse(to);
    q.port = port;
    q.proto = proto;
    return c.kernel->trace(q);
  }

  int programFd(const std::string& node, const std::string& pod, ir::Direction dir) {
    const ir::NodeProgram* np = c.kernel->program().findNode(node);
    const ir::Endpoint* ep = np ? np->findEndpoint(pod) : nullptr;
    return ep ? c.kernel->loaded(node)->programFd(codegen::programName(*np, *ep, dir)) : -1;
  }
  int clientFromPod() { return programFd("n1", "x/client", ir::Direction::Egress); }
  int clientToPod() { return programFd("n1", "x/client", ir::Direction::Ingress); }

  LoadedCluster c;
};
SLUICE_IN_BOTH_DATAPATH_MODES(Services);

// ---- translation ----------------------------------------------------------------

TEST_P(Services, NewConnectionIsTranslatedToABackend) {
  const std::set<std::string> backends = {"10.244.1.20", "10.244.2.20", "10.244.2.21"};
  for (auto [proto, port, target] : {std::tuple{TCP, 80, 8080}, {UDP, 53, 5353}, {SCTP, 9000, 9001}}) {
    int fd = clientFromPod();
    ASSERT_GE(fd, 0);
    std::vector<uint8_t> in = packet("10.244.1.10", "10.96.0.10", proto, 41000, uint16_t(port));
    runtime::RunResult r = runtime::runPacket(fd, in);
    ASSERT_TRUE(r.passed()) << ir::l4ProtoName(proto) << " " << r.error << " action " << r.action;
    EXPECT_EQ(r.outcome, uint32_t(SLUICE_OUT_NEW_ALLOWED));
    EXPECT_NE(r.serviceId, 0u);
    Parsed out = parse(r.packetOut);
    EXPECT_EQ(out.src, "10.244.1.10");
    EXPECT_TRUE(backends.count(out.dst)) << out.dst;
    EXPECT_EQ(out.sport, 41000);
    EXPECT_EQ(out.dport, target) << ir::l4ProtoName(proto);
    EXPECT_TRUE(ChecksumsValid(r.packetOut)) << ir::l4ProtoName(proto);
    // The policy saw the backend: the remote identity is a web pod's, not world.
    EXPECT_GE(r.identity, ir::kFirstClusterIdentity);
  }
  // Through `trace`: the backend pod's to-pod hook sees the translated packet.
  runtime::FlowTrace t = trace("10.96.0.10", 80);
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_TRUE(t.allowed) << explain(t);
  EXPECT_EQ(t.service, "x/web");
  ASSERT_EQ(t.steps.size(), 2u) << explain(t);
  EXPECT_EQ(t.steps[1].endpoint, t.backendPod);
  EXPECT_TRUE(backends.count(t.backend.substr(0, t.backend.find(':')))) << t.backend;
  EXPECT_EQ(t.backend.substr(t.backend.find(':')), ":8080");
}

TEST_P(Services, ConnectionKeepsItsBackendAndRepliesComeFromTheService) {
  int from = clientFromPod(), to = clientToPod();
  ASSERT_GE(from, 0);
  ASSERT_GE(to, 0);
  runtime::RunResult syn = runtime::runPacket(from, packet("10.244.1.10", "10.96.0.10", TCP, 42000, 80));
  ASSERT_TRUE(syn.passed());
  Parsed fwd = parse(syn.packetOut);

  // Later packets of the connection: the same backend, from tracking alone.
  for (int i = 0; i < 20; ++i) {
    runtime::RunResult ack = runtime::runPacket(from, packet("10.244.1.10", "10.96.0.10", TCP, 42000, 80, false));
    ASSERT_TRUE(ack.passed());
    EXPECT_EQ(ack.outcome, uint32_t(SLUICE_OUT_ESTABLISHED));
    EXPECT_EQ(parse(ack.packetOut).dst, fwd.dst);
    EXPECT_EQ(parse(ack.packetOut).dport, 8080);
    EXPECT_TRUE(ChecksumsValid(ack.packetOut));
  }

  // The backend's reply reaches the client as coming from the service.
  runtime::RunResult reply = runtime::runPacket(to, packet(fwd.dst, "10.244.1.10", TCP, 8080, 42000, false));
  ASSERT_TRUE(reply.passed());
  EXPECT_EQ(reply.outcome, uint32_t(SLUICE_OUT_REPLY));
  Parsed back = parse(reply.packetOut);
  EXPECT_EQ(back.src, "10.96.0.10");
  EXPECT_EQ(back.sport, 80);
  EXPECT_EQ(back.dst, "10.244.1.10");
  EXPECT_EQ(back.dport, 42000);
  EXPECT_TRUE(ChecksumsValid(reply.packetOut));

  // UDP and SCTP replies too (SCTP: the port change is folded into the CRC32c).
  for (auto [proto, port, target] : {std::tuple{UDP, 53, 5353}, {SCTP, 9000, 9001}}) {
    runtime::RunResult out = runtime::runPacket(from, packet("10.244.1.10", "10.96.0.10", proto, 42001, uint16_t(port)));
    ASSERT_TRUE(out.passed());
    Parsed o = parse(out.packetOut);
    runtime::RunResult in = runtime::runPacket(to, packet(o.dst, "10.244.1.10", proto, uint16_t(target), 42001));
    ASSERT_TRUE(in.passed()) << ir::l4ProtoName(proto);
    Parsed b = parse(in.packetOut);
    EXPECT_EQ(b.src, "10.96.0.10") << ir::l4ProtoName(proto);
    EXPECT_EQ(b.sport, port) << ir::l4ProtoName(proto);
    EXPECT_TRUE(ChecksumsValid(in.packetOut)) << ir::l4ProtoName(proto);
  }
}

// A SYN on a tracked tuple (a retransmission, or a new connection reusing
// the client's port) keeps the backend while it still serves: the first SYN
// may have reached it, and a second backend would split the handshake.
TEST_P(Services, ARetransmittedSynKeepsItsBackend) {
  int from = clientFromPod();
  ASSERT_GE(from, 0);
  runtime::RunResult first = runtime::runPacket(from, packet("10.244.1.10", "10.96.0.10", TCP, 42100, 80));
  ASSERT_TRUE(first.passed());
  std::string backend = parse(first.packetOut).dst;
  for (int i = 0; i < 30; ++i) {
    runtime::RunResult again = runtime::runPacket(from, packet("10.244.1.10", "10.96.0.10", TCP, 42100, 80));
    ASSERT_TRUE(again.passed());
    EXPECT_EQ(again.outcome, uint32_t(SLUICE_OUT_NEW_ALLOWED));  // decided again, by today's policy
    EXPECT_EQ(parse(again.packetOut).dst, backend) << "SYN #" << i + 2;
  }
}

// The tuple once used for a service connection, then to reach its backend
// directly, then for the service again (found by sluice_kubeproxy_bench): the
// third connection's replies must be translated back to the service again,
// though the direct connection's entry had replaced theirs.
TEST_P(Services, AReusedTupleIsTranslatedBothWaysAgain) {
  int from = clientFromPod(), to = clientToPod();
  ASSERT_GE(from, 0);
  ASSERT_GE(to, 0);
  runtime::RunResult svc = runtime::runPacket(from, packet("10.244.1.10", "10.96.0.10", TCP, 42101, 80));
  ASSERT_TRUE(svc.passed());
  std::string backend = parse(svc.packetOut).dst;

  runtime::RunResult direct = runtime::runPacket(from, packet("10.244.1.10", backend, TCP, 42101, 8080));
  ASSERT_TRUE(direct.passed());
  EXPECT_EQ(parse(direct.packetOut).dst, backend);
  runtime::RunResult directReply = runtime::runPacket(to, packet(backend, "10.244.1.10", TCP, 8080, 42101, false));
  ASSERT_TRUE(directReply.passed());
  EXPECT_EQ(parse(directReply.packetOut).src, backend) << "a direct connection's reply is not translated";

  runtime::RunResult again = runtime::runPacket(from, packet("10.244.1.10", "10.96.0.10", TCP, 42101, 80));
  ASSERT_TRUE(again.passed());
  EXPECT_EQ(parse(again.packetOut).dst, backend);
  runtime::RunResult reply = runtime::runPacket(to, packet(backend, "10.244.1.10", TCP, 8080, 42101, false));
  ASSERT_TRUE(reply.passed());
  Parsed back = parse(reply.packetOut);
  EXPECT_EQ(back.src, "10.96.0.10");
  EXPECT_EQ(back.sport, 80);
  EXPECT_TRUE(ChecksumsValid(reply.packetOut));
}

// A SYN reopening a tuple whose backend no longer holds its slot chooses
// another: the kept backend is only ever a current one.
TEST_P(Services, AReopenedTupleWhoseBackendLeftGetsACurrentOne) {
  int from = clientFromPod();
  ASSERT_GE(from, 0);
  runtime::RunResult first = runtime::runPacket(from, packet("10.244.1.10", "10.96.0.10", TCP, 42102, 80));
  ASSERT_TRUE(first.passed());
  // The entry remembers a backend that has since left the service.
  int ct = c.kernel->loaded("n1")->mapFd(SLUICE_MAP_CT);
  ASSERT_GE(ct, 0);
  sluice_ct_key k{};
  k.saddr = __builtin_bswap32(IpAddr::parse("10.244.1.10")->v4HostOrder());
  k.daddr = __builtin_bswap32(IpAddr::parse("10.96.0.10")->v4HostOrder());
  k.sport = 42102;
  k.dport = 80;
  k.proto = IPPROTO_TCP;
  k.scope = SLUICE_CT_EGRESS;
  sluice_ct_value v{};
  ASSERT_EQ(bpf_map_lookup_elem(ct, &k, &v), 0);
  EXPECT_NE(v.backend_slot, 0u);
  v.nat_daddr = __builtin_bswap32(IpAddr::parse("10.244.9.9")->v4HostOrder());
  ASSERT_EQ(bpf_map_update_elem(ct, &k, &v, BPF_ANY), 0);
  const std::set<std::string> backends = {"10.244.1.20", "10.244.2.20", "10.244.2.21"};
  runtime::RunResult again = runtime::runPacket(from, packet("10.244.1.10", "10.96.0.10", TCP, 42102, 80));
  ASSERT_TRUE(again.passed());
  EXPECT_TRUE(backends.count(parse(again.packetOut).dst)) << parse(again.packetOut).dst;
}

// ---- spread and affinity ---------------------------------------------------------

TEST_P(Services, NewConnectionsSpreadUniformlyOverBackends) {
  std::map<std::string, int> hits;
  constexpr int kConnections = 3000;
  for (int i = 0; i < kConnections; ++i) {
    runtime::FlowTrace t = trace("10.96.0.10", 80);
    ASSERT_TRUE(t.ok && t.allowed) << explain(t);
    hits[t.backend]++;
  }
  ASSERT_EQ(hits.size(), 3u);
  for (const auto& [backend, n] : hits) {
    EXPECT_GE(n, 850) << backend;  // 1000 ± 15%
    EXPECT_LE(n, 1150) << backend;
  }
}

TEST_P(Services, ClientIpAffinityPinsAClientUntilItsTimeout) {
  runtime::FlowTrace first = trace("10.96.0.12", 80);
  ASSERT_TRUE(first.ok && first.allowed) << explain(first);
  for (int i = 0; i < 60; ++i) EXPECT_EQ(trace("10.96.0.12", 80).backend, first.backend);
  // Other services are not pinned: the plain one still spreads.
  std::set<std::string> plain;
  for (int i = 0; i < 60; ++i) plain.insert(trace("10.96.0.10", 80).backend);
  EXPECT_EQ(plain.size(), 3u);

  // Age the client's entry past the timeout (600 s): the next connection
  // chooses afresh and pins again.
  int fd = c.kernel->loaded("n1")->mapFd(SLUICE_MAP_AFFINITY);
  ASSERT_GE(fd, 0);
  sluice_aff_key key{};
  key.client_addr = __builtin_bswap32(IpAddr::parse("10.244.1.10")->v4HostOrder());
  key.service_id = first.steps[0].run.serviceId;
  sluice_aff_value v{};
  ASSERT_EQ(bpf_map_lookup_elem(fd, &key, &v), 0);
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint64_t stale = uint64_t(now.tv_sec - 601) * 1000000000ull;
  v.last_used_ns = stale;
  v.backend_addr = 0;  // and remember a backend that is no more: must not be used
  ASSERT_EQ(bpf_map_update_elem(fd, &key, &v, BPF_ANY), 0);
  runtime::FlowTrace after = trace("10.96.0.12", 80);
  ASSERT_TRUE(after.ok && after.allowed) << explain(after);
  ASSERT_EQ(bpf_map_lookup_elem(fd, &key, &v), 0);
  EXPECT_GT(v.last_used_ns, stale);
  EXPECT_NE(v.backend_addr, 0u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(trace("10.96.0.12", 80).backend, after.backend);
}

// ---- rejects and drops ------------------------------------------------------------

TEST_P(Services, NoEndpointsIsRejectedWithRstOrPortUnreachable) {
  int fd = clientFromPod();
  std::vector<uint8_t> syn = packet("10.244.1.10", "10.96.0.11", TCP, 43000, 80);
  uint32_t seq = get32(syn, 34 + 4);
  runtime::RunResult r = runtime::runPacket(fd, syn);
  ASSERT_TRUE(r.redirected()) << "action " << r.action;  // sent back into the pod
  EXPECT_EQ(r.outcome, uint32_t(SLUICE_OUT_REJECTED));
  ASSERT_EQ(r.packetOut.size(), 54u);
  Parsed rst = parse(r.packetOut);
  EXPECT_EQ(rst.src, "10.96.0.11");
  EXPECT_EQ(rst.dst, "10.244.1.10");
  EXPECT_EQ(rst.proto, 6);
  EXPECT_EQ(rst.sport, 80);
  EXPECT_EQ(rst.dport, 43000);
  EXPECT_EQ(r.packetOut[34 + 13], 0x14) << "RST|ACK";
  EXPECT_EQ(get32(r.packetOut, 34 + 8), seq + 1) << "acknowledges the SYN";
  EXPECT_TRUE(std::equal(syn.begin() + 6, syn.begin() + 12, r.packetOut.begin())) << "MACs swapped";
  EXPECT_TRUE(ChecksumsValid(r.packetOut));

  for (ir::L4Proto proto : {UDP}) {
    std::vector<uint8_t> dgram = packet("10.244.1.10", "10.96.0.11", proto, 43001, 53);
    runtime::RunResult u = runtime::runPacket(fd, dgram);
    ASSERT_TRUE(u.redirected());
    ASSERT_EQ(u.packetOut.size(), 70u);
    Parsed icmp = parse(u.packetOut);
    EXPECT_EQ(icmp.src, "10.96.0.11");
    EXPECT_EQ(icmp.dst, "10.244.1.10");
    EXPECT_EQ(icmp.proto, 1);
    EXPECT_EQ(u.packetOut[34], 3) << "destination unreachable";
    EXPECT_EQ(u.packetOut[35], 3) << "port unreachable";
    // It quotes the datagram's IP header and first 8 bytes.
    EXPECT_TRUE(std::equal(dgram.begin() + 14, dgram.begin() + 42, u.packetOut.begin() + 42));
    EXPECT_TRUE(ChecksumsValid(u.packetOut));
  }
  runtime::FlowTrace t = trace("10.96.0.11", 80);
  EXPECT_TRUE(t.ok && t.rejected && !t.allowed) << explain(t);
  EXPECT_EQ(t.service, "x/empty");
}

TEST_P(Services, ClusterIpOnAPortItDoesNotServeIsRejected) {
  runtime::FlowTrace t = trace("10.96.0.10", 81);
  EXPECT_TRUE(t.ok && t.rejected && !t.allowed) << explain(t);
  EXPECT_EQ(t.steps.size(), 1u);
  runtime::RunResult u = runtime::runPacket(clientFromPod(), packet("10.244.1.10", "10.96.0.10", UDP, 43002, 80));
  EXPECT_TRUE(u.redirected());
  EXPECT_EQ(u.packetOut[34], 3);
  runtime::RunResult s = runtime::runPacket(clientFromPod(), packet("10.244.1.10", "10.96.0.10", SCTP, 43003, 80));
  EXPECT_TRUE(s.redirected());
  EXPECT_EQ(parse(s.packetOut).proto, 1) << "SCTP is answered with ICMP port unreachable";
  // An address that is no service's is not touched.
  runtime::FlowTrace other = trace("10.96.0.99", 81);
  EXPECT_TRUE(other.ok && other.allowed && !other.rejected) << explain(other);
}

TEST_P(Services, LocalInternalTrafficPolicyKeepsThisNodesEndpoints) {
  for (int i = 0; i < 40; ++i) EXPECT_EQ(trace("10.96.0.13", 80).backend, "10.244.1.20:8080");
  // Endpoints only on another node: dropped, not rejected (KEP-2086, kube-proxy).
  runtime::FlowTrace t = trace("10.96.0.14", 80);
  ASSERT_TRUE(t.ok);
  EXPECT_FALSE(t.allowed);
  EXPECT_FALSE(t.rejected);
  ASSERT_EQ(t.steps.size(), 1u);
  EXPECT_EQ(t.steps[0].run.outcome, uint32_t(SLUICE_OUT_SVC_DROPPED));
  EXPECT_EQ(t.steps[0].run.action, 2);  // TC_ACT_SHOT
  // From n2 the same service has its endpoint.
  EXPECT_EQ(trace("10.96.0.14", 80, TCP, "x/web3").backend, "10.244.2.20:8080");
}

TEST_P(Services, ServingTerminatingEndpointsOnlyWhenNoneIsReady) {
  // web1 is serving and terminating, web2 terminating and not serving.
  for (int i = 0; i < 40; ++i) EXPECT_EQ(trace("10.96.0.15", 80).backend, "10.244.1.20:8080");
}

// ---- the maps are updated in place ------------------------------------------------

TEST_P(Services, BackendChangeNeedsNoRecompile) {
  runtime::LoadedNode* n1 = c.kernel->loaded("n1");
  int fdBefore = clientFromPod();
  uint32_t idBefore = trace("10.96.0.10", 80).steps.at(0).run.serviceId;
  ir::NodeProgram changed = *c.kernel->program().findNode("n1");
  for (auto& svc : changed.services)
    if (svc.key() == "x/web")
      for (auto& port : svc.ports) {
        std::erase_if(port.backends, [](const ir::Backend& b) { return b.ip.str() != "10.244.2.21"; });
        ASSERT_EQ(port.backends.size(), 1u);
      }
  std::string error;
  ASSERT_TRUE(n1->syncServices(changed, error)) << error;
  EXPECT_EQ(clientFromPod(), fdBefore) << "the same program";
  for (int i = 0; i < 30; ++i) {
    runtime::FlowTrace t = trace("10.96.0.10", 80);
    EXPECT_EQ(t.backend, "10.244.2.21:8080");
    EXPECT_EQ(t.steps.at(0).run.serviceId, idBefore) << "a frontend keeps its service id";
  }
  // No backend at all: rejected from now on.
  for (auto& svc : changed.services)
    if (svc.key() == "x/web")
      for (auto& port : svc.ports) port.backends.clear();
  ASSERT_TRUE(n1->syncServices(changed, error)) << error;
  EXPECT_TRUE(trace("10.96.0.10", 80).rejected);
  // And back: the backend map holds exactly the current slots.
  ASSERT_TRUE(n1->syncServices(*c.kernel->program().findNode("n1"), error)) << error;
  std::set<std::string> seen;
  for (int i = 0; i < 60; ++i) seen.insert(trace("10.96.0.10", 80).backend);
  EXPECT_EQ(seen.size(), 3u);
  int beFd = n1->mapFd(SLUICE_MAP_BACKENDS);
  size_t slots = 0;
  sluice_be_key k{}, next{};
  for (void* prev = nullptr; bpf_map_get_next_key(beFd, prev, &next) == 0; prev = &k, k = next)
    if (next.service_id == idBefore) ++slots;
  EXPECT_EQ(slots, 3u);
}

// ---- hairpin ---------------------------------------------------------------------------

TEST_P(Services, PodReachingItselfThroughItsServiceWorks) {
  int from = clientFromPod(), to = clientToPod();
  runtime::RunResult out = runtime::runPacket(from, packet("10.244.1.10", "10.96.0.16", TCP, 44000, 80));
  ASSERT_TRUE(out.passed());
  Parsed fwd = parse(out.packetOut);
  // The source becomes the hairpin address, or the pod would drop a packet
  // from itself and answer over loopback.
  EXPECT_EQ(fwd.src, "169.254.42.1");
  EXPECT_EQ(fwd.dst, "10.244.1.10");
  EXPECT_EQ(fwd.dport, 8080);
  EXPECT_TRUE(ChecksumsValid(out.packetOut));
  // Delivered back to the pod: admitted as the pod's own connection.
  runtime::RunResult in = runtime::runPacket(to, out.packetOut);
  ASSERT_TRUE(in.passed());
  EXPECT_EQ(SLUICE_DECISION_KIND(in.decision), uint32_t(SLUICE_DECIDE_ALLOW_HAIRPIN));
  // The pod answers the hairpin address; from-pod turns it back into the service's answer.
  runtime::RunResult ans = runtime::runPacket(from, packet("10.244.1.10", "169.254.42.1", TCP, 8080, 44000, false));
  ASSERT_TRUE(ans.passed());
  Parsed a = parse(ans.packetOut);
  EXPECT_EQ(a.src, "10.96.0.16");
  EXPECT_EQ(a.sport, 80);
  EXPECT_EQ(a.dst, "10.244.1.10");
  EXPECT_EQ(a.dport, 44000);
  EXPECT_TRUE(ChecksumsValid(ans.packetOut));
  runtime::RunResult back = runtime::runPacket(to, ans.packetOut);
  EXPECT_TRUE(back.passed());
  EXPECT_EQ(back.outcome, uint32_t(SLUICE_OUT_REPLY));

  runtime::FlowTrace t = trace("10.96.0.16", 80);
  EXPECT_TRUE(t.ok && t.allowed) << explain(t);
  EXPECT_EQ(t.backendPod, "x/client");
}

// ---- policy after translation ------------------------------------------------------

class ServicesWithPolicy : public Services {
  std::string extraManifests() override {
    // The client may reach web pods on 80 only (the service port, not the
    // target port); web3 admits nothing on 8080.
    return R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: x}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-ingress, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {}}], ports: [{port: 8080}]}]
)";
  }
};
SLUICE_IN_BOTH_DATAPATH_MODES(ServicesWithPolicy);

TEST_P(ServicesWithPolicy, PolicyJudgesTheBackendAndItsTargetPort) {
  // Egress allows port 80 to web pods; the service's port is 80 but its
  // backends listen on 8080, which is what the policy sees: denied.
  runtime::FlowTrace t = trace("10.96.0.10", 80);
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(summarize(t), "deny from-pod=isolated") << explain(t);
  EXPECT_EQ(t.service, "x/web");
  // Directly to a pod on 80: that rule allows it (and web's ingress denies 80).
  EXPECT_EQ(summarize(trace("10.244.2.21", 80)), "deny from-pod=np.x.client-egress.egress0.to0 to-pod=isolated");
  // Another client, not isolated: web's ingress admits the translated 8080.
  runtime::FlowTrace w = trace("10.96.0.10", 80, TCP, "x/web1");
  for (int i = 0; i < 50 && w.backendPod == "x/web1"; ++i)  // landing on itself is hairpin, not ingress policy
    w = trace("10.96.0.10", 80, TCP, "x/web1");
  EXPECT_TRUE(w.allowed) << explain(w);
  EXPECT_EQ(w.steps.back().rule ? w.steps.back().rule->name : "", "np.x.web-ingress.ingress0.from0") << explain(w);
}

}  // namespace
}  // namespace sluice::datapath_test
