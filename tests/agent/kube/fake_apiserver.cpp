#include "tests/agent/kube/fake_apiserver.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

namespace sluice::kube::testing {

namespace {

// Written out here rather than shared with agent/kube, so that a wrong path
// or apiVersion there is caught by the tests instead of agreed with.
struct KindInfo {
  std::string kind, apiVersion, path;
  bool namespaced;
};

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> table = {
      {"Namespace", "v1", "/api/v1/namespaces", false},
      {"Node", "v1", "/api/v1/nodes", false},
      {"Pod", "v1", "/api/v1/pods", true},
      {"Service", "v1", "/api/v1/services", true},
      {"Endpoints", "v1", "/api/v1/endpoints", true},
      {"EndpointSlice", "discovery.k8s.io/v1", "/apis/discovery.k8s.io/v1/endpointslices", true},
      {"NetworkPolicy", "networking.k8s.io/v1", "/apis/networking.k8s.io/v1/networkpolicies", true},
      {"CiliumNetworkPolicy", "cilium.io/v2", "/apis/cilium.io/v2/ciliumnetworkpolicies", true},
      {"CiliumClusterwideNetworkPolicy", "cilium.io/v2", "/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies",
       false},
  };
  return table;
}

const KindInfo& kindInfo(const std::string& kind) {
  for (const KindInfo& k : kinds())
    if (k.kind == kind) return k;
  throw std::invalid_argument("FakeApiServer: unknown kind " + kind);
}

std::string statusBody(int code, const std::string& reason, const std::string& message) {
  nlohmann::json s = {{"kind", "Status"}, {"apiVersion", "v1"},  {"metadata", nlohmann::json::object()},
                      {"status", "Failure"}, {"message", message}, {"reason", reason},
                      {"code", code}};
  return s.dump();
}

std::string reasonFor(int code) {
  switch (code) {
    case 401: return "Unauthorized";
    case 404: return "NotFound";
    case 410: return "Expired";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    default: return "Unknown";
  }
}

// An item (no apiVersion/kind) as a full object, for watch events.
std::string fullObject(const KindInfo& k, const std::string& item) {
  std::string out = "{\"apiVersion\":\"" + k.apiVersion + "\",\"kind\":\"" + k.kind + "\"";
  if (item.size() > 2) out += ",";
  out.append(item, 1);
  return out;
}

std::string eventLine(const std::string& type, const std::string& object) {
  return "{\"type\":\"" + type + "\",\"object\":" + object + "}\n";
}

std::string base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), int(data.size()));
  out.resize(size_t(n));
  return out;
}

// An HTTPS server with the PKI's server certificate, asking clients for a
// certificate signed by its CA.
std::unique_ptr<httplib::Server> makeTlsServer(const TestPki& pki) {
  auto read = [](const std::string& text, auto reader) {
    BIO* bio = BIO_new_mem_buf(text.data(), int(text.size()));
    auto* out = reader(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!out) throw std::runtime_error("FakeApiServer: cannot read test PEM");
    return out;
  };
  X509* cert = read(pki.serverCertPem, PEM_read_bio_X509);
  EVP_PKEY* key = read(pki.serverKeyPem, PEM_read_bio_PrivateKey);
  X509* ca = read(pki.caCertPem, PEM_read_bio_X509);
  X509_STORE* clientCas = X509_STORE_new();
  X509_STORE_add_cert(clientCas, ca);
  X509_free(ca);
  auto server = std::make_unique<httplib::SSLServer>(cert, key, clientCas);  // takes the store
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!server->is_valid()) throw std::runtime_error("FakeApiServer: TLS setup failed");
  return server;
}

}  // namespace

struct Watcher {
  std::string kind;
  bool bookmarks = false;
  std::deque<std::string> lines;  // events to send
  bool dropped = false;
};

struct StoredObject {
  uint64_t rv;
  std::shared_ptr<const std::string> item;  // without apiVersion/kind
};

struct HistoryEntry {
  uint64_t rv;
  std::string kind;
  std::string line;
};

struct Snapshot {  // one paged LIST in progress
  uint64_t rv;
  std::vector<std::shared_ptr<const std::string>> items;
};

