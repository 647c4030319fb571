// The regex parser (base/regex.h) and the multi-pattern DFA compiler
// (codegen/l7/dfa.h): refusals with their columns, every construct, masks,
// minimality, byte classes, limits, and a differential test against
// std::regex on random patterns.
#include <gtest/gtest.h>

#include <bitset>
#include <chrono>
#include <map>
#include <cstdio>
#include <random>
#include <regex>
#include <set>

#include "base/regex.h"
#include "codegen/l7/dfa.h"

namespace sluice::l7 {
namespace {

Regex parse(std::string_view pattern) {
  RegexError e;
  auto r = parseRegex(pattern, e);
  EXPECT_TRUE(r.has_value()) << pattern << ": column " << e.column << ": " << e.message;
  return r ? std::move(*r) : Regex::exact("");
}

DfaTables dfaOf(const std::vector<Regex>& patterns, const DfaOptions& options = {}) {
  DfaError e;
  auto t = buildDfa(patterns, e, options);
  EXPECT_TRUE(t.has_value()) << e.message;
  return t ? std::move(*t) : DfaTables{};
}

DfaTables dfaOf(std::initializer_list<std::string_view> patterns, const DfaOptions& options = {}) {
  std::vector<Regex> res;
  for (auto p : patterns) res.push_back(parse(p));
  return dfaOf(res, options);
}

uint64_t maskOf(const DfaTables& t, std::string_view input) {
  uint64_t m = 0;
  matches(t, input, m);
  return m;
}

bool full(std::string_view pattern, std::string_view input) {
  return maskOf(dfaOf({pattern}), input) != 0;
}

// ---- refusals -------------------------------------------------------------

struct Refusal {
  std::string pattern;
  uint32_t column;
  std::string says;
};

TEST(RegexParse, RefusesWithColumnAndReason) {
  std::string deep = std::string(101, '(') + "a" + std::string(101, ')');
  std::string wide;
  for (int i = 0; i < 11; ++i) wide += "x{1000}";
  const std::vector<Refusal> cases = {
      {"a(b", 2, "missing ')' for the group opened here"},
      {"a)b", 2, "unexpected ')'"},
      {"[a-z", 1, "missing ']' for the class opened here"},
      {"*a", 1, "'*' has nothing to repeat"},
      {"a|+", 3, "'+' has nothing to repeat"},
      {"a**", 3, "follows another repetition operator"},
      {"a+{2}", 3, "follows another repetition operator"},
      {"a{1001}", 2, "repetition count '{1001}' is above RE2's limit of 1000"},
      {"(a{10}){101}", 8, "more than 1000 times"},
      {"a{5,2}", 2, "the minimum is above the maximum; write {2,5}"},
      {"ab\\1", 3, "backreferences"},
      {"(a)\\9", 4, "backreferences"},
      {"(?=a)b", 1, "lookahead '(?='"},
      {"(?!a)b", 1, "lookahead '(?!'"},
      {"(?<=a)b", 1, "lookbehind '(?<='"},
      {"(?<!a)b", 1, "lookbehind '(?<!'"},
      {"(?P=n)", 1, "named backreferences"},
      {"x\\q", 2, "invalid escape sequence '\\q'"},
      {"abc\\", 4, "trailing backslash"},
      {"[z-a]", 2, "invalid character class range 'z-a'"},
      {"\\bfoo", 1, "word boundaries"},
      {"a\\B", 2, "word boundaries"},
      {"(?m)^a$", 3, "multi-line mode (?m) is not supported"},
      {"\\pL", 1, "Unicode classes"},
      {"[\\p{Greek}]", 2, "Unicode classes"},
      {"\\C", 1, "\\C (any byte)"},
      {"a\\Z", 2, "\\Z is not an escape RE2 accepts"},
      {"(?i)caf\xC3\xA9", 8, "non-ASCII character"},
      {"\xC3\xA9(", 2, "missing ')'"},
      {"ab\xFF", 3, "not valid UTF-8 here (byte 0xFF)"},
      {"[[:foo:]]", 2, "unknown character class '[:foo:]'"},
      {"\\x{110000}", 1, "above U+10FFFF"},
      {"\\xZ1", 1, "two hex digits"},
      {"\\x{}", 1, "hex digits between braces"},
      {"(?x)", 3, "unknown flag"},
      {"(?)", 1, "empty flag group"},
      {"(?i-)", 5, "must be followed by a flag"},
      {"(?P<>a)", 5, "invalid group name"},
      {"(?P<a", 1, "no closing '>'"},
      {deep, 101, "nested more than 100 deep"},
      {wide, 2, "11000 character positions"},
      {"[a-z]{1000}{2}", 12, "follows another repetition operator"},
      {"(?:[a-z]{1000}){10}", 16, "more than 1000 times"},
  };
  for (const auto& c : cases) {
    RegexError e;
    auto r = parseRegex(c.pattern, e);
    EXPECT_FALSE(r.has_value()) << c.pattern;
    EXPECT_EQ(e.column, c.column) << c.pattern << ": " << e.message;
    EXPECT_NE(e.message.find(c.says), std::string::npos) << c.pattern << ": " << e.message;
  }
}

TEST(RegexParse, AcceptsWhatRe2Accepts) {
  // A '{' that starts no repetition is a literal; escaped punctuation is
  // itself; empty branches and groups are allowed; flags anywhere.
  for (std::string p : {"a{", "a{,2}", "{", "a{01}", "x{a}", "\\_\\/\\-\\.\\\\", "a|", "()",
                        "(|a)b", "a(?i)b", "(?i:a)b", "(?s).", "(?U)a+", "(?-m)a", "(?is-U:a)",
                        "(?P<name>a)", "(?<name>a)", "[]a]", "[^]a]", "[a-]", "[a-b-c]",
                        "^*a", "\\Qa*b\\E", "\\Q", "[[:alpha:][:^digit:]]", "x{0}", "\\0\\012",
                        "a{2}?", "a*?", "\\x{1F600}"}) {
    RegexError e;
    EXPECT_TRUE(parseRegex(p, e).has_value()) << p << ": " << e.message;
  }
}

TEST(RegexParse, DumpIsStable) {
  EXPECT_EQ(parse("/api/v[0-9]+(/x)?|GE.").dump(),
            "regex \"/api/v[0-9]+(/x)?|GE.\"\n"
            "(alt (cat \"/api/v\" (rep 1 inf [0-9]) (rep 0 1 (cat \"/x\"))) "
            "(cat \"GE\" [\\x00-\\t\\x0B-\\x{10FFFF}]))\n");
  EXPECT_EQ(parse("(?i)a*?\\d{2,}$").dump(),
            "regex \"(?i)a*?\\\\d{2,}$\"\n"
            "(cat (rep 0 inf lazy [Aa]) (rep 2 inf [0-9]) (end))\n");
  EXPECT_EQ(Regex::exact("Host", true).dump(),
            "regex \"\"\n(cat b[Hh] b[Oo] b[Ss] b[Tt])\n");
}

TEST(RegexParse, RandomTextIsParsedOrRefusedCleanly) {
  // Regex-ish soup: every pattern parses or is refused with a column inside
  // it, and what parses compiles (under small limits) without surprises.
  std::mt19937_64 rng(7);
  const std::string soup = "ab.*+?{}[]()|^$\\-,:0123dDsSwWxQEPpiUm=!<>'\xC3\xA9\n";
  DfaOptions small;
  small.maxBuildStates = 2000;
  small.maxStates = 500;
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string p;
    int len = int(rng() % 12);
    for (int k = 0; k < len; ++k) p += soup[rng() % soup.size()];
    RegexError e;
    auto r = parseRegex(p, e);
    if (!r) {
      EXPECT_GE(e.column, 1u) << p;
      EXPECT_LE(e.column, p.size() + 1) << p;
      EXPECT_FALSE(e.message.empty()) << p;
      continue;
    }
    ++parsed;
    DfaError de;
    std::vector<Regex> one = {std::move(*r)};
    if (auto t = buildDfa(one, de, small)) {
      uint64_t m;
      matches(*t, p, m);
    } else {
      EXPECT_FALSE(de.message.empty());
    }
  }
  EXPECT_GT(parsed, 2000);
}

// ---- constructs -------------------------------------------------------------

TEST(RegexDfa, Literals) {
  EXPECT_TRUE(full("abc", "abc"));
  EXPECT_FALSE(full("abc", "abcd"));
  EXPECT_FALSE(full("abc", "ab"));
  EXPECT_TRUE(full("", ""));
  EXPECT_FALSE(full("", "a"));
  EXPECT_TRUE(full("a{", "a{"));
  EXPECT_TRUE(full("a{,2}", "a{,2}"));
  EXPECT_TRUE(full("\\Qa.b\\E+", "a.bbb"));
  EXPECT_FALSE(full("\\Qa.b\\E+", "axb"));
  std::string escaped = std::string("./\\\t\nABA\r\f\v\a") + std::string(1, '\0');
  EXPECT_TRUE(full("\\.\\/\\\\\\t\\n\\x41\\x{42}\\101\\r\\f\\v\\a\\0", escaped));
}

TEST(RegexDfa, DotAndClasses) {
  EXPECT_TRUE(full(".", "a"));
  EXPECT_FALSE(full(".", "\n"));
  EXPECT_TRUE(full("(?s).", "\n"));
  EXPECT_FALSE(full(".", ""));
  EXPECT_FALSE(full(".", "ab"));
  EXPECT_TRUE(full("[a-c]+", "abcabc"));
  EXPECT_FALSE(full("[a-c]+", "abd"));
  EXPECT_TRUE(full("[^a-c]", "d"));
  EXPECT_TRUE(full("[^a-c]", "\n"));  // RE2: negated classes match \n
  EXPECT_FALSE(full("[^a-c]", "b"));
  EXPECT_TRUE(full("[]a]+", "]a]"));
  EXPECT_TRUE(full("[a-b-c]+", "a-c"));
  EXPECT_FALSE(full("[a-b-c]", "B"));
  EXPECT_TRUE(full("[[:alpha:]]+[[:digit:]]", "abZ9"));
  EXPECT_TRUE(full("[[:^digit:]]", "x"));
  EXPECT_FALSE(full("[[:^digit:]]", "5"));
  EXPECT_TRUE(full("[[:space:]]", "\v"));  // POSIX space has \v; Perl \s does not
  EXPECT_FALSE(full("[^\\x00-\\x{10FFFF}]", "a"));  // the empty class matches nothing
  EXPECT_TRUE(full("a|[^\\x00-\\x{10FFFF}]", "a"));
}

TEST(RegexDfa, PerlClasses) {
  EXPECT_TRUE(full("\\d+", "0123456789"));
  EXPECT_FALSE(full("\\d", "a"));
  EXPECT_TRUE(full("\\w+", "az_AZ09"));
  EXPECT_FALSE(full("\\w", "-"));
  for (std::string s : {" ", "\t", "\n", "\f", "\r"}) EXPECT_TRUE(full("\\s", s)) << int(s[0]);
  EXPECT_FALSE(full("\\s", "\v"));  // RE2's \s is [\t\n\f\r ]
  EXPECT_TRUE(full("\\D\\W\\S", "a-x"));
  EXPECT_TRUE(full("\\D", "\n"));
  EXPECT_FALSE(full("\\S", "\n"));
  EXPECT_TRUE(full("[\\d\\s]+", "1 2"));
  EXPECT_TRUE(full("[^\\d]", "x"));
}

TEST(RegexDfa, Repetitions) {
  EXPECT_TRUE(full("a{2}", "aa"));
  EXPECT_FALSE(full("a{2}", "aaa"));
  EXPECT_TRUE(full("a{2,}", "aaaaa"));
  EXPECT_FALSE(full("a{2,}", "a"));
  EXPECT_TRUE(full("a{2,3}", "aaa"));
  EXPECT_FALSE(full("a{2,3}", "aaaa"));
  EXPECT_TRUE(full("x{0}", ""));
  EXPECT_FALSE(full("x{0}", "x"));
  EXPECT_TRUE(full("a*?b", "aab"));
  EXPECT_TRUE(full("a+?", "aa"));
  EXPECT_TRUE(full("a??", ""));
  EXPECT_TRUE(full("a{2,3}?", "aaa"));
  EXPECT_TRUE(full("(ab|cd)+", "abcdab"));
  EXPECT_FALSE(full("(ab|cd)+", ""));
  EXPECT_TRUE(full("(?:x|y)z", "yz"));
  EXPECT_TRUE(full("(?P<n>a)b(?<m>c)", "abc"));
  EXPECT_TRUE(full("(a*)*", ""));
  EXPECT_TRUE(full("(a|)+b", "aab"));
  EXPECT_TRUE(full("[a-z]{1000}", std::string(1000, 'q')));
  EXPECT_FALSE(full("[a-z]{1000}", std::string(999, 'q')));
}

TEST(RegexDfa, Anchors) {
  EXPECT_TRUE(full("^abc$", "abc"));
  EXPECT_TRUE(full("\\Aabc\\z", "abc"));
  EXPECT_TRUE(full("^$", ""));
  EXPECT_FALSE(full("a^b", "ab"));
  EXPECT_FALSE(full("a$b", "ab"));
  EXPECT_TRUE(full("(^a|b)c", "ac"));
  EXPECT_TRUE(full("(^a|b)c", "bc"));
  EXPECT_FALSE(full("x(^a|b)c", "xac"));
  EXPECT_TRUE(full("x(^a|b)c", "xbc"));
  EXPECT_TRUE(full("a(b$|c)", "ab"));
  EXPECT_FALSE(full("a(b$|c)d", "abd"));
  EXPECT_TRUE(full("^*a", "a"));
  EXPECT_TRUE(full("$^", ""));
}

TEST(RegexDfa, CaseInsensitive) {
  for (std::string s : {"GET", "get", "GeT"}) EXPECT_TRUE(full("(?i)get", s)) << s;
  EXPECT_FALSE(full("(?i)get", "GEX"));
  EXPECT_TRUE(full("(?i)[a-c]+", "AbC"));
  EXPECT_FALSE(full("(?i)[^a]", "A"));
  EXPECT_TRUE(full("(?i:a)b", "Ab"));
  EXPECT_FALSE(full("(?i:a)b", "AB"));
  EXPECT_TRUE(full("(?i)a(?-i)b", "Ab"));
  EXPECT_FALSE(full("(?i)a(?-i)b", "AB"));
  EXPECT_TRUE(full("(?:(?i)a|b)", "B"));  // flags last to the end of the group
  EXPECT_FALSE(full("(?:(?i)a)b", "aB"));
  // RE2's folding adds U+212A KELVIN SIGN to k and U+017F LONG S to s.
  EXPECT_TRUE(full("(?i)k", "\xE2\x84\xAA"));
  EXPECT_TRUE(full("(?i)s", "\xC5\xBF"));
  EXPECT_FALSE(full("k", "\xE2\x84\xAA"));
  EXPECT_TRUE(full("(?i)\\w", "\xE2\x84\xAA"));
  EXPECT_FALSE(full("(?i)\\W", "\xE2\x84\xAA"));
  EXPECT_TRUE(full("\\W", "\xE2\x84\xAA"));
  EXPECT_TRUE(full("(?i)[[:upper:]]", "q"));
  EXPECT_TRUE(full("(?i).", "\xC3\xA9"));
  EXPECT_TRUE(full("(?i)[^a]", "\xC3\xA9"));
  // Header names: exact, ASCII case-insensitive.
  auto t = dfaOf({Regex::exact("Content-Length", true), Regex::exact("host", true)});
  EXPECT_EQ(maskOf(t, "content-LENGTH"), 1u);
  EXPECT_EQ(maskOf(t, "HOST"), 2u);
  EXPECT_EQ(maskOf(t, "hosts"), 0u);
}

TEST(RegexDfa, Utf8AsRe2CompilesIt) {
  // '.' and negated classes take a whole UTF-8 character...
  EXPECT_TRUE(full("a.b", "a\xC3\xA9" "b"));
  EXPECT_TRUE(full("a.b", "a\xF0\x9F\x98\x80" "b"));
  EXPECT_FALSE(full("a..b", "a\xC3\xA9" "b"));
  // ...not a stray byte (RE2 matches bytes of the UTF-8 program).
  EXPECT_FALSE(full("a.b", "a\xFF" "b"));
  EXPECT_FALSE(full("a.b", "a\xC3" "b"));
  EXPECT_FALSE(full("a.b", "a\x80" "b"));
  // U+0080..U+10FFFF as a whole is RE2's loose form (overlong E0/F0 and F4
  // above U+10FFFF included); partial ranges are exact.
  EXPECT_TRUE(full(".", "\xE0\x80\x80"));
  EXPECT_TRUE(full(".", "\xF4\x90\x80\x80"));
  EXPECT_FALSE(full("[^\xC3\xA9]", "\xE0\x80\x80"));
  EXPECT_FALSE(full("[^\xC3\xA9]", "\xC3\xA9"));
  EXPECT_TRUE(full("[^\xC3\xA9]", "\xE2\x82\xAC"));
  EXPECT_TRUE(full("[\xC3\xA0-\xC3\xBC]", "\xC3\xA9"));
  EXPECT_FALSE(full("[\xC3\xA0-\xC3\xBC]", "\xC3\xBD"));
  EXPECT_TRUE(full("[\\x{10000}-\\x{10FFFF}]", "\xF0\x9F\x98\x80"));
  EXPECT_FALSE(full("[\\x{10000}-\\x{10FFFF}]", "\xF4\x90\x80\x80"));
  EXPECT_TRUE(full("[\\x{800}-\\x{FFFF}]+", "\xE0\xA0\x80\xEF\xBF\xBF"));
  EXPECT_TRUE(full("\xC3\xA9+", "\xC3\xA9\xC3\xA9"));
  EXPECT_FALSE(full("\xC3\xA9+", "\xC3\xA9\xC3"));
  EXPECT_TRUE(full("\\x{E9}", "\xC3\xA9"));
  EXPECT_FALSE(full("\\xE9", "\xE9"));  // \xE9 is U+00E9, two bytes in UTF-8
  // Exact values are bytes, whatever they hold.
  auto t = dfaOf({Regex::exact(std::string("\xFF\0a", 3))});
  EXPECT_EQ(maskOf(t, std::string("\xFF\0a", 3)), 1u);
  EXPECT_EQ(maskOf(t, std::string("\xFF\0", 2)), 0u);
}

// ---- multi-pattern masks ------------------------------------------------------

TEST(RegexDfa, MultiPatternMasks) {
  auto m = dfaOf({"GET", "GET|HEAD", "POST", ".*"});
  EXPECT_EQ(maskOf(m, "GET"), 0b1011u);
  EXPECT_EQ(maskOf(m, "HEAD"), 0b1010u);
  EXPECT_EQ(maskOf(m, "POST"), 0b1100u);
  EXPECT_EQ(maskOf(m, "PUT"), 0b1000u);
  EXPECT_EQ(maskOf(m, ""), 0b1000u);
  EXPECT_EQ(maskOf(m, "GET\n"), 0u);

  auto p = dfaOf({"/public/.*", "/api/v[0-9]+/items(/[0-9]+)?", "/health", "/api/.*"});
  EXPECT_EQ(maskOf(p, "/public/a/b"), 0b0001u);
  EXPECT_EQ(maskOf(p, "/api/v2/items"), 0b1010u);
  EXPECT_EQ(maskOf(p, "/api/v2/items/42"), 0b1010u);
  EXPECT_EQ(maskOf(p, "/api/v2/items/"), 0b1000u);
  EXPECT_EQ(maskOf(p, "/health"), 0b0100u);
  EXPECT_EQ(maskOf(p, "/healthz"), 0u);

  // 64 patterns: bit i for pattern i, including bit 63.
  std::vector<Regex> many;
  for (int i = 0; i < 64; ++i) many.push_back(parse("p" + std::to_string(i) + "(/.*)?"));
  auto t = dfaOf(many);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(maskOf(t, "p" + std::to_string(i)), uint64_t(1) << i);
    EXPECT_EQ(maskOf(t, "p" + std::to_string(i) + "/x"), uint64_t(1) << i);
  }
  many.push_back(parse("x"));
  DfaError e;
  EXPECT_FALSE(buildDfa(many, e).has_value());
  EXPECT_NE(e.message.find("at most 64 patterns and this field has 65"), std::string::npos);
}

