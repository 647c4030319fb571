// Helpers for IR tests: build small clusters inline and lower them.
#pragma once

#include <gtest/gtest.h>
#include <fmt/format.h>

#include <string>

#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "tests/testing/manifests.h"

namespace sluice::ir::testing {

using sluice::testing::podYaml;

// Loads and lowers; fails the test on any error.
inline Program lowerText(const std::string& yaml, ClusterState* stateOut = nullptr) {
  ClusterState state;
  Diagnostics diags;
  loadManifestText("test.yaml", yaml, state, diags);
  checkDuplicates(state, diags);
  state.finalize();
  EXPECT_FALSE(diags.hasErrors()) << diags.render();
  Program p = lower(state, diags);
  EXPECT_FALSE(diags.hasErrors()) << diags.render();
  if (stateOut) *stateOut = std::move(state);
  return p;
}

}  // namespace sluice::ir::testing
