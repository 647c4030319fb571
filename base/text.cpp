#include "base/text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace sluice {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if there is none.
size_t utf8Length(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return n;
}

char lower(char c) { return char(std::tolower(static_cast<unsigned char>(c))); }

// Optimal string alignment distance, case-insensitive.
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

}  // namespace

std::string displayText(std::string_view value, size_t maxChars) {
  std::string out;
  size_t chars = 0;
  size_t i = 0;
  for (; i < value.size() && chars < maxChars; ++chars) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += char(c);
      ++i;
      continue;
    }
    if (size_t n = c >= 0x80 ? utf8Length(value, i) : 0; n) {
      // U+0080..U+009F are C1 control codes (CSI is one): escape those too.
      bool c1 = n == 2 && c == 0xC2 && static_cast<unsigned char>(value[i + 1]) < 0xA0;
      if (!c1) {
        out.append(value.substr(i, n));
        i += n;
        continue;
      }
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(value[i + 1]));
      i += n;
      continue;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: out += fmt::format("\\x{:02x}", c);
    }
    ++i;
  }
  if (i < value.size()) out += fmt::format("\u2026 ({} bytes)", value.size());
  return out;
}

std::string quote(std::string_view value, size_t maxChars) {
  return "'" + displayText(value, maxChars) + "'";
}

std::string closestMatch(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  size_t bestDistance = std::min<size_t>(3, std::max<size_t>(1, word.size() / 3)) + 1;
  for (std::string_view c : candidates) {
    size_t d = editDistance(word, c);
    // The same word but for case is the likeliest: `apiversion`, `Networkpolicy`.
    if (d == 0 && c != word) return std::string(c);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  if (!best.empty()) return std::string(best);
  // A shortened word (`auth` for `authentication`).
  if (word.size() >= 4)
    for (std::string_view c : candidates)
      if (c.size() > word.size() && editDistance(word, c.substr(0, word.size())) == 0) return std::string(c);
  return {};
}

}  // namespace sluice
