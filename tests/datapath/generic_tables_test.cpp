// Generic mode's policy tables (codegen/generic_tables.h): what the compiler
// puts in them for a small cluster (checked by hand, entry by entry, below),
// that the object carries them and the runtime loads exactly them, and that
// specialized objects carry neither the tables nor their maps.
//
// Whether the tables *decide* like the specialized code is the job of the
// kernel suites run in both modes (corners_test, cilium_test, differential_test).
#include <bpf/bpf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "codegen/datapath/sluice_generic_abi.h"
#include "codegen/generic_tables.h"
#include "ir/lower.h"
#include "tests/datapath/corner_cluster.h"

namespace sluice::datapath_test {
namespace {

// x/a on n1 admits, by ingress rules:
//   rule 1: namespace y (team=blue) on TCP 80 and TCP 1000-1003 (endPort);
//   rule 2: 10.0.0.0/8 except 10.1.0.0/16 on UDP 53;
// and may send, by egress rules, to x/b's named port "dns" (53/UDP) — a rule
// per destination pod, by its address.
const std::string kSample =
    kBase + policy("x", "in", R"(  podSelector: {matchLabels: {app: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: blue}}}]
    ports: [{port: 80}, {port: 1000, endPort: 1003}]
  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
    ports: [{protocol: UDP, port: 53}])") +
    policy("x", "out", R"(  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: b}}}]
    ports: [{protocol: UDP, port: dns}])");

ir::Program lowerSample(Diagnostics& diags) {
  ClusterState state;
  loadManifestText("cluster.yaml", kSample, state, diags);
  checkDuplicates(state, diags);
  state.finalize();
  return ir::lower(state, diags);
}

TEST(GenericTables, SmallClusterByHand) {
  Diagnostics diags;
  ir::Program program = lowerSample(diags);
  ASSERT_FALSE(diags.hasErrors()) << diags.render();
  const ir::NodeProgram* n1 = program.findNode("n1");
  ASSERT_NE(n1, nullptr);
  codegen::CompileOptions options;
  options.datapath = codegen::DatapathMode::Generic;
  codegen::CompiledNode c = codegen::compileNode(program, *n1, options, diags);
  ASSERT_FALSE(c.object.empty()) << diags.render();

  // Identities of namespace y's pods, whatever their hashed numbers are.
  std::vector<ir::IdentityId> blue;
  for (const auto& id : program.identities)
    if (id.namespace_ == "y") blue.push_back(id.id);
  ASSERT_EQ(blue.size(), 2u);  // y/a and y/b
  std::string want;
  // Table numbers follow the programs: every endpoint's egress, then every
  // ingress. x/a's egress is table 1; the other endpoints (x/b, z/h1 is
  // hostNetwork and has none) share table 2, unisolated and empty.
  want += "table 1 x/a egress flags isolated address\n";
  // 10.244.1.11 (x/b), UDP 53 only: rule 1. Nothing for any identity.
  want += "  address-class 1 any -> deny 0 allow 0\n";
  want += "  address-class 1 proto 17 port 53 -> deny 0 allow 1\n";
  want += "  cidr 10.244.1.11/32 -> address-class 1 world address-class 1\n";
  want += "table 2 x/b egress flags -\n";
  want += "table 3 x/a ingress flags isolated ingress address\n";
  for (ir::IdentityId id : blue) {
    want += fmt::format("  identity {} any -> deny 0 allow 0\n", id);
    want += fmt::format("  identity {} proto 6 port 80 -> deny 0 allow 1\n", id);
    want += fmt::format("  identity {} proto 6 port 1000..1003 -> deny 0 allow 1\n", id);  // one aligned block
  }
  // 10.0.0.0/8 without 10.1.0.0/16: the aligned blocks around the hole.
  want += "  address-class 1 any -> deny 0 allow 0\n";
  want += "  address-class 1 proto 17 port 53 -> deny 0 allow 2\n";
  want += "  cidr 10.0.0.0/16 -> address-class 1 world address-class 1\n";
  want += "  cidr 10.2.0.0/15 -> address-class 1 world address-class 1\n";
  want += "  cidr 10.4.0.0/14 -> address-class 1 world address-class 1\n";
  want += "  cidr 10.8.0.0/13 -> address-class 1 world address-class 1\n";
  want += "  cidr 10.16.0.0/12 -> address-class 1 world address-class 1\n";
  want += "  cidr 10.32.0.0/11 -> address-class 1 world address-class 1\n";
  want += "  cidr 10.64.0.0/10 -> address-class 1 world address-class 1\n";
  want += "  cidr 10.128.0.0/9 -> address-class 1 world address-class 1\n";
  want += "table 4 x/b ingress flags ingress\n";
  EXPECT_EQ(codegen::str(c.tables), want);

  // The object carries exactly these tables.
  auto section = codegen::elfSection(c.object, codegen::kGenericTablesSection);
  ASSERT_TRUE(section.has_value());
  codegen::GenericTables parsed;
  std::string error;
  ASSERT_TRUE(codegen::parse(*section, parsed, error)) << error;
  EXPECT_EQ(codegen::str(parsed), want);
  EXPECT_EQ(parsed.policy, c.tables.policy);
  EXPECT_EQ(parsed.cidrs, c.tables.cidrs);
}

TEST(GenericTables, DamagedSectionIsRefusedWithAReason) {
  codegen::GenericTables t, back;
  t.tables.push_back({1, "x/a", ir::Direction::Ingress, SLUICE_GEN_ISOLATED});
  t.policy.push_back({1, 7, SLUICE_GPOL_SELECTOR_PREFIX, 0, 0, 0, 3});
  std::string bytes = codegen::serialize(t), error;
  ASSERT_TRUE(codegen::parse(bytes, back, error)) << error;
  EXPECT_EQ(back.policy, t.policy);
  EXPECT_FALSE(codegen::parse(bytes.substr(0, bytes.size() - 2), back, error));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  EXPECT_FALSE(codegen::parse("something else", back, error));
  EXPECT_NE(error.find("another sluice version"), std::string::npos) << error;
}

// The runtime writes every entry into the object's own maps, and specialized
// objects are as they were: no tables, no table maps.
TEST(GenericTables, RuntimeLoadsTheTablesAndSpecializedObjectsHaveNone) {
  SLUICE_REQUIRE_ROOT();
  for (auto mode : {codegen::DatapathMode::Specialized, codegen::DatapathMode::Generic}) {
    SCOPED_TRACE(codegen::datapathModeName(mode));
    LoadedCluster c;
    runtime::ClusterOptions options;
    options.compile.datapath = mode;
    ASSERT_TRUE(c.load(kSample, options)) << c.diags.render();
    for (const auto& compiled : c.kernel->compiled()) {
      runtime::LoadedNode* node = c.kernel->loaded(compiled.node);
      ASSERT_NE(node, nullptr);
      bool generic = mode == codegen::DatapathMode::Generic;
      EXPECT_EQ(codegen::elfSection(compiled.object, codegen::kGenericTablesSection).has_value(), generic);
      int pol = node->mapFd(SLUICE_MAP_GENERIC_POLICY), cidr = node->mapFd(SLUICE_MAP_GENERIC_CIDR);
      if (!generic) {
        EXPECT_LT(pol, 0);
        EXPECT_LT(cidr, 0);
        EXPECT_TRUE(compiled.tables.tables.empty());
        continue;
      }
      ASSERT_GE(pol, 0);
      ASSERT_GE(cidr, 0);
      for (const auto& e : compiled.tables.policy) {
        sluice_gpol_key k;
        sluice_gpol_value want, got{};
        codegen::encode(e, k, want);
        ASSERT_EQ(bpf_map_lookup_elem(pol, &k, &got), 0) << compiled.node << " table " << e.table;
        EXPECT_EQ(got.deny_rule, want.deny_rule);
        EXPECT_EQ(got.allow_rule, want.allow_rule);
      }
      for (const auto& e : compiled.tables.cidrs) {
        sluice_gcidr_key k;
        sluice_gcidr_value want, got{};
        codegen::encode(e, k, want);
        ASSERT_EQ(bpf_map_lookup_elem(cidr, &k, &got), 0) << compiled.node << " table " << e.table;
        EXPECT_EQ(got.selector, want.selector);
        EXPECT_EQ(got.world_selector, want.world_selector);
      }
      // Sized to the tables: nothing else fits in them.
      bpf_map_info info{};
      uint32_t len = sizeof info;
      ASSERT_EQ(bpf_obj_get_info_by_fd(pol, &info, &len), 0);
      EXPECT_EQ(info.max_entries, std::max<size_t>(1, compiled.tables.policy.size()));
    }
  }
}

}  // namespace
}  // namespace sluice::datapath_test