// ---- minimality and byte classes ----------------------------------------------

// Moore's refinement, independently: the number of distinguishable states.
uint32_t distinguishable(const DfaTables& t) {
  std::vector<uint64_t> block(t.usedStates);
  std::map<uint64_t, uint64_t> first;
  for (uint32_t s = 0; s < t.usedStates; ++s)
    block[s] = first.try_emplace(t.accept[s], first.size()).first->second;
  for (size_t count = first.size();;) {
    std::map<std::vector<uint64_t>, uint64_t> sig;
    std::vector<uint64_t> next(t.usedStates);
    for (uint32_t s = 0; s < t.usedStates; ++s) {
      std::vector<uint64_t> key = {block[s]};
      for (uint32_t c = 0; c < t.usedClasses; ++c) key.push_back(block[t.next[s * t.classes + c]]);
      next[s] = sig.try_emplace(key, sig.size()).first->second;
    }
    block = next;
    if (sig.size() == count) return uint32_t(count);
    count = sig.size();
  }
}

void expectWellFormed(const DfaTables& t, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(t.next.size(), size_t(t.states) * t.classes);
  EXPECT_EQ(t.dead, 0);
  EXPECT_EQ(t.accept[t.dead], 0u);
  for (uint32_t c = 0; c < t.classes; ++c) EXPECT_EQ(t.next[c], 0);
  EXPECT_EQ(distinguishable(t), t.usedStates);  // minimal
  // Every byte class is used, and no two classes have the same column.
  std::set<std::vector<uint16_t>> columns;
  std::vector<bool> used(t.usedClasses, false);
  for (int b = 0; b < 256; ++b) used[t.byteClass[b]] = true;
  for (uint32_t c = 0; c < t.usedClasses; ++c) {
    EXPECT_TRUE(used[c]);
    std::vector<uint16_t> col;
    for (uint32_t s = 0; s < t.usedStates; ++s) col.push_back(t.next[s * t.classes + c]);
    EXPECT_TRUE(columns.insert(col).second) << "class " << c;
  }
  // Classes are numbered by their lowest byte.
  int seen = -1;
  for (int b = 0; b < 256; ++b) {
    EXPECT_LE(int(t.byteClass[b]), seen + 1);
    seen = std::max(seen, int(t.byteClass[b]));
  }
}

