#include "codegen/bpf_target.h"

#include <llvm/ADT/SmallVector.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/CrashRecoveryContext.h>
#include <llvm/Support/ErrorHandling.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <cstdlib>
#include <string>
#include <vector>
#include <stdexcept>

extern "C" {
// Only the BPF target is linked in; InitializeAllTargets() would need them all.
void LLVMInitializeBPFTargetInfo();
void LLVMInitializeBPFTarget();
void LLVMInitializeBPFTargetMC();
void LLVMInitializeBPFAsmPrinter();
void LLVMInitializeBPFAsmParser();  // the datapath has a line of inline asm (datapath_nat.h)
}

namespace sluice::codegen {

static const char* kTriple = "bpfel";

BpfTarget::BpfTarget(const std::string& cpu) {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeBPFTargetInfo();
    LLVMInitializeBPFTarget();
    LLVMInitializeBPFTargetMC();
    LLVMInitializeBPFAsmPrinter();
    LLVMInitializeBPFAsmParser();
    // For diagnosing the compiler itself: SLUICE_LLVM_ARGS="-time-passes" etc.
    if (const char* args = std::getenv("SLUICE_LLVM_ARGS")) {
      static std::vector<std::string> words{"sluice"};
      std::string w;
      for (const char* c = args;; ++c) {
        if (*c == ' ' || *c == 0) {
          if (!w.empty()) words.push_back(w);
          w.clear();
          if (!*c) break;
        } else {
          w += *c;
        }
      }
      static std::vector<const char*> argv;
      for (const auto& x : words) argv.push_back(x.c_str());
      llvm::cl::ParseCommandLineOptions(int(argv.size()), argv.data());
    }
  });
  std::string err;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(kTriple, err);
  if (!target) throw std::runtime_error("LLVM has no BPF target: " + err);
  llvm::TargetOptions options;
  tm_.reset(target->createTargetMachine(kTriple, cpu, "", options, llvm::Reloc::PIC_, std::nullopt,
                                        llvm::CodeGenOptLevel::Aggressive));
  if (!tm_) throw std::runtime_error("cannot create a BPF target machine for cpu " + cpu);
}

BpfTarget::~BpfTarget() = default;

void BpfTarget::prepare(llvm::Module& m) const {
  m.setTargetTriple(kTriple);
  m.setDataLayout(tm_->createDataLayout());
}

void BpfTarget::optimize(llvm::Module& m) const {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(tm_.get());
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
  mpm.run(m, mam);
}

bool BpfTarget::emitObject(llvm::Module& m, std::vector<char>& out, std::string& error) const {
  std::string verifyErrors;
  llvm::raw_string_ostream vs(verifyErrors);
  if (llvm::verifyModule(m, &vs)) {
    error = "generated LLVM IR is invalid (a sluice bug): " + vs.str();
    return false;
  }
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;  // LLVM 19's code generator still runs on the legacy pass manager
  if (tm_->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    error = "the BPF target cannot emit object files";
    return false;
  }
  // The BPF backend reports some limits (e.g. a jump past 32K instructions with
  // cpu v3) with report_fatal_error, which aborts: contain it. Recovery is per
  // thread (the abort's signal is taken on the thread that raised it, which
  // unwinds to its own context), so nodes can be emitted on several threads
  // at once (sluice compile --jobs).
  llvm::CrashRecoveryContext::Enable();
  llvm::CrashRecoveryContext crc;
  bool ok = crc.RunSafely([&] { pm.run(m); });
  if (!ok) {
    error = "LLVM's BPF backend stopped with a fatal error (see above); try --cpu v4 for programs past 32K "
            "instructions";
    return false;
  }
  out.assign(buffer.begin(), buffer.end());
  return true;
}

}  // namespace sluice::codegen
