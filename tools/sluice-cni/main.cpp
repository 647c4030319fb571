// sluice-cni: the CNI plugin of sluice. Container runtimes run it with
// CNI_COMMAND and friends in the environment and the network configuration on
// stdin; it asks the node's `sluice agent` to do the work (runtime/cni/) and
// prints the CNI result or error. docs/cni.md is the reference.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/cni/cni.h"
#include "runtime/cni/plugin.h"
#include "runtime/pod_network.h"

namespace {

// The configuration (with a prevResult) is a few kilobytes; the request that
// carries it to the agent must stay under the protocol's 1 MiB.
constexpr size_t kMaxStdinBytes = size_t{512} << 10;

void readStdin(sluice::cni::Invocation& inv) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      inv.stdinProblem = std::strerror(errno);
      return;
    }
    if (n == 0) return;
    inv.stdinData.append(buf, static_cast<size_t>(n));
    if (inv.stdinData.size() > kMaxStdinBytes) {
      inv.stdinProblem = fmt::format("it is over {} KiB", kMaxStdinBytes >> 10);
      return;
    }
  }
}

// DEL when the agent is unreachable: delete the host end of the pod's veth
// (which takes the pod end, its routes and neighbours with it). The agent
// releases the address when it starts again.
std::string deleteHostInterface(const std::string& containerID, const std::string& ifname) {
  std::string host = sluice::runtime::hostInterfaceName(containerID, ifname);
  std::string error;
  if (!sluice::runtime::deletePodInterface(host, error)) return fmt::format("could not delete {}: {}", host, error);
  return fmt::format("host interface {} is gone", host);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {  // runtimes pass no arguments: this is a person
    std::string arg = argv[1];
    std::FILE* to = arg == "--help" || arg == "-h" || arg == "--version" ? stdout : stderr;
    fmt::print(to,
               "sluice-cni: the CNI plugin of sluice. Container runtimes run it with CNI_COMMAND, "
               "CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and CNI_PATH set and the network configuration on "
               "stdin; it hands the request to `sluice agent` on this node.\nCNI versions: {}\nSee docs/cni.md.\n",
               fmt::join(sluice::cni::supportedVersions(), ", "));
    return to == stdout ? 0 : 2;
  }
  sluice::cni::Invocation inv;
  for (const char* name : {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"})
    if (const char* v = std::getenv(name); v && *v) inv.env[name] = v;
  // VERSION's input is optional; do not wait on a terminal for it.
  auto command = inv.env.find("CNI_COMMAND");
  bool version = command != inv.env.end() && command->second == "VERSION";
  if (!version || !::isatty(STDIN_FILENO)) readStdin(inv);
  inv.localDelCleanup = deleteHostInterface;

  sluice::cni::PluginOutput out = sluice::cni::runPlugin(inv);
  std::fwrite(out.out.data(), 1, out.out.size(), stdout);
  std::fflush(stdout);
  std::fwrite(out.err.data(), 1, out.err.size(), stderr);
  if (std::string problem = sluice::cni::appendLog(out); !problem.empty())
    fmt::print(stderr, "sluice-cni: {}\n", problem);
  return out.exitStatus;
}
