// A bounded YAML/JSON reader: libyaml's event parser builds a small tree of
// located nodes, and refuses input that would make a reader's work explode.
// Internal to frontend/ (yaml_reader.h wraps it for the per-kind parsers).
//
// Why not a general-purpose YAML library: manifests come from pull requests
// and from watched directories, so the reader is an attack surface. The
// limits below are what Kubernetes' own YAML decoding enforces in spirit
// (go-yaml refuses "excessive aliasing"; the API server bounds request
// sizes and nesting): no valid manifest comes near them, and every refusal
// names the place in the file where the limit was crossed.
//
// Semantics follow what kubectl and the API server read (YAML 1.1 as go-yaml
// reads it): `~`, `null`, `Null`, `NULL` and an empty plain scalar are null;
// aliases share their anchor's node; merge keys (`<<: *base`) are expanded.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::yaml {

struct Node {
  enum class Kind : uint8_t { Null, Scalar, Sequence, Mapping };
  Kind kind = Kind::Null;
  // A scalar written as a string: quoted, a block scalar, or tagged !!str or !.
  // `port: "80"` is the string "80", `port: 80` the number 80.
  bool quoted = false;
  uint32_t line = 0;  // 1-based; 0 when unknown
  uint32_t col = 0;   // 1-based, in characters
  std::string value;  // scalars
  // Sequence items; for a mapping, keys and values alternate (k0, v0, k1, v1...).
  std::vector<const Node*> children;

  bool isMap() const { return kind == Kind::Mapping; }
  bool isSeq() const { return kind == Kind::Sequence; }
  bool isScalar() const { return kind == Kind::Scalar; }
  bool isNull() const { return kind == Kind::Null; }
  size_t mapSize() const { return children.size() / 2; }
};

struct Limits {
  // Sequences and mappings open at once. Kubernetes objects nest about 10 deep.
  uint32_t maxDepth = 100;
  // Nodes in one file (about 80 bytes each): bounds memory.
  uint64_t maxNodes = 16u << 20;
  // Nodes that aliases add to the file's own, an alias counting as the nodes
  // it stands for (an alias of a 1,000-node anchor costs 1,000). Bounds the
  // work of every reader walking the tree: a 2 KB "billion laughs" of nested
  // aliases would expand to millions of nodes and as many diagnostics.
  uint64_t maxAliasNodes = 100000;
};

struct Error {
  uint32_t line = 1;
  uint32_t col = 1;
  std::string message;
};

// All documents of one file. A file with a syntax error, or past a limit, is
// refused as a whole (error() says where): no partial tree is returned.
class Stream {
 public:
  bool parse(std::string_view text, const Limits& limits = {});
  const Error& error() const { return error_; }
  // One root per document; an empty document's root is a null node.
  const std::vector<const Node*>& documents() const { return documents_; }

 private:
  std::deque<Node> arena_;
  std::vector<const Node*> documents_;
  Error error_;
};

}  // namespace sluice::yaml
