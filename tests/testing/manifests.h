// Manifest snippets the tests build small clusters from.
#pragma once

#include <string>

namespace sluice::testing {

// One running pod as a YAML document (with its leading "---"). `labels` is a
// flow-mapping body ("app: a, tier: web"), `ports` a flow list of container
// ports, `extraSpec` more spec fields (", hostNetwork: true").
inline std::string podYaml(const std::string& ns, const std::string& name, const std::string& node,
                           const std::string& ip, const std::string& labels, const std::string& ports,
                           const std::string& extraSpec = "", const std::string& phase = "Running") {
  return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: " + ns + ", labels: {" + labels +
         "}}\nspec: {nodeName: " + node + extraSpec + ", containers: [{name: main, ports: " + ports +
         "}]}\nstatus: {phase: " + phase + ", podIP: " + ip + "}\n";
}

// Nodes n1 (192.168.1.1, pods 10.244.1.0/24) and n2 (192.168.2.1,
// 10.244.2.0/24); namespaces x (team=red), y (team=blue) and z (no labels).
inline const std::string kTwoNodesThreeNamespaces = R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.1.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
spec: {podCIDR: 10.244.2.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.2.1}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {team: red}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {team: blue}}
---
apiVersion: v1
kind: Namespace
metadata: {name: z}
)";

}  // namespace sluice::testing