struct FakeApiServer::Impl {
  std::unique_ptr<TestPki> pki;
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  std::atomic<bool> listenerDone{false};
  int port = 0;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  uint64_t rv = 1;
  uint64_t compactedRv = 0;  // watches from before this get 410
  GoneStyle goneStyle = GoneStyle::ErrorEvent;
  std::map<std::string, std::map<std::string, StoredObject>> store;  // kind -> "ns/name"
  std::vector<HistoryEntry> history;
  std::vector<std::shared_ptr<Watcher>> watchers;
  std::map<uint64_t, Snapshot> snapshots;
  uint64_t nextSnapshot = 1;
  std::map<std::string, std::pair<int, int>> failures;  // kind -> (status, remaining)
  std::map<std::string, bool> unavailable;
  std::string token;
  std::vector<Request> log;

  void publish(const std::string& kind, uint64_t version, const std::string& line) {
    history.push_back({version, kind, line});
    for (auto& w : watchers)
      if (w->kind == kind) w->lines.push_back(line);
    cv.notify_all();
  }

  void unregister(const std::shared_ptr<Watcher>& w) {
    std::lock_guard<std::mutex> lock(mu);
    watchers.erase(std::remove(watchers.begin(), watchers.end(), w), watchers.end());
  }

  // Answers an injected fault, if any; called with mu held.
  bool fault(const KindInfo& k, const httplib::Request& req, httplib::Response& res) {
    if (!token.empty() && req.get_header_value("Authorization") != "Bearer " + token) {
      res.status = 401;
    } else if (unavailable[k.kind]) {
      res.status = 404;
    } else if (auto it = failures.find(k.kind); it != failures.end() && it->second.second > 0) {
      res.status = it->second.first;
      it->second.second--;
    } else {
      return false;
    }
    res.set_content(statusBody(res.status, reasonFor(res.status), "injected by FakeApiServer"),
                    "application/json");
    return true;
  }

  void handle(const KindInfo& k, const httplib::Request& req, httplib::Response& res) {
    Request entry;
    entry.kind = k.kind;
    entry.verb = req.get_param_value("watch") == "1" || req.get_param_value("watch") == "true" ? "watch" : "list";
    entry.resourceVersion = req.get_param_value("resourceVersion");
    entry.continueToken = req.get_param_value("continue");
    entry.limit = req.get_param_value("limit");
    entry.timeoutSeconds = req.get_param_value("timeoutSeconds");
    entry.allowWatchBookmarks = req.get_param_value("allowWatchBookmarks") == "true";
    std::unique_lock<std::mutex> lock(mu);
    if (!fault(k, req, res)) {
      if (entry.verb == "watch") watch(k, entry, res);
      else list(k, entry, res);
    }
    entry.status = res.status;
    log.push_back(entry);
  }

  void list(const KindInfo& k, const Request& r, httplib::Response& res) {
    size_t limit = r.limit.empty() ? 0 : std::stoul(r.limit);
    uint64_t id;
    size_t offset = 0;
    if (r.continueToken.empty()) {
      id = nextSnapshot++;
      Snapshot& s = snapshots[id];
      s.rv = rv;
      for (const auto& [key, obj] : store[k.kind]) s.items.push_back(obj.item);
    } else {
      size_t colon = r.continueToken.find(':');
      id = std::stoull(r.continueToken.substr(0, colon));
      offset = std::stoul(r.continueToken.substr(colon + 1));
      if (!snapshots.count(id)) {
        res.status = 410;
        res.set_content(statusBody(410, "Expired", "The provided continue parameter is too old"), "application/json");
        return;
      }
    }
    Snapshot& s = snapshots[id];
    size_t end = limit == 0 ? s.items.size() : std::min(s.items.size(), offset + limit);
    size_t bytes = 256;
    for (size_t i = offset; i < end; ++i) bytes += s.items[i]->size() + 1;
    std::string body;
    body.reserve(bytes);
    body += "{\"kind\":\"" + k.kind + "List\",\"apiVersion\":\"" + k.apiVersion +
            "\",\"metadata\":{\"resourceVersion\":\"" + std::to_string(s.rv) + "\"";
    if (end < s.items.size()) body += ",\"continue\":\"" + std::to_string(id) + ":" + std::to_string(end) + "\"";
    body += "},\"items\":[";
    for (size_t i = offset; i < end; ++i) {
      if (i > offset) body += ",";
      body += *s.items[i];
    }
    body += "]}";
    if (end >= s.items.size()) snapshots.erase(id);
    res.status = 200;
    res.set_content(std::move(body), "application/json");
  }

