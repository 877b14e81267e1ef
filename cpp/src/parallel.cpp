// Thread count and parallel_for over a persistent pool of worker threads.
//
// Starting threads per call cost tens of microseconds, a large share of a single query over a
// few million codes. Workers are started lazily, sleep on a condition variable between jobs and
// are shared by concurrent callers: each call is a job that the caller works on too, with up to
// nthreads - 1 workers helping. Waking a sleeping thread can take hundreds of microseconds on a
// virtual machine, so workers spin for a short while after each job before they sleep, and the
// caller spins while the last tasks finish (as OpenMP runtimes do). After fork() the child gets
// a fresh pool (the parent's worker threads do not exist there).
#include "deephash/parallel.hpp"

#include "deephash/limits.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace deephash {
namespace {

int default_threads() noexcept {
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min<unsigned>(hw, kMaxThreads));
}

std::atomic<int> g_threads{0};  // 0 = default

constexpr auto kSpin = std::chrono::microseconds(1000);  // busy-wait before sleeping

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until ready() or kSpin has passed; returns ready().
template <typename Ready>
bool spin_until(Ready ready) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (unsigned i = 1;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > until) return ready();
  }
}

struct Job {
  const std::function<void(size_t)>* fn = nullptr;
  size_t ntasks = 0;
  int max_helpers = 0;
  std::atomic<size_t> next{0};
  std::atomic<size_t> finished{0};
  std::atomic<bool> failed{false};
  int helpers = 0;  // guarded by the pool mutex
  std::mutex mu;    // guards error and done
  std::condition_variable cv;
  std::exception_ptr error;
  bool done = false;

  // Runs tasks until none are left; the thread that finishes the last one wakes the caller.
  void work() {
    for (;;) {
      const size_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= ntasks) return;
      if (!failed.load(std::memory_order_relaxed)) {
        try {
          (*fn)(t);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mu);
          if (!error) error = std::current_exception();
          failed.store(true);
        }
      }
      if (finished.fetch_add(1, std::memory_order_acq_rel) + 1 == ntasks) {
        std::lock_guard<std::mutex> lock(mu);
        done = true;
        cv.notify_all();
      }
    }
  }
};

class Pool {
 public:
  // Runs the job with up to `helpers` pool threads besides the calling thread.
  void run(const std::shared_ptr<Job>& job, int helpers) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (static_cast<int>(workers_.size()) < helpers) {
        try {
          workers_.emplace_back([this] { loop(); });
        } catch (...) {
          break;  // could not start a thread: fewer helpers
        }
      }
      job->max_helpers = helpers;
      jobs_.push_back(job);
      queued_.store(jobs_.size(), std::memory_order_release);
    }
    cv_.notify_all();
    job->work();
    if (spin_until([&] { return job->finished.load(std::memory_order_acquire) == job->ntasks; })) return;
    std::unique_lock<std::mutex> lock(job->mu);
    job->cv.wait(lock, [&] { return job->done; });
  }

 private:
  void loop() {
    for (;;) {
      std::shared_ptr<Job> job;
      spin_until([&] { return queued_.load(std::memory_order_acquire) > 0; });
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !jobs_.empty(); });
        job = jobs_.front();
        if (job->helpers >= job->max_helpers || job->next.load(std::memory_order_relaxed) >= job->ntasks) {
          jobs_.pop_front();  // enough help, or nothing left to hand out
          queued_.store(jobs_.size(), std::memory_order_release);
          continue;
        }
        ++job->helpers;
      }
      job->work();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> jobs_;
  std::atomic<size_t> queued_{0};  // jobs_.size(), readable without the mutex
  std::vector<std::thread> workers_;
};

// Never destroyed: workers sleep until the process exits. Replaced (and the old one leaked) in a
// forked child, whose copy of the pool has no threads behind it.
std::atomic<Pool*> g_pool{nullptr};
std::once_flag g_atfork_once;

Pool& pool() {
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, [] { g_pool.store(nullptr); }); });
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p == nullptr) {
    Pool* fresh = new Pool();
    if (g_pool.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) return *fresh;
    delete fresh;
  }
  return *p;
}

}  // namespace

int get_num_threads() noexcept {
  int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : default_threads();
}

void set_num_threads(int n) noexcept {
  g_threads.store(n > 0 ? std::min(n, kMaxThreads) : 0, std::memory_order_relaxed);
}

void parallel_for(size_t ntasks, int nthreads, const std::function<void(size_t)>& fn) {
  if (ntasks == 0) return;
  const size_t workers = std::min<size_t>(ntasks, static_cast<size_t>(std::max(1, nthreads)));
  if (workers == 1) {
    for (size_t t = 0; t < ntasks; ++t) fn(t);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->ntasks = ntasks;
  pool().run(job, static_cast<int>(workers) - 1);
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace deephash
