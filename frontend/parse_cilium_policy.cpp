// cilium.io/v2 CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy.
#include <fmt/format.h>

#include "frontend/parsers.h"

namespace sluice {

void parseCiliumPolicy(const Field& doc, ClusterState& state, bool clusterwide) {
  doc.error("CiliumNetworkPolicy parsing: not yet written");
}

}  // namespace sluice
