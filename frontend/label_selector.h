// Kubernetes labels and label selectors (metav1.LabelSelector), with the
// API server's syntax rules for keys and values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/source.h"

namespace sluice {

using Labels = std::map<std::string, std::string>;

struct LabelRequirement {
  enum class Op : uint8_t { In, NotIn, Exists, DoesNotExist };
  std::string key;
  Op op = Op::In;
  std::vector<std::string> values;  // sorted, unique
  SourceLoc loc;

  // NotIn and DoesNotExist match objects without the key.
  bool matches(const Labels& labels) const;
  std::string str() const;
};

struct LabelSelector {
  // matchLabels are folded into requirements (key In [value]) in input order
  // after the explicit expressions are appended; `empty()` selects everything.
  std::vector<LabelRequirement> requirements;
  SourceLoc loc;

  bool empty() const { return requirements.empty(); }
  bool matches(const Labels& labels) const;
  // Canonical text: requirements sorted, e.g. "app=web,tier in (a,b),!legacy".
  // "{}" for the empty selector.
  std::string str() const;
};

const char* opName(LabelRequirement::Op op);

// A selector in kubectl's `-l` syntax (the API machinery's labels.Parse):
// comma-separated requirements, all of which must hold:
//   app=web  app==web  app!=web  env in (prod,staging)  env notin (dev)  canary  !canary
// `!=` and `notin` also match objects without the key, as in kubectl. The
// empty text selects everything. On failure returns nullopt and says in
// `error` what was expected where.
std::optional<LabelSelector> parseSelectorText(std::string_view text, std::string& error);

// Syntax checks. Each returns an empty string when valid, else what was expected.
std::string checkLabelKey(std::string_view key);      // [prefix/]name, as metav1 validation
std::string checkLabelValue(std::string_view value);  // <= 63, alnum ends, [-_.] inside
std::string checkDNS1123Subdomain(std::string_view s);  // object names
std::string checkDNS1123Label(std::string_view s);      // namespace names, port names
std::string checkPortName(std::string_view s);          // IANA_SVC_NAME

}  // namespace sluice
