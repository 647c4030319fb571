#include <gtest/gtest.h>

#include "frontend/label_selector.h"

namespace sluice {
namespace {

LabelRequirement req(std::string key, LabelRequirement::Op op, std::vector<std::string> values = {}) {
  LabelRequirement r;
  r.key = std::move(key);
  r.op = op;
  r.values = std::move(values);
  return r;
}

TEST(LabelSelector, NotInAndDoesNotExistMatchObjectsWithoutTheKey) {
  Labels none;
  Labels web{{"app", "web"}};
  using Op = LabelRequirement::Op;
  EXPECT_TRUE(req("app", Op::NotIn, {"db"}).matches(none));
  EXPECT_TRUE(req("app", Op::NotIn, {"db"}).matches(web));
  EXPECT_FALSE(req("app", Op::NotIn, {"web"}).matches(web));
  EXPECT_TRUE(req("app", Op::DoesNotExist).matches(none));
  EXPECT_FALSE(req("app", Op::DoesNotExist).matches(web));
  EXPECT_FALSE(req("app", Op::In, {"web"}).matches(none));
  EXPECT_FALSE(req("app", Op::Exists).matches(none));
  EXPECT_TRUE(req("app", Op::Exists).matches(web));
}

TEST(LabelSelector, EmptySelectsEverything) {
  LabelSelector s;
  EXPECT_TRUE(s.matches({}));
  EXPECT_EQ(s.str(), "{}");
}

TEST(LabelSelector, CanonicalTextIsSorted) {
  using Op = LabelRequirement::Op;
  LabelSelector s;
  s.requirements = {req("tier", Op::In, {"a", "b"}), req("app", Op::In, {"web"}), req("legacy", Op::DoesNotExist)};
  EXPECT_EQ(s.str(), "!legacy,app=web,tier in (a,b)");
}

TEST(LabelSyntax, KeysValuesAndPortNames) {
  EXPECT_EQ(checkLabelKey("app.kubernetes.io/name"), "");
  EXPECT_NE(checkLabelKey("-app"), "");
  EXPECT_NE(checkLabelKey("Example.COM/app"), "");
  EXPECT_NE(checkLabelKey(std::string(64, 'a')), "");
  EXPECT_EQ(checkLabelValue(""), "");
  EXPECT_NE(checkLabelValue("a b"), "");
  EXPECT_EQ(checkPortName("http-alt"), "");
  EXPECT_NE(checkPortName("8080"), "");
  EXPECT_NE(checkPortName("a--b"), "");
  EXPECT_NE(checkPortName("verylongportname"), "");
}

// kubectl's -l syntax, as `sluice test` expectations write selectors.
TEST(SelectorText, ParsesKubectlSyntax) {
  std::string error;
  auto s = parseSelectorText(" app = web, tier!=db ,env in (prod, staging,prod), stage notin (dev),canary,!legacy,x==y",
                             error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->str(), "!legacy,app=web,canary,env in (prod,staging),stage notin (dev),tier notin (db),x=y");
  EXPECT_TRUE(s->matches({{"app", "web"}, {"env", "prod"}, {"canary", ""}, {"x", "y"}}));
  EXPECT_FALSE(s->matches({{"app", "web"}, {"env", "prod"}, {"canary", ""}, {"x", "y"}, {"tier", "db"}}));
  auto all = parseSelectorText("  ", error);
  ASSERT_TRUE(all) << error;
  EXPECT_TRUE(all->empty());
}

TEST(SelectorText, SaysWhatWasExpectedWhere) {
  auto errorOf = [](std::string_view text) {
    std::string error;
    EXPECT_FALSE(parseSelectorText(text, error)) << text;
    return error;
  };
  EXPECT_EQ(errorOf("app=web tier=db"), "expected ',' between requirements at column 9");
  EXPECT_EQ(errorOf("app=web,"), "expected a requirement after ',' at the end");
  EXPECT_EQ(errorOf("env in prod"), "expected '(' and the values at column 8");
  EXPECT_EQ(errorOf("env in (a b)"), "expected ',' or ')' at column 11");
  EXPECT_EQ(errorOf("env in ()"), "expected at least one value inside the parentheses at column 9");
  EXPECT_EQ(errorOf("env > 3"), "expected an operator (=, ==, !=, in, notin) or ',' at column 5");
  EXPECT_EQ(errorOf("-app=x"), "invalid label key '-app': name part must start and end with an alphanumeric "
                               "character at column 1");
  EXPECT_EQ(errorOf("app=a b"), "expected ',' between requirements at column 7");
  EXPECT_EQ(errorOf("app=-x"),
            "invalid label value '-x': must start and end with an alphanumeric character at column 5");
}

}  // namespace
}  // namespace sluice
