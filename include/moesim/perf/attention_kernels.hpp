#pragma once
// The attention kernels as measured (GpuProfile AttentionEfficiency::kernels): per-layer times of vLLM's
// FlashAttention varlen launch (prefill chunks, and in V1 the decodes of a mixed step in the same launch)
// and of the split-KV decode kernel, for the heads held by one GPU. Everything that does not depend on
// the step is precomputed here, so one evaluation is a few multiply-adds, three ceil() and four
// divisions (the event loop calls it once per step). Equations: docs/latency-model.md, "Attention
// kernels as measured"; fitted by `moesim calibrate --llmservingsim` (src/perf/llmservingsim_calibration.cpp).
#include <algorithm>
#include <cmath>

#include "moesim/hardware/gpu.hpp"
#include "moesim/perf/gpu_profile.hpp"

namespace moesim {

class AttentionKernelModel {
 public:
  AttentionKernelModel() = default;
  // heads, kv_heads: query and KV heads on this GPU; elem_bytes: bytes per KV-cache element.
  AttentionKernelModel(const AttentionEfficiency& a, const AttentionKernels& k, const GpuSpec& gpu, double heads,
                       double kv_heads, double head_dim, double elem_bytes)
      : heads_(heads),
        kv_heads_(kv_heads),
        gqa_(std::max(1.0, heads / std::max(1.0, kv_heads))),
        concurrent_(k.concurrent_tiles),
        inv_concurrent_(1.0 / k.concurrent_tiles),
        inv_tile_(1.0 / k.query_tile_tokens),
        // A tile streams one key in 4 x tile x head_dim FLOPs (QK^T and PV, 2 FLOPs per multiply-add) at
        // 1/concurrent of the GPU's rate when a full wave runs.
        s_per_key_(4.0 * k.query_tile_tokens * head_dim * k.concurrent_tiles /
                   (gpu.peak_dense_flops * a.prefill_compute_efficiency)),
        tile_overhead_s_(k.tile_overhead_s),
        decode_tile_overhead_s_(k.decode_tile_overhead_s),
        varlen_launch_s_(a.launch_overhead_s),
        kv_bytes_per_token_head_(2.0 * head_dim * elem_bytes),  // K and V
        mixed_s_per_byte_(1.0 / (gpu.hbm_bandwidth_bytes_per_s * k.mixed_memory_efficiency)),
        mixed_reuse_half_bytes_(k.mixed_reuse_half_bytes),
        decode_launch_s_(k.decode_launch_overhead_s),
        decode_per_seq_s_(k.decode_per_seq_s),
        decode_s_per_byte_(1.0 / (gpu.hbm_bandwidth_bytes_per_s * a.decode_memory_efficiency)),
        decode_half_work_(k.decode_half_work),
        inv_partition_(1.0 / k.decode_partition_tokens) {}

  // One varlen launch. `chunks` prefill chunks of `prefill_tokens` in all, attending to `prefill_kv_tokens`
  // (sum over chunks of computed context + chunk), and `decodes` one-query sequences reading
  // `decode_context_tokens` in all. Tiles per head and keys per tile are exact for one chunk; for several
  // chunks they use the mean chunk (half a tile of padding per extra chunk). 0 for an empty launch.
  [[nodiscard]] double varlen_s(double chunks, double prefill_tokens, double prefill_kv_tokens, double decodes,
                                double decode_context_tokens) const {
    double tiles_p = 0, len_p = 0;
    if (prefill_tokens > 0) {
      const double n = std::max(1.0, chunks);
      const double tiles_per_head = std::ceil(prefill_tokens * inv_tile_ + 0.5 * (n - 1.0));
      // Tile i of a chunk of c after s computed tokens reads s + min(c, tile x (i + 1)) keys: summed over
      // its tiles, tiles x (s + c/2) + c/2 (exact when c is a multiple of the tile).
      const double keys = tiles_per_head * (prefill_kv_tokens - 0.5 * prefill_tokens) / n + 0.5 * prefill_tokens;
      tiles_p = tiles_per_head * heads_;
      len_p = keys / tiles_per_head * s_per_key_ + tile_overhead_s_;
    }
    double tiles_d = 0, len_d = 0, mem = 0;
    if (decodes > 0) {
      tiles_d = decodes * heads_;
      len_d = decode_context_tokens / decodes * s_per_key_ + decode_tile_overhead_s_;
      // The decodes' KV, read by each of the G query heads of a KV head. The grid runs (tile, sequence,
      // head) with the sequence before the head, so the G query heads of one sequence's KV head are
      // `sequences` tiles apart in dispatch order: they run at the same time (and share the KV through
      // L2) unless that distance is a large part of the S resident tiles; and what is not co-resident
      // still hits L2 while the decodes' KV per KV head, x, is small against mixed_reuse_half_bytes.
      const double x = decode_context_tokens * kv_bytes_per_token_head_;
      const double apart = std::min(1.0, (decodes + chunks) * inv_concurrent_);
      mem = x * kv_heads_ * (1.0 + (gqa_ - 1.0) * apart * x / (x + mixed_reuse_half_bytes_)) * mixed_s_per_byte_;
    }
    if (tiles_p + tiles_d <= 0) return 0.0;
    // Longer tiles (a) and shorter ones (b). Two schedules bound the launch: the short tiles fill the
    // long tiles' idle slots and then run in full waves; or those that find no idle slot are dispatched
    // between the long tiles (grid order) and delay them by their work spread over all SMs. The larger
    // is charged.
    double a = tiles_p, la = len_p, b = tiles_d, lb = len_d;
    if (lb > la) {
      std::swap(a, b);
      std::swap(la, lb);
    }
    const double waves_a = std::ceil(a * inv_concurrent_);
    const double long_part = waves_a * la;
    double compute = long_part;
    if (b > 0) {
      const double rest = std::max(0.0, b * lb - (waves_a * concurrent_ - a) * la);
      const double fill = long_part + std::ceil(rest * inv_concurrent_ / lb) * lb;
      const double spread = long_part + std::max(0.0, b - (waves_a * concurrent_ - a)) * lb * inv_concurrent_;
      compute = std::max(fill, spread);
    }
    return varlen_launch_s_ + std::max(compute, mem);
  }

  // The split-KV decode kernel over `decodes` sequences reading `decode_context_tokens` in all.
  [[nodiscard]] double split_kv_decode_s(double decodes, double decode_context_tokens) const {
    if (decodes <= 0) return 0.0;
    const double bytes = decode_context_tokens * kv_bytes_per_token_head_ * kv_heads_;
    const double work = decodes * kv_heads_ * std::max(1.0, std::ceil(decode_context_tokens / decodes * inv_partition_));
    return decode_launch_s_ + decodes * decode_per_seq_s_ + bytes * decode_s_per_byte_ * (1.0 + decode_half_work_ / work);
  }

 private:
  double heads_ = 0, kv_heads_ = 0, gqa_ = 1;
  double concurrent_ = 1, inv_concurrent_ = 1, inv_tile_ = 1, s_per_key_ = 0;
  double tile_overhead_s_ = 0, decode_tile_overhead_s_ = 0, varlen_launch_s_ = 0;
  double kv_bytes_per_token_head_ = 0, mixed_s_per_byte_ = 0, mixed_reuse_half_bytes_ = 1;
  double decode_launch_s_ = 0, decode_per_seq_s_ = 0, decode_s_per_byte_ = 0, decode_half_work_ = 0;
  double inv_partition_ = 1;
};

}  // namespace moesim
