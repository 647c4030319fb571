// NodePort and external addresses from outside the cluster, in the kernel
// (BPF_PROG_TEST_RUN): the node's uplink program (from_netdev) translates a
// new connection to a backend, SNATs it to the node when the backend is on
// another node (externalTrafficPolicy Cluster), keeps the client's address
// and this node's endpoints only with Local (dropping when there is none),
// and the replies are turned back where they pass first: the local backend's
// from-pod program, or the uplink for a remote backend. The backend pod's
// ingress policy judges the translated connection. Every returned packet is
// checked: addresses, ports and checksums.
#include <bpf/bpf.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "codegen/codegen.h"
#include "codegen/datapath/sluice_abi.h"
#include "tests/datapath/datapath_util.h"
#include "tests/datapath/packet_util.h"
#include "tests/testing/command.h"
#include "tests/testing/manifests.h"

namespace sluice::datapath_test {
namespace {

const ir::L4Proto TCP = ir::L4Proto::TCP, UDP = ir::L4Proto::UDP;
const char* kClient = "203.0.113.9";  // outside the cluster: world
const char* kN1 = "192.168.1.1";      // node n1's address (kTwoNodesThreeNamespaces)
const char* kN2 = "192.168.2.1";
const char* kWeb1 = "10.244.1.20";  // on n1
const char* kWeb2 = "10.244.2.20";  // on n2

std::string pods() {
  std::string ports = "[{name: http, containerPort: 8080}]";
  return testing::kTwoNodesThreeNamespaces + testing::podYaml("x", "web1", "n1", kWeb1, "app: web", ports) +
         testing::podYaml("x", "web2", "n2", kWeb2, "app: web", ports);
}

// A NodePort service in x on port 80 -> 8080 with `nodePort`; `extra` adds spec fields.
std::string nodePortService(const std::string& name, const std::string& ip, int nodePort, const std::string& extra,
                            const std::string& endpoints) {
  return "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: x}\nspec:\n  type: NodePort\n"
         "  clusterIP: " + ip + "\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: 8080, "
         "nodePort: " + std::to_string(nodePort) + "}]\n" + extra +
         "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
         "-1, namespace: x, labels: {kubernetes.io/service-name: " + name + "}}\naddressType: IPv4\n"
         "ports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n" + endpoints;
}

std::string endpoint(const std::string& ip, const std::string& node, const std::string& pod) {
  return "- addresses: [" + ip + "]\n  conditions: {ready: true}\n  nodeName: " + node +
         "\n  targetRef: {kind: Pod, name: " + pod + ", namespace: x}\n";
}

const std::string kBoth = endpoint(kWeb1, "n1", "web1") + endpoint(kWeb2, "n2", "web2");

std::string services() {
  return nodePortService("np", "10.96.0.20", 30080, "", kBoth) +
         nodePortService("nplocal", "10.96.0.21", 30081, "  externalTrafficPolicy: Local\n", kBoth) +
         nodePortService("npremote", "10.96.0.22", 30082, "  externalTrafficPolicy: Local\n",
                         endpoint(kWeb2, "n2", "web2")) +
         // An external address (no NodePort): the same uplink path.
         "---\napiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: x}\nspec:\n  clusterIP: 10.96.0.23\n"
         "  externalIPs: [198.51.100.7]\n  externalTrafficPolicy: Local\n  selector: {app: web}\n"
         "  ports: [{name: http, port: 80, targetPort: 8080}]\n"
         "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ext-1, namespace: x, labels: "
         "{kubernetes.io/service-name: ext}}\naddressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\n"
         "endpoints:\n" + kBoth +
         // No endpoint anywhere: the uplink answers (TCP RST, ICMP port unreachable).
         "---\napiVersion: v1\nkind: Service\nmetadata: {name: npempty, namespace: x}\nspec:\n  type: NodePort\n"
         "  clusterIP: 10.96.0.24\n  selector: {app: nothing}\n  ports: [{name: http, port: 80, nodePort: 30083}, "
         "{name: dns, protocol: UDP, port: 53, nodePort: 30053}]\n";
}

// ---- packets ------------------------------------------------------------------

// In both datapath modes: the uplink program is the same library code in
// both, the backend pod's to-pod decision is each mode's own.
class NodePort : public testing::InBothDatapathModes {
 protected:
  void SetUp() override {
    SLUICE_REQUIRE_ROOT();
    ASSERT_TRUE(c.load(pods() + services() + extraManifests(), options())) << c.diags.render();
    ASSERT_TRUE(testing::LoadedInMode(*c.kernel, mode()));
  }
  virtual std::string extraManifests() { return ""; }

