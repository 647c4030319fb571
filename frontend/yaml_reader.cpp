#include "frontend/yaml_reader.h"

#include <fmt/format.h>

#include <charconv>
#include <set>

namespace sluice {

SourceLoc locOf(const std::shared_ptr<const SourceFile>& file, const YAML::Mark& mark) {
  SourceLoc loc;
  loc.file = file;
  if (!mark.is_null() && mark.line >= 0) {
    loc.line = uint32_t(mark.line) + 1;
    loc.col = uint32_t(mark.column) + 1;
  }
  return loc;
}

static std::string childPath(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return fmt::format("{}.{}", parent, key);
}

std::string Field::typeName() const {
  if (!present()) return "nothing";
  if (node_.IsMap()) return "a mapping";
  if (node_.IsSequence()) return "a list";
  return fmt::format("'{}'", node_.Scalar());
}

Field Field::operator[](std::string_view key) const {
  std::string path = childPath(path_, key);
  if (!node_.IsMap()) return Field(ctx_, YAML::Node(YAML::NodeType::Undefined), path, loc_);
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) {
      SourceLoc keyLoc = locOf(ctx_->file, it->first.Mark());
      SourceLoc valueLoc = it->second.IsNull() ? keyLoc : locOf(ctx_->file, it->second.Mark());
      if (!valueLoc.known()) valueLoc = keyLoc;
      return Field(ctx_, it->second, path, valueLoc, keyLoc);
    }
  }
  return Field(ctx_, YAML::Node(YAML::NodeType::Undefined), path, loc_);
}

std::vector<Field> Field::items() const {
  std::vector<Field> out;
  if (!present()) return out;
  if (!node_.IsSequence()) {
    error(fmt::format("expected a list, got {}", typeName()));
    return out;
  }
  size_t i = 0;
  for (const auto& child : node_) {
    SourceLoc loc = locOf(ctx_->file, child.Mark());
    if (!loc.known()) loc = loc_;
    out.emplace_back(ctx_, child, fmt::format("{}[{}]", path_, i++), loc);
  }
  return out;
}

bool Field::expectMap() const {
  if (!present()) return false;
  if (!node_.IsMap()) {
    error(fmt::format("expected a mapping, got {}", typeName()));
    return false;
  }
  std::set<std::string> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) {
      Field(ctx_, it->first, path_, locOf(ctx_->file, it->first.Mark())).error("mapping keys must be strings");
      continue;
    }
    if (!seen.insert(it->first.Scalar()).second)
      Field(ctx_, it->first, childPath(path_, it->first.Scalar()), locOf(ctx_->file, it->first.Mark()))
          .error("duplicate key");
  }
  return true;
}

std::vector<std::pair<std::string, Field>> Field::entries() const {
  std::vector<std::pair<std::string, Field>> out;
  if (!present()) return out;
  if (!node_.IsMap()) {
    error(fmt::format("expected a mapping, got {}", typeName()));
    return out;
  }
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string& key = it->first.Scalar();
    SourceLoc keyLoc = locOf(ctx_->file, it->first.Mark());
    SourceLoc valueLoc = it->second.IsNull() ? keyLoc : locOf(ctx_->file, it->second.Mark());
    if (!valueLoc.known()) valueLoc = keyLoc;
    out.emplace_back(key, Field(ctx_, it->second, childPath(path_, key), valueLoc, keyLoc));
  }
  return out;
}

void Field::onlyKeys(std::initializer_list<std::string_view> known) const {
  if (!node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string& key = it->first.Scalar();
    bool ok = false;
    for (auto k : known) ok = ok || k == key;
    if (ok) continue;
    std::string expected;
    for (auto k : known) expected += (expected.empty() ? "" : ", ") + std::string(k);
    Field(ctx_, it->second, childPath(path_, key), locOf(ctx_->file, it->first.Mark()))
        .error(fmt::format("unknown field (expected one of: {})", expected));
  }
}

std::optional<std::string> Field::str() const {
  if (!present()) return std::nullopt;
  if (!node_.IsScalar()) {
    error(fmt::format("expected a string, got {}", typeName()));
    return std::nullopt;
  }
  return node_.Scalar();
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
  if (!node_.IsScalar() || isQuoted()) {
    error(fmt::format("expected an integer, got {}{}", isQuoted() ? "the string " : "", typeName()));
    return std::nullopt;
  }
  const std::string& s = node_.Scalar();
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    error(fmt::format("expected an integer, got '{}'", s));
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
  if (node_.IsScalar() && !isQuoted()) {
    const std::string& s = node_.Scalar();
    if (s == "true") return true;
    if (s == "false") return false;
  }
  error(fmt::format("expected true or false, got {}{}", isQuoted() ? "the string " : "", typeName()));
  return std::nullopt;
}

std::optional<PortRef> Field::port(bool allowName, bool allowZero) const {
  if (!present()) return std::nullopt;
  if (!node_.IsScalar()) {
    error(fmt::format("expected a port number or name, got {}", typeName()));
    return std::nullopt;
  }
  const std::string& s = node_.Scalar();
  PortRef ref;
  ref.loc = loc_;
  bool numeric = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
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
    error(fmt::format("port name '{}' {}", s, err));
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
  error(fmt::format("unsupported value \"{}\": supported values: {}", *s, expected));
  return std::nullopt;
}

std::optional<IpAddr> Field::ip() const {
  auto s = str();
  if (!s) return std::nullopt;
  auto a = IpAddr::parse(*s);
  if (!a) error(fmt::format("'{}' is not a valid IP address", *s));
  return a;
}

std::optional<Cidr> Field::cidr() const {
  auto s = str();
  if (!s) return std::nullopt;
  bool hostBits = false;
  auto c = Cidr::parse(*s, &hostBits);
  if (!c) {
    error(fmt::format("'{}' is not a valid CIDR (expected an address and a prefix length, e.g. 10.0.0.0/8)", *s));
    return std::nullopt;
  }
  if (hostBits) warning(fmt::format("'{}' has host bits set; it is read as {}", *s, c->str()));
  return c;
}

Labels Field::stringMap(bool asLabels) const {
  Labels out;
  if (!present() || !expectMap()) return out;
  for (auto& [key, value] : entries()) {
    if (asLabels) {
      if (std::string err = checkLabelKey(key); !err.empty())
        value.errorAtKey(fmt::format("invalid label key '{}': {}", key, err));
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
        value.error(fmt::format("invalid label value '{}': {}", v, err));
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
