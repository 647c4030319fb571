#include "agent/ipam.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sluice::agent {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kStateVersion = 1;

json toJson(const Allocation& a) {
  return {{"containerID", a.containerID}, {"ifname", a.ifname},         {"address", a.address.str()},
          {"namespace", a.podNamespace},  {"pod", a.podName},           {"netns", a.netns},
          {"hostIfname", a.hostIfname},   {"ready", a.ready}};
}

// Writes `text` to `path` so that a reader (or a crash) sees the old file or
// the new one, never half of one: a temporary file, fsync, rename.
bool writeAtomically(const std::string& path, const std::string& text, std::string& error) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = fmt::format("cannot write {}: {}", tmp, std::strerror(errno));
    return false;
  }
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    error = fmt::format("cannot write {}: {}", path, std::strerror(ok ? errno : err));
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace

bool Ipam::load(std::string& error) {
  allocations_.clear();
  last_.reset();
  if (stateFile_.empty()) return true;
  std::ifstream in(stateFile_);
  if (!in) {
    if (errno == ENOENT) return true;
    error = fmt::format("cannot read {}: {}", stateFile_, std::strerror(errno));
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    json j = json::parse(text.str());
    if (j.value("version", 0) != kStateVersion) {
      error = fmt::format("{}: unknown state version {}", stateFile_, j.value("version", 0));
      return false;
    }
    for (const json& e : j.at("allocations")) {
      Allocation a;
      a.containerID = e.at("containerID").get<std::string>();
      a.ifname = e.at("ifname").get<std::string>();
      auto ip = IpAddr::parse(e.at("address").get<std::string>());
      if (!ip) throw std::runtime_error("bad address " + e.at("address").get<std::string>());
      a.address = *ip;
      a.podNamespace = e.value("namespace", "");
      a.podName = e.value("pod", "");
      a.netns = e.value("netns", "");
      a.hostIfname = e.value("hostIfname", "");
      a.ready = e.value("ready", false);
      allocations_.push_back(std::move(a));
    }
    if (j.contains("last"))
      if (auto ip = IpAddr::parse(j["last"].get<std::string>())) last_ = *ip;
  } catch (const std::exception& e) {
    error = fmt::format("{}: not a sluice IPAM state file ({})", stateFile_, e.what());
    allocations_.clear();
    return false;
  }
  return true;
}

bool Ipam::save(std::string& error) const {
  if (stateFile_.empty()) return true;
  json list = json::array();
  for (const Allocation& a : allocations_) list.push_back(toJson(a));
  json j = {{"version", kStateVersion}, {"allocations", list}};
  if (last_) j["last"] = last_->str();
  return writeAtomically(stateFile_, j.dump(1) + "\n", error);
}

const Allocation* Ipam::find(const std::string& containerID, const std::string& ifname) const {
  for (const Allocation& a : allocations_)
    if (a.containerID == containerID && a.ifname == ifname) return &a;
  return nullptr;
}

std::optional<IpAddr> Ipam::allocate(Allocation a, std::string& error) {
  if (find(a.containerID, a.ifname)) {
    error = fmt::format("container {} already has an address on {}", a.containerID, a.ifname);
    return std::nullopt;
  }
  std::set<uint32_t> taken;
  for (const Allocation& x : allocations_)
    if (x.address.isV4()) taken.insert(x.address.v4HostOrder());
  // Candidates in pool order, starting after the last address handed out.
  std::vector<std::pair<uint32_t, uint32_t>> ranges;  // [first, last] usable host addresses
  for (const Cidr& pool : pools_) {
    if (!pool.addr.isV4() || pool.prefixLen > 30) continue;
    uint32_t base = pool.addr.v4HostOrder(), size = uint32_t(1) << (32 - pool.prefixLen);
    ranges.push_back({base + 1, base + size - 2});
  }
  if (ranges.empty()) {
    error = "this node has no IPv4 pod CIDR (spec.podCIDR) with room for pods";
    return std::nullopt;
  }
  size_t startRange = 0;
  uint32_t start = ranges[0].first;
  if (last_ && last_->isV4()) {
    uint32_t l = last_->v4HostOrder();
    for (size_t i = 0; i < ranges.size(); ++i)
      if (l >= ranges[i].first && l <= ranges[i].second) {
        startRange = i;
        start = l;
      }
  }
  // Walk every range once, from just after `start`, wrapping around.
  for (size_t step = 0; step <= ranges.size(); ++step) {
    size_t r = (startRange + step) % ranges.size();
    auto [first, last] = ranges[r];
    uint64_t from = step == 0 ? uint64_t(start) + (last_ ? 1 : 0) : first;
    uint64_t to = step == ranges.size() ? std::min<uint64_t>(start, last) : last;
    for (uint64_t v = from; v <= to; ++v) {
      if (taken.count(uint32_t(v))) continue;
      a.address = IpAddr::v4(uint32_t(v));
      a.ready = false;
      allocations_.push_back(a);
      std::optional<IpAddr> previous = last_;
      last_ = a.address;
      if (!save(error)) {
        allocations_.pop_back();
        last_ = previous;
        return std::nullopt;
      }
      return a.address;
    }
  }
  size_t capacity = 0;
  for (auto [f, l] : ranges) capacity += l - f + 1;
  error = fmt::format("no free address in this node's pod CIDRs ({} in use of {})", allocations_.size(), capacity);
  return std::nullopt;
}

bool Ipam::markReady(const std::string& containerID, const std::string& ifname, std::string& error) {
  for (Allocation& a : allocations_)
    if (a.containerID == containerID && a.ifname == ifname) {
      a.ready = true;
      return save(error);
    }
  error = fmt::format("container {} has no address on {}", containerID, ifname);
  return false;
}

bool Ipam::release(const std::string& containerID, const std::string& ifname, std::string& error) {
  auto it = std::find_if(allocations_.begin(), allocations_.end(), [&](const Allocation& a) {
    return a.containerID == containerID && a.ifname == ifname;
  });
  if (it == allocations_.end()) return true;
  Allocation gone = *it;
  allocations_.erase(it);
  if (!save(error)) {
    allocations_.push_back(gone);
    return false;
  }
  return true;
}

}  // namespace sluice::agent
