#include "frontend/yaml_tree.h"

#include <fmt/format.h>
#include <yaml.h>

#include <map>
#include <memory>
#include <new>
#include <set>

namespace sluice::yaml {
namespace {

constexpr std::string_view kStrTag = "tag:yaml.org,2002:str";
constexpr std::string_view kNullTag = "tag:yaml.org,2002:null";

uint32_t clamp32(size_t v) { return v > UINT32_MAX - 1 ? UINT32_MAX - 1 : uint32_t(v); }

std::string_view text(const yaml_char_t* s) {
  return s ? std::string_view(reinterpret_cast<const char*>(s)) : std::string_view();
}

bool isNullScalar(const yaml_event_t& e) {
  std::string_view tag = text(e.data.scalar.tag);
  if (tag == kNullTag) return true;
  if (!tag.empty() || e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
  std::string_view v(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
  return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
}

// libyaml's parser and its current event, released on every path out.
struct Parser {
  yaml_parser_t parser;
  yaml_event_t event;
  bool haveEvent = false;
  Parser() { yaml_parser_initialize(&parser); }
  ~Parser() {
    if (haveEvent) yaml_event_delete(&event);
    yaml_parser_delete(&parser);
  }
  bool next() {
    if (haveEvent) yaml_event_delete(&event);
    haveEvent = yaml_parser_parse(&parser, &event) != 0;
    return haveEvent;
  }
};

class Builder {
 public:
  Builder(std::deque<Node>& arena, std::vector<const Node*>& documents, const Limits& limits, Error& error)
      : arena_(arena), documents_(documents), limits_(limits), error_(error) {}

  bool run(std::string_view input) {
    Parser p;
    yaml_parser_set_input_string(&p.parser, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    for (;;) {
      if (!p.next()) return syntaxError(p.parser);
      const yaml_event_t& e = p.event;
      switch (e.type) {
        case YAML_STREAM_END_EVENT: return true;
        case YAML_DOCUMENT_START_EVENT:
          anchors_.clear();
          root_ = nullptr;
          docMark_ = e.start_mark;
          break;
        case YAML_DOCUMENT_END_EVENT:
          if (!root_) root_ = newNode(Node::Kind::Null, docMark_);
          documents_.push_back(root_);
          break;
        case YAML_SCALAR_EVENT: {
          Node* n = newNode(isNullScalar(e) ? Node::Kind::Null : Node::Kind::Scalar, e.start_mark);
          if (!n) return false;
          std::string_view tag = text(e.data.scalar.tag);
          n->quoted = e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE || tag == kStrTag || tag == "!";
          if (n->kind == Node::Kind::Scalar)
            n->value.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
          if (!place(n, 1, text(e.data.scalar.anchor), e.start_mark)) return false;
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
          bool seq = e.type == YAML_SEQUENCE_START_EVENT;
          if (open_.size() >= limits_.maxDepth)
            return fail(e.start_mark, fmt::format("nesting deeper than {} levels: refused (a Kubernetes object "
                                                  "nests about 10 deep)",
                                                  limits_.maxDepth));
          Node* n = newNode(seq ? Node::Kind::Sequence : Node::Kind::Mapping, e.start_mark);
          if (!n) return false;
          std::string_view anchor = text(seq ? e.data.sequence_start.anchor : e.data.mapping_start.anchor);
          open_.push_back({n, std::string(anchor), 1});
          if (!anchor.empty()) inProgress_.insert(std::string(anchor));
          break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
          Open o = std::move(open_.back());
          open_.pop_back();
          if (o.node->isMap() && !expandMergeKeys(*o.node)) return false;
          if (!o.anchor.empty()) inProgress_.erase(o.anchor);
          if (!place(o.node, o.weight, o.anchor, e.start_mark)) return false;
          break;
        }
        case YAML_ALIAS_EVENT: {
          std::string name(text(e.data.alias.anchor));
          auto it = anchors_.find(name);
          if (it == anchors_.end()) {
            if (inProgress_.count(name))
              return fail(e.start_mark, fmt::format("alias *{} refers to the node that contains it", name));
            return fail(e.start_mark, fmt::format("alias *{} has no anchor &{} before it in this document", name, name));
          }
          aliasNodes_ += it->second.weight;
          if (aliasNodes_ > limits_.maxAliasNodes)
            return fail(e.start_mark, fmt::format("aliases expand to more than {} nodes: refused (a YAML alias bomb?)",
                                                  limits_.maxAliasNodes));
          if (!place(it->second.node, it->second.weight, "", e.start_mark)) return false;
          break;
        }
        default: break;
      }
    }
  }

 private:
  struct Open {
    Node* node;
    std::string anchor;
    uint64_t weight;  // this node and everything below it, aliases expanded
  };
  struct Anchor {
    const Node* node;
    uint64_t weight;
  };

  Node* newNode(Node::Kind kind, const yaml_mark_t& mark) {
    if (++nodes_ > limits_.maxNodes) {
      fail(mark, fmt::format("more than {} YAML nodes in one file: refused (split the file)", limits_.maxNodes));
      return nullptr;
    }
    Node& n = arena_.emplace_back();
    n.kind = kind;
    n.line = clamp32(mark.line + 1);
    n.col = clamp32(mark.column + 1);
    return &n;
  }

  // Attaches a finished node to the open collection (or makes it the root).
  bool place(const Node* n, uint64_t weight, std::string_view anchor, const yaml_mark_t& mark) {
    if (!anchor.empty()) anchors_[std::string(anchor)] = {n, weight};
    if (open_.empty()) {
      root_ = n;
      return true;
    }
    open_.back().node->children.push_back(n);
    open_.back().weight += weight;
    return true;
  }

  // `<<: *base` and `<<: [*a, *b]` (YAML 1.1 merge keys, as go-yaml reads
  // them): the merged mappings' entries are added where the mapping does not
  // set the key itself; among merged mappings the first one wins.
  bool expandMergeKeys(Node& map) {
    auto isMerge = [](const Node* k) { return k->isScalar() && !k->quoted && k->value == "<<"; };
    bool any = false;
    for (size_t i = 0; i < map.children.size(); i += 2) any = any || isMerge(map.children[i]);
    if (!any) return true;
    std::set<std::string> own;
    for (size_t i = 0; i < map.children.size(); i += 2)
      if (map.children[i]->isScalar() && !isMerge(map.children[i])) own.insert(map.children[i]->value);
    std::vector<const Node*> out;
    std::set<std::string> merged;
    for (size_t i = 0; i + 1 < map.children.size(); i += 2) {
      const Node* key = map.children[i];
      const Node* value = map.children[i + 1];
      if (!isMerge(key)) {
        out.push_back(key);
        out.push_back(value);
        continue;
      }
      std::vector<const Node*> sources;
      if (value->isMap()) sources.push_back(value);
      if (value->isSeq())
        for (const Node* s : value->children) sources.push_back(s);
      if (sources.empty() && !value->isMap())
        return failAt(*value, "the merge key << takes a mapping or a list of mappings");
      for (const Node* src : sources) {
        if (!src->isMap()) return failAt(*src, "the merge key << takes a mapping or a list of mappings");
        for (size_t j = 0; j + 1 < src->children.size(); j += 2) {
          const Node* k = src->children[j];
          if (k->isScalar() && (own.count(k->value) || !merged.insert(k->value).second)) continue;
          out.push_back(k);
          out.push_back(src->children[j + 1]);
        }
      }
    }
    map.children = std::move(out);
    return true;
  }

  bool syntaxError(const yaml_parser_t& p) {
    if (p.error == YAML_MEMORY_ERROR) return fail(p.problem_mark, "out of memory while reading this file");
    std::string what = p.problem ? p.problem : "syntax error";
    if (p.context) what += fmt::format(" {} started on line {}", p.context, p.context_mark.line + 1);
    return fail(p.problem_mark, what);
  }

  bool fail(const yaml_mark_t& mark, std::string message) {
    error_.line = clamp32(mark.line + 1);
    error_.col = clamp32(mark.column + 1);
    error_.message = std::move(message);
    return false;
  }
  bool failAt(const Node& n, std::string message) {
    error_.line = n.line;
    error_.col = n.col;
    error_.message = std::move(message);
    return false;
  }

  std::deque<Node>& arena_;
  std::vector<const Node*>& documents_;
  const Limits& limits_;
  Error& error_;
  std::vector<Open> open_;
  std::map<std::string, Anchor> anchors_;
  std::set<std::string> inProgress_;
  const Node* root_ = nullptr;
  yaml_mark_t docMark_{};
  uint64_t nodes_ = 0;
  uint64_t aliasNodes_ = 0;
};

}  // namespace

bool Stream::parse(std::string_view input, const Limits& limits) {
  arena_.clear();
  documents_.clear();
  error_ = {};
  bool ok;
  try {
    ok = Builder(arena_, documents_, limits, error_).run(input);
  } catch (const std::bad_alloc&) {
    error_ = {1, 1, "out of memory while reading this file"};
    ok = false;
  }
  if (!ok) {
    documents_.clear();
    arena_.clear();
  }
  return ok;
}

}  // namespace sluice::yaml
