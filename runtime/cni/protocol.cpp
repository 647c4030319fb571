#include "runtime/cni/protocol.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "base/text.h"

namespace sluice::cni {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Text that came from the environment may hold invalid UTF-8: replace it
// rather than throw.
std::string dumpJson(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : static_cast<int>(left);
}

enum class ReadStatus { Line, Eof, Timeout, TooLarge, IoError };

// One message: up to the first "\n" or the end of the stream.
ReadStatus readMessage(int fd, Clock::time_point deadline, std::string& out, std::string& problem) {
  out.clear();
  char buf[65536];
  for (;;) {
    int wait = remainingMs(deadline);
    if (wait == 0) return ReadStatus::Timeout;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, wait);
    if (r < 0) {
      if (errno == EINTR) continue;
      problem = std::strerror(errno);
      return ReadStatus::IoError;
    }
    if (r == 0) return ReadStatus::Timeout;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      problem = std::strerror(errno);
      return ReadStatus::IoError;
    }
    if (n == 0) return ReadStatus::Eof;
    size_t before = out.size();
    out.append(buf, static_cast<size_t>(n));
    if (size_t nl = out.find('\n', before); nl != std::string::npos) {
      out.resize(nl);
      return out.size() > kMaxMessageBytes ? ReadStatus::TooLarge : ReadStatus::Line;
    }
    if (out.size() > kMaxMessageBytes) return ReadStatus::TooLarge;
  }
}

// False with `problem` on a peer that is gone or a deadline passed (then
// *timedOut, when given).
bool writeMessage(int fd, std::string message, Clock::time_point deadline, std::string& problem,
                  bool* timedOut = nullptr) {
  if (message.size() > kMaxMessageBytes) {
    problem = fmt::format("the message is {} bytes, over the protocol's limit of {}", message.size(), kMaxMessageBytes);
    return false;
  }
  message += '\n';
  size_t sent = 0;
  while (sent < message.size()) {
    int wait = remainingMs(deadline);
    pollfd p{fd, POLLOUT, 0};
    int r = wait == 0 ? 0 : ::poll(&p, 1, wait);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0 && timedOut) *timedOut = true;
      problem = r == 0 ? "timed out writing" : std::strerror(errno);
      return false;
    }
    ssize_t n = ::send(fd, message.data() + sent, message.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      problem = std::strerror(errno);
      return false;
    }
    sent += static_cast<size_t>(n);
  }
  return true;
}

bool fillSocketAddress(const std::string& path, sockaddr_un& addr, std::string& problem) {
  addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    problem = fmt::format("socket path {} is empty or longer than {} bytes", quote(path), sizeof addr.sun_path - 1);
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return true;
}

bool readStringField(const json& o, const char* key, std::string& out, std::string& problem) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_string()) {
    problem = fmt::format("\"{}\" is {}, not a string", key, it->type_name());
    return false;
  }
  out = it->get<std::string>();
  return true;
}

// The protocol version of a decoded message: false when absent or not an integer.
bool readVersion(const json& j, int& version, std::string& problem) {
  auto it = j.find("version");
  if (it == j.end() || !it->is_number_integer()) {
    problem = "it has no integer \"version\"";
    return false;
  }
  version = it->get<int>();
  return true;
}

