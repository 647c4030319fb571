// Text from manifests, shown to people: echoed safely, and matched against
// the words a reader probably meant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// `value` as a diagnostic may print it: control characters escaped (\n, \t,
// \x1b, ...) so a manifest cannot forge lines or colours in a CI log, and a
// long value cut to its first `maxChars` characters with its length shown
// ("aaaa… (4096 bytes)"). Valid UTF-8 is kept; invalid bytes are escaped.
std::string displayText(std::string_view value, size_t maxChars = 80);

// displayText in single quotes: 'value'.
std::string quote(std::string_view value, size_t maxChars = 80);

// The candidate `word` most probably meant: the same but for case, within a
// small edit distance (a third of its length, at most 3), or (four letters
// or more) its beginning. Empty if none.
std::string closestMatch(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace sluice
