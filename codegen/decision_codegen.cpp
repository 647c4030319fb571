#include "codegen/decision_codegen.h"

#include <fmt/format.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <functional>
#include <map>

#include "codegen/datapath/sluice_abi.h"
#include "codegen/debug_info.h"

namespace sluice::codegen {
namespace {

using llvm::BasicBlock;
using llvm::Function;
using llvm::IRBuilder;
using llvm::Value;

struct Emitter {
  llvm::Module& m;
  DebugInfo& di;
  const ir::DirectionPolicy& policy;
  const DirectionPlan& plan;
  std::string base;
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Type* i32 = llvm::Type::getInt32Ty(ctx);
  std::map<RuleList, Function*> l4Functions;

  Function* newFunction(const std::string& name, unsigned params) {
    auto* type = llvm::FunctionType::get(i32, std::vector<llvm::Type*>(params, i32), false);
    Function* f = Function::Create(type, Function::InternalLinkage, name, m);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    return f;
  }

  // Binary search over sorted disjoint intervals of `value`; `leaf(i)` emits
  // the code for interval i at the builder's insertion point (it must end the block).
  template <typename Interval>
  void emitIntervalTree(Function* f, Value* value, const std::vector<Interval>& intervals, size_t lo, size_t hi,
                        BasicBlock* at, const std::function<void(IRBuilder<>&, size_t)>& leaf) {
    IRBuilder<> b(at);
    if (lo == hi) {
      leaf(b, lo);
      return;
    }
    size_t mid = (lo + hi + 1) / 2;
    auto* left = BasicBlock::Create(ctx, "below", f);
    auto* right = BasicBlock::Create(ctx, "from", f);
    b.CreateCondBr(b.CreateICmpULT(value, b.getInt32(intervals[mid].first)), left, right);
    emitIntervalTree(f, value, intervals, lo, mid - 1, left, leaf);
    emitIntervalTree(f, value, intervals, mid, hi, right, leaf);
  }

  std::string listName(const RuleList& list) {
    if (list.size() == 1) return "rule." + policy.rules[list[0] - 1].name;
    return fmt::format("rules.{}+{}", policy.rules[list[0] - 1].name, list.size() - 1);
  }

  // (proto, port) -> first rule of `list` admitting it, or 0.
  Function* l4Function(const RuleList& list) {
    auto it = l4Functions.find(list);
    if (it != l4Functions.end()) return it->second;
    Function* f = newFunction(listName(list), 2);
    l4Functions[list] = f;
    const L4Plan& l4 = plan.l4.at(list);
    Value* proto = f->getArg(0);
    Value* port = f->getArg(1);
    auto* entry = BasicBlock::Create(ctx, "entry", f);
    IRBuilder<> b(entry);
    auto* other = BasicBlock::Create(ctx, "other_protocols", f);
    llvm::SwitchInst* sw = b.CreateSwitch(proto, other, unsigned(l4.byProto.size()));
    IRBuilder<>(other).CreateRet(b.getInt32(l4.anyRule));
    for (const auto& [protoNumber, intervals] : l4.byProto) {
      auto* block = BasicBlock::Create(ctx, fmt::format("proto{}", protoNumber), f);
      sw->addCase(b.getInt32(protoNumber), block);
      emitIntervalTree(f, port, intervals, 0, intervals.size() - 1, block,
                       [&](IRBuilder<>& lb, size_t i) { lb.CreateRet(lb.getInt32(intervals[i].rule)); });
    }
    di.attach(*f, {"proto", "port"}, {false, false});
    return f;
  }

  Value* callL4(IRBuilder<>& b, const RuleList& list, Value* proto, Value* port) {
    if (list.empty()) return b.getInt32(0);
    return b.CreateCall(l4Function(list), {proto, port});
  }

  // identity -> first rule admitting (identity, proto, port), or 0.
  Function* identityMatcher(const MatcherPlan& mp, const std::string& name) {
    Function* f = newFunction(name, 3);
    Value *identity = f->getArg(0), *proto = f->getArg(1), *port = f->getArg(2);
    auto* entry = BasicBlock::Create(ctx, "entry", f);
    auto* other = BasicBlock::Create(ctx, "other_identities", f);
    IRBuilder<> b(entry);
    llvm::SwitchInst* sw = b.CreateSwitch(identity, other, unsigned(mp.byIdentity.size()));
    {
      IRBuilder<> ob(other);
      ob.CreateRet(callL4(ob, mp.otherClusterIdentity, proto, port));
    }
    // One block per distinct rule list; identities sharing a list share it.
    std::map<RuleList, BasicBlock*> blocks;
    for (const auto& [id, list] : mp.byIdentity) {
      BasicBlock*& block = blocks[list];
      if (!block) {
        block = BasicBlock::Create(ctx, list.empty() ? "no_rule" : "admit." + listName(list), f);
        IRBuilder<> lb(block);
        lb.CreateRet(callL4(lb, list, proto, port));
      }
      sw->addCase(b.getInt32(id), block);
    }
    di.attach(*f, {"identity", "proto", "port"}, {false, false, false});
    return f;
  }

