// Metadata, label selectors, and the core/v1 kinds sluice reads: Namespace,
// Pod, Node. Fields sluice does not use (images, resources, ...) are ignored.
#include <fmt/format.h>

#include <algorithm>

#include "base/text.h"
#include "frontend/parsers.h"

namespace sluice {

ObjectMeta parseMeta(const Field& doc, const std::string& kind, bool namespaced) {
  ObjectMeta meta;
  meta.loc = doc.loc();
  Field md = doc["metadata"];
  if (!md.present()) {
    doc.error("metadata is missing (expected metadata.name)");
    return meta;
  }
  if (!md.expectMap()) return meta;
  if (auto name = md["name"].str(); name && !name->empty()) {
    meta.name = *name;
    // Namespace names are DNS-1123 labels; every other kind's a subdomain.
    std::string err = kind == "Namespace" ? checkDNS1123Label(*name) : checkDNS1123Subdomain(*name);
    if (!err.empty()) md["name"].error(fmt::format("invalid name {}: {}", quote(*name), err));
  } else if (!md["name"].present() || (name && name->empty())) {
    if (md["generateName"].present())
      md["name"].error("required field is missing (generateName is only resolved by the API server)");
    else
      md["name"].error("required field is missing");
  }
  if (namespaced) {
    meta.namespace_ = "default";
    if (auto ns = md["namespace"].str(); ns && !ns->empty()) {
      meta.namespace_ = *ns;
      if (std::string err = checkDNS1123Label(*ns); !err.empty())
        md["namespace"].error(fmt::format("invalid namespace {}: {}", quote(*ns), err));
    }
  }
  // Name the object before reading labels, so their errors say whose they are.
  doc.ctx()->object = kind + " " + (meta.name.empty() ? "<unnamed>" : meta.key());
  meta.labels = md["labels"].stringMap(/*asLabels=*/true);
  return meta;
}

void checkNodeName(const Field& f, std::string& out) {
  auto name = f.str();
  if (!name || name->empty()) return;
  if (std::string err = checkDNS1123Subdomain(*name); !err.empty()) {
    f.error(fmt::format("invalid node name {}: {}", quote(*name), err));
    return;
  }
  out = *name;
}

LabelSelector parseLabelSelector(const Field& f, bool ciliumKeys) {
  LabelSelector sel;
  sel.loc = f.loc();
  if (!f.present() || !f.expectMap()) return sel;
  f.onlyKeys({"matchLabels", "matchExpressions"});

  // Cilium keys may carry a source ("k8s:app", "any:app", "reserved:host"); the
  // part after the source must still be a valid label key.
  auto checkKey = [&](const Field& at, const std::string& key, bool atKey) {
    std::string_view bare = key;
    if (ciliumKeys) {
      size_t colon = bare.find(':');
      if (colon != std::string_view::npos) {
        std::string_view source = bare.substr(0, colon);
        if (source != "k8s" && source != "any" && source != "reserved" && source != "cidr" &&
            source != "unspec") {
          std::string msg = fmt::format("unknown label source {} in key {} (expected k8s, any or reserved)",
                                        quote(source), quote(key));
          atKey ? at.errorAtKey(msg) : at.error(msg);
          return;
        }
        bare = bare.substr(colon + 1);
      }
    }
    if (std::string err = checkLabelKey(bare); !err.empty()) {
      std::string msg = fmt::format("invalid label key {}: {}", quote(key), err);
      atKey ? at.errorAtKey(msg) : at.error(msg);
    }
  };

  Field ml = f["matchLabels"];
  if (ml.present() && ml.expectMap()) {
    for (auto& [key, value] : ml.entries()) {
      checkKey(value, key, true);
      LabelRequirement r;
      r.key = key;
      r.op = LabelRequirement::Op::In;
      r.loc = value.keyLoc();
      std::string v = value.present() ? value.str().value_or("") : "";
      if (std::string err = checkLabelValue(v); !err.empty())
        value.error(fmt::format("invalid label value {}: {}", quote(v), err));
      r.values = {v};
      sel.requirements.push_back(std::move(r));
    }
  }
  for (const Field& e : f["matchExpressions"].items()) {
    if (!e.expectMap()) continue;
    e.onlyKeys({"key", "operator", "values"});
    LabelRequirement r;
    r.loc = e.loc();
    if (auto key = e["key"].requiredStr()) {
      checkKey(e["key"], *key, false);
      r.key = *key;
    }
    auto op = e["operator"].present() ? e["operator"].oneOf({"In", "NotIn", "Exists", "DoesNotExist"})
                                      : (e["operator"].error("required field is missing"), std::nullopt);
    for (const Field& v : e["values"].items()) {
      if (auto s = v.str()) {
        if (std::string err = checkLabelValue(*s); !err.empty())
          v.error(fmt::format("invalid label value {}: {}", quote(*s), err));
        r.values.push_back(*s);
      }
    }
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
    if (op) {
      if (*op == "In") r.op = LabelRequirement::Op::In;
      if (*op == "NotIn") r.op = LabelRequirement::Op::NotIn;
      if (*op == "Exists") r.op = LabelRequirement::Op::Exists;
      if (*op == "DoesNotExist") r.op = LabelRequirement::Op::DoesNotExist;
      bool wantsValues = r.op == LabelRequirement::Op::In || r.op == LabelRequirement::Op::NotIn;
      if (wantsValues && r.values.empty())
        e["values"].error(fmt::format("must be specified and non-empty when operator is {}", *op));
      if (!wantsValues && e["values"].present() && !e["values"].items().empty())
        e["values"].error(fmt::format("may not be specified when operator is {}", *op));
    }
    sel.requirements.push_back(std::move(r));
  }
  return sel;
}

void parseNamespace(const Field& doc, ClusterState& state) {
  size_t before = doc.ctx()->diags->errorCount();
  Namespace ns;
  ns.meta = parseMeta(doc, "Namespace", /*namespaced=*/false);
  if (!ns.meta.name.empty()) {
    // The API server sets this label on every namespace (immutable since 1.22);
    // NetworkPolicy namespaceSelectors commonly use it.
    ns.meta.labels["kubernetes.io/metadata.name"] = ns.meta.name;
  }
  if (doc.ctx()->diags->errorCount() == before) state.namespaces.push_back(std::move(ns));
}

static PodPhase parsePhase(const Field& f) {
  if (!f.present()) return PodPhase::Unknown;
  auto s = f.oneOf({"Pending", "Running", "Succeeded", "Failed", "Unknown"});
  if (!s) return PodPhase::Unknown;
  if (*s == "Pending") return PodPhase::Pending;
  if (*s == "Running") return PodPhase::Running;
  if (*s == "Succeeded") return PodPhase::Succeeded;
  if (*s == "Failed") return PodPhase::Failed;
  return PodPhase::Unknown;
}

void parsePod(const Field& doc, ClusterState& state) {
  size_t before = doc.ctx()->diags->errorCount();
  Pod pod;
  pod.meta = parseMeta(doc, "Pod", /*namespaced=*/true);
  pod.terminating = doc["metadata"]["deletionTimestamp"].present();
  Field spec = doc["spec"];
  if (spec.present() && spec.expectMap()) {
    // Node names become file names (compile -o DIR/<node>.o): validated as the API server does.
    checkNodeName(spec["nodeName"], pod.nodeName);
    pod.nodeNameLoc = spec["nodeName"].present() ? spec["nodeName"].loc() : pod.meta.loc;
    pod.hostNetwork = spec["hostNetwork"].boolean().value_or(false);
    pod.serviceAccount = spec["serviceAccountName"].str().value_or("");
    if (pod.serviceAccount.empty()) pod.serviceAccount = spec["serviceAccount"].str().value_or("");
    if (pod.serviceAccount.empty()) pod.serviceAccount = "default";
    for (const char* list : {"containers", "initContainers"}) {
      // Sidecars (restartable init containers) serve ports too; plain init containers
      // list ports rarely, and Kubernetes resolves named ports over both.
      for (const Field& c : spec[list].items()) {
        if (!c.expectMap()) continue;
        for (const Field& p : c["ports"].items()) {
          if (!p.expectMap()) continue;
          ContainerPort cp;
          cp.loc = p.loc();
          auto number = p["containerPort"].integer(1, 65535);
          if (!p["containerPort"].present()) p["containerPort"].error("required field is missing");
          cp.port = uint16_t(number.value_or(0));
          cp.protocol = p["protocol"].protocol().value_or(Protocol::TCP);
          if (auto name = p["name"].str(); name && !name->empty()) {
            if (std::string err = checkPortName(*name); !err.empty())
              p["name"].error(fmt::format("invalid port name {}: {}", quote(*name), err));
            cp.name = *name;
          }
          if (number) pod.ports.push_back(std::move(cp));
        }
      }
    }
  } else if (!spec.present()) {
    doc.error("spec is missing");
  }
  Field status = doc["status"];
  if (status.present() && status.expectMap()) {
    pod.phase = parsePhase(status["phase"]);
    for (const Field& item : status["podIPs"].items()) {
      if (!item.expectMap()) continue;
      if (auto ip = item["ip"].ip()) pod.ips.push_back(*ip);
    }
    if (auto ip = status["podIP"].ip()) {
      if (pod.ips.empty()) pod.ips.push_back(*ip);
      else if (pod.ips.front() != *ip)
        status["podIP"].error(fmt::format("must equal status.podIPs[0] ({})", pod.ips.front().str()));
    }
    if (pod.ips.size() > 1 && pod.ips[0].family == pod.ips[1].family)
      status["podIPs"].error("may hold at most one address per IP family");
    pod.hostIP = status["hostIP"].ip();
  }
  if (doc.ctx()->diags->errorCount() == before) state.pods.push_back(std::move(pod));
}

void parseNode(const Field& doc, ClusterState& state) {
  size_t before = doc.ctx()->diags->errorCount();
  Node node;
  node.meta = parseMeta(doc, "Node", /*namespaced=*/false);
  Field spec = doc["spec"];
  if (spec.present() && spec.expectMap()) {
    for (const Field& c : spec["podCIDRs"].items())
      if (auto cidr = c.cidr()) node.podCIDRs.push_back(*cidr);
    if (auto cidr = spec["podCIDR"].cidr()) {
      if (node.podCIDRs.empty()) node.podCIDRs.push_back(*cidr);
    }
  }
  Field status = doc["status"];
  std::vector<IpAddr> internal, external;
  if (status.present() && status.expectMap()) {
    for (const Field& a : status["addresses"].items()) {
      if (!a.expectMap()) continue;
      auto type = a["type"].requiredStr();
      auto address = a["address"].requiredStr();
      if (!type || !address) continue;
      node.addresses.push_back({*type, *address});
      if (*type == "InternalIP" || *type == "ExternalIP") {
        auto ip = a["address"].ip();
        if (ip) (*type == "InternalIP" ? internal : external).push_back(*ip);
      }
    }
  }
  node.ips = internal;
  node.ips.insert(node.ips.end(), external.begin(), external.end());
  if (doc.ctx()->diags->errorCount() == before) state.nodes.push_back(std::move(node));
}

}  // namespace sluice
