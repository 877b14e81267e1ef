// The blocked linear scan behind every CPU search (FlatIndex, the MultiIndex fallback and tail,
// the weighted searches): the work plan, the adaptive scan of a query group over cached blocks,
// the split of the database into parts and their merge, range-result assembly and the
// position -> id write-out. The indexes only say what to scan and how to write a row.
//
// A search supplies:
//   a kernel   kern(slot, c0, len, thr, idx, dist) -> found: the codes c0 .. c0 + len - 1 within
//              distance thr of query `slot`, as in HammingKernels::scan_leq (indices relative to
//              c0, ascending; at most len of them);
//   selectors  one per query, with the interface of topk.hpp (threshold / push / merge /
//              write_sorted), created by make();
//   a writer   write(slot, selector): the query's output row.
// Query slots are 0 .. nq - 1; the caller maps them to its queries (the MultiIndex fallback scans
// only the queries hashing did not answer).
//
// The database is scanned in blocks that stay in L1 while a group of queries passes over them.
// For each query the kernel returns only codes within the query's current k-th best distance, so
// the selector sees few candidates; kernel calls start short while a threshold is loose and grow
// once it is tight. Work is split into (query group x database part) tasks: many queries spread
// over threads by group; few queries split the database and merge the parts.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "deephash/hamming.hpp"
#include "deephash/parallel.hpp"
#include "deephash/topk.hpp"

