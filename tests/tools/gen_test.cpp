// sluice-gen (tools/gen): the generated clusters load and lower without a
// diagnostic, have the sizes asked for, are reproducible by seed, and their
// EndpointSlices agree with the pods their Services select.
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "tools/gen/cluster_generator.h"

namespace sluice::gen {
namespace {

GenOptions smallOptions(uint64_t seed) {
  GenOptions o;
  o.pods = 400, o.nodes = 6, o.namespaces = 8, o.policies = 60, o.cnps = 25, o.services = 45, o.seed = seed;
  return o;
}

std::string allText(const GeneratedCluster& c) {
  std::string text;
  for (const GeneratedFile& f : c.files) text += "### " + f.name + "\n" + f.text;
  return text;
}

struct Loaded {
  ClusterState state;
  Diagnostics diags;
};

// Every file through the frontend, as `sluice ir DIR` reads them.
Loaded load(const GeneratedCluster& cluster) {
  Loaded l;
  for (const GeneratedFile& f : cluster.files) loadManifestText(f.name, f.text, l.state, l.diags);
  l.state.finalize();
  return l;
}

TEST(Generator, LoadsWithoutDiagnosticsAndHasTheRequestedCounts) {
  GenOptions o = smallOptions(3);
  Loaded l = load(generateCluster(o));
  EXPECT_FALSE(l.diags.hasErrors()) << l.diags.render(false);
  EXPECT_EQ(l.diags.render(false), "") << "warnings or notes on generated input";
  EXPECT_EQ(int(l.state.pods.size()), o.pods);
  EXPECT_EQ(int(l.state.nodes.size()), o.nodes);
  EXPECT_EQ(int(l.state.namespaces.size()), o.namespaces);
  EXPECT_EQ(int(l.state.networkPolicies.size()), o.policies);
  EXPECT_EQ(int(l.state.ciliumPolicies.size()), o.cnps);
  EXPECT_EQ(int(l.state.services.size()), o.services);
  for (const Namespace& ns : l.state.namespaces) EXPECT_FALSE(ns.implicit) << ns.meta.name;
  // Realism the benchmarks rely on: hostNetwork daemonset pods on every node,
  // headless and selector-less services, pods on every node.
  std::set<std::string> nodesWithPods, nodesWithHostPods;
  for (const Pod& p : l.state.pods) (p.hostNetwork ? nodesWithHostPods : nodesWithPods).insert(p.nodeName);
  nodesWithPods.erase("");
  EXPECT_EQ(int(nodesWithPods.size()), o.nodes);
  EXPECT_EQ(int(nodesWithHostPods.size()), o.nodes);
  int headless = 0, withoutSelector = 0;
  for (const Service& s : l.state.services) headless += s.headless, withoutSelector += !s.selector.has_value();
  EXPECT_GT(headless, 0);
  EXPECT_GT(withoutSelector, 1);  // kubernetes and at least one external service
}

TEST(Generator, SameSeedSameTextOtherSeedOtherText) {
  EXPECT_EQ(allText(generateCluster(smallOptions(11))), allText(generateCluster(smallOptions(11))));
  EXPECT_NE(allText(generateCluster(smallOptions(11))), allText(generateCluster(smallOptions(12))));
}

TEST(Generator, EndpointSliceAddressesArePodsTheServiceSelects) {
  Loaded l = load(generateCluster(smallOptions(5)));
  ASSERT_FALSE(l.diags.hasErrors()) << l.diags.render(false);
  std::map<std::string, const Pod*> podByIp;  // "ns/ip"
  for (const Pod& p : l.state.pods)
    for (const IpAddr& ip : p.ips) podByIp[p.meta.namespace_ + "/" + ip.str()] = &p;
  int checked = 0, slicesOfSelectorServices = 0;
  for (const EndpointSlice& slice : l.state.endpointSlices) {
    const Service* svc = l.state.findService(slice.meta.namespace_, slice.serviceName);
    ASSERT_NE(svc, nullptr) << slice.meta.key();
    EXPECT_LE(slice.endpoints.size(), 100u);
    if (!svc->selector) continue;
    ++slicesOfSelectorServices;
    for (const SliceEndpoint& e : slice.endpoints)
      for (const IpAddr& ip : e.addresses) {
        auto it = podByIp.find(slice.meta.namespace_ + "/" + ip.str());
        ASSERT_NE(it, podByIp.end()) << slice.meta.key() << " " << ip.str() << " is no pod of the namespace";
        const Pod& pod = *it->second;
        for (const auto& [key, value] : *svc->selector) {
          auto label = pod.meta.labels.find(key);
          EXPECT_TRUE(label != pod.meta.labels.end() && label->second == value)
              << svc->meta.key() << " does not select " << pod.meta.key();
        }
        EXPECT_EQ(e.nodeName, pod.nodeName) << pod.meta.key();
        EXPECT_EQ(e.targetPod, pod.meta.key());
        ++checked;
      }
  }
  EXPECT_GT(slicesOfSelectorServices, 0);
  EXPECT_GT(checked, 50);
}

TEST(Generator, LowersWithoutDiagnostics) {
  Loaded l = load(generateCluster(smallOptions(8)));
  ASSERT_FALSE(l.diags.hasErrors()) << l.diags.render(false);
  ir::Program program = ir::lower(l.state, l.diags);
  EXPECT_FALSE(l.diags.hasErrors()) << l.diags.render(false);
  EXPECT_EQ(l.diags.render(false), "");
}

TEST(Generator, RejectsImpossibleOptions) {
  GenOptions o = smallOptions(1);
  o.namespaces = 2;
  EXPECT_NE(validateOptions(o), "");
  EXPECT_THROW(generateCluster(o), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::gen
