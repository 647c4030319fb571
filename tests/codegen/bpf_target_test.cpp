// BpfTarget::emitObject contains LLVM's fatal errors (report_fatal_error
// aborts) per call: `sluice compile --jobs` emits nodes on several threads at
// once, so one node's failure must come back as an error from that call only,
// while the others, on other threads, still produce their objects.
#include <gtest/gtest.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "codegen/bpf_target.h"

namespace sluice::codegen {
namespace {

// A tc-style program `long prog(long x)` whose conditional branch jumps over
// `stores` volatile stores: past 32K instructions, cpu v3's 16-bit jump
// offsets cannot reach (LLVM's BPF backend stops with a fatal error), while
// v4 rewrites the jump.
std::unique_ptr<llvm::Module> programJumpingOver(llvm::LLVMContext& ctx, const BpfTarget& target, int stores) {
  auto m = std::make_unique<llvm::Module>("jump", ctx);
  target.prepare(*m);
  llvm::IRBuilder<> b(ctx);
  auto* i64 = b.getInt64Ty();
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(i64, {i64}, false), llvm::Function::ExternalLinkage,
                                    "prog", *m);
  fn->setSection("tc");
  auto* entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  auto* body = llvm::BasicBlock::Create(ctx, "body", fn);
  auto* done = llvm::BasicBlock::Create(ctx, "done", fn);
  b.SetInsertPoint(entry);
  llvm::Value* slot = b.CreateAlloca(i64);
  b.CreateCondBr(b.CreateICmpEQ(fn->getArg(0), b.getInt64(0)), done, body);
  b.SetInsertPoint(body);
  for (int i = 0; i < stores; ++i) b.CreateStore(b.getInt64(i), slot, /*isVolatile=*/true);
  b.CreateBr(done);
  b.SetInsertPoint(done);
  b.CreateRet(b.getInt64(0));
  return m;
}

struct Emitted {
  bool ok = false;
  size_t bytes = 0;
  std::string error;
};

Emitted emit(const std::string& cpu, int stores) {
  BpfTarget target(cpu);
  llvm::LLVMContext ctx;
  auto m = programJumpingOver(ctx, target, stores);
  std::vector<char> elf;
  Emitted e;
  e.ok = target.emitObject(*m, elf, e.error);
  e.bytes = elf.size();
  return e;
}

TEST(BpfTarget, AJumpPast32KInstructionsFailsWithV3AndIsEmittedWithV4) {
  Emitted v3 = emit("v3", 40000);
  EXPECT_FALSE(v3.ok);
  EXPECT_NE(v3.error.find("--cpu v4"), std::string::npos) << v3.error;
  EXPECT_EQ(v3.bytes, 0u);
  Emitted v4 = emit("v4", 40000);
  EXPECT_TRUE(v4.ok) << v4.error;
  EXPECT_GT(v4.bytes, 40000u * 8) << "every store is an 8-byte instruction";
  Emitted small = emit("v3", 100);
  EXPECT_TRUE(small.ok) << small.error;
}

// Failures and successes on four threads at once, twice over: each call gets
// its own outcome, and a contained failure leaves the process able to go on.
TEST(BpfTarget, FatalErrorsAreContainedPerThread) {
  for (int round = 0; round < 2; ++round) {
    std::vector<Emitted> results(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&results, t] { results[t] = emit(t % 2 == 0 ? "v3" : "v4", 40000); });
    for (auto& t : threads) t.join();
    for (int t = 0; t < 4; ++t) {
      SCOPED_TRACE("round " + std::to_string(round) + ", thread " + std::to_string(t));
      if (t % 2 == 0) {
        EXPECT_FALSE(results[t].ok);
        EXPECT_NE(results[t].error.find("fatal error"), std::string::npos) << results[t].error;
      } else {
        EXPECT_TRUE(results[t].ok) << results[t].error;
        EXPECT_GT(results[t].bytes, 40000u * 8);
      }
    }
  }
}

}  // namespace
}  // namespace sluice::codegen
