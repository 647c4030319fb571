// The CNI specification as sluice-cni speaks it: the commands, the error
// codes, the checks the spec puts on a plugin's inputs, and an ADD result in a
// version-neutral form with its rendering for each version sluice writes
// (1.0.0 and 1.1.0). docs/cni.md says what sluice-cni does with each.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::cni {

// The spec versions sluice-cni implements, oldest first: exactly what VERSION
// lists. A configuration with another cniVersion gets error 1.
const std::vector<std::string>& supportedVersions();
bool isSupportedVersion(std::string_view version);
inline constexpr std::string_view kLatestVersion = "1.1.0";
// STATUS and GC are 1.1.0 commands: a 1.0.0 configuration cannot ask for them.
bool versionHasStatusAndGc(std::string_view version);

enum class Command { Add, Del, Check, Status, Gc, Version };
std::string_view commandName(Command command);               // "ADD", "DEL", ...
std::optional<Command> parseCommand(std::string_view name);  // exact, upper case, as CNI_COMMAND

// The spec's error codes (SPEC.md, "Error"); 100 and up are sluice's own.
enum ErrorCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  kNotAvailable = 50,         // STATUS: cannot service ADD
  kLimitedConnectivity = 51,  // STATUS: and existing pods may have limited connectivity
  kProtocolMismatch = 100,    // sluice-cni and the agent speak different protocol versions
  kInternal = 999,            // the agent's handler failed unexpectedly
};

struct Error {
  int code = 0;
  std::string msg;      // what happened and what to do, one sentence a person can act on
  std::string details;  // optional: longer context
};

// An ADD result, independent of the CNI version it is printed in: the 1.1.0
// fields. renderResult drops what an older version does not define.
struct Interface {
  std::string name;
  std::string mac;
  uint32_t mtu = 0;        // 0: not set (1.1.0 only)
  std::string sandbox;     // the netns path for the pod's end, empty on the host
  std::string socketPath;  // 1.1.0 only
  std::string pciID;       // 1.1.0 only
  bool operator==(const Interface&) const = default;
};

struct IpConfig {
  std::string address;                // CIDR, "10.244.1.7/32"
  std::string gateway;                // empty: none
  std::optional<uint32_t> interface;  // index into Result::interfaces
  bool operator==(const IpConfig&) const = default;
};

struct Route {
  std::string dst;  // CIDR
  std::string gw;   // empty: none
  // 1.1.0 only; 0 / unset: not set.
  uint32_t mtu = 0;
  uint32_t advmss = 0;
  uint32_t priority = 0;
  std::optional<uint32_t> table;
  std::optional<uint32_t> scope;
  bool operator==(const Route&) const = default;
};

struct Dns {
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;
  bool empty() const { return nameservers.empty() && domain.empty() && search.empty() && options.empty(); }
  bool operator==(const Dns&) const = default;
};

struct Result {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<Route> routes;
  Dns dns;
  bool operator==(const Result&) const = default;
};

// The version-neutral form (the 1.1.0 shape without "cniVersion"; unset
// fields left out): what the agent sends and what a prevResult is read into.
nlohmann::json resultToJson(const Result& result);
// Reads the version-neutral form or a 1.0.0/1.1.0 result ("cniVersion" and
// unknown keys, like 0.x's "version" in ips, are ignored). False with
// `problem` naming the field when it is malformed.
bool resultFromJson(const nlohmann::json& json, Result& out, std::string& problem);
// Addresses that parse, interface indexes in range: empty, or what is wrong.
std::string checkResult(const Result& result);
// `prev` then `own`: what a plugin given a prevResult on ADD prints. The own
// result's interface indexes move past prev's interfaces; its DNS wins when set.
Result mergeResults(const Result& prev, const Result& own);

// What the runtime prints and parses: the ADD result, the error object and
// the VERSION answer, with "cniVersion" first.
nlohmann::ordered_json renderResult(const Result& result, std::string_view cniVersion);
nlohmann::ordered_json renderError(const Error& error, std::string_view cniVersion);
nlohmann::ordered_json renderVersion(std::string_view cniVersion);

// The spec's rules for the attachment parameters: empty when valid, else why not.
// Container ID and network name: [a-zA-Z0-9][a-zA-Z0-9_.-]*. Interface name:
// non-empty, at most 15 bytes, not "." or "..", no '/', ':' or white space.
std::string containerIdProblem(std::string_view id);
std::string interfaceNameProblem(std::string_view name);
std::string networkNameProblem(std::string_view name);

// The pod a request is for, from CNI_ARGS; all empty when the runtime passes
// none (`ctr run --cni` does not).
struct PodArgs {
  std::string podNamespace;      // K8S_POD_NAMESPACE
  std::string podName;           // K8S_POD_NAME
  std::string infraContainerID;  // K8S_POD_INFRA_CONTAINER_ID
  std::string podUID;            // K8S_POD_UID
  bool empty() const { return podNamespace.empty() && podName.empty() && infraContainerID.empty() && podUID.empty(); }
  bool operator==(const PodArgs&) const = default;
};

// CNI_ARGS, "K=V;K2=V2": the four K8S_POD_* keys above are read; any other key
// is an error unless IgnoreUnknown is true ("1", "true", "True"), as the
// reference plugins do. Empty pairs (";;", a trailing ';') are skipped.
// False with `problem` (for error 4).
bool parseCniArgs(std::string_view text, PodArgs& out, std::string& problem);

// "pod shop/cart-1" or "container default-c1" for messages.
std::string describeAttachment(const PodArgs& pod, std::string_view containerID);

}  // namespace sluice::cni
