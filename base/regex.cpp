#include "base/regex.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "base/text.h"

namespace sluice {
namespace {

constexpr uint32_t kMaxRune = 0x10FFFF;
using Ranges = std::vector<RegexRange>;

// ---- code point sets ----------------------------------------------------

Ranges normalize(Ranges r) {
  std::sort(r.begin(), r.end(), [](const RegexRange& a, const RegexRange& b) {
    return a.lo < b.lo || (a.lo == b.lo && a.hi < b.hi);
  });
  Ranges out;
  for (const auto& x : r) {
    if (!out.empty() && x.lo <= out.back().hi + 1)
      out.back().hi = std::max(out.back().hi, x.hi);
    else
      out.push_back(x);
  }
  return out;
}

// The complement within [0, max].
Ranges negate(const Ranges& normalized, uint32_t max = kMaxRune) {
  Ranges out;
  uint32_t next = 0;
  for (const auto& x : normalized) {
    if (x.lo > next) out.push_back({next, x.lo - 1});
    next = x.hi + 1;
  }
  if (next <= max) out.push_back({next, max});
  return out;
}

bool contains(const Ranges& r, uint32_t c) {
  for (const auto& x : r)
    if (x.lo <= c && c <= x.hi) return true;
  return false;
}

// RE2's simple case folding restricted to what sluice supports: ASCII
// letters, plus the two non-ASCII runes that fold with them (U+017F LATIN
// SMALL LETTER LONG S with s/S, U+212A KELVIN SIGN with k/K; RE2's
// unicode_casefold tables). Adds the other cases of every letter in `r`.
Ranges foldAscii(const Ranges& r) {
  Ranges out = r;
  auto add = [&](uint32_t c) { out.push_back({c, c}); };
  for (uint32_t c = 'A'; c <= 'Z'; ++c) {
    uint32_t l = c + 32;
    bool has = contains(r, c) || contains(r, l) || (c == 'K' && contains(r, 0x212A)) ||
               (c == 'S' && contains(r, 0x17F));
    if (!has) continue;
    add(c);
    add(l);
    if (c == 'K') add(0x212A);
    if (c == 'S') add(0x17F);
  }
  return normalize(out);
}

// The first non-ASCII rune of `r` that (?i) would have to fold, or 0.
uint32_t unfoldableRune(const Ranges& r) {
  for (const auto& x : r) {
    if (x.hi < 0x80) continue;
    for (uint32_t c = std::max<uint32_t>(x.lo, 0x80); c <= x.hi; ++c)
      if (c != 0x17F && c != 0x212A) return c;
  }
  return 0;
}

Ranges asciiRanges(std::initializer_list<std::pair<char, char>> list) {
  Ranges r;
  for (auto [lo, hi] : list) r.push_back({uint32_t(uint8_t(lo)), uint32_t(uint8_t(hi))});
  return normalize(r);
}

// RE2's Perl classes (ASCII only; \s is [\t\n\f\r ], without \v).
const Ranges* perlClass(char c) {
  static const Ranges digit = asciiRanges({{'0', '9'}});
  static const Ranges space = asciiRanges({{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}});
  static const Ranges word = asciiRanges({{'0', '9'}, {'A', 'Z'}, {'a', 'z'}, {'_', '_'}});
  switch (c) {
    case 'd': case 'D': return &digit;
    case 's': case 'S': return &space;
    case 'w': case 'W': return &word;
    default: return nullptr;
  }
}

// RE2's POSIX classes inside brackets, [:name:] (ASCII).
const Ranges* posixClass(std::string_view name) {
  struct Entry { std::string_view name; Ranges ranges; };
  static const std::array<Entry, 14> table = {{
      {"alnum", asciiRanges({{'0', '9'}, {'A', 'Z'}, {'a', 'z'}})},
      {"alpha", asciiRanges({{'A', 'Z'}, {'a', 'z'}})},
      {"ascii", asciiRanges({{'\x00', '\x7f'}})},
      {"blank", asciiRanges({{'\t', '\t'}, {' ', ' '}})},
      {"cntrl", asciiRanges({{'\x00', '\x1f'}, {'\x7f', '\x7f'}})},
      {"digit", asciiRanges({{'0', '9'}})},
      {"graph", asciiRanges({{'!', '~'}})},
      {"lower", asciiRanges({{'a', 'z'}})},
      {"print", asciiRanges({{' ', '~'}})},
      {"punct", asciiRanges({{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}})},
      {"space", asciiRanges({{'\t', '\r'}, {' ', ' '}})},
      {"upper", asciiRanges({{'A', 'Z'}})},
      {"word", asciiRanges({{'0', '9'}, {'A', 'Z'}, {'a', 'z'}, {'_', '_'}})},
      {"xdigit", asciiRanges({{'0', '9'}, {'A', 'F'}, {'a', 'f'}})},
  }};
  for (const auto& e : table)
    if (e.name == name) return &e.ranges;
  return nullptr;
}

// ---- UTF-8 --------------------------------------------------------------

// Decodes the strict UTF-8 sequence at s[i] (no overlongs, no surrogates,
// nothing above U+10FFFF); returns its length, or 0 if invalid.
size_t decodeUtf8(std::string_view s, size_t i, uint32_t& rune) {
  auto byte = [&](size_t k) { return i + k < s.size() ? uint8_t(s[i + k]) : 0; };
  uint8_t b0 = byte(0);
  if (b0 < 0x80) {
    rune = b0;
    return 1;
  }
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) n = 2, rune = b0 & 0x1F;
  else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3, rune = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4, rune = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    uint8_t b = byte(k);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    rune = rune << 6 | (b & 0x3F);
  }
  return n;
}

