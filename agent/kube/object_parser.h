// Parses the API server's JSON bodies: LIST pages and WATCH event lines.
//
// List pages can be large (hundreds of KB to MB per page, 100,000 pods per
// cluster), so they are read with simdjson On Demand: each item's raw JSON
// text is cut out of the body as it is, and only metadata.name, .namespace
// and .resourceVersion are decoded; no tree of the body is built. A body
// that is not JSON, in any part, is refused (it is validated whole first).
// The text kept for an object gets apiVersion and kind prepended when it
// lacks them (list items do), so it can be parsed as a manifest on its own.
//
// Internal to agent/kube; simdjson stays out of this header.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace sluice::kube {

struct ParsedObject {
  std::string key;              // "namespace/name"; cluster-scoped: "/name"
  std::string resourceVersion;  // metadata.resourceVersion
  std::shared_ptr<const std::string> json;
};

struct ListPage {
  std::string resourceVersion;  // metadata.resourceVersion of the list
  std::string continueToken;    // metadata.continue; empty on the last page
  std::vector<ParsedObject> items;
};

struct WatchEvent {
  enum class Type { Added, Modified, Deleted, Bookmark, Error };
  Type type = Type::Added;
  ParsedObject object;       // Added/Modified/Deleted: the object; Bookmark: only resourceVersion
  int errorCode = 0;         // Error: the Status object's code (410 = Gone)
  std::string errorMessage;  // Error: its reason and message
};

class ObjectParser {
 public:
  ObjectParser();
  ~ObjectParser();

  // `body` is modified only in capacity (simdjson needs padding past the
  // end). apiVersion/kind are the resource's, used to fill in items.
  bool listPage(std::string& body, const std::string& apiVersion, const std::string& kind,
                ListPage& out, std::string& error);
  // One line of a watch stream (one JSON object, no newline).
  bool watchEvent(std::string& line, const std::string& apiVersion, const std::string& kind,
                  WatchEvent& out, std::string& error);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace sluice::kube
