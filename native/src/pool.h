// A small persistent thread pool: kernels run fn(0..n-1) on the caller plus n-1 pool threads.
#pragma once

#include <cstdint>
#include <functional>

namespace sl {

/** The number of threads to use: `requested` (0 = hardware concurrency), at most `maxUseful`, at least 1. */
unsigned resolveThreads(unsigned requested, uint64_t maxUseful);

/**
 * Runs fn(i) for i in [0, n) in parallel, fn(0) on the calling thread, and returns when all are
 * done. The first exception thrown by any fn is rethrown here, after every fn has returned.
 */
void parallelRun(unsigned n, const std::function<void(unsigned)>& fn);

}  // namespace sl
