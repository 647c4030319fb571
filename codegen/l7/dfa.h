// Multi-pattern DFAs for L7 rule fields (HTTP method, path, host, header
// names; Kafka client ID, topic): the patterns of one field, compiled per
// node into one minimized automaton over bytes. No regex is interpreted at
// run time: the BPF program walks these tables.
//
//   Thompson NFA per pattern (base/regex.h AST; code points as UTF-8 byte
//   sequences the way RE2 compiles them) -> subset construction over the
//   NFA's byte classes -> Hopcroft minimization (states with different
//   accept masks stay apart) -> byte equivalence classes (bytes with
//   identical transitions everywhere share a class) -> canonical numbering.
//
// A state's accept mask has bit i set when patterns[i] matches the WHOLE
// input if it ends there (RE2::FullMatch, as Envoy matches Cilium's HTTP
// rules). A rule allows a request when the masks of all its fields meet.
//
// Limits (each refused with DfaError, naming the pattern that alone exceeds
// it, when one does): at most 64 patterns per automaton; at most
// DfaOptions::maxBuildStates states during subset construction (65,536) and
// DfaOptions::maxStates after minimization (4,096), so `next` fits 16 bits.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/regex.h"

namespace sluice::l7 {

inline constexpr size_t kDfaMaxPatterns = 64;

struct DfaOptions {
  uint32_t maxStates = 4096;        // after minimization
  uint32_t maxBuildStates = 65536;  // during subset construction
  // Pad `states` and `classes` to powers of two, so BPF indexes `next` with
  // masks (next[(state & (states-1)) * classes | byteClass[b]]); padding
  // rows and columns lead to `dead`.
  bool padToPowerOfTwo = false;
};

struct DfaError {
  int pattern = -1;  // the pattern that alone exceeds a limit; -1: only all of them together
  std::string message;
};

struct DfaTables {
  uint32_t states = 0, classes = 0;   // dimensions of `next` (padded if asked)
  uint32_t usedStates = 0, usedClasses = 0;  // before padding
  std::array<uint8_t, 256> byteClass{};
  std::vector<uint16_t> next;    // states x classes, row-major
  std::vector<uint64_t> accept;  // per state: bit i = patterns[i] matches the whole input
  // `dead` (always 0) accepts nothing and never leaves; `start` is 1 unless
  // no input at all can match (then start == dead). The other states are
  // numbered breadth-first from start, classes by their lowest byte: the
  // tables of equal languages are byte-identical.
  uint16_t start = 0, dead = 0;

  // Stable text: sizes, each class's bytes, each state's row and mask.
  std::string dump() const;
};

// One automaton for `patterns` (at most kDfaMaxPatterns; bit i = patterns[i]).
std::optional<DfaTables> buildDfa(std::span<const Regex> patterns, DfaError& error,
                                  const DfaOptions& options = {});

// Runs the tables over `input` in software (tests, the reference side):
// `mask` receives the accept mask of the state reached; true if it is not 0.
bool matches(const DfaTables& dfa, std::string_view input, uint64_t& mask);

}  // namespace sluice::l7
