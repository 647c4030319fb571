// Service, EndpointSlice (discovery.k8s.io/v1) and legacy Endpoints (v1).
#include <fmt/format.h>

#include "frontend/parsers.h"

namespace sluice {

void parseService(const Field& doc, ClusterState& state) { doc.error("Service parsing: not yet written"); }
void parseEndpointSlice(const Field& doc, ClusterState& state) { doc.error("EndpointSlice parsing: not yet written"); }
void parseEndpoints(const Field& doc, ClusterState& state) { doc.error("Endpoints parsing: not yet written"); }

}  // namespace sluice
