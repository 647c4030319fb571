#include "tests/testing/command.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace sluice::testing {

CommandResult runCommand(const std::string& line) {
  CommandResult r;
  FILE* p = ::popen(line.c_str(), "r");
  if (!p) return r;
  std::array<char, 65536> buf;
  for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;) r.out.append(buf.data(), n);
  int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace sluice::testing