namespace deephash {
namespace block_scan {

constexpr size_t kBlockBytes = 24 * 1024;     // database bytes per block: stays in L1 across a group
constexpr size_t kMaxGroup = 64;              // queries sharing a block
constexpr size_t kMinPart = size_t{1} << 16;  // fewest codes worth a database part of their own
constexpr size_t kFirstStep = 256;            // first kernel call per query and block, in codes
constexpr double kSmallJob = 4e6;             // queries x codes x bytes below which starting threads costs more
constexpr int32_t kOpen = std::numeric_limits<int32_t>::max();  // no threshold yet

// Codes per block for codes of code_size bytes.
size_t block_codes(size_t code_size);

// Threads for a job of nq queries over n codes: 1 for small jobs, else get_num_threads().
int job_threads(size_t nq, size_t n, size_t code_size);

struct Plan {
  size_t group;   // queries per task
  size_t groups;  // number of query groups
  size_t parts;   // database parts per query group
  size_t part;    // codes per part
  int threads;
  size_t part_begin(size_t p) const { return p * part; }
  size_t part_end(size_t p, size_t n) const { return std::min(n, (p + 1) * part); }
};

Plan make_plan(size_t nq, size_t n, size_t code_size);

// Scratch of one task (tasks never share it): the kernel's output for one block.
struct Scratch {
  std::vector<uint32_t> idx;
  std::vector<int32_t> dist;
  explicit Scratch(size_t block) : idx(block), dist(block) {}
};

struct Options {
  const int64_t* ids;  // ids of the scanned codes, by position
  // Rank by position instead of id: only when ids increase with position and each selector
  // sees positions in ascending order only (fresh selectors, one part each). A later code that
  // only ties a threshold then has a larger id and cannot enter, so the kernel is asked for
  // strictly smaller distances, and the ids are looked up for the final rows only
  // (positions_to_ids) instead of a cache miss on the id array per candidate.
  bool by_pos;
  const int32_t* caps;  // per slot: codes farther than this cannot be answers (null: none)
};

// Replaces positions by their ids in a row of k entries (padding, -1, stays).
inline void positions_to_ids(int64_t* row, size_t k, const int64_t* ids) {
  for (size_t j = 0; j < k; ++j)
    if (row[j] != kMissingId) row[j] = ids[static_cast<size_t>(row[j])];
}

// Kernels that expose their codes (code_size(), code_ptr(i)) get the next block prefetched.
template <class K, class = void>
struct HasCodes : std::false_type {};
template <class K>
struct HasCodes<K, std::void_t<decltype(std::declval<const K&>().code_ptr(0))>> : std::true_type {};

// Offers every code in [begin, end) to the selectors of slots [q0, q0 + gq).
template <class Sel, class Kernel>
void scan_group(const Kernel& kern, Sel* sels, size_t q0, size_t gq, size_t begin, size_t end, size_t block,
                const Options& o, Scratch& s) {
  const int32_t tie_skip = o.by_pos ? 1 : 0;
  std::vector<size_t> step(gq, kFirstStep);
  for (size_t b = begin; b < end; b += block) {
    const size_t bend = std::min(end, b + block);
    // While a group scans this block, its queries prefetch the next one, a slice each: the
    // first query over a block would otherwise wait for memory.
    size_t lines = 0, per_q = 0;
    const char* next = nullptr;
    if constexpr (HasCodes<Kernel>::value) {
      const size_t nend = std::min(end, bend + block);
      if (gq > 1 && nend > bend) {
        lines = ((nend - bend) * kern.code_size() + 63) / 64;
        per_q = (lines + gq - 1) / gq;
        next = reinterpret_cast<const char*>(kern.code_ptr(bend));
      }
    }
    for (size_t g = 0; g < gq; ++g) {
      for (size_t l = g * per_q, le = std::min(lines, l + per_q); l < le; ++l) __builtin_prefetch(next + 64 * l, 0, 3);
      Sel& sel = sels[g];
      const int32_t cap = o.caps ? o.caps[q0 + g] : kOpen;
      for (size_t c0 = b; c0 < bend;) {
        const size_t len = std::min(step[g], bend - c0);
        const int32_t thr = sel.threshold();
        const int32_t kthr = std::min(thr == kOpen ? thr : thr - tie_skip, cap);
        const size_t found = kern(q0 + g, c0, len, kthr, s.idx.data(), s.dist.data());
        for (size_t j = 0; j < found; ++j) {
          if (s.dist[j] > sel.threshold()) continue;
          const size_t pos = c0 + s.idx[j];
          sel.push(s.dist[j], o.by_pos ? static_cast<int64_t>(pos) : o.ids[pos], pos);
        }
        step[g] = found * 8 > len ? kFirstStep : std::min(block, step[g] * 2);
        c0 += len;
      }
    }
  }
}

// k-NN of nq query slots over codes [0, n) of code_size bytes, as planned by `plan`.
template <class Sel, class Make, class Kernel, class Write>
void knn(const Plan& plan, size_t n, size_t nq, size_t code_size, const Options& o, const Make& make,
         const Kernel& kern, const Write& write) {
  const size_t block = block_codes(code_size);
  auto fresh = [&](size_t count) {
    std::vector<Sel> sels;
    sels.reserve(count);
    for (size_t i = 0; i < count; ++i) sels.push_back(make());
    return sels;
  };
  if (plan.parts == 1) {
    // Each task owns whole queries and writes their final rows.
    parallel_for(plan.groups, plan.threads, [&](size_t g) {
      const size_t q0 = g * plan.group, gq = std::min(plan.group, nq - q0);
      std::vector<Sel> sels = fresh(gq);
      Scratch s(block);
      scan_group(kern, sels.data(), q0, gq, 0, n, block, o, s);
      for (size_t i = 0; i < gq; ++i) write(q0 + i, sels[i]);
    });
    return;
  }
  // Few queries: one selector per (query, part); parts are merged into part 0 in order.
  std::vector<std::vector<Sel>> per_task(plan.groups * plan.parts);
  parallel_for(plan.groups * plan.parts, plan.threads, [&](size_t task) {
    const size_t g = task / plan.parts, p = task % plan.parts;
    const size_t q0 = g * plan.group, gq = std::min(plan.group, nq - q0);
    per_task[task] = fresh(gq);
    Scratch s(block);
    const size_t b = plan.part_begin(p), e = plan.part_end(p, n);
    if (b < e) scan_group(kern, per_task[task].data(), q0, gq, b, e, block, o, s);
  });
  for (size_t g = 0; g < plan.groups; ++g) {
    std::vector<Sel>& first = per_task[g * plan.parts];
    for (size_t i = 0; i < first.size(); ++i) {
      for (size_t p = 1; p < plan.parts; ++p) first[i].merge(per_task[g * plan.parts + p][i]);
      write(g * plan.group + i, first[i]);
    }
  }
}

using Hits = std::vector<Neighbor<int32_t>>;

// Appends every code of [begin, end) within distance thr of query `slot` to out.
template <class Kernel>
void scan_range(const Kernel& kern, size_t slot, size_t begin, size_t end, int32_t thr, size_t block,
                const int64_t* ids, Hits& out, Scratch& s) {
  for (size_t b = begin; b < end; b += block) {
    const size_t len = std::min(block, end - b);
    const size_t found = kern(slot, b, len, thr, s.idx.data(), s.dist.data());
    for (size_t j = 0; j < found; ++j) {
      const size_t pos = b + s.idx[j];
      out.push_back({s.dist[j], ids[pos], pos});
    }
  }
}

// Range hits of nq query slots over codes [0, n): hits[slot * plan.parts + part], unsorted.
// radius(slot) is the slot's inclusive threshold.
template <class Kernel, class Radius>
std::vector<Hits> range_hits(const Plan& plan, size_t n, size_t nq, size_t code_size, const int64_t* ids,
                             const Radius& radius, const Kernel& kern) {
  std::vector<Hits> hits(nq * plan.parts);
  const size_t block = block_codes(code_size);
  parallel_for(nq * plan.parts, plan.threads, [&](size_t task) {
    const size_t q = task / plan.parts, p = task % plan.parts;
    Scratch s(block);
    scan_range(kern, q, plan.part_begin(p), plan.part_end(p, n), radius(q), block, ids, hits[task], s);
  });
  return hits;
}

// Assembles a range result from the hits of nq queries, `parts` lists each (hits[q * parts + p]):
// each query's lists are joined and sorted by (distance, id, position); value(q, dist) gives the
// reported distance. The hits are released on the way.
template <class D, class Value>
RangeResultT<D> assemble_range(std::vector<Hits>& hits, size_t nq, size_t parts, int threads, const Value& value) {
  RangeResultT<D> r;
  r.lims.assign(nq + 1, 0);
  size_t total = 0;
  for (size_t q = 0; q < nq; ++q) {
    for (size_t p = 0; p < parts; ++p) total += hits[q * parts + p].size();
    r.lims[q + 1] = static_cast<int64_t>(total);
  }
  r.distances.resize(total);
  r.ids.resize(total);
  parallel_for(nq, threads, [&](size_t q) {
    Hits& all = hits[q * parts];
    for (size_t p = 1; p < parts; ++p) {
      Hits& more = hits[q * parts + p];
      all.insert(all.end(), more.begin(), more.end());
      Hits().swap(more);
    }
    std::sort(all.begin(), all.end());
    size_t o = static_cast<size_t>(r.lims[q]);
    for (const auto& h : all) {
      r.distances[o] = value(q, h.dist);
      r.ids[o] = h.id;
      ++o;
    }
    Hits().swap(all);
  });
  return r;
}

// A kernel over Hamming codes: query_of(slot) gives the query's code.
template <class QueryOf>
struct HammingKernel {
  const HammingKernels& K;
  const uint8_t* codes;
  size_t cs;
  QueryOf query_of;
  size_t code_size() const { return cs; }
  const uint8_t* code_ptr(size_t i) const { return codes + i * cs; }
  size_t operator()(size_t slot, size_t c0, size_t len, int32_t thr, uint32_t* idx, int32_t* dist) const {
    return K.scan_leq(query_of(slot), codes + c0 * cs, len, cs, thr, idx, dist);
  }
};
template <class QueryOf>
HammingKernel<QueryOf> hamming_kernel(const HammingKernels& K, const uint8_t* codes, size_t code_size,
                                      QueryOf query_of) {
  return {K, codes, code_size, query_of};
}

}  // namespace block_scan
}  // namespace deephash
