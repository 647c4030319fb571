#include "frontend/label_selector.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>

namespace sluice {

const char* opName(LabelRequirement::Op op) {
  switch (op) {
    case LabelRequirement::Op::In: return "In";
    case LabelRequirement::Op::NotIn: return "NotIn";
    case LabelRequirement::Op::Exists: return "Exists";
    case LabelRequirement::Op::DoesNotExist: return "DoesNotExist";
  }
  return "In";
}

bool LabelRequirement::matches(const Labels& labels) const {
  auto it = labels.find(key);
  bool has = it != labels.end();
  auto contains = [&] { return std::binary_search(values.begin(), values.end(), it->second); };
  switch (op) {
    case Op::In: return has && contains();
    case Op::NotIn: return !has || !contains();
    case Op::Exists: return has;
    case Op::DoesNotExist: return !has;
  }
  return false;
}

std::string LabelRequirement::str() const {
  switch (op) {
    case Op::In:
      if (values.size() == 1) return fmt::format("{}={}", key, values[0]);
      return fmt::format("{} in ({})", key, fmt::join(values, ","));
    case Op::NotIn: return fmt::format("{} notin ({})", key, fmt::join(values, ","));
    case Op::Exists: return key;
    case Op::DoesNotExist: return "!" + key;
  }
  return key;
}

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& r : requirements)
    if (!r.matches(labels)) return false;
  return true;
}

std::string LabelSelector::str() const {
  if (requirements.empty()) return "{}";
  std::vector<std::string> parts;
  for (const auto& r : requirements) parts.push_back(r.str());
  std::sort(parts.begin(), parts.end());
  parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
  return fmt::format("{}", fmt::join(parts, ","));
}

static bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
static bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A qualified name's "name" part: <= 63, [A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside.
static std::string checkQualifiedNamePart(std::string_view s) {
  if (s.empty()) return "name part must be non-empty";
  if (s.size() > 63) return fmt::format("name part must be no more than 63 characters (got {})", s.size());
  if (!isAlnum(s.front()) || !isAlnum(s.back()))
    return "name part must start and end with an alphanumeric character";
  for (char c : s)
    if (!isAlnum(c) && c != '-' && c != '_' && c != '.')
      return fmt::format("name part must consist of alphanumeric characters, '-', '_' or '.' (found '{}')", c);
  return {};
}

std::string checkDNS1123Subdomain(std::string_view s) {
  if (s.empty()) return "must be non-empty";
  if (s.size() > 253) return fmt::format("must be no more than 253 characters (got {})", s.size());
  if (!isLowerAlnum(s.front()) || !isLowerAlnum(s.back()))
    return "must start and end with a lowercase alphanumeric character (RFC 1123 subdomain)";
  for (char c : s)
    if (!isLowerAlnum(c) && c != '-' && c != '.')
      return fmt::format("must consist of lowercase alphanumeric characters, '-' or '.' (found '{}')", c);
  // Each dot-separated part is a label: "a..b" and "a.-b" are not subdomains.
  for (size_t start = 0; start <= s.size();) {
    size_t dot = std::min(s.find('.', start), s.size());
    std::string_view part = s.substr(start, dot - start);
    if (part.empty() || !isLowerAlnum(part.front()) || !isLowerAlnum(part.back()))
      return "each part between dots must start and end with a lowercase alphanumeric character (RFC 1123 "
             "subdomain)";
    start = dot + 1;
  }
  return {};
}

std::string checkDNS1123Label(std::string_view s) {
  if (s.empty()) return "must be non-empty";
  if (s.size() > 63) return fmt::format("must be no more than 63 characters (got {})", s.size());
  if (!isLowerAlnum(s.front()) || !isLowerAlnum(s.back()))
    return "must start and end with a lowercase alphanumeric character (RFC 1123 label)";
  for (char c : s)
    if (!isLowerAlnum(c) && c != '-')
      return fmt::format("must consist of lowercase alphanumeric characters or '-' (found '{}')", c);
  return {};
}

std::string checkLabelKey(std::string_view key) {
  size_t slash = key.find('/');
  std::string_view name = key;
  if (slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (std::string err = checkDNS1123Subdomain(prefix); !err.empty()) return "prefix " + err;
  }
  return checkQualifiedNamePart(name);
}

std::string checkLabelValue(std::string_view v) {
  if (v.empty()) return {};
  if (v.size() > 63) return fmt::format("must be no more than 63 characters (got {})", v.size());
  if (!isAlnum(v.front()) || !isAlnum(v.back()))
    return "must start and end with an alphanumeric character";
  for (char c : v)
    if (!isAlnum(c) && c != '-' && c != '_' && c != '.')
      return fmt::format("must consist of alphanumeric characters, '-', '_' or '.' (found '{}')", c);
  return {};
}

