// Debug info for generated functions. libbpf needs BTF, which LLVM derives
// from debug info; every function needs a DISubprogram with named parameters
// and every instruction a location, or the kernel rejects the BTF and libbpf
// silently loads without it (TOOLCHAIN.md). Attach after building a function.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace llvm {
class DIBuilder;
class DICompileUnit;
class DIFile;
class DIType;
class Function;
class Module;
}  // namespace llvm

namespace sluice::codegen {

class DebugInfo {
 public:
  // Reuses the module's compile unit (the datapath library's).
  explicit DebugInfo(llvm::Module& m);
  ~DebugInfo();

  // Gives `f` a subprogram (source "<node>.gen", a line per instruction) and
  // names its parameters. Parameters are u32 except those listed as pointers.
  void attach(llvm::Function& f, const std::vector<std::string>& paramNames, const std::vector<bool>& isPointer);
  void finalize();

 private:
  llvm::Module& m_;
  std::unique_ptr<llvm::DIBuilder> dib_;
  llvm::DICompileUnit* cu_ = nullptr;
  llvm::DIFile* file_ = nullptr;
  llvm::DIType* u32_ = nullptr;
  llvm::DIType* ptr_ = nullptr;
  unsigned nextLine_ = 1;
};

}  // namespace sluice::codegen
