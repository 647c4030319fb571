// ClusterWatch: one list-then-watch loop per resource, as client-go's
// reflector runs it (see kube_watch.h for the contract).
//
// Each resource thread owns one HTTP connection. stop() sets a flag, wakes
// backoff sleeps, and shuts down the connection of every thread still
// running (httplib's ClientImpl::stop() only shuts the socket down while a
// request is in flight, which is what unblocks a watch read); it repeats
// that until all threads have finished, so a thread that was between two
// requests when stop() began cannot block on a new one.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "agent/kube/http_client.h"
#include "agent/kube/kube_watch.h"
#include "agent/kube/object_parser.h"

namespace sluice::kube {

const std::vector<WatchedResource>& watchedResources() {
  static const std::vector<WatchedResource> types = {
      {"Namespace", "v1", "", "namespaces", "/api/v1/namespaces"},
      {"Node", "v1", "", "nodes", "/api/v1/nodes"},
      {"Pod", "v1", "", "pods", "/api/v1/pods"},
      {"Service", "v1", "", "services", "/api/v1/services"},
      {"Endpoints", "v1", "", "endpoints", "/api/v1/endpoints"},
      {"EndpointSlice", "discovery.k8s.io/v1", "discovery.k8s.io", "endpointslices",
       "/apis/discovery.k8s.io/v1/endpointslices"},
      {"NetworkPolicy", "networking.k8s.io/v1", "networking.k8s.io", "networkpolicies",
       "/apis/networking.k8s.io/v1/networkpolicies"},
      {"CiliumNetworkPolicy", "cilium.io/v2", "cilium.io", "ciliumnetworkpolicies",
       "/apis/cilium.io/v2/ciliumnetworkpolicies"},
      {"CiliumClusterwideNetworkPolicy", "cilium.io/v2", "cilium.io", "ciliumclusterwidenetworkpolicies",
       "/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies"},
  };
  return types;
}

namespace {

std::string urlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// The server's message for a failed request: the Status body, shortened.
std::string describeHttp(int status, const std::string& body) {
  std::string text = "HTTP " + std::to_string(status);
  if (!body.empty()) text += ": " + body.substr(0, 300);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// httplib's error names ("Read", "Connection") say little in a log line.
std::string describeFailure(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "cannot connect to the API server";
    case httplib::Error::ConnectionTimeout: return "timed out connecting to the API server";
    case httplib::Error::Read: return "connection lost while reading";
    case httplib::Error::Write: return "connection lost while writing";
    case httplib::Error::SSLConnection: return "TLS handshake failed (client certificate refused?)";
    case httplib::Error::SSLLoadingCerts: return "cannot load the CA certificates";
    case httplib::Error::SSLServerVerification:
      return "the server's certificate is not trusted (check certificate-authority)";
    default: return httplib::to_string(e);
  }
}

std::string seconds(std::chrono::milliseconds d) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f s", double(d.count()) / 1000.0);
  return buf;
}

struct Resource {
  const WatchedResource* type = nullptr;
  ApiClient client;
  std::thread thread;
  std::atomic<bool> finished{false};
  // Guarded by ClusterWatch::Impl::mu; written only by this resource's thread.
  std::map<std::string, std::shared_ptr<const std::string>> objects;  // "ns/name"
  ResourceStatus status;
  bool watchedOnce = false;  // a watch was started since the last list
  // The bearer token in use, and when KubeConfig::tokenFile was last read.
  std::string token;
  std::chrono::steady_clock::time_point tokenReadAt;
  bool unauthorized = false;  // the last request got 401: re-read the token now
};

}  // namespace

struct ClusterWatch::Impl {
  KubeConfig config;
  Options options;
  std::function<void()> onChange;
  std::vector<std::unique_ptr<Resource>> resources;
  bool started = false;

  mutable std::mutex mu;  // every Resource's objects and status
  std::atomic<uint64_t> changes{0};

  std::atomic<bool> stopping{false};
  std::mutex sleepMu;
  std::condition_variable sleepCv;

  void log(const Resource& r, const std::string& line) const {
    if (options.log) options.log("kube: " + r.type->kind + ": " + line);
  }

  void changed() {
    changes.fetch_add(1);
    if (onChange) onChange();
  }

  // Sleeps `d` unless stop() comes first; returns false if stopping.
  bool sleepFor(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(sleepMu);
    return !sleepCv.wait_for(lock, d, [&] { return stopping.load(); });
  }

  void recordError(Resource& r, const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    r.status.errors++;
    r.status.lastError = what;
  }

  enum class Outcome { Ok, Gone, NotFound, Error, Stopped };

  Outcome list(Resource& r, ObjectParser& parser, std::string& error);
  Outcome watch(Resource& r, ObjectParser& parser, const std::string& resumeReason, bool& sawEvent,
                std::string& error);
  void markUnavailable(Resource& r, const std::string& error);
  void refreshToken(Resource& r);
  void run(Resource& r);
};