std::string checkPortName(std::string_view s) {
  if (s.empty() || s.size() > 15) return "must be 1 to 15 characters (IANA_SVC_NAME)";
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') letter = true;
    else if (!(c >= '0' && c <= '9') && c != '-')
      return fmt::format("must consist of lowercase alphanumeric characters or '-' (found '{}')", c);
  }
  if (!letter) return "must contain at least one letter";
  if (s.front() == '-' || s.back() == '-') return "must not begin or end with '-'";
  if (s.find("--") != std::string_view::npos) return "must not contain consecutive '-'";
  return {};
}

namespace {

// Reads kubectl's selector syntax left to right. Tokens are keys and values
// (runs of anything but blanks and `,()=!`), the operators and parentheses.
class SelectorTextParser {
 public:
  explicit SelectorTextParser(std::string_view text) : text_(text) {}

  std::optional<LabelSelector> parse(std::string& error) {
    LabelSelector selector;
    skipBlanks();
    while (at_ < text_.size()) {
      auto requirement = parseRequirement();
      if (!requirement) break;
      selector.requirements.push_back(std::move(*requirement));
      skipBlanks();
      if (at_ == text_.size()) break;
      if (!take(",")) {
        fail("',' between requirements");
        break;
      }
      skipBlanks();
      if (at_ == text_.size()) fail("a requirement after ','");
    }
    if (!error_.empty()) {
      error = error_;
      return std::nullopt;
    }
    return selector;
  }

 private:
  static bool isSpecial(char c) { return c == ',' || c == '(' || c == ')' || c == '=' || c == '!'; }

  void skipBlanks() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }
  bool take(std::string_view token) {
    if (text_.substr(at_, token.size()) != token) return false;
    at_ += token.size();
    return true;
  }
  std::string_view word() {
    size_t start = at_;
    while (at_ < text_.size() && !isSpecial(text_[at_]) && !std::isspace(static_cast<unsigned char>(text_[at_])))
      ++at_;
    return text_.substr(start, at_ - start);
  }
  void fail(std::string_view expected) {
    if (!error_.empty()) return;
    error_ = at_ < text_.size() ? fmt::format("expected {} at column {}", expected, at_ + 1)
                                : fmt::format("expected {} at the end", expected);
  }
  void failAt(size_t column, std::string message) {
    if (error_.empty()) error_ = fmt::format("{} at column {}", message, column + 1);
  }

  std::optional<std::string> key() {
    skipBlanks();
    size_t start = at_;
    std::string_view k = word();
    if (k.empty()) {
      fail("a label key");
      return std::nullopt;
    }
    if (std::string err = checkLabelKey(k); !err.empty()) {
      failAt(start, fmt::format("invalid label key '{}': {}", k, err));
      return std::nullopt;
    }
    return std::string(k);
  }
  std::optional<std::string> value() {
    skipBlanks();
    size_t start = at_;
    std::string_view v = word();
    if (std::string err = checkLabelValue(v); !err.empty()) {
      failAt(start, fmt::format("invalid label value '{}': {}", v, err));
      return std::nullopt;
    }
    return std::string(v);
  }

  std::optional<LabelRequirement> parseRequirement() {
    using Op = LabelRequirement::Op;
    LabelRequirement r;
    if (take("!")) {
      auto k = key();
      if (!k) return std::nullopt;
      r.key = *k;
      r.op = Op::DoesNotExist;
      return r;
    }
    auto k = key();
    if (!k) return std::nullopt;
    r.key = *k;
    skipBlanks();
    if (at_ == text_.size() || text_[at_] == ',') {
      r.op = Op::Exists;
      return r;
    }
    if (take("!=")) r.op = Op::NotIn;
    else if (take("==") || take("=")) r.op = Op::In;
    else {
      size_t start = at_;
      std::string_view op = word();
      if (op != "in" && op != "notin") {
        at_ = start;
        fail("an operator (=, ==, !=, in, notin) or ','");
        return std::nullopt;
      }
      r.op = op == "in" ? Op::In : Op::NotIn;
      return valueSet(std::move(r));
    }
    auto v = value();
    if (!v) return std::nullopt;
    r.values = {*v};
    return r;
  }

  // `(a, b, c)` after in / notin: at least one value.
  std::optional<LabelRequirement> valueSet(LabelRequirement r) {
    skipBlanks();
    if (!take("(")) {
      fail("'(' and the values");
      return std::nullopt;
    }
    skipBlanks();
    if (at_ < text_.size() && text_[at_] == ')') {
      fail("at least one value inside the parentheses");
      return std::nullopt;
    }
    for (;;) {
      auto v = value();
      if (!v) return std::nullopt;
      r.values.push_back(*v);
      skipBlanks();
      if (take(")")) break;
      if (!take(",")) {
        fail("',' or ')'");
        return std::nullopt;
      }
    }
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
    return r;
  }

  std::string_view text_;
  size_t at_ = 0;
  std::string error_;
};

}  // namespace

std::optional<LabelSelector> parseSelectorText(std::string_view text, std::string& error) {
  return SelectorTextParser(text).parse(error);
}

}  // namespace sluice