  int uplink(const std::string& node) { return c.kernel->loaded(node)->programFd(codegen::kUplinkProgram); }
  int podProgram(const std::string& node, const std::string& pod, ir::Direction dir) {
    const ir::NodeProgram* np = c.kernel->program().findNode(node);
    const ir::Endpoint* ep = np ? np->findEndpoint(pod) : nullptr;
    return ep ? c.kernel->loaded(node)->programFd(codegen::programName(*np, *ep, dir)) : -1;
  }
  runtime::FlowTrace trace(const std::string& to, uint16_t port) {
    runtime::FlowQuery q;
    q.fromIp = *IpAddr::parse(kClient);
    q.toIp = *IpAddr::parse(to);
    q.port = port;
    return c.kernel->trace(q);
  }

  LoadedCluster c;
};
SLUICE_IN_BOTH_DATAPATH_MODES(NodePort);

// ---- translation ------------------------------------------------------------------

TEST_P(NodePort, ClusterPolicyTranslatesToLocalAndRemoteBackends) {
  int fd = uplink("n1");
  ASSERT_GE(fd, 0) << "n1 has no uplink program";
  std::set<std::string> seen;
  for (uint16_t i = 0; i < 64 && seen.size() < 2; ++i) {
    uint16_t sport = uint16_t(41000 + i);
    runtime::RunResult r = runtime::runPacket(fd, packet(kClient, kN1, TCP, sport, 30080));
    ASSERT_TRUE(forwarded(r)) << r.error << " action " << r.action << " outcome " << r.outcome;
    EXPECT_EQ(r.outcome, uint32_t(SLUICE_OUT_NEW_ALLOWED));
    EXPECT_NE(r.serviceId, 0u);
    Parsed out = parse(r.packetOut);
    EXPECT_EQ(out.dport, 8080);
    EXPECT_TRUE(ChecksumsValid(r.packetOut));
    if (out.dst == kWeb1) {
      // Local backend: the client's address and port are kept.
      EXPECT_EQ(out.src, kClient);
      EXPECT_EQ(out.sport, sport);
    } else {
      // Remote backend: the source is this node, so replies return here.
      EXPECT_EQ(out.dst, kWeb2);
      EXPECT_EQ(out.src, kN1);
      EXPECT_NE(out.sport, 0);
    }
    seen.insert(out.dst);
  }
  EXPECT_EQ(seen.size(), 2u) << "64 connections never reached both backends";
}

TEST_P(NodePort, LocalPolicyKeepsTheSourceAndOnlyLocalEndpoints) {
  int fd = uplink("n1");
  ASSERT_GE(fd, 0);
  for (uint16_t i = 0; i < 32; ++i) {
    uint16_t sport = uint16_t(42000 + i);
    runtime::RunResult r = runtime::runPacket(fd, packet(kClient, kN1, TCP, sport, 30081));
    ASSERT_EQ(r.action, kActOk) << r.error;
    Parsed out = parse(r.packetOut);
    EXPECT_EQ(out.dst, kWeb1) << "a remote endpoint was chosen under externalTrafficPolicy: Local";
    EXPECT_EQ(out.src, kClient);
    EXPECT_EQ(out.sport, sport);
    EXPECT_EQ(out.dport, 8080);
    EXPECT_TRUE(ChecksumsValid(r.packetOut));
  }
  // The external address of a Local service: the same.
  runtime::RunResult r = runtime::runPacket(fd, packet(kClient, "198.51.100.7", TCP, 42100, 80));
  ASSERT_EQ(r.action, kActOk) << r.error;
  EXPECT_EQ(parse(r.packetOut).dst, kWeb1);
  EXPECT_EQ(parse(r.packetOut).src, kClient);
}

TEST_P(NodePort, LocalPolicyWithoutLocalEndpointDrops) {
  runtime::RunResult r = runtime::runPacket(uplink("n1"), packet(kClient, kN1, TCP, 43000, 30082));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.action, kActShot);
  EXPECT_EQ(r.outcome, uint32_t(SLUICE_OUT_SVC_DROPPED));
  // n2 holds the endpoint: there it is served, to the local pod.
  r = runtime::runPacket(uplink("n2"), packet(kClient, kN2, TCP, 43001, 30082));
  ASSERT_EQ(r.action, kActOk) << r.error;
  EXPECT_EQ(parse(r.packetOut).dst, kWeb2);
  EXPECT_EQ(parse(r.packetOut).src, kClient);
}

TEST_P(NodePort, OtherTrafficOnTheUplinkIsUntouched) {
  std::vector<uint8_t> in = packet(kClient, kN1, TCP, 44000, 22);  // ssh to the node
  runtime::RunResult r = runtime::runPacket(uplink("n1"), in);
  ASSERT_EQ(r.action, kActOk) << r.error;
  EXPECT_EQ(r.serviceId, 0u);
  EXPECT_EQ(r.packetOut, in);
  // A NodePort on another node's address is that node's business.
  in = packet(kClient, kN2, TCP, 44001, 30080);
  r = runtime::runPacket(uplink("n1"), in);
  ASSERT_EQ(r.action, kActOk) << r.error;
  EXPECT_EQ(r.packetOut, in);
}

// ---- replies ------------------------------------------------------------------------

TEST_P(NodePort, LocalBackendRepliesLeaveAsTheNodePort) {
  uint16_t sport = 45000;
  runtime::RunResult in = runtime::runPacket(uplink("n1"), packet(kClient, kN1, TCP, sport, 30081));
  ASSERT_EQ(in.action, kActOk) << in.error;
  // The pod's to-pod program admits the translated connection (no policy)...
  runtime::RunResult admitted =
      runtime::runPacket(podProgram("n1", "x/web1", ir::Direction::Ingress), in.packetOut);
  ASSERT_TRUE(admitted.passed()) << admitted.error;
  EXPECT_EQ(admitted.outcome, uint32_t(SLUICE_OUT_NEW_ALLOWED));
  // ...and its from-pod program turns the reply back into the NodePort's.
  runtime::RunResult reply = runtime::runPacket(podProgram("n1", "x/web1", ir::Direction::Egress),
                                                packet(kWeb1, kClient, TCP, 8080, sport, false));
  ASSERT_TRUE(forwarded(reply)) << reply.error << " action " << reply.action;
  EXPECT_EQ(reply.outcome, uint32_t(SLUICE_OUT_REPLY));
  Parsed out = parse(reply.packetOut);
  EXPECT_EQ(out.src, kN1);
  EXPECT_EQ(out.sport, 30081);
  EXPECT_EQ(out.dst, kClient);
  EXPECT_EQ(out.dport, sport);
  EXPECT_TRUE(ChecksumsValid(reply.packetOut));
  // The client's next packet is translated the same way (tracked).
  runtime::RunResult next = runtime::runPacket(uplink("n1"), packet(kClient, kN1, TCP, sport, 30081, false));
  ASSERT_EQ(next.action, kActOk);
  EXPECT_EQ(next.outcome, uint32_t(SLUICE_OUT_ESTABLISHED));
  EXPECT_EQ(parse(next.packetOut).dst, kWeb1);
}

TEST_P(NodePort, RemoteBackendRepliesAreTurnedBackOnTheUplink) {
  int fd = uplink("n1");
  // Find a connection that went to the remote backend (random choice).
  for (uint16_t i = 0; i < 64; ++i) {
    uint16_t sport = uint16_t(46000 + i);
    for (ir::L4Proto proto : {TCP, UDP}) {
      runtime::RunResult r = runtime::runPacket(fd, packet(kClient, kN1, proto, sport, 30080));
      ASSERT_TRUE(forwarded(r)) << r.error;
      Parsed out = parse(r.packetOut);
      if (out.dst != kWeb2) continue;
      ASSERT_EQ(out.src, kN1);
      runtime::RunResult reply = runtime::runPacket(fd, packet(kWeb2, kN1, proto, 8080, out.sport, false));
      ASSERT_TRUE(forwarded(reply)) << reply.error;
      EXPECT_EQ(reply.outcome, uint32_t(SLUICE_OUT_REPLY));
      Parsed back = parse(reply.packetOut);
      EXPECT_EQ(back.src, kN1);
      EXPECT_EQ(back.sport, 30080);
      EXPECT_EQ(back.dst, kClient);
      EXPECT_EQ(back.dport, sport);
      EXPECT_TRUE(ChecksumsValid(reply.packetOut));
      return;
    }
  }
  FAIL() << "64 connections never reached the remote backend";
}

TEST_P(NodePort, TraceRunsTheUplinkThenTheBackend) {
  runtime::FlowTrace t = trace(kN1, 30081);
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_TRUE(t.allowed) << explain(t);
  EXPECT_EQ(t.service, "x/nplocal");
  EXPECT_EQ(t.backend, std::string(kWeb1) + ":8080");
  EXPECT_EQ(t.backendPod, "x/web1");
  ASSERT_EQ(t.steps.size(), 2u) << explain(t);
  EXPECT_EQ(t.steps[0].hook, "uplink");
  EXPECT_EQ(t.steps[1].endpoint, "x/web1");
}

// ---- no endpoint: answered back out of the uplink ---------------------------------

// The ICMP message's own checksum (no pseudo-header), from byte 34 to the end.
::testing::AssertionResult IcmpChecksumValid(const std::vector<uint8_t>& p) {
  if (p.size() < 42) return ::testing::AssertionFailure() << "short frame";
  if (!folds(sum16(&p[14], 20))) return ::testing::AssertionFailure() << "bad IPv4 header checksum";
  if (!folds(sum16(&p[34], p.size() - 34))) return ::testing::AssertionFailure() << "bad ICMP checksum";
  return ::testing::AssertionSuccess();
}

// The answer's Ethernet and IPv4 headers: back to the sender's MAC, from the
// address it asked (the node), a fresh header (TTL 64, no fragment bits).
void expectAnswerHeaders(const std::vector<uint8_t>& in, const std::vector<uint8_t>& out, uint8_t proto,
                         uint16_t ipLen, const std::string& from) {
  ASSERT_EQ(out.size(), size_t(14 + ipLen));
  EXPECT_TRUE(std::equal(in.begin() + 6, in.begin() + 12, out.begin())) << "to the MAC the question came from";
  EXPECT_TRUE(std::equal(in.begin(), in.begin() + 6, out.begin() + 6)) << "from the MAC it was sent to";
  EXPECT_EQ(get16(out, 12), 0x0800);
  EXPECT_EQ(out[14], 0x45);
  EXPECT_EQ(out[15], 0) << "TOS";
  EXPECT_EQ(get16(out, 16), ipLen);
  EXPECT_EQ(get16(out, 18), 0) << "id";
  EXPECT_EQ(get16(out, 20), 0) << "flags and fragment offset";
  EXPECT_EQ(out[22], 64) << "TTL";
  EXPECT_EQ(out[23], proto);
  EXPECT_EQ(dotted(out, 26), from);
  EXPECT_EQ(dotted(out, 30), kClient);
}

TEST_P(NodePort, NoEndpointIsAnsweredBackOutOfTheUplink) {
  int fd = uplink("n1");
  // A SYN: RST|ACK acknowledging it (RFC 9293 3.10.7.1), seq 0.
  std::vector<uint8_t> syn = packet(kClient, kN1, TCP, 47000, 30083);
  syn[38] = 0x11, syn[39] = 0x22, syn[40] = 0x33, syn[41] = 0x44;
  fixL4Checksum(syn);
  runtime::RunResult r = runtime::runPacket(fd, syn);
  // TC_ACT_REDIRECT: bpf_redirect to the interface it came in on (egress).
  ASSERT_TRUE(r.redirected()) << r.error << " action " << r.action << " outcome " << r.outcome;
  EXPECT_EQ(r.outcome, uint32_t(SLUICE_OUT_REJECTED));
  EXPECT_NE(r.serviceId, 0u);
  expectAnswerHeaders(syn, r.packetOut, 6, 40, kN1);
  ASSERT_EQ(r.packetOut.size(), 54u);
  Parsed rst = parse(r.packetOut);
  EXPECT_EQ(rst.sport, 30083);
  EXPECT_EQ(rst.dport, 47000);
  EXPECT_EQ(get32(r.packetOut, 38), 0u) << "seq";
  EXPECT_EQ(get32(r.packetOut, 42), 0x11223345u) << "acknowledges the SYN";
  EXPECT_EQ(r.packetOut[46], 0x50) << "data offset 5, no options";
  EXPECT_EQ(r.packetOut[47], 0x14) << "RST|ACK";
  EXPECT_EQ(get16(r.packetOut, 48), 0) << "window";
  EXPECT_EQ(get16(r.packetOut, 52), 0) << "urgent pointer";
  EXPECT_TRUE(ChecksumsValid(r.packetOut));

  // A segment with ACK (no tracked connection): RST with the segment's ACK
  // number as its sequence, no ACK.
  std::vector<uint8_t> ack = packet(kClient, kN1, TCP, 47001, 30083, false);
  ack[42] = 0x01, ack[43] = 0x02, ack[44] = 0x03, ack[45] = 0x04;
  fixL4Checksum(ack);
  r = runtime::runPacket(fd, ack);
  ASSERT_TRUE(r.redirected()) << r.error << " action " << r.action << " outcome " << r.outcome;
  expectAnswerHeaders(ack, r.packetOut, 6, 40, kN1);
  ASSERT_EQ(r.packetOut.size(), 54u);
  EXPECT_EQ(get32(r.packetOut, 38), 0x01020304u) << "seq = the segment's ACK";
  EXPECT_EQ(get32(r.packetOut, 42), 0u);
  EXPECT_EQ(r.packetOut[47], 0x04) << "RST";
  EXPECT_TRUE(ChecksumsValid(r.packetOut));

  // A RST is never answered.
  std::vector<uint8_t> reset = packet(kClient, kN1, TCP, 47002, 30083, false);
  reset[47] = 0x04;
  fixL4Checksum(reset);
  r = runtime::runPacket(fd, reset);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.action, kActShot);

