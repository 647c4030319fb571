// One registration function per command; main.cpp lists them.
#pragma once

#include <CLI/CLI.hpp>

namespace sluice::cli {

void registerIr(CLI::App& app);

}  // namespace sluice::cli
