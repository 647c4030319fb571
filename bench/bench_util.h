// Helpers the benchmarks share (sluice_bench, sluice_svc_bench, sluice_compile_bench,
// sluice_kubeproxy_bench): the empty tc program every figure is compared with,
// emptying the tracking map between runs, medians, the command line echoed
// into the reports, and their --json files (read by tools/bench-report).
#pragma once

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "codegen/datapath/sluice_abi.h"

namespace sluice::bench {

using Clock = std::chrono::steady_clock;
inline double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// `r0 = TC_ACT_OK; exit`, as a tc program: the floor every figure is compared to.
inline int loadEmptyProgram() {
  bpf_insn insns[2]{};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0 (TC_ACT_OK)
  insns[1].code = BPF_JMP | BPF_EXIT;
  return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "sluice_empty", "GPL", insns, 2, nullptr);
}

// Empties the tracking map, so every "new" packet meets no entry and every run
// starts from the same map.
inline void clearCt(int fd) {
  std::vector<sluice_ct_key> keys(1);
  for (sluice_ct_key next{}; bpf_map_get_next_key(fd, keys.size() > 1 ? &keys.back() : nullptr, &next) == 0;)
    keys.push_back(next);
  for (size_t i = 1; i < keys.size(); ++i) bpf_map_delete_elem(fd, &keys[i]);
}

inline std::string shellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,=:") ==
                        std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The command line as typed, quoted for a shell (reports quote it back).
inline std::string commandLine(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + shellQuote(argv[i]);
  return command;
}

// One option of the benches' "--name VALUE" / "--name=VALUE" command lines,
// starting at argv[i] (i is left on its last word). Returns 0 for an option
// with its value, 1 for -h/--help, 2 (after saying so) when the value is missing.
inline int nextOption(int argc, char** argv, int& i, std::string& name, std::string& value, const char* program,
                      const char* usage) {
  name = argv[i];
  value.clear();
  if (name == "-h" || name == "--help") return 1;
  if (size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
    value = name.substr(eq + 1);
    name = name.substr(0, eq);
  } else if (i + 1 < argc) {
    value = argv[++i];
  } else {
    std::fprintf(stderr, "%s: %s needs a value\n\n%s", program, name.c_str(), usage);
    return 2;
  }
  return 0;
}

template <typename T>
bool parseNumber(const std::string& s, T& out, T min, T max) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max) return false;
  out = v;
  return true;
}

// Writes a bench's --json file: {"bench", "command", "kernel", "cpus"} and `figures`
// merged in. Prints why and returns false when it cannot.
inline bool writeJsonFile(const std::string& path, const char* bench, const std::string& command,
                          nlohmann::json figures) {
  utsname u{};
  ::uname(&u);
  nlohmann::json j = {{"bench", bench}, {"command", command}, {"kernel", u.release},
                      {"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)}};
  j.update(figures);
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) std::fprintf(stderr, "%s: cannot write %s\n", bench, path.c_str());
  return bool(out);
}

}  // namespace sluice::bench