  void watch(const KindInfo& k, const Request& r, httplib::Response& res) {
    uint64_t since = r.resourceVersion.empty() ? rv : std::stoull(r.resourceVersion);
    if (since < compactedRv) {
      std::string status = statusBody(410, "Expired", "too old resource version: " + r.resourceVersion + " (" +
                                                          std::to_string(compactedRv) + ")");
      if (goneStyle == GoneStyle::HttpStatus) {
        res.status = 410;
        res.set_content(status, "application/json");
      } else {  // what the real server does: 200, then one ERROR event
        res.status = 200;
        res.set_content(eventLine("ERROR", status), "application/json");
      }
      return;
    }
    auto w = std::make_shared<Watcher>();
    w->kind = k.kind;
    w->bookmarks = r.allowWatchBookmarks;
    for (const HistoryEntry& h : history)
      if (h.kind == k.kind && h.rv > since) w->lines.push_back(h.line);
    watchers.push_back(w);
    int timeout = r.timeoutSeconds.empty() ? 1800 : std::stoi(r.timeoutSeconds);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
    res.status = 200;
    res.set_chunked_content_provider(
        "application/json",
        [this, w, deadline](size_t, httplib::DataSink& sink) {
          std::unique_lock<std::mutex> lock(mu);
          // Short waits: the provider is called again at once, and must
          // notice a stopped server or a client gone.
          cv.wait_for(lock, std::chrono::milliseconds(50),
                      [&] { return stopping || w->dropped || !w->lines.empty(); });
          if (stopping || w->dropped) return false;  // no final chunk: the client sees a cut stream
          if (std::chrono::steady_clock::now() >= deadline) {
            lock.unlock();
            sink.done();
            return true;
          }
          std::deque<std::string> lines;
          lines.swap(w->lines);
          lock.unlock();
          for (const std::string& line : lines)
            if (!sink.write(line.data(), line.size())) return false;
          return sink.is_writable();
        },
        [this, w](bool) { unregister(w); });
  }
};

FakeApiServer::FakeApiServer(bool tls) : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  if (tls) {
    d.pki = std::make_unique<TestPki>(makeTestPki());
    d.server = makeTlsServer(*d.pki);
  } else {
    d.server = std::make_unique<httplib::Server>();
  }
  // Each open watch holds a server thread; nine resources plus keep-alive
  // list connections need more than httplib's default of eight.
  d.server->new_task_queue = [] { return new httplib::ThreadPool(64); };
  for (const KindInfo& k : kinds()) {
    std::string pattern;
    for (char c : k.path) {
      if (c == '.') pattern += '\\';
      pattern += c;
    }
    d.server->Get(pattern, [&d, &k](const httplib::Request& req, httplib::Response& res) { d.handle(k, req, res); });
  }
  // httplib listens with a backlog of 5: nine clients connecting at once
  // then lose SYNs and wait a second to retry. Keep the socket to raise it.
  int listenFd = -1;
  d.server->set_socket_options([&listenFd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listenFd = sock;
  });
  d.port = d.server->bind_to_any_port("127.0.0.1");
  if (d.port <= 0 || listenFd < 0 || ::listen(listenFd, 128) != 0)
    throw std::runtime_error("FakeApiServer: cannot listen on 127.0.0.1");
  d.thread = std::thread([&d] {
    d.server->listen_after_bind();
    d.listenerDone = true;
  });
  // httplib's stop() does nothing until the listener marked itself running: a
  // server destroyed right after it was made would otherwise never stop.
  while (!d.server->is_running() && !d.listenerDone) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeApiServer::~FakeApiServer() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->server->stop();
  impl_->thread.join();
}

