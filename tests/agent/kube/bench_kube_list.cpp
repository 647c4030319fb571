// Not a test: times LIST + parse of 100,000 realistic pods (about 1.5 KB of
// JSON each, with managedFields and status as a real server returns them)
// served by the fake API server, and the parse alone of the same pages.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/kube/kube_watch.h"
#include "agent/kube/object_parser.h"
#include "tests/agent/kube/fake_apiserver.h"

using namespace sluice::kube;
using Clock = std::chrono::steady_clock;

static double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

static std::string realisticPod(int i) {
  std::string n = std::to_string(i);
  std::string ns = "team-" + std::to_string(i % 200);
  std::string node = "node-" + std::to_string(i % 1000);
  std::string ip = "10." + std::to_string(i / 65536 % 256) + "." + std::to_string(i / 256 % 256) + "." +
                   std::to_string(i % 256);
  nlohmann::json pod = {
      {"metadata",
       {{"name", "web-7d4b9c8f6-" + n},
        {"generateName", "web-7d4b9c8f6-"},
        {"namespace", ns},
        {"uid", "3f2a9c1e-8b7d-4e6f-a5c4-" + std::string(12 - std::min<size_t>(12, n.size()), '0') + n},
        {"creationTimestamp", "2026-11-02T09:14:27Z"},
        {"labels", {{"app", "web"}, {"pod-template-hash", "7d4b9c8f6"}, {"tier", "frontend"}}},
        {"ownerReferences",
         {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "web-7d4b9c8f6"},
           {"uid", "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"}, {"controller", true}, {"blockOwnerDeletion", true}}}},
        {"managedFields",
         {{{"manager", "kube-controller-manager"}, {"operation", "Update"}, {"apiVersion", "v1"},
           {"time", "2026-11-02T09:14:27Z"}, {"fieldsType", "FieldsV1"},
           {"fieldsV1",
            {{"f:metadata", {{"f:generateName", nlohmann::json::object()}, {"f:labels", {{".", nlohmann::json::object()}, {"f:app", nlohmann::json::object()}}}}},
             {"f:spec", {{"f:containers", {{"k:{\"name\":\"web\"}", {{".", nlohmann::json::object()}, {"f:image", nlohmann::json::object()}}}}}}}}}},
          {{"manager", "kubelet"}, {"operation", "Update"}, {"apiVersion", "v1"}, {"time", "2026-11-02T09:14:31Z"},
           {"fieldsType", "FieldsV1"}, {"subresource", "status"},
           {"fieldsV1", {{"f:status", {{"f:conditions", nlohmann::json::object()}, {"f:podIP", nlohmann::json::object()}}}}}}}}}},
      {"spec",
       {{"containers",
         {{{"name", "web"}, {"image", "registry.example/web:1.24.3"},
           {"ports", {{{"containerPort", 8080}, {"name", "http"}, {"protocol", "TCP"}}}},
           {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}},
           {"terminationMessagePath", "/dev/termination-log"}, {"imagePullPolicy", "IfNotPresent"}}}},
        {"nodeName", node},
        {"serviceAccountName", "default"},
        {"restartPolicy", "Always"},
        {"dnsPolicy", "ClusterFirst"}}},
      {"status",
       {{"phase", "Running"},
        {"conditions",
         {{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", "2026-11-02T09:14:31Z"}},
          {{"type", "ContainersReady"}, {"status", "True"}, {"lastTransitionTime", "2026-11-02T09:14:31Z"}}}},
        {"hostIP", "192.168." + std::to_string(i % 1000 / 256) + "." + std::to_string(i % 256)},
        {"podIP", ip},
        {"podIPs", {{{"ip", ip}}}},
        {"startTime", "2026-11-02T09:14:27Z"},
        {"qosClass", "Burstable"}}}};
  return pod.dump();
}

int main(int argc, char** argv) {
  int count = argc > 1 ? std::atoi(argv[1]) : 100000;
  testing::FakeApiServer server;
  auto t0 = Clock::now();
  size_t podBytes = 0;
  for (int i = 0; i < count; ++i) {
    std::string pod = realisticPod(i);
    podBytes += pod.size();
    server.put("Pod", pod);
  }
  server.expireHistory();  // frees the event history the puts built
  std::printf("fake server: %d pods stored, %.0f bytes of JSON each on average (%.1f s to build)\n", count,
              double(podBytes) / count, secondsSince(t0));

  std::string kubeconfig = (std::filesystem::temp_directory_path() / "sluice-bench-kubeconfig").string();
  server.writeKubeconfig(kubeconfig);
  std::string error;
  auto config = KubeConfig::load(kubeconfig, error);
  if (!config) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  for (int pageSize : {500, 5000}) {
    ClusterWatch::Options options;
    options.kinds = {"Pod"};
    options.pageSize = pageSize;
    std::mutex mu;
    std::string listLine;
    options.log = [&](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu);
      if (listLine.empty()) listLine = line;
    };
    ClusterWatch watch(*config, options);
    t0 = Clock::now();
    watch.start(nullptr);
    while (!watch.synced()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    double listSeconds = secondsSince(t0);
    auto t1 = Clock::now();
    auto snap = watch.snapshot();
    double snapshotSeconds = secondsSince(t1);
    size_t kept = 0;
    for (const auto& [key, json] : snap) kept += json->size();
    watch.stop();
    std::printf("LIST over HTTP + parse, %d per page: %.3f s for %zu pods, %.1f MB kept (%.0f MB/s); snapshot() %.3f s\n  %s\n",
                pageSize, listSeconds, snap.size(), kept / 1e6, kept / 1e6 / listSeconds, snapshotSeconds,
                listLine.c_str());
  }

  // The parse alone, on pages as the server sends them.
  std::vector<std::string> pages;
  size_t pageBytes = 0;
  {
    nlohmann::json items = nlohmann::json::array();
    for (int start = 0; start < count; start += 500) {
      std::string body = "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[";
      for (int i = start; i < std::min(count, start + 500); ++i) {
        if (i > start) body += ",";
        body += realisticPod(i);
      }
      body += "]}";
      pageBytes += body.size();
      pages.push_back(std::move(body));
    }
  }
  ObjectParser parser;
  t0 = Clock::now();
  size_t parsed = 0;
  for (std::string& page : pages) {
    ListPage out;
    if (!parser.listPage(page, "v1", "Pod", out, error)) {
      std::fprintf(stderr, "parse failed: %s\n", error.c_str());
      return 1;
    }
    parsed += out.items.size();
  }
  double parseSeconds = secondsSince(t0);
  std::printf("parse only (simdjson On Demand, items cut out raw): %.3f s for %zu pods, %.1f MB (%.0f MB/s)\n",
              parseSeconds, parsed, pageBytes / 1e6, pageBytes / 1e6 / parseSeconds);

  // For scale: a full DOM parse of the same pages with nlohmann::json.
  t0 = Clock::now();
  size_t domItems = 0;
  for (const std::string& page : pages) domItems += nlohmann::json::parse(page)["items"].size();
  double domSeconds = secondsSince(t0);
  std::printf("for comparison, nlohmann::json DOM parse: %.3f s for %zu pods (%.0f MB/s)\n", domSeconds, domItems,
              pageBytes / 1e6 / domSeconds);
  std::filesystem::remove(kubeconfig);
  return 0;
}