ClusterWatch::Impl::Outcome ClusterWatch::Impl::list(Resource& r, ObjectParser& parser,
                                                     std::string& error) {
  auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, std::shared_ptr<const std::string>> fresh;
  std::string resourceVersion, continueToken;
  int pages = 0;
  r.client.http->set_read_timeout(60, 0);
  do {
    std::string path = r.client.basePath + r.type->path + "?limit=" + std::to_string(options.pageSize);
    if (!continueToken.empty()) path += "&continue=" + urlEncode(continueToken);
    if (stopping) return Outcome::Stopped;
    httplib::Result res = r.client.http->Get(path);
    if (stopping) return Outcome::Stopped;
    if (!res) {
      error = "list: " + describeFailure(res.error());
      return Outcome::Error;
    }
    if (res->status == 404) {
      error = "list: " + describeHttp(res->status, res->body);
      return Outcome::NotFound;
    }
    if (res->status == 410) {  // the continue token expired between pages
      error = "list page " + std::to_string(pages + 1) + ": " + describeHttp(res->status, res->body);
      return Outcome::Gone;
    }
    if (res->status != 200) {
      r.unauthorized = res->status == 401;
      error = "list: " + describeHttp(res->status, res->body);
      return Outcome::Error;
    }
    ListPage page;
    std::string parseError;
    if (!parser.listPage(res->body, r.type->apiVersion, r.type->kind, page, parseError)) {
      error = "list page " + std::to_string(pages + 1) + ": bad body: " + parseError;
      return Outcome::Error;
    }
    for (ParsedObject& item : page.items) fresh[std::move(item.key)] = std::move(item.json);
    resourceVersion = std::move(page.resourceVersion);
    continueToken = std::move(page.continueToken);
    ++pages;
  } while (!continueToken.empty());

  // Objects the list found unchanged keep their old text, pointer and all,
  // so a consumer that compares pointers re-parses only what changed after a
  // relist. r.objects is written only by this thread, so reading it here
  // without the lock is safe.
  for (auto& [key, json] : fresh)
    if (auto old = r.objects.find(key); old != r.objects.end() && *old->second == *json) json = old->second;

  size_t count = fresh.size();
  bool relist, wasUnavailable;
  {
    std::lock_guard<std::mutex> lock(mu);
    r.objects.swap(fresh);
    relist = r.status.listed;
    wasUnavailable = !r.status.available;
    if (relist) r.status.relists++;
    r.status.listed = true;
    r.status.available = true;
    r.status.resourceVersion = resourceVersion;
    r.watchedOnce = false;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  log(r, std::string(wasUnavailable ? "served again; " : "") + (relist ? "relisted " : "listed ") +
             std::to_string(count) + " objects in " + std::to_string(pages) + " page(s) at resourceVersion " +
             resourceVersion + " (" + seconds(ms) + ")");
  changed();
  return Outcome::Ok;
}

ClusterWatch::Impl::Outcome ClusterWatch::Impl::watch(Resource& r, ObjectParser& parser,
                                                      const std::string& resumeReason,
                                                      bool& sawEvent, std::string& error) {
  std::string resourceVersion;
  bool resumed;
  {
    std::lock_guard<std::mutex> lock(mu);
    resourceVersion = r.status.resourceVersion;
    resumed = r.watchedOnce;
    r.watchedOnce = true;
    if (resumed) r.status.watchRestarts++;
  }
  if (resumed) log(r, "resuming watch from resourceVersion " + resourceVersion + " after " + resumeReason);

  std::string path = r.client.basePath + r.type->path + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=" +
                     std::to_string(options.watchTimeoutSeconds) + "&resourceVersion=" + urlEncode(resourceVersion);
  // The server ends the watch after timeoutSeconds; a silence much longer
  // than that means the connection is dead without the kernel knowing.
  r.client.http->set_read_timeout(options.watchTimeoutSeconds + 30, 0);

  int httpStatus = 0;
  std::string pending, line, errorBody;
  bool gone = false, bad = false;

  auto handleLine = [&](std::string& text) -> bool {
    WatchEvent event;
    std::string parseError;
    if (!parser.watchEvent(text, r.type->apiVersion, r.type->kind, event, parseError)) {
      error = "watch: bad event: " + parseError;
      bad = true;
      return false;
    }
    if (event.type == WatchEvent::Type::Error) {
      error = "watch: ERROR event, code " + std::to_string(event.errorCode) + ": " + event.errorMessage;
      if (event.errorCode == 410) gone = true;
      else bad = true;
      return false;
    }
    sawEvent = true;
    {
      std::lock_guard<std::mutex> lock(mu);
      r.status.events++;
      r.status.resourceVersion = event.object.resourceVersion;
      if (event.type == WatchEvent::Type::Deleted) r.objects.erase(event.object.key);
      else if (event.type != WatchEvent::Type::Bookmark) r.objects[event.object.key] = event.object.json;
    }
    if (event.type != WatchEvent::Type::Bookmark) changed();
    return true;
  };

  if (stopping) return Outcome::Stopped;
  httplib::Result res = r.client.http->Get(
      path, httplib::Headers{},
      [&](const httplib::Response& response) {
        httpStatus = response.status;
        return true;
      },
      [&](const char* data, size_t length) {
        if (stopping) return false;
        if (httpStatus != 200) {  // an error Status body
          if (errorBody.size() < 4096) errorBody.append(data, length);
          return true;
        }
        pending.append(data, length);
        size_t start = 0;
        for (size_t newline; (newline = pending.find('\n', start)) != std::string::npos; start = newline + 1) {
          if (newline == start) continue;
          line.assign(pending, start, newline - start);
          if (!handleLine(line)) return false;
        }
        pending.erase(0, start);
        return true;
      });
  if (stopping) return Outcome::Stopped;
  if (gone) return Outcome::Gone;
  if (bad) return Outcome::Error;
  if (httpStatus == 410) {
    error = "watch: " + describeHttp(httpStatus, errorBody);
    return Outcome::Gone;
  }
  if (httpStatus == 404) {
    error = "watch: " + describeHttp(httpStatus, errorBody);
    return Outcome::NotFound;
  }
  if (httpStatus != 0 && httpStatus != 200) {
    r.unauthorized = httpStatus == 401;
    error = "watch: " + describeHttp(httpStatus, errorBody);
    return Outcome::Error;
  }
  if (!res) {
    error = "watch dropped: " + describeFailure(res.error());
    return Outcome::Error;
  }
  // A last event without its newline.
  if (pending.find_first_not_of(" \r\n\t") != std::string::npos && !handleLine(pending))
    return gone ? Outcome::Gone : Outcome::Error;
  return Outcome::Ok;
}

void ClusterWatch::Impl::markUnavailable(Resource& r, const std::string& error) {
  bool wasAvailable, hadObjects;
  {
    std::lock_guard<std::mutex> lock(mu);
    wasAvailable = r.status.available;
    hadObjects = !r.objects.empty();
    r.objects.clear();
    r.status.available = false;
    r.status.resourceVersion.clear();
    if (wasAvailable) {
      r.status.errors++;
      r.status.lastError = error;
    }
  }
  // Logged once per change to unavailable, not on every retry.
  if (wasAvailable)
    log(r, "not served (" + error + "; CRD not installed?): unavailable" +
               (hadObjects ? ", its objects dropped" : "") + "; retrying every " + seconds(options.backoffMax));
  if (hadObjects) changed();
}

void ClusterWatch::Impl::refreshToken(Resource& r) {
  if (config.tokenFile.empty()) return;
  auto now = std::chrono::steady_clock::now();
  if (!r.unauthorized && now - r.tokenReadAt < std::chrono::minutes(1)) return;
  r.unauthorized = false;
  r.tokenReadAt = now;
  std::ifstream in(config.tokenFile, std::ios::binary);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!token.empty() && isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty()) {
    log(r, "cannot read tokenFile \"" + config.tokenFile + "\" (or it is empty): keeping the current token");
    return;
  }
  if (token == r.token) return;
  r.token = token;
  r.client.http->set_bearer_token_auth(token);
  log(r, "bearer token re-read from \"" + config.tokenFile + "\"");
}

