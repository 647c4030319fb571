// Services -> the IR service table of one node (the kube-proxy model).
//
// Backends come from the Service's EndpointSlices (label
// kubernetes.io/service-name), or from its legacy Endpoints when it has no
// slice. Usable backends: ready endpoints; if there are none, the serving and
// terminating ones (KEP-1669); never non-serving ones. Conditions left unset
// read as KEP-1672 says: ready=true, serving=ready, terminating=false. A Local
// traffic policy keeps only this node's endpoints (KEP-2086). Headless and
// ExternalName services are not proxied.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "ir/lower_context.h"

namespace sluice::ir {
namespace {

struct Candidate {
  Backend backend;
  bool ready = false, serving = false, terminating = false;
};

std::optional<uint16_t> endpointPortFor(const std::vector<EndpointPort>& ports, const sluice::ServicePort& sp,
                                        size_t servicePortCount) {
  for (const auto& p : ports) {
    if (p.protocol != sp.protocol || !p.port) continue;
    // Slices name their ports after the service port; a single unnamed port matches too.
    if (p.name == sp.name || (servicePortCount == 1 && p.name.empty() && ports.size() == 1)) return p.port;
  }
  return std::nullopt;
}

void collect(std::vector<Candidate>& out, const std::vector<SliceEndpoint>& endpoints,
             const std::vector<EndpointPort>& ports, const sluice::ServicePort& sp, size_t servicePortCount,
             const std::string& node, const std::string& defaultNs) {
  auto port = endpointPortFor(ports, sp, servicePortCount);
  if (!port) return;
  for (const auto& e : endpoints) {
    Candidate c;
    c.ready = e.conditions.ready.value_or(true);
    c.serving = e.conditions.serving.value_or(c.ready);
    c.terminating = e.conditions.terminating.value_or(false);
    for (const auto& ip : e.addresses) {
      c.backend.ip = ip;
      c.backend.port = *port;
      c.backend.pod = e.targetPod;
      c.backend.node = e.nodeName;
      c.backend.local = !node.empty() && e.nodeName == node;
      out.push_back(c);
    }
  }
}

std::vector<Backend> usable(const std::vector<Candidate>& all, bool localOnly) {
  std::vector<Backend> ready, fallback;
  for (const auto& c : all) {
    if (localOnly && !c.backend.local) continue;
    if (c.ready && !c.terminating) ready.push_back(c.backend);
    else if (c.serving && c.terminating) {
      fallback.push_back(c.backend);
      fallback.back().terminating = true;
    }
  }
  std::vector<Backend>& chosen = ready.empty() ? fallback : ready;
  std::sort(chosen.begin(), chosen.end(), [](const Backend& a, const Backend& b) {
    return std::tie(a.ip, a.port) < std::tie(b.ip, b.port);
  });
  chosen.erase(std::unique(chosen.begin(), chosen.end(),
                           [](const Backend& a, const Backend& b) { return a.ip == b.ip && a.port == b.port; }),
               chosen.end());
  return chosen;
}

}  // namespace

std::vector<Service> lowerServices(const LowerContext& ctx, const std::string& node) {
  // Endpoints by service, indexed once: scanning every slice for every
  // service was quadratic (25 s at 30,000 services, measured).
  using ServiceKey = std::pair<std::string, std::string>;
  std::map<ServiceKey, std::vector<const EndpointSlice*>> slicesOf;
  for (const auto& slice : ctx.state.endpointSlices)
    if (slice.addressType != "FQDN") slicesOf[{slice.meta.namespace_, slice.serviceName}].push_back(&slice);
  std::map<ServiceKey, const Endpoints*> legacyOf;
  for (const auto& e : ctx.state.endpoints) legacyOf[{e.meta.namespace_, e.meta.name}] = &e;

  std::vector<Service> out;
  for (const sluice::Service& svc : ctx.state.services) {
    if (svc.headless || svc.type == ServiceType::ExternalName || svc.clusterIPs.empty()) continue;
    Service s;
    s.namespace_ = svc.meta.namespace_;
    s.name = svc.meta.name;
    s.clusterIPs = svc.clusterIPs;
    s.externalIPs = svc.externalIPs;
    for (const auto& lb : svc.loadBalancerIngress)
      if (!lb.proxyMode) s.loadBalancerIPs.push_back(lb.ip);
    s.clientIPAffinity = svc.clientIPAffinity;
    s.affinityTimeoutSeconds = svc.clientIPAffinity ? svc.affinityTimeoutSeconds : 0;
    s.internalTrafficPolicy = svc.internalTrafficPolicy;
    s.externalTrafficPolicy = svc.externalTrafficPolicy;
    s.loc = svc.meta.loc;

    const ServiceKey key{svc.meta.namespace_, svc.meta.name};
    static const std::vector<const EndpointSlice*> kNone;
    auto sliced = slicesOf.find(key);
    const std::vector<const EndpointSlice*>& slices = sliced == slicesOf.end() ? kNone : sliced->second;
    const Endpoints* legacy = nullptr;
    if (slices.empty())
      if (auto it = legacyOf.find(key); it != legacyOf.end()) legacy = it->second;

    for (const auto& sp : svc.ports) {
      ServicePort p;
      p.name = sp.name;
      p.proto = toL4(sp.protocol);
      p.port = sp.port;
      if (svc.type == ServiceType::NodePort || svc.type == ServiceType::LoadBalancer) p.nodePort = sp.nodePort;
      p.targetPort = sp.targetPort.str();
      std::vector<Candidate> candidates;
      for (const EndpointSlice* slice : slices)
        collect(candidates, slice->endpoints, slice->ports, sp, svc.ports.size(), node, svc.meta.namespace_);
      if (legacy)
        for (const auto& subset : legacy->subsets)
          collect(candidates, subset.addresses, subset.ports, sp, svc.ports.size(), node, svc.meta.namespace_);
      p.backends = usable(candidates, svc.internalTrafficPolicy == TrafficPolicy::Local);
      p.internalEndpointsElsewhere = p.backends.empty() && svc.internalTrafficPolicy == TrafficPolicy::Local &&
                                     !usable(candidates, false).empty();
      p.externalBackends = usable(candidates, svc.externalTrafficPolicy == TrafficPolicy::Local);
      p.externalEndpointsElsewhere = p.externalBackends.empty() &&
                                     svc.externalTrafficPolicy == TrafficPolicy::Local &&
                                     !usable(candidates, false).empty();
      s.ports.push_back(std::move(p));
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const Service& a, const Service& b) { return a.key() < b.key(); });
  return out;
}

}  // namespace sluice::ir
