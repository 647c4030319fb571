// Runs a command line through the shell, as a user would, and collects what
// it prints: for the tests that check the built `sluice` binary and the
// field's own tools (bpftool, tc) on its objects.
#pragma once

#include <string>

namespace sluice::testing {

struct CommandResult {
  int status = -1;  // exit status, or -1 when it did not exit normally (or could not start)
  std::string out;  // its standard output; add " 2>&1" to the line for its errors too
};

CommandResult runCommand(const std::string& line);

}  // namespace sluice::testing
