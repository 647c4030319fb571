// The objects `sluice compile` writes load with the field's own tools, not
// only with sluice's loader: `bpftool prog loadall … type tc` and iproute2's
// `tc filter … bpf obj X.o sec tc/<program>`. In both datapath modes: a
// generic object's policy tables (its .sluice.tables section, which only
// sluice's loader reads) do not stop another loader, which loads it with
// empty tables (fail closed: docs/datapath.md, "Generic mode").
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "codegen/codegen.h"
#include "codegen/datapath/sluice_abi.h"
#include "frontend/manifest_loader.h"
#include "ir/lower.h"
#include "runtime/loader.h"
#include "tests/testing/command.h"
#include "tests/testing/datapath_modes.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

// Runs a shell command, returns its exit status and output (errors included).
int run(const std::string& command, std::string& output) {
  testing::CommandResult r = testing::runCommand(command + " 2>&1");
  output = std::move(r.out);
  return r.status;
}

struct Compiled {
  fs::path dir;
  std::string object;
  std::vector<codegen::ProgramInfo> programs;
};

Compiled compileSampleNode(codegen::DatapathMode mode) {
  auto loaded = loadCluster({"samples/microservices"});
  EXPECT_TRUE(loaded.ok()) << loaded.diags.render();
  Diagnostics diags;
  ir::Program program = ir::lower(loaded.state, diags);
  const ir::NodeProgram& node = program.nodes.at(0);
  codegen::CompileOptions options;
  options.datapath = mode;
  codegen::CompiledNode c = codegen::compileNode(program, node, options, diags);
  EXPECT_FALSE(c.object.empty()) << diags.render();
  Compiled out;
  out.dir = fs::temp_directory_path() / ("sluice-loaders-" + std::to_string(::getpid()));
  fs::create_directories(out.dir);
  out.object = (out.dir / (node.node + ".o")).string();
  std::ofstream(out.object, std::ios::binary).write(c.object.data(), std::streamsize(c.object.size()));
  out.programs = c.programs;
  return out;
}

using Loaders = testing::InBothDatapathModes;
SLUICE_IN_BOTH_DATAPATH_MODES(Loaders);

TEST_P(Loaders, BpftoolLoadsEveryProgram) {
  ASSERT_EQ(::geteuid(), 0u) << "kernel tests must run as root";
  ASSERT_EQ(runtime::ensureBpffs(), "");
  Compiled c = compileSampleNode(mode());
  std::string pins = "/sys/fs/bpf/sluice-bpftool-" + std::to_string(::getpid());
  // bpftool has no pin root: the maps pinned by name land at the bpffs root.
  // Remove afterwards only those this test created.
  std::vector<fs::path> created;
  for (const char* m : {SLUICE_MAP_CT, SLUICE_MAP_IPCACHE, SLUICE_MAP_COUNTERS, SLUICE_MAP_SERVICES,
                        SLUICE_MAP_BACKENDS, SLUICE_MAP_AFFINITY})
    if (!fs::exists(fs::path("/sys/fs/bpf") / m)) created.push_back(fs::path("/sys/fs/bpf") / m);
  std::string out;
  int status = run("bpftool prog loadall " + c.object + " " + pins + " type tc", out);
  size_t pinned = 0;
  if (fs::exists(pins))
    for (const auto& e : fs::directory_iterator(pins)) pinned += e.is_regular_file() || e.is_other() ? 1 : 0;
  std::error_code ec;
  fs::remove_all(pins, ec);
  for (const auto& p : created) fs::remove(p, ec);
  fs::remove_all(c.dir, ec);
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(pinned, c.programs.size()) << out;
}

TEST_P(Loaders, IproutePicksAProgramBySection) {
  ASSERT_EQ(::geteuid(), 0u) << "kernel tests must run as root";
  Compiled c = compileSampleNode(mode());
  std::string ns = "sl-loaders-" + std::to_string(::getpid());
  std::string out;
  ASSERT_EQ(run("ip netns add " + ns, out), 0) << out;
  auto in = [&](const std::string& cmd) { return run("ip netns exec " + ns + " " + cmd, out); };
  int status = in("ip link add v0 type veth peer name v1");
  if (status == 0) status = in("tc qdisc add dev v0 clsact");
  const codegen::ProgramInfo& prog = c.programs.back();
  if (status == 0)
    status = in("tc filter add dev v0 egress bpf da obj " + c.object + " sec tc/" + prog.name);
  std::string shown;
  if (status == 0) in("tc filter show dev v0 egress"), shown = out;
  std::string ignored;
  run("ip netns del " + ns, ignored);
  std::error_code ec;
  fs::remove_all(c.dir, ec);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(shown.find("tc/" + prog.name), std::string::npos) << shown;
}

}  // namespace
}  // namespace sluice
