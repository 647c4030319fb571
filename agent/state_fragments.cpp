#include "agent/state_fragments.h"

#include "frontend/manifest_loader.h"

namespace sluice::agent {

bool StateFragments::update(const std::string& name, const std::string& text) {
  ClusterState parsed;
  Diagnostics diags;
  loadManifestText(name, text, parsed, diags);
  Unit& unit = units_[name];
  if (diags.hasErrors()) {
    unit.lastErrors = diags.render(true);
    unit.lastDiags = std::move(diags);
    return false;
  }
  unit.state = std::move(parsed);
  unit.good = true;
  unit.lastErrors.clear();
  unit.lastDiags = std::move(diags);  // warnings and notes, reported with the merge
  return true;
}

void StateFragments::remove(const std::string& name) { units_.erase(name); }

namespace {
template <class T>
void append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}
}  // namespace

ClusterState StateFragments::merge(Diagnostics& diags) const {
  ClusterState out;
  for (const auto& [name, unit] : units_) {
    if (!unit.good) continue;
    // A unit whose last parse failed still contributes its last good objects;
    // its errors are in errors(), not here.
    if (unit.lastErrors.empty())
      for (const Diagnostic& d : unit.lastDiags.all()) diags.add(d);
    const ClusterState& s = unit.state;
    append(out.namespaces, s.namespaces);
    append(out.pods, s.pods);
    append(out.nodes, s.nodes);
    append(out.services, s.services);
    append(out.endpointSlices, s.endpointSlices);
    append(out.endpoints, s.endpoints);
    append(out.networkPolicies, s.networkPolicies);
    append(out.ciliumPolicies, s.ciliumPolicies);
  }
  checkDuplicates(out, diags);
  out.finalize();
  return out;
}

std::string StateFragments::errors() const {
  std::string out;
  for (const auto& [name, unit] : units_) out += unit.lastErrors;
  return out;
}

}  // namespace sluice::agent
