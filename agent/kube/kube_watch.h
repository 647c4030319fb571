// The agent's view of the Kubernetes API: lists and watches the kinds sluice
// compiles, as client-go's reflector does, and keeps every object's JSON text.
//
// Per resource: LIST (paged), then WATCH from the list's resourceVersion with
// bookmarks; events are applied as they come; a closed or dropped watch is
// resumed from the last resourceVersion seen; 410 Gone (HTTP status or an
// ERROR event) relists and replaces that resource's objects; other failures
// back off exponentially with jitter and retry forever; a 404 (a CRD that is
// not installed) marks the resource unavailable, empties it, and is retried
// at backoffMax without holding synced() back. Each of these is counted in
// ResourceStatus and logged as one line through Options::log.
//
// Threads: one per resource, started by start(). snapshot(), changes(),
// synced() and status() may be called from any thread. onChange runs on the
// watch threads after each applied change; it must be cheap (the caller
// coalesces, e.g. sets a flag and wakes its own loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice::kube {

// Where the API server is and how to authenticate: the current context's
// cluster and user of a kubeconfig file.
struct KubeConfig {
  std::string server;  // "https://10.0.0.1:6443" or "http://127.0.0.1:8080"
  std::string caPem;   // certificate-authority(-data), PEM text; empty = system CAs
  bool insecureSkipTlsVerify = false;
  std::string clientCertPem, clientKeyPem;  // client-certificate(-data) / client-key(-data)
  std::string bearerToken;                  // token, or the contents of tokenFile
  // Set when bearerToken came from a file: ClusterWatch re-reads it every
  // minute and after a 401, as client-go does (the kubelet rotates
  // service-account tokens).
  std::string tokenFile;

  // Reads `path`. Relative file references (certificate-authority, tokenFile,
  // ...) are resolved against the kubeconfig's directory, as kubectl does.
  // Returns nullopt with `error` = "file:line:col: what is wrong" on a bad or
  // incomplete file, or one that needs what this client does not do (exec
  // credential plugins, auth-provider, basic auth).
  static std::optional<KubeConfig> load(const std::string& path, std::string& error);
  // The same, from kubeconfig text already read: `path` names it in errors
  // and anchors relative file references (tests/fuzz feeds it this way).
  static std::optional<KubeConfig> parse(const std::string& text, const std::string& path,
                                         std::string& error);
  // Inside a pod: the server from KUBERNETES_SERVICE_HOST/_PORT, the service
  // account's token and CA from `dir`. Returns nullopt with `error` if any
  // is missing.
  static std::optional<KubeConfig> inCluster(
      std::string& error, const std::string& dir = "/var/run/secrets/kubernetes.io/serviceaccount");
};

// A resource ClusterWatch lists and watches. What it needs from the API
// server's RBAC is exactly list and watch on (group, resource) of each entry
// (deploy/20-clusterrole.yaml; tests/deploy checks the two agree).
struct WatchedResource {
  std::string kind;        // "Pod"
  std::string apiVersion;  // "v1", "networking.k8s.io/v1"
  std::string group;       // "" for the core group, "networking.k8s.io"
  std::string resource;    // "pods": the plural, as RBAC rules name it
  std::string path;        // the all-namespaces collection: "/api/v1/pods"
};

// Every resource ClusterWatch knows, in start order (allKinds() is their kinds).
const std::vector<WatchedResource>& watchedResources();

struct ResourceStatus {
  std::string kind;             // "Pod", "CiliumNetworkPolicy", ...
  std::string resourceVersion;  // last one seen (list, event or bookmark)
  bool listed = false;          // listed at least once
  bool available = true;        // false: the server answered 404 (CRD not installed)
  uint64_t relists = 0;         // lists after the first one (after a 410, or a 404 that cleared)
  uint64_t watchRestarts = 0;   // watches resumed from resourceVersion without a list (after the
                                // server ended one, a dropped stream or an error)
  uint64_t events = 0;          // watch events received, bookmarks included
  uint64_t errors = 0;          // failed requests, dropped streams, bad bodies; a 404 counts
                                // once, when the resource becomes unavailable
  std::string lastError;
};

class ClusterWatch {
 public:
  struct Options {
    std::chrono::milliseconds backoffInitial{200}, backoffMax{5000};
    int watchTimeoutSeconds = 300;  // asked of the server; it ends the watch then
    int pageSize = 500;             // LIST `limit`
    // Kinds to watch, by name ("Pod", "NetworkPolicy", ...); empty = all of
    // kinds(). An unknown name is rejected by start() (std::invalid_argument).
    std::vector<std::string> kinds;
    std::function<void(const std::string&)> log;  // one line per call, no newline
  };

  // The kinds sluice watches, in start order.
  static const std::vector<std::string>& allKinds();

  ClusterWatch(KubeConfig config, Options options);
  ~ClusterWatch();  // stop()
  ClusterWatch(const ClusterWatch&) = delete;
  ClusterWatch& operator=(const ClusterWatch&) = delete;

  // Starts one thread per resource and returns at once. Call once.
  void start(std::function<void()> onChange);
  // Returns promptly, even while a watch is blocked reading. Idempotent.
  void stop();

  // Every object now known, "Kind/namespace/name" (cluster-scoped:
  // "Kind//name") -> its JSON text with apiVersion and kind filled in (list
  // items lack them), ready to be parsed as a manifest.
  std::map<std::string, std::shared_ptr<const std::string>> snapshot() const;
  uint64_t changes() const;  // increases on every applied change (list or event)
  bool synced() const;       // every resource listed at least once (or known unavailable)
  std::vector<ResourceStatus> status() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::kube
