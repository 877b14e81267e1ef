// Concurrency stress test of the core (also run under ThreadSanitizer by tools/test.sh):
// searching threads and one mutating thread (adds, removes, saves) on a FlatIndex and a
// MultiIndex. Every result must equal the brute-force answer of one state the index passed
// through during the call: the contract of flat_index.hpp (one consistent state per search).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "deephash/deephash.hpp"

using namespace deephash;

namespace {

constexpr size_t kBytes = 8;  // 64-bit codes

struct State {
  std::vector<uint8_t> codes;
  std::vector<int64_t> ids;
};

// States the index passes through: states[v] after v mutations. A mutation appends its state
// before it starts and raises `committed` when it has finished, so a call that begins when
// committed == lo and ends when states.size() == hi + 1 saw one of states[lo..hi].
class StateLog {
 public:
  explicit StateLog(State first) { states_.push_back(std::make_shared<const State>(std::move(first))); }
  std::shared_ptr<const State> last() {
    std::lock_guard<std::mutex> g(mu_);
    return states_.back();
  }
  size_t begin_mutation(State next) {
    std::lock_guard<std::mutex> g(mu_);
    states_.push_back(std::make_shared<const State>(std::move(next)));
    return states_.size() - 1;
  }
  void end_mutation(size_t v) { committed_.store(v, std::memory_order_release); }
  size_t committed() const { return committed_.load(std::memory_order_acquire); }
  std::vector<std::shared_ptr<const State>> range(size_t lo) {
    std::lock_guard<std::mutex> g(mu_);
    return {states_.begin() + static_cast<std::ptrdiff_t>(lo), states_.end()};
  }

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<const State>> states_;
  std::atomic<size_t> committed_{0};
};

int distance(const uint8_t* a, const uint8_t* b) {
  uint64_t x, y;
  std::memcpy(&x, a, 8);
  std::memcpy(&y, b, 8);
  return __builtin_popcountll(x ^ y);
}

// Brute-force k-NN rows of `s` (ids are unique: (distance, id) is a total order).
void oracle(const State& s, const std::vector<uint8_t>& q, size_t nq, size_t k, std::vector<int32_t>* d,
            std::vector<int64_t>* ids) {
  d->assign(nq * k, kMissingDistance);
  ids->assign(nq * k, kMissingId);
  std::vector<std::pair<int32_t, int64_t>> all(s.ids.size());
  for (size_t i = 0; i < nq; ++i) {
    for (size_t p = 0; p < s.ids.size(); ++p)
      all[p] = {distance(q.data() + i * kBytes, s.codes.data() + p * kBytes), s.ids[p]};
    const size_t kk = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(kk), all.end());
    for (size_t j = 0; j < kk; ++j) {
      (*d)[i * k + j] = all[j].first;
      (*ids)[i * k + j] = all[j].second;
    }
  }
}

std::vector<uint8_t> clustered(std::mt19937_64& rng, size_t n, const std::vector<uint64_t>& centres) {
  std::vector<uint8_t> out(n * kBytes);
  for (size_t i = 0; i < n; ++i) {
    uint64_t c = centres[rng() % centres.size()];
    for (int b = 0; b < 6; ++b) c ^= uint64_t{1} << (rng() % 64);
    std::memcpy(out.data() + i * kBytes, &c, kBytes);
  }
  return out;
}

struct Counts {
  std::atomic<size_t> searches{0}, wrong{0};
};

