// Helpers for IR tests: build small clusters inline and lower them.
#pragma once

#include <gtest/gtest.h>
#include <fmt/format.h>

#include <string>

#include "frontend/manifest_loader.h"
#include "ir/lower.h"

namespace sluice::ir::testing {

// One running pod. `labels` is a YAML flow-mapping body ("app: a, tier: b");
// `ports` a YAML flow list of container ports.
inline std::string podYaml(const std::string& ns, const std::string& name, const std::string& node,
                           const std::string& ip, const std::string& labels, const std::string& ports) {
  return fmt::format(R"(---
apiVersion: v1
kind: Pod
metadata: {{name: {}, namespace: {}, labels: {{{}}}}}
spec: {{nodeName: {}, containers: [{{name: main, ports: {}}}]}}
status: {{phase: Running, podIP: {}}}
)",
                     name, ns, labels, node, ports, ip);
}

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
