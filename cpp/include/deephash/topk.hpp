// Bounded selection of the k best (distance, id) pairs, and the result types of searches.
//
// Order: ascending distance, then ascending id, then ascending position in the index (ids need
// not be unique). This total order makes results identical whatever the scan order, the SIMD
// level or the thread count.
//
// The three selectors share one interface, which the blocked scan (cpp/src/block_scan.hpp) is
// written against:
//   k()                         the number of neighbours kept
//   threshold()                 largest distance a new candidate can have and still enter
//                               (inclusive; int32 max while fewer than k were pushed)
//   push(dist, id, pos)         offers a candidate
//   merge(other)                offers every candidate another selector of the same type holds
//   write_sorted(d, ids, miss)  writes the k best in order, padding with (miss, -1)
// CountingTopK suits small integer distances (Hamming), HeapTopK any int32 distance, and
// PosHeapTopK any int32 distance ranked by position (it ignores the id: the caller maps
// positions to ids afterwards).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace deephash {

// Distance reported for padding entries (id -1) when fewer than k codes exist.
constexpr int32_t kMissingDistance = std::numeric_limits<int32_t>::max();
constexpr int64_t kMissingId = -1;

template <typename Dist>
struct Neighbor {
  Dist dist;
  int64_t id;
  uint64_t pos;  // position in the index: the last tie-breaker
  bool operator<(const Neighbor& o) const {
    if (dist != o.dist) return dist < o.dist;
    if (id != o.id) return id < o.id;
    return pos < o.pos;
  }
};

// Writes the first k (distance, id) pairs of sorted candidates, padding with (missing, -1).
template <typename Dist>
void write_prefix(const std::vector<Neighbor<Dist>>& sorted, size_t k, Dist* dist, int64_t* ids, Dist missing) {
  size_t i = 0;
  for (; i < sorted.size() && i < k; ++i) {
    dist[i] = sorted[i].dist;
    ids[i] = sorted[i].id;
  }
  for (; i < k; ++i) {
    dist[i] = missing;
    ids[i] = kMissingId;
  }
}

// Sorts candidates and writes the first k (distance, id) pairs, padding with (missing, -1).
template <typename Dist>
void write_best(std::vector<Neighbor<Dist>>& cands, size_t k, Dist* dist, int64_t* ids, Dist missing) {
  std::sort(cands.begin(), cands.end());
  write_prefix(cands, k, dist, ids, missing);
}

// Pads columns [from, k) of nq rows of k entries with (missing, -1): searches select only
// min(k, size) neighbours and leave the rest of each row to this.
template <typename Dist>
void pad_rows(Dist* dist, int64_t* ids, size_t nq, size_t k, size_t from, Dist missing) {
  if (from >= k) return;
  for (size_t q = 0; q < nq; ++q) {
    std::fill(dist + q * k + from, dist + (q + 1) * k, missing);
    std::fill(ids + q * k + from, ids + (q + 1) * k, kMissingId);
  }
}
inline void pad_rows(int32_t* dist, int64_t* ids, size_t nq, size_t k, size_t from) {
  pad_rows<int32_t>(dist, ids, nq, k, from, kMissingDistance);
}

// The k best neighbours for small integer distances in [0, max_dist] (Hamming distances).
//
// A histogram of the buffered distances keeps the threshold exact after every push: it is the
// smallest t with at least k candidates at distance <= t. Entries that fall above it stay in
// the buffer as garbage until the buffer is compacted. The buffer holds up to 4k entries (2k +
// 64 Ki for large k): a compaction reads the whole buffer, so the more pushes between two, the
// less each push pays (4k measured 3% faster than 2k on a 1,000-query k = 100 scan).
class CountingTopK {
 public:
  CountingTopK(size_t k, int32_t max_dist)
      : k_(k), cap_(k + std::min(3 * k, k + 65536) + 64), hist_(static_cast<size_t>(max_dist) + 2, 0) {}

  size_t k() const { return k_; }

  // Largest distance a new candidate can have and still enter (inclusive; exact).
  int32_t threshold() const { return thr_; }

