// sluice-gen: writes a realistic synthetic cluster (issue 7) as manifests.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "tools/gen/cluster_generator.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  sluice::gen::GenOptions o;
  std::string outDir;
  CLI::App app{
      "sluice-gen writes a realistic synthetic Kubernetes cluster as multi-document YAML: nodes with pod CIDRs,\n"
      "namespaces with team/env labels, deployments, statefulsets and hostNetwork daemonsets, Services with\n"
      "EndpointSlices, NetworkPolicies and CiliumNetworkPolicies. The same options give byte-identical output.\n"
      "Files: nodes.yaml; ns-<namespace>.yaml (the Namespace, its Services, EndpointSlices and policies);\n"
      "pods-<namespace>[-<k>].yaml (its Pods, at most 5000 per file).",
      "sluice-gen"};
  app.add_option("--pods", o.pods, "Pods in total, system and hostNetwork daemonset pods included")
      ->capture_default_str()->check(CLI::Range(1, 200000));
  app.add_option("--nodes", o.nodes, "Nodes")->capture_default_str()->check(CLI::Range(1, 5000));
  app.add_option("--namespaces", o.namespaces,
                 "Namespaces in total: default, kube-system, monitoring (from 4) and application namespaces")
      ->capture_default_str()->check(CLI::Range(3, 10000));
  app.add_option("--policies", o.policies, "NetworkPolicies, spread round-robin over the application namespaces")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--cnps", o.cnps, "CiliumNetworkPolicies, spread round-robin over the application namespaces")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--services", o.services,
                 "Services in total, default/kubernetes and kube-system/kube-dns included")
      ->capture_default_str()->check(CLI::Range(2, 200000));
  app.add_option("--seed", o.seed, "Random seed")->capture_default_str();
  app.add_option("-o,--output", outDir,
                 "Directory to write (created if missing; nodes.yaml, ns-*.yaml and pods-*.yaml already there are replaced)")
      ->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (std::string problem = sluice::gen::validateOptions(o); !problem.empty()) {
    std::cerr << "sluice-gen: " << problem << "\n";
    return 2;
  }
  try {
    auto start = std::chrono::steady_clock::now();
    auto cluster = sluice::gen::generateCluster(o, [](const std::string& line) { std::cerr << "sluice-gen: " << line << "\n"; });
    fs::create_directories(outDir);
    // Files from an earlier, larger run would otherwise be loaded with these.
    for (const fs::directory_entry& e : fs::directory_iterator(outDir)) {
      std::string name = e.path().filename().string();
      bool ours = name == "nodes.yaml" || ((name.rfind("ns-", 0) == 0 || name.rfind("pods-", 0) == 0) && e.path().extension() == ".yaml");
      if (e.is_regular_file() && ours) fs::remove(e.path());
    }
    size_t bytes = 0;
    for (const auto& f : cluster.files) {
      std::ofstream out(fs::path(outDir) / f.name, std::ios::binary);
      out << f.text;
      if (!out) throw std::runtime_error("cannot write " + (fs::path(outDir) / f.name).string());
      bytes += f.text.size();
    }
    const auto& s = cluster.summary;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cerr << fmt::format(
        "sluice-gen: {} nodes, {} namespaces, {} pods ({} hostNetwork) in {} deployments and {} statefulsets, "
        "{} services, {} endpoint slices, {} network policies, {} cilium policies; {} files, {:.1f} MB in {:.2f} s\n",
        s.nodes, s.namespaces, s.pods, s.hostNetworkPods, s.deployments, s.statefulSets, s.services, s.endpointSlices,
        s.networkPolicies, s.ciliumPolicies, cluster.files.size(), double(bytes) / 1e6, seconds);
  } catch (const std::exception& e) {
    std::cerr << "sluice-gen: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
