#pragma once

#include <pthread.h>
#include <system_error>

namespace ferro {

/// A reader-writer mutex that favours writers: once a writer waits, new
/// readers queue behind it. std::shared_mutex on glibc favours readers, so a
/// steady stream of lookups (several threads, each taking the shared lock
/// before the last one left it) keeps a writer out indefinitely; we saw a
/// writer wait minutes in the concurrency test.
///
/// Meets SharedMutex, so std::shared_lock and std::unique_lock work. Not
/// recursive: a thread holding the shared lock must not take it again.
class rw_mutex {
public:
  rw_mutex() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    int rc = pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0)
      throw std::system_error(rc, std::generic_category(), "pthread_rwlock_init");
  }
  ~rw_mutex() {
    pthread_rwlock_destroy(&lock_);
  }
  rw_mutex(const rw_mutex&) = delete;
  rw_mutex& operator=(const rw_mutex&) = delete;

  void lock() {
    pthread_rwlock_wrlock(&lock_);
  }
  bool try_lock() {
    return pthread_rwlock_trywrlock(&lock_) == 0;
  }
  void unlock() {
    pthread_rwlock_unlock(&lock_);
  }
  void lock_shared() {
    pthread_rwlock_rdlock(&lock_);
  }
  bool try_lock_shared() {
    return pthread_rwlock_tryrdlock(&lock_) == 0;
  }
  void unlock_shared() {
    pthread_rwlock_unlock(&lock_);
  }

private:
  pthread_rwlock_t lock_;
};

} // namespace ferro