  void push(int32_t dist, int64_t id, uint64_t pos) {
    if (k_ == 0 || dist > thr_) return;
    buf_.push_back(Neighbor<int32_t>{dist, id, pos});
    ++hist_[static_cast<size_t>(dist)];
    if (thr_ == kOpen) {
      if (buf_.size() < k_) return;
      // k candidates so far: the threshold is the largest of them.
      thr_ = static_cast<int32_t>(hist_.size()) - 1;
      while (hist_[static_cast<size_t>(thr_)] == 0) --thr_;
      le_ = k_;
    } else {
      ++le_;
      while (le_ - hist_[static_cast<size_t>(thr_)] >= k_) {
        le_ -= hist_[static_cast<size_t>(thr_)];
        hist_[static_cast<size_t>(thr_)] = 0;
        --thr_;
      }
    }
    if (buf_.size() >= cap_) compact();
  }

  void merge(const CountingTopK& other) {
    for (const auto& n : other.buf_)
      if (n.dist <= other.thr_) push(n.dist, n.id, n.pos);
  }

  // Writes the k best in (distance, id, position) order, padding with (missing, -1).
  void write_sorted(int32_t* dist, int64_t* ids, int32_t missing) {
    compact();
    if (buf_.size() <= 4096) {
      write_best(buf_, k_, dist, ids, missing);
      return;
    }
    // Large k (a whole ranking): counting sort by distance, then only the runs of equal distance
    // that are not already in (id, position) order are sorted. Linear for data pushed in scan
    // order, where a comparison sort of every candidate was most of the time.
    const size_t nd = hist_.size();
    std::vector<size_t> start(nd + 1, 0);
    for (const auto& n : buf_) ++start[static_cast<size_t>(n.dist) + 1];
    for (size_t d = 0; d < nd; ++d) start[d + 1] += start[d];
    std::vector<Neighbor<int32_t>> sorted(buf_.size());
    std::vector<size_t> fill(start.begin(), start.end() - 1);
    for (const auto& n : buf_) sorted[fill[static_cast<size_t>(n.dist)]++] = n;
    for (size_t d = 0; d < nd; ++d) {
      auto b = sorted.begin() + static_cast<std::ptrdiff_t>(start[d]);
      auto e = sorted.begin() + static_cast<std::ptrdiff_t>(start[d + 1]);
      if (!std::is_sorted(b, e)) std::sort(b, e);
    }
    buf_.swap(sorted);
    write_prefix(buf_, k_, dist, ids, missing);
  }

 private:
  static constexpr int32_t kOpen = std::numeric_limits<int32_t>::max();

  // Drops garbage (distance above the threshold) and the ties at the threshold that cannot
  // be among the k best.
  // One pass drops the garbage; when the ties at the threshold sit in the buffer in ascending
  // (id, position) order (candidates pushed in scan order with ids increasing, the common case)
  // the first ones are the ties to keep and a second pass drops the rest; otherwise a selection
  // among all kept entries decides. The buffer is compacted every few k pushes, so its cost is
  // a large share of a push: a selection each time was most of the k-NN selection cost.
  void compact() {
    if (thr_ == kOpen) return;
    const int32_t t = thr_;
    size_t w = 0;
    bool ties_sorted = true;
    const Neighbor<int32_t>* last_tie = nullptr;
    for (size_t r = 0; r < buf_.size(); ++r) {
      const Neighbor<int32_t> n = buf_[r];
      if (n.dist > t) continue;
      if (n.dist == t) {
        if (last_tie != nullptr && n < *last_tie) ties_sorted = false;
        buf_[w] = n;
        last_tie = &buf_[w];
      } else {
        buf_[w] = n;
      }
      ++w;
    }
    buf_.resize(w);
    if (buf_.size() > k_ && ties_sorted) {
      // Keep the entries below t and the first `need` ties.
      size_t need = k_ - (le_ - hist_[static_cast<size_t>(t)]);
      w = 0;
      for (size_t r = 0; r < buf_.size(); ++r) {
        const Neighbor<int32_t> n = buf_[r];
        if (n.dist == t) {
          if (need == 0) continue;
          --need;
        }
        buf_[w++] = n;
      }
      buf_.resize(w);
      hist_[static_cast<size_t>(t)] = 0;
      for (const auto& n : buf_)
        if (n.dist == t) ++hist_[static_cast<size_t>(t)];
      le_ = k_;
    } else if (buf_.size() > k_) {
      std::nth_element(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(k_ - 1), buf_.end());
      buf_.resize(k_);
      hist_[static_cast<size_t>(t)] = 0;
      for (const auto& n : buf_)
        if (n.dist == t) ++hist_[static_cast<size_t>(t)];
      le_ = k_;
    }
  }

