// Diagnostics are collected, never thrown: a stage reports every problem it
// finds and the pipeline stops after the stage that reported an error.
// Rendering (tested byte for byte):
//
//   file:line:col: error: Kind ns/name: field.path: message
//      12 |         endPort: 70
//         |         ^
//
// Rendering escapes control characters (a manifest's text cannot start a new
// line or colour a CI log) and quotes a window of a very long line.
#pragma once

#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "base/source.h"

namespace sluice {

enum class Severity { Error, Warning, Note };

struct Diagnostic {
  Severity severity = Severity::Error;
  SourceLoc loc;
  std::string object;  // "NetworkPolicy shop/allow-web"; empty if not about one object
  std::string field;   // "spec.ingress[0].ports[1].endPort"; empty if about the object
  std::string message;
};

class Diagnostics {
 public:
  void error(SourceLoc loc, std::string object, std::string field, std::string message);
  void warning(SourceLoc loc, std::string object, std::string field, std::string message);
  void note(SourceLoc loc, std::string object, std::string field, std::string message);
  void add(Diagnostic d);

  bool hasErrors() const { return errors_ > 0; }
  // Errors reported, repeats included (all() keeps each once).
  size_t errorCount() const { return errors_; }
  const std::vector<Diagnostic>& all() const { return list_; }
  // Reports not kept: repeats of a kept one at the same place (a YAML alias
  // reaches one node by many paths), and any past kMaxKept.
  size_t dropped() const { return dropped_; }
  static constexpr size_t kMaxKept = 100000;

  // All diagnostics in the order reported, each with its source line and caret.
  std::string render(bool withSourceLines = true) const;
  static std::string render(const Diagnostic& d, bool withSourceLines = true);
  // One line about dropped(): "note: 3 repeated diagnostics not shown ...".
  std::string droppedSummary() const;

 private:
  std::vector<Diagnostic> list_;
  // What was reported already: a later stage that meets the same problem once
  // per node (code generation does) reports it once, and a problem in a node
  // that YAML aliases reach by many paths is kept at its place once.
  using Key = std::tuple<int, const void*, uint32_t, uint32_t, std::string, std::string>;
  std::set<Key> reported_;  // by field path
  std::set<Key> seen_;      // by place and last field name
  size_t errors_ = 0;
  size_t dropped_ = 0;
};

}  // namespace sluice