  // UDP: ICMP port unreachable quoting the datagram's IP header and 8 bytes.
  std::vector<uint8_t> dgram = packet(kClient, kN1, UDP, 47003, 30053);
  r = runtime::runPacket(fd, dgram);
  ASSERT_TRUE(r.redirected()) << r.error << " action " << r.action << " outcome " << r.outcome;
  EXPECT_EQ(r.outcome, uint32_t(SLUICE_OUT_REJECTED));
  expectAnswerHeaders(dgram, r.packetOut, 1, 56, kN1);
  ASSERT_EQ(r.packetOut.size(), 70u);
  EXPECT_EQ(r.packetOut[34], 3) << "destination unreachable";
  EXPECT_EQ(r.packetOut[35], 3) << "port unreachable";
  EXPECT_EQ(get32(r.packetOut, 38), 0u) << "unused";
  EXPECT_TRUE(std::equal(dgram.begin() + 14, dgram.begin() + 42, r.packetOut.begin() + 42)) << "the quote";
  EXPECT_TRUE(IcmpChecksumValid(r.packetOut));

  // Every node answers for its own address.
  r = runtime::runPacket(uplink("n2"), packet(kClient, kN2, TCP, 47004, 30083));
  ASSERT_TRUE(r.redirected()) << r.error << " action " << r.action << " outcome " << r.outcome;
  EXPECT_EQ(dotted(r.packetOut, 26), kN2);
  EXPECT_TRUE(ChecksumsValid(r.packetOut));
}