  size_t k_;
  size_t cap_;
  std::vector<Neighbor<int32_t>> buf_;
  std::vector<size_t> hist_;  // buffered candidates per distance (valid up to the threshold)
  int32_t thr_ = kOpen;
  size_t le_ = 0;  // buffered candidates with distance <= threshold
};

// The k best (distance, id, position) with an exact threshold for any int32 distance: a binary
// max-heap. The kernel filter lets few candidates through (about k * ln(n / k) per query), so
// the threshold's exactness matters more than the cost of a push.
class HeapTopK {
 public:
  explicit HeapTopK(size_t k) : k_(k) { heap_.reserve(k); }

  size_t k() const { return k_; }

  int32_t threshold() const { return heap_.size() < k_ ? std::numeric_limits<int32_t>::max() : heap_.front().dist; }

  void push(int32_t dist, int64_t id, uint64_t pos) {
    const Neighbor<int32_t> n{dist, id, pos};
    if (heap_.size() < k_) {
      heap_.push_back(n);
      std::push_heap(heap_.begin(), heap_.end());
    } else if (k_ > 0 && n < heap_.front()) {
      std::pop_heap(heap_.begin(), heap_.end());
      heap_.back() = n;
      std::push_heap(heap_.begin(), heap_.end());
    }
  }

  void merge(const HeapTopK& o) {
    for (const auto& n : o.heap_) push(n.dist, n.id, n.pos);
  }

  void write_sorted(int32_t* dist, int64_t* ids, int32_t missing) {
    write_best(heap_, k_, dist, ids, missing);
    heap_.clear();
  }

 private:
  size_t k_;
  std::vector<Neighbor<int32_t>> heap_;
};

// HeapTopK for candidates ranked by position (ids increasing like positions): one 64-bit key
// (distance << 40 | position) per candidate makes every comparison a single integer compare.
// Positions must be below 2^40 and distances >= 0. The id given to push() is ignored and
// write_sorted() writes positions as ids.
class PosHeapTopK {
 public:
  static constexpr uint64_t kPosMask = (uint64_t{1} << 40) - 1;

  explicit PosHeapTopK(size_t k) : k_(k) { heap_.reserve(k); }

  size_t k() const { return k_; }

  int32_t threshold() const {
    return heap_.size() < k_ ? std::numeric_limits<int32_t>::max() : static_cast<int32_t>(heap_.front() >> 40);
  }

  void push(int32_t dist, int64_t /*id*/, uint64_t pos) {
    const uint64_t key = (static_cast<uint64_t>(dist) << 40) | pos;
    if (heap_.size() < k_) {
      heap_.push_back(key);
      std::push_heap(heap_.begin(), heap_.end());
    } else if (k_ > 0 && key < heap_.front()) {
      std::pop_heap(heap_.begin(), heap_.end());
      heap_.back() = key;
      std::push_heap(heap_.begin(), heap_.end());
    }
  }

  void merge(const PosHeapTopK& o) {
    for (uint64_t key : o.heap_) push(static_cast<int32_t>(key >> 40), 0, key & kPosMask);
  }

  void write_sorted(int32_t* dist, int64_t* ids, int32_t missing) {
    std::sort_heap(heap_.begin(), heap_.end());
    size_t i = 0;
    for (; i < heap_.size(); ++i) {
      dist[i] = static_cast<int32_t>(heap_[i] >> 40);
      ids[i] = static_cast<int64_t>(heap_[i] & kPosMask);
    }
    for (; i < k_; ++i) {
      dist[i] = missing;
      ids[i] = kMissingId;
    }
    heap_.clear();
  }

 private:
  size_t k_;
  std::vector<uint64_t> heap_;
};

// Result of a range search over nq queries: the results of query i are the entries
// [lims[i], lims[i + 1]) of distances and ids, sorted by (distance, id).
template <typename Dist>
struct RangeResultT {
  std::vector<int64_t> lims;  // nq + 1 entries
  std::vector<Dist> distances;
  std::vector<int64_t> ids;
};
using RangeResult = RangeResultT<int32_t>;

}  // namespace deephash
