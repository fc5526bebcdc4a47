#pragma once
// Paged KV-cache accounting for one replica, as vLLM's block managers do it for n = 1 sequences without
// prefix caching: only block COUNTS matter (which physical block holds what does not change timing or
// admission), so the manager is a few integers and every operation is O(1).
// Sources: vllm/core/block_manager_v1.py @v0.6.3 (:237-315 watermark and can_allocate, :375-385
// can_append_slots), vllm/v1/core/block_pool.py @v0.11.0 (null block). See specs/vllm-scheduler.md 2.1, 5.1.
#include <cstdint>

#include "moesim/common/errors.hpp"

namespace moesim {

enum class AllocationStatus { kOk, kLater, kNever };

class BlockManager {
 public:
  // `num_blocks`: usable GPU blocks of the replica. `watermark_fraction`: V0 keeps int(0.01 * blocks)
  // free at admission (block_manager_v1.py:260); V1 uses none. `num_cpu_blocks`: swap space.
  BlockManager(std::int64_t num_blocks, double watermark_fraction, std::int64_t num_cpu_blocks);

  [[nodiscard]] std::int64_t total_blocks() const { return total_; }
  [[nodiscard]] std::int64_t free_blocks() const { return free_; }
  [[nodiscard]] std::int64_t used_blocks() const { return total_ - free_; }
  [[nodiscard]] std::int64_t watermark_blocks() const { return watermark_; }
  [[nodiscard]] std::int64_t free_cpu_blocks() const { return free_cpu_; }
  [[nodiscard]] std::int64_t total_cpu_blocks() const { return total_cpu_; }

  // V0 admission check for a (re)prefill needing `need` blocks (block_manager_v1.py:284-315).
  [[nodiscard]] AllocationStatus can_allocate(std::int64_t need) const {
    if (total_ - need < watermark_) return AllocationStatus::kNever;
    if (free_ - need >= watermark_) return AllocationStatus::kOk;
    return AllocationStatus::kLater;
  }
  // V1 / decode-time check: exact need, no watermark.
  [[nodiscard]] bool has_free(std::int64_t need) const { return need <= free_; }

  // Inline: the fast schedulers allocate once per step.
  void allocate(std::int64_t count) {  // precondition: count <= free_blocks()
    check_invariant(count >= 0 && count <= free_, "KV allocation never exceeds the free blocks");
    free_ -= count;
  }
  void release(std::int64_t count) {  // precondition: count <= used_blocks()
    check_invariant(count >= 0 && count <= total_ - free_, "KV release never exceeds the used blocks");
    free_ += count;
  }

  // Swap (V0 preemption_mode = swap): move `count` GPU blocks to CPU and back.
  [[nodiscard]] bool can_swap_out(std::int64_t count) const { return count <= free_cpu_; }
  // block_manager_v1.py:531-551: swap-in needs the blocks plus one per sequence above the watermark.
  [[nodiscard]] bool can_swap_in(std::int64_t count, std::int64_t num_seqs) const {
    return free_ - (count + num_seqs) >= watermark_;
  }
  void swap_out(std::int64_t count);
  void swap_in(std::int64_t count);
  void release_cpu(std::int64_t count);

 private:
  std::int64_t total_;
  std::int64_t free_;
  std::int64_t watermark_;
  std::int64_t total_cpu_;
  std::int64_t free_cpu_;
};

// Blocks needed to hold `tokens` tokens.
[[nodiscard]] inline std::int64_t blocks_for_tokens(std::int64_t tokens, std::int64_t block_size) {
  return (tokens + block_size - 1) / block_size;
}

}  // namespace moesim
