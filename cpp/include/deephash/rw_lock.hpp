// Reader-writer lock of an index: any number of searches at once, mutations one at a time.
#pragma once
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>

namespace deephash {

// Thrown (RuntimeError in Python) by an index whose copy in a forked child is unusable because
// another thread of the parent was modifying it when the process forked.
class ForkedDuringMutation : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A std::shared_mutex that does not starve writers. glibc's rwlock prefers readers: with
// searches overlapping each other without a gap, an add would wait forever. Here a writer
// takes a turnstile before the exclusive lock and holds it while waiting, so readers that
// arrive after it queue behind it; the searches already running finish first.
// Meets the SharedMutex requirements (usable with std::shared_lock / std::unique_lock).
// Not recursive: a thread holding it must not take it again.
//
// fork(): the child has only the forking thread, yet inherits the lock state of all the
// parent's threads, so a lock held at the fork would never be released there. Every live lock
// is registered; in the child (pthread_atfork) each is reinitialised — the index's data is
// consistent, since no writer was inside it — except one a writer held at that moment: that
// index may be half-modified, so its lock is poisoned and every later call raises
// ForkedDuringMutation instead of hanging or answering from a torn state.
class RwLock {
 public:
  RwLock();
  ~RwLock();
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

  void lock() {
    check_usable();
    std::lock_guard<std::mutex> turn(turnstile_);
    mu_.lock();
    writing_.store(true);
  }
  void unlock() {
    writing_.store(false);
    mu_.unlock();
  }
  void lock_shared() {
    check_usable();
    std::lock_guard<std::mutex> turn(turnstile_);
    mu_.lock_shared();
  }
  void unlock_shared() { mu_.unlock_shared(); }

 private:
  friend struct RwLockRegistry;
  void check_usable() const {
    if (poisoned_.load(std::memory_order_relaxed)) throw_poisoned();
  }
  [[noreturn]] static void throw_poisoned();
  void reset_in_child();

  std::mutex turnstile_;
  std::shared_mutex mu_;
  std::atomic<bool> writing_{false};
  std::atomic<bool> poisoned_{false};
  RwLock* prev_ = nullptr;  // the registry of live locks (rw_lock.cpp)
  RwLock* next_ = nullptr;
};

using ReadLock = std::shared_lock<RwLock>;
using WriteLock = std::unique_lock<RwLock>;

}  // namespace deephash
