// Loading: formats (multi-document YAML, JSON, kind: List), directories,
// locations, and that bad objects are reported and left out.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "frontend/manifest_loader.h"

namespace sluice {
namespace {

ClusterState load(const std::string& text, Diagnostics& diags, const std::string& name = "test.yaml") {
  ClusterState s;
  loadManifestText(name, text, s, diags);
  s.finalize();
  return s;
}

TEST(Loader, MultiDocumentYamlAndLocations) {
  Diagnostics d;
  auto s = load(R"(---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  nodeName: n1
  containers:
  - name: c
    ports: [{name: http, containerPort: 8080}]
status: {phase: Running, podIP: 10.244.1.5}
---
)",
                d);
  ASSERT_FALSE(d.hasErrors()) << d.render();
  ASSERT_EQ(s.pods.size(), 1u);
  const Pod& p = s.pods[0];
  EXPECT_EQ(p.meta.key(), "shop/web");
  EXPECT_EQ(p.meta.loc.line, 6u);
  EXPECT_EQ(p.ports.at(0).name, "http");
  EXPECT_EQ(p.ports.at(0).port, 8080);
  EXPECT_EQ(p.ports.at(0).loc.line, 16u);
  ASSERT_EQ(s.namespaces.size(), 1u);
  EXPECT_EQ(s.namespaces[0].meta.labels.at("kubernetes.io/metadata.name"), "shop");
  EXPECT_EQ(s.namespaces[0].meta.labels.at("team"), "a");
}

TEST(Loader, JsonAndKindList) {
  Diagnostics d;
  auto s = load(R"({"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "x"},
   "spec": {"nodeName": "n1", "containers": []}, "status": {"podIP": "10.0.0.1"}},
  {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "y"},
   "spec": {"nodeName": "n1", "containers": []}, "status": {"podIP": "10.0.0.2"}}
]})",
                d, "list.json");
  ASSERT_FALSE(d.hasErrors()) << d.render();
  ASSERT_EQ(s.pods.size(), 2u);
  EXPECT_EQ(s.pods[1].meta.key(), "y/b");
  EXPECT_EQ(s.pods[1].meta.loc.line, 4u);
  // Namespaces x and y exist implicitly, with their name label.
  ASSERT_EQ(s.namespaces.size(), 2u);
  EXPECT_TRUE(s.namespaces[0].implicit);
}

TEST(Loader, UnknownKindIsANoteNotAnError) {
  Diagnostics d;
  load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", d);
  EXPECT_FALSE(d.hasErrors());
  ASSERT_EQ(d.all().size(), 1u);
  EXPECT_EQ(d.all()[0].severity, Severity::Note);
}

TEST(Loader, BadObjectIsLeftOutAndEveryErrorIsReported) {
  Diagnostics d;
  auto s = load(R"(apiVersion: v1
kind: Pod
metadata: {name: Bad_Name, namespace: x}
spec: {containers: [{name: c, ports: [{containerPort: 70000}]}]}
status: {podIP: 10.0.0.300}
---
apiVersion: v1
kind: Pod
metadata: {name: good, namespace: x}
spec: {containers: []}
)",
                d);
  EXPECT_EQ(d.errorCount(), 3u) << d.render();
  ASSERT_EQ(s.pods.size(), 1u);
  EXPECT_EQ(s.pods[0].meta.name, "good");
}

TEST(Loader, DirectoriesRecursivelyInSortedOrder) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("sluice-loader-" + std::to_string(::getpid()));
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "b.yaml") << "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n";
  std::ofstream(dir / "sub" / "a.json") << R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}})";
  std::ofstream(dir / "notes.txt") << "not a manifest";
  auto r = loadCluster({dir.string()});
  fs::remove_all(dir);
  ASSERT_TRUE(r.ok()) << r.diags.render();
  ASSERT_EQ(r.state.namespaces.size(), 2u);
  EXPECT_EQ(r.state.namespaces[0].meta.name, "a");
}

TEST(Loader, DuplicateObjectsAndMissingFiles) {
  auto r = loadCluster({"/nonexistent/sluice/file.yaml"});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.diags.render().find("no such file or directory"), std::string::npos);

  Diagnostics d;
  auto s = load("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
                d);
  checkDuplicates(s, d);
  EXPECT_EQ(d.errorCount(), 1u);
  EXPECT_NE(d.render().find("duplicate object: already defined at test.yaml:1:1"), std::string::npos) << d.render();
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(Loader, EmptyDirectoryIsAWarning) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("sluice-empty-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto r = loadCluster({dir.string()});
  fs::remove_all(dir);
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.diags.all().size(), 1u);
  EXPECT_EQ(r.diags.all()[0].severity, Severity::Warning);
  EXPECT_NE(r.diags.render().find("no manifest files"), std::string::npos);
}

}  // namespace
}  // namespace sluice