bool parseObject(std::string_view text, json& out, std::string& problem) {
  try {
    out = json::parse(text);
  } catch (const json::parse_error& e) {
    problem = fmt::format("it is not JSON ({})", e.what());
    return false;
  }
  if (!out.is_object()) {
    problem = fmt::format("it is {}, not a JSON object", out.type_name());
    return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// Messages

std::string encodeRequest(const Request& r) {
  json j = json::object();
  j["version"] = r.version;
  j["command"] = commandName(r.command);
  j["cniVersion"] = r.cniVersion;
  j["containerID"] = r.containerID;
  j["netns"] = r.netns;
  j["ifname"] = r.ifname;
  json args = json::object();
  if (!r.args.podNamespace.empty()) args["K8S_POD_NAMESPACE"] = r.args.podNamespace;
  if (!r.args.podName.empty()) args["K8S_POD_NAME"] = r.args.podName;
  if (!r.args.infraContainerID.empty()) args["K8S_POD_INFRA_CONTAINER_ID"] = r.args.infraContainerID;
  if (!r.args.podUID.empty()) args["K8S_POD_UID"] = r.args.podUID;
  j["args"] = std::move(args);
  j["network"] = r.network;
  j["timeoutMs"] = r.timeoutMs;
  if (r.prevResult) j["prevResult"] = resultToJson(*r.prevResult);
  if (r.command == Command::Gc) {
    json list = json::array();
    for (const Attachment& a : r.validAttachments)
      list.push_back({{"containerID", a.containerID}, {"ifname", a.ifname}});
    j["validAttachments"] = std::move(list);
  }
  j["config"] = r.config;
  return dumpJson(j);
}

std::string encodeResponse(const Response& r) {
  json j = json::object();
  j["version"] = kProtocolVersion;
  if (r.error) {
    json e = {{"code", r.error->code}, {"msg", r.error->msg}};
    if (!r.error->details.empty()) e["details"] = r.error->details;
    j["error"] = std::move(e);
  } else if (r.result) {
    j["result"] = resultToJson(*r.result);
  }
  return dumpJson(j);
}

bool decodeRequest(std::string_view text, Request& out, Error& error) {
  out = Request{};
  auto fail = [&](const std::string& problem) {
    error =
        Error{kDecodeFailure, fmt::format("the sluice agent cannot read the request from sluice-cni: {}", problem), ""};
    return false;
  };
  json j;
  std::string problem;
  if (!parseObject(text, j, problem)) return fail(problem);
  if (!readVersion(j, out.version, problem)) return fail(problem);
  if (out.version != kProtocolVersion) {
    error = Error{kProtocolMismatch,
                  fmt::format("sluice-cni speaks protocol version {} and this sluice agent speaks {}: install the "
                              "sluice-cni binary of the agent's release on this node",
                              out.version, kProtocolVersion),
                  ""};
    return false;
  }
  std::string command;
  if (!readStringField(j, "command", command, problem)) return fail(problem);
  auto parsed = parseCommand(command);
  if (!parsed || *parsed == Command::Version) return fail(fmt::format("unknown command {}", quote(command)));
  out.command = *parsed;
  if (!readStringField(j, "cniVersion", out.cniVersion, problem) ||
      !readStringField(j, "containerID", out.containerID, problem) ||
      !readStringField(j, "netns", out.netns, problem) || !readStringField(j, "ifname", out.ifname, problem) ||
      !readStringField(j, "network", out.network, problem))
    return fail(problem);
  if (auto it = j.find("args"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return fail("\"args\" is not an object");
    if (!readStringField(*it, "K8S_POD_NAMESPACE", out.args.podNamespace, problem) ||
        !readStringField(*it, "K8S_POD_NAME", out.args.podName, problem) ||
        !readStringField(*it, "K8S_POD_INFRA_CONTAINER_ID", out.args.infraContainerID, problem) ||
        !readStringField(*it, "K8S_POD_UID", out.args.podUID, problem))
      return fail(problem);
  }
  if (auto it = j.find("timeoutMs"); it != j.end() && !it->is_null()) {
    if (!it->is_number_unsigned() || it->get<uint64_t>() > UINT32_MAX)
      return fail("\"timeoutMs\" is not a count of milliseconds");
    out.timeoutMs = it->get<uint32_t>();
  }
  if (auto it = j.find("prevResult"); it != j.end() && !it->is_null()) {
    Result prev;
    if (!resultFromJson(*it, prev, problem)) return fail("prevResult: " + problem);
    out.prevResult = std::move(prev);
  }
  if (auto it = j.find("validAttachments"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return fail("\"validAttachments\" is not a list");
    for (const json& a : *it) {
      Attachment att;
      if (!a.is_object() || !readStringField(a, "containerID", att.containerID, problem) ||
          !readStringField(a, "ifname", att.ifname, problem))
        return fail("\"validAttachments\" holds " + a.dump());
      out.validAttachments.push_back(std::move(att));
    }
  }
  if (auto it = j.find("config"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return fail("\"config\" is not an object");
    out.config = *it;
  }
  return true;
}

bool decodeResponse(std::string_view text, Command command, Response& out, std::string& problem,
                    bool* versionMismatch) {
  out = Response{};
  if (versionMismatch) *versionMismatch = false;
  json j;
  if (!parseObject(text, j, problem)) return false;
  int version = 0;
  if (!readVersion(j, version, problem)) return false;
  if (version != kProtocolVersion) {
    if (versionMismatch) *versionMismatch = true;
    problem =
        fmt::format("the agent speaks protocol version {} and this sluice-cni speaks {}", version, kProtocolVersion);
    return false;
  }
  if (auto it = j.find("error"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) {
      problem = "\"error\" is not an object";
      return false;
    }
    Error e;
    auto code = it->find("code");
    if (code == it->end() || !code->is_number_integer()) {
      problem = "\"error\" has no integer \"code\"";
      return false;
    }
    e.code = code->get<int>();
    if (!readStringField(*it, "msg", e.msg, problem) || !readStringField(*it, "details", e.details, problem)) {
      problem = "\"error\": " + problem;
      return false;
    }
    if (e.code == 0) {
      problem = "\"error\" has code 0";
      return false;
    }
    out.error = std::move(e);
    return true;
  }
  if (auto it = j.find("result"); it != j.end() && !it->is_null()) {
    Result r;
    if (!resultFromJson(*it, r, problem)) return false;
    out.result = std::move(r);
  }
  if (command == Command::Add && !out.result) {
    problem = "an ADD answer has neither a result nor an error";
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// The agent's side

int listenAgentSocket(const std::string& path, std::string& error) {
  sockaddr_un addr;
  if (!fillSocketAddress(path, addr, error)) return -1;
  // Parent directories, as `mkdir -p`.
  for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      error = fmt::format("cannot create {}: {}", dir, std::strerror(errno));
      return -1;
    }
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = fmt::format("{} exists and is not a socket: remove it or choose another path", path);
      return -1;
    }
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    if (live) {
      error = fmt::format("another process answers on {} (a second sluice agent on this node?)", path);
      return -1;
    }
    ::unlink(path.c_str());  // a socket left by an agent that died
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = fmt::format("cannot create a unix socket: {}", std::strerror(errno));
    return -1;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::chmod(path.c_str(), 0600) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    error = fmt::format("cannot listen on {}: {}", path, std::strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

bool readRequest(int fd, Request& out, Error& error, std::chrono::milliseconds timeout) {
  std::string text, problem;
  switch (readMessage(fd, Clock::now() + timeout, text, problem)) {
    case ReadStatus::Line:
    case ReadStatus::Eof:
      if (text.empty()) {
        error = Error{kDecodeFailure, "the sluice agent got an empty request", ""};
        return false;
      }
      return decodeRequest(text, out, error);
    case ReadStatus::Timeout:
      error =
          Error{kIoFailure, fmt::format("the sluice agent got no complete request within {} ms", timeout.count()), ""};
      return false;
    case ReadStatus::TooLarge:
      error = Error{kInvalidConfig,
                    fmt::format("the request is over the protocol's limit of {} bytes", kMaxMessageBytes), ""};
      return false;
    case ReadStatus::IoError:
      break;
  }
  error = Error{kIoFailure, fmt::format("the sluice agent could not read the request: {}", problem), ""};
  return false;
}

bool writeResponse(int fd, const Response& response, std::string& error, std::chrono::milliseconds timeout) {
  std::string problem;
  if (writeMessage(fd, encodeResponse(response), Clock::now() + timeout, problem)) return true;
  error = fmt::format("cannot deliver the answer to sluice-cni ({}): it has probably given up waiting", problem);
  return false;
}

bool serveConnection(int fd, const Handler& handle, std::string& error, std::chrono::milliseconds readTimeout) {
  Request request;
  Error bad;
  if (!readRequest(fd, request, bad, readTimeout)) {
    error = bad.msg;
    std::string ignored;
    writeResponse(fd, Response::failure(bad), ignored);
    return false;
  }
  Response response;
  try {
    response = handle(request);
  } catch (const std::exception& e) {
    response = Response::failure(
        kInternal, fmt::format("the sluice agent failed on {}: {}", commandName(request.command), e.what()));
  }
  return writeResponse(fd, response, error);
}

// ---------------------------------------------------------------------------
// The plugin's side

AgentAnswer callAgent(const std::string& socketPath, const Request& request, std::chrono::milliseconds timeout) {
  AgentAnswer answer;
  using Status = AgentAnswer::Status;
  Clock::time_point deadline = Clock::now() + timeout;
  sockaddr_un addr;
  if (!fillSocketAddress(socketPath, addr, answer.problem)) return answer;
  std::string message = encodeRequest(request);
  if (message.size() > kMaxMessageBytes) {
    answer.problem =
        fmt::format("the request is {} bytes, over the protocol's limit of {}", message.size(), kMaxMessageBytes);
    return answer;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    answer.problem = fmt::format("cannot create a unix socket: {}", std::strerror(errno));
    return answer;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  // A unix socket connects at once or fails at once; EAGAIN means the agent's
  // accept queue is full: it is busy, so retry until the deadline.
  for (;;) {
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      if (remainingMs(deadline) == 0) {
        answer.status = Status::TimedOut;
        answer.problem = "its connection queue stayed full";
        return answer;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    answer.status = err == ENOENT || err == ECONNREFUSED || err == ENOTDIR ? Status::Unreachable : Status::IoError;
    answer.problem = std::strerror(err);
    for (char& c : answer.problem) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return answer;
  }

  std::string problem;
  bool timedOut = false;
  if (!writeMessage(fd, std::move(message), deadline, problem, &timedOut)) {
    answer.status = timedOut ? Status::TimedOut : Status::Closed;
    answer.problem = problem;
    return answer;
  }
  ::shutdown(fd, SHUT_WR);  // for an agent that reads to the end of the stream

  std::string text;
  switch (readMessage(fd, deadline, text, problem)) {
    case ReadStatus::Line:
    case ReadStatus::Eof:
      if (text.empty()) {
        answer.status = Status::Closed;
        answer.problem = "it closed the connection without answering";
        return answer;
      }
      break;
    case ReadStatus::Timeout:
      answer.status = Status::TimedOut;
      answer.problem =
          fmt::format("no answer within {}", timeout.count() % 1000 == 0 ? fmt::format("{} s", timeout.count() / 1000)
                                                                         : fmt::format("{} ms", timeout.count()));
      return answer;
    case ReadStatus::TooLarge:
      answer.status = Status::BadAnswer;
      answer.problem = fmt::format("its answer is over the protocol's limit of {} bytes", kMaxMessageBytes);
      return answer;
    case ReadStatus::IoError:
      answer.status = Status::Closed;
      answer.problem = problem;
      return answer;
  }
  if (!decodeResponse(text, request.command, answer.response, problem, &answer.versionMismatch)) {
    answer.status = Status::BadAnswer;
    answer.problem = fmt::format("its answer is malformed: {}", problem);
    return answer;
  }
  answer.status = Status::Answered;
  return answer;
}

}  // namespace sluice::cni
