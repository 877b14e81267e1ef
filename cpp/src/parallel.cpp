// Thread count and parallel_for: threads are started per call (a search over a large index
// costs far more than starting them), so concurrent searches never share mutable state.
#include "deephash/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace deephash {
namespace {

int default_threads() noexcept {
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

std::atomic<int> g_threads{0};  // 0 = default

}  // namespace

int get_num_threads() noexcept {
  int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : default_threads();
}

void set_num_threads(int n) noexcept { g_threads.store(n > 0 ? n : 0, std::memory_order_relaxed); }

void parallel_for(size_t ntasks, int nthreads, const std::function<void(size_t)>& fn) {
  if (ntasks == 0) return;
  size_t workers = std::min<size_t>(ntasks, static_cast<size_t>(std::max(1, nthreads)));
  if (workers == 1) {
    for (size_t t = 0; t < ntasks; ++t) fn(t);
    return;
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (;;) {
      size_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= ntasks || failed.load(std::memory_order_relaxed)) return;
      try {
        fn(t);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed.store(true);
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  try {
    for (size_t i = 1; i < workers; ++i) threads.emplace_back(work);
  } catch (...) {
    // Could not start a thread: the threads already started and this one finish the work.
  }
  work();
  for (auto& th : threads) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace deephash
