// NodeProgram -> BPF ELF: the datapath bitcode, one decision function per
// endpoint direction, one tc entry program per endpoint direction, O2, BPF.
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/Transforms/Utils/ModuleUtils.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <elf.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>

#include "codegen/bpf_target.h"
#include "codegen/codegen.h"
#include "codegen/decision_codegen.h"
#include "codegen/decision_plan.h"
#include "codegen/debug_info.h"
#include "ir/print.h"

extern "C" const char sluice_datapath_bc[];
extern "C" const char sluice_datapath_bc_end[];
// Generic mode's library: the same one plus the table-driven decision
// (datapath/datapath_generic.bpf.c).
extern "C" const char sluice_datapath_generic_bc[];
extern "C" const char sluice_datapath_generic_bc_end[];
// The agent's first tier: the generic library plus its programs (datapath/datapath_tier.bpf.c).
extern "C" const char sluice_datapath_tier_bc[];
extern "C" const char sluice_datapath_tier_bc_end[];

namespace sluice::codegen {
namespace {

using llvm::Function;
using llvm::IRBuilder;

constexpr int kFlowStackBytes = 64;  // SLUICE_FLOW_STACK_BYTES in datapath.bpf.c
constexpr uint32_t kDirIngress = 0, kDirEgress = 1;
// sluice_dp_fast's answers that leave the packet to sluice_dp_begin, and its
// flags (datapath.bpf.c).
constexpr int kDpUntracked = -3;                             // SLUICE_DP_UNTRACKED
constexpr uint32_t kDpIsolated = 1, kDpKnownUntracked = 2;  // SLUICE_DP_ISOLATED, SLUICE_DP_KNOWN_UNTRACKED

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out;
}

std::map<std::string, std::string> programNames(const ir::NodeProgram& node, ir::Direction dir) {
  std::map<std::string, std::string> out;
  std::set<std::string> used;
  for (const auto& ep : node.endpoints) {
    std::string base = std::string(dir == ir::Direction::Egress ? "from_pod_" : "to_pod_") + sanitize(ep.namespace_) +
                       "__" + sanitize(ep.name);
    std::string name = base;
    for (int i = 2; used.count(name); ++i) name = fmt::format("{}_{}", base, i);
    used.insert(name);
    out[ep.key()] = name;
  }
  return out;
}

std::unique_ptr<llvm::Module> loadBitcode(llvm::LLVMContext& ctx, llvm::StringRef bytes, std::string& error) {
  auto buffer = llvm::MemoryBuffer::getMemBuffer(bytes, "datapath.bc", false);
  auto module = llvm::parseBitcodeFile(buffer->getMemBufferRef(), ctx);
  if (!module) {
    error = llvm::toString(module.takeError());
    return nullptr;
  }
  return std::move(*module);
}

std::unique_ptr<llvm::Module> loadDatapath(llvm::LLVMContext& ctx, DatapathMode mode, std::string& error) {
  return loadBitcode(
      ctx,
      mode == DatapathMode::Generic
          ? llvm::StringRef(sluice_datapath_generic_bc, size_t(sluice_datapath_generic_bc_end - sluice_datapath_generic_bc))
          : llvm::StringRef(sluice_datapath_bc, size_t(sluice_datapath_bc_end - sluice_datapath_bc)),
      error);
}

uint32_t firstV4(const ir::Endpoint& ep) {
  for (const auto& ip : ep.ips)
    if (ip.isV4()) return ip.v4HostOrder();
  return 0;
}

// Puts the generic tables into the object, in a section of their own that
// libbpf skips and the runtime reads (runtime/loader.cpp). No debug info, so
// no BTF describes it: it is data for the loader, not for the programs.
void embedTables(llvm::Module& m, const GenericTables& tables) {
  std::string bytes = serialize(tables);
  auto* init = llvm::ConstantDataArray::getString(m.getContext(), bytes, /*AddNull=*/false);
  auto* g = new llvm::GlobalVariable(m, init->getType(), /*isConstant=*/true, llvm::GlobalValue::ExternalLinkage,
                                     init, "sluice_generic_tables");
  g->setSection(kGenericTablesSection);
  g->setAlignment(llvm::Align(8));
}

}  // namespace

const char* datapathModeName(DatapathMode mode) {
  return mode == DatapathMode::Generic ? "generic" : "specialized";
}

std::optional<DatapathMode> datapathModeFromName(const std::string& name) {
  if (name == "specialized") return DatapathMode::Specialized;
  if (name == "generic") return DatapathMode::Generic;
  return std::nullopt;
}

