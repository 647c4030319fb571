// ObjectParser: list pages and watch events, read with simdjson On Demand.
#include <gtest/gtest.h>

#include "agent/kube/object_parser.h"

namespace sluice::kube {
namespace {

TEST(ObjectParserTest, ListPageItemsGetApiVersionAndKind) {
  std::string body = R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"c1"},
    "items":[{"metadata":{"name":"a","namespace":"n","resourceVersion":"40"},"spec":{"x":[1,{"y":"}"}]}} ,
             {"kind":"Pod","apiVersion":"v1","metadata":{"name":"b","namespace":"n"}},
             {"metadata":{"name":"c"}}]})";
  ObjectParser parser;
  ListPage page;
  std::string error;
  ASSERT_TRUE(parser.listPage(body, "v1", "Pod", page, error)) << error;
  EXPECT_EQ(page.resourceVersion, "42");
  EXPECT_EQ(page.continueToken, "c1");
  ASSERT_EQ(page.items.size(), 3u);
  EXPECT_EQ(page.items[0].key, "n/a");
  EXPECT_EQ(page.items[0].resourceVersion, "40");
  EXPECT_EQ(*page.items[0].json,
            R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"n","resourceVersion":"40"},"spec":{"x":[1,{"y":"}"}]}})");
  EXPECT_EQ(*page.items[1].json, R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"b","namespace":"n"}})");
  EXPECT_EQ(page.items[2].key, "/c");
}

TEST(ObjectParserTest, EmptyAndBrokenLists) {
  ObjectParser parser;
  std::string error;
  ListPage page;
  std::string empty = R"({"metadata":{"resourceVersion":"7"},"items":null})";
  ASSERT_TRUE(parser.listPage(empty, "v1", "Pod", page, error)) << error;
  EXPECT_TRUE(page.items.empty());

  std::string truncated = R"({"metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"a"})";
  ListPage page2;
  EXPECT_FALSE(parser.listPage(truncated, "v1", "Pod", page2, error));
  EXPECT_NE(error, "");

  std::string noItems = R"({"metadata":{"resourceVersion":"7"}})";
  ListPage page3;
  EXPECT_FALSE(parser.listPage(noItems, "v1", "Pod", page3, error));
  EXPECT_EQ(error, "list: no \"items\" field");
}

TEST(ObjectParserTest, WatchEvents) {
  ObjectParser parser;
  std::string error;
  WatchEvent added;
  std::string line = R"({"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"n","resourceVersion":"9"}}})";
  ASSERT_TRUE(parser.watchEvent(line, "v1", "Pod", added, error)) << error;
  EXPECT_EQ(added.type, WatchEvent::Type::Added);
  EXPECT_EQ(added.object.key, "n/a");
  EXPECT_EQ(added.object.resourceVersion, "9");

  WatchEvent bookmark;
  line = R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12"}}})";
  ASSERT_TRUE(parser.watchEvent(line, "v1", "Pod", bookmark, error)) << error;
  EXPECT_EQ(bookmark.type, WatchEvent::Type::Bookmark);
  EXPECT_EQ(bookmark.object.resourceVersion, "12");

  WatchEvent gone;
  line = R"J({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}})J";
  ASSERT_TRUE(parser.watchEvent(line, "v1", "Pod", gone, error)) << error;
  EXPECT_EQ(gone.type, WatchEvent::Type::Error);
  EXPECT_EQ(gone.errorCode, 410);
  EXPECT_EQ(gone.errorMessage, "Expired: too old resource version: 1 (5)");

  WatchEvent bad;
  line = R"({"type":"RENAMED","object":{"metadata":{"resourceVersion":"1"}}})";
  EXPECT_FALSE(parser.watchEvent(line, "v1", "Pod", bad, error));
  EXPECT_EQ(error, "event: unknown type \"RENAMED\"");
}

// Found by tests/fuzz (fuzz_kube_objects; its input is kept in
// tests/fuzz/regressions/kube_objects/): On Demand alone accepted a malformed
// item and cut out a text for it that ran into the next fields. A body that
// is not JSON is refused, whatever part of it is malformed.
TEST(ObjectParserTest, MalformedJsonIsRefusedNotCutOutWrongly) {
  ObjectParser parser;
  std::string error;
  std::string body =
      R"({"metadata":{"resourceVersion":"2"},"items":[{"metadata":{"name":"a","namespace":"n":"x"},"spec":{}}]})";
  ListPage page;
  EXPECT_FALSE(parser.listPage(body, "v1", "Pod", page, error));
  EXPECT_EQ(error.rfind("list: ", 0), 0u) << error;

  for (std::string bad : {R"({"metadata":{"resourceVersion":"2"},"items":[{"a":1,}]})",
                          R"({"metadata":{"resourceVersion":"2"},"items":[{"a":[1,2}]}]})",
                          R"({"metadata":{"resourceVersion":"2"},"items":[{"a":tru}]})",
                          R"({"metadata":{"resourceVersion":"2"},"items":[]} {})"}) {
    ListPage p;
    EXPECT_FALSE(parser.listPage(bad, "v1", "Pod", p, error)) << bad;
  }

  std::string line = R"({"type":"ADDED","object":{"metadata":{"name":"a":"b","resourceVersion":"1"}},"x":{}})";
  WatchEvent event;
  EXPECT_FALSE(parser.watchEvent(line, "v1", "Pod", event, error));
  EXPECT_EQ(error.rfind("event: ", 0), 0u) << error;

  // The parser is still good for the next body.
  std::string good = R"({"metadata":{"resourceVersion":"3"},"items":[{"metadata":{"name":"a","resourceVersion":"1"}}]})";
  ListPage ok;
  ASSERT_TRUE(parser.listPage(good, "v1", "Pod", ok, error)) << error;
  ASSERT_EQ(ok.items.size(), 1u);
  EXPECT_EQ(*ok.items[0].json, R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","resourceVersion":"1"}})");
}

}  // namespace
}  // namespace sluice::kube
