// Per-kind parsers, internal to frontend/. Each reads one document (a mapping
// whose apiVersion and kind were already checked), validates it as the API
// server would, and appends the object to the state when it had no errors.
#pragma once

#include "frontend/cluster_state.h"
#include "frontend/yaml_reader.h"

namespace sluice {

// metadata.{name,namespace,labels}; `namespaced` picks the "default" namespace
// when none is given. Also sets ctx->object to "Kind ns/name".
ObjectMeta parseMeta(const Field& doc, const std::string& kind, bool namespaced);

// A node name (a DNS-1123 subdomain) into `out`; an error names the field.
void checkNodeName(const Field& f, std::string& out);

// metav1.LabelSelector. `ciliumKeys` allows source prefixes ("k8s:app").
LabelSelector parseLabelSelector(const Field& f, bool ciliumKeys);

void parseNamespace(const Field& doc, ClusterState& state);
void parsePod(const Field& doc, ClusterState& state);
void parseNode(const Field& doc, ClusterState& state);
void parseService(const Field& doc, ClusterState& state);
void parseEndpointSlice(const Field& doc, ClusterState& state);
void parseEndpoints(const Field& doc, ClusterState& state);
void parseNetworkPolicy(const Field& doc, ClusterState& state);
void parseCiliumPolicy(const Field& doc, ClusterState& state, bool clusterwide);

}  // namespace sluice
