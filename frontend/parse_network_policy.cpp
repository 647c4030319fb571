// networking.k8s.io/v1 NetworkPolicy, validated as ValidateNetworkPolicySpec does.
#include <fmt/format.h>

#include "frontend/parsers.h"

namespace sluice {
namespace {

std::optional<NetworkPolicyPort> parsePort(const Field& f) {
  NetworkPolicyPort port;
  port.loc = f.loc();
  if (!f.expectMap()) return std::nullopt;
  f.onlyKeys({"protocol", "port", "endPort"});
  if (f["protocol"].present()) {
    auto proto = f["protocol"].protocol();
    if (!proto) return std::nullopt;
    port.protocol = *proto;
  }
  port.port = f["port"].port(/*allowName=*/true);
  if (f["port"].present() && !port.port) return std::nullopt;
  if (f["endPort"].present()) {
    auto end = f["endPort"].integer(1, 65535);
    if (!end) return std::nullopt;
    if (!port.port) {
      f["endPort"].error("may not be specified when port is not specified");
      return std::nullopt;
    }
    if (port.port->isNamed()) {
      f["endPort"].error(fmt::format("may not be specified when port is a named port ('{}')", port.port->name));
      return std::nullopt;
    }
    if (*end < *port.port->number) {
      f["endPort"].error(fmt::format("must be greater than or equal to port ({}), got {}", *port.port->number, *end));
      return std::nullopt;
    }
    port.endPort = uint16_t(*end);
  }
  return port;
}

std::optional<IPBlock> parseIPBlock(const Field& f) {
  IPBlock block;
  block.loc = f.loc();
  if (!f.expectMap()) return std::nullopt;
  f.onlyKeys({"cidr", "except"});
  if (!f["cidr"].present()) {
    f["cidr"].error("required field is missing");
    return std::nullopt;
  }
  auto cidr = f["cidr"].cidr();
  if (!cidr) return std::nullopt;
  block.cidr = *cidr;
  bool ok = true;
  for (const Field& e : f["except"].items()) {
    auto ex = e.cidr();
    if (!ex) {
      ok = false;
      continue;
    }
    if (ex->addr.family != cidr->addr.family) {
      e.error(fmt::format("'{}' is not the same IP family as cidr {}", ex->str(), cidr->str()));
      ok = false;
    } else if (!cidr->contains(*ex) || ex->prefixLen == cidr->prefixLen) {
      e.error(fmt::format("'{}' must be a strict subset of cidr {}", ex->str(), cidr->str()));
      ok = false;
    } else {
      block.except.push_back(*ex);
    }
  }
  if (!ok) return std::nullopt;
  return block;
}

std::optional<NetworkPolicyPeer> parsePeer(const Field& f) {
  NetworkPolicyPeer peer;
  peer.loc = f.loc();
  if (!f.present()) {
    f.error("must specify a peer (podSelector, namespaceSelector or ipBlock)");
    return std::nullopt;
  }
  if (!f.expectMap()) return std::nullopt;
  f.onlyKeys({"podSelector", "namespaceSelector", "ipBlock"});
  size_t before = f.ctx()->diags->errorCount();
  if (f["podSelector"].present()) peer.podSelector = parseLabelSelector(f["podSelector"], false);
  if (f["namespaceSelector"].present()) peer.namespaceSelector = parseLabelSelector(f["namespaceSelector"], false);
  if (f["ipBlock"].present()) peer.ipBlock = parseIPBlock(f["ipBlock"]);
  if (f.ctx()->diags->errorCount() != before) return std::nullopt;
  bool selectors = peer.podSelector || peer.namespaceSelector;
  if (!selectors && !f["ipBlock"].present()) {
    f.error("must specify a peer (podSelector, namespaceSelector or ipBlock)");
    return std::nullopt;
  }
  if (selectors && f["ipBlock"].present()) {
    f["ipBlock"].errorAtKey("may not specify both ipBlock and another peer");
    return std::nullopt;
  }
  return peer;
}

std::vector<NetworkPolicyRule> parseRules(const Field& list, const std::string& peersKey) {
  std::vector<NetworkPolicyRule> rules;
  const char* peers = peersKey == "from" ? "source" : "destination";
  for (const Field& r : list.items()) {
    NetworkPolicyRule rule;
    rule.loc = r.loc();
    if (r.writtenNull())
      r.warning(fmt::format("this rule is null, which the API reads as {{}}: it allows every {} on every port",
                            peers));
    if (r.present()) {
      if (!r.expectMap()) continue;
      r.onlyKeys({peersKey, "ports"});
      if (r[peersKey].writtenNull())
        r[peersKey].warning(fmt::format("`{}:` is null, which the API reads as absent: this rule allows every {}{}",
                                        peersKey, peers, r["ports"].present() ? " on its ports" : " on every port"));
      if (r["ports"].writtenNull())
        r["ports"].warning("`ports:` is null, which the API reads as absent: this rule applies to every port");
      for (const Field& p : r[peersKey].items())
        if (auto peer = parsePeer(p)) rule.peers.push_back(std::move(*peer));
      for (const Field& p : r["ports"].items())
        if (auto port = parsePort(p)) rule.ports.push_back(std::move(*port));
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

}  // namespace

void parseNetworkPolicy(const Field& doc, ClusterState& state) {
  size_t before = doc.ctx()->diags->errorCount();
  NetworkPolicy np;
  np.meta = parseMeta(doc, "NetworkPolicy", /*namespaced=*/true);
  Field spec = doc["spec"];
  if (!spec.present()) {
    doc.error("spec is missing");
    return;
  }
  if (!spec.expectMap()) return;
  spec.onlyKeys({"podSelector", "policyTypes", "ingress", "egress"});
  if (spec["podSelector"].present()) {
    np.podSelector = parseLabelSelector(spec["podSelector"], false);
  } else {
    spec["podSelector"].warning("absent podSelector selects every pod in the namespace (the same as {})");
  }
  np.ingress = parseRules(spec["ingress"], "from");
  np.egress = parseRules(spec["egress"], "to");

  Field types = spec["policyTypes"];
  std::vector<Field> typeItems = types.items();
  if (types.present() && types.isSeq() && !typeItems.empty()) {
    np.policyTypesExplicit = true;
    for (const Field& t : typeItems) {
      auto v = t.oneOf({"Ingress", "Egress"});
      if (!v) continue;
      bool& flag = *v == "Ingress" ? np.ingressType : np.egressType;
      if (flag) t.error(fmt::format("duplicate value \"{}\"", *v));
      flag = true;
    }
    if (!np.ingressType && !np.ingress.empty())
      spec["ingress"].warning("ingress rules are ignored: policyTypes does not include Ingress");
    if (!np.egressType && !np.egress.empty())
      spec["egress"].warning("egress rules are ignored: policyTypes does not include Egress");
  } else {
    // Defaulting (SEMANTICS.md): Ingress always; Egress only with egress rules.
    np.ingressType = true;
    np.egressType = !np.egress.empty();
  }
  // `ingress:` / `egress:` with nothing after them decode to nil lists.
  if (spec["ingress"].writtenNull() && np.ingressType)
    spec["ingress"].warning(
        "`ingress:` is null, which the API reads as no ingress rules: the pods this policy selects accept no "
        "ingress (write `ingress: [{}]` to allow all)");
  if (spec["egress"].writtenNull())
    spec["egress"].warning(
        np.egressType ? "`egress:` is null, which the API reads as no egress rules: the pods this policy selects "
                        "may send no egress (write `egress: [{}]` to allow all)"
                      : "`egress:` is null, which the API reads as absent: this policy does not isolate egress "
                        "(add `policyTypes: [Ingress, Egress]` to deny all egress)");
  if (doc.ctx()->diags->errorCount() == before) state.networkPolicies.push_back(std::move(np));
}

}  // namespace sluice
