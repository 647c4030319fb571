#include "codegen/decision_codegen.h"

#include <fmt/format.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <tuple>

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
  ir::Direction direction;
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Type* i32 = llvm::Type::getInt32Ty(ctx);
  std::map<uint32_t, Function*> groupFunctions;

  // Large trees stay in functions of their own (never inlined): inlined, every
  // leaf's `ret` becomes an edge into one PHI node and LLVM's CFG
  // simplification turns quadratic in the number of leaves (minutes at 10,000
  // rules, measured). Small groups are emitted inline where they are used.
  static constexpr size_t kInlineLeaves = 64;
  Function* newFunction(const std::string& name, unsigned params, bool large = false, bool global = false) {
    auto* type = llvm::FunctionType::get(i32, std::vector<llvm::Type*>(params, i32), false);
    // Unique by construction: LLVM's own renaming appends ".1", which BTF refuses.
    std::string symbol = symbolName(name);
    for (int n = 2; m.getFunction(symbol); ++n) symbol = fmt::format("{}_{}", symbolName(name), n);
    Function* f = Function::Create(type, global ? Function::ExternalLinkage : Function::InternalLinkage, symbol, m);
    if (global) globals.push_back(f);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    if (large) f->addFnAttr(llvm::Attribute::NoInline);
    return f;
  }

  // Parameters are named when created: split-off subtrees copy the names, and
  // BTF refuses unnamed parameters ("Invalid arg#1").
  static void nameArgs(Function* f, const std::vector<std::string>& names) {
    for (unsigned i = 0; i < names.size(); ++i) f->getArg(i)->setName(names[i]);
  }

  // The kernel's BTF accepts only [A-Za-z0-9_] in function names; with any
  // other character it refuses the whole BTF and libbpf silently loads without
  // it (which also demotes global functions to static ones). '.' separators
  // in our names become "__".
  static std::string symbolName(const std::string& name) {
    std::string out;
    for (char c : name) {
      if (c == '.') out += "__";
      else out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    }
    return out;
  }

  // Binary search over sorted disjoint intervals of args[key]; `leaf(b, i,
  // args)` emits interval i's code at the builder (it must end the block).
  // Subtrees past kSplitLeaves move to functions of their own (BPF global
  // functions of scalars, verified once each), which keeps every function far
  // below the 32K-instruction reach of a BPF jump and the verifier's work per
  // function small.
  static constexpr size_t kSplitLeaves = 2048;
  using Leaf = std::function<void(IRBuilder<>&, size_t, const std::vector<Value*>&)>;
  template <typename Interval>
  void emitIntervalTree(Function* f, const std::vector<Value*>& args, size_t key,
                        const std::vector<Interval>& intervals, size_t lo, size_t hi, BasicBlock* at,
                        const Leaf& leaf, bool root = true) {
    IRBuilder<> b(at);
    if (lo == hi) {
      leaf(b, lo, args);
      return;
    }
    if (!root && hi - lo + 1 > kSplitLeaves) {
      std::vector<std::string> names;
      for (Value* a : args) names.push_back(a->getName().str());
      Function* sub = newFunction(fmt::format("{}_part{}", f->getName().str(), ++parts), unsigned(args.size()),
                                  /*large=*/true, /*global=*/true);
      std::vector<Value*> subArgs;
      for (unsigned i = 0; i < args.size(); ++i) {
        sub->getArg(i)->setName(names[i]);
        subArgs.push_back(sub->getArg(i));
      }
      emitIntervalTree(sub, subArgs, key, intervals, lo, hi, BasicBlock::Create(ctx, "entry", sub), leaf, true);
      di.attach(*sub, names, std::vector<bool>(names.size(), false));
      b.CreateRet(b.CreateCall(sub, args));
      return;
    }
    size_t mid = (lo + hi + 1) / 2;
    auto* left = BasicBlock::Create(ctx, "below", f);
    auto* right = BasicBlock::Create(ctx, "from", f);
    b.CreateCondBr(b.CreateICmpULT(args[key], b.getInt32(intervals[mid].first)), left, right);
    emitIntervalTree(f, args, key, intervals, lo, mid - 1, left, leaf, false);
    emitIntervalTree(f, args, key, intervals, mid, hi, right, leaf, false);
  }
  unsigned parts = 0;
  std::vector<Function*> globals;

  // The kernel refuses a call to a global function unless every argument is a
  // scalar it can see. LLVM's dead-argument elimination passes `poison` for a
  // parameter the callee ignores (e.g. an address tree without Cilium CIDRs
  // never reads `identity`), which leaves the register unset. A volatile store
  // of each parameter keeps them all live; it costs a few instructions on the
  // new-connection path only.
  void keepParametersLive() {
    for (Function* f : globals) {
      IRBuilder<> b(&*f->getEntryBlock().getFirstInsertionPt());
      auto* slot = b.CreateAlloca(llvm::ArrayType::get(i32, f->arg_size()), nullptr, "params");
      for (unsigned i = 0; i < f->arg_size(); ++i)
        b.CreateStore(f->getArg(i), b.CreateConstInBoundsGEP2_32(slot->getAllocatedType(), slot, 0, i), true);
      // Debug locations for the new instructions (BTF needs one on each).
      llvm::DebugLoc loc = f->getEntryBlock().getTerminator()->getDebugLoc();
      for (llvm::Instruction& inst : f->getEntryBlock())
        if (!inst.getDebugLoc()) inst.setDebugLoc(loc);
    }
  }

  std::string groupName(uint32_t g) {
    const RuleList& rules = plan.groups[g].rules;
    if (rules.size() == 1) return "rule." + policy.rules[rules[0] - 1].name;
    return fmt::format("rules.{}.and{}more", policy.rules[rules[0] - 1].name, rules.size() - 1);
  }

  // (proto, port) -> the group's first rule admitting it, or 0. A large tree is
  // a BPF global function: the verifier checks it once, on its own, however
  // many identities and addresses reach it (its arguments are plain scalars).
  Function* groupFunction(uint32_t g) {
    auto it = groupFunctions.find(g);
    if (it != groupFunctions.end()) return it->second;
    const L4Plan& l4 = plan.groups[g].l4;
    bool large = l4.leaves() > kInlineLeaves;
    Function* f = newFunction(base + "." + groupName(g), 2, large, large);
    groupFunctions[g] = f;
    nameArgs(f, {"proto", "port"});
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
      emitIntervalTree(f, {proto, port}, 1, intervals, 0, intervals.size() - 1, block,
                       [&](IRBuilder<>& lb, size_t i, const std::vector<Value*>&) {
                         lb.CreateRet(lb.getInt32(intervals[i].rule));
                       });
    }
    di.attach(*f, {"proto", "port"}, {false, false});
    return f;
  }

  // min over non-zero rule indices (0 = no rule).
  Value* firstRule(IRBuilder<>& b, Value* a, Value* c) {
    Value* am = b.CreateSub(a, b.getInt32(1));  // 0 -> 0xffffffff
    Value* cm = b.CreateSub(c, b.getInt32(1));
    return b.CreateAdd(b.CreateSelect(b.CreateICmpULT(am, cm), am, cm), b.getInt32(1));
  }

  // A small group's tree is emitted right where it is used (a function per
  // tiny group costs LLVM more than the tree itself); a large one is called.
  // Leaves the builder at the end of the emitted code.
  Value* evalGroup(IRBuilder<>& b, uint32_t g, Value* proto, Value* port) {
    const L4Plan& l4 = plan.groups[g].l4;
    if (l4.leaves() > kInlineLeaves) return b.CreateCall(groupFunction(g), {proto, port});
    Function* f = b.GetInsertBlock()->getParent();
    auto* done = BasicBlock::Create(ctx, groupName(g) + ".done", f);
    IRBuilder<> db(done);
    llvm::PHINode* phi = db.CreatePHI(i32, unsigned(l4.leaves()), groupName(g));
    auto* other = BasicBlock::Create(ctx, "other_protocols", f);
    llvm::SwitchInst* sw = b.CreateSwitch(proto, other, unsigned(l4.byProto.size()));
    IRBuilder<>(other).CreateBr(done);
    phi->addIncoming(b.getInt32(l4.anyRule), other);
    for (const auto& [protoNumber, intervals] : l4.byProto) {
      auto* block = BasicBlock::Create(ctx, fmt::format("proto{}", protoNumber), f);
      sw->addCase(b.getInt32(protoNumber), block);
      emitIntervalTree(f, {proto, port}, 1, intervals, 0, intervals.size() - 1, block,
                       [&](IRBuilder<>& lb, size_t i, const std::vector<Value*>&) {
                         phi->addIncoming(lb.getInt32(intervals[i].rule), lb.GetInsertBlock());
                         lb.CreateBr(done);
                       });
    }
    b.SetInsertPoint(done);
    return phi;
  }

  Value* callGroups(IRBuilder<>& b, const GroupList& groups, Value* proto, Value* port) {
    Value* best = nullptr;
    for (uint32_t g : groups) {
      Value* r = evalGroup(b, g, proto, port);
      best = best ? firstRule(b, best, r) : r;
    }
    return best ? best : b.getInt32(0);
  }

  std::string groupsName(const GroupList& groups) {
    if (groups.empty()) return "no_rule";
    return "admit." + groupName(groups.front()) + (groups.size() > 1 ? fmt::format(".and{}more", groups.size() - 1) : "");
  }

  // identity -> first rule admitting (identity, proto, port), or 0.
  Function* identityMatcher(const MatcherPlan& mp, const std::string& name) {
    bool large = mp.byIdentity.size() > kInlineLeaves;
    Function* f = newFunction(name, 3, large, large);
    Value *identity = f->getArg(0), *proto = f->getArg(1), *port = f->getArg(2);
    auto* entry = BasicBlock::Create(ctx, "entry", f);
    auto* other = BasicBlock::Create(ctx, "other_identities", f);
    IRBuilder<> b(entry);
    llvm::SwitchInst* sw = b.CreateSwitch(identity, other, unsigned(mp.byIdentity.size()));
    {
      IRBuilder<> ob(other);
      ob.CreateRet(callGroups(ob, mp.otherClusterIdentity, proto, port));
    }
    // One block per distinct group list; identities sharing a list share it.
    std::map<GroupList, BasicBlock*> blocks;
    for (const auto& [id, list] : mp.byIdentity) {
      BasicBlock*& block = blocks[list];
      if (!block) {
        block = BasicBlock::Create(ctx, groupsName(list), f);
        IRBuilder<> lb(block);
        lb.CreateRet(callGroups(lb, list, proto, port));
      }
      sw->addCase(b.getInt32(id), block);
    }
    di.attach(*f, {"identity", "proto", "port"}, {false, false, false});
    return f;
  }

  // address -> first rule admitting it (by CIDR or per-pod address), or 0.
  Function* addressMatcher(const MatcherPlan& mp, const std::string& name) {
    // Global when large: a static subprogram is re-verified in its caller's
    // context for every identity case that reaches it (1M+ instructions at
    // 10,000 rules, measured); a global one is verified once.
    bool large = mp.addresses.size() > kInlineLeaves;
    Function* f = newFunction(name, 4, large, large);
    nameArgs(f, {"identity", "addr", "proto", "port"});
    Value *identity = f->getArg(0), *addr = f->getArg(1), *proto = f->getArg(2), *port = f->getArg(3);
    auto* entry = BasicBlock::Create(ctx, "entry", f);
    const auto& ivs = mp.addresses;
    // Many intervals admit the same groups (every prefix of one big CIDR
    // list, every gap between them): their leaves branch to one shared block
    // per function, so each group's code is emitted once there, not once per
    // interval — inlined per leaf, 5,000 prefixes × 20 ports took LLVM minutes.
    std::map<std::tuple<Function*, GroupList, GroupList>, BasicBlock*> shared;
    emitIntervalTree(f, {identity, addr, proto, port}, 1, ivs, 0, ivs.size() - 1, entry,
                     [&](IRBuilder<>& lb, size_t i, const std::vector<Value*>& a) {
      Value *identity = a[0], *proto = a[2], *port = a[3];
      Function* f = lb.GetInsertBlock()->getParent();
      const AddressInterval& iv = ivs[i];
      BasicBlock*& target = shared[{f, iv.groups, iv.worldGroups}];
      if (target) {
        lb.CreateBr(target);
        return;
      }
      target = BasicBlock::Create(ctx, groupsName(iv.groups) + (iv.worldGroups.empty() ? "" : ".or_world"), f);
      lb.CreateBr(target);
      IRBuilder<> tb(target);
      if (iv.worldGroups.empty()) {
        tb.CreateRet(callGroups(tb, iv.groups, proto, port));
        return;
      }
      // Cilium CIDR rules admit the address only when it is outside the cluster.
      GroupList both = iv.groups;
      both.insert(both.end(), iv.worldGroups.begin(), iv.worldGroups.end());
      std::sort(both.begin(), both.end());
      auto* world = BasicBlock::Create(ctx, "world", f);
      auto* cluster = BasicBlock::Create(ctx, "in_cluster", f);
      tb.CreateCondBr(tb.CreateICmpEQ(identity, tb.getInt32(ir::reserved::kWorld)), world, cluster);
      IRBuilder<> wb(world);
      wb.CreateRet(callGroups(wb, both, proto, port));
      IRBuilder<> cb(cluster);
      cb.CreateRet(callGroups(cb, iv.groups, proto, port));
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
    return firstRule(b, byIdentity, byAddress);
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
    if (direction == ir::Direction::Ingress && plan.isolated) {
      auto* ownNode = BasicBlock::Create(ctx, "from_own_node", f);
      auto* rest = BasicBlock::Create(ctx, "policy", f);
      nb.CreateCondBr(nb.CreateICmpEQ(identity, nb.getInt32(ir::reserved::kHost)), ownNode, rest);
      IRBuilder<>(ownNode).CreateRet(nb.getInt32(SLUICE_DECISION(SLUICE_DECIDE_ALLOW_OWN_NODE, 0)));
      nb.SetInsertPoint(rest);
    }
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
                       const DirectionPlan& plan, ir::Direction direction) {
  Emitter e{m, di, policy, plan, name, direction};
  Function* f = e.emit();
  e.keepParametersLive();
  return f;
}

}  // namespace sluice::codegen
