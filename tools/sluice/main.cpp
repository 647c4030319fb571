// sluice: compile Kubernetes cluster state to per-node eBPF programs.
#include <sys/resource.h>

#include <iostream>

#include "tools/sluice/cli_common.h"
#include "tools/sluice/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "sluice compiles the networking state of a Kubernetes cluster (pods, namespaces, nodes, services,\n"
      "endpoint slices, NetworkPolicy, CiliumNetworkPolicy) into one specialized eBPF program per node.\n"
      "Inputs are manifests: YAML or JSON files, directories, or - for stdin.",
      "sluice"};
  // Every loaded program and map is a descriptor: `reach` and `diff` on a
  // large cluster hold thousands. The soft limit (often 1024) rises to the hard one.
  if (rlimit nofile{}; ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  app.set_version_flag("--version", "sluice 0.1.0");
  app.require_subcommand(1);
  sluice::cli::registerIr(app);
  sluice::cli::registerCompile(app);
  sluice::cli::registerVerify(app);
  sluice::cli::registerTrace(app);
  sluice::cli::registerReach(app);
  sluice::cli::registerDiff(app);
  sluice::cli::registerTest(app);
  sluice::cli::registerAgent(app);
  app.footer("Run 'sluice COMMAND --help' for a command's options.\n"
             "Exit status: 0 success, 1 invalid input (diagnostics on stderr), 2 bad command line.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : sluice::cli::kExitUsage;
  } catch (const std::exception& e) {
    // Never a raw crash: anything unexpected is an internal error with a message.
    std::cerr << "sluice: internal error: " << e.what() << "\n";
    return 70;
  }
  return 0;
}
