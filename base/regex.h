// Regular expressions of CiliumNetworkPolicy L7 rules, parsed into an AST.
//
// Cilium hands an HTTP rule's `method`, `path` and `host` to Envoy as
// `safe_regex` matchers with the Google RE2 engine (pkg/envoy xds_server.go,
// getHTTPRule), and Envoy matches them with RE2::FullMatch: the pattern must
// match the WHOLE value (source/common/common/regex.h). Cilium also compiles
// `path` and `method` with Go's regexp (RE2 syntax) when it sanitizes a
// policy (pkg/policy/api/http.go). sluice compiles the patterns per node into
// automata (codegen/l7/dfa.h); no regex is interpreted at run time.
//
// The syntax is RE2's default (Perl-like, UTF-8, `^`/`$` at the ends of the
// text only, `.` not matching `\n`, negated classes matching it), with:
//   literals (UTF-8), `.`, `[...]` / `[^...]` with ranges, escapes and the
//   ASCII classes `[:alnum:]` ... `[:xdigit:]` (and `[:^name:]`),
//   `\d \w \s \D \W \S` (ASCII; `\s` is [\t\n\f\r ], without \v),
//   escapes of any ASCII punctuation (`\.` `\/` `\\` `\-` ...),
//   `\t \n \r \f \v \a`, `\xHH` and `\x{H...}` (code points), octal `\0`,
//   `\012`, `\Q...\E`, `* + ? {m} {m,} {m,n}` and their non-greedy forms
//   (the same language), `|`, groups `( )`, `(?: )`, `(?P<name> )`,
//   `(?<name> )`, anchors `^ $ \A \z` anywhere (they assert the start / end
//   of the value: `a^b` matches nothing), flags `(?i)` `(?s)` `(?U)` and
//   their negations anywhere (to the end of the group) or scoped `(?i: )`.
// `(?i)` folds as RE2 does for ASCII: a-z with A-Z, plus U+212A KELVIN SIGN
// with k and U+017F LONG S with s. A `{` that starts no valid repetition
// is a literal, as in RE2. `Regex::exact` builds a byte string instead.
//
// Refused, with the column of the offending character and a sentence to act
// on: what RE2 refuses (backreferences, lookaround, `**`, counts above 1000,
// nested counts whose product exceeds 1000, invalid escapes and ranges,
// invalid UTF-8, unbalanced brackets), and what sluice does not compile:
// `\b \B` (word boundaries), `(?m)` (multi-line; HTTP values have no line
// breaks), `\pN \p{...}` (Unicode classes), `\C` (any byte; Go's regexp
// refuses it), `(?i)` applied to other non-ASCII characters, groups nested
// deeper than kRegexMaxNesting, and patterns of more than
// kRegexMaxPositions character positions once counted repetitions are
// expanded.
//
// Envoy also refuses regexes whose RE2 program is larger than its
// `re2.max_program_size.error_level` (100 by default); sluice does not
// model RE2's program size. Its own bound is the automaton's state limit
// (codegen/l7/dfa.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// RE2's limit on a repetition count, and on the product of nested counts.
inline constexpr int kRegexMaxRepeat = 1000;
// sluice's limits: character positions after expanding counted repetitions
// (`[a-z]{100}` is 100), and the depth of nested groups.
inline constexpr uint32_t kRegexMaxPositions = 10000;
inline constexpr uint32_t kRegexMaxNesting = 100;

struct RegexError {
  uint32_t column = 0;  // 1-based, in characters of the pattern; 0 if none
  std::string message;  // a sentence a person acts on
};

enum class RegexOp : uint8_t {
  Empty,      // matches the empty string
  Chars,      // one code point of `ranges` (UTF-8 encoded in the input)
  Bytes,      // one byte of `ranges` (exact values, see Regex::exact)
  Concat,     // subs in order
  Alternate,  // any of subs
  Repeat,     // subs[0], min..max times (max -1: unbounded)
  BeginText,  // asserts the start of the value (^, \A)
  EndText,    // asserts the end of the value ($, \z)
};

struct RegexRange {
  uint32_t lo = 0, hi = 0;  // inclusive
  bool operator==(const RegexRange&) const = default;
};

struct RegexNode {
  RegexOp op = RegexOp::Empty;
  // 1-based column in the pattern where the node starts; for Repeat, the
  // column of its operator (`*`, `{`...). 0 for nodes not from a pattern.
  uint32_t column = 0;
  std::vector<RegexRange> ranges;  // Chars / Bytes: sorted, disjoint, not adjacent
  std::vector<uint32_t> subs;      // indices into Regex::nodes
  int32_t min = 0, max = -1;       // Repeat
  bool greedy = true;              // Repeat; the language is the same either way
};

// A parsed pattern: nodes own their children by index (an arena).
struct Regex {
  std::string pattern;  // as written (for diagnostics); empty for exact()
  std::vector<RegexNode> nodes;
  uint32_t root = 0;

  // The exact byte string `value` (an HTTP header value, a Kafka topic or
  // client ID); `ignoreAsciiCase` for header names.
  static Regex exact(std::string_view value, bool ignoreAsciiCase = false);

  // Stable text: the pattern, then the tree as s-expressions, e.g.
  //   regex "a+|b"
  //   (alt (rep 1 inf 'a') 'b')
  std::string dump() const;
};

// Parses `pattern` (RE2 syntax, matched against the whole value). On error
// returns nullopt and fills `error`.
std::optional<Regex> parseRegex(std::string_view pattern, RegexError& error);

}  // namespace sluice
