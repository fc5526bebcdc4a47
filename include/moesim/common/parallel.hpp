#pragma once
// A small thread pool for independent, index-addressed work (rank's simulations, sweep points): task(i)
// for i in [0, n) on `jobs` threads. Each task writes its result by index, so the outcome does not
// depend on the job count or on the order in which tasks finish.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace moesim {

struct ParallelForOptions {
  int jobs = 1;
  const std::atomic<bool>* stop = nullptr;  // set: no new task starts (running ones finish)
  // Called from the calling thread (never from a worker) about every 200 ms while tasks run, and once
  // at the end: (done, total), `done` read from `done_counter` (which tasks increment themselves).
  std::function<void(std::int64_t, std::int64_t)> progress;
  const std::atomic<std::int64_t>* done_counter = nullptr;
  std::int64_t total = 0;
  // Called from the calling thread about every 200 ms while tasks run (checkpoints).
  std::function<void()> tick;
};

// Runs task(i) for every i in [0, n) unless stopped. The first exception a task throws stops the other
// workers (no new task starts) and is rethrown on the calling thread after every worker joined.
void parallel_for(std::size_t n, const std::function<void(std::size_t)>& task, const ParallelForOptions& options);

// std::thread::hardware_concurrency(), at least 1 (the default of --jobs).
[[nodiscard]] int hardware_threads();

}  // namespace moesim