bool needsUplinkProgram(const ir::NodeProgram& node) {
  // Masquerade's replies come back through the uplink, which turns them back.
  if (node.masquerade.enabled) return true;
  for (const auto& svc : node.services) {
    if (!svc.externalIPs.empty() || !svc.loadBalancerIPs.empty()) return true;
    for (const auto& p : svc.ports)
      if (p.nodePort) return true;
  }
  return false;
}

std::string endpointCodeInputs(const ir::Program& program, const ir::Endpoint& ep) {
  std::string out;
  for (const auto& id : program.identities)
    if (id.isReserved()) out += fmt::format("reserved-identity {}\n", id.id);
  return out + ir::str(ep);
}

std::string uplinkCodeInputs(const ir::NodeProgram& node) {
  // The uplink program is the library's with the node's first IPv4 address baked in.
  if (!needsUplinkProgram(node)) return "";
  std::string out = "uplink\n";
  for (const auto& ip : node.nodeIPs) out += fmt::format("address {}\n", ip.str());
  return out;
}

std::string codeInputs(const ir::Program& program, const ir::NodeProgram& node) {
  std::string out = fmt::format("node {}\n", node.node) + uplinkCodeInputs(node);
  for (const auto& ep : node.endpoints) out += endpointCodeInputs(program, ep);
  return out;
}

std::string programName(const ir::NodeProgram& node, const ir::Endpoint& ep, ir::Direction dir) {
  return programNames(node, dir).at(ep.key());
}

// libbpf reports (at info level, to stderr by default) every section it does
// not know, and generic objects carry one on purpose (kGenericTablesSection).
// Drop that line, pass everything else to whatever printer was installed.
static libbpf_print_fn_t libbpfPrinterBeforeOurs = nullptr;
static int quietAboutTables(enum libbpf_print_level level, const char* format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  char line[512];
  vsnprintf(line, sizeof line, format, copy);
  va_end(copy);
  if (std::strstr(line, kGenericTablesSection)) return 0;
  return libbpfPrinterBeforeOurs ? libbpfPrinterBeforeOurs(level, format, args) : 0;
}

std::vector<std::pair<std::string, size_t>> programSizes(const std::vector<char>& object) {
  static std::once_flag once;
  std::call_once(once, [] { libbpfPrinterBeforeOurs = libbpf_set_print(quietAboutTables); });
  std::vector<std::pair<std::string, size_t>> out;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "sluice");
  bpf_object* obj = bpf_object__open_mem(object.data(), object.size(), &opts);
  if (!obj) return out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) out.emplace_back(bpf_program__name(prog), bpf_program__insn_cnt(prog));
  bpf_object__close(obj);
  return out;
}

size_t sharedTextInstructions(const std::vector<char>& object) {
  // A 64-bit little-endian ELF, as the BPF backend writes it.
  if (object.size() < sizeof(Elf64_Ehdr)) return 0;
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(object.data());
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_shoff == 0 ||
      eh->e_shoff + size_t(eh->e_shnum) * sizeof(Elf64_Shdr) > object.size() || eh->e_shstrndx >= eh->e_shnum)
    return 0;
  const auto* sh = reinterpret_cast<const Elf64_Shdr*>(object.data() + eh->e_shoff);
  const Elf64_Shdr& names = sh[eh->e_shstrndx];
  for (unsigned i = 0; i < eh->e_shnum; ++i) {
    if (names.sh_offset + sh[i].sh_name >= object.size()) continue;
    const char* name = object.data() + names.sh_offset + sh[i].sh_name;
    if (std::strcmp(name, ".text") == 0) return sh[i].sh_size / 8;
  }
  return 0;
}

