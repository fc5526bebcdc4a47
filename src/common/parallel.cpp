#include "moesim/common/parallel.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace moesim {

void parallel_for(std::size_t n, const std::function<void(std::size_t)>& task, const ParallelForOptions& options) {
  const std::atomic<bool>* stop = options.stop;
  std::atomic<std::size_t> next{0};
  // The first exception of any task (a bad input met only while working, an internal error) stops the
  // other workers and is rethrown on the caller's thread after they joined: never std::terminate.
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  // The driving thread sleeps between progress calls but wakes as soon as every worker has ended (a
  // sweep of many short points must not wait out a polling period at the end).
  std::mutex finished_mutex;
  std::condition_variable finished_cv;
  int finished_workers = 0;
  auto work = [&] {
    for (;;) {
      if ((stop != nullptr && stop->load()) || failed.load()) return;
      const std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        task(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        failed.store(true);
        return;
      }
    }
  };
  auto worker = [&] {
    work();
    const std::lock_guard<std::mutex> lock(finished_mutex);
    ++finished_workers;
    finished_cv.notify_all();
  };
  const auto done = [&]() -> std::int64_t {
    return options.done_counter != nullptr ? options.done_counter->load() : 0;
  };
  const int threads = std::max(1, std::min<int>(options.jobs, static_cast<int>(std::max<std::size_t>(n, 1))));
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  if (options.progress || options.tick) {
    // Poll rather than call back from workers: the callbacks print / write and need not be thread-safe.
    for (;;) {
      if (options.progress) options.progress(done(), options.total);
      if (options.tick) options.tick();
      std::unique_lock<std::mutex> lock(finished_mutex);
      if (finished_cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return finished_workers == threads; })) break;
    }
  }
  for (std::thread& t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);
  if (options.progress) options.progress(done(), options.total);
}

int hardware_threads() { return static_cast<int>(std::max(1U, std::thread::hardware_concurrency())); }

}  // namespace moesim
