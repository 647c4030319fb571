#include "runtime/loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include <chrono>
#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "codegen/datapath/sluice_abi.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

namespace sluice::runtime {

namespace fs = std::filesystem;

std::string ensureBpffs() {
  struct statfs st {};
  if (statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC) return {};
  std::error_code ec;
  fs::create_directories("/sys/fs/bpf", ec);
  if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0)
    return fmt::format("cannot mount bpffs at /sys/fs/bpf: {} (sluice needs root or CAP_SYS_ADMIN)",
                       std::strerror(errno));
  return {};
}

// libbpf prints through this; keep warnings, drop debug chatter, and capture
// everything for the error message of a failed load.
static thread_local std::string* libbpfCapture = nullptr;
static int libbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  int n = vsnprintf(buf, sizeof buf, format, args);
  if (libbpfCapture) *libbpfCapture += buf;
  return n;
}

LoadedNode::LoadedNode(LoadedNode&& o) noexcept { *this = std::move(o); }
LoadedNode& LoadedNode::operator=(LoadedNode&& o) noexcept {
  std::swap(obj_, o.obj_);
  std::swap(pinDir_, o.pinDir_);
  std::swap(programs_, o.programs_);
  return *this;
}
LoadedNode::~LoadedNode() {
  if (obj_) bpf_object__close(obj_);
}

bool LoadedNode::load(const codegen::CompiledNode& compiled, const ir::NodeProgram& node, const std::string& pinDir,
                      std::string& error) {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpfPrint); });
  if (std::string e = ensureBpffs(); !e.empty()) {
    error = e;
    return false;
  }
  std::error_code ec;
  fs::create_directories(pinDir, ec);
  if (ec) {
    error = fmt::format("cannot create {}: {}", pinDir, ec.message());
    return false;
  }
  pinDir_ = pinDir;
  std::string objectName = "sluice_" + node.node;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = objectName.c_str(), .pin_root_path = pinDir_.c_str());
  std::string captured;
  libbpfCapture = &captured;
  obj_ = bpf_object__open_mem(compiled.object.data(), compiled.object.size(), &opts);
  if (!obj_) {
    libbpfCapture = nullptr;
    error = fmt::format("libbpf cannot open the object for node {}: {}\n{}", node.node, std::strerror(errno),
                        captured);
    return false;
  }
  // Sections are "tc/<program>": set the type explicitly, and keep the
  // verifier's log of each program so a refusal can be explained.
  bpf_program* prog;
  std::vector<std::vector<char>> logBufs;
  bpf_object__for_each_program(prog, obj_) {
    bpf_program__set_type(prog, BPF_PROG_TYPE_SCHED_CLS);
    logBufs.emplace_back(1 << 20);
    bpf_program__set_log_buf(prog, logBufs.back().data(), logBufs.back().size());
  }
  auto start = std::chrono::steady_clock::now();
  int err = bpf_object__load(obj_);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  libbpfCapture = nullptr;
  if (err) {
    // Name the refused program and quote the end of its verifier log.
    std::string detail;
    size_t i = 0;
    bpf_object__for_each_program(prog, obj_) {
      std::string log(logBufs[i++].data());
      if (log.empty())  // only a refused program gets a log (libbpf retries it at log level 1)
        continue;
      size_t cut = log.size() > 2000 ? log.size() - 2000 : 0;
      detail += fmt::format("program {} was refused; verifier says:\n{}{}\n", bpf_program__name(prog),
                            cut ? "...\n" : "", log.substr(cut));
    }
    error = fmt::format("the kernel refused node {}'s programs: {}\n{}{}", node.node, std::strerror(-err), detail,
                        detail.empty() ? captured : "");
    bpf_object__close(obj_);
    obj_ = nullptr;
    return false;
  }
  bpf_object__for_each_program(prog, obj_) {
    ProgramStats s;
    s.name = bpf_program__name(prog);
    s.fd = bpf_program__fd(prog);
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(s.fd, &info, &len) == 0) {
      s.instructions = info.xlated_prog_len / 8;
      s.verifiedInstructions = info.verified_insns;
      s.btfId = info.btf_id;
    }
    s.loadMs = ms / double(compiled.programs.empty() ? 1 : compiled.programs.size());
    programs_.push_back(s);
  }
  return syncIpcache(node, error);
}

int LoadedNode::programFd(const std::string& name) const {
  for (const auto& p : programs_)
    if (p.name == name) return p.fd;
  return -1;
}

int LoadedNode::mapFd(const std::string& name) const {
  bpf_map* m = obj_ ? bpf_object__find_map_by_name(obj_, name.c_str()) : nullptr;
  return m ? bpf_map__fd(m) : -1;
}

bool LoadedNode::syncIpcache(const ir::NodeProgram& node, std::string& error) {
  int fd = mapFd(SLUICE_MAP_IPCACHE);
  if (fd < 0) {
    error = "the object has no IP cache map";
    return false;
  }
  std::map<uint32_t, uint32_t> want;
  for (const auto& e : node.ipcache)
    if (e.prefix.addr.isV4() && e.prefix.prefixLen == 32) want[__builtin_bswap32(e.prefix.addr.v4HostOrder())] = e.identity;
  // Drop stale entries first, then write the current ones (each update is atomic per key).
  sluice_ipcache_key key{}, next{};
  std::vector<uint32_t> stale;
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (!want.count(next.addr)) stale.push_back(next.addr);
    key = next;
    prev = &key;
  }
  for (uint32_t a : stale) {
    sluice_ipcache_key k{a};
    bpf_map_delete_elem(fd, &k);
  }
  for (const auto& [addr, identity] : want) {
    sluice_ipcache_key k{addr};
    sluice_ipcache_value v{identity, 0};
    if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) != 0) {
      error = fmt::format("cannot update the IP cache: {}", std::strerror(errno));
      return false;
    }
  }
  return true;
}

void LoadedNode::unpinMaps() {
  if (obj_) bpf_object__unpin_maps(obj_, nullptr);
  std::error_code ec;
  if (!pinDir_.empty()) fs::remove(pinDir_, ec);
}

}  // namespace sluice::runtime
