// fuzz_kube_objects: the agent's reader of the Kubernetes API's JSON
// (agent/kube/object_parser.h), as ClusterWatch uses it: the input as one
// LIST page, then each of its lines as a WATCH event.
//
// Checked besides the sanitizers: the text kept for an object (which the
// agent later loads as a manifest) reads back as the same object. Put in a
// list page of its own, it parses, with the same key and resourceVersion,
// and is kept byte for byte (it has apiVersion and kind now).
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/kube/object_parser.h"
#include "tests/fuzz/check.h"

namespace {

using sluice::kube::ObjectParser;
using sluice::kube::ParsedObject;

void checkReadsBack(ObjectParser& parser, const ParsedObject& object) {
  FUZZ_CHECK(object.json != nullptr, "object %s without text", object.key.c_str());
  std::string page = "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[" + *object.json + "]}";
  sluice::kube::ListPage again;
  std::string error;
  FUZZ_CHECK(parser.listPage(page, "v1", "Pod", again, error), "the kept text of %s does not read back: %s\n%s",
             object.key.c_str(), error.c_str(), object.json->c_str());
  FUZZ_CHECK(again.items.size() == 1, "the kept text of %s reads back as %zu objects", object.key.c_str(),
             again.items.size());
  const ParsedObject& back = again.items[0];
  FUZZ_CHECK(back.key == object.key, "key %s reads back as %s", object.key.c_str(), back.key.c_str());
  FUZZ_CHECK(back.resourceVersion == object.resourceVersion, "%s: resourceVersion %s reads back as %s",
             object.key.c_str(), object.resourceVersion.c_str(), back.resourceVersion.c_str());
  FUZZ_CHECK(*back.json == *object.json, "%s: kept text changes when read back:\n%s\n%s", object.key.c_str(),
             object.json->c_str(), back.json->c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ObjectParser parser, checker;
  std::string error;

  std::string body(input);
  sluice::kube::ListPage page;
  if (parser.listPage(body, "v1", "Pod", page, error))
    for (const ParsedObject& item : page.items) checkReadsBack(checker, item);

  // A watch stream: one event per line (cluster_watch.cpp skips empty lines).
  for (size_t start = 0; start < input.size();) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    std::string line(input.substr(start, end - start));
    start = end + 1;
    if (line.empty()) continue;
    sluice::kube::WatchEvent event;
    if (parser.watchEvent(line, "v1", "Pod", event, error) && event.object.json)
      checkReadsBack(checker, event.object);
  }
  return 0;
}
