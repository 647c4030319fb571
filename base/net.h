// IP addresses and prefixes, family-agnostic (IPv4 is what the datapath
// handles today; IPv6 parses and prints so the IR never has to change).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

struct IpAddr {
  enum class Family : uint8_t { V4 = 4, V6 = 6 };
  Family family = Family::V4;
  std::array<uint8_t, 16> bytes{};  // V4 uses the first 4

  static std::optional<IpAddr> parse(std::string_view text);
  static IpAddr v4(uint32_t hostOrder);
  bool isV4() const { return family == Family::V4; }
  unsigned bits() const { return isV4() ? 32 : 128; }
  uint32_t v4HostOrder() const;
  std::string str() const;
  auto operator<=>(const IpAddr&) const = default;
};

struct Cidr {
  IpAddr addr;  // host bits are always zero
  unsigned prefixLen = 0;

  // "10.0.0.0/8". Host bits are masked ("10.0.0.1/8" reads as 10.0.0.0/8, as the
  // API server does) and reported through *hostBitsSet so callers can warn.
  static std::optional<Cidr> parse(std::string_view text, bool* hostBitsSet = nullptr);
  static Cidr host(const IpAddr& a) { return Cidr{a, a.bits()}; }
  bool contains(const IpAddr& a) const;
  bool contains(const Cidr& other) const;  // other is equal or narrower and inside
  std::string str() const;
  auto operator<=>(const Cidr&) const = default;
};

}  // namespace sluice
