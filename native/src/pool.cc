#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SL_PAUSE() _mm_pause()
#else
#define SL_PAUSE() std::this_thread::yield()
#endif

namespace sl {

unsigned resolveThreads(unsigned requested, uint64_t maxUseful) {
  unsigned n = requested;
  if (n == 0) n = std::thread::hardware_concurrency();
  if (n == 0) n = 1;
  if (n > 256) n = 256;
  if (maxUseful < n) n = unsigned(maxUseful);
  return n < 1 ? 1 : n;
}

namespace {

using Clock = std::chrono::steady_clock;
// How long idle threads spin before sleeping: back-to-back calls (a batch-1 forward loop) then
// skip the futex wake-up, and idle threads cost nothing after this.
constexpr auto kSpin = std::chrono::microseconds(150);

struct Job {
  const std::function<void(unsigned)>* fn = nullptr;
  std::atomic<unsigned> pending{0};
  std::mutex errorMu;
  std::exception_ptr error;
  std::mutex doneMu;
  std::condition_variable doneCv;

  void runOne(unsigned i) {
    try {
      (*fn)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(errorMu);
      if (!error) error = std::current_exception();
    }
    // Under doneMu, so that once wait() has taken doneMu no thread is still touching the job.
    std::lock_guard<std::mutex> lock(doneMu);
    if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) doneCv.notify_one();
  }

  void wait() {
    const auto until = Clock::now() + kSpin;
    unsigned spins = 0;
    while (pending.load(std::memory_order_acquire) != 0) {
      SL_PAUSE();
      if ((++spins & 63) == 0 && Clock::now() > until) {
        std::unique_lock<std::mutex> lock(doneMu);
        doneCv.wait(lock, [&] { return pending.load(std::memory_order_acquire) == 0; });
      }
    }
    std::lock_guard<std::mutex> lock(doneMu);
  }
};

struct Worker {
  std::atomic<uint64_t> ticket{0};
  Job* job = nullptr;  // written before ticket is bumped, read after it is seen
  unsigned index = 0;
  std::mutex mu;
  std::condition_variable cv;

  void loop() {
    uint64_t seen = 0;
    for (;;) {
      uint64_t t;
      const auto until = Clock::now() + kSpin;
      unsigned spins = 0;
      while ((t = ticket.load(std::memory_order_acquire)) == seen) {
        SL_PAUSE();
        if ((++spins & 63) == 0 && Clock::now() > until) {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return ticket.load(std::memory_order_acquire) != seen; });
        }
      }
      seen = t;
      job->runOne(index);
    }
  }
};

class Pool {
 public:
  /** Runs a job; false if another thread is using the pool (worker_threads), so the caller spawns. */
  bool tryRun(unsigned n, const std::function<void(unsigned)>& fn) {
    std::unique_lock<std::mutex> busy(callMu_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    while (workers_.size() < n - 1) {
      auto* w = new Worker();  // never freed: workers live as long as the process
      w->index = unsigned(workers_.size()) + 1;
      std::thread([w] { w->loop(); }).detach();
      workers_.push_back(w);
    }
    Job& job = job_;  // persistent: threads never touch a job that is gone
    job.fn = &fn;
    job.error = nullptr;
    job.pending.store(n, std::memory_order_relaxed);
    for (unsigned i = 1; i < n; i++) {
      Worker* w = workers_[i - 1];
      w->job = &job;
      {
        std::lock_guard<std::mutex> lock(w->mu);
        w->ticket.fetch_add(1, std::memory_order_release);
      }
      w->cv.notify_one();
    }
    job.runOne(0);
    job.wait();
    std::exception_ptr error = job.error;
    job.error = nullptr;
    if (error) std::rethrow_exception(error);
    return true;
  }

 private:
  std::mutex callMu_;
  std::vector<Worker*> workers_;
  Job job_;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: its threads may still be parked at exit
  return *p;
}

}  // namespace

void parallelRun(unsigned n, const std::function<void(unsigned)>& fn) {
  if (n <= 1) {
    fn(0);
    return;
  }
  if (pool().tryRun(n, fn)) return;
  // The pool is busy (the addon is used from several JS threads at once): plain threads.
  std::exception_ptr error;
  std::mutex errorMu;
  auto guarded = [&](unsigned i) {
    try {
      fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(errorMu);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < n; i++) threads.emplace_back(guarded, i);
  guarded(0);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace sl
