#include "runtime/cni/plugin.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/text.h"
#include "runtime/cni/cni.h"
#include "runtime/cni/protocol.h"

namespace sluice::cni {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr double kDefaultTimeoutSeconds = 60;
constexpr double kMaxTimeoutSeconds = 3600;
// STATUS is a readiness probe the runtime repeats: it never waits long.
constexpr double kStatusTimeoutSeconds = 10;

// The fields of a plugin entry of type sluice.
const std::vector<std::string_view> kSluiceFields = {"agentSocket", "timeoutSeconds", "logFile"};
// Fields the spec (or the runtime) puts in any plugin entry; keys starting
// with "cni.dev/" are reserved too. Other unknown fields are accepted unless
// they look like a misspelt sluice field.
const std::vector<std::string_view> kStandardFields = {
    "cniVersion", "cniVersions", "name", "type",   "runtimeConfig", "capabilities", "prevResult",
    "args",       "dns",         "ipam", "ipMasq", "disableCheck",  "disableGC",    "loadOnlyInlinedPlugins",
    "plugins",
};

// Other names people give the sluice fields, too far from them for closestMatch.
const std::vector<std::pair<std::string_view, std::string_view>> kFieldAliases = {
    {"timeout", "timeoutSeconds"},
    {"timeoutMs", "timeoutSeconds"},
    {"socket", "agentSocket"},
    {"agentSocketPath", "agentSocket"},
    {"log", "logFile"},
    {"logPath", "logFile"},
};

std::string meantField(const std::string& key) {
  for (const auto& [alias, field] : kFieldAliases)
    if (key == alias) return std::string(field);
  return closestMatch(key, kSluiceFields);
}

bool contains(const std::vector<std::string_view>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string dumpJson(const json& j, int indent = -1) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}
std::string dumpJson(const nlohmann::ordered_json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string secondsText(double s) {
  return s == std::floor(s) ? fmt::format("{} s", static_cast<long long>(s)) : fmt::format("{:g} s", s);
}

std::string utcNow() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms);
}

class PluginRun {
 public:
  explicit PluginRun(const Invocation& inv) : inv_(inv) {}

  PluginOutput run() {
    Clock::time_point start = Clock::now();
    execute();
    long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    std::string who =
        containerID_.empty() ? "" : fmt::format(" {} {}", describeAttachment(pod_, containerID_), displayText(ifname_));
    out_.logLine = fmt::format("{} sluice-cni[{}] {}{}: {} ({} ms)", utcNow(), ::getpid(), displayText(commandText_),
                               who, summary_, ms);
    return std::move(out_);
  }

 private:
  std::string env(const char* name) const {
    auto it = inv_.env.find(name);
    return it == inv_.env.end() ? "" : it->second;
  }

  void fail(int code, std::string msg, std::string details = "") {
    out_.exitStatus = 1;
    out_.out = dumpJson(renderError(Error{code, msg, details}, cniVersion_), 4) + "\n";
    summary_ = fmt::format("error {}: {}", code, msg);
  }
  void fail(const Error& e) { fail(e.code, e.msg, e.details); }

  void execute() {
    commandText_ = env("CNI_COMMAND");
    if (commandText_.empty()) {
      out_.err = fmt::format(
          "sluice-cni is the CNI plugin of sluice: container runtimes run it with CNI_COMMAND set "
          "(CNI versions {}; docs/cni.md).\n",
          fmt::join(supportedVersions(), ", "));
      return fail(kInvalidEnvironment,
                  "CNI_COMMAND is not set: sluice-cni is a CNI plugin, run by the container runtime with "
                  "CNI_COMMAND=ADD, DEL, CHECK, STATUS, GC or VERSION");
    }
    auto command = parseCommand(commandText_);
    if (!command)
      return fail(kInvalidEnvironment, fmt::format("CNI_COMMAND {} is not a CNI command (ADD, DEL, CHECK, STATUS, GC "
                                                   "or VERSION)",
                                                   quote(commandText_)));
    command_ = *command;
    if (command_ == Command::Version) return version();
    peekVersion();
    if (!checkEnvironment()) return;
    if (!inv_.stdinProblem.empty())
      return fail(kIoFailure, fmt::format("cannot read the network configuration from stdin: {}", inv_.stdinProblem));
    if (!readConfig()) return;
    Request request;
    if (!buildRequest(request)) return;
    ask(request);
  }

