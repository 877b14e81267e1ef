// The registry of live index locks and their reset in a forked child (see rw_lock.hpp).
#include "deephash/rw_lock.hpp"

#include <pthread.h>

#include <new>

namespace deephash {

struct RwLockRegistry {
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static RwLock*& head() {
    static RwLock* h = nullptr;
    return h;
  }
  // Held across fork() so that no other thread is linking or unlinking a lock at that moment.
  static void prepare() { mutex().lock(); }
  static void parent() { mutex().unlock(); }
  static void child() {
    for (RwLock* l = head(); l != nullptr; l = l->next_) l->reset_in_child();
    mutex().unlock();  // locked by this thread in prepare()
  }
};

namespace {
std::once_flag g_atfork_once;
}  // namespace

RwLock::RwLock() {
  std::call_once(g_atfork_once,
                 [] { pthread_atfork(RwLockRegistry::prepare, RwLockRegistry::parent, RwLockRegistry::child); });
  std::lock_guard<std::mutex> g(RwLockRegistry::mutex());
  next_ = RwLockRegistry::head();
  if (next_ != nullptr) next_->prev_ = this;
  RwLockRegistry::head() = this;
}

RwLock::~RwLock() {
  std::lock_guard<std::mutex> g(RwLockRegistry::mutex());
  if (prev_ != nullptr)
    prev_->next_ = next_;
  else
    RwLockRegistry::head() = next_;
  if (next_ != nullptr) next_->prev_ = prev_;
}

void RwLock::throw_poisoned() {
  throw ForkedDuringMutation(
      "this index was being modified by another thread when the process forked; its copy in the "
      "child is unusable (reload it from its file in the child, or fork while no thread adds or removes)");
}

void RwLock::reset_in_child() {
  if (writing_.load()) poisoned_.store(true);
  writing_.store(false);
  // The states copied from the parent belong to threads that do not exist in the child; the
  // forking thread itself holds no index lock (fork is never called from inside an index call).
  new (&turnstile_) std::mutex();
  new (&mu_) std::shared_mutex();
}

}  // namespace deephash