std::string runeText(uint32_t c) {
  if (c >= 0x20 && c < 0x7F) return std::string(1, char(c));
  if (c == '\n') return "\\n";
  if (c == '\t') return "\\t";
  if (c == '\r') return "\\r";
  if (c < 0x100) return fmt::format("\\x{:02X}", c);
  return fmt::format("\\x{{{:X}}}", c);
}

// A character as a message shows it: itself if printable, with its code
// point when not ASCII ("é (U+00E9)"); only the code point for controls,
// surrogates and the format characters that could reorder or break a line.
std::string messageRune(uint32_t c) {
  if (c < 0x80) return runeText(c);
  if (c < 0xA0 || (c >= 0x2000 && c <= 0x206F) || (c >= 0xD800 && c <= 0xDFFF) || c == 0xFEFF ||
      c > 0x10FFFF)
    return fmt::format("U+{:04X}", c);
  std::string utf8;
  if (c < 0x800) {
    utf8 += char(0xC0 | c >> 6);
  } else if (c < 0x10000) {
    utf8 += char(0xE0 | c >> 12);
    utf8 += char(0x80 | (c >> 6 & 0x3F));
  } else {
    utf8 += char(0xF0 | c >> 18);
    utf8 += char(0x80 | (c >> 12 & 0x3F));
    utf8 += char(0x80 | (c >> 6 & 0x3F));
  }
  utf8 += char(0x80 | (c & 0x3F));
  return fmt::format("{} (U+{:04X})", utf8, c);
}