// The end of every compile: the library functions are inlined into each
// program and internalized (nothing else may keep them), except
// `subprograms`, which stay BPF subprograms (noinline): every program calls
// the same code, so LLVM optimizes and emits it once per node instead of
// once per program (4.5 s -> 1 s for samples/microservices, measured).
// They are marked used so that LLVM keeps their signatures: the kernel
// checks each call against the BTF of the declared parameters, and
// dead-argument elimination would leave a register unset or the BTF
// describing parameters that no longer exist. Then O2 and the ELF.
static bool emitObject(llvm::Module& m, const BpfTarget& target, const std::set<Function*>& library,
                       const std::vector<Function*>& subprograms, const CompileOptions& options, CompiledNode& out,
                       Diagnostics& diags, const std::string& object) {
  for (Function* f : library) f->setLinkage(llvm::GlobalValue::InternalLinkage);
  llvm::appendToCompilerUsed(m, std::vector<llvm::GlobalValue*>(subprograms.begin(), subprograms.end()));
  if (options.keepLlvmIr) {
    llvm::raw_string_ostream os(out.llvmIr);
    m.print(os, nullptr);
  }
  target.optimize(m);
  for (const char* list : {"llvm.used", "llvm.compiler.used"})
    if (auto* used = m.getGlobalVariable(list)) used->eraseFromParent();
  for (Function* f : subprograms)
    if (f->use_empty()) f->eraseFromParent();  // no program: nothing may be left in .text
  // An unused global function must go (after optimization has dropped the
  // library functions that called it): in an object with no program (a node
  // without endpoints) libbpf would take it, alone in .text, for a program.
  std::vector<Function*> unusedGlobals;
  for (Function& f : m)
    if (!f.isDeclaration() && f.getName().starts_with("sluice_global_") && f.use_empty()) unusedGlobals.push_back(&f);
  for (Function* f : unusedGlobals) f->eraseFromParent();
  if (options.keepOptimizedIr) {
    llvm::raw_string_ostream os(out.optimizedIr);
    m.print(os, nullptr);
  }
  std::vector<char> elf;
  std::string error;
  if (!target.emitObject(m, elf, error)) {
    diags.error({}, object, "", error);
    return false;
  }
  out.object = std::move(elf);
  out.sharedInstructions = sharedTextInstructions(out.object);
  auto sizes = programSizes(out.object);
  for (auto& p : out.programs)
    for (const auto& [n, count] : sizes)
      if (n == p.name) p.instructions = count;
  return true;
}

