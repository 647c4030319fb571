#include "codegen/l7/dfa.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "base/text.h"

namespace sluice::l7 {
namespace {

// ---- UTF-8: code point ranges as byte-range sequences -------------------

struct ByteSeq {
  uint8_t length = 0;
  std::array<uint8_t, 4> lo{}, hi{};
};

uint8_t encodeRune(uint32_t c, std::array<uint8_t, 4>& out) {
  // The generic encoding, surrogates included (RE2 encodes what the class holds).
  if (c < 0x80) {
    out[0] = uint8_t(c);
    return 1;
  }
  if (c < 0x800) {
    out[0] = uint8_t(0xC0 | c >> 6);
    out[1] = uint8_t(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = uint8_t(0xE0 | c >> 12);
    out[1] = uint8_t(0x80 | (c >> 6 & 0x3F));
    out[2] = uint8_t(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = uint8_t(0xF0 | c >> 18);
  out[1] = uint8_t(0x80 | (c >> 12 & 0x3F));
  out[2] = uint8_t(0x80 | (c >> 6 & 0x3F));
  out[3] = uint8_t(0x80 | (c & 0x3F));
  return 4;
}

// Exact UTF-8 sequences for [lo, hi]: split where the encoded length
// changes, then until every byte position is a plain range.
void preciseSequences(uint32_t lo, uint32_t hi, std::vector<ByteSeq>& out) {
  static constexpr uint32_t kLastOfLength[] = {0x7F, 0x7FF, 0xFFFF};
  for (uint32_t last : kLastOfLength)
    if (lo <= last && hi > last) {
      preciseSequences(lo, last, out);
      preciseSequences(last + 1, hi, out);
      return;
    }
  ByteSeq s;
  std::array<uint8_t, 4> a, b;
  s.length = encodeRune(lo, a);
  encodeRune(hi, b);
  for (uint32_t i = 1; i < s.length; ++i) {
    uint32_t m = (1u << (6 * i)) - 1;  // the bits of the last i bytes
    if ((lo & ~m) == (hi & ~m)) continue;
    if ((lo & m) != 0) {
      preciseSequences(lo, lo | m, out);
      preciseSequences((lo | m) + 1, hi, out);
      return;
    }
    if ((hi & m) != m) {
      preciseSequences(lo, (hi & ~m) - 1, out);
      preciseSequences(hi & ~m, hi, out);
      return;
    }
  }
  s.lo = a;
  s.hi = b;
  out.push_back(s);
}

// The byte sequences RE2 compiles a set of code points to (compile.cc): each
// range exactly, except that the whole non-ASCII range U+0080..U+10FFFF (in
// `.`, `[^a]`, \D...) becomes any lead byte C2-F4 followed by the right
// number of continuation bytes 80-BF (overlong E0/F0 forms and F4 forms
// above U+10FFFF included).
std::vector<ByteSeq> utf8Sequences(const std::vector<RegexRange>& ranges) {
  std::vector<ByteSeq> out;
  for (const auto& r : ranges) {
    if (r.lo < 0x80) {
      ByteSeq s;
      s.length = 1;
      s.lo[0] = uint8_t(r.lo);
      s.hi[0] = uint8_t(std::min<uint32_t>(r.hi, 0x7F));
      out.push_back(s);
      if (r.hi < 0x80) continue;
    }
    uint32_t lo = std::max<uint32_t>(r.lo, 0x80);
    if (lo == 0x80 && r.hi == 0x10FFFF) {
      static constexpr uint8_t kLead[3][2] = {{0xC2, 0xDF}, {0xE0, 0xEF}, {0xF0, 0xF4}};
      for (int n = 0; n < 3; ++n) {
        ByteSeq s;
        s.length = uint8_t(n + 2);
        s.lo[0] = kLead[n][0];
        s.hi[0] = kLead[n][1];
        for (int k = 1; k < s.length; ++k) s.lo[k] = 0x80, s.hi[k] = 0xBF;
        out.push_back(s);
      }
      continue;
    }
    preciseSequences(lo, r.hi, out);
  }
  return out;
}

// ---- Thompson NFA ---------------------------------------------------------

struct ByteEdge {
  uint8_t lo, hi;
  uint32_t to;
};

struct NfaState {
  std::vector<ByteEdge> bytes;
  std::vector<uint32_t> eps;
  std::vector<uint32_t> atBegin;  // taken only at the start of the input
  std::vector<uint32_t> atEnd;    // taken only at the end of the input
  uint64_t accept = 0;
};

struct Nfa {
  std::vector<NfaState> states;
  uint32_t start = 0;

  uint32_t add() {
    states.emplace_back();
    return uint32_t(states.size() - 1);
  }

  // Builds `node` from state `from`; returns the fragment's end, a new
  // state with no edges yet.
  uint32_t build(const Regex& re, uint32_t idx, uint32_t from) {
    const RegexNode& n = re.nodes[idx];
    switch (n.op) {
      case RegexOp::Empty: {
        uint32_t to = add();
        states[from].eps.push_back(to);
        return to;
      }
      case RegexOp::BeginText:
      case RegexOp::EndText: {
        uint32_t to = add();
        (n.op == RegexOp::BeginText ? states[from].atBegin : states[from].atEnd).push_back(to);
        return to;
      }
      case RegexOp::Bytes: {
        uint32_t to = add();
        for (const auto& r : n.ranges)
          states[from].bytes.push_back({uint8_t(r.lo), uint8_t(r.hi), to});
        return to;
      }
      case RegexOp::Chars: {
        uint32_t to = add();
        for (const ByteSeq& s : utf8Sequences(n.ranges)) {
          uint32_t at = from;
          for (int k = 0; k < s.length; ++k) {
            uint32_t next = k + 1 == s.length ? to : add();
            states[at].bytes.push_back({s.lo[k], s.hi[k], next});
            at = next;
          }
        }
        return to;
      }
      case RegexOp::Concat: {
        uint32_t at = from;
        for (uint32_t s : n.subs) at = build(re, s, at);
        return at;
      }
      case RegexOp::Alternate: {
        uint32_t to = add();
        for (uint32_t s : n.subs) {
          uint32_t in = add();
          states[from].eps.push_back(in);
          uint32_t out = build(re, s, in);
          states[out].eps.push_back(to);
        }
        return to;
      }
      case RegexOp::Repeat: {
        uint32_t sub = n.subs[0];
        uint32_t at = from;
        if (n.max < 0) {
          // x{m,}: m-1 copies, then x+ (one copy looping back); x*: a loop.
          for (int i = 0; i + 1 < n.min; ++i) at = build(re, sub, at);
          uint32_t loop = add();
          states[at].eps.push_back(loop);
          uint32_t out = build(re, sub, loop);
          states[out].eps.push_back(loop);
          uint32_t to = add();
          states[n.min == 0 ? loop : out].eps.push_back(to);
          return to;
        }
        // x{m,n}: m copies, then n-m optional ones, each skipping to the end.
        for (int i = 0; i < n.min; ++i) at = build(re, sub, at);
        std::vector<uint32_t> skips;
        for (int i = n.min; i < n.max; ++i) {
          skips.push_back(at);
          at = build(re, sub, at);
        }
        uint32_t to = add();
        states[at].eps.push_back(to);
        for (uint32_t s : skips) states[s].eps.push_back(to);
        return to;
      }
    }
    return from;
  }
};

Nfa buildNfa(std::span<const Regex> patterns) {
  Nfa nfa;
  nfa.start = nfa.add();
  for (size_t i = 0; i < patterns.size(); ++i) {
    const Regex& re = patterns[i];
    uint32_t in = nfa.add();
    nfa.states[nfa.start].eps.push_back(in);
    uint32_t out = re.nodes.empty() ? in : nfa.build(re, re.root, in);
    nfa.states[out].accept |= uint64_t(1) << i;
  }
  return nfa;
}

// ---- subset construction -----------------------------------------------

struct VectorHash {
  size_t operator()(const std::vector<uint32_t>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t x : v) h = (h ^ x) * 1099511628211ull;
    return size_t(h ^ (h >> 29));
  }
};

struct RawDfa {
  uint32_t classes = 0;             // the NFA's byte classes
  std::array<uint8_t, 256> classOf{};
  std::vector<uint32_t> next;       // states x classes
  std::vector<uint64_t> accept;
  uint32_t start = 0;               // state 0 is the dead state
  uint32_t size() const { return uint32_t(accept.size()); }
};

class SubsetBuilder {
 public:
  SubsetBuilder(const Nfa& nfa) : nfa_(nfa), mark_(nfa.states.size(), 0) {}

  // False if more than maxStates states are needed.
  bool run(RawDfa& dfa, uint32_t maxStates) {
    computeClasses(dfa);
    // State 0: the dead state (no NFA state).
    addState(dfa, 0);
    std::vector<uint32_t> seed = {nfa_.start};
    uint64_t startMask;
    startSet_ = closure(seed, true, startMask);
    dfa.start = addState(dfa, startMask);  // never shared with another state
    sets_.push_back(&startSet_);
    std::vector<std::vector<uint32_t>> targets(dfa.classes);
    for (uint32_t s = 1; s < dfa.size(); ++s) {
      if (dfa.size() > maxStates) return false;
      for (auto& t : targets) t.clear();
      for (uint32_t q : *sets_[s])
        for (const ByteEdge& e : nfa_.states[q].bytes)
          for (uint32_t c = dfa.classOf[e.lo]; c <= dfa.classOf[e.hi]; ++c)
            targets[c].push_back(e.to);
      for (uint32_t c = 0; c < dfa.classes; ++c) {
        uint32_t to = 0;
        if (!targets[c].empty()) {
          uint64_t mask;
          std::vector<uint32_t> set = closure(targets[c], false, mask);
          auto [it, fresh] = ids_.try_emplace(std::move(set), dfa.size());
          if (fresh) {
            addState(dfa, mask);
            sets_.push_back(&it->first);  // map nodes do not move
          }
          to = it->second;
        }
        dfa.next[size_t(s) * dfa.classes + c] = to;
      }
    }
    return dfa.size() <= maxStates;
  }

 private:
  const Nfa& nfa_;
  std::vector<uint32_t> mark_;
  uint32_t stamp_ = 0;
  // Per DFA state, its key: the start state's own, the others' in ids_.
  std::unordered_map<std::vector<uint32_t>, uint32_t, VectorHash> ids_ = {{{}, 0}};
  std::vector<uint32_t> startSet_;
  std::vector<const std::vector<uint32_t>*> sets_ = {&ids_.begin()->first};

  // Bytes no NFA edge tells apart share a class; classes are byte intervals.
  void computeClasses(RawDfa& dfa) {
    std::array<bool, 257> boundary{};
    boundary[0] = true;
    for (const NfaState& s : nfa_.states)
      for (const ByteEdge& e : s.bytes) boundary[e.lo] = boundary[e.hi + 1] = true;
    int c = -1;
    for (int b = 0; b < 256; ++b) {
      if (boundary[b]) ++c;
      dfa.classOf[b] = uint8_t(c);
    }
    dfa.classes = uint32_t(c + 1);
  }

  uint32_t addState(RawDfa& dfa, uint64_t mask) {
    dfa.accept.push_back(mask);
    dfa.next.resize(dfa.next.size() + dfa.classes, 0);
    return dfa.size() - 1;
  }

  // The epsilon closure of `seed` (and of the start-of-input edges when
  // `atStart`), keyed by the states that matter later: those with byte or
  // end-of-input edges, or accepting. `mask`: the patterns that match if
  // the input ends here (following end-of-input edges too).
  std::vector<uint32_t> closure(const std::vector<uint32_t>& seed, bool atStart, uint64_t& mask) {
    ++stamp_;
    std::vector<uint32_t> stack, all;
    for (uint32_t q : seed)
      if (mark_[q] != stamp_) mark_[q] = stamp_, stack.push_back(q);
    while (!stack.empty()) {
      uint32_t q = stack.back();
      stack.pop_back();
      all.push_back(q);
      auto follow = [&](const std::vector<uint32_t>& edges) {
        for (uint32_t r : edges)
          if (mark_[r] != stamp_) mark_[r] = stamp_, stack.push_back(r);
      };
      follow(nfa_.states[q].eps);
      if (atStart) follow(nfa_.states[q].atBegin);
    }
    // Acceptance at the end of the input: also through end-of-input edges.
    mask = 0;
    ++stamp_;
    for (uint32_t q : all)
      if (mark_[q] != stamp_) mark_[q] = stamp_, stack.push_back(q);
    while (!stack.empty()) {
      uint32_t q = stack.back();
      stack.pop_back();
      const NfaState& s = nfa_.states[q];
      mask |= s.accept;
      auto follow = [&](const std::vector<uint32_t>& edges) {
        for (uint32_t r : edges)
          if (mark_[r] != stamp_) mark_[r] = stamp_, stack.push_back(r);
      };
      follow(s.eps);
      follow(s.atEnd);
      if (atStart) follow(s.atBegin);
    }
    std::vector<uint32_t> key;
    for (uint32_t q : all) {
      const NfaState& s = nfa_.states[q];
      if (!s.bytes.empty() || !s.atEnd.empty() || s.accept) key.push_back(q);
    }
    std::sort(key.begin(), key.end());
    return key;
  }
};

// ---- Hopcroft minimization ------------------------------------------------

// Returns the block of every state; `blocks` receives their number. The
// initial partition separates accept masks.
std::vector<uint32_t> minimize(const RawDfa& dfa, uint32_t& blocks) {
  const uint32_t n = dfa.size(), k = dfa.classes;
  // Predecessors per (class, target), as CSR.
  std::vector<uint32_t> predStart(size_t(n) * k + 1, 0), preds(size_t(n) * k);
  for (uint32_t s = 0; s < n; ++s)
    for (uint32_t c = 0; c < k; ++c) ++predStart[size_t(c) * n + dfa.next[size_t(s) * k + c] + 1];
  for (size_t i = 1; i < predStart.size(); ++i) predStart[i] += predStart[i - 1];
  {
    std::vector<uint32_t> fill(predStart.begin(), predStart.end() - 1);
    for (uint32_t s = 0; s < n; ++s)
      for (uint32_t c = 0; c < k; ++c)
        preds[fill[size_t(c) * n + dfa.next[size_t(s) * k + c]]++] = s;
  }

  // A refinable partition: each block is a contiguous slice of `elems`.
  std::vector<uint32_t> elems(n), where(n), blockOf(n);
  std::vector<uint32_t> first, last, marked;
  {
    std::unordered_map<uint64_t, uint32_t> byMask;
    std::vector<uint32_t> order(n);
    for (uint32_t s = 0; s < n; ++s) {
      auto [it, fresh] = byMask.try_emplace(dfa.accept[s], uint32_t(byMask.size()));
      blockOf[s] = it->second;
    }
    blocks = uint32_t(byMask.size());
    std::vector<uint32_t> at(blocks + 1, 0);  // a counting sort by block
    for (uint32_t s = 0; s < n; ++s) ++at[blockOf[s] + 1];
    for (uint32_t b = 0; b < blocks; ++b) at[b + 1] += at[b];
    for (uint32_t s = 0; s < n; ++s) order[at[blockOf[s]]++] = s;
    first.assign(blocks, 0);
    last.assign(blocks, 0);
    marked.assign(blocks, 0);
    for (uint32_t i = 0; i < n; ++i) {
      elems[i] = order[i];
      where[order[i]] = i;
      uint32_t b = blockOf[order[i]];
      if (i == 0 || blockOf[order[i - 1]] != b) first[b] = i;
      last[b] = i + 1;
    }
  }

  std::vector<std::pair<uint32_t, uint32_t>> work;  // (block, class)
  std::vector<bool> inWork(size_t(n) * k, false);  // blocks never outnumber states
  auto pending = [&](uint32_t b, uint32_t c) { return inWork[size_t(b) * k + c]; };
  for (uint32_t b = 0; b < blocks; ++b)
    for (uint32_t c = 0; c < k; ++c) {
      work.push_back({b, c});
      pending(b, c) = true;
    }

  std::vector<uint32_t> splitter, touched;
  std::vector<bool> isPred(n, false);
  std::vector<uint32_t> predList;
  while (!work.empty()) {
    auto [a, c] = work.back();
    work.pop_back();
    pending(a, c) = false;
    splitter.assign(elems.begin() + first[a], elems.begin() + last[a]);
    predList.clear();
    for (uint32_t t : splitter)
      for (uint32_t i = predStart[size_t(c) * n + t]; i < predStart[size_t(c) * n + t + 1]; ++i)
        if (!isPred[preds[i]]) isPred[preds[i]] = true, predList.push_back(preds[i]);
    touched.clear();
    for (uint32_t s : predList) {
      isPred[s] = false;
      uint32_t b = blockOf[s];
      if (marked[b] == 0) touched.push_back(b);
      // Move s to the marked prefix of its block.
      uint32_t to = first[b] + marked[b]++;
      uint32_t other = elems[to];
      std::swap(elems[to], elems[where[s]]);
      where[other] = where[s];
      where[s] = to;
    }
    for (uint32_t b : touched) {
      uint32_t m = marked[b];
      marked[b] = 0;
      if (m == last[b] - first[b]) continue;  // the whole block: no split
      uint32_t z = blocks++;
      first.push_back(first[b]);
      last.push_back(first[b] + m);
      marked.push_back(0);
      first[b] += m;
      for (uint32_t i = first[z]; i < last[z]; ++i) blockOf[elems[i]] = z;
      uint32_t sizeB = last[b] - first[b], sizeZ = last[z] - first[z];
      for (uint32_t d = 0; d < k; ++d) {
        if (pending(b, d)) {
          work.push_back({z, d});
          pending(z, d) = true;
        } else {
          uint32_t smaller = sizeZ <= sizeB ? z : b;
          work.push_back({smaller, d});
          pending(smaller, d) = true;
        }
      }
    }
  }
  return blockOf;
}

// ---- tables -------------------------------------------------------------

uint32_t nextPowerOfTwo(uint32_t x) {
  uint32_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

DfaTables tables(const RawDfa& raw, const std::vector<uint32_t>& blockOf, uint32_t blocks,
                 bool pad) {
  const uint32_t k = raw.classes;
  std::vector<uint32_t> rep(blocks, ~0u);
  for (uint32_t s = 0; s < raw.size(); ++s)
    if (rep[blockOf[s]] == ~0u) rep[blockOf[s]] = s;
  auto blockNext = [&](uint32_t b, uint32_t c) {
    return blockOf[raw.next[size_t(rep[b]) * k + c]];
  };

  // Byte classes: NFA classes whose columns agree, numbered by lowest byte.
  std::vector<int> finalOf(k, -1);
  std::unordered_map<std::vector<uint32_t>, uint32_t, VectorHash> columns;
  DfaTables t;
  std::vector<uint32_t> column(blocks);
  for (int b = 0; b < 256; ++b) {
    uint32_t c = raw.classOf[b];
    if (finalOf[c] < 0) {
      for (uint32_t s = 0; s < blocks; ++s) column[s] = blockNext(s, c);
      auto [it, fresh] = columns.try_emplace(column, uint32_t(columns.size()));
      finalOf[c] = int(it->second);
    }
    t.byteClass[b] = uint8_t(finalOf[c]);
  }
  const uint32_t classes = uint32_t(columns.size());
  std::vector<uint32_t> anyNfaClass(classes);
  for (uint32_t c = 0; c < k; ++c) anyNfaClass[finalOf[c]] = c;

  // Numbering: dead 0, start 1, then breadth-first.
  const uint32_t dead = blockOf[0], start = blockOf[raw.start];
  std::vector<uint32_t> id(blocks, ~0u), order;
  id[dead] = 0;
  order.push_back(dead);
  if (start != dead) {
    id[start] = 1;
    order.push_back(start);
  }
  for (size_t i = start != dead ? 1 : 0; i < order.size(); ++i)
    for (uint32_t c = 0; c < classes; ++c) {
      uint32_t to = blockNext(order[i], anyNfaClass[c]);
      if (id[to] == ~0u) {
        id[to] = uint32_t(order.size());
        order.push_back(to);
      }
    }

  t.usedStates = uint32_t(order.size());
  t.usedClasses = classes;
  t.states = pad ? nextPowerOfTwo(t.usedStates) : t.usedStates;
  t.classes = pad ? nextPowerOfTwo(t.usedClasses) : t.usedClasses;
  t.next.assign(size_t(t.states) * t.classes, 0);
  t.accept.assign(t.states, 0);
  for (uint32_t s = 0; s < t.usedStates; ++s) {
    t.accept[s] = raw.accept[rep[order[s]]];
    for (uint32_t c = 0; c < classes; ++c)
      t.next[size_t(s) * t.classes + c] = uint16_t(id[blockNext(order[s], anyNfaClass[c])]);
  }
  t.dead = 0;
  t.start = uint16_t(id[start]);
  return t;
}

std::optional<DfaTables> build(std::span<const Regex> patterns, const DfaOptions& options,
                               DfaError& error) {
  Nfa nfa = buildNfa(patterns);
  RawDfa raw;
  SubsetBuilder subsets(nfa);
  if (!subsets.run(raw, options.maxBuildStates)) {
    error.message = fmt::format(
        "more than {} automaton states before minimization (a wildcard followed by a counted "
        "repetition, such as .*a.{{20}}, and many patterns with inner wildcards, such as "
        ".*x.*, grow exponentially); simplify the patterns or spread the rules out",
        options.maxBuildStates);
    return std::nullopt;
  }
  uint32_t blocks = 0;
  std::vector<uint32_t> blockOf = minimize(raw, blocks);
  // Every block is a state of the minimal automaton: all are reachable from
  // the start but the dead state's, which is kept anyway.
  const uint32_t limit = std::min<uint32_t>(options.maxStates, 65536);
  if (blocks > limit) {
    error.message = fmt::format(
        "{} automaton states after minimization, above the limit of {}; use fewer or "
        "smaller counted repetitions, or fewer rules on this port",
        blocks, limit);
    return std::nullopt;
  }
  return tables(raw, blockOf, blocks, options.padToPowerOfTwo);
}

std::string byteText(uint32_t b) {
  if (b > 0x20 && b < 0x7F && b != '\'' && b != '\\') return fmt::format("'{}'", char(b));
  return fmt::format("{:02x}", b);
}

}  // namespace

std::optional<DfaTables> buildDfa(std::span<const Regex> patterns, DfaError& error,
                                  const DfaOptions& options) {
  error = {};
  if (patterns.size() > kDfaMaxPatterns) {
    error.message = fmt::format("an automaton takes at most {} patterns and this field has {}; "
                                "split the rules over several automata",
                                kDfaMaxPatterns, patterns.size());
    return std::nullopt;
  }
  auto t = build(patterns, options, error);
  if (t) return t;
  std::string together = error.message;
  // Name the pattern that alone exceeds the limit, if one does.
  for (size_t i = 0; i < patterns.size() && patterns.size() > 1; ++i) {
    DfaError alone;
    if (!build(patterns.subspan(i, 1), options, alone)) {
      error.pattern = int(i);
      error.message = fmt::format("pattern {} ({}) needs {}", i,
                                  patterns[i].pattern.empty() ? std::string("an exact value")
                                                              : quote(patterns[i].pattern),
                                  alone.message);
      return std::nullopt;
    }
  }
  if (patterns.size() == 1) {
    error.pattern = 0;
    error.message = "the pattern needs " + together;
  } else {
    error.message = fmt::format("the {} patterns together need {}", patterns.size(), together);
  }
  return std::nullopt;
}

bool matches(const DfaTables& dfa, std::string_view input, uint64_t& mask) {
  uint32_t s = dfa.start;
  for (unsigned char b : input) {
    s = dfa.next[size_t(s) * dfa.classes + dfa.byteClass[b]];
    if (s == dfa.dead) break;
  }
  mask = dfa.accept[s];
  return mask != 0;
}

std::string DfaTables::dump() const {
  std::string out = fmt::format("dfa: {} states, {} byte classes, start {}, dead {}\n", usedStates,
                                usedClasses, start, dead);
  if (states != usedStates || classes != usedClasses)
    out += fmt::format("padded: {} x {}\n", states, classes);
  for (uint32_t c = 0; c < usedClasses; ++c) {
    out += fmt::format("class {}:", c);
    for (uint32_t b = 0; b < 256; ++b) {
      if (byteClass[b] != c || (b > 0 && byteClass[b - 1] == c)) continue;
      uint32_t e = b;
      while (e + 1 < 256 && byteClass[e + 1] == c) ++e;
      out += ' ' + byteText(b);
      if (e != b) out += '-' + byteText(e);
    }
    out += '\n';
  }
  for (uint32_t s = 0; s < usedStates; ++s) {
    out += fmt::format("state {}", s);
    if (s == dead) out += " dead";
    if (s == start) out += " start";
    if (accept[s]) out += fmt::format(" accept {:#x}", accept[s]);
    out += ':';
    for (uint32_t c = 0; c < usedClasses; ++c)
      out += fmt::format(" {}", next[size_t(s) * classes + c]);
    out += '\n';
  }
  return out;
}

}  // namespace sluice::l7
