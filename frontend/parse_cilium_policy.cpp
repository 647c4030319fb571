// cilium.io/v2 CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy, validated
// as Cilium 1.16 does (the CRD schema plus the agent's rule sanitizer): a policy
// Cilium would refuse to import is an error here too. Cilium features sluice
// cannot enforce are errors that say so, never silently dropped.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <span>
#include <string_view>

#include "base/regex.h"
#include "base/text.h"
#include "frontend/parsers.h"

namespace sluice {
namespace {

constexpr size_t kMaxPorts = 40;       // per toPorts item (Cilium's maxPorts)
constexpr size_t kMaxIcmpFields = 40;  // per icmps item (maxICMPFields)

constexpr std::string_view kEntities[] = {"all",    "world", "world-ipv4", "world-ipv6", "cluster", "host", "remote-node",
                                          "kube-apiserver", "health", "init", "ingress", "unmanaged", "none"};

struct Named {
  std::string_view name;
  int value;
};

// Kafka API keys by name (Cilium's KafkaAPIKeyMap, lower case).
constexpr Named kKafkaApiKeys[] = {
    {"produce", 0},        {"fetch", 1},           {"listoffsets", 2},
    {"offsets", 2},        {"metadata", 3},        {"leaderandisr", 4},
    {"stopreplica", 5},    {"updatemetadata", 6},  {"controlledshutdown", 7},
    {"offsetcommit", 8},   {"offsetfetch", 9},     {"findcoordinator", 10},
    {"joingroup", 11},     {"heartbeat", 12},      {"leavegroup", 13},
    {"syncgroup", 14},     {"describegroups", 15}, {"listgroups", 16},
    {"saslhandshake", 17}, {"apiversions", 18},    {"createtopics", 19},
    {"deletetopics", 20},  {"deleterecords", 21},  {"initproducerid", 22},
};

// ICMP type names, as Cilium 1.16 reads them (icmpIpv4TypeNameToCode and
// icmpIpv6TypeNameToCode in pkg/policy/api/icmp.go).
constexpr Named kIcmpV4Types[] = {
    {"EchoReply", 0},        {"DestinationUnreachable", 3}, {"Redirect", 5},          {"Echo", 8},
    {"EchoRequest", 8},      {"RouterAdvertisement", 9},    {"RouterSelection", 10},  {"TimeExceeded", 11},
    {"ParameterProblem", 12}, {"Timestamp", 13},            {"TimestampReply", 14},   {"Photuris", 40},
    {"ExtendedEchoRequest", 42}, {"ExtendedEchoReply", 43}};
constexpr Named kIcmpV6Types[] = {
    {"DestinationUnreachable", 1},
    {"PacketTooBig", 2},
    {"TimeExceeded", 3},
    {"ParameterProblem", 4},
    {"EchoRequest", 128},
    {"EchoReply", 129},
    {"MulticastListenerQuery", 130},
    {"MulticastListenerReport", 131},
    {"MulticastListenerDone", 132},
    {"RouterSolicitation", 133},
    {"RouterAdvertisement", 134},
    {"NeighborSolicitation", 135},
    {"NeighborAdvertisement", 136},
    {"RedirectMessage", 137},
    {"RouterRenumbering", 138},
    {"ICMPNodeInformationQuery", 139},
    {"ICMPNodeInformationResponse", 140},
    {"InverseNeighborDiscoverySolicitation", 141},
    {"InverseNeighborDiscoveryAdvertisement", 142},
    {"HomeAgentAddressDiscoveryRequest", 144},
    {"HomeAgentAddressDiscoveryReply", 145},
    {"MobilePrefixSolicitation", 146},
    {"MobilePrefixAdvertisement", 147},
    {"DuplicateAddressRequestCodeSuffix", 157},
    {"DuplicateAddressConfirmationCodeSuffix", 158},
    {"ExtendedEchoRequest", 160},
    {"ExtendedEchoReply", 161}};

template <size_t N>
std::string joinNames(const Named (&table)[N]) {
  std::string out;
  for (const auto& n : table) out += (out.empty() ? "" : ", ") + std::string(n.name);
  return out;
}

bool isDigits(std::string_view s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos; }

// Why a key that is not a field of this rule kind is there, or "" if it is just unknown.
std::string misplacedKeyReason(std::string_view key, bool ingress, bool deny) {
  static const std::set<std::string_view> unsupported = {"fromRequires", "toRequires", "fromNodes", "toNodes",
                                                         "fromGroups",   "toGroups",   "toFQDNs",   "authentication"};
  if (unsupported.count(key)) {
    if (key == "toFQDNs") return "toFQDNs is not supported by sluice (DNS-based egress needs Cilium's DNS proxy)";
    if (key == "authentication")
      return "authentication is not supported by sluice (mutual authentication needs Cilium's auth agent)";
    if (key.ends_with("Requires")) return fmt::format("{} is not supported by sluice (deprecated in Cilium)", key);
    if (key.ends_with("Nodes"))
      return fmt::format("{} is not supported by sluice (node selectors need Cilium's node labels; use {} instead)",
                         key, ingress ? "fromEntities" : "toEntities");
    return fmt::format("{} is not supported by sluice (cloud-provider groups are resolved by the Cilium operator)",
                       key);
  }
  // toX in an ingress rule / fromX in an egress rule.
  auto swap = [](std::string_view k, std::string_view from, std::string_view to) {
    return std::string(to) + std::string(k.substr(from.size()));
  };
  if (ingress && key == "toServices") return "toServices is only allowed in egress rules";
  if (ingress && key.starts_with("to") && key != "toPorts")
    return fmt::format("{} is an egress field; ingress{} rules use {}", key, deny ? "Deny" : "",
                       swap(key, "to", "from"));
  if (!ingress && key.starts_with("from"))
    return fmt::format("{} is an ingress field; egress{} rules use {}", key, deny ? "Deny" : "",
                       swap(key, "from", "to"));
  return {};
}

// Like Field::onlyKeys, with a specific reason for fields that are known but
// misplaced or unsupported.
void checkRuleKeys(const Field& f, const std::vector<std::string_view>& known, bool ingress, bool deny) {
  for (auto& [key, value] : f.entries()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    if (std::string reason = misplacedKeyReason(key, ingress, deny); !reason.empty()) {
      value.errorAtKey(reason);
      continue;
    }
    // A near miss of a field sluice refuses (`auth` for `authentication`) is
    // still that field: say what it would mean.
    std::vector<std::string_view> refused = {"fromRequires", "toRequires", "fromNodes", "toNodes", "fromGroups",
                                             "toGroups",     "toFQDNs",    "authentication"};
    if (std::string meant = closestMatch(key, refused); !meant.empty() && closestMatch(key, known).empty()) {
      value.errorAtKey(fmt::format("unknown field {}: did you mean `{}`? ({})", quote(key), meant,
                                   misplacedKeyReason(meant, ingress, deny)));
      continue;
    }
    value.errorAtKey(unknownFieldMessage(key, known));
  }
}

// fromCIDR / toCIDR item: a prefix, or a bare IP meaning a host prefix.
std::optional<Cidr> parseCidrOrIp(const Field& f) {
  auto s = f.str();
  if (!s) return std::nullopt;
  if (s->find('/') == std::string::npos) {
    if (auto ip = IpAddr::parse(*s)) return Cidr::host(*ip);
    f.error(fmt::format("{} is not a valid CIDR or IP address (expected e.g. 10.0.0.0/8 or 10.1.2.3)", quote(*s)));
    return std::nullopt;
  }
  return f.cidr();
}

std::optional<CiliumCIDRRule> parseCidrSet(const Field& f) {
  if (!f.expectMap()) return std::nullopt;
  CiliumCIDRRule rule;
  rule.loc = f.loc();
  f.onlyKeys({"cidr", "except", "cidrGroupRef", "cidrGroupSelector"});
  bool ok = true;
  for (const char* key : {"cidrGroupRef", "cidrGroupSelector"}) {
    if (f[key].present()) {
      f[key].errorAtKey(
          fmt::format("{} is not supported by sluice (CiliumCIDRGroups are resolved by Cilium at run time); "
                      "list the prefixes in cidr",
                      key));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  if (!f["cidr"].present()) {
    f["cidr"].error("required field is missing");
    return std::nullopt;
  }
  auto cidr = f["cidr"].cidr();  // CIDRRule takes prefix notation only
  if (!cidr) return std::nullopt;
  rule.cidr = *cidr;
  for (const Field& e : f["except"].items()) {
    auto ex = e.cidr();
    if (!ex) {
      ok = false;
    } else if (ex->addr.family != cidr->addr.family || !cidr->contains(*ex)) {
      e.error(fmt::format("'{}' is not inside cidr {}", ex->str(), cidr->str()));
      ok = false;
    } else {
      rule.except.push_back(*ex);
    }
  }
  if (!ok) return std::nullopt;
  return rule;
}

std::optional<CiliumServiceRef> parseServiceRef(const Field& f) {
  if (!f.expectMap()) return std::nullopt;
  f.onlyKeys({"k8sService", "k8sServiceSelector"});
  CiliumServiceRef ref;
  ref.loc = f.loc();
  Field byName = f["k8sService"], bySelector = f["k8sServiceSelector"];
  if (byName.present() && bySelector.present()) {
    bySelector.errorAtKey("must specify only one of k8sService or k8sServiceSelector");
    return std::nullopt;
  }
  if (!byName.present() && !bySelector.present()) {
    // Cilium accepts an entry that names no service and translates it to no
    // peer (pkg/policy/k8s/service.go takes neither branch): do the same.
    f.note("this toServices entry names no service (neither k8sService nor k8sServiceSelector): it matches no "
           "service, as in Cilium");
    return ref;
  }
  const Field& ref_ = byName.present() ? byName : bySelector;
  if (!ref_.expectMap()) return std::nullopt;
  if (byName.present()) {
    byName.onlyKeys({"serviceName", "namespace"});
    auto name = byName["serviceName"].requiredStr();
    if (!name) return std::nullopt;
    ref.name = *name;
  } else {
    bySelector.onlyKeys({"selector", "namespace"});
    if (!bySelector["selector"].present()) {
      bySelector["selector"].error("required field is missing");
      return std::nullopt;
    }
    ref.selector = parseLabelSelector(bySelector["selector"], /*ciliumKeys=*/true);
  }
  ref.namespace_ = ref_["namespace"].str().value_or("");
  return ref;
}

// One toPorts[].ports[] item.
std::optional<CiliumPortProtocol> parsePortProtocol(const Field& f) {
  if (!f.expectMap()) return std::nullopt;
  f.onlyKeys({"port", "endPort", "protocol"});
  CiliumPortProtocol pp;
  pp.loc = f.loc();
  size_t before = f.ctx()->diags->errorCount();
  Field port = f["port"];
  pp.port.loc = port.loc();
  Field protocol = f["protocol"];
  if (auto p = protocol.isScalar() ? protocol.str() : std::nullopt; p && (*p == "VRRP" || *p == "IGMP")) {
    // Valid in Cilium 1.19 and later behind --enable-extended-ip-protocols,
    // with no port or port 0 (pkg/policy/api/rule_validation.go).
    protocol.error(fmt::format("protocol {} is not supported by sluice (Cilium's extended IP protocols, "
                               "enabled with --enable-extended-ip-protocols)",
                               *p));
    return std::nullopt;
  }
  if (!port.present()) {
    // Cilium refuses a port entry without a port ("Port must be specified").
    port.error("required field is missing (use \"0\" for all ports)");
  } else if (!port.isScalar()) {
    port.error(fmt::format("expected a port number or name, got {}", port.isMap() ? "a mapping" : "a list"));
  } else {
    std::string s = *port.str();
    if (isDigits(s)) {
      if (s.size() > 5 || std::stoul(s) > 65535) {
        port.error(fmt::format("must be between 0 and 65535, inclusive (got {})", s));
      } else {
        pp.port.number = uint16_t(std::stoul(s));
        pp.allPorts = *pp.port.number == 0;
      }
    } else {
      // Named ports are IANA service names, compared case-insensitively by Cilium.
      std::string lower = s;
      for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
      if (std::string err = checkPortName(lower); !err.empty())
        port.error(fmt::format("{} is neither a port number nor a valid port name: port name {}", quote(s), err));
      else
        pp.port.name = lower;
    }
  }
  if (Field end = f["endPort"]; end.present()) {
    if (auto e = end.integer(1, 65535); e && f.ctx()->diags->errorCount() == before) {
      if (pp.port.isNamed())
        end.error(fmt::format("may not be used with a named port ('{}')", pp.port.name));
      else if (pp.allPorts)
        end.error("may not be used when port is 0 (all ports)");
      else if (*e < *pp.port.number)
        end.error(fmt::format("must be greater than or equal to port ({}), got {}", *pp.port.number, *e));
      else
        pp.endPort = uint16_t(*e);
    }
  }
  auto proto = f["protocol"].present() ? f["protocol"].oneOf({"TCP", "UDP", "SCTP", "ANY"}) : std::string("ANY");
  if (proto == "TCP")
    pp.protocols = {Protocol::TCP};
  else if (proto == "UDP")
    pp.protocols = {Protocol::UDP};
  else if (proto == "SCTP")
    pp.protocols = {Protocol::SCTP};
  else
    pp.protocols = {Protocol::TCP, Protocol::UDP, Protocol::SCTP};  // ANY (or absent)
  if (f.ctx()->diags->errorCount() != before) return std::nullopt;
  return pp;
}

std::optional<HttpRule> parseHttpRule(const Field& f) {
  if (!f.expectMap()) return std::nullopt;
  f.onlyKeys({"method", "path", "host", "headers", "headerMatches"});
  HttpRule rule;
  rule.loc = f.loc();
  size_t before = f.ctx()->diags->errorCount();
  // method, path and host are RE2 patterns matched against the whole value
  // (Envoy's safe_regex, RE2::FullMatch): refused here, where they are written.
  auto pattern = [&](const char* key, std::string& out) {
    auto s = f[key].str();
    if (!s) return;
    RegexError e;
    if (!parseRegex(*s, e))
      f[key].error(fmt::format("{} is not a regular expression sluice compiles: {}{}", quote(*s), e.message,
                               e.column ? fmt::format(" (at character {})", e.column) : ""));
    out = *s;
  };
  pattern("method", rule.method);
  pattern("path", rule.path);
  pattern("host", rule.host);
  for (const Field& h : f["headers"].items())
    if (auto s = h.str()) rule.headers.push_back(*s);
  for (const Field& m : f["headerMatches"].items()) {
    if (!m.expectMap()) continue;
    m.onlyKeys({"name", "value", "secret", "mismatch"});
    // Without `mismatch` a mismatch fails the rule (Cilium's default,
    // FAIL_ON_MISMATCH). The actions rewrite headers in Envoy and never deny;
    // a secret's value lives in a Kubernetes Secret Cilium reads at run time.
    if (m["mismatch"].present()) {
      m["mismatch"].errorAtKey(fmt::format(
          "headerMatches mismatch action {} is not supported by sluice (LOG, ADD, DELETE and REPLACE rewrite the "
          "request in Cilium's proxy); leave it out, and a mismatch denies",
          quote(m["mismatch"].str().value_or(""))));
      continue;
    }
    if (m["secret"].present()) {
      m["secret"].errorAtKey(
          "headerMatches secret is not supported by sluice (the value would be read from a Secret at run time); "
          "give the value");
      continue;
    }
    auto name = m["name"].requiredStr();
    if (!name) continue;
    HttpHeaderMatch hm;
    hm.name = *name;
    if (auto v = m["value"].str()) hm.value = *v;
    rule.headerMatches.push_back(std::move(hm));
  }
  if (f.ctx()->diags->errorCount() != before) return std::nullopt;
  return rule;
}

std::optional<KafkaRule> parseKafkaRule(const Field& f) {
  if (!f.expectMap()) return std::nullopt;
  f.onlyKeys({"role", "apiKey", "apiVersion", "clientID", "topic"});
  size_t before = f.ctx()->diags->errorCount();
  KafkaRule rule;
  rule.loc = f.loc();
  if (f["role"].present() && f["apiKey"].present())
    f["apiKey"].errorAtKey("role and apiKey are mutually exclusive (a role stands for a set of API keys)");
  if (auto role = f["role"].str()) {
    std::string lower = *role;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (lower != "produce" && lower != "consume")
      f["role"].error(fmt::format("unsupported value \"{}\": supported values: \"produce\", \"consume\"", *role));
    rule.role = lower;
  }
  if (auto key = f["apiKey"].str()) {
    rule.apiKeyName = *key;
    std::string lower = *key;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (isDigits(lower) && lower.size() <= 5 && std::stoi(lower) <= 32767) {
      rule.apiKey = std::stoi(lower);
    } else {
      for (const auto& n : kKafkaApiKeys)
        if (n.name == lower) rule.apiKey = n.value;
      if (!rule.apiKey)
        f["apiKey"].error(fmt::format("unknown Kafka API key {} (expected a number or one of: {})", quote(*key),
                                      joinNames(kKafkaApiKeys)));
    }
  }
  if (auto v = f["apiVersion"].str()) {
    if (isDigits(*v) && v->size() <= 5 && std::stoi(*v) <= 32767)
      rule.apiVersion = std::stoi(*v);
    else
      f["apiVersion"].error(fmt::format("expected a Kafka API version number (0 to 32767), got {}", quote(*v)));
  }
  auto checkChars = [&](const char* key, std::string& out, size_t maxLen) {
    auto s = f[key].str();
    if (!s) return;
    bool ok = s->size() <= maxLen && std::all_of(s->begin(), s->end(), [](char c) {
                return std::isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
              });
    if (!ok)
      f[key].error(fmt::format("invalid {} {}: must be at most {} characters of [a-zA-Z0-9._-]", key, quote(*s), maxLen));
    out = *s;
  };
  checkChars("clientID", rule.clientID, 255);
  checkChars("topic", rule.topic, 255);
  if (f.ctx()->diags->errorCount() != before) return std::nullopt;
  return rule;
}

// One toPorts item. In deny rules only `ports` is allowed (PortDenyRule).
std::optional<CiliumPortRule> parsePortRule(const Field& f, bool ingress, bool deny) {
  if (!f.expectMap()) return std::nullopt;
  size_t before = f.ctx()->diags->errorCount();
  CiliumPortRule rule;
  rule.loc = f.loc();
  const char* section = ingress ? (deny ? "ingressDeny" : "ingress") : (deny ? "egressDeny" : "egress");
  for (auto& [key, value] : f.entries()) {
    if (key == "ports") continue;
    if (key == "rules") {
      if (deny) value.errorAtKey(fmt::format("L7 rules are not allowed in {} rules (Cilium forbids them)", section));
      continue;
    }
    if (key == "terminatingTLS" || key == "originatingTLS" || key == "serverNames" || key == "listener") {
      value.errorAtKey(fmt::format("{} is not supported by sluice (TLS interception and listeners need Envoy)", key));
      continue;
    }
    value.errorAtKey(deny ? unknownFieldMessage(key, {"ports"}) : unknownFieldMessage(key, {"ports", "rules"}));
  }
  Field ports = f["ports"];
  std::vector<Field> items = ports.items();
  if (items.size() > kMaxPorts)
    ports.error(fmt::format("too many ports: at most {} per toPorts item (got {}); split them into several items",
                            kMaxPorts, items.size()));
  for (const Field& p : items)
    if (auto pp = parsePortProtocol(p)) rule.ports.push_back(std::move(*pp));

  Field rules = f["rules"];
  if (!deny && rules.present() && rules.expectMap()) {
    for (auto& [key, value] : rules.entries()) {
      if (key == "http" || key == "kafka") continue;
      if (key == "dns")
        value.errorAtKey("DNS rules are not supported by sluice (they need Cilium's DNS proxy)");
      else if (key == "l7proto" || key == "l7")
        value.errorAtKey(fmt::format("{} is not supported by sluice (generic L7 parsers run in Cilium's proxy)", key));
      else
        value.errorAtKey(unknownFieldMessage(key, {"http", "kafka"}, "; and dns, l7proto, l7, which it does not"));
    }
    for (const Field& h : rules["http"].items())
      if (auto r = parseHttpRule(h)) rule.http.push_back(std::move(*r));
    for (const Field& k : rules["kafka"].items())
      if (auto r = parseKafkaRule(k)) rule.kafka.push_back(std::move(*r));
    if (rules["http"].present() && rules["kafka"].present())
      rules["kafka"].errorAtKey("multiple L7 protocols in one toPorts item: use either http or kafka");
    if (rule.hasL7() && f.ctx()->diags->errorCount() == before) {
      const char* kind = rule.http.empty() ? "kafka" : "http";
      if (items.empty()) ports.error(fmt::format("{} rules need at least one TCP port", kind));
      for (size_t i = 0; i < rule.ports.size(); ++i) {
        const CiliumPortProtocol& pp = rule.ports[i];
        if (pp.allPorts) {
          items[i]["port"].error(fmt::format("{} rules can not be used when a port is 0 (all ports)", kind));
        } else if (pp.protocols.size() != 1 || pp.protocols[0] != Protocol::TCP) {
          // Cilium: "L7 rules can only apply to TCP (not ANY)"; an absent protocol is ANY.
          Field proto = items[i]["protocol"];
          if (proto.present())
            proto.error(fmt::format("{} rules only apply to TCP, got {}", kind, *proto.str()));
          else
            items[i].error(
                fmt::format("{} rules only apply to TCP: set protocol: TCP on this port (no protocol "
                            "means ANY)",
                            kind));
        }
      }
    }
  }
  if (f.ctx()->diags->errorCount() != before) return std::nullopt;
  return rule;
}

std::optional<IcmpField> parseIcmpField(const Field& f) {
  if (!f.expectMap()) return std::nullopt;
  f.onlyKeys({"type", "family"});
  IcmpField field;
  field.loc = f.loc();
  if (f["family"].present()) {
    auto fam = f["family"].oneOf({"IPv4", "IPv6"});
    if (!fam) return std::nullopt;
    if (*fam == "IPv6") field.family = IpAddr::Family::V6;
  }
  Field type = f["type"];
  bool v4 = field.family == IpAddr::Family::V4;
  if (!type.present()) {
    type.error("required field is missing");
    return std::nullopt;
  }
  if (type.isScalar() && !isDigits(*type.str())) {
    std::string name = *type.str();
    for (const auto& n : v4 ? std::span<const Named>(kIcmpV4Types) : std::span<const Named>(kIcmpV6Types))
      if (n.name == name) {
        field.type = uint8_t(n.value);
        return field;
      }
    type.error(fmt::format("unknown {} type {} (expected a number 0-255 or one of: {})", v4 ? "ICMP" : "ICMPv6", quote(name),
                           v4 ? joinNames(kIcmpV4Types) : joinNames(kIcmpV6Types)));
    return std::nullopt;
  }
  auto n = type.integer(0, 255);
  if (!n) return std::nullopt;
  field.type = uint8_t(*n);
  return field;
}

// `fromEndpoints:` with nothing after it decodes to nil, the same as absent:
// say what the rule then does, since it is rarely what was meant.
void warnNullFields(const Field& r, const std::vector<std::string>& peerFields, const CiliumPeerRule& rule) {
  bool hasL3 = !rule.endpoints.empty() || !rule.cidrs.empty() || !rule.entities.empty() || !rule.services.empty();
  bool hasL4 = !rule.toPorts.empty() || !rule.icmps.empty();
  const char* verb = rule.deny ? "denies" : "admits";
  for (const std::string& name : peerFields) {
    Field f = r[name];
    if (!f.writtenNull()) continue;
    std::string effect = hasL3 ? "it has no effect"
                         : hasL4 ? fmt::format("this rule {} every peer on its ports", verb)
                                 : fmt::format("this rule names no peer and no port, so it {} nothing", verb);
    f.warning(fmt::format("`{}:` is null, which Cilium reads as absent: {}", name, effect));
  }
  for (const char* name : {"toPorts", "icmps"})
    if (r[name].writtenNull())
      r[name].warning(fmt::format("`{}:` is null, which Cilium reads as absent{}", name,
                                  hasL3 && !hasL4 ? fmt::format(": this rule {} its peers on every port", verb) : ""));
}

struct Section {
  bool ingress;
  bool deny;
  const char* name() const { return ingress ? (deny ? "ingressDeny" : "ingress") : (deny ? "egressDeny" : "egress"); }
};

CiliumPeerRule parsePeerRule(const Field& r, Section s) {
  CiliumPeerRule rule;
  rule.deny = s.deny;
  rule.loc = r.loc();
  if (r.writtenNull()) {
    // `- ~` (or `-` with nothing after it): Go decodes a zero-value rule, as `{}`.
    r.warning(s.deny ? "this rule is null, which Cilium reads as {}: it denies nothing"
                     : fmt::format("this rule is null, which Cilium reads as {{}}: it makes {} default-deny for "
                                   "the selected pods and admits nothing",
                                   s.ingress ? "ingress" : "egress"));
    return rule;
  }
  if (!r.expectMap()) return rule;
  const std::string p = s.ingress ? "from" : "to";
  std::vector<std::string_view> known;
  std::vector<std::string> names = {p + "Endpoints", p + "CIDR", p + "CIDRSet", p + "Entities"};
  if (!s.ingress) names.push_back("toServices");
  for (auto& n : names) known.push_back(n);
  known.push_back("toPorts");
  known.push_back("icmps");
  checkRuleKeys(r, known, s.ingress, s.deny);

  Field endpoints = r[p + "Endpoints"];
  Field cidr = r[p + "CIDR"];
  Field cidrSet = r[p + "CIDRSet"];
  Field entities = r[p + "Entities"];
  Field services = r["toServices"];
  // An L3 list given as [] is not absent: Cilium 1.16 selects no peer for
  // the whole rule (SetAggregatedSelectors and
  // Get{Source,Destination}EndpointSelectorsWithRequirements in
  // pkg/policy/api/{ingress,egress}.go), even with toPorts. toServices: []
  // is the exception: it is never turned into selectors.
  for (const Field* f : {&endpoints, &cidr, &cidrSet, &entities}) {
    if (!f->isSeq() || !f->items().empty()) continue;
    rule.emptyPeerList = true;
    std::string key = f->path().substr(f->path().rfind('.') + 1);
    f->warning(fmt::format("`{}: []` selects no peer: Cilium's rule {} nothing{} (remove the key to {} every peer "
                           "on the rule's ports)",
                           key, s.deny ? "denies" : "admits", s.deny ? "" : ", whatever else it says",
                           s.deny ? "deny" : "admit"));
  }
  if (endpoints.present()) {
    for (const Field& e : endpoints.items()) {
      if (!e.present()) {
        e.error("expected a label selector, got nothing (use {} to select all endpoints)");
        continue;
      }
      rule.endpoints.push_back(parseLabelSelector(e, /*ciliumKeys=*/true));
    }
  }
  for (const Field& c : cidr.items()) {
    if (auto v = parseCidrOrIp(c)) {
      CiliumCIDRRule cr;
      cr.cidr = *v;
      cr.loc = c.loc();
      rule.cidrs.push_back(std::move(cr));
    }
  }
  for (const Field& c : cidrSet.items())
    if (auto v = parseCidrSet(c)) rule.cidrs.push_back(std::move(*v));
  for (const Field& e : entities.items()) {
    auto name = e.str();
    if (!name) continue;
    if (std::find(std::begin(kEntities), std::end(kEntities), *name) == std::end(kEntities)) {
      std::string list;
      for (auto n : kEntities) list += (list.empty() ? "" : ", ") + std::string(n);
      e.error(fmt::format("unknown entity {} (expected one of: {})", quote(*name), list));
      continue;
    }
    rule.entities.push_back(*name);
  }
  if (!s.ingress)
    for (const Field& svc : services.items())
      if (auto ref = parseServiceRef(svc)) rule.services.push_back(std::move(*ref));

  // Cilium refuses a rule that mixes peer kinds ("combining FromEndpoints and
  // FromCIDR is not supported yet"); it counts non-empty lists only.
  std::vector<const Field*> l3;
  for (const Field* f : {&endpoints, &cidr, &cidrSet, &entities, &services})
    if (f->isSeq() && !f->items().empty()) l3.push_back(f);
  if (l3.size() > 1) {
    auto key = [](const Field* f) { return f->path().substr(f->path().rfind('.') + 1); };
    l3[1]->errorAtKey(
        fmt::format("{} and {} may not be combined in one rule (Cilium rejects it); write a separate "
                    "rule for each",
                    key(l3[0]), key(l3[1])));
  }

  Field toPorts = r["toPorts"];
  if (services.isSeq() && !services.items().empty() && toPorts.isSeq() && !toPorts.items().empty())
    toPorts.errorAtKey(
        "toServices and toPorts may not be combined in one rule (Cilium 1.16 rejects it: \"Combining ToServices "
        "and ToPorts is not supported yet\", cilium#20067); a toServices rule allows every port of the service's "
        "endpoints");
  for (const Field& tp : toPorts.items())
    if (auto pr = parsePortRule(tp, s.ingress, s.deny)) rule.toPorts.push_back(std::move(*pr));
  Field icmps = r["icmps"];
  for (const Field& i : icmps.items()) {
    if (!i.expectMap()) continue;
    i.onlyKeys({"fields"});
    std::vector<Field> fields = i["fields"].items();
    if (fields.size() > kMaxIcmpFields)
      i["fields"].error(
          fmt::format("too many types: at most {} per icmps item (got {})", kMaxIcmpFields, fields.size()));
    for (const Field& f : fields)
      if (auto field = parseIcmpField(f)) rule.icmps.push_back(*field);
  }
  if (icmps.isSeq() && !icmps.items().empty() && toPorts.isSeq() && !toPorts.items().empty())
    icmps.errorAtKey(
        "icmps and toPorts may not be combined in one rule (Cilium rejects it); write a separate rule "
        "for each");
  warnNullFields(r, names, rule);
  return rule;
}

CiliumRule parseRule(const Field& f) {
  CiliumRule rule;
  rule.loc = f.loc();
  rule.path = f.path();  // "spec" or "specs[2]"
  if (!f.present()) {
    f.error("expected a rule, got nothing");
    return rule;
  }
  if (!f.expectMap()) return rule;
  f.onlyKeys({"endpointSelector", "nodeSelector", "ingress", "ingressDeny", "egress", "egressDeny", "enableDefaultDeny",
              "description", "labels"});
  Field es = f["endpointSelector"], ns = f["nodeSelector"];
  if (es.present() && ns.present()) {
    ns.errorAtKey("endpointSelector and nodeSelector are mutually exclusive");
  } else if (!es.present() && !ns.present()) {
    f.error("must have endpointSelector (the pods this rule applies to) or nodeSelector");
  } else if (ns.present()) {
    // Host policies guard the node's own interfaces, which sluice does not
    // attach to: enforcing the rest of the policy would be half of it.
    ns.errorAtKey("host policies (nodeSelector) are not supported by sluice: it enforces pod endpoints only");
  }
  if (es.present()) rule.endpointSelector = parseLabelSelector(es, /*ciliumKeys=*/true);
  for (Section s : {Section{true, false}, Section{true, true}, Section{false, false}, Section{false, true}}) {
    if (f[s.name()].writtenNull())
      f[s.name()].warning(fmt::format("`{}:` is null, which Cilium reads as absent: the section is ignored{}",
                                      s.name(),
                                      s.deny ? "" : s.ingress ? " (`ingress: [{}]` denies all ingress)"
                                                              : " (`egress: [{}]` denies all egress)"));
    std::vector<Field> items = f[s.name()].items();
    auto& out = s.ingress ? rule.ingress : rule.egress;
    for (const Field& item : items) out.push_back(parsePeerRule(item, s));
    if (!items.empty()) (s.ingress ? rule.ingressSectionPresent : rule.egressSectionPresent) = true;
  }
  Field dd = f["enableDefaultDeny"];
  if (dd.present() && dd.expectMap()) {
    dd.onlyKeys({"ingress", "egress"});
    rule.defaultDenyIngress = dd["ingress"].boolean();
    rule.defaultDenyEgress = dd["egress"].boolean();
  }
  rule.description = f["description"].str().value_or("");
  return rule;
}

}  // namespace

void parseCiliumPolicy(const Field& doc, ClusterState& state, bool clusterwide) {
  size_t before = doc.ctx()->diags->errorCount();
  CiliumPolicy policy;
  policy.clusterwide = clusterwide;
  policy.meta = parseMeta(doc, policy.kindName(), /*namespaced=*/!clusterwide);
  if (clusterwide && doc["metadata"].isMap()) {
    if (auto ns = doc["metadata"]["namespace"].str(); ns && !ns->empty())
      doc["metadata"]["namespace"].warning("ignored: CiliumClusterwideNetworkPolicy is cluster-scoped");
  }
  doc.onlyKeys({"apiVersion", "kind", "metadata", "spec", "specs", "status"});
  Field spec = doc["spec"], specs = doc["specs"];
  std::vector<Field> list = specs.items();
  if (!spec.present() && list.empty()) {
    (specs.present() ? specs : doc).error("must have spec or a non-empty specs list");
  }
  if (spec.present()) policy.rules.push_back(parseRule(spec));
  for (const Field& s : list) policy.rules.push_back(parseRule(s));
  if (doc.ctx()->diags->errorCount() == before) state.ciliumPolicies.push_back(std::move(policy));
}

}  // namespace sluice
