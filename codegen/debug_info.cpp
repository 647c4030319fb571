#include "codegen/debug_info.h"

#include <llvm/IR/DIBuilder.h>
#include <llvm/IR/DebugInfo.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Module.h>

#include <stdexcept>

namespace sluice::codegen {

DebugInfo::DebugInfo(llvm::Module& m) : m_(m) {
  if (m.debug_compile_units_begin() == m.debug_compile_units_end())
    throw std::runtime_error("datapath bitcode has no debug info: it must be compiled with -g");
  cu_ = *m.debug_compile_units_begin();
  dib_ = std::make_unique<llvm::DIBuilder>(m, true, cu_);
  file_ = dib_->createFile("sluice-generated.c", "/");
  u32_ = dib_->createBasicType("unsigned int", 32, llvm::dwarf::DW_ATE_unsigned);
  ptr_ = dib_->createPointerType(nullptr, 64);
}

DebugInfo::~DebugInfo() = default;

void DebugInfo::attach(llvm::Function& f, const std::vector<std::string>& paramNames,
                       const std::vector<bool>& isPointer) {
  std::vector<llvm::Metadata*> types = {u32_};
  for (size_t i = 0; i < paramNames.size(); ++i) types.push_back(isPointer[i] ? ptr_ : u32_);
  auto* fnType = dib_->createSubroutineType(dib_->getOrCreateTypeArray(types));
  unsigned line = nextLine_;
  bool local = f.hasLocalLinkage();
  auto flags = llvm::DISubprogram::SPFlagDefinition | llvm::DISubprogram::SPFlagOptimized;
  if (local) flags |= llvm::DISubprogram::SPFlagLocalToUnit;
  llvm::DISubprogram* sp = dib_->createFunction(file_, f.getName(), f.getName(), file_, line, fnType, line,
                                                llvm::DINode::FlagPrototyped, flags);
  f.setSubprogram(sp);
  for (size_t i = 0; i < paramNames.size(); ++i) {
    f.getArg(unsigned(i))->setName(paramNames[i]);
    dib_->createParameterVariable(sp, paramNames[i], unsigned(i + 1), file_, line, isPointer[i] ? ptr_ : u32_,
                                  /*AlwaysPreserve=*/true);
  }
  for (llvm::BasicBlock& bb : f)
    for (llvm::Instruction& inst : bb) inst.setDebugLoc(llvm::DILocation::get(m_.getContext(), nextLine_++, 0, sp));
  dib_->finalizeSubprogram(sp);
}

void DebugInfo::finalize() { dib_->finalize(); }

}  // namespace sluice::codegen
