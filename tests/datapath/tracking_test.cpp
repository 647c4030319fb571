// Connection tracking in the kernel (BPF_PROG_TEST_RUN): what a tracked tuple
// lets through, and what a TCP SYN on a tracked tuple does. Entries carry no
// TCP state and outlive their connections (LRU), so a SYN meeting one is a new
// connection on a reused tuple, or a retransmission: either way it is decided
// by the policy in force, and an entry an older policy admitted never lets a
// denied connection through (docs/datapath.md, "Connection tracking").
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>

#include "codegen/codegen.h"
#include "tests/datapath/corner_cluster.h"

namespace sluice::datapath_test {
namespace {

// y/b (n2, 10.244.2.11) admits x/a (n1, 10.244.1.10) on TCP 81 only.
const std::string kCluster =
    kBase + policy("y", "b-ingress", "  podSelector: {matchLabels: {app: b}}\n"
                                     "  ingress: [{from: [{namespaceSelector: {matchLabels: {team: red}},"
                                     " podSelector: {matchLabels: {app: a}}}], ports: [{port: 81}]}]");

// In both datapath modes: a SYN on a tracked tuple is decided by each mode's
// own decision (the generic tables in generic mode).
class Tracking : public InBothDatapathModes {
 protected:
  void SetUp() override {
    SLUICE_REQUIRE_ROOT();
    ASSERT_TRUE(c.load(kCluster, options())) << c.diags.render();
    ASSERT_TRUE(testing::LoadedInMode(*c.kernel, mode()));
    const ir::NodeProgram* np = c.kernel->program().findNode("n2");
    ASSERT_NE(np, nullptr);
    const ir::Endpoint* ep = np->findEndpoint("y/b");
    ASSERT_NE(ep, nullptr);
    toPod = c.kernel->loaded("n2")->programFd(codegen::programName(*np, *ep, ir::Direction::Ingress));
    ct = c.kernel->loaded("n2")->mapFd(SLUICE_MAP_CT);
    ASSERT_GE(toPod, 0);
    ASSERT_GE(ct, 0);
  }

  runtime::RunResult toB(uint16_t sport, uint16_t dport, bool syn) {
    return runtime::runPacket(toPod, runtime::buildPacket({*IpAddr::parse("10.244.1.10"),
                                                          *IpAddr::parse("10.244.2.11"), ir::L4Proto::TCP, sport,
                                                          dport, syn}));
  }
  static sluice_ct_key key(const char* saddr, const char* daddr, uint16_t sport, uint16_t dport, uint8_t scope) {
    sluice_ct_key k{};
    inet_pton(AF_INET, saddr, &k.saddr);
    inet_pton(AF_INET, daddr, &k.daddr);
    k.sport = sport;
    k.dport = dport;
    k.proto = IPPROTO_TCP;
    k.scope = scope;
    return k;
  }
  bool tracked(const sluice_ct_key& k) {
    sluice_ct_value v{};
    return bpf_map_lookup_elem(ct, &k, &v) == 0;
  }

  LoadedCluster c;
  int toPod = -1, ct = -1;
};
SLUICE_IN_BOTH_DATAPATH_MODES(Tracking);

TEST_P(Tracking, ARetransmittedSynIsDecidedAgainAndTheConnectionGoesOn) {
  for (int i = 0; i < 3; ++i) {
    runtime::RunResult syn = toB(40000, 81, true);
    ASSERT_TRUE(syn.passed()) << syn.error;
    EXPECT_EQ(syn.outcome, uint32_t(SLUICE_OUT_NEW_ALLOWED)) << "SYN #" << i + 1;
  }
  runtime::RunResult ack = toB(40000, 81, false);
  EXPECT_TRUE(ack.passed());
  EXPECT_EQ(ack.outcome, uint32_t(SLUICE_OUT_ESTABLISHED));
}

TEST_P(Tracking, ASynOnATupleAnOlderPolicyAdmittedIsDeniedAndForgotten) {
  // A connection to port 80 that an earlier generation's policy admitted:
  // its entries, as sluice_dp_finish writes them, are in the shared map.
  sluice_ct_key in = key("10.244.1.10", "10.244.2.11", 40001, 80, SLUICE_CT_INGRESS);
  sluice_ct_key out = key("10.244.2.11", "10.244.1.10", 80, 40001, SLUICE_CT_EGRESS);
  sluice_ct_value v{};
  v.decision = SLUICE_DECISION(SLUICE_DECIDE_ALLOW_RULE, 1);
  ASSERT_EQ(bpf_map_update_elem(ct, &in, &v, BPF_ANY), 0);
  v.is_reply = 1;
  ASSERT_EQ(bpf_map_update_elem(ct, &out, &v, BPF_ANY), 0);

  // The established connection carries on (a policy change does not cut it)...
  runtime::RunResult ack = toB(40001, 80, false);
  EXPECT_TRUE(ack.passed());
  EXPECT_EQ(ack.outcome, uint32_t(SLUICE_OUT_ESTABLISHED));
  // ...but a new connection on the same tuple meets today's policy,
  runtime::RunResult syn = toB(40001, 80, true);
  EXPECT_FALSE(syn.passed());
  EXPECT_EQ(syn.outcome, uint32_t(SLUICE_OUT_NEW_DENIED));
  EXPECT_EQ(SLUICE_DECISION_KIND(syn.decision), uint32_t(SLUICE_DECIDE_DENY_DEFAULT));
  // and the tuple's old entries are gone: nothing rides on them any more.
  EXPECT_FALSE(tracked(in));
  EXPECT_FALSE(tracked(out));
  ack = toB(40001, 80, false);
  EXPECT_FALSE(ack.passed());
  EXPECT_EQ(ack.outcome, uint32_t(SLUICE_OUT_NEW_DENIED));
}

TEST_P(Tracking, ASynOnATupleStillAllowedIsTrackedAfresh) {
  sluice_ct_key in = key("10.244.1.10", "10.244.2.11", 40002, 81, SLUICE_CT_INGRESS);
  sluice_ct_value v{};
  v.decision = SLUICE_DECISION(SLUICE_DECIDE_ALLOW_RULE, 7);  // a rule of an older generation
  v.created_ns = 1;
  ASSERT_EQ(bpf_map_update_elem(ct, &in, &v, BPF_ANY), 0);
  runtime::RunResult syn = toB(40002, 81, true);
  EXPECT_TRUE(syn.passed());
  EXPECT_EQ(syn.outcome, uint32_t(SLUICE_OUT_NEW_ALLOWED));
  EXPECT_EQ(syn.decision, SLUICE_DECISION(SLUICE_DECIDE_ALLOW_RULE, 1));
  sluice_ct_value now{};
  ASSERT_EQ(bpf_map_lookup_elem(ct, &in, &now), 0);
  EXPECT_EQ(now.decision, syn.decision);
  EXPECT_GT(now.created_ns, 1u);
  EXPECT_TRUE(tracked(key("10.244.2.11", "10.244.1.10", 81, 40002, SLUICE_CT_EGRESS)));
}

}  // namespace
}  // namespace sluice::datapath_test
