// Typed, located access to one YAML document, for the per-kind parsers.
// Internal to frontend/ and to the few readers of sluice's own located YAML
// files (review/expectations.cpp): manifests stay behind the loader.
//
// A Field is a YAML node (yaml_tree.h) plus its field path ("spec.ingress[0].ports[1]") and
// its source location. Accessors report problems to the Diagnostics with that
// path and location and return nullopt, so a parser reads every field, collects
// every error, and never throws.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/diagnostics.h"
#include "frontend/cluster_state.h"
#include "frontend/yaml_tree.h"

namespace sluice {

struct DocContext {
  Diagnostics* diags;
  std::shared_ptr<const SourceFile> file;
  std::string object;  // "Pod shop/web-1" once metadata is read; "Pod" before
};

class Field {
 public:
  // `node` null: the field is absent.
  Field(DocContext* ctx, const yaml::Node* node, std::string path, SourceLoc loc, SourceLoc keyLoc = {})
      : ctx_(ctx), node_(node), path_(std::move(path)), loc_(std::move(loc)),
        keyLoc_(keyLoc.known() ? std::move(keyLoc) : loc_) {}

  // Present and not null (`field: ~` and `field:` count as absent, as in the API).
  bool present() const { return node_ && !node_->isNull(); }
  // Written out as null (`field:` with nothing after it, or `field: ~`): the
  // API reads it as absent, which is rarely what its author meant.
  bool writtenNull() const { return node_ && node_->isNull(); }
  const std::string& path() const { return path_; }
  const SourceLoc& loc() const { return loc_; }
  const SourceLoc& keyLoc() const { return keyLoc_; }
  DocContext* ctx() const { return ctx_; }

  bool isMap() const { return node_ && node_->isMap(); }
  bool isSeq() const { return node_ && node_->isSeq(); }
  bool isScalar() const { return node_ && node_->isScalar(); }
  // The scalar was quoted in the source ("80" rather than 80).
  bool isQuoted() const { return isScalar() && node_->quoted; }

  // Child of a mapping. Absent keys give a non-present Field located at the parent.
  Field operator[](std::string_view key) const;
  // Elements of a sequence; reports an error (and returns nothing) if not a list.
  std::vector<Field> items() const;
  // Entries of a mapping, in source order; reports an error if not a mapping.
  std::vector<std::pair<std::string, Field>> entries() const;

  // Reports an error unless this is a mapping; also reports duplicate keys.
  bool expectMap() const;
  // Reports an error for each key not in `known`: a misspelt policy field must
  // not be silently ignored.
  void onlyKeys(std::initializer_list<std::string_view> known) const;

  std::optional<std::string> str() const;        // any scalar
  std::optional<std::string> requiredStr() const;  // present and non-empty
  std::optional<int64_t> integer(int64_t lo, int64_t hi) const;
  std::optional<bool> boolean() const;
  // int-or-string port (1..65535, or an IANA_SVC_NAME when `allowName`).
  std::optional<PortRef> port(bool allowName, bool allowZero = false) const;
  std::optional<Protocol> protocol() const;  // TCP, UDP, SCTP; absent -> nullopt, no error
  std::optional<IpAddr> ip() const;
  std::optional<Cidr> cidr() const;
  // A string map such as metadata.labels, validated as labels when `asLabels`.
  Labels stringMap(bool asLabels) const;
  // One of `choices`; reports the list of valid values otherwise.
  std::optional<std::string> oneOf(std::initializer_list<std::string_view> choices) const;

  void error(std::string message) const;
  void errorAtKey(std::string message) const;
  void warning(std::string message) const;
  void note(std::string message) const;

 private:
  std::string typeName() const;
  Field child(const yaml::Node* key, const yaml::Node* value, std::string path) const;

  DocContext* ctx_;
  const yaml::Node* node_;
  std::string path_;
  SourceLoc loc_;
  SourceLoc keyLoc_;
};

// "unknown field 'x': did you mean `y`?" when one of `known` is close, else
// the list of fields sluice reads, followed by `unsupportedNote`.
std::string unknownFieldMessage(std::string_view key, const std::vector<std::string_view>& known,
                                std::string_view unsupportedNote = "");

SourceLoc locOf(const std::shared_ptr<const SourceFile>& file, const yaml::Node& node);

}  // namespace sluice
