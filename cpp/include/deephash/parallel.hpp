// Thread count and a small parallel-for used by the indexes.
#pragma once
#include <cstddef>
#include <functional>

namespace deephash {

// Threads used by searches; default = hardware cores (std::thread::hardware_concurrency).
int get_num_threads() noexcept;
// n <= 0 restores the default; n above kMaxThreads (limits.hpp) is capped to it.
void set_num_threads(int n) noexcept;

// Runs fn(task) for task in [0, ntasks) on up to `nthreads` threads (the calling thread is one
// of them). Tasks are handed out dynamically. The first exception thrown by a task is rethrown
// after all threads have stopped. Safe to call concurrently from several threads.
void parallel_for(size_t ntasks, int nthreads, const std::function<void(size_t task)>& fn);

}  // namespace deephash
