#include <gtest/gtest.h>

#include "base/net.h"

namespace sluice {
namespace {

TEST(Net, ParsesAndPrintsAddresses) {
  EXPECT_EQ(IpAddr::parse("10.244.1.5")->str(), "10.244.1.5");
  EXPECT_EQ(IpAddr::parse("fd00::1")->str(), "fd00::1");
  EXPECT_FALSE(IpAddr::parse("10.244.1"));
  EXPECT_FALSE(IpAddr::parse("10.244.1.256"));
  EXPECT_FALSE(IpAddr::parse(""));
}

TEST(Net, CidrMasksHostBitsAndReportsThem) {
  bool hostBits = false;
  auto c = Cidr::parse("10.1.2.3/8", &hostBits);
  ASSERT_TRUE(c);
  EXPECT_TRUE(hostBits);
  EXPECT_EQ(c->str(), "10.0.0.0/8");
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/08"));
}

TEST(Net, Containment) {
  auto net = *Cidr::parse("10.0.0.0/8");
  EXPECT_TRUE(net.contains(*IpAddr::parse("10.255.0.1")));
  EXPECT_FALSE(net.contains(*IpAddr::parse("11.0.0.1")));
  EXPECT_TRUE(net.contains(*Cidr::parse("10.1.0.0/16")));
  EXPECT_FALSE(Cidr::parse("10.1.0.0/16")->contains(net));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains(*IpAddr::parse("1.2.3.4")));
  EXPECT_FALSE(Cidr::parse("0.0.0.0/0")->contains(*IpAddr::parse("::1")));
}

}  // namespace
}  // namespace sluice