TEST_P(NodePort, TraceReportsTheUplinkReject) {
  runtime::FlowTrace t = trace(kN1, 30083);
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_TRUE(t.rejected) << explain(t);
  EXPECT_FALSE(t.allowed) << explain(t);
  EXPECT_EQ(t.service, "x/npempty");
  EXPECT_EQ(t.backend, "");
  ASSERT_EQ(t.steps.size(), 1u) << explain(t);
  EXPECT_EQ(t.steps[0].hook, "uplink");
  EXPECT_EQ(t.steps[0].run.outcome, uint32_t(SLUICE_OUT_REJECTED));
  EXPECT_EQ(t.steps[0].explanation.rfind("rejected", 0), 0u) << t.steps[0].explanation;
  // Local with endpoints on another node only: a drop, not a reject.
  runtime::FlowTrace far = trace(kN1, 30082);
  ASSERT_TRUE(far.ok) << far.error;
  EXPECT_FALSE(far.rejected) << explain(far);
  EXPECT_FALSE(far.allowed) << explain(far);
  ASSERT_EQ(far.steps.size(), 1u) << explain(far);
  EXPECT_EQ(far.steps[0].run.outcome, uint32_t(SLUICE_OUT_SVC_DROPPED));
}

// `sluice trace` as a user runs it: the built binary on the same manifests,
// compiled with `--datapath` in each mode.
using NodePortCli = testing::InBothDatapathModes;
SLUICE_IN_BOTH_DATAPATH_MODES(NodePortCli);

