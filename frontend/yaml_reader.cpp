#include "frontend/yaml_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "base/text.h"

namespace sluice {

SourceLoc locOf(const std::shared_ptr<const SourceFile>& file, const yaml::Node& node) {
  return SourceLoc{file, node.line, node.col};
}

static std::string childPath(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return fmt::format("{}.{}", parent, key);
}

std::string Field::typeName() const {
  if (!present()) return "nothing";
  if (node_->isMap()) return "a mapping";
  if (node_->isSeq()) return "a list";
  return quote(node_->value);
}

Field Field::child(const yaml::Node* key, const yaml::Node* value, std::string path) const {
  SourceLoc keyLoc = locOf(ctx_->file, *key);
  SourceLoc valueLoc = value->isNull() || !value->line ? keyLoc : locOf(ctx_->file, *value);
  return Field(ctx_, value, std::move(path), valueLoc, keyLoc);
}

Field Field::operator[](std::string_view key) const {
  std::string path = childPath(path_, key);
  if (!isMap()) return Field(ctx_, nullptr, path, loc_);
  const auto& kv = node_->children;
  for (size_t i = 0; i + 1 < kv.size(); i += 2)
    if (kv[i]->isScalar() && kv[i]->value == key) return child(kv[i], kv[i + 1], path);
  return Field(ctx_, nullptr, path, loc_);
}

std::vector<Field> Field::items() const {
  std::vector<Field> out;
  if (!present()) return out;
  if (!isSeq()) {
    error(fmt::format("expected a list, got {}", typeName()));
    return out;
  }
  out.reserve(node_->children.size());
  size_t i = 0;
  for (const yaml::Node* item : node_->children) {
    SourceLoc loc = item->line ? locOf(ctx_->file, *item) : loc_;
    out.emplace_back(ctx_, item, fmt::format("{}[{}]", path_, i++), loc);
  }
  return out;
}

bool Field::expectMap() const {
  if (!present()) return false;
  if (!isMap()) {
    error(fmt::format("expected a mapping, got {}", typeName()));
    return false;
  }
  std::set<std::string_view> seen;
  const auto& kv = node_->children;
  for (size_t i = 0; i + 1 < kv.size(); i += 2) {
    const yaml::Node* key = kv[i];
    if (!key->isScalar()) {
      Field(ctx_, key, path_, locOf(ctx_->file, *key)).error("mapping keys must be strings");
      continue;
    }
    if (!seen.insert(key->value).second)
      Field(ctx_, key, childPath(path_, displayText(key->value)), locOf(ctx_->file, *key)).error("duplicate key");
  }
  return true;
}

std::vector<std::pair<std::string, Field>> Field::entries() const {
  std::vector<std::pair<std::string, Field>> out;
  if (!present()) return out;
  if (!isMap()) {
    error(fmt::format("expected a mapping, got {}", typeName()));
    return out;
  }
  const auto& kv = node_->children;
  for (size_t i = 0; i + 1 < kv.size(); i += 2) {
    if (!kv[i]->isScalar()) continue;
    const std::string& key = kv[i]->value;
    out.emplace_back(key, child(kv[i], kv[i + 1], childPath(path_, displayText(key))));
  }
  return out;
}

void Field::onlyKeys(std::initializer_list<std::string_view> known) const {
  std::vector<std::string_view> list(known);
  for (auto& [key, value] : entries()) {
    if (std::find(list.begin(), list.end(), key) != list.end()) continue;
    value.errorAtKey(unknownFieldMessage(key, list));
  }
}

std::string unknownFieldMessage(std::string_view key, const std::vector<std::string_view>& known,
                                std::string_view unsupportedNote) {
  if (std::string guess = closestMatch(key, known); !guess.empty())
    return fmt::format("unknown field {}: did you mean `{}`?", quote(key), guess);
  std::string expected;
  for (auto k : known) expected += (expected.empty() ? "" : ", ") + std::string(k);
  return fmt::format("unknown field {} (sluice reads: {}{})", quote(key), expected, unsupportedNote);
}

std::optional<std::string> Field::str() const {
  if (!present()) return std::nullopt;
  if (!isScalar()) {
    error(fmt::format("expected a string, got {}", typeName()));
    return std::nullopt;
  }
  return node_->value;
}

std::optional<std::string> Field::requiredStr() const {
  if (!present()) {
    error("required field is missing");
    return std::nullopt;
  }
  auto s = str();
  if (s && s->empty()) {
    error("must not be empty");
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> Field::integer(int64_t lo, int64_t hi) const {
  if (!present()) return std::nullopt;
  if (!isScalar() || isQuoted()) {
    error(fmt::format("expected an integer, got {}{}", isQuoted() ? "the string " : "", typeName()));
    return std::nullopt;
  }
  const std::string& s = node_->value;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    error(fmt::format("expected an integer, got {}", quote(s)));
    return std::nullopt;
  }
  if (v < 0 && lo >= 0) {
    error(fmt::format("must not be negative (got {})", v));
    return std::nullopt;
  }
  if (v < lo || v > hi) {
    error(fmt::format("must be between {} and {}, inclusive (got {})", lo, hi, v));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> Field::boolean() const {
  if (!present()) return std::nullopt;
  if (isScalar() && !isQuoted()) {
    const std::string& s = node_->value;
    if (s == "true") return true;
    if (s == "false") return false;
  }
  error(fmt::format("expected true or false, got {}{}", isQuoted() ? "the string " : "", typeName()));
  return std::nullopt;
}

std::optional<PortRef> Field::port(bool allowName, bool allowZero) const {
  if (!present()) return std::nullopt;
  if (!isScalar()) {
    error(fmt::format("expected a port number or name, got {}", typeName()));
    return std::nullopt;
  }
  const std::string& s = node_->value;
  PortRef ref;
  ref.loc = loc_;
  bool numeric = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  if (!isQuoted() && s.size() > 1 && s[0] == '-' && s.find_first_not_of("0123456789", 1) == std::string::npos) {
    error(fmt::format("a port may not be negative (got {})", s));
    return std::nullopt;
  }
  if (numeric && !isQuoted()) {
    auto v = integer(allowZero ? 0 : 1, 65535);
    if (!v) return std::nullopt;
    ref.number = uint16_t(*v);
    return ref;
  }
  if (!allowName) {
    error(fmt::format("expected a port number, got {}", typeName()));
    return std::nullopt;
  }
  // A quoted number is a string in the API: an IntOrString of type String must be a valid port name.
  if (std::string err = checkPortName(s); !err.empty()) {
    error(fmt::format("port name {} {}", quote(s), err));
    return std::nullopt;
  }
  ref.name = s;
  return ref;
}

std::optional<Protocol> Field::protocol() const {
  auto s = oneOf({"TCP", "UDP", "SCTP"});
  if (!s) return std::nullopt;
  if (*s == "UDP") return Protocol::UDP;
  if (*s == "SCTP") return Protocol::SCTP;
  return Protocol::TCP;
}

std::optional<std::string> Field::oneOf(std::initializer_list<std::string_view> choices) const {
  auto s = str();
  if (!s) return std::nullopt;
  for (auto c : choices)
    if (c == *s) return s;
  std::string expected;
  for (auto c : choices) expected += (expected.empty() ? "\"" : ", \"") + std::string(c) + "\"";
  error(fmt::format("unsupported value \"{}\": supported values: {}", displayText(*s), expected));
  return std::nullopt;
}

std::optional<IpAddr> Field::ip() const {
  auto s = str();
  if (!s) return std::nullopt;
  auto a = IpAddr::parse(*s);
  if (!a) error(fmt::format("{} is not a valid IP address", quote(*s)));
  return a;
}

std::optional<Cidr> Field::cidr() const {
  auto s = str();
  if (!s) return std::nullopt;
  bool hostBits = false;
  auto c = Cidr::parse(*s, &hostBits);
  if (!c) {
    error(fmt::format("{} is not a valid CIDR (expected an address and a prefix length, e.g. 10.0.0.0/8)",
                      quote(*s)));
    return std::nullopt;
  }
  if (hostBits) warning(fmt::format("{} has host bits set; it is read as {}", quote(*s), c->str()));
  return c;
}

Labels Field::stringMap(bool asLabels) const {
  Labels out;
  if (!present() || !expectMap()) return out;
  for (auto& [key, value] : entries()) {
    if (asLabels) {
      if (std::string err = checkLabelKey(key); !err.empty())
        value.errorAtKey(fmt::format("invalid label key {}: {}", quote(key), err));
    }
    std::string v;
    if (value.present()) {
      if (!value.isScalar()) {
        value.error(fmt::format("expected a string, got {}", value.typeName()));
        continue;
      }
      v = *value.str();
    }
    if (asLabels) {
      if (std::string err = checkLabelValue(v); !err.empty())
        value.error(fmt::format("invalid label value {}: {}", quote(v), err));
    }
    out[key] = v;
  }
  return out;
}

void Field::error(std::string message) const {
  ctx_->diags->error(loc_, ctx_->object, path_, std::move(message));
}
void Field::errorAtKey(std::string message) const {
  ctx_->diags->error(keyLoc_, ctx_->object, path_, std::move(message));
}
void Field::warning(std::string message) const {
  ctx_->diags->warning(loc_, ctx_->object, path_, std::move(message));
}
void Field::note(std::string message) const {
  ctx_->diags->note(loc_, ctx_->object, path_, std::move(message));
}

}  // namespace sluice
