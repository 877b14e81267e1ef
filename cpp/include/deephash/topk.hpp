// Bounded selection of the k best (distance, id) pairs, and the result types of searches.
//
// Order: ascending distance, then ascending id, then ascending position in the index (ids need
// not be unique). This total order makes results identical whatever the scan order, the SIMD
// level or the thread count.
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

// Max-heap of the k best neighbours seen so far.
template <typename Dist>
class TopK {
 public:
  explicit TopK(size_t k = 0) : k_(k) { heap_.reserve(std::min<size_t>(k, 1u << 16)); }

  size_t k() const { return k_; }
  size_t size() const { return heap_.size(); }
  bool full() const { return heap_.size() >= k_; }

  // Largest distance that can still enter (inclusive): a candidate with a greater distance
  // can be skipped without calling push().
  Dist threshold() const {
    return full() && k_ > 0 ? heap_.front().dist : std::numeric_limits<Dist>::max();
  }

  // Offers a candidate; returns true if it was kept.
  bool push(Dist dist, int64_t id, uint64_t pos) {
    if (k_ == 0) return false;
    Neighbor<Dist> n{dist, id, pos};
    if (heap_.size() < k_) {
      heap_.push_back(n);
      std::push_heap(heap_.begin(), heap_.end());
      return true;
    }
    if (!(n < heap_.front())) return false;
    std::pop_heap(heap_.begin(), heap_.end());
    heap_.back() = n;
    std::push_heap(heap_.begin(), heap_.end());
    return true;
  }

  void merge(const TopK& other) {
    for (const auto& n : other.heap_) push(n.dist, n.id, n.pos);
  }

  // Writes the k best in order; pads with (missing_dist, -1) past size().
  void write_sorted(Dist* dist, int64_t* ids, Dist missing_dist) {
    std::sort_heap(heap_.begin(), heap_.end());
    size_t i = 0;
    for (; i < heap_.size(); ++i) {
      dist[i] = heap_[i].dist;
      ids[i] = heap_[i].id;
    }
    for (; i < k_; ++i) {
      dist[i] = missing_dist;
      ids[i] = kMissingId;
    }
    heap_.clear();
  }

  void clear() { heap_.clear(); }

 private:
  size_t k_;
  std::vector<Neighbor<Dist>> heap_;
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