  // VERSION: the versions sluice-cni writes, with the cniVersion given on
  // stdin echoed (the latest when there is none).
  void version() {
    std::string v(kLatestVersion);
    try {
      json j = json::parse(inv_.stdinData);
      if (j.is_object() && j.contains("cniVersion") && j["cniVersion"].is_string()) {
        std::string given = j["cniVersion"];
        bool plausible =
            !given.empty() && given.size() <= 16 && given.find_first_not_of("0123456789.") == std::string::npos;
        if (plausible) v = given;
      }
    } catch (const json::exception&) {
    }
    out_.out = dumpJson(renderVersion(v), 4) + "\n";
    summary_ = "ok";
  }

  // Errors carry the configuration's cniVersion when it is one sluice-cni
  // supports, also those found before the configuration is read.
  void peekVersion() {
    try {
      json j = json::parse(inv_.stdinData);
      if (j.is_object() && j.contains("cniVersion") && j["cniVersion"].is_string() &&
          isSupportedVersion(j["cniVersion"].get<std::string>()))
        cniVersion_ = j["cniVersion"];
    } catch (const json::exception&) {
    }
  }

  // The variables the spec requires for the command, and the spec's rules
  // for the container ID and interface name.
  bool checkEnvironment() {
    std::vector<const char*> required;
    switch (command_) {
      case Command::Add:
      case Command::Check:
        required = {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"};
        break;
      case Command::Del:
        required = {"CNI_CONTAINERID", "CNI_IFNAME"};
        break;
      case Command::Gc:
        required = {"CNI_PATH"};
        break;
      case Command::Status:
      case Command::Version:
        break;
    }
    std::vector<std::string> missing;
    for (const char* name : required)
      if (env(name).empty()) missing.push_back(name);
    if (!missing.empty()) {
      fail(kInvalidEnvironment,
           fmt::format("required environment variables not set for {}: {} (the runtime must set {})", commandText_,
                       fmt::join(missing, ", "), fmt::join(required, ", ")));
      return false;
    }
    if (command_ == Command::Add || command_ == Command::Check || command_ == Command::Del) {
      containerID_ = env("CNI_CONTAINERID");
      ifname_ = env("CNI_IFNAME");
      netns_ = env("CNI_NETNS");
      if (std::string p = containerIdProblem(containerID_); !p.empty()) {
        fail(kInvalidEnvironment,
             fmt::format("CNI_CONTAINERID {} is not a valid container ID: {}", quote(containerID_), p));
        return false;
      }
      if (std::string p = interfaceNameProblem(ifname_); !p.empty()) {
        fail(kInvalidEnvironment, fmt::format("CNI_IFNAME {} is not a valid interface name: {}", quote(ifname_), p));
        return false;
      }
    }
    return true;
  }

  // The plugin entry on stdin: JSON, a supported cniVersion, a valid name,
  // type sluice, sluice's own fields well formed, no misspelt field.
  bool readConfig() {
    try {
      config_ = json::parse(inv_.stdinData);
    } catch (const json::parse_error& e) {
      fail(kDecodeFailure,
           inv_.stdinData.empty() ? "the network configuration on stdin is empty"
                                  : "the network configuration on stdin is not valid JSON",
           e.what());
      return false;
    }
    if (!config_.is_object()) {
      fail(kDecodeFailure,
           fmt::format("the network configuration on stdin is {}, not a JSON object", config_.type_name()));
      return false;
    }
    std::string supported = fmt::format("{}", fmt::join(supportedVersions(), ", "));
    auto version = config_.find("cniVersion");
    if (version == config_.end() || version->is_null()) {
      fail(kIncompatibleVersion,
           fmt::format("the network configuration has no cniVersion; sluice-cni supports {}", supported));
      return false;
    }
    if (!version->is_string()) {
      fail(kDecodeFailure, fmt::format("cniVersion is {}, not a string", dumpJson(*version)));
      return false;
    }
    std::string v = *version;
    if (!isSupportedVersion(v)) {
      fail(kIncompatibleVersion, fmt::format("the network configuration has cniVersion {}; sluice-cni supports {}: set "
                                             "\"cniVersion\": \"{}\" in the conflist",
                                             quote(v), supported, kLatestVersion));
      return false;
    }
    cniVersion_ = v;
    if ((command_ == Command::Status || command_ == Command::Gc) && !versionHasStatusAndGc(v)) {
      fail(kIncompatibleVersion,
           fmt::format("{} is a CNI 1.1.0 command, but the network configuration has cniVersion {}", commandText_, v));
      return false;
    }
    auto name = config_.find("name");
    if (name == config_.end() || !name->is_string() || name->get<std::string>().empty()) {
      fail(kInvalidConfig, "the network configuration has no name");
      return false;
    }
    network_ = *name;
    if (std::string p = networkNameProblem(network_); !p.empty()) {
      fail(kInvalidConfig, fmt::format("network name {} is not valid: {}", quote(network_), p));
      return false;
    }
    auto type = config_.find("type");
    if (type == config_.end() || !type->is_string()) {
      fail(kInvalidConfig, "the network configuration has no \"type\" (it must be \"sluice\")");
      return false;
    }
    if (*type != "sluice") {
      fail(kInvalidConfig, fmt::format("the network configuration is for plugin type {}, not \"sluice\"",
                                       quote(type->get<std::string>())));
      return false;
    }
    for (const auto& [key, value] : config_.items()) {
      if (contains(kSluiceFields, key)) {
        if (!readSluiceField(key, value)) return false;
        continue;
      }
      if (contains(kStandardFields, key) || key.rfind("cni.dev/", 0) == 0) continue;
      if (std::string meant = meantField(key); !meant.empty()) {
        fail(kUnsupportedField,
             fmt::format("unsupported field \"{}\": {} in the network configuration: did you mean \"{}\"?",
                         displayText(key), displayText(dumpJson(value)), meant));
        return false;
      }
    }
    return true;
  }

  bool readSluiceField(const std::string& key, const json& value) {
    auto bad = [&](std::string_view expected) {
      fail(kInvalidConfig, fmt::format("\"{}\" is {} in the network configuration: expected {}", key,
                                       displayText(dumpJson(value)), expected));
      return false;
    };
    if (key == "agentSocket") {
      if (!value.is_string() || value.get<std::string>().empty() || value.get<std::string>()[0] != '/' ||
          value.get<std::string>().size() > 107)
        return bad("an absolute path of at most 107 bytes, the unix socket of `sluice agent`");
      agentSocket_ = value;
    } else if (key == "timeoutSeconds") {
      if (!value.is_number() || !(value.get<double>() > 0) || value.get<double>() > kMaxTimeoutSeconds)
        return bad(fmt::format("a number of seconds above 0 and at most {}", kMaxTimeoutSeconds));
      timeoutSeconds_ = value;
    } else if (key == "logFile") {
      if (!value.is_string() || value.get<std::string>().empty() || value.get<std::string>()[0] != '/')
        return bad("an absolute path");
      out_.logFile = value;
    }
    return true;
  }

  bool buildRequest(Request& r) {
    r.command = command_;
    r.cniVersion = cniVersion_;
    r.network = network_;
    r.config = config_;
    if (command_ == Command::Add || command_ == Command::Check || command_ == Command::Del) {
      r.containerID = containerID_;
      r.ifname = ifname_;
      r.netns = netns_;
      std::string problem;
      if (!parseCniArgs(env("CNI_ARGS"), pod_, problem)) {
        fail(kInvalidEnvironment, fmt::format("CNI_ARGS is not valid: {}", problem));
        return false;
      }
      r.args = pod_;
      if (!netns_.empty() && isOwnNetns(netns_)) {
        fail(kInvalidEnvironment, fmt::format("CNI_NETNS {} is the network namespace sluice-cni runs in (the node's), "
                                              "not the pod's",
                                              quote(netns_)));
        return false;
      }
      if (!readPrevResult(r)) return false;
    }
    if (command_ == Command::Gc && !readValidAttachments(r)) return false;
    double seconds = command_ == Command::Status ? std::min(timeoutSeconds_, kStatusTimeoutSeconds) : timeoutSeconds_;
    timeout_ = std::chrono::milliseconds(std::max<long long>(1, std::llround(seconds * 1000)));
    r.timeoutMs = static_cast<uint32_t>(timeout_.count());
    return true;
  }

  bool isOwnNetns(const std::string& path) const {
    struct stat a, b;
    return ::stat(path.c_str(), &a) == 0 && ::stat(inv_.ownNetns.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
  }

  // CHECK must have the ADD's result; DEL uses it when it reads, and goes on
  // without it when not (DEL is best effort); ADD has one only when another
  // plugin ran before sluice in the conflist.
  bool readPrevResult(Request& r) {
    auto it = config_.find("prevResult");
    if (it == config_.end() || it->is_null()) {
      if (command_ == Command::Check) {
        fail(kInvalidConfig,
             "CHECK needs the prevResult of the ADD in the network configuration; the runtime passed none");
        return false;
      }
      return true;
    }
    Result prev;
    std::string problem;
    if (!resultFromJson(*it, prev, problem)) {
      if (command_ == Command::Del) {
        out_.err += fmt::format(
            "sluice-cni: ignoring a prevResult it cannot read ({}); the agent finds the pod by its "
            "container ID\n",
            problem);
        return true;
      }
      fail(kDecodeFailure, fmt::format("the prevResult in the network configuration cannot be read: {}", problem));
      return false;
    }
    r.prevResult = std::move(prev);
    return true;
  }

  bool readValidAttachments(Request& r) {
    auto it = config_.find("cni.dev/valid-attachments");
    if (it == config_.end()) it = config_.find("cni.dev/attachments");  // the spec's earlier name, still sent by libcni
    if (it == config_.end()) {
      fail(kInvalidConfig,
           "GC without \"cni.dev/valid-attachments\" in the network configuration: sluice-cni will not treat every pod "
           "on the node as stale");
      return false;
    }
    if (it->is_null()) return true;  // no attachment is valid any more
    if (!it->is_array()) {
      fail(kDecodeFailure, fmt::format("\"cni.dev/valid-attachments\" is {}, not a list", it->type_name()));
      return false;
    }
    for (const json& a : *it) {
      auto id = a.is_object() ? a.find("containerID") : a.end();
      auto ifname = a.is_object() ? a.find("ifname") : a.end();
      if (!a.is_object() || id == a.end() || !id->is_string() || ifname == a.end() || !ifname->is_string()) {
        fail(kDecodeFailure, fmt::format("\"cni.dev/valid-attachments\" holds {}, not {{\"containerID\": ..., "
                                         "\"ifname\": ...}}",
                                         displayText(dumpJson(a))));
        return false;
      }
      r.validAttachments.push_back(Attachment{*id, *ifname});
    }
    return true;
  }

  void ask(const Request& request) {
    prevResult_ = request.prevResult;
    std::string what = containerID_.empty()
                           ? commandText_
                           : fmt::format("{} for {}", commandText_, describeAttachment(pod_, containerID_));
    std::string at = displayText(agentSocket_, 200);
    AgentAnswer a = callAgent(agentSocket_, request, timeout_);
    using Status = AgentAnswer::Status;
    if (a.status == Status::Answered) return answered(a.response);
    if (command_ == Command::Status) {
      return fail(kNotAvailable,
                  fmt::format("the sluice agent at {} is not available ({}): this node cannot set up pods "
                              "until `sluice agent` runs and answers",
                              at, a.problem));
    }
    switch (a.status) {
      case Status::Answered:
        return;
      case Status::Unreachable:
        if (command_ == Command::Del) return delWithoutAgent(at, a.problem);
        return fail(kTryAgainLater,
                    fmt::format("cannot reach the sluice agent at {} ({}): is `sluice agent` running on "
                                "this node? try again later",
                                at, a.problem));
      case Status::TimedOut:
        return fail(kTryAgainLater,
                    fmt::format("the sluice agent at {} did not answer {} within {} (timeoutSeconds): it may be busy "
                                "or stuck; try again later (`sluice agent status` shows what it is doing)",
                                at, what, secondsText(timeout_.count() / 1000.0)),
                    a.problem);
      case Status::Closed:
        return fail(kTryAgainLater,
                    fmt::format("the sluice agent at {} closed the connection without answering {}: did it restart? "
                                "try again later",
                                at, what),
                    a.problem);
      case Status::BadAnswer:
        if (a.versionMismatch)
          return fail(kProtocolMismatch,
                      fmt::format("sluice-cni and the sluice agent at {} are from different releases: "
                                  "install the sluice-cni that came with the agent",
                                  at),
                      a.problem);
        return fail(kDecodeFailure,
                    fmt::format("the sluice agent at {} answered {} with something sluice-cni cannot "
                                "read",
                                at, what),
                    a.problem);
      case Status::IoError:
        return fail(kIoFailure, fmt::format("cannot talk to the sluice agent at {} ({}){}", at, a.problem,
                                            a.problem == "permission denied"
                                                ? ": sluice-cni must run as root, as container runtimes run it"
                                                : ""));
    }
  }

  // DEL with no agent: succeed after what can be undone on the node; the
  // agent releases the pod's address when it starts again and reconciles.
  void delWithoutAgent(const std::string& at, const std::string& problem) {
    std::string done = "nothing cleaned up locally";
    if (inv_.localDelCleanup) {
      try {
        done = inv_.localDelCleanup(containerID_, ifname_);
      } catch (const std::exception& e) {
        done = fmt::format("local cleanup failed: {}", e.what());
      }
    }
    out_.err += fmt::format(
        "sluice-cni: the sluice agent at {} is not reachable ({}); DEL succeeds anyway ({}); the "
        "agent releases the pod's address when it starts\n",
        at, problem, done);
    summary_ = fmt::format("ok without the agent ({}): {}", problem, done);
  }

  void answered(const Response& response) {
    if (response.error) {
      Error e = *response.error;
      if (e.msg.empty()) e.msg = fmt::format("the sluice agent refused {} without saying why", commandText_);
      return fail(e);
    }
    summary_ = "ok";
    if (command_ != Command::Add) return;  // DEL, CHECK, STATUS and GC print nothing on success
    const Result& own = *response.result;
    if (std::string p = checkResult(own); !p.empty())
      return fail(kDecodeFailure, fmt::format("the sluice agent answered ADD with an invalid result: {}", p));
    Result result = prevResult_ ? mergeResults(*prevResult_, own) : own;
    out_.out = dumpJson(renderResult(result, cniVersion_), 4) + "\n";
    std::vector<std::string> addresses;
    for (const IpConfig& ip : own.ips) addresses.push_back(ip.address);
    summary_ = fmt::format("ok, {}", addresses.empty() ? "no address" : fmt::format("{}", fmt::join(addresses, " ")));
  }

  const Invocation& inv_;
  PluginOutput out_;
  std::string commandText_;
  Command command_ = Command::Version;
  std::string cniVersion_{kLatestVersion};  // what errors carry until the configuration names its own
  std::string containerID_, ifname_, netns_, network_;
  PodArgs pod_;
  json config_;
  std::string agentSocket_{kDefaultAgentSocket};
  double timeoutSeconds_ = kDefaultTimeoutSeconds;
  std::chrono::milliseconds timeout_{0};
  std::optional<Result> prevResult_;
  std::string summary_ = "?";
};

}  // namespace

PluginOutput runPlugin(const Invocation& invocation) { return PluginRun(invocation).run(); }

std::string appendLog(const PluginOutput& output) {
  if (output.logFile.empty() || output.logLine.empty()) return "";
  int fd = ::open(output.logFile.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return fmt::format("cannot open log file {}: {}", output.logFile, std::strerror(errno));
  std::string line = output.logLine + "\n";
  ssize_t n = ::write(fd, line.data(), line.size());  // one write: lines of concurrent calls do not interleave
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size()))
    return fmt::format("cannot write log file {}: {}", output.logFile, n < 0 ? std::strerror(err) : "short write");
  return "";
}

}  // namespace sluice::cni
