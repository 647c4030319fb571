// The agent's status as JSON (`sluice agent status`, GET /status) and as
// Prometheus text (GET /metrics).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <map>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/node_agent.h"
#include "codegen/datapath/sluice_abi.h"

namespace sluice::agent {

namespace {

nlohmann::json reportJson(const ReconcileReport& r) {
  return {{"number", r.number},          {"result", r.result},         {"error", r.error},
          {"sinceChangeMs", r.sinceChangeMs}, {"loadStateMs", r.loadStateMs}, {"lowerMs", r.lowerMs},
          {"compileMs", r.compileMs},    {"loadMs", r.loadMs},         {"syncMs", r.syncMs},
          {"swapMs", r.swapMs},          {"totalMs", r.totalMs}};
}

const char* outcomeName(uint8_t outcome) {
  switch (outcome) {
    case SLUICE_OUT_NEW_ALLOWED: return "new_allowed";
    case SLUICE_OUT_NEW_DENIED: return "new_denied";
    case SLUICE_OUT_ESTABLISHED: return "established";
    case SLUICE_OUT_REPLY: return "reply";
    case SLUICE_OUT_NOT_IP: return "not_ip";
    case SLUICE_OUT_UNSUPPORTED: return "unsupported";
    case SLUICE_OUT_SPOOFED: return "spoofed";
    case SLUICE_OUT_REJECTED: return "rejected";
    case SLUICE_OUT_SVC_DROPPED: return "service_no_backend";
    case SLUICE_OUT_SNAT_EXHAUSTED: return "snat_ports_exhausted";
    default: return "other";
  }
}

// Outcomes that drop the packet (SLUICE_OUT_UNSUPPORTED only when isolated:
// counted as a drop reason all the same, since the datapath says so).
bool isDrop(uint8_t outcome) {
  return outcome == SLUICE_OUT_NEW_DENIED || outcome == SLUICE_OUT_SPOOFED || outcome == SLUICE_OUT_UNSUPPORTED ||
         outcome == SLUICE_OUT_SVC_DROPPED || outcome == SLUICE_OUT_SNAT_EXHAUSTED;
}

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

nlohmann::json toJson(const AgentStatus& s) {
  nlohmann::json endpoints = nlohmann::json::array();
  for (const auto& e : s.endpoints)
    endpoints.push_back({{"pod", e.pod}, {"ip", e.ip}, {"interface", e.interface}, {"attached", e.attached},
                         {"program", e.program}, {"problem", e.problem}});
  nlohmann::json j = {{"node", s.node},
                      {"source", s.source},
                      {"generation", s.generation},
                      {"enforcing", s.enforcing},
                      {"specialized", s.specialized},
                      {"tierEntries", s.tierEntries},
                      {"sourceErrors", s.sourceErrors},
                      {"warnings", s.warnings},
                      {"reconciles", s.reconciles},
                      {"tiered", s.tiered},
                      {"swaps", s.swaps},
                      {"mapUpdates", s.mapUpdates},
                      {"failures", s.failures},
                      {"specializations", s.specializations},
                      {"specializationFailures", s.specializationFailures},
                      {"last", reportJson(s.last)},
                      {"lastSwap", reportJson(s.lastSwap)},
                      {"endpoints", endpoints},
                      {"uplinks", s.uplinks},
                      {"uplinkProgram", s.uplinkProgram},
                      {"metricsPort", s.metricsPort}};
  j["lastFailure"] = s.lastFailure ? reportJson(*s.lastFailure) : nlohmann::json(nullptr);
  return j;
}

std::string metricsText(const AgentStatus& s, const std::string& pinDir) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, const std::string& samples) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}", name, help, name, type, samples);
  };
  std::string node = escape(s.node);
  metric("sluice_agent_generation", "gauge", "Program generation attached (0: none yet).",
         fmt::format("sluice_agent_generation{{node=\"{}\"}} {}\n", node, s.generation));
  metric("sluice_agent_reconciles_total", "counter", "Reconciles by result.",
         fmt::format("sluice_agent_reconciles_total{{node=\"{0}\",result=\"tiered\"}} {5}\n"
                     "sluice_agent_reconciles_total{{node=\"{0}\",result=\"swapped\"}} {1}\n"
                     "sluice_agent_reconciles_total{{node=\"{0}\",result=\"maps_updated\"}} {2}\n"
                     "sluice_agent_reconciles_total{{node=\"{0}\",result=\"failed\"}} {3}\n"
                     "sluice_agent_reconciles_total{{node=\"{0}\",result=\"unchanged\"}} {4}\n",
                     node, s.swaps, s.mapUpdates, s.failures,
                     s.reconciles - s.tiered - s.swaps - s.mapUpdates - s.failures, s.tiered));
  metric("sluice_agent_specializations_total", "counter",
         "Background compiles of specialized programs for what the first tier enforced, by result.",
         fmt::format("sluice_agent_specializations_total{{node=\"{0}\",result=\"swapped\"}} {1}\n"
                     "sluice_agent_specializations_total{{node=\"{0}\",result=\"failed\"}} {2}\n",
                     node, s.specializations, s.specializationFailures));
  metric("sluice_agent_specialized", "gauge",
         "1 when every endpoint and the uplink run their own specialized programs for the state in force.",
         fmt::format("sluice_agent_specialized{{node=\"{}\"}} {}\n", node, s.specialized ? 1 : 0));
  metric("sluice_agent_compile_ms", "gauge", "Compile time of the last generation swapped in, milliseconds.",
         fmt::format("sluice_agent_compile_ms{{node=\"{}\"}} {:.3f}\n", node, s.lastSwap.compileMs));
  metric("sluice_agent_load_ms", "gauge", "Load (verifier) time of the last generation swapped in, milliseconds.",
         fmt::format("sluice_agent_load_ms{{node=\"{}\"}} {:.3f}\n", node, s.lastSwap.loadMs));
  metric("sluice_agent_swap_ms", "gauge", "Time to attach the last generation to every hook, milliseconds.",
         fmt::format("sluice_agent_swap_ms{{node=\"{}\"}} {:.3f}\n", node, s.lastSwap.swapMs));
  metric("sluice_agent_change_to_enforcement_ms", "gauge",
         "From the first state change of the last reconcile to its enforcement, milliseconds.",
         fmt::format("sluice_agent_change_to_enforcement_ms{{node=\"{}\"}} {:.3f}\n", node, s.last.sinceChangeMs));
  metric("sluice_agent_compile_ms_total", "counter", "Compile time over all swaps, milliseconds.",
         fmt::format("sluice_agent_compile_ms_total{{node=\"{}\"}} {:.3f}\n", node, s.compileMsTotal));
  size_t attached = 0;
  for (const auto& e : s.endpoints) attached += e.attached;
  metric("sluice_agent_endpoints", "gauge", "Local endpoints, by whether their programs are attached.",
         fmt::format("sluice_agent_endpoints{{node=\"{0}\",state=\"attached\"}} {1}\n"
                     "sluice_agent_endpoints{{node=\"{0}\",state=\"pending\"}} {2}\n",
                     node, attached, s.endpoints.size() - attached));
  metric("sluice_agent_source_errors", "gauge", "1 when some manifests do not parse (their last good objects stay).",
         fmt::format("sluice_agent_source_errors{{node=\"{}\"}} {}\n", node, s.sourceErrors.empty() ? 0 : 1));

  // Packet counters, summed over CPUs, named by the endpoint owning the address.
  std::map<uint32_t, std::string> owner;
  for (const auto& e : s.endpoints) {
    auto ip = IpAddr::parse(e.ip);
    if (ip && ip->isV4()) owner[__builtin_bswap32(ip->v4HostOrder())] = e.pod;
  }
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<uint64_t, uint64_t>> packets;
  std::map<std::string, uint64_t> drops;
  int fd = bpf_obj_get((pinDir + "/" SLUICE_MAP_COUNTERS).c_str());
  if (fd >= 0) {
    int cpus = libbpf_num_possible_cpus();
    std::vector<sluice_counter_value> values(cpus > 0 ? cpus : 1);
    sluice_counter_key key{}, next{};
    void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      key = next;
      prev = &key;
      if (bpf_map_lookup_elem(fd, &key, values.data()) != 0) continue;
      uint64_t n = 0, bytes = 0;
      for (const auto& v : values) n += v.packets, bytes += v.bytes;
      auto o = owner.find(key.endpoint_addr);
      std::string ep = o != owner.end() ? o->second : IpAddr::v4(__builtin_bswap32(key.endpoint_addr)).str();
      auto& p = packets[{ep, key.direction ? "egress" : "ingress", outcomeName(key.outcome)}];
      p.first += n;
      p.second += bytes;
      if (isDrop(key.outcome)) drops[outcomeName(key.outcome)] += n;
    }
    ::close(fd);
  }
  std::string samples, byteSamples, dropSamples;
  for (const auto& [k, v] : packets) {
    const auto& [ep, dir, outcome] = k;
    std::string labels =
        fmt::format("node=\"{}\",endpoint=\"{}\",direction=\"{}\",outcome=\"{}\"", node, escape(ep), dir, outcome);
    samples += fmt::format("sluice_endpoint_packets_total{{{}}} {}\n", labels, v.first);
    byteSamples += fmt::format("sluice_endpoint_bytes_total{{{}}} {}\n", labels, v.second);
  }
  for (const char* reason : {"new_denied", "spoofed", "unsupported", "service_no_backend", "snat_ports_exhausted"})
    dropSamples += fmt::format("sluice_drops_total{{node=\"{}\",reason=\"{}\"}} {}\n", node, reason,
                               drops.count(reason) ? drops[reason] : 0);
  metric("sluice_endpoint_packets_total", "counter",
         "Packets per endpoint, direction (ingress: to the pod, egress: from it) and outcome.", samples);
  metric("sluice_endpoint_bytes_total", "counter", "Bytes per endpoint, direction and outcome.", byteSamples);
  metric("sluice_drops_total", "counter", "Packets the datapath dropped, by reason.", dropSamples);
  return out;
}

}  // namespace sluice::agent