TEST_P(NodePortCli, TraceSaysRejectForAFrontendWithoutEndpoints) {
  SLUICE_REQUIRE_ROOT();
  char dir[] = "/tmp/sluice-nodeport-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string file = std::string(dir) + "/cluster.yaml";
  {
    std::ofstream out(file);
    out << pods() << services();
  }
  auto run = [&](const std::string& to) {
    std::string line = std::string(SLUICE_BIN) + " trace " + file + " --from " + kClient + " --to " + to +
                       " --output json --datapath " + modeName();
    testing::CommandResult r = testing::runCommand(line);
    EXPECT_EQ(r.status, 0) << line << "\n" << r.out;
    return nlohmann::json::parse(r.out, nullptr, false);
  };
  nlohmann::json rejected = run(std::string(kN1) + ":30083/TCP");
  nlohmann::json dropped = run(std::string(kN1) + ":30082/TCP");
  nlohmann::json served = run(std::string(kN1) + ":30081/TCP");
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(rejected.is_object()) << rejected.dump();
  EXPECT_EQ(rejected.value("verdict", ""), "reject") << rejected.dump(2);
  EXPECT_EQ(rejected.value("service", ""), "x/npempty");
  ASSERT_EQ(rejected["hooks"].size(), 1u) << rejected.dump(2);
  EXPECT_EQ(rejected["hooks"][0].value("hook", ""), "uplink");
  EXPECT_EQ(rejected["hooks"][0].value("verdict", ""), "reject");
  ASSERT_TRUE(dropped.is_object());
  EXPECT_EQ(dropped.value("verdict", ""), "deny") << dropped.dump(2);
  ASSERT_TRUE(served.is_object());
  EXPECT_EQ(served.value("verdict", ""), "allow") << served.dump(2);
}

