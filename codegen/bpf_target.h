// The BPF backend: target machine, O2, object emission. The only file that
// includes LLVM's PassBuilder/TargetMachine headers (each such file costs
// 6–9 s to compile here).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace llvm {
class Module;
class TargetMachine;
}  // namespace llvm

namespace sluice::codegen {

class BpfTarget {
 public:
  // cpu: "v3" (kernels >= 5.1) or "v4" (>= 6.6: long jumps, needed past 32K instructions).
  explicit BpfTarget(const std::string& cpu);
  ~BpfTarget();

  // Sets the module's triple and data layout; call before building IR.
  void prepare(llvm::Module& m) const;
  // The new pass manager's O2 pipeline.
  void optimize(llvm::Module& m) const;
  // Emits an ELF object. Returns false with `error` set instead of aborting the
  // process when LLVM hits a fatal error (e.g. jumps too long for cpu v3).
  bool emitObject(llvm::Module& m, std::vector<char>& out, std::string& error) const;

 private:
  std::unique_ptr<llvm::TargetMachine> tm_;
};

}  // namespace sluice::codegen
