// Kernel test suites that run in both datapath modes (codegen::DatapathMode):
// generic mode must give the same verdicts, name the same deciding rules and
// translate services the same way as the specialized code ("same semantics,
// same tests pass in both modes").
//
//   class Services : public testing::InBothDatapathModes { ... options() ... };
//   SLUICE_IN_BOTH_DATAPATH_MODES(Services);
//   TEST_P(Services, X) { ... }
//
// gtest names each case after its mode: `Services.X/specialized`,
// `Services.X/generic`. A fixture derived from another instantiates its own.
#pragma once

#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "codegen/codegen.h"
#include "codegen/datapath/sluice_generic_abi.h"
#include "runtime/kernel_cluster.h"

namespace sluice::codegen {
// gtest prints a test's DatapathMode parameter by name.
inline void PrintTo(DatapathMode mode, std::ostream* os) { *os << datapathModeName(mode); }
}  // namespace sluice::codegen

namespace sluice::testing {

class InBothDatapathModes : public ::testing::TestWithParam<codegen::DatapathMode> {
 protected:
  codegen::DatapathMode mode() const { return GetParam(); }
  // "specialized" / "generic": the value of `sluice ... --datapath`.
  std::string modeName() const { return codegen::datapathModeName(GetParam()); }
  // Options for KernelCluster::build: the cluster compiled in this test's mode.
  runtime::ClusterOptions options() const {
    runtime::ClusterOptions o;
    o.compile.datapath = GetParam();
    return o;
  }
};

// Whether every node of a built cluster runs programs of `mode`: a generic
// object carries the policy-table map, a specialized one does not. The
// fixtures assert it, so that a mode option lost on the way never lets one
// mode's run pass for the other's.
inline ::testing::AssertionResult LoadedInMode(runtime::KernelCluster& cluster, codegen::DatapathMode mode) {
  size_t nodes = 0;
  for (const auto& np : cluster.program().nodes) {
    runtime::LoadedNode* node = cluster.loaded(np.node);
    if (!node) continue;
    ++nodes;
    bool generic = node->mapFd(SLUICE_MAP_GENERIC_POLICY) >= 0;
    if (generic != (mode == codegen::DatapathMode::Generic))
      return ::testing::AssertionFailure() << "node " << np.node << " was loaded in "
                                           << (generic ? "generic" : "specialized") << " mode, not "
                                           << codegen::datapathModeName(mode);
  }
  if (nodes == 0) return ::testing::AssertionFailure() << "no node was loaded";
  return ::testing::AssertionSuccess();
}

}  // namespace sluice::testing

#define SLUICE_IN_BOTH_DATAPATH_MODES(suite)                                                           \
  INSTANTIATE_TEST_SUITE_P(, suite,                                                                    \
                           ::testing::Values(::sluice::codegen::DatapathMode::Specialized,             \
                                             ::sluice::codegen::DatapathMode::Generic),                \
                           [](const auto& info) {                                                      \
                             return std::string(::sluice::codegen::datapathModeName(info.param));      \
                           })
