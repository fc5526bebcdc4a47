#include "moesim/kvcache/block_manager.hpp"

#include "moesim/common/errors.hpp"

namespace moesim {

BlockManager::BlockManager(std::int64_t num_blocks, double watermark_fraction, std::int64_t num_cpu_blocks)
    : total_(num_blocks),
      free_(num_blocks),
      // int(0.01 * num_gpu_blocks): truncation, as Python's int() (block_manager_v1.py:260).
      watermark_(static_cast<std::int64_t>(watermark_fraction * static_cast<double>(num_blocks))),
      total_cpu_(num_cpu_blocks),
      free_cpu_(num_cpu_blocks) {
  check_invariant(num_blocks > 0, "a replica has at least one KV block");
}

void BlockManager::swap_out(std::int64_t count) {
  check_invariant(count <= free_cpu_, "swap-out fits in CPU swap space");
  release(count);
  free_cpu_ -= count;
}

void BlockManager::swap_in(std::int64_t count) {
  check_invariant(count <= total_cpu_ - free_cpu_, "swap-in of blocks that were swapped out");
  allocate(count);
  free_cpu_ += count;
}

void BlockManager::release_cpu(std::int64_t count) {
  check_invariant(count <= total_cpu_ - free_cpu_, "CPU release never exceeds used CPU blocks");
  free_cpu_ += count;
}

}  // namespace moesim