CompiledNode compileNode(const ir::Program& program, const ir::NodeProgram& node, const CompileOptions& options,
                         Diagnostics& diags) {
  auto start = std::chrono::steady_clock::now();
  CompiledNode out;
  out.node = node.node;
  out.datapath = options.datapath;
  const bool generic = options.datapath == DatapathMode::Generic;
  std::string object = "Node " + node.node;

  // Refuse what the datapath cannot enforce yet, rather than half-enforce it.
  for (const auto& ep : node.endpoints)
    for (const auto* dp : {&ep.ingress, &ep.egress})
      for (const auto& r : dp->rules) {
        ++out.rules;
        if (!r.l7.empty())
          diags.error(r.origin.loc, r.origin.policy, r.origin.path,
                      "L7 (HTTP/Kafka) rules cannot be enforced yet; refusing to compile a policy that would be "
                      "enforced only at L3/L4");
      }
  if (diags.hasErrors()) return out;

  llvm::LLVMContext ctx;
  std::string error;
  std::unique_ptr<llvm::Module> m = loadDatapath(ctx, options.datapath, error);
  if (!m) {
    diags.error({}, object, "", "cannot read the embedded datapath bitcode: " + error);
    return out;
  }
  m->setModuleIdentifier("sluice." + node.node);
  BpfTarget target(options.cpu);
  target.prepare(*m);
  DebugInfo di(*m);

  Function* begin = m->getFunction("sluice_dp_begin");
  Function* finish = m->getFunction("sluice_dp_finish");
  Function* fast = m->getFunction("sluice_dp_fast");
  Function* getIdentity = m->getFunction("sluice_flow_identity");
  Function* getAddr = m->getFunction("sluice_flow_remote_addr");
  Function* getProto = m->getFunction("sluice_flow_proto");
  Function* getPort = m->getFunction("sluice_flow_port");
  Function* uplink = m->getFunction("sluice_dp_uplink");
  Function* uplinkNew = m->getFunction("sluice_dp_uplink_new");
  Function* genericDecide = generic ? m->getFunction("sluice_generic_decide") : nullptr;
  if (!fast || !begin || !finish || !uplink || !uplinkNew || !getIdentity || !getAddr || !getProto || !getPort ||
      (generic && !genericDecide)) {
    diags.error({}, object, "", "the embedded datapath bitcode lacks its entry points (a build problem)");
    return out;
  }
  // The library is inlined into each program and internalized, except its
  // `sluice_global_*` functions: BPF global functions, which the verifier
  // checks once on their own (datapath_nat.h says why one needs that).
  std::set<Function*> library;
  for (Function& f : *m)
    if (!f.isDeclaration() && !f.getName().starts_with("sluice_global_")) library.insert(&f);

  std::vector<ir::IdentityId> known;
  for (const auto& id : program.identities) known.push_back(id.id);

  auto i32 = llvm::Type::getInt32Ty(ctx);
  auto ptr = llvm::PointerType::get(ctx, 0);
  // Pods of one workload usually have identical policies: compile each
  // distinct direction policy once and share its decision function.
  std::map<std::string, Function*> decisions;
  // Generic mode: one table per distinct direction policy, {id, flags} for the call.
  std::map<std::string, std::pair<uint32_t, uint32_t>> genericTables;
  for (ir::Direction dir : {ir::Direction::Egress, ir::Direction::Ingress}) {
    auto names = programNames(node, dir);
    for (const auto& ep : node.endpoints) {
      const ir::DirectionPolicy& policy = ep.policy(dir);
      const char* dirName = dir == ir::Direction::Egress ? "egress" : "ingress";
      std::string policyKey = std::string(dirName) + "\n" + ir::str(policy, dir);
      Function* decide = nullptr;
      std::pair<uint32_t, uint32_t> table;  // generic: {table id, flags}
      if (generic) {
        auto [it, inserted] = genericTables.emplace(policyKey, table);
        if (inserted) {
          const auto& t = addGenericTable(out.tables, policy, planDirection(policy, known), dir, ep.key());
          it->second = {t.id, t.flags};
          if (t.id > 0xffffff) {  // the call packs the number into 24 bits
            diags.error({}, object, "", "more than 16,777,215 distinct endpoint policies: generic mode cannot number them");
            return out;
          }
        }
        table = it->second;
      } else {
        Function*& shared = decisions[policyKey];
        if (!shared) {
          DirectionPlan plan = planDirection(policy, known);
          shared = emitDecision(*m, di, fmt::format("policy.{}.{}", ep.key(), dirName), policy, plan, dir);
        }
        decide = shared;
      }

      // The tc program: datapath begin, the decision, datapath finish.
      std::string name = names.at(ep.key());
      auto* type = llvm::FunctionType::get(i32, {ptr}, false);
      Function* prog = Function::Create(type, Function::ExternalLinkage, name, *m);
      // One section per program, so iproute2 can pick it: tc ... bpf obj X.o sec tc/<name>.
      prog->setSection("tc/" + name);
      prog->addFnAttr(llvm::Attribute::NoUnwind);
      auto* entry = llvm::BasicBlock::Create(ctx, "entry", prog);
      auto* established = llvm::BasicBlock::Create(ctx, "tracked_connection", prog);
      auto* slow = llvm::BasicBlock::Create(ctx, "not_a_plain_tracked_packet", prog);
      auto* decideBlock = llvm::BasicBlock::Create(ctx, "new_connection", prog);
      auto* done = llvm::BasicBlock::Create(ctx, "decided_without_policy", prog);
      IRBuilder<> b(entry);
      auto* flow = b.CreateAlloca(llvm::ArrayType::get(b.getInt8Ty(), kFlowStackBytes), nullptr, "flow");
      flow->setAlignment(llvm::Align(8));
      uint32_t addr = firstV4(ep);
      // The datapath compares with the packet's saddr as loaded (network order).
      uint32_t addrBe = __builtin_bswap32(addr);
      llvm::Value* dirValue = b.getInt32(dir == ir::Direction::Egress ? kDirEgress : kDirIngress);
      llvm::Value* quick = b.CreateCall(fast, {prog->getArg(0), b.getInt32(addrBe), dirValue});
      // A TC action (>= 0) decided the packet; a negative answer leaves it to sluice_dp_begin.
      b.CreateCondBr(b.CreateICmpSLT(quick, b.getInt32(0)), slow, established);
      IRBuilder<>(established).CreateRet(quick);
      b.SetInsertPoint(slow);
      llvm::Value* flags = b.CreateOr(
          b.getInt32(policy.enforced ? kDpIsolated : 0),
          b.CreateSelect(b.CreateICmpEQ(quick, b.getInt32(uint32_t(kDpUntracked))), b.getInt32(kDpKnownUntracked),
                         b.getInt32(0)));
      llvm::Value* act = b.CreateCall(begin, {prog->getArg(0), flow, b.getInt32(addrBe), dirValue, flags});
      b.CreateCondBr(b.CreateICmpEQ(act, b.getInt32(uint32_t(-1))), decideBlock, done);
      IRBuilder<>(done).CreateRet(act);
      IRBuilder<> d(decideBlock);
      std::vector<llvm::Value*> flowArgs = {d.CreateCall(getIdentity, {flow}), d.CreateCall(getAddr, {flow}),
                                            d.CreateCall(getProto, {flow}), d.CreateCall(getPort, {flow})};
      llvm::Value* decision;
      if (generic) {
        flowArgs.insert(flowArgs.begin(), d.getInt32(table.first | table.second << 24));
        decision = d.CreateCall(genericDecide, flowArgs);
      } else {
        decision = d.CreateCall(decide, flowArgs);
      }
      d.CreateRet(d.CreateCall(finish, {prog->getArg(0), flow, decision}));
      di.attach(*prog, {"skb"}, {true});

      ProgramInfo info;
      info.name = name;
      info.endpoint = ep.key();
      info.direction = dir;
      info.attach = dir == ir::Direction::Egress ? "tc-ingress" : "tc-egress";
      out.programs.push_back(info);
    }
  }
  // The uplink program, for NodePort / external / load-balancer addresses
  // reached from outside (datapath_uplink.h). Only on nodes whose service
  // table has such a frontend: other nodes have nothing to translate there,
  // and their objects stay as they were. One per node, so its body is
  // inlined (no per-program compile cost to share).
  if (needsUplinkProgram(node)) {
    auto* type = llvm::FunctionType::get(i32, {ptr}, false);
    Function* prog = Function::Create(type, Function::ExternalLinkage, kUplinkProgram, *m);
    prog->setSection(std::string("tc/") + kUplinkProgram);
    prog->addFnAttr(llvm::Attribute::NoUnwind);
    IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", prog));
    uint32_t nodeAddr = 0;
    for (const auto& ip : node.nodeIPs)
      if (ip.isV4()) {
        nodeAddr = ip.v4HostOrder();
        break;
      }
    b.CreateRet(b.CreateCall(uplink, {prog->getArg(0), b.getInt32(__builtin_bswap32(nodeAddr))}));
    di.attach(*prog, {"skb"}, {true});
    ProgramInfo info;
    info.name = kUplinkProgram;
    info.attach = "tc-ingress-uplink";
    // First, so that the per-endpoint programs keep their order after it.
    out.programs.insert(out.programs.begin(), info);
  }
  if (generic) embedTables(*m, out.tables);
  di.finalize();
  std::vector<Function*> subprograms = {begin, finish, uplinkNew};
  if (genericDecide) subprograms.push_back(genericDecide);
  if (!emitObject(*m, target, library, subprograms, options, out, diags, object)) return out;
  out.compileMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

CompiledNode compileTierPrograms(const CompileOptions& options, Diagnostics& diags) {
  auto start = std::chrono::steady_clock::now();
  CompiledNode out;
  out.node = "first tier";
  out.datapath = DatapathMode::Generic;
  const std::string object = "The first tier's programs";
  llvm::LLVMContext ctx;
  std::string error;
  std::unique_ptr<llvm::Module> m = loadBitcode(
      ctx, llvm::StringRef(sluice_datapath_tier_bc, size_t(sluice_datapath_tier_bc_end - sluice_datapath_tier_bc)), error);
  if (!m) {
    diags.error({}, object, "", "cannot read the embedded datapath bitcode: " + error);
    return out;
  }
  m->setModuleIdentifier("sluice.tier");
  BpfTarget target(options.cpu);
  target.prepare(*m);
  std::vector<Function*> subprograms;
  for (const char* name : {"sluice_dp_begin", "sluice_dp_finish", "sluice_dp_uplink_new", "sluice_generic_decide"})
    if (Function* f = m->getFunction(name)) subprograms.push_back(f);
  const char* programs[] = {kTierUplink, kTierFromPod, kTierToPod};
  std::set<Function*> library;
  for (Function& f : *m)
    if (!f.isDeclaration() && !f.getName().starts_with("sluice_global_") &&
        std::none_of(std::begin(programs), std::end(programs), [&](const char* p) { return f.getName() == p; }))
      library.insert(&f);
  for (const char* name : programs) {
    if (!m->getFunction(name) || subprograms.size() != 4) {
      diags.error({}, object, "", "the embedded datapath bitcode lacks its entry points (a build problem)");
      return out;
    }
    ProgramInfo info;
    info.name = name;
    info.direction = name == std::string(kTierFromPod) ? ir::Direction::Egress : ir::Direction::Ingress;
    info.attach = name == std::string(kTierUplink)    ? "tc-ingress-uplink"
                  : name == std::string(kTierFromPod) ? "tc-ingress"
                                                      : "tc-egress";
    out.programs.push_back(info);
  }
  embedTables(*m, GenericTables{});
  if (!emitObject(*m, target, library, subprograms, options, out, diags, object)) return out;
  out.compileMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace sluice::codegen