bool isOctal(char c) { return c >= '0' && c <= '7'; }
bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
uint32_t hexValue(char c) {
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
bool isAsciiAlnum(uint32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

struct Flags {
  bool foldCase = false;   // (?i)
  bool dotNL = false;      // (?s)
  bool nonGreedy = false;  // (?U)
};

// ---- the parser ---------------------------------------------------------

class Parser {
 public:
  Parser(std::string_view pattern, RegexError& error) : p_(pattern), error_(error) {}

  std::optional<Regex> run() {
    if (!indexColumns()) return std::nullopt;
    re_.pattern = std::string(p_);
    Flags flags;
    auto root = parseAlternation(flags, 1);
    if (!root) return std::nullopt;
    if (pos_ < p_.size()) {  // only a ')' stops the top level early
      fail(pos_, "unexpected ')': no group is open here; escape it as '\\)' to match a ')'");
      return std::nullopt;
    }
    if (positions_[*root] > kRegexMaxPositions) {
      fail(largestRepeat_, fmt::format(
          "the pattern has {} character positions once its counted repetitions are expanded, "
          "above sluice's limit of {}; use '*' or '+' instead of large counts",
          positions_[*root], kRegexMaxPositions));
      return std::nullopt;
    }
    re_.root = *root;
    return std::move(re_);
  }

 private:
  std::string_view p_;
  RegexError& error_;
  size_t pos_ = 0;
  std::vector<uint32_t> column_;     // byte offset -> 1-based column
  std::vector<uint64_t> positions_;  // per node: positions after expansion (saturated)
  size_t largestRepeat_ = 0;         // byte offset of the repetition with most positions
  uint64_t largestRepeatPositions_ = 0;
  uint32_t depth_ = 0;
  Regex re_;

  bool fail(size_t offset, std::string message) {
    error_.column = offset < column_.size() ? column_[offset] : 1;
    error_.message = std::move(message);
    return false;
  }

  std::string snippet(size_t from, size_t to) const {
    return quote(p_.substr(from, std::min(to, p_.size()) - from));
  }

  bool indexColumns() {
    column_.assign(p_.size() + 1, 0);
    uint32_t col = 1;
    for (size_t i = 0; i < p_.size();) {
      uint32_t rune;
      size_t n = decodeUtf8(p_, i, rune);
      if (n == 0) {
        column_[i] = col;
        return fail(i, fmt::format("the pattern is not valid UTF-8 here (byte 0x{:02X}); RE2 "
                                   "reads patterns as UTF-8, so write the byte as \\x{{...}} or "
                                   "fix the text's encoding",
                                   uint8_t(p_[i])));
      }
      for (size_t k = 0; k < n; ++k) column_[i + k] = col;
      i += n;
      ++col;
    }
    column_[p_.size()] = col;
    return true;
  }

  uint32_t add(RegexNode node) {
    uint64_t pos = 0;
    switch (node.op) {
      case RegexOp::Chars:
      case RegexOp::Bytes: pos = 1; break;
      case RegexOp::Concat:
      case RegexOp::Alternate:
        for (uint32_t s : node.subs) pos += positions_[s];
        break;
      case RegexOp::Repeat: {
        uint64_t copies = node.max >= 0 ? uint64_t(node.max) : uint64_t(std::max(node.min, 1));
        pos = positions_[node.subs[0]] * copies;
        break;
      }
      default: break;
    }
    positions_.push_back(std::min<uint64_t>(pos, uint64_t(1) << 40));
    re_.nodes.push_back(std::move(node));
    return uint32_t(re_.nodes.size() - 1);
  }

  uint32_t addChars(Ranges ranges, size_t offset) {
    RegexNode n;
    n.op = RegexOp::Chars;
    n.column = column_[offset];
    n.ranges = std::move(ranges);
    return add(std::move(n));
  }

  uint32_t addSimple(RegexOp op, size_t offset) {
    RegexNode n;
    n.op = op;
    n.column = column_[offset];
    return add(std::move(n));
  }

  // Applies (?i) to a set; refuses non-ASCII runes it would have to fold.
  std::optional<Ranges> fold(const Ranges& r, const Flags& flags, size_t offset) {
    if (!flags.foldCase) return r;
    if (uint32_t c = unfoldableRune(r)) {
      fail(offset, fmt::format(
          "case-insensitive matching (?i) of the non-ASCII character {} is not supported; "
          "drop (?i) for this part, e.g. (?-i:...), and list the cases you mean in a class",
          messageRune(c)));
      return std::nullopt;
    }
    return foldAscii(r);
  }

  std::optional<uint32_t> literal(uint32_t rune, const Flags& flags, size_t offset) {
    auto r = fold(Ranges{{rune, rune}}, flags, offset);
    if (!r) return std::nullopt;
    return addChars(std::move(*r), offset);
  }

  // alternation := concat ('|' concat)*   — stops before ')' or at the end.
  std::optional<uint32_t> parseAlternation(Flags flags, uint32_t column) {
    std::vector<uint32_t> branches;
    for (;;) {
      auto c = parseConcat(flags);
      if (!c) return std::nullopt;
      branches.push_back(*c);
      if (pos_ < p_.size() && p_[pos_] == '|') {
        ++pos_;
        continue;
      }
      break;
    }
    if (branches.size() == 1) return branches[0];
    RegexNode n;
    n.op = RegexOp::Alternate;
    n.column = column;
    n.subs = std::move(branches);
    return add(std::move(n));
  }

  std::optional<uint32_t> parseConcat(Flags& flags) {
    size_t begin = pos_;
    std::vector<uint32_t> items;
    bool lastWasRepeat = false;
    while (pos_ < p_.size() && p_[pos_] != '|' && p_[pos_] != ')') {
      size_t start = pos_;
      char c = p_[pos_];
      bool isRepeat = false;
      switch (c) {
        case '(': {
          auto g = parseGroup(flags);
          if (!g) return std::nullopt;
          if (*g != kNoItem) items.push_back(*g);
          break;
        }
        case '[': {
          auto cls = parseClass(flags);
          if (!cls) return std::nullopt;
          items.push_back(*cls);
          break;
        }
        case '.':
          ++pos_;
          items.push_back(flags.dotNL ? addChars({{0, kMaxRune}}, start)
                                      : addChars({{0, '\n' - 1}, {'\n' + 1, kMaxRune}}, start));
          break;
        case '^':
          ++pos_;
          items.push_back(addSimple(RegexOp::BeginText, start));
          break;
        case '$':
          ++pos_;
          items.push_back(addSimple(RegexOp::EndText, start));
          break;
        case '*':
        case '+':
        case '?':
        case '{': {
          int min = 0, max = -1;
          if (c == '{') {
            if (!parseCount(min, max)) {  // not a repetition: a literal '{'
              ++pos_;
              auto l = literal('{', flags, start);
              if (!l) return std::nullopt;
              items.push_back(*l);
              break;
            }
          } else {
            ++pos_;
            min = c == '+' ? 1 : 0;
            max = c == '?' ? 1 : -1;
          }
          bool lazy = pos_ < p_.size() && p_[pos_] == '?';
          if (lazy) ++pos_;
          if (!repeat(items, lastWasRepeat, start, min, max, lazy == flags.nonGreedy, c == '{'))
            return std::nullopt;
          isRepeat = true;
          break;
        }
        case '\\': {
          auto e = parseEscapeItem(flags);
          if (!e) return std::nullopt;
          for (uint32_t x : *e) items.push_back(x);
          break;
        }
        default: {
          uint32_t rune;
          pos_ += decodeUtf8(p_, pos_, rune);
          auto l = literal(rune, flags, start);
          if (!l) return std::nullopt;
          items.push_back(*l);
        }
      }
      lastWasRepeat = isRepeat;
    }
    if (items.empty()) return addSimple(RegexOp::Empty, begin);
    if (items.size() == 1) return items[0];
    RegexNode n;
    n.op = RegexOp::Concat;
    n.column = column_[begin];
    n.subs = std::move(items);
    return add(std::move(n));
  }

  static constexpr uint32_t kNoItem = ~uint32_t(0);

  // {m}, {m,}, {m,n} at pos_, as RE2 reads them (no leading zeros); false
  // (pos_ unchanged) if the text is not a repetition.
  bool parseCount(int& min, int& max) {
    size_t i = pos_ + 1;
    auto number = [&](int& out) {
      if (i >= p_.size() || p_[i] < '0' || p_[i] > '9') return false;
      if (p_[i] == '0' && i + 1 < p_.size() && p_[i + 1] >= '0' && p_[i + 1] <= '9') return false;
      int n = 0;
      while (i < p_.size() && p_[i] >= '0' && p_[i] <= '9') {
        if (n >= 100000000) return false;
        n = n * 10 + (p_[i++] - '0');
      }
      out = n;
      return true;
    };
    if (!number(min)) return false;
    if (i < p_.size() && p_[i] == ',') {
      ++i;
      if (i < p_.size() && p_[i] == '}')
        max = -1;
      else if (!number(max))
        return false;
    } else {
      max = min;
    }
    if (i >= p_.size() || p_[i] != '}') return false;
    pos_ = i + 1;
    return true;
  }

  // RE2's check that nested counted repetitions stay within kRegexMaxRepeat
  // copies of the innermost expression: the budget is divided by each count.
  int repeatBudget(uint32_t idx, int budget) const {
    const RegexNode& n = re_.nodes[idx];
    if (n.op == RegexOp::Repeat) {
      int m = n.max < 0 ? n.min : n.max;
      if (m > 0) budget /= m;
    }
    int out = budget;
    for (uint32_t s : n.subs) out = std::min(out, repeatBudget(s, budget));
    return out;
  }

  bool repeat(std::vector<uint32_t>& items, bool lastWasRepeat, size_t start, int min, int max,
              bool greedy, bool counted) {
    std::string op = std::string(p_.substr(start, pos_ - start));
    if (lastWasRepeat)
      return fail(start, fmt::format("{} follows another repetition operator, which RE2 "
                                     "refuses (a** or a+{{2}}); remove one, or group the first: "
                                     "(?:a+){{2}}",
                                     quote(op)));
    if (counted) {
      if (max >= 0 && max < min)
        return fail(start, fmt::format("invalid repetition {}: the minimum is above the maximum; "
                                       "write {{{},{}}}", quote(op), max, min));
      if (min > kRegexMaxRepeat || max > kRegexMaxRepeat)
        return fail(start, fmt::format("repetition count {} is above RE2's limit of {}; use '*' "
                                       "or '+', or a smaller count",
                                       quote(op), kRegexMaxRepeat));
    }
    if (items.empty())
      return fail(start, fmt::format("{} has nothing to repeat; escape it to match it literally, "
                                     "e.g. \\{}", quote(op), op[0]));
    RegexNode n;
    n.op = RegexOp::Repeat;
    n.column = column_[start];
    n.subs = {items.back()};
    n.min = min;
    n.max = max;
    n.greedy = greedy;
    uint32_t idx = add(std::move(n));
    if ((min >= 2 || max >= 2) && repeatBudget(idx, kRegexMaxRepeat) == 0)
      return fail(start, fmt::format("the nested repetitions up to {} repeat their innermost part "
                                     "more than {} times, which RE2 refuses; use '*' or '+' for "
                                     "an inner or outer count", quote(op), kRegexMaxRepeat));
    if (positions_[idx] > kRegexMaxPositions)
      return fail(start, fmt::format("{} expands the pattern to {} character positions, above "
                                     "sluice's limit of {}; use '*' or '+', or a smaller count",
                                     quote(op), positions_[idx], kRegexMaxPositions));
    if (positions_[idx] > largestRepeatPositions_) {
      largestRepeatPositions_ = positions_[idx];
      largestRepeat_ = start;
    }
    items.back() = idx;
    return true;
  }

  // '(' ...: a group, a flag change (returns kNoItem), or a refusal.
  std::optional<uint32_t> parseGroup(Flags& flags) {
    size_t open = pos_;
    std::string_view t = p_.substr(pos_);
    Flags inner = flags;
    if (t.size() >= 2 && t[1] == '?') {
      if (t.size() >= 3 && (t[2] == '=' || t[2] == '!')) {
        fail(open, fmt::format("lookahead {} is not supported: RE2 refuses it and a finite "
                               "automaton cannot look ahead; rewrite the pattern without it",
                               quote(t.substr(0, 3))));
        return std::nullopt;
      }
      if (t.size() >= 4 && t[2] == '<' && (t[3] == '=' || t[3] == '!')) {
        fail(open, fmt::format("lookbehind {} is not supported: RE2 refuses it and a finite "
                               "automaton cannot look behind; rewrite the pattern without it",
                               quote(t.substr(0, 4))));
        return std::nullopt;
      }
      if (t.size() >= 4 && t[2] == 'P' && t[3] == '=') {
        fail(open, "named backreferences (?P=name) are not supported: RE2 refuses them and no "
                   "finite automaton can match them; write the text out instead");
        return std::nullopt;
      }
      if ((t.size() >= 3 && t[2] == '<') || (t.size() >= 4 && t[2] == 'P' && t[3] == '<')) {
        size_t begin = t[2] == 'P' ? 4 : 3;
        size_t end = t.find('>', begin);
        if (end == std::string_view::npos) {
          fail(open, "the group name has no closing '>'; write (?P<name>...)");
          return std::nullopt;
        }
        std::string_view name = t.substr(begin, end - begin);
        bool valid = !name.empty();
        for (char ch : name)
          if (!(isAsciiAlnum(uint8_t(ch)) || ch == '_' || uint8_t(ch) >= 0x80)) valid = false;
        if (!valid) {
          fail(open + begin, fmt::format("invalid group name {}: use letters, digits and '_'",
                                         quote(name)));
          return std::nullopt;
        }
        pos_ += end + 1;
        return groupBody(inner, open);
      }
      // Flags: (?flags) or (?flags:...).
      size_t i = 2;
      bool negated = false, sawFlag = false;
      Flags next = flags;
      for (;;) {
        if (i >= t.size()) {
          fail(open, "unterminated flag group; write (?i) or (?i:...)");
          return std::nullopt;
        }
        char f = t[i];
        if (f == ')' || f == ':') {
          if (negated && !sawFlag) {
            fail(open + i, "a '-' in a flag group must be followed by a flag, as in (?-i)");
            return std::nullopt;
          }
          if (i == 2 && f == ')') {
            fail(open, "empty flag group '(?)'; write (?i), (?s), (?U) or (?:...)");
            return std::nullopt;
          }
          pos_ += i + 1;
          if (f == ')') {
            flags = next;  // for the rest of the current group
            return kNoItem;
          }
          return groupBody(next, open);
        }
        switch (f) {
          case 'i': next.foldCase = !negated; sawFlag = true; break;
          case 's': next.dotNL = !negated; sawFlag = true; break;
          case 'U': next.nonGreedy = !negated; sawFlag = true; break;
          case 'm':
            if (!negated) {
              fail(open + i, "multi-line mode (?m) is not supported: HTTP and Kafka values have no "
                             "line breaks, so remove the flag");
              return std::nullopt;
            }
            sawFlag = true;  // (?-m) is RE2's default
            break;
          case '-':
            if (negated) {
              fail(open + i, "a flag group may hold one '-'; write (?i-s)");
              return std::nullopt;
            }
            negated = true;
            sawFlag = false;
            break;
          default: {
            uint32_t rune;
            size_t n = decodeUtf8(t, i, rune);
            fail(open + i, fmt::format("unknown flag or group syntax {}: RE2 accepts (?:...), "
                                       "(?P<name>...), (?<name>...) and the flags i, s, U",
                                       quote(t.substr(0, i + std::max<size_t>(n, 1)))));
            return std::nullopt;
          }
        }
        ++i;
      }
    }
    ++pos_;
    return groupBody(inner, open);
  }

  std::optional<uint32_t> groupBody(Flags inner, size_t open) {
    if (++depth_ > kRegexMaxNesting) {
      fail(open, fmt::format("groups are nested more than {} deep; simplify the pattern",
                             kRegexMaxNesting));
      return std::nullopt;
    }
    auto body = parseAlternation(inner, column_[pos_]);
    if (!body) return std::nullopt;
    if (pos_ >= p_.size() || p_[pos_] != ')') {
      fail(open, "missing ')' for the group opened here; add ')' or escape the '(' as '\\('");
      return std::nullopt;
    }
    ++pos_;
    --depth_;
    return body;
  }

  // An escape outside a class: assertions, Perl classes, \Q...\E, or one
  // character. Returns the items it adds (\Q...\E adds several, \Q\E none).
  std::optional<std::vector<uint32_t>> parseEscapeItem(const Flags& flags) {
    size_t start = pos_;
    if (pos_ + 1 >= p_.size()) {
      fail(start, "trailing backslash; write '\\\\' to match a backslash");
      return std::nullopt;
    }
    char c = p_[pos_ + 1];
    switch (c) {
      case 'b':
      case 'B':
        fail(start, fmt::format("word boundaries (\\{}) are not supported by sluice's automata; "
                                "match the neighbouring characters explicitly instead, e.g. "
                                "(^|[^a-zA-Z0-9_])",
                                c));
        return std::nullopt;
      case 'A':
        pos_ += 2;
        return std::vector<uint32_t>{addSimple(RegexOp::BeginText, start)};
      case 'z':
        pos_ += 2;
        return std::vector<uint32_t>{addSimple(RegexOp::EndText, start)};
      case 'Z':
        fail(start, "\\Z is not an escape RE2 accepts; use \\z or $ for the end of the value");
        return std::nullopt;
      case 'C':
        fail(start, "\\C (any byte) is not supported: Go's regexp, with which Cilium validates "
                    "HTTP rules, refuses it; use . or (?s:.)");
        return std::nullopt;
      case 'p':
      case 'P':
        fail(start, "Unicode classes (\\p, \\P) are not supported; list the characters in a "
                    "bracket class instead, e.g. [a-zA-Z]");
        return std::nullopt;
      case 'Q': {
        pos_ += 2;
        std::vector<uint32_t> out;
        while (pos_ < p_.size()) {
          if (p_.substr(pos_, 2) == "\\E") {
            pos_ += 2;
            break;
          }
          size_t at = pos_;
          uint32_t rune;
          pos_ += decodeUtf8(p_, pos_, rune);
          auto l = literal(rune, flags, at);
          if (!l) return std::nullopt;
          out.push_back(*l);
        }
        return out;
      }
      default: break;
    }
    if (const Ranges* g = perlClass(c)) {
      pos_ += 2;
      auto r = perlSet(*g, c >= 'A' && c <= 'Z', flags, start);
      if (!r) return std::nullopt;
      return std::vector<uint32_t>{addChars(std::move(*r), start)};
    }
    uint32_t rune;
    if (!parseEscape(rune)) return std::nullopt;
    auto l = literal(rune, flags, start);
    if (!l) return std::nullopt;
    return std::vector<uint32_t>{*l};
  }

  // A Perl or POSIX class, negated or not, with RE2's case folding (folded
  // first, then negated).
  std::optional<Ranges> perlSet(const Ranges& g, bool negated, const Flags& flags, size_t at) {
    auto r = fold(g, flags, at);
    if (!r) return std::nullopt;
    return negated ? negate(*r) : *r;
  }

  // One escaped character at pos_ (a backslash): \n \t \r \f \v \a, \xHH,
  // \x{H...}, octal, or ASCII punctuation.
  bool parseEscape(uint32_t& rune) {
    size_t start = pos_;
    if (pos_ + 1 >= p_.size())
      return fail(start, "trailing backslash; write '\\\\' to match a backslash");
    uint32_t c;
    size_t n = decodeUtf8(p_, pos_ + 1, c);
    pos_ += 1 + n;
    auto bad = [&](std::string why) {
      return fail(start, fmt::format("invalid escape sequence {}: {}",
                                     snippet(start, pos_), why));
    };
    switch (c) {
      case '1': case '2': case '3': case '4': case '5': case '6': case '7':
        if (pos_ >= p_.size() || !isOctal(p_[pos_]))
          return fail(start, fmt::format("backreferences ({}) are not supported: RE2 refuses them "
                                         "and no finite automaton can match them; write the text "
                                         "out, or use \\x{{..}} for a character code",
                                         snippet(start, pos_)));
        [[fallthrough]];
      case '0': {
        uint32_t code = c - '0';
        for (int k = 0; k < 2 && pos_ < p_.size() && isOctal(p_[pos_]); ++k)
          code = code * 8 + (p_[pos_++] - '0');
        rune = code;
        return true;
      }
      case '8': case '9':
        return fail(start, fmt::format("backreferences ({}) are not supported: RE2 refuses them "
                                       "and no finite automaton can match them; write the text out",
                                       snippet(start, pos_)));
      case 'x': {
        if (pos_ < p_.size() && p_[pos_] == '{') {
          size_t i = pos_ + 1;
          uint32_t code = 0;
          size_t digits = 0;
          while (i < p_.size() && isHex(p_[i])) {
            code = code * 16 + hexValue(p_[i++]);
            ++digits;
            if (code > kMaxRune) {
              size_t close = p_.find('}', i);
              pos_ = close == std::string_view::npos ? i : close + 1;
              return bad("the code is above U+10FFFF");
            }
          }
          if (digits == 0 || i >= p_.size() || p_[i] != '}') {
            pos_ = std::min(i + 1, p_.size());
            return bad("write hex digits between braces, e.g. \\x{2F}");
          }
          pos_ = i + 1;
          rune = code;
          return true;
        }
        if (pos_ + 1 < p_.size() && isHex(p_[pos_]) && isHex(p_[pos_ + 1])) {
          rune = hexValue(p_[pos_]) * 16 + hexValue(p_[pos_ + 1]);
          pos_ += 2;
          return true;
        }
        pos_ = std::min(pos_ + 2, p_.size());
        return bad("write exactly two hex digits, e.g. \\x2F, or \\x{2F}");
      }
      case 'n': rune = '\n'; return true;
      case 'r': rune = '\r'; return true;
      case 't': rune = '\t'; return true;
      case 'a': rune = '\a'; return true;
      case 'f': rune = '\f'; return true;
      case 'v': rune = '\v'; return true;
      default:
        if (c < 0x80 && !isAsciiAlnum(c)) {
          rune = c;
          return true;
        }
        return bad(fmt::format("RE2 accepts a backslash only before punctuation and in \\d \\w "
                               "\\s \\n \\t \\xHH ...; remove the backslash to match {}",
                               c < 0x80 ? "'" + runeText(c) + "'" : messageRune(c)));
    }
  }

  // '[' ... ']'
  std::optional<uint32_t> parseClass(const Flags& flags) {
    size_t open = pos_;
    ++pos_;
    bool negated = false;
    if (pos_ < p_.size() && p_[pos_] == '^') {
      negated = true;
      ++pos_;
    }
    Ranges set;
    auto missing = [&] {
      fail(open, "missing ']' for the class opened here; add ']' or escape the '[' as '\\['");
      return std::nullopt;
    };
    bool first = true;
    while (pos_ < p_.size() && (p_[pos_] != ']' || first)) {
      first = false;
      size_t at = pos_;
      std::string_view t = p_.substr(pos_);
      if (t.size() > 2 && t[0] == '[' && t[1] == ':') {
        size_t end = t.find(":]", 2);
        if (end != std::string_view::npos) {
          std::string_view name = t.substr(2, end - 2);
          bool neg = !name.empty() && name[0] == '^';
          if (neg) name.remove_prefix(1);
          const Ranges* g = posixClass(name);
          if (!g) {
            fail(at, fmt::format("unknown character class {}; RE2 knows [:alnum:], [:alpha:], "
                                 "[:digit:], [:lower:], [:upper:], [:space:], [:word:], "
                                 "[:xdigit:], [:punct:] ...",
                                 quote(t.substr(0, end + 2))));
            return std::nullopt;
          }
          auto r = perlSet(*g, neg, flags, at);
          if (!r) return std::nullopt;
          set.insert(set.end(), r->begin(), r->end());
          pos_ += end + 2;
          continue;
        }
      }
      if (t.size() >= 2 && t[0] == '\\') {
        if (t[1] == 'p' || t[1] == 'P') {
          fail(at, "Unicode classes (\\p, \\P) are not supported; list the characters instead, "
                   "e.g. [a-zA-Z]");
          return std::nullopt;
        }
        if (const Ranges* g = perlClass(t[1])) {
          auto r = perlSet(*g, t[1] >= 'A' && t[1] <= 'Z', flags, at);
          if (!r) return std::nullopt;
          set.insert(set.end(), r->begin(), r->end());
          pos_ += 2;
          continue;
        }
      }
      uint32_t lo, hi;
      if (!classChar(lo)) return std::nullopt;
      if (p_.size() - pos_ >= 2 && p_[pos_] == '-' && p_[pos_ + 1] != ']') {
        ++pos_;
        if (pos_ >= p_.size()) return missing();
        if (!classChar(hi)) return std::nullopt;
        if (hi < lo) {
          fail(at, fmt::format("invalid character class range {}: it starts after it ends; "
                               "write {}-{}",
                               snippet(at, pos_), runeText(hi), runeText(lo)));
          return std::nullopt;
        }
      } else {
        hi = lo;
      }
      auto r = fold(Ranges{{lo, hi}}, flags, at);
      if (!r) return std::nullopt;
      set.insert(set.end(), r->begin(), r->end());
    }
    if (pos_ >= p_.size()) return missing();
    ++pos_;  // ']'
    set = normalize(std::move(set));
    if (negated) set = negate(set);
    return addChars(std::move(set), open);
  }

  bool classChar(uint32_t& rune) {
    if (p_[pos_] == '\\') return parseEscape(rune);
    pos_ += decodeUtf8(p_, pos_, rune);
    return true;
  }
};

// ---- printing -----------------------------------------------------------

std::string quotedRune(uint32_t c, char quoteChar) {
  if (c == uint32_t(quoteChar) || c == '\\') return std::string("\\") + char(c);
  return runeText(c);
}

std::string rangesText(const Ranges& r, bool bytes) {
  std::string out = bytes ? "b[" : "[";
  for (const auto& x : r) {
    auto one = [&](uint32_t c) {
      return (c == ']' || c == '-' || c == '^' || c == '\\') ? std::string("\\") + char(c)
                                                             : runeText(c);
    };
    out += one(x.lo);
    if (x.hi != x.lo) out += (x.hi == x.lo + 1 ? "" : "-") + one(x.hi);
  }
  return out + "]";
}

bool singleRune(const RegexNode& n) {
  return n.op == RegexOp::Chars && n.ranges.size() == 1 && n.ranges[0].lo == n.ranges[0].hi;
}

void dumpNode(const Regex& re, uint32_t idx, std::string& out) {
  const RegexNode& n = re.nodes[idx];
  switch (n.op) {
    case RegexOp::Empty: out += "(empty)"; return;
    case RegexOp::BeginText: out += "(begin)"; return;
    case RegexOp::EndText: out += "(end)"; return;
    case RegexOp::Chars:
    case RegexOp::Bytes:
      if (n.ranges.size() == 1 && n.ranges[0].lo == n.ranges[0].hi)
        out += (n.op == RegexOp::Bytes ? "b'" : "'") + quotedRune(n.ranges[0].lo, '\'') + "'";
      else
        out += rangesText(n.ranges, n.op == RegexOp::Bytes);
      return;
    case RegexOp::Concat: {
      out += "(cat";
      for (size_t i = 0; i < n.subs.size();) {
        out += ' ';
        size_t j = i;
        while (j < n.subs.size() && singleRune(re.nodes[n.subs[j]])) ++j;
        if (j - i >= 2) {  // a run of single characters prints as a string
          out += '"';
          for (size_t k = i; k < j; ++k) out += quotedRune(re.nodes[n.subs[k]].ranges[0].lo, '"');
          out += '"';
          i = j;
          continue;
        }
        dumpNode(re, n.subs[i], out);
        ++i;
      }
      out += ')';
      return;
    }
    case RegexOp::Alternate:
      out += "(alt";
      for (uint32_t s : n.subs) {
        out += ' ';
        dumpNode(re, s, out);
      }
      out += ')';
      return;
    case RegexOp::Repeat:
      out += fmt::format("(rep {} {}{} ", n.min,
                         n.max < 0 ? std::string("inf") : std::to_string(n.max),
                         n.greedy ? "" : " lazy");
      dumpNode(re, n.subs[0], out);
      out += ')';
      return;
  }
}

}  // namespace

std::optional<Regex> parseRegex(std::string_view pattern, RegexError& error) {
  error = {};
  return Parser(pattern, error).run();
}

Regex Regex::exact(std::string_view value, bool ignoreAsciiCase) {
  Regex re;
  RegexNode cat;
  cat.op = value.empty() ? RegexOp::Empty : RegexOp::Concat;
  for (size_t i = 0; i < value.size(); ++i) {
    uint32_t b = uint8_t(value[i]);
    RegexNode n;
    n.op = RegexOp::Bytes;
    n.column = uint32_t(i + 1);
    n.ranges = {{b, b}};
    if (ignoreAsciiCase && ((b | 0x20) >= 'a' && (b | 0x20) <= 'z'))
      n.ranges = {{b & ~0x20u, b & ~0x20u}, {b | 0x20u, b | 0x20u}};
    re.nodes.push_back(std::move(n));
    cat.subs.push_back(uint32_t(i));
  }
  if (value.size() == 1) {
    re.root = 0;
    return re;
  }
  re.nodes.push_back(std::move(cat));
  re.root = uint32_t(re.nodes.size() - 1);
  return re;
}

std::string Regex::dump() const {
  std::string out = "regex \"";
  for (size_t i = 0; i < pattern.size();) {
    uint32_t rune;
    size_t n = decodeUtf8(pattern, i, rune);
    if (n == 0) {
      out += fmt::format("\\x{:02X}", uint8_t(pattern[i]));
      ++i;
      continue;
    }
    out += quotedRune(rune, '"');
    i += n;
  }
  out += "\"\n";
  if (!nodes.empty()) dumpNode(*this, root, out);
  out += '\n';
  return out;
}

}  // namespace sluice
