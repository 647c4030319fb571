// Service, EndpointSlice (discovery.k8s.io/v1) and legacy Endpoints (v1),
// validated as the API server's ValidateService / ValidateEndpointSlice /
// ValidateEndpoints do, after the API server's defaulting.
#include <fmt/format.h>

#include <map>
#include <set>

#include "base/text.h"
#include "frontend/parsers.h"

namespace sluice {
namespace {

constexpr int kNodePortMin = 30000, kNodePortMax = 32767;  // default --service-node-port-range

// The API server's ValidateNonSpecialIP (externalIPs, endpoint addresses):
// returns what is wrong, or an empty string.
std::string specialIPProblem(const IpAddr& a) {
  const auto& b = a.bytes;
  if (a.isV4()) {
    if (b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0) return "may not be unspecified (0.0.0.0)";
    if (b[0] == 127) return "may not be in the loopback range (127.0.0.0/8)";
    if (b[0] == 169 && b[1] == 254) return "may not be in the link-local range (169.254.0.0/16)";
    if (b[0] == 224 && b[1] == 0 && b[2] == 0) return "may not be in the link-local multicast range (224.0.0.0/24)";
    return {};
  }
  bool zero = true;
  for (int i = 0; i < 15; ++i) zero = zero && b[i] == 0;
  if (zero && b[15] == 0) return "may not be unspecified (::)";
  if (zero && b[15] == 1) return "may not be in the loopback range (::1/128)";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "may not be in the link-local range (fe80::/10)";
  if (b[0] == 0xff && (b[1] & 0x0f) == 0x02) return "may not be in the link-local multicast range (ff02::/16)";
  return {};
}

// An IP that must not be special; reports and returns nullopt otherwise.
std::optional<IpAddr> nonSpecialIP(const Field& f) {
  auto ip = f.ip();
  if (!ip) return std::nullopt;
  if (std::string err = specialIPProblem(*ip); !err.empty()) {
    f.error(fmt::format("'{}' {}", ip->str(), err));
    return std::nullopt;
  }
  return ip;
}

std::optional<TrafficPolicy> trafficPolicy(const Field& f) {
  auto v = f.oneOf({"Cluster", "Local"});
  if (!v) return std::nullopt;
  return *v == "Local" ? TrafficPolicy::Local : TrafficPolicy::Cluster;
}

const char* typeName(ServiceType t) {
  switch (t) {
    case ServiceType::ClusterIP:
      return "ClusterIP";
    case ServiceType::NodePort:
      return "NodePort";
    case ServiceType::LoadBalancer:
      return "LoadBalancer";
    case ServiceType::ExternalName:
      return "ExternalName";
  }
  return "ClusterIP";
}

// spec.clusterIP and spec.clusterIPs, as ValidateServiceClusterIPsRelatedFields.
// `typeKnown` is false when spec.type was invalid: type-dependent checks are skipped.
void parseClusterIPs(const Field& spec, Service& svc, bool typeKnown) {
  Field single = spec["clusterIP"];
  Field multi = spec["clusterIPs"];
  std::string clusterIP = single.str().value_or("");
  std::vector<std::pair<std::string, Field>> given;
  for (const Field& item : multi.items())
    if (auto s = item.str()) given.emplace_back(*s, item);
  if (!clusterIP.empty() && !given.empty() && given[0].first != clusterIP)
    given[0].second.error(
        fmt::format("must equal spec.clusterIP ('{}') when both are given, got '{}'", clusterIP, given[0].first));
  if (given.empty() && !clusterIP.empty()) given.emplace_back(clusterIP, single);
  if (given.empty()) return;

  const Field& where = multi.present() ? multi : single;
  if (typeKnown && svc.type == ServiceType::ExternalName) {
    where.errorAtKey("may not be set for ExternalName services");
    return;
  }
  if (given[0].first == "None") {
    svc.headless = true;
    if (given.size() > 1) multi.error("'None' must be the only value of a headless service");
    if (typeKnown && (svc.type == ServiceType::NodePort || svc.type == ServiceType::LoadBalancer))
      given[0].second.error(fmt::format("may not be 'None' for {} services", typeName(svc.type)));
    return;
  }
  if (given.size() > 2)
    multi.error(fmt::format("may hold at most two addresses, one per IP family (got {})", given.size()));
  for (auto& [text, f] : given) {
    if (text == "None") {
      f.error("'None' must be the only value of a headless service");
      continue;
    }
    auto ip = IpAddr::parse(text);
    if (!ip) {
      f.error(fmt::format("{} is not a valid IP address (or 'None' for a headless service)", quote(text)));
      continue;
    }
    if (!svc.clusterIPs.empty() && svc.clusterIPs.back().family == ip->family) {
      f.error("may hold at most one address per IP family");
      continue;
    }
    svc.clusterIPs.push_back(*ip);
  }
}

void parseServicePorts(const Field& spec, Service& svc, bool typeKnown) {
  Field list = spec["ports"];
  std::vector<Field> items = list.items();
  if (typeKnown && items.empty() && (!list.present() || list.isSeq()) && !svc.headless &&
      svc.type != ServiceType::ExternalName) {
    std::string msg = "a Service needs at least one port (only headless and ExternalName services may have none)";
    list.present() ? list.error(msg) : list.error("required field is missing: " + msg);
  }
  std::map<std::string, std::string> names;                        // name -> path of first use
  std::map<std::pair<Protocol, uint16_t>, std::string> seen;       // (protocol, port) -> path
  std::map<std::pair<Protocol, uint16_t>, std::string> nodePorts;  // (protocol, nodePort) -> path
  for (const Field& p : items) {
    if (!p.expectMap()) continue;
    p.onlyKeys({"name", "protocol", "appProtocol", "port", "targetPort", "nodePort"});
    size_t before = p.ctx()->diags->errorCount();
    ServicePort sp;
    sp.loc = p.loc();
    sp.name = p["name"].str().value_or("");
    if (sp.name.empty()) {
      if (items.size() > 1) p["name"].error("required when the service has more than one port");
    } else if (std::string err = checkDNS1123Label(sp.name); !err.empty()) {
      p["name"].error(fmt::format("invalid port name {}: {}", quote(sp.name), err));
    } else if (auto [it, inserted] = names.emplace(sp.name, p.path()); !inserted) {
      p["name"].error(fmt::format("duplicate port name '{}' (also used by {})", sp.name, it->second));
    }
    if (p["protocol"].present()) sp.protocol = p["protocol"].protocol().value_or(Protocol::TCP);
    auto port = p["port"].integer(1, 65535);
    if (!p["port"].present()) p["port"].error("required field is missing");
    if (port) sp.port = uint16_t(*port);
    // targetPort: absent or 0 defaults to `port`.
    if (auto target = p["targetPort"].port(/*allowName=*/true, /*allowZero=*/true); target && target->str() != "0") {
      sp.targetPort = *target;
    } else {
      sp.targetPort.number = sp.port;
      sp.targetPort.loc = p["port"].loc();
    }
    if (auto np = p["nodePort"].integer(0, 65535); np && *np != 0) {
      bool allowed = svc.type == ServiceType::NodePort || svc.type == ServiceType::LoadBalancer;
      if (typeKnown && !allowed)
        p["nodePort"].error(
            fmt::format("may not be used when type is '{}' (only NodePort and LoadBalancer)", typeName(svc.type)));
      else if (*np < kNodePortMin || *np > kNodePortMax)
        p["nodePort"].error(
            fmt::format("must be in the node port range {}-{} (got {})", kNodePortMin, kNodePortMax, *np));
      else if (auto [it, inserted] = nodePorts.emplace(std::pair(sp.protocol, uint16_t(*np)), p.path()); !inserted)
        p["nodePort"].error(
            fmt::format("duplicate nodePort {}/{} (also used by {})", *np, protocolName(sp.protocol), it->second));
      else
        sp.nodePort = uint16_t(*np);
    }
    p["appProtocol"].str();
    if (port) {
      if (auto [it, inserted] = seen.emplace(std::pair(sp.protocol, sp.port), p.path()); !inserted)
        p["port"].error(
            fmt::format("duplicate port {}/{} (also defined by {})", sp.port, protocolName(sp.protocol), it->second));
    }
    if (p.ctx()->diags->errorCount() == before) svc.ports.push_back(std::move(sp));
  }
}

void parseSessionAffinity(const Field& spec, Service& svc) {
  if (spec["sessionAffinity"].present()) {
    auto v = spec["sessionAffinity"].oneOf({"None", "ClientIP"});
    if (!v) return;  // reported; the config cannot be judged
    svc.clientIPAffinity = *v == "ClientIP";
  }
  Field config = spec["sessionAffinityConfig"];
  if (!config.present()) return;
  if (!svc.clientIPAffinity) {
    config.errorAtKey("must not be set when sessionAffinity is None (it configures ClientIP affinity)");
    return;
  }
  if (!config.expectMap()) return;
  config.onlyKeys({"clientIP"});
  Field clientIP = config["clientIP"];
  if (!clientIP.present() || !clientIP.expectMap()) return;
  clientIP.onlyKeys({"timeoutSeconds"});
  if (auto t = clientIP["timeoutSeconds"].integer(1, 86400)) svc.affinityTimeoutSeconds = uint32_t(*t);
}

void parseLoadBalancerStatus(const Field& doc, Service& svc, bool typeKnown) {
  Field status = doc["status"];
  if (!status.present() || !status.expectMap()) return;
  Field lb = status["loadBalancer"];
  if (!lb.present() || !lb.expectMap()) return;
  Field ingress = lb["ingress"];
  std::vector<Field> items = ingress.items();
  if (!typeKnown) return;
  if (!items.empty() && svc.type != ServiceType::LoadBalancer) {
    ingress.errorAtKey(
        fmt::format("may only be used when spec.type is 'LoadBalancer' (it is '{}')", typeName(svc.type)));
    return;
  }
  for (const Field& item : items) {
    if (!item.expectMap()) continue;
    item.onlyKeys({"ip", "hostname", "ipMode", "ports"});
    item["hostname"].str();
    LoadBalancerIngress lbi;
    auto ip = item["ip"].ip();
    std::optional<std::string> mode;
    if (item["ipMode"].present()) {
      if (!item["ip"].present()) {
        item["ipMode"].error("may not be specified when ip is not set");
        continue;
      }
      mode = item["ipMode"].oneOf({"VIP", "Proxy"});
    }
    if (!ip) continue;  // hostname-only ingress: nothing to short-circuit on the node
    lbi.ip = *ip;
    lbi.proxyMode = mode && *mode == "Proxy";
    svc.loadBalancerIngress.push_back(lbi);
  }
}

}  // namespace

void parseService(const Field& doc, ClusterState& state) {
  size_t before = doc.ctx()->diags->errorCount();
  Service svc;
  svc.meta = parseMeta(doc, "Service", /*namespaced=*/true);
  Field spec = doc["spec"];
  if (!spec.present()) {
    doc.error("spec is missing (a Service needs at least spec.ports)");
    return;
  }
  if (!spec.expectMap()) return;
  spec.onlyKeys({"type",
                 "clusterIP",
                 "clusterIPs",
                 "ipFamilies",
                 "ipFamilyPolicy",
                 "ports",
                 "selector",
                 "sessionAffinity",
                 "sessionAffinityConfig",
                 "externalIPs",
                 "externalName",
                 "externalTrafficPolicy",
                 "internalTrafficPolicy",
                 "healthCheckNodePort",
                 "publishNotReadyAddresses",
                 "loadBalancerIP",
                 "loadBalancerSourceRanges",
                 "loadBalancerClass",
                 "allocateLoadBalancerNodePorts",
                 "trafficDistribution"});

  bool typeKnown = true;  // false: spec.type was invalid, skip the checks that depend on it
  if (spec["type"].present()) {
    auto t = spec["type"].oneOf({"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"});
    typeKnown = t.has_value();
    if (t && *t == "NodePort") svc.type = ServiceType::NodePort;
    if (t && *t == "LoadBalancer") svc.type = ServiceType::LoadBalancer;
    if (t && *t == "ExternalName") svc.type = ServiceType::ExternalName;
  }
  bool isLB = svc.type == ServiceType::LoadBalancer;
  auto onlyForLB = [&](const char* key) {
    if (typeKnown && spec[key].present() && !isLB)
      spec[key].errorAtKey(
          fmt::format("may only be used when type is 'LoadBalancer' (it is '{}')", typeName(svc.type)));
  };

  parseClusterIPs(spec, svc, typeKnown);
  for (const char* key : {"ipFamilies", "ipFamilyPolicy"})
    if (typeKnown && spec[key].present() && svc.type == ServiceType::ExternalName)
      spec[key].errorAtKey("may not be set for ExternalName services");
  for (const Field& fam : spec["ipFamilies"].items()) fam.oneOf({"IPv4", "IPv6"});
  if (spec["ipFamilyPolicy"].present())
    spec["ipFamilyPolicy"].oneOf({"SingleStack", "PreferDualStack", "RequireDualStack"});

  parseServicePorts(spec, svc, typeKnown);

  if (Field sel = spec["selector"]; sel.present()) {
    Labels labels = sel.stringMap(/*asLabels=*/true);
    // The API server stores an empty map as absent: the service gets no endpoints
    // from the controller, it does not select every pod.
    if (labels.empty() && sel.isMap())
      sel.warning(
          "an empty selector is stored as no selector: the service selects no pods (endpoints are managed by hand)");
    else
      svc.selector = std::move(labels);
  }

  parseSessionAffinity(spec, svc);

  for (const Field& ip : spec["externalIPs"].items())
    if (auto a = nonSpecialIP(ip)) svc.externalIPs.push_back(*a);

  bool externallyAccessible =
      svc.type == ServiceType::NodePort || isLB || (svc.type == ServiceType::ClusterIP && !svc.externalIPs.empty());
  if (Field etp = spec["externalTrafficPolicy"]; etp.present()) {
    if (!typeKnown)
      trafficPolicy(etp);
    else if (!externallyAccessible)
      etp.error(
          "may only be set for externally-accessible services (type NodePort or LoadBalancer, or ClusterIP "
          "with externalIPs)");
    else if (auto v = trafficPolicy(etp))
      svc.externalTrafficPolicy = *v;
  }
  if (Field itp = spec["internalTrafficPolicy"]; itp.present())
    if (auto v = trafficPolicy(itp)) svc.internalTrafficPolicy = *v;
  if (Field hc = spec["healthCheckNodePort"]; hc.present()) {
    if (typeKnown && (!isLB || svc.externalTrafficPolicy != TrafficPolicy::Local))
      hc.errorAtKey("may only be set when type is 'LoadBalancer' and externalTrafficPolicy is 'Local'");
    else
      hc.integer(1, 65535);
  }

  onlyForLB("loadBalancerSourceRanges");
  onlyForLB("allocateLoadBalancerNodePorts");
  onlyForLB("loadBalancerClass");
  spec["loadBalancerIP"].str();
  spec["loadBalancerClass"].str();
  spec["allocateLoadBalancerNodePorts"].boolean();
  spec["trafficDistribution"].str();
  if (isLB) {
    size_t rangesBefore = doc.ctx()->diags->errorCount();
    std::vector<Field> ranges = spec["loadBalancerSourceRanges"].items();
    for (const Field& r : ranges) r.cidr();
    if (!ranges.empty() && doc.ctx()->diags->errorCount() == rangesBefore)
      spec["loadBalancerSourceRanges"].warning("not enforced by sluice: the load-balancer IPs accept every source");
  }

  Field externalName = spec["externalName"];
  if (svc.type == ServiceType::ExternalName) {
    if (!externalName.present()) {
      externalName.error("required when type is 'ExternalName' (the DNS name the service aliases)");
    } else if (auto name = externalName.requiredStr()) {
      std::string cname = *name;
      if (cname.back() == '.') cname.pop_back();  // a fully-qualified CNAME may end in a dot
      if (std::string err = checkDNS1123Subdomain(cname); !err.empty())
        externalName.error(fmt::format("invalid externalName {}: {}", quote(*name), err));
      else
        svc.externalName = *name;
    }
  } else if (auto name = externalName.str(); name && !name->empty() && typeKnown) {
    externalName.warning(fmt::format("ignored: the service type is '{}', not 'ExternalName'", typeName(svc.type)));
  }
  svc.publishNotReadyAddresses = spec["publishNotReadyAddresses"].boolean().value_or(false);

  parseLoadBalancerStatus(doc, svc, typeKnown);
  if (doc.ctx()->diags->errorCount() == before) state.services.push_back(std::move(svc));
}

// ---- EndpointSlice and Endpoints -----------------------------------------

namespace {

// targetRef of an endpoint; sets `targetPod` ("ns/name") when kind is Pod.
void parseTargetRef(const Field& f, const std::string& defaultNamespace, SliceEndpoint& ep) {
  if (!f.present() || !f.expectMap()) return;
  f.onlyKeys({"kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"});
  auto kind = f["kind"].str();
  auto name = f["name"].str();
  auto ns = f["namespace"].str();
  if (!kind || *kind != "Pod") return;
  if (!name || name->empty()) {
    f["name"].error("required when kind is Pod");
    return;
  }
  ep.targetPod = (ns && !ns->empty() ? *ns : defaultNamespace) + "/" + *name;
}

// ports[] of a slice or of an Endpoints subset.
std::vector<EndpointPort> parseEndpointPorts(const Field& list, bool legacy) {
  std::vector<EndpointPort> out;
  std::vector<Field> items = list.items();
  std::map<std::string, std::string> names;
  for (const Field& p : items) {
    if (!p.expectMap()) continue;
    p.onlyKeys({"name", "protocol", "port", "appProtocol"});
    size_t before = p.ctx()->diags->errorCount();
    EndpointPort ep;
    ep.name = p["name"].str().value_or("");
    if (ep.name.empty()) {
      if (legacy && items.size() > 1) p["name"].error("required when the subset has more than one port");
    } else if (std::string err = checkDNS1123Label(ep.name); !err.empty()) {
      p["name"].error(fmt::format("invalid port name {}: {}", quote(ep.name), err));
    } else if (auto [it, inserted] = names.emplace(ep.name, p.path()); !inserted) {
      p["name"].error(fmt::format("duplicate port name '{}' (also used by {})", ep.name, it->second));
    }
    if (auto port = p["port"].integer(1, 65535))
      ep.port = uint16_t(*port);
    else if (legacy && !p["port"].present())
      p["port"].error("required field is missing");
    if (p["protocol"].present()) ep.protocol = p["protocol"].protocol().value_or(Protocol::TCP);
    p["appProtocol"].str();
    if (p.ctx()->diags->errorCount() == before) out.push_back(std::move(ep));
  }
  return out;
}

constexpr size_t kMaxSliceAddresses = 100;

std::optional<SliceEndpoint> parseSliceEndpoint(const Field& f, const std::string& addressType, const std::string& ns) {
  if (!f.expectMap()) return std::nullopt;
  f.onlyKeys({"addresses", "conditions", "hostname", "targetRef", "nodeName", "zone", "hints", "deprecatedTopology"});
  size_t before = f.ctx()->diags->errorCount();
  SliceEndpoint ep;
  ep.loc = f.loc();
  Field addresses = f["addresses"];
  std::vector<Field> items = addresses.items();
  if (items.empty() && (addresses.isSeq() || !addresses.present()))
    addresses.error(addresses.present() ? "must contain at least 1 address"
                                        : "required field is missing (1 to 100 addresses)");
  if (items.size() > kMaxSliceAddresses)
    addresses.error(fmt::format("must contain at most {} addresses (got {})", kMaxSliceAddresses, items.size()));
  for (const Field& a : items) {
    if (addressType == "FQDN") {
      if (auto s = a.str())
        if (std::string err = checkDNS1123Subdomain(*s); !err.empty())
          a.error(fmt::format("{} is not a valid FQDN: {}", quote(*s), err));
      continue;
    }
    auto ip = nonSpecialIP(a);
    if (!ip) continue;
    if (!addressType.empty() && (addressType == "IPv4") != ip->isV4()) {
      a.error(fmt::format("'{}' is not an {} address (addressType is {})", ip->str(), addressType, addressType));
      continue;
    }
    ep.addresses.push_back(*ip);
  }
  Field cond = f["conditions"];
  if (cond.present() && cond.expectMap()) {
    cond.onlyKeys({"ready", "serving", "terminating"});
    ep.conditions.ready = cond["ready"].boolean();
    ep.conditions.serving = cond["serving"].boolean();
    ep.conditions.terminating = cond["terminating"].boolean();
  }
  if (auto h = f["hostname"].str(); h && !h->empty())
    if (std::string err = checkDNS1123Label(*h); !err.empty())
      f["hostname"].error(fmt::format("invalid hostname {}: {}", quote(*h), err));
  checkNodeName(f["nodeName"], ep.nodeName);
  ep.zone = f["zone"].str().value_or("");
  parseTargetRef(f["targetRef"], ns, ep);
  if (f.ctx()->diags->errorCount() != before) return std::nullopt;
  return ep;
}

// One address of a v1 Endpoints subset.
std::optional<SliceEndpoint> parseLegacyAddress(const Field& f, bool ready, const std::string& ns) {
  if (!f.expectMap()) return std::nullopt;
  f.onlyKeys({"ip", "hostname", "nodeName", "targetRef"});
  size_t before = f.ctx()->diags->errorCount();
  SliceEndpoint ep;
  ep.loc = f.loc();
  ep.conditions.ready = ready;
  ep.conditions.serving = ready;
  if (!f["ip"].present()) f["ip"].error("required field is missing");
  if (auto ip = nonSpecialIP(f["ip"])) ep.addresses.push_back(*ip);
  if (auto h = f["hostname"].str(); h && !h->empty())
    if (std::string err = checkDNS1123Label(*h); !err.empty())
      f["hostname"].error(fmt::format("invalid hostname {}: {}", quote(*h), err));
  checkNodeName(f["nodeName"], ep.nodeName);
  parseTargetRef(f["targetRef"], ns, ep);
  if (f.ctx()->diags->errorCount() != before) return std::nullopt;
  return ep;
}

}  // namespace

void parseEndpointSlice(const Field& doc, ClusterState& state) {
  size_t before = doc.ctx()->diags->errorCount();
  EndpointSlice slice;
  slice.meta = parseMeta(doc, "EndpointSlice", /*namespaced=*/true);
  doc.onlyKeys({"apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"});
  if (auto it = slice.meta.labels.find("kubernetes.io/service-name");
      it != slice.meta.labels.end() && !it->second.empty()) {
    slice.serviceName = it->second;
  } else if (doc["metadata"].isMap()) {
    Field labels = doc["metadata"]["labels"];
    (labels.present() ? labels : doc["metadata"])
        .warning("no kubernetes.io/service-name label: this slice belongs to no service and is ignored");
  }
  Field addressType = doc["addressType"];
  if (!addressType.present()) {
    addressType.error("required field is missing (expected IPv4, IPv6 or FQDN)");
  } else if (auto t = addressType.oneOf({"IPv4", "IPv6", "FQDN"})) {
    slice.addressType = *t;
  }
  for (const Field& e : doc["endpoints"].items())
    if (auto ep = parseSliceEndpoint(e, slice.addressType, slice.meta.namespace_))
      slice.endpoints.push_back(std::move(*ep));
  slice.ports = parseEndpointPorts(doc["ports"], /*legacy=*/false);
  if (doc.ctx()->diags->errorCount() == before) state.endpointSlices.push_back(std::move(slice));
}

void parseEndpoints(const Field& doc, ClusterState& state) {
  size_t before = doc.ctx()->diags->errorCount();
  Endpoints eps;
  eps.meta = parseMeta(doc, "Endpoints", /*namespaced=*/true);
  doc.onlyKeys({"apiVersion", "kind", "metadata", "subsets"});
  for (const Field& s : doc["subsets"].items()) {
    if (!s.expectMap()) continue;
    s.onlyKeys({"addresses", "notReadyAddresses", "ports"});
    EndpointsSubset subset;
    std::vector<Field> ready = s["addresses"].items(), notReady = s["notReadyAddresses"].items();
    if (ready.empty() && notReady.empty()) s.error("must specify addresses or notReadyAddresses");
    for (const Field& a : ready)
      if (auto ep = parseLegacyAddress(a, true, eps.meta.namespace_)) subset.addresses.push_back(std::move(*ep));
    for (const Field& a : notReady)
      if (auto ep = parseLegacyAddress(a, false, eps.meta.namespace_)) subset.addresses.push_back(std::move(*ep));
    subset.ports = parseEndpointPorts(s["ports"], /*legacy=*/true);
    eps.subsets.push_back(std::move(subset));
  }
  if (doc.ctx()->diags->errorCount() == before) state.endpoints.push_back(std::move(eps));
}

}  // namespace sluice
