#include "review/review_model.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace sluice::review {

std::string PortProbe::str() const { return fmt::format("{}/{}", port, ir::l4ProtoName(proto)); }

std::optional<PortProbe> parsePortProbe(const std::string& text, std::string& error) {
  std::string portText = text, protoText = "TCP";
  if (size_t slash = text.find('/'); slash != std::string::npos) {
    portText = text.substr(0, slash);
    protoText = text.substr(slash + 1);
  }
  for (auto& c : protoText) c = char(std::toupper(static_cast<unsigned char>(c)));
  unsigned v = 0;
  auto [p, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), v);
  bool icmp = protoText == "ICMP";
  if (ec != std::errc() || p != portText.data() + portText.size() || (icmp ? v > 255 : v < 1 || v > 65535)) {
    error = icmp ? fmt::format("'{}': expected TYPE/ICMP with an ICMP type in 0..255, e.g. 8/ICMP (echo request)", text)
                 : fmt::format("'{}': expected PORT/PROTOCOL with PORT in 1..65535, e.g. 80/TCP", text);
    return std::nullopt;
  }
  PortProbe pp;
  pp.port = uint16_t(v);
  if (protoText == "TCP") pp.proto = ir::L4Proto::TCP;
  else if (protoText == "UDP") pp.proto = ir::L4Proto::UDP;
  else if (protoText == "SCTP") pp.proto = ir::L4Proto::SCTP;
  else if (icmp) pp.proto = ir::L4Proto::ICMP;  // the "port" is the ICMP type
  else {
    error = fmt::format("'{}': protocol must be TCP, UDP, SCTP or ICMP", text);
    return std::nullopt;
  }
  return pp;
}

const char* verdictName(Verdict v) {
  switch (v) {
    case Verdict::Allow: return "allow";
    case Verdict::Deny: return "deny";
    case Verdict::Reject: return "reject";
    case Verdict::Partial: return "partial";
  }
  return "?";
}

}  // namespace sluice::review
