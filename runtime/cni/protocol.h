// The protocol between sluice-cni and `sluice agent` on the node: a
// SOCK_STREAM unix socket (default /run/sluice/cni.sock), one request per
// connection and one answer. Each message is one JSON object on one line
// (ending in "\n", or at end of stream), at most kMaxMessageBytes long.
//
//   request:  {"version": 1, "command": "ADD", "cniVersion": "1.1.0",
//              "containerID": "...", "netns": "/proc/42/ns/net", "ifname": "eth0",
//              "args": {"K8S_POD_NAMESPACE": "shop", "K8S_POD_NAME": "cart-1", ...},
//              "network": "sluice", "timeoutMs": 60000,
//              "prevResult": {...},                 (when the runtime passed one)
//              "validAttachments": [{"containerID": "...", "ifname": "eth0"}],  (GC only)
//              "config": {...the network configuration as the runtime passed it...}}
//   answer:   {"version": 1, "result": {...}}       (ADD: the neutral result, cni.h)
//             {"version": 1}                        (DEL, CHECK, STATUS, GC: success)
//             {"version": 1, "error": {"code": 11, "msg": "...", "details": "..."}}
//
// VERSION never reaches the agent. docs/cni.md describes the protocol for
// people; the agent's server is readRequest/writeResponse or serveConnection.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/cni/cni.h"

namespace sluice::cni {

inline constexpr int kProtocolVersion = 1;
inline constexpr size_t kMaxMessageBytes = size_t{1} << 20;
inline constexpr std::string_view kDefaultAgentSocket = "/run/sluice/cni.sock";

struct Attachment {
  std::string containerID;
  std::string ifname;
  bool operator==(const Attachment&) const = default;
};

struct Request {
  int version = kProtocolVersion;
  Command command = Command::Add;  // never Version
  std::string cniVersion;          // the configuration's, already checked by the plugin
  // ADD, DEL, CHECK: the attachment (CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME).
  // netns may be empty on DEL. All empty on STATUS and GC.
  std::string containerID;
  std::string netns;
  std::string ifname;
  PodArgs args;                                      // from CNI_ARGS; empty when the runtime passes none
  std::string network;                               // the configuration's "name"
  uint32_t timeoutMs = 0;                            // how long the plugin waits for the answer
  std::optional<Result> prevResult;                  // as the runtime passed it (DEL, CHECK; ADD when chained)
  std::vector<Attachment> validAttachments;          // GC: every attachment still in use on this network
  nlohmann::json config = nlohmann::json::object();  // the whole network configuration
};

struct Response {
  std::optional<Result> result;  // ADD's, on success
  std::optional<Error> error;    // set: failure, passed to the runtime as the CNI error

  static Response ok() { return {}; }
  static Response success(Result r) { return {std::move(r), std::nullopt}; }
  static Response failure(Error e) { return {std::nullopt, std::move(e)}; }
  static Response failure(int code, std::string msg, std::string details = "") {
    return failure(Error{code, std::move(msg), std::move(details)});
  }
};

// JSON text of one message (no newline).
std::string encodeRequest(const Request& request);
std::string encodeResponse(const Response& response);
// False with an Error to answer: kProtocolMismatch for another "version",
// kDecodeFailure for anything malformed.
bool decodeRequest(std::string_view text, Request& out, Error& error);
// False with `problem` when malformed; an ADD success must carry a result.
// An answer of another protocol version is reported with `*versionMismatch`.
bool decodeResponse(std::string_view text, Command command, Response& out, std::string& problem,
                    bool* versionMismatch = nullptr);

// ---------------------------------------------------------------------------
// The agent's side.

// Listens on `path` (SOCK_STREAM, close-on-exec, mode 0600), creating its
// parent directories (0755) and replacing a stale socket left by an agent
// that died. Fails (-1 with `error`) when another process answers on the
// socket already, or when `path` is something other than a socket.
int listenAgentSocket(const std::string& path, std::string& error);

// Reads and decodes one request from an accepted connection. False with the
// Error to answer (writeResponse(fd, Response::failure(error))) when the
// plugin sent nothing in `timeout`, too much, or something malformed.
bool readRequest(int fd, Request& out, Error& error, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Writes the answer. False with `error` when the plugin is gone: it gave up
// after request.timeoutMs and told the runtime "try again later" (ADD: roll
// the attachment back; the runtime also sends DEL).
bool writeResponse(int fd, const Response& response, std::string& error,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

// One connection, start to end: read the request, call `handle` (a thrown
// exception becomes error kInternal), write its answer. Does not close `fd`.
// Returns whether the answer was delivered; `error` says why not.
using Handler = std::function<Response(const Request&)>;
bool serveConnection(int fd, const Handler& handle, std::string& error,
                     std::chrono::milliseconds readTimeout = std::chrono::seconds(10));

// ---------------------------------------------------------------------------
// The plugin's side.

struct AgentAnswer {
  enum class Status {
    Answered,     // `response` holds the agent's answer (which may be an error)
    Unreachable,  // nothing listens at the socket (no file, connection refused)
    TimedOut,     // connected, but no answer before the deadline
    Closed,       // the agent closed the connection without answering
    BadAnswer,    // an answer that does not decode (or another protocol version)
    IoError,      // anything else (permission denied, a path too long, ...)
  };
  Status status = Status::IoError;
  Response response;
  std::string problem;           // for a person, when not Answered
  bool versionMismatch = false;  // BadAnswer: the agent speaks another protocol version
};

// Connects, sends `request`, waits for the answer; all within `timeout`.
AgentAnswer callAgent(const std::string& socketPath, const Request& request, std::chrono::milliseconds timeout);

}  // namespace sluice::cni
