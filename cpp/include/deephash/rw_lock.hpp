// Reader-writer lock of an index: any number of searches at once, mutations one at a time.
#pragma once
#include <mutex>
#include <shared_mutex>

namespace deephash {

// A std::shared_mutex that does not starve writers. glibc's rwlock prefers readers: with
// searches overlapping each other without a gap, an add would wait forever. Here a writer
// takes a turnstile before the exclusive lock and holds it while waiting, so readers that
// arrive after it queue behind it; the searches already running finish first.
// Meets the SharedMutex requirements (usable with std::shared_lock / std::unique_lock).
// Not recursive: a thread holding it must not take it again.
class RwLock {
 public:
  void lock() {
    std::lock_guard<std::mutex> turn(turnstile_);
    mu_.lock();
  }
  void unlock() { mu_.unlock(); }
  void lock_shared() {
    std::lock_guard<std::mutex> turn(turnstile_);
    mu_.lock_shared();
  }
  void unlock_shared() { mu_.unlock_shared(); }

 private:
  std::mutex turnstile_;
  std::shared_mutex mu_;
};

using ReadLock = std::shared_lock<RwLock>;
using WriteLock = std::unique_lock<RwLock>;

}  // namespace deephash