TEST(RegexDfa, MinimalForKnownCases) {
  EXPECT_EQ(dfaOf({"GET|HEAD"}).dump(),
            "dfa: 8 states, 7 byte classes, start 1, dead 0\n"
            "class 0: 00-'@' 'B'-'C' 'F' 'I'-'S' 'U'-ff\n"
            "class 1: 'A'\n"
            "class 2: 'D'\n"
            "class 3: 'E'\n"
            "class 4: 'G'\n"
            "class 5: 'H'\n"
            "class 6: 'T'\n"
            "state 0 dead: 0 0 0 0 0 0 0\n"
            "state 1 start: 0 0 0 0 2 3 0\n"
            "state 2: 0 0 0 4 0 0 0\n"
            "state 3: 0 0 0 5 0 0 0\n"
            "state 4: 0 0 0 0 0 0 6\n"
            "state 5: 0 7 0 0 0 0 0\n"
            "state 6 accept 0x1: 0 0 0 0 0 0 0\n"
            "state 7: 0 0 6 0 0 0 0\n");
  // The textbook (a|b)*abb: four states over {a, b}, plus dead for the rest.
  auto abb = dfaOf({"(a|b)*abb"});
  EXPECT_EQ(abb.usedStates, 5u);
  EXPECT_EQ(abb.usedClasses, 3u);
  // Equal languages give byte-identical tables.
  EXPECT_EQ(dfaOf({"(a|b)*"}).dump(), dfaOf({"(a*b*)*"}).dump());
  EXPECT_EQ(dfaOf({"a+"}).dump(), dfaOf({"aa*"}).dump());
  EXPECT_EQ(dfaOf({"[0-9]{2,3}"}).dump(), dfaOf({"[0-9][0-9][0-9]?"}).dump());
  EXPECT_EQ(dfaOf({"(?i)get"}).dump(), dfaOf({"[gG][eE][tT]"}).dump());
  EXPECT_EQ(dfaOf({"x|y"}).dump(), dfaOf({"[xy]"}).dump());
  // Nothing matches: one state, dead and start.
  auto none = dfaOf({"a^b"});
  EXPECT_EQ(none.usedStates, 1u);
  EXPECT_EQ(none.start, none.dead);
  // Typical Cilium patterns (see the report): states and byte classes.
  struct Size { std::string pattern; uint32_t states, classes; };
  for (const Size& s : std::vector<Size>{{"/public/.*", 13, 13},
                                         {"/api/v[0-9]+/items(/[0-9]+)?", 17, 11},
                                         {"GET|HEAD", 8, 7},
                                         {"api\\.example\\.com(:[0-9]+)?", 19, 13}}) {
    auto t = dfaOf({s.pattern});
    std::printf("dfa size: %-32s %3u states %3u classes\n", s.pattern.c_str(), t.usedStates,
                t.usedClasses);
    EXPECT_EQ(t.usedStates, s.states) << s.pattern;
    EXPECT_EQ(t.usedClasses, s.classes) << s.pattern;
    expectWellFormed(t, s.pattern);
  }
}

