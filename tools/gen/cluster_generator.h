// sluice-gen's library: realistic synthetic clusters as multi-document YAML,
// deterministic by seed (issue 7). The command line (main.cpp) and the tests
// (tests/tools/gen_test.cpp) both call generateCluster().
//
// Determinism: the same options give byte-identical text on every platform.
// Only std::mt19937_64 (whose output sequence the standard fixes) is used,
// through our own range helpers; never std::*_distribution or std::shuffle,
// whose results differ between standard libraries. No floating point either.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sluice::gen {

struct GenOptions {
  int pods = 2000;        // every Pod object, hostNetwork daemonset and system pods included
  int nodes = 20;         // Node objects
  int namespaces = 20;    // Namespace objects, default and kube-system (and monitoring, from 4) included
  int policies = 200;     // NetworkPolicy objects
  int cnps = 40;          // CiliumNetworkPolicy objects
  int services = 200;     // Service objects, default/kubernetes and kube-system/kube-dns included
  uint64_t seed = 1;
};

// Returns "" when the options can be generated, else what is wrong.
std::string validateOptions(const GenOptions& options);

struct GeneratedFile {
  std::string name;  // relative to the output directory, e.g. "ns-shop.yaml"
  std::string text;
};

struct GenSummary {
  int namespaces = 0, nodes = 0, pods = 0, hostNetworkPods = 0, deployments = 0, statefulSets = 0;
  int services = 0, endpointSlices = 0, networkPolicies = 0, ciliumPolicies = 0;
};

struct GeneratedCluster {
  std::vector<GeneratedFile> files;  // sorted by name
  GenSummary summary;
};

// `progress` (may be empty) receives a line now and then for big sizes.
// Throws std::invalid_argument when validateOptions() rejects the options.
GeneratedCluster generateCluster(const GenOptions& options,
                                 const std::function<void(const std::string&)>& progress = {});

}  // namespace sluice::gen
