// A fake Kubernetes API server for tests: enough of LIST and WATCH for the
// kinds sluice watches, with fault injection, on 127.0.0.1 over plain HTTP.
//
// Store: one map per kind and one resourceVersion counter for all kinds, as
// etcd gives the real server. put()/remove() bump it, stamp the object's
// metadata.resourceVersion, append to the event history and send the event
// to every open watch of that kind.
// LIST: `limit`/`continue` paging served from a snapshot taken at the first
// page (so all pages share one resourceVersion, as the real server's do);
// items carry no apiVersion/kind, as the real server's don't.
// WATCH: chunked newline-delimited JSON events, first the history after the
// requested resourceVersion, then live ones; ends after timeoutSeconds;
// BOOKMARKs on sendBookmarks() when allowWatchBookmarks=true.
// Faults: expireHistory() (older resourceVersions and continue tokens get
// 410 Gone), dropWatches() (open watch connections closed mid-stream),
// failNext() (the next n requests of a kind answer an HTTP error),
// setUnavailable() (404, a CRD not installed), requireToken() (401 without
// the bearer token). Every request is logged for assertions.
// With tls = true it serves HTTPS with a certificate for 127.0.0.1 from a CA
// made for it (pki()), and requires a client certificate from that CA.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/agent/kube/test_certs.h"

namespace sluice::kube::testing {

class FakeApiServer {
 public:
  explicit FakeApiServer(bool tls = false);  // listening on 127.0.0.1, a free port, at once
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  int port() const;
  std::string url() const;  // "http://127.0.0.1:<port>" (https:// with tls)
  const TestPki* pki() const;  // with tls: the CA and certificates; else nullptr
  // A kubeconfig whose current context points at this server (with `token`
  // as the user's bearer token when not empty; with tls, the CA and the
  // client certificate as *-data fields).
  void writeKubeconfig(const std::string& path, const std::string& token = "") const;

  // Store. `json` is one object (apiVersion/kind optional; metadata.name
  // required, metadata.namespace too for namespaced kinds). Returns the new
  // resourceVersion; remove() returns 0 if there was no such object.
  uint64_t put(const std::string& kind, const std::string& json);
  uint64_t remove(const std::string& kind, const std::string& ns, const std::string& name);
  uint64_t resourceVersion() const;
  size_t objectCount(const std::string& kind) const;

  // Faults.
  void sendBookmarks();  // to every open watch that asked for them, at the current resourceVersion
  enum class GoneStyle { ErrorEvent, HttpStatus };  // the real server sends an ERROR event
  void expireHistory(GoneStyle style = GoneStyle::ErrorEvent);
  void dropWatches();  // close every open watch abruptly (no final chunk)
  void failNext(const std::string& kind, int httpStatus, int n);  // n = 0 clears
  void setUnavailable(const std::string& kind, bool unavailable = true);
  void requireToken(const std::string& token);

  // Request log.
  struct Request {
    std::string kind;
    std::string verb;  // "list" or "watch"
    std::string resourceVersion, continueToken, limit, timeoutSeconds;
    bool allowWatchBookmarks = false;
    int status = 0;  // the HTTP status answered
  };
  std::vector<Request> requests() const;
  size_t count(const std::string& kind, const std::string& verb) const;
  size_t openWatches(const std::string& kind) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::kube::testing