void ClusterWatch::Impl::run(Resource& r) {
  ObjectParser parser;
  std::mt19937_64 rng(std::random_device{}());
  std::chrono::milliseconds backoff = options.backoffInitial;
  // Exponential, with up to +25% jitter so that agents on many nodes do not
  // retry in step; never above backoffMax.
  auto nextDelay = [&] {
    auto base = backoff;
    backoff = std::min(backoff * 2, options.backoffMax);
    auto jitter = std::uniform_int_distribution<int64_t>(0, base.count() / 4)(rng);
    return std::min(base + std::chrono::milliseconds(jitter), options.backoffMax);
  };

  bool needList = true;
  std::string resumeReason;
  r.token = config.bearerToken;
  r.tokenReadAt = std::chrono::steady_clock::now();
  while (!stopping) {
    refreshToken(r);
    std::string error;
    if (needList) {
      switch (list(r, parser, error)) {
        case Outcome::Stopped:
          return;
        case Outcome::Ok:
          needList = false;
          backoff = options.backoffInitial;
          break;
        case Outcome::NotFound:
          markUnavailable(r, error);
          sleepFor(options.backoffMax);
          break;
        case Outcome::Gone:
        case Outcome::Error: {
          recordError(r, error);
          auto delay = nextDelay();
          log(r, error + "; listing again in " + seconds(delay));
          sleepFor(delay);
          break;
        }
      }
      continue;
    }

    bool sawEvent = false;
    auto t0 = std::chrono::steady_clock::now();
    Outcome outcome = watch(r, parser, resumeReason, sawEvent, error);
    if (sawEvent) backoff = options.backoffInitial;
    switch (outcome) {
      case Outcome::Stopped:
        return;
      case Outcome::Ok: {
        // The server ended the watch (timeoutSeconds): resume at once, unless
        // it ends watches as soon as they start.
        resumeReason = "the server ended it";
        if (!sawEvent && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1)) {
          auto delay = nextDelay();
          resumeReason = "the server ended it at once (waited " + seconds(delay) + ")";
          sleepFor(delay);
        }
        break;
      }
      case Outcome::Gone:
        log(r, error + ": the resourceVersion is too old; relisting");
        needList = true;
        break;
      case Outcome::NotFound:
        markUnavailable(r, error);
        needList = true;
        sleepFor(options.backoffMax);
        break;
      case Outcome::Error: {
        recordError(r, error);
        auto delay = nextDelay();
        resumeReason = error + " (waited " + seconds(delay) + ")";
        log(r, error + "; resuming in " + seconds(delay));
        sleepFor(delay);
        break;
      }
    }
  }
}