int FakeApiServer::port() const { return impl_->port; }
std::string FakeApiServer::url() const {
  return (impl_->pki ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(impl_->port);
}

const TestPki* FakeApiServer::pki() const { return impl_->pki.get(); }

void FakeApiServer::writeKubeconfig(const std::string& path, const std::string& token) const {
  std::ofstream out(path);
  out << "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
      << "clusters:\n- name: fake\n  cluster:\n    server: " << url() << "\n";
  if (impl_->pki) out << "    certificate-authority-data: " << base64(impl_->pki->caCertPem) << "\n";
  out << "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
      << "users:\n- name: fake\n  user:\n";
  if (!token.empty()) out << "    token: " << token << "\n";
  if (impl_->pki)
    out << "    client-certificate-data: " << base64(impl_->pki->clientCertPem) << "\n"
        << "    client-key-data: " << base64(impl_->pki->clientKeyPem) << "\n";
  if (token.empty() && !impl_->pki) out << "    {}\n";
  if (!out) throw std::runtime_error("FakeApiServer: cannot write " + path);
}

uint64_t FakeApiServer::put(const std::string& kind, const std::string& json) {
  const KindInfo& k = kindInfo(kind);
  nlohmann::json obj = nlohmann::json::parse(json);
  obj.erase("apiVersion");
  obj.erase("kind");
  auto& meta = obj["metadata"];
  std::string name = meta.value("name", "");
  std::string ns = k.namespaced ? meta.value("namespace", "") : "";
  if (name.empty() || (k.namespaced && ns.empty()))
    throw std::invalid_argument("FakeApiServer::put: " + kind + " needs metadata.name" +
                                (k.namespaced ? " and metadata.namespace" : ""));
  std::lock_guard<std::mutex> lock(impl_->mu);
  uint64_t version = ++impl_->rv;
  meta["resourceVersion"] = std::to_string(version);
  auto item = std::make_shared<const std::string>(obj.dump());
  auto& objects = impl_->store[kind];
  std::string key = ns + "/" + name;
  bool existed = objects.count(key) > 0;
  objects[key] = {version, item};
  impl_->publish(kind, version, eventLine(existed ? "MODIFIED" : "ADDED", fullObject(k, *item)));
  return version;
}

uint64_t FakeApiServer::remove(const std::string& kind, const std::string& ns, const std::string& name) {
  const KindInfo& k = kindInfo(kind);
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& objects = impl_->store[kind];
  auto it = objects.find(ns + "/" + name);
  if (it == objects.end()) return 0;
  uint64_t version = ++impl_->rv;
  nlohmann::json obj = nlohmann::json::parse(*it->second.item);
  obj["metadata"]["resourceVersion"] = std::to_string(version);  // as the real server stamps a deletion
  objects.erase(it);
  impl_->publish(kind, version, eventLine("DELETED", fullObject(k, obj.dump())));
  return version;
}

uint64_t FakeApiServer::resourceVersion() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->rv;
}

size_t FakeApiServer::objectCount(const std::string& kind) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->store.find(kind);
  return it == impl_->store.end() ? 0 : it->second.size();
}

void FakeApiServer::sendBookmarks() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto& w : impl_->watchers) {
    if (!w->bookmarks) continue;
    const KindInfo& k = kindInfo(w->kind);
    w->lines.push_back(eventLine("BOOKMARK", "{\"kind\":\"" + k.kind + "\",\"apiVersion\":\"" + k.apiVersion +
                                                 "\",\"metadata\":{\"resourceVersion\":\"" +
                                                 std::to_string(impl_->rv) + "\"}}"));
  }
  impl_->cv.notify_all();
}

void FakeApiServer::expireHistory(GoneStyle style) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->compactedRv = impl_->rv;
  impl_->goneStyle = style;
  impl_->history.clear();
  impl_->snapshots.clear();
}

void FakeApiServer::dropWatches() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto& w : impl_->watchers) w->dropped = true;
  impl_->watchers.clear();
  impl_->cv.notify_all();
}

void FakeApiServer::failNext(const std::string& kind, int httpStatus, int n) {
  kindInfo(kind);
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->failures[kind] = {httpStatus, n};
}

void FakeApiServer::setUnavailable(const std::string& kind, bool unavailable) {
  kindInfo(kind);
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->unavailable[kind] = unavailable;
}

void FakeApiServer::requireToken(const std::string& token) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->token = token;
}

std::vector<FakeApiServer::Request> FakeApiServer::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->log;
}

size_t FakeApiServer::count(const std::string& kind, const std::string& verb) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return std::count_if(impl_->log.begin(), impl_->log.end(),
                       [&](const Request& r) { return r.kind == kind && r.verb == verb; });
}

size_t FakeApiServer::openWatches(const std::string& kind) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return std::count_if(impl_->watchers.begin(), impl_->watchers.end(),
                       [&](const auto& w) { return w->kind == kind; });
}

}  // namespace sluice::kube::testing
