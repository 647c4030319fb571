#include "tests/testing/golden.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sluice::testing {

std::string testdataPath(const std::string& relative) { return std::string(SLUICE_TESTDATA_DIR) + "/" + relative; }

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool updatingGolden() {
  const char* v = std::getenv("SLUICE_UPDATE_GOLDEN");
  return v && *v && std::string(v) != "0";
}

::testing::AssertionResult matchesGolden(const std::string& actual, const std::string& goldenRelative) {
  std::string path = testdataPath(goldenRelative);
  if (updatingGolden()) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << actual;
    return ::testing::AssertionSuccess();
  }
  if (!std::filesystem::exists(path))
    return ::testing::AssertionFailure() << "golden file " << path
                                         << " is missing; run with SLUICE_UPDATE_GOLDEN=1 to create it";
  std::string expected = readFile(path);
  if (expected == actual) return ::testing::AssertionSuccess();
  // Point at the first differing line so the failure is readable.
  std::istringstream e(expected), a(actual);
  std::string el, al;
  int line = 1;
  while (true) {
    bool me = bool(std::getline(e, el)), ma = bool(std::getline(a, al));
    if (!me && !ma) break;
    if (!me || !ma || el != al)
      return ::testing::AssertionFailure() << "output differs from " << path << " at line " << line
                                           << "\n  expected: " << (me ? el : "<end of file>")
                                           << "\n  actual:   " << (ma ? al : "<end of output>")
                                           << "\n(SLUICE_UPDATE_GOLDEN=1 rewrites the golden file)";
    ++line;
  }
  return ::testing::AssertionFailure() << "output differs from " << path << " (line endings?)";
}

}  // namespace sluice::testing
