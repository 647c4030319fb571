#include "agent/state_fragments.h"

#include <algorithm>
#include <tuple>

#include "frontend/manifest_loader.h"

namespace sluice::agent {

// The unit name of containers without pod arguments (not a path, not an API object).
const std::string kLocalUnit = "<sluice-cni>";

bool StateFragments::update(const std::string& name, const std::string& text) {
  ClusterState parsed;
  Diagnostics diags;
  loadManifestText(name, text, parsed, diags);
  Unit& unit = units_[name];
  dirty_.insert(name);
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

void StateFragments::remove(const std::string& name) {
  units_.erase(name);
  dirty_.insert(name);
}

namespace {
template <class T>
void append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}
void appendObjects(ClusterState& to, const ClusterState& from) {
  append(to.namespaces, from.namespaces);
  append(to.pods, from.pods);
  append(to.nodes, from.nodes);
  append(to.services, from.services);
  append(to.endpointSlices, from.endpointSlices);
  append(to.endpoints, from.endpoints);
  append(to.networkPolicies, from.networkPolicies);
  append(to.ciliumPolicies, from.ciliumPolicies);
}
}  // namespace

void StateFragments::rebuild(Diagnostics& diags) {
  merged_ = ClusterState{};
  for (const auto& [name, unit] : units_) {
    if (!unit.good) continue;
    appendObjects(merged_, unit.state);
  }
  size_t before = diags.errorCount();
  checkDuplicates(merged_, diags);
  merged_.finalize();
  mergedValid_ = diags.errorCount() == before;
  applyLocalAttachments();
}

namespace {
template <class T>
void dropUnits(std::vector<T>& objects, const std::set<std::string>& units) {
  std::erase_if(objects, [&](const T& o) { return o.meta.loc.file && units.count(o.meta.loc.file->name); });
}
}  // namespace

const ClusterState& StateFragments::merge(Diagnostics& diags) {
  // A unit whose last parse failed still contributes its last good objects;
  // its errors are in errors(), not here.
  for (const auto& [name, unit] : units_)
    if (unit.good && unit.lastErrors.empty())
      for (const Diagnostic& d : unit.lastDiags.all()) diags.add(d);
  if (!mergedValid_ || dirty_.size() * 2 > units_.size()) {
    rebuild(diags);
    dirty_.clear();
    return merged_;
  }
  // Replace the changed units' objects in the previous result; copying every
  // object again costs ~100 ms at 10,000 pods, this a few.
  std::erase_if(merged_.namespaces, [](const Namespace& n) { return n.implicit; });  // finalize adds them back
  dropUnits(merged_.namespaces, dirty_);
  dropUnits(merged_.pods, dirty_);
  dropUnits(merged_.nodes, dirty_);
  dropUnits(merged_.services, dirty_);
  dropUnits(merged_.endpointSlices, dirty_);
  dropUnits(merged_.endpoints, dirty_);
  dropUnits(merged_.networkPolicies, dirty_);
  dropUnits(merged_.ciliumPolicies, dirty_);
  for (const std::string& name : dirty_) {
    auto it = units_.find(name);
    if (it == units_.end() || !it->second.good) continue;
    appendObjects(merged_, it->second.state);
  }
  dirty_.clear();
  Diagnostics duplicates;
  checkDuplicates(merged_, duplicates);
  if (duplicates.errorCount() > 0) {
    // Which definition is "first" depends on unit order: rebuild in order.
    rebuild(diags);
    return merged_;
  }
  merged_.finalize();
  applyLocalAttachments();
  return merged_;
}

// The unit the pod's objects came from: merged_ is sorted by key after a merge.
std::string StateFragments::unitOfPod(const std::string& ns, const std::string& name) const {
  // Sorted by key() (finalize): search by the same string.
  auto it = std::lower_bound(merged_.pods.begin(), merged_.pods.end(), ns + "/" + name,
                             [](const Pod& p, const std::string& k) { return p.meta.key() < k; });
  if (it == merged_.pods.end() || it->meta.namespace_ != ns || it->meta.name != name || !it->meta.loc.file) return "";
  return it->meta.loc.file->name;
}

void StateFragments::setLocalAttachments(const std::string& node, std::vector<LocalAttachment> attachments) {
  std::sort(attachments.begin(), attachments.end(), [](const LocalAttachment& a, const LocalAttachment& b) {
    return std::tie(a.podNamespace, a.podName, a.containerID) < std::tie(b.podNamespace, b.podName, b.containerID);
  });
  if (node == node_ && attachments == attachments_) return;
  // A pod patched before or after this change must be copied afresh from its
  // unit on the next merge: its unit is dirty. Pods of no unit are dropped.
  auto touch = [&](const LocalAttachment& a) {
    if (a.podNamespace.empty()) return;
    if (std::string unit = unitOfPod(a.podNamespace, a.podName); !unit.empty()) dirty_.insert(unit);
  };
  for (const auto& a : attachments_)
    if (!std::count(attachments.begin(), attachments.end(), a)) touch(a);
  for (const auto& a : attachments)
    if (!std::count(attachments_.begin(), attachments_.end(), a)) touch(a);
  node_ = node;
  attachments_ = std::move(attachments);
}

void StateFragments::applyLocalAttachments() {
  // Containers without a pod belong to no unit: replaced on every merge.
  std::erase_if(merged_.pods, [](const Pod& p) { return p.meta.loc.file && p.meta.loc.file->name == kLocalUnit; });
  bool added = false;
  for (const LocalAttachment& a : attachments_) {
    if (a.podNamespace.empty()) {
      static const auto file = std::make_shared<SourceFile>(kLocalUnit, "");
      Pod pod;
      pod.meta.name = a.containerID;
      pod.meta.loc = SourceLoc{file, 0, 0};
      pod.nodeName = node_;
      pod.ips = {a.address};
      pod.phase = PodPhase::Running;
      merged_.pods.push_back(std::move(pod));
      added = true;
      continue;
    }
    auto it = std::lower_bound(merged_.pods.begin(), merged_.pods.end(), a.podNamespace + "/" + a.podName,
                               [](const Pod& p, const std::string& k) { return p.meta.key() < k; });
    if (it == merged_.pods.end() || it->meta.namespace_ != a.podNamespace || it->meta.name != a.podName) continue;
    if (it->hostNetwork) continue;
    it->ips = {a.address};
    if (it->nodeName.empty()) it->nodeName = node_;
  }
  if (added)
    std::stable_sort(merged_.pods.begin(), merged_.pods.end(),
                     [](const Pod& a, const Pod& b) { return a.meta.key() < b.meta.key(); });
}

std::string StateFragments::errors() const {
  std::string out;
  for (const auto& [name, unit] : units_) out += unit.lastErrors;
  return out;
}

}  // namespace sluice::agent