  // address -> first rule admitting it (by CIDR or per-pod address), or 0.
  Function* addressMatcher(const MatcherPlan& mp, const std::string& name) {
    Function* f = newFunction(name, 4);
    Value *identity = f->getArg(0), *addr = f->getArg(1), *proto = f->getArg(2), *port = f->getArg(3);
    auto* entry = BasicBlock::Create(ctx, "entry", f);
    const auto& ivs = mp.addresses;
    emitIntervalTree(f, addr, ivs, 0, ivs.size() - 1, entry, [&](IRBuilder<>& lb, size_t i) {
      const AddressInterval& iv = ivs[i];
      if (iv.worldRules.empty()) {
        lb.CreateRet(callL4(lb, iv.rules, proto, port));
        return;
      }
      // Cilium CIDR rules admit the address only when it is outside the cluster.
      RuleList both = iv.rules;
      both.insert(both.end(), iv.worldRules.begin(), iv.worldRules.end());
      std::sort(both.begin(), both.end());
      auto* world = BasicBlock::Create(ctx, "world", f);
      auto* cluster = BasicBlock::Create(ctx, "in_cluster", f);
      lb.CreateCondBr(lb.CreateICmpEQ(identity, lb.getInt32(ir::reserved::kWorld)), world, cluster);
      IRBuilder<> wb(world);
      wb.CreateRet(callL4(wb, both, proto, port));
      IRBuilder<> cb(cluster);
      cb.CreateRet(callL4(cb, iv.rules, proto, port));
    });
    di.attach(*f, {"identity", "addr", "proto", "port"}, {false, false, false, false});
    return f;
  }

  // The first rule (lowest index) that either matcher finds, or 0.
  Value* match(IRBuilder<>& b, const MatcherPlan& mp, const std::string& name, Value* identity, Value* addr,
               Value* proto, Value* port) {
    if (mp.empty()) return b.getInt32(0);
    Value* byIdentity = b.CreateCall(identityMatcher(mp, name + ".identity"), {identity, proto, port});
    if (mp.addresses.empty()) return byIdentity;
    Value* byAddress = b.CreateCall(addressMatcher(mp, name + ".address"), {identity, addr, proto, port});
    // min over non-zero: treat 0 as "no rule" (largest).
    Value* a = b.CreateSub(byIdentity, b.getInt32(1));  // 0 -> 0xffffffff
    Value* c = b.CreateSub(byAddress, b.getInt32(1));
    return b.CreateAdd(b.CreateSelect(b.CreateICmpULT(a, c), a, c), b.getInt32(1));
  }

  Function* emit() {
    Function* f = newFunction(base, 4);
    Value *identity = f->getArg(0), *addr = f->getArg(1), *proto = f->getArg(2), *port = f->getArg(3);
    auto* entry = BasicBlock::Create(ctx, "entry", f);
    IRBuilder<> b(entry);
    // Deny rules win over any allow, isolated or not (Cilium deny policies).
    Value* deny = match(b, plan.deny, base + ".deny", identity, addr, proto, port);
    auto* denied = BasicBlock::Create(ctx, "denied", f);
    auto* notDenied = BasicBlock::Create(ctx, "not_denied", f);
    b.CreateCondBr(b.CreateICmpNE(deny, b.getInt32(0)), denied, notDenied);
    {
      IRBuilder<> db(denied);
      db.CreateRet(db.CreateOr(deny, db.getInt32(SLUICE_DECISION(SLUICE_DECIDE_DENY_RULE, 0))));
    }
    IRBuilder<> nb(notDenied);
    if (!plan.isolated) {
      nb.CreateRet(nb.getInt32(SLUICE_DECISION(SLUICE_DECIDE_ALLOW_UNISOLATED, 0)));
    } else {
      Value* allow = match(nb, plan.allow, base + ".allow", identity, addr, proto, port);
      Value* allowed = nb.CreateOr(allow, nb.getInt32(SLUICE_DECISION(SLUICE_DECIDE_ALLOW_RULE, 0)));
      nb.CreateRet(nb.CreateSelect(nb.CreateICmpNE(allow, nb.getInt32(0)), allowed,
                                   nb.getInt32(SLUICE_DECISION(SLUICE_DECIDE_DENY_DEFAULT, 0))));
    }
    di.attach(*f, {"identity", "addr", "proto", "port"}, {false, false, false, false});
    return f;
  }
};

}  // namespace

Function* emitDecision(llvm::Module& m, DebugInfo& di, const std::string& name, const ir::DirectionPolicy& policy,
                       const DirectionPlan& plan) {
  Emitter e{m, di, policy, plan, name};
  return e.emit();
}

}  // namespace sluice::codegen
