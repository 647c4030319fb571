// One registration function per command; main.cpp lists them.
#pragma once

#include <CLI/CLI.hpp>

namespace sluice::cli {

void registerIr(CLI::App& app);
void registerCompile(CLI::App& app);
void registerVerify(CLI::App& app);
void registerTrace(CLI::App& app);
void registerReach(CLI::App& app);
void registerDiff(CLI::App& app);
void registerTest(CLI::App& app);
void registerAgent(CLI::App& app);

}  // namespace sluice::cli
