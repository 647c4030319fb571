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

}  // namespace
}  // namespace sluice