template <class Index>
void searcher(Index& index, StateLog& log, const std::vector<uint8_t>& q, size_t nq, size_t k,
              const std::atomic<bool>& done, Counts& counts) {
  std::vector<int32_t> d(nq * k), ed;
  std::vector<int64_t> ids(nq * k), eids;
  while (!done.load(std::memory_order_acquire)) {
    const size_t lo = log.committed();
    index.search(q.data(), nq, k, d.data(), ids.data());
    RangeResult r = index.range_search(q.data(), 1, 10);
    CodeStore::Snapshot snap = index.snapshot();
    const auto candidates = log.range(lo);
    bool knn_ok = false, range_ok = false, snap_ok = false;
    for (const auto& s : candidates) {
      oracle(*s, q, nq, k, &ed, &eids);
      knn_ok = knn_ok || (ed == d && eids == ids);
      size_t within = 0;
      for (size_t p = 0; p < s->ids.size(); ++p) within += distance(q.data(), s->codes.data() + p * kBytes) <= 10;
      range_ok = range_ok || within == r.ids.size();
      snap_ok = snap_ok || (snap.size == s->ids.size() && std::equal(s->ids.begin(), s->ids.end(), snap.ids) &&
                            std::equal(s->codes.begin(), s->codes.end(), snap.codes));
    }
    if (!(knn_ok && range_ok && snap_ok)) counts.wrong.fetch_add(1);
    counts.searches.fetch_add(1);
  }
}

template <class Index>
void stress(Index& index, const char* name, size_t mutations) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> centres(8);
  for (auto& c : centres) c = rng();
  State first;
  first.codes = clustered(rng, 4000, centres);
  for (int64_t i = 0; i < 4000; ++i) first.ids.push_back(i);
  index.add(first.codes.data(), first.ids.size(), first.ids.data());
  StateLog log(first);
  int64_t next_id = 4000;
  const std::vector<uint8_t> q1 = clustered(rng, 2, centres), q2 = clustered(rng, 48, centres);
  std::atomic<bool> done{false};
  Counts counts;
  std::vector<std::thread> threads;
  threads.emplace_back([&] { searcher(index, log, q1, 2, 10, done, counts); });
  threads.emplace_back([&] { searcher(index, log, q1, 2, 5000, done, counts); });  // k > size
  threads.emplace_back([&] { searcher(index, log, q2, 48, 7, done, counts); });
  const std::string path = std::string("deephash_concurrency_") + name + ".dhx";
  for (size_t it = 0; it < mutations; ++it) {
    State next = *log.last();
    if (it % 3 != 2) {
      const size_t n = 200 + rng() % 600;
      const std::vector<uint8_t> add = clustered(rng, n, centres);
      std::vector<int64_t> ids(n);
      for (auto& id : ids) id = next_id++;
      next.codes.insert(next.codes.end(), add.begin(), add.end());
      next.ids.insert(next.ids.end(), ids.begin(), ids.end());
      const size_t v = log.begin_mutation(std::move(next));
      index.add(add.data(), n, ids.data());
      log.end_mutation(v);
    } else {
      std::vector<int64_t> drop;
      State kept;
      for (size_t p = 0; p < next.ids.size(); ++p) {
        if (rng() % 4 == 0) {
          drop.push_back(next.ids[p]);
        } else {
          kept.ids.push_back(next.ids[p]);
          kept.codes.insert(kept.codes.end(), next.codes.begin() + static_cast<std::ptrdiff_t>(p * kBytes),
                            next.codes.begin() + static_cast<std::ptrdiff_t>((p + 1) * kBytes));
        }
      }
      const size_t v = log.begin_mutation(std::move(kept));
      CHECK(index.remove(drop.data(), drop.size()) == drop.size());
      log.end_mutation(v);
    }
    if (it % 5 == 0) {
      const size_t lo = log.committed();
      index.save(path);  // shared with the searches
      Index loaded = Index::load(path);
      CHECK(loaded.size() == log.range(lo).back()->ids.size());
    }
  }
  // Let the searchers see the final state too.
  const size_t target = counts.searches.load() + 6;
  while (counts.searches.load() < target) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  std::remove(path.c_str());
  std::printf("%s: %zu mutations, %zu searches by 3 threads, %zu wrong\n", name, mutations, counts.searches.load(),
              counts.wrong.load());
  CHECK(counts.wrong.load() == 0);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mutations = argc > 1 ? static_cast<size_t>(std::atoi(argv[1])) : 60;
  set_num_threads(2);  // the 48-query searches also use the worker pool
  FlatIndex flat(64);
  stress(flat, "flat", mutations);
  MultiIndex multi(64);
  multi.set_strategy(MultiIndex::Strategy::hashing);
  stress(multi, "multi_index", mutations);
  if (failures) {
    std::fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  std::printf("concurrency tests passed\n");
  return 0;
}
