// fuzz_seed_json: JSON seeds from YAML manifests, so that the JSON targets
// start from every test manifest too (tools/fuzz runs it before fuzzing).
//
//   fuzz_seed_json MANIFEST_DIR KUBE_DIR FILE...
//
// For each FILE that reads as YAML, writes into MANIFEST_DIR the same
// objects as one JSON document (a `kind: List` when there are several), and
// into KUBE_DIR what the API server would send for them: a LIST page, and a
// WATCH stream (an ADDED line per object, then a DELETED and a BOOKMARK
// line). Objects get a metadata.resourceVersion, which the API always sends.
// Plain scalars that are JSON numbers or booleans stay unquoted.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "frontend/yaml_tree.h"

namespace {

using sluice::yaml::Node;

void string(std::ostream& out, const std::string& s) {
  out << '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out << '\\' << c;
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out << buf;
    } else out << c;
  }
  out << '"';
}

// `version`: when not empty, the object's metadata gets this resourceVersion
// unless it has one.
// A JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?
bool isNumber(const std::string& s) {
  size_t i = 0;
  auto digits = [&] {
    size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') ++i;
  else if (!digits()) return false;
  if (i < s.size() && s[i] == '.' && (++i, !digits())) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

void json(std::ostream& out, const Node& n, const std::string& version = "") {
  switch (n.kind) {
    case Node::Kind::Null: out << "null"; return;
    case Node::Kind::Scalar:
      if (!n.quoted && (n.value == "true" || n.value == "false" || isNumber(n.value))) out << n.value;
      else string(out, n.value);
      return;
    case Node::Kind::Sequence: {
      out << '[';
      for (size_t i = 0; i < n.children.size(); ++i) {
        if (i) out << ',';
        json(out, *n.children[i]);
      }
      out << ']';
      return;
    }
    case Node::Kind::Mapping: {
      out << '{';
      bool first = true, sawMetadata = false;
      for (size_t i = 0; i + 1 < n.children.size(); i += 2) {
        const Node& key = *n.children[i];
        if (!key.isScalar()) continue;
        if (!first) out << ',';
        first = false;
        string(out, key.value);
        out << ':';
        const Node& value = *n.children[i + 1];
        if (!version.empty() && key.value == "metadata" && value.isMap()) {
          sawMetadata = true;
          bool hasVersion = false;
          for (size_t j = 0; j < value.children.size(); j += 2)
            hasVersion = hasVersion || value.children[j]->value == "resourceVersion";
          std::ostringstream inner;
          json(inner, value);
          std::string text = inner.str();
          if (!hasVersion) {
            text.pop_back();  // the closing brace
            text += std::string(text.size() > 1 ? "," : "") + "\"resourceVersion\":\"" + version + "\"}";
          }
          out << text;
        } else {
          json(out, value);
        }
      }
      if (!version.empty() && !sawMetadata)
        out << (first ? "" : ",") << "\"metadata\":{\"resourceVersion\":\"" << version << "\"}";
      out << '}';
      return;
    }
  }
}

// The objects of a document: itself, or the items of a list.
void objects(const Node& doc, std::vector<const Node*>& out) {
  if (!doc.isMap()) return;
  for (size_t i = 0; i + 1 < doc.children.size(); i += 2)
    if (doc.children[i]->value == "items" && doc.children[i + 1]->isSeq()) {
      for (const Node* item : doc.children[i + 1]->children)
        if (item->isMap()) out.push_back(item);
      return;
    }
  out.push_back(&doc);
}

std::string flatName(const std::string& path) {
  std::string name = path;
  for (char& c : name)
    if (c == '/') c = '_';
  while (!name.empty() && (name[0] == '.' || name[0] == '_')) name.erase(0, 1);
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: fuzz_seed_json MANIFEST_DIR KUBE_DIR FILE...\n";
    return 2;
  }
  std::string manifestDir = argv[1], kubeDir = argv[2];
  for (int a = 3; a < argc; ++a) {
    std::ifstream in(argv[a], std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    sluice::yaml::Stream stream;
    if (!in || !stream.parse(text.str())) continue;
    std::vector<const Node*> docs;
    for (const Node* d : stream.documents())
      if (!d->isNull()) docs.push_back(d);
    if (docs.empty()) continue;
    std::string name = flatName(argv[a]);

    std::ofstream manifest(manifestDir + "/" + name + ".json");
    if (docs.size() == 1) {
      json(manifest, *docs[0]);
    } else {
      manifest << "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[";
      for (size_t i = 0; i < docs.size(); ++i) {
        if (i) manifest << ',';
        json(manifest, *docs[i]);
      }
      manifest << "]}";
    }
    manifest << '\n';

    std::vector<const Node*> items;
    for (const Node* d : docs) objects(*d, items);
    if (items.empty()) continue;
    std::ofstream list(kubeDir + "/" + name + ".list.json");
    list << "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"" << items.size() + 1
         << "\"},\"items\":[";
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) list << ',';
      json(list, *items[i], std::to_string(i + 1));
    }
    list << "]}\n";
    std::ofstream watch(kubeDir + "/" + name + ".watch.json");
    for (size_t i = 0; i < items.size(); ++i) {
      watch << "{\"type\":\"ADDED\",\"object\":";
      json(watch, *items[i], std::to_string(i + 1));
      watch << "}\n";
    }
    watch << "{\"type\":\"DELETED\",\"object\":";
    json(watch, *items.back(), std::to_string(items.size() + 1));
    watch << "}\n{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":"
             "{\"resourceVersion\":\""
          << items.size() + 2 << "\"}}}\n";
  }
  return 0;
}
