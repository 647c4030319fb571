// sluice-cni's whole job, apart from gathering its environment and stdin
// (tools/sluice-cni/main.cpp): check the inputs as the CNI spec says, hand the
// request to the node's `sluice agent` (protocol.h), and turn its answer into
// the CNI result or error the runtime reads. docs/cni.md is the reference.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace sluice::cni {

struct Invocation {
  // The CNI_* variables that are set; an empty value counts as unset, as in
  // the reference implementation.
  std::map<std::string, std::string> env;
  std::string stdinData;
  std::string stdinProblem;  // set when stdin could not be read (error 5)
  // The plugin's own network namespace, which CNI_NETNS must not name.
  std::string ownNetns = "/proc/self/ns/net";
  // DEL when the agent is unreachable: remove what can be removed on the
  // node (the host end of the pod's veth). Returns what it did, for stderr
  // and the log; may be empty (nothing is cleaned up then).
  std::function<std::string(const std::string& containerID, const std::string& ifname)> localDelCleanup;
};

struct PluginOutput {
  int exitStatus = 0;
  std::string out;      // stdout: the ADD result, VERSION's answer, or the CNI error object
  std::string err;      // stderr: notes for a person
  std::string logFile;  // the configuration's "logFile", when set and readable
  std::string logLine;  // one line about this call, for logFile
};

PluginOutput runPlugin(const Invocation& invocation);

// Appends output.logLine to output.logFile (when set). Empty, or why not.
std::string appendLog(const PluginOutput& output);

}  // namespace sluice::cni