const std::vector<std::string>& ClusterWatch::allKinds() {
  static const std::vector<std::string> kinds = [] {
    std::vector<std::string> out;
    for (const WatchedResource& t : watchedResources()) out.push_back(t.kind);
    return out;
  }();
  return kinds;
}

ClusterWatch::ClusterWatch(KubeConfig config, Options options) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->options = std::move(options);
  if (impl_->options.backoffInitial.count() <= 0 || impl_->options.backoffMax < impl_->options.backoffInitial)
    throw std::invalid_argument("kube: backoffInitial must be > 0 and <= backoffMax");
}

ClusterWatch::~ClusterWatch() { stop(); }

void ClusterWatch::start(std::function<void()> onChange) {
  Impl& d = *impl_;
  if (d.started) throw std::logic_error("kube: ClusterWatch::start called twice");
  for (const std::string& kind : d.options.kinds) {
    bool known = false;
    for (const WatchedResource& t : watchedResources()) known |= t.kind == kind;
    if (!known) throw std::invalid_argument("kube: unknown kind \"" + kind + "\" in Options::kinds");
  }
  for (const WatchedResource& t : watchedResources()) {
    const auto& kinds = d.options.kinds;
    if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), t.kind) == kinds.end()) continue;
    auto r = std::make_unique<Resource>();
    r->type = &t;
    r->status.kind = t.kind;
    std::string error;
    r->client = makeApiClient(d.config, error);
    if (!r->client.http) throw std::invalid_argument("kube: " + error);
    d.resources.push_back(std::move(r));
  }
  d.onChange = std::move(onChange);
  d.started = true;
  for (auto& r : d.resources) {
    Resource* res = r.get();
    res->thread = std::thread([&d, res] {
      try {
        d.run(*res);
      } catch (const std::exception& e) {  // a bug, not a cluster condition: say so loudly
        d.recordError(*res, std::string("internal error: ") + e.what());
        d.log(*res, std::string("internal error, this resource is no longer watched: ") + e.what());
      }
      res->finished = true;
    });
  }
}

void ClusterWatch::stop() {
  Impl& d = *impl_;
  d.stopping = true;
  {
    std::lock_guard<std::mutex> lock(d.sleepMu);
  }
  d.sleepCv.notify_all();
  for (;;) {
    bool all = true;
    for (auto& r : d.resources) {
      if (r->finished) continue;
      all = false;
      r->client.http->stop();  // unblocks a read in flight; see the top of this file
    }
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& r : d.resources)
    if (r->thread.joinable()) r->thread.join();
}

std::map<std::string, std::shared_ptr<const std::string>> ClusterWatch::snapshot() const {
  std::map<std::string, std::shared_ptr<const std::string>> out;
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const auto& r : impl_->resources)
    for (const auto& [key, json] : r->objects) out.emplace_hint(out.end(), r->type->kind + "/" + key, json);
  return out;
}

uint64_t ClusterWatch::changes() const { return impl_->changes.load(); }

bool ClusterWatch::synced() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->resources.empty()) return false;
  for (const auto& r : impl_->resources)
    if (!r->status.listed && r->status.available) return false;
  return true;
}

std::vector<ResourceStatus> ClusterWatch::status() const {
  std::vector<ResourceStatus> out;
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const auto& r : impl_->resources) out.push_back(r->status);
  return out;
}

}  // namespace sluice::kube
