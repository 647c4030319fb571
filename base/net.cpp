#include "base/net.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <fmt/format.h>

namespace sluice {

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  std::string s(text);
  IpAddr a;
  if (s.find(':') == std::string::npos) {
    // inet_pton accepts only dotted quads; leading zeros are refused, as Go's netip does.
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) != 1) return std::nullopt;
    a.family = Family::V4;
    std::memcpy(a.bytes.data(), &v4, 4);
    return a;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) != 1) return std::nullopt;
  a.family = Family::V6;
  std::memcpy(a.bytes.data(), &v6, 16);
  return a;
}

IpAddr IpAddr::v4(uint32_t h) {
  IpAddr a;
  a.bytes[0] = h >> 24;
  a.bytes[1] = h >> 16;
  a.bytes[2] = h >> 8;
  a.bytes[3] = h;
  return a;
}

uint32_t IpAddr::v4HostOrder() const {
  return uint32_t(bytes[0]) << 24 | uint32_t(bytes[1]) << 16 | uint32_t(bytes[2]) << 8 | bytes[3];
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(isV4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

static bool bitSet(const IpAddr& a, unsigned i) { return (a.bytes[i / 8] >> (7 - i % 8)) & 1; }

std::optional<Cidr> Cidr::parse(std::string_view text, bool* hostBitsSet) {
  if (hostBitsSet) *hostBitsSet = false;
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = IpAddr::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  std::string_view lenText = text.substr(slash + 1);
  if (lenText.empty() || lenText.size() > 3 || (lenText.size() > 1 && lenText[0] == '0')) return std::nullopt;
  unsigned len = 0;
  auto [p, ec] = std::from_chars(lenText.data(), lenText.data() + lenText.size(), len);
  if (ec != std::errc() || p != lenText.data() + lenText.size() || len > addr->bits()) return std::nullopt;
  // Kubernetes accepts host bits and masks them; callers warn through *hostBitsSet.
  IpAddr masked = *addr;
  for (unsigned i = len; i < addr->bits(); ++i) {
    if (bitSet(masked, i)) {
      if (hostBitsSet) *hostBitsSet = true;
      masked.bytes[i / 8] &= uint8_t(~(1u << (7 - i % 8)));
    }
  }
  return Cidr{masked, len};
}

bool Cidr::contains(const IpAddr& a) const {
  if (a.family != addr.family) return false;
  for (unsigned i = 0; i < prefixLen; ++i)
    if (bitSet(a, i) != bitSet(addr, i)) return false;
  return true;
}

bool Cidr::contains(const Cidr& other) const {
  return other.prefixLen >= prefixLen && contains(other.addr);
}

std::string Cidr::str() const { return fmt::format("{}/{}", addr.str(), prefixLen); }

}  // namespace sluice
