#include <nlohmann/json.hpp>

#include "ir/print.h"

namespace sluice::ir {

using nlohmann::json;

static json ipList(const std::vector<IpAddr>& v) {
  json a = json::array();
  for (const auto& ip : v) a.push_back(ip.str());
  return a;
}

static json toJson(const Peer& p) {
  json j;
  j["any"] = p.any;
  j["identities"] = p.identities;
  json ents = json::array();
  for (Entity e : p.entities) ents.push_back(entityName(e));
  j["entities"] = ents;
  json cidrs = json::array();
  for (const auto& c : p.cidrs) {
    json ex = json::array();
    for (const auto& e : c.except) ex.push_back(e.str());
    cidrs.push_back({{"cidr", c.cidr.str()}, {"except", ex}});
  }
  j["cidrs"] = cidrs;
  j["cidrMeaning"] = p.cidrMeaning == CidrMeaning::AnyAddress ? "any-address" : "outside-cluster";
  json addrs = json::array();
  for (const auto& [owner, ip] : p.pods) addrs.push_back({{"owner", owner}, {"ip", ip.str()}});
  j["addresses"] = addrs;
  j["selector"] = p.selectorText;
  return j;
}

static json toJson(const L4Match& l4) {
  json j;
  j["any"] = l4.any;
  json ports = json::array();
  for (const auto& r : l4.ports) {
    json p = {{"protocol", l4ProtoName(r.proto)}, {"first", r.first}, {"last", r.last}};
    if (!r.fromName.empty()) p["name"] = r.fromName;
    ports.push_back(p);
  }
  j["ports"] = ports;
  json icmps = json::array();
  for (const auto& i : l4.icmps) icmps.push_back({{"protocol", l4ProtoName(i.proto)}, {"type", i.type}});
  j["icmps"] = icmps;
  return j;
}

static json toJson(const L7Rules& l7) {
  json http = json::array(), kafka = json::array();
  for (const auto& h : l7.http) {
    json matches = json::array();
    for (const auto& [name, value] : h.headerMatches)
      matches.push_back(value ? json{{"name", name}, {"value", *value}} : json{{"name", name}});
    http.push_back({{"method", h.method}, {"path", h.path}, {"host", h.host}, {"headers", h.headers},
                    {"headerMatches", matches}});
  }
  for (const auto& k : l7.kafka) {
    json kj = {{"apiKeys", k.apiKeys}, {"clientID", k.clientID}, {"topic", k.topic}};
    if (k.apiVersion) kj["apiVersion"] = *k.apiVersion;
    kafka.push_back(kj);
  }
  return {{"http", http}, {"kafka", kafka}};
}

json toJson(const Rule& r) {
  return {{"name", r.name},
          {"verdict", r.verdict == Verdict::Allow ? "allow" : "deny"},
          {"peer", toJson(r.peer)},
          {"l4", toJson(r.l4)},
          {"l7", toJson(r.l7)},
          {"origin",
           {{"policy", r.origin.policy},
            {"path", r.origin.path},
            {"file", r.origin.loc.fileName()},
            {"line", r.origin.loc.line},
            {"column", r.origin.loc.col}}}};
}

static json toJson(const DirectionPolicy& dp) {
  json rules = json::array();
  for (const auto& r : dp.rules) rules.push_back(toJson(r));
  return {{"enforced", dp.enforced}, {"enforcedBy", dp.enforcedBy}, {"rules", rules}};
}

json toJson(const Endpoint& ep) {
  json ports = json::array();
  for (const auto& p : ep.namedPorts)
    ports.push_back({{"name", p.name}, {"protocol", l4ProtoName(p.proto)}, {"port", p.port}});
  return {{"namespace", ep.namespace_}, {"name", ep.name},          {"ips", ipList(ep.ips)},
          {"identity", ep.identity},    {"namedPorts", ports},      {"ingress", toJson(ep.ingress)},
          {"egress", toJson(ep.egress)}, {"source", ep.loc.fileLine()}};
}

static json toJson(const Backend& b) {
  return {{"ip", b.ip.str()}, {"port", b.port},   {"pod", b.pod},
          {"node", b.node},   {"local", b.local}, {"terminating", b.terminating}};
}

json toJson(const Service& s) {
  json ports = json::array();
  for (const auto& p : s.ports) {
    json backends = json::array(), external = json::array();
    for (const auto& b : p.backends) backends.push_back(toJson(b));
    for (const auto& b : p.externalBackends) external.push_back(toJson(b));
    json pj = {{"name", p.name},         {"protocol", l4ProtoName(p.proto)}, {"port", p.port},
               {"targetPort", p.targetPort}, {"backends", backends},          {"externalBackends", external}};
    if (p.nodePort) pj["nodePort"] = *p.nodePort;
    ports.push_back(pj);
  }
  auto tp = [](TrafficPolicy t) { return t == TrafficPolicy::Local ? "Local" : "Cluster"; };
  json j = {{"namespace", s.namespace_},
            {"name", s.name},
            {"clusterIPs", ipList(s.clusterIPs)},
            {"externalIPs", ipList(s.externalIPs)},
            {"loadBalancerIPs", ipList(s.loadBalancerIPs)},
            {"ports", ports},
            {"internalTrafficPolicy", tp(s.internalTrafficPolicy)},
            {"externalTrafficPolicy", tp(s.externalTrafficPolicy)},
            {"source", s.loc.fileLine()}};
  if (s.clientIPAffinity) j["clientIPAffinityTimeoutSeconds"] = s.affinityTimeoutSeconds;
  return j;
}

json toJson(const NodeProgram& n) {
  json eps = json::array(), cache = json::array(), svcs = json::array(), cidrs = json::array();
  for (const auto& e : n.endpoints) eps.push_back(toJson(e));
  for (const auto& e : n.ipcache)
    cache.push_back({{"prefix", e.prefix.str()}, {"identity", e.identity}, {"owner", e.owner}});
  for (const auto& s : n.services) svcs.push_back(toJson(s));
  for (const auto& c : n.podCIDRs) cidrs.push_back(c.str());
  json out = {{"name", n.node},   {"addresses", ipList(n.nodeIPs)}, {"podCIDRs", cidrs},
              {"endpoints", eps}, {"ipcache", cache},               {"services", svcs}};
  if (n.masquerade.enabled) {
    json keep = json::array();
    for (const auto& c : n.masquerade.keep) keep.push_back(c.str());
    out["masquerade"] = {{"address", n.masquerade.nodeAddress.str()}, {"except", keep}};
  }
  return out;
}

json toJson(const Program& p, const std::string& onlyNode) {
  json ids = json::array(), nodes = json::array();
  for (const auto& i : p.identities)
    ids.push_back({{"id", i.id}, {"labels", i.labels}, {"namespace", i.namespace_}, {"reserved", i.isReserved()}});
  for (const auto& n : p.nodes)
    if (onlyNode.empty() || n.node == onlyNode) nodes.push_back(toJson(n));
  return {{"version", 1}, {"identities", ids}, {"nodes", nodes}};
}

}  // namespace sluice::ir