TEST(RegexDfa, ByteClasses) {
  auto t = dfaOf({"[a-z]+"});
  EXPECT_EQ(t.usedStates, 3u);
  EXPECT_EQ(t.usedClasses, 2u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(t.byteClass[b], b >= 'a' && b <= 'z' ? 1 : 0) << b;
  auto digits = dfaOf({"[0-9]+", "[0-4]+"});
  EXPECT_EQ(digits.usedClasses, 3u);  // other, 0-4, 5-9
  EXPECT_EQ(digits.byteClass['0'], digits.byteClass['4']);
  EXPECT_EQ(digits.byteClass['5'], digits.byteClass['9']);
  EXPECT_NE(digits.byteClass['4'], digits.byteClass['5']);
  expectWellFormed(digits, "digits");
}

TEST(RegexDfa, PaddingToPowersOfTwo) {
  DfaOptions pad;
  pad.padToPowerOfTwo = true;
  auto plain = dfaOf({"/api/v[0-9]+/items(/[0-9]+)?", "GET"});
  auto padded = dfaOf({"/api/v[0-9]+/items(/[0-9]+)?", "GET"}, pad);
  EXPECT_EQ(padded.states, 32u);
  EXPECT_EQ(padded.classes, 16u);
  EXPECT_EQ(padded.usedStates, plain.usedStates);
  EXPECT_EQ(padded.next.size(), 32u * 16u);
  for (uint32_t s = padded.usedStates; s < padded.states; ++s) {
    EXPECT_EQ(padded.accept[s], 0u);
    for (uint32_t c = 0; c < padded.classes; ++c) EXPECT_EQ(padded.next[s * 16 + c], 0);
  }
  for (std::string in : {"/api/v1/items", "/api/v1/items/7", "GET", "/api/v/items", ""})
    EXPECT_EQ(maskOf(padded, in), maskOf(plain, in)) << in;
  EXPECT_NE(padded.dump().find("padded: 32 x 16\n"), std::string::npos);
}

// ---- limits ---------------------------------------------------------------------

TEST(RegexDfa, StateLimits) {
  DfaError e;
  // After minimization, with the default limit of 4,096 states.
  std::string long5000;
  for (int i = 0; i < 5; ++i) long5000 += "[a-z]{1000}";
  std::vector<Regex> big = {parse("GET"), parse(long5000)};
  EXPECT_FALSE(buildDfa(big, e).has_value());
  EXPECT_EQ(e.pattern, 1);
  EXPECT_NE(e.message.find("pattern 1 ('[a-z]{1000}[a-z]{1000}"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("') needs 5002 automaton states after minimization, above the limit "
                           "of 4096"),
            std::string::npos)
      << e.message;
  // Before minimization: a wildcard then a count grows exponentially.
  DfaOptions small;
  small.maxBuildStates = 5000;
  small.maxStates = 100;
  std::vector<Regex> blowup = {parse(".*a.{16}")};
  EXPECT_FALSE(buildDfa(blowup, e, small).has_value());
  EXPECT_EQ(e.pattern, 0);
  EXPECT_NE(e.message.find("needs more than 5000 automaton states before minimization"),
            std::string::npos)
      << e.message;
  // Each pattern fits, together they do not.
  std::vector<Regex> two = {parse("a[0-9]{60}"), parse("b[0-9]{60}")};
  for (const auto& r : two) EXPECT_TRUE(buildDfa(std::span<const Regex>(&r, 1), e, small));
  EXPECT_FALSE(buildDfa(two, e, small).has_value());
  EXPECT_EQ(e.pattern, -1);
  EXPECT_NE(e.message.find("the 2 patterns together need"), std::string::npos) << e.message;
}

// ---- differential test against std::regex ----------------------------------
//
// Random patterns over a subset both engines read the same way, rendered
// twice: RE2 syntax for sluice and ECMAScript for std::regex. Translations:
// RE2's '.' is [^\n] (ECMAScript's also refuses \r); RE2's \s is
// [\t\n\f\r ] (ECMAScript's adds \v); (?i) is std::regex::icase. Inputs are
// ASCII, where RE2's UTF-8 reading and std::regex's bytes agree. Left out:
// octal and \x escapes, '{' as a literal, [:classes:], ']' first in a class
// (ECMAScript reads these differently), and non-ASCII (tested above).

struct Gen {
  std::mt19937_64 rng;
  explicit Gen(uint64_t seed) : rng(seed) {}
  int pick(int n) { return int(std::uniform_int_distribution<int>(0, n - 1)(rng)); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng); }

  struct Node {
    enum Kind { Set, Cat, Alt, Rep, Group, Begin, End } kind = Set;
    std::string re2, ecma;
    std::bitset<128> set;  // Set: the ASCII bytes it matches
    std::vector<Node> subs;
    int min = 0, max = -1;
  };

  static std::bitset<128> range(int lo, int hi) {
    std::bitset<128> b;
    for (int c = lo; c <= hi; ++c) b.set(c);
    return b;
  }
  static std::bitset<128> chars(std::string_view s) {
    std::bitset<128> b;
    for (char c : s) b.set(uint8_t(c));
    return b;
  }
  static std::bitset<128> word() {
    return range('0', '9') | range('A', 'Z') | range('a', 'z') | chars("_");
  }
  static std::bitset<128> space() { return chars("\t\n\f\r "); }

  Node atom(int depth) {
    Node n;
    int k = pick(depth > 0 ? 8 : 7);
    switch (k) {
      case 0: case 1: {  // a literal
        static const std::string lits = "abc/-0_";
        char c = lits[pick(int(lits.size()))];
        n.re2 = n.ecma = std::string(1, c);
        n.set = chars(std::string(1, c));
        break;
      }
      case 2: {  // an escaped literal
        static const std::vector<std::string> esc = {"\\.", "\\/", "\\-", "\\*", "\\(", "\\\\"};
        n.re2 = n.ecma = esc[pick(int(esc.size()))];
        n.set = chars(n.re2.substr(1));
        break;
      }
      case 3:
        n.re2 = ".";
        n.ecma = "[^\\n]";
        n.set = ~chars("\n");
        break;
      case 4: {  // a Perl class
        static const char* perl = "dwsDWS";
        char c = perl[pick(6)];
        n.re2 = std::string("\\") + c;
        std::bitset<128> base = (c == 'd' || c == 'D') ? range('0', '9')
                                : (c == 'w' || c == 'W') ? word() : space();
        bool neg = c >= 'A' && c <= 'Z';
        n.set = neg ? ~base : base;
        n.ecma = (c == 's') ? "[\\t\\n\\f\\r ]" : (c == 'S') ? "[^\\t\\n\\f\\r ]" : n.re2;
        break;
      }
      case 5: case 6: {  // a bracket class
        bool neg = chance(0.3);
        std::bitset<128> set;
        std::string re2 = neg ? "[^" : "[", ecma = re2;
        int items = 1 + pick(3);
        for (int i = 0; i < items; ++i) {
          switch (pick(7)) {
            case 0: re2 += "a-c"; ecma += "a-c"; set |= range('a', 'c'); break;
            case 1: re2 += "0-9"; ecma += "0-9"; set |= range('0', '9'); break;
            case 2: re2 += "\\d"; ecma += "\\d"; set |= range('0', '9'); break;
            case 3: re2 += "\\w"; ecma += "\\w"; set |= word(); break;
            case 4: re2 += "\\s"; ecma += "\\t\\n\\f\\r "; set |= space(); break;
            case 5: re2 += "\\-\\."; ecma += "\\-\\."; set |= chars("-."); break;
            default: {
              char c = "abxA/_"[pick(6)];
              re2 += c;
              ecma += c;
              set |= chars(std::string(1, c));
            }
          }
        }
        n.re2 = re2 + "]";
        n.ecma = ecma + "]";
        n.set = neg ? ~set : set;
        break;
      }
      default: {  // a group
        Node g;
        g.kind = Node::Group;
        g.subs.push_back(alternation(depth - 1));
        bool capture = chance(0.5);
        g.re2 = capture ? "(" : "(?:";
        g.ecma = g.re2;
        return g;
      }
    }
    return n;
  }

  static bool unbounded(const Node& n) {
    if (n.kind == Node::Rep && n.max < 0) return true;
    for (const auto& s : n.subs)
      if (unbounded(s)) return true;
    return false;
  }

  Node piece(int depth) {
    Node a = atom(depth);
    if (!chance(0.4)) return a;
    Node r;
    r.kind = Node::Rep;
    // std::regex backtracks: an unbounded repetition inside another one,
    // (a+)*, takes exponential time there. Repeat such groups boundedly.
    bool nested = unbounded(a);
    switch (nested ? 2 + pick(2) * 3 : pick(6)) {
      case 0: r.min = 0, r.max = -1, r.re2 = "*"; break;
      case 1: r.min = 1, r.max = -1, r.re2 = "+"; break;
      case 2: r.min = 0, r.max = 1, r.re2 = "?"; break;
      case 3: r.min = r.max = 1 + pick(3), r.re2 = "{" + std::to_string(r.min) + "}"; break;
      case 4: r.min = pick(3), r.max = -1, r.re2 = "{" + std::to_string(r.min) + ",}"; break;
      default:
        r.min = pick(3), r.max = r.min + (nested ? pick(2) : pick(3));
        r.re2 = "{" + std::to_string(r.min) + "," + std::to_string(r.max) + "}";
    }
    if (chance(0.2)) r.re2 += "?";  // non-greedy: the same language
    r.ecma = r.re2;
    r.subs.push_back(std::move(a));
    return r;
  }

  Node concat(int depth) {
    Node c;
    c.kind = Node::Cat;
    int n = pick(4) + (chance(0.9) ? 1 : 0);
    for (int i = 0; i < n; ++i) c.subs.push_back(piece(depth));
    return c;
  }

  Node alternation(int depth) {
    Node a;
    a.kind = Node::Alt;
    int n = 1 + (chance(0.35) ? 1 + pick(2) : 0);
    for (int i = 0; i < n; ++i) {
      Node c = concat(depth);
      if (chance(0.05)) {
        Node b;
        b.kind = Node::Begin;
        c.subs.insert(c.subs.begin(), b);
      }
      if (chance(0.05)) {
        Node e;
        e.kind = Node::End;
        c.subs.push_back(e);
      }
      a.subs.push_back(std::move(c));
    }
    return a;
  }

  static void render(const Node& n, std::string& re2, std::string& ecma) {
    switch (n.kind) {
      case Node::Set: re2 += n.re2; ecma += n.ecma; return;
      case Node::Begin: re2 += '^'; ecma += '^'; return;
      case Node::End: re2 += '$'; ecma += '$'; return;
      case Node::Cat: for (const auto& s : n.subs) render(s, re2, ecma); return;
      case Node::Alt:
        for (size_t i = 0; i < n.subs.size(); ++i) {
          if (i) re2 += '|', ecma += '|';
          render(n.subs[i], re2, ecma);
        }
        return;
      case Node::Group:
        re2 += n.re2, ecma += n.ecma;
        render(n.subs[0], re2, ecma);
        re2 += ')', ecma += ')';
        return;
      case Node::Rep:
        render(n.subs[0], re2, ecma);
        re2 += n.re2, ecma += n.ecma;
        return;
    }
  }

  static constexpr std::string_view kAlphabet = "abcABC/.-_09 \n\t\rxz*(\\";

  // A string the pattern probably matches (anchors aside).
  void sample(const Node& n, std::string& out) {
    switch (n.kind) {
      case Node::Set: {
        std::vector<int> members;
        for (int c = 0; c < 128; ++c)
          if (n.set[c]) members.push_back(c);
        // Prefer readable members, so mutations stay near the alphabet.
        std::vector<int> nice;
        for (int c : members)
          if (kAlphabet.find(char(c)) != std::string_view::npos) nice.push_back(c);
        const auto& from = !nice.empty() && chance(0.9) ? nice : members;
        if (!from.empty()) out += char(from[pick(int(from.size()))]);
        return;
      }
      case Node::Begin: case Node::End: return;
      case Node::Cat: for (const auto& s : n.subs) sample(s, out); return;
      case Node::Alt: sample(n.subs[pick(int(n.subs.size()))], out); return;
      case Node::Group: sample(n.subs[0], out); return;
      case Node::Rep: {
        int hi = n.max < 0 ? n.min + 3 : n.max;
        int times = n.min + pick(hi - n.min + 1);
        for (int i = 0; i < times; ++i) sample(n.subs[0], out);
        return;
      }
    }
  }

  std::string input(const Node& root) {
    std::string s;
    if (chance(0.15)) {
      int len = pick(9);
      for (int i = 0; i < len; ++i) s += kAlphabet[pick(int(kAlphabet.size()))];
      return s;
    }
    sample(root, s);
    if (chance(0.5)) {  // a near miss: one or two edits
      int edits = 1 + pick(2);
      for (int i = 0; i < edits; ++i) {
        size_t at = s.empty() ? 0 : size_t(pick(int(s.size()) + 1));
        char c = kAlphabet[pick(int(kAlphabet.size()))];
        int op = s.empty() ? 0 : pick(3);
        if (op == 0) s.insert(s.begin() + at, c);
        else if (at < s.size() && op == 1) s.erase(at, 1);
        else if (at < s.size()) s[at] = c;
      }
    }
    if (s.size() > 16) s.resize(16);
    return s;
  }
};

TEST(RegexDfa, DifferentialAgainstStdRegex) {
  auto begin = std::chrono::steady_clock::now();
  Gen gen(20240515);
  constexpr int kPatterns = 1000, kInputs = 100, kBatch = 10;
  struct Case {
    std::string re2, ecma;
    bool icase;
    Regex regex;
    std::vector<std::string> inputs;
    std::vector<bool> expected;
  };
  std::vector<Case> cases;
  size_t matched = 0, total = 0, disagreements = 0;
  for (int i = 0; i < kPatterns; ++i) {
    Gen::Node root = gen.alternation(2);
    Case c;
    c.icase = gen.chance(0.2);
    Gen::render(root, c.re2, c.ecma);
    if (c.icase) c.re2 = "(?i)" + c.re2;
    RegexError err;
    auto re = parseRegex(c.re2, err);
    ASSERT_TRUE(re.has_value()) << c.re2 << ": column " << err.column << ": " << err.message;
    c.regex = std::move(*re);
    auto flags = std::regex::ECMAScript | (c.icase ? std::regex::icase : std::regex::ECMAScript);
    std::regex ref;
    try {
      ref = std::regex(c.ecma, flags);
    } catch (const std::regex_error& e) {
      FAIL() << "std::regex refused " << c.ecma << ": " << e.what();
    }
    auto dfa = dfaOf({c.regex});
    if (i % 50 == 0) expectWellFormed(dfa, c.re2);
    for (int j = 0; j < kInputs; ++j) {
      std::string in = gen.input(root);
      bool want = std::regex_match(in, ref);
      uint64_t mask;
      bool got = matches(dfa, in, mask);
      ++total;
      matched += want;
      if (got != want && ++disagreements <= 20)
        ADD_FAILURE() << "pattern " << c.re2 << " (ecma " << c.ecma << ") on '" << in
                      << "': dfa " << got << ", std::regex " << want;
      c.inputs.push_back(std::move(in));
      c.expected.push_back(want);
    }
    cases.push_back(std::move(c));
  }
  // The same patterns, ten to an automaton: each bit agrees on every input.
  for (int b = 0; b < kPatterns; b += kBatch) {
    std::vector<Regex> group;
    for (int i = b; i < b + kBatch; ++i) group.push_back(cases[i].regex);
    auto dfa = dfaOf(group);
    for (int i = b; i < b + kBatch; ++i)
      for (int j = 0; j < kInputs; ++j) {
        bool got = (maskOf(dfa, cases[i].inputs[j]) >> (i - b)) & 1;
        if (got != cases[i].expected[j] && ++disagreements <= 40)
          ADD_FAILURE() << "batch " << b << " pattern " << cases[i].re2 << " on '"
                        << cases[i].inputs[j] << "': bit " << got;
      }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  std::printf("differential: %d patterns x %d inputs, %zu matches of %zu, %zu disagreements, "
              "%.2f s\n", kPatterns, kInputs, matched, total, disagreements, seconds);
  EXPECT_EQ(disagreements, 0u);
  EXPECT_GT(matched, total / 5);  // the inputs are near the patterns, not all misses
  EXPECT_LT(matched, total * 4 / 5);
}

}  // namespace
}  // namespace sluice::l7