// ---- the backend pod's policy ------------------------------------------------------

class NodePortPolicy : public NodePort {
  // web pods accept other pods only: the world (a NodePort client) is denied.
  std::string extraManifests() override {
    return "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: pods-only, namespace: x}\n"
           "spec:\n  podSelector: {matchLabels: {app: web}}\n  ingress: [{from: [{namespaceSelector: {}}]}]\n";
  }
};
SLUICE_IN_BOTH_DATAPATH_MODES(NodePortPolicy);

TEST_P(NodePortPolicy, BackendIngressPolicyDeniesTheWorld) {
  runtime::FlowTrace t = trace(kN1, 30081);
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_FALSE(t.allowed) << explain(t);
  EXPECT_EQ(t.service, "x/nplocal");
  ASSERT_EQ(t.steps.size(), 2u) << explain(t);
  EXPECT_EQ(t.steps[1].endpoint, "x/web1");
  EXPECT_EQ(t.steps[1].run.outcome, uint32_t(SLUICE_OUT_NEW_DENIED));
  // Denied: no reply translation was set up for the pod's from-pod hook.
  runtime::RunResult reply = runtime::runPacket(podProgram("n1", "x/web1", ir::Direction::Egress),
                                                packet(kWeb1, kClient, TCP, 8080, 45500, false));
  EXPECT_NE(reply.outcome, uint32_t(SLUICE_OUT_REPLY));
}

}  // namespace
}  // namespace sluice::datapath_test
