// Golden-file comparison. Set SLUICE_UPDATE_GOLDEN=1 to rewrite the expected
// files from the actual output instead of comparing.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace sluice::testing {

// Path relative to tests/testdata.
std::string testdataPath(const std::string& relative);
std::string readFile(const std::string& path);
bool updatingGolden();

// Compares `actual` with the golden file (relative to tests/testdata).
::testing::AssertionResult matchesGolden(const std::string& actual, const std::string& goldenRelative);

}  // namespace sluice::testing
