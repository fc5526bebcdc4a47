#pragma once
// A GPU profile: the efficiencies and overheads that turn peak numbers (GpuSpec) into predicted kernel
// times, plus the serving engine's per-step overhead. Written by `moesim calibrate` as YAML with
// provenance; calibrated profiles for A100-SXM-80GB and A100-SXM-40GB are embedded in the library.
// Every field is documented with its equation in docs/latency-model.md.
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace moesim {

// GEMM time (one kernel, M tokens x K in x N out, per-GPU shard):
//   t = launch + max(2*M*K*N / (peak * eff_c(M)), bytes / (hbm_bw * memory_efficiency))
//   eff_c(M) = compute_efficiency_max * M / (M + compute_half_tokens) [* W / (W + compute_half_weight_elements)]
// eff_c(M) rising with M models tile padding and low SM occupancy of small-M GEMMs (size-aware efficiency).
// The optional weight factor (W = K * N, the weight matrix's elements) models the same for the other two
// dimensions: a small weight has few output tiles and short K loops, so it fills the GPU less (LLMServingSim's
// RTX PRO 6000 tables: at 2,032 tokens Llama-3.1-8B's gate_up (4096 x 28672) runs at 0.82 of peak, its o_proj
// (4096 x 4096) at 0.70). 0 = no weight factor (the A100 profiles: Vidur's GEMMs fit to 3.3 % without it).
struct GemmEfficiency {
  double compute_efficiency_max = 0.75;  // fraction of peak dense FLOP/s at large M (and large W)
  double compute_half_tokens = 16;       // M at which compute efficiency is half its maximum
  double memory_efficiency = 0.80;       // fraction of peak HBM bandwidth when weight-bound
  double launch_overhead_s = 6e-6;       // per GEMM kernel
  double compute_half_weight_elements = 0;  // W = K * N at which the weight factor is 1/2; 0: no factor (last:
                                            // the aggregate initialisations of the four fields above stay valid)
};

// Memory-bound elementwise kernels (RMSNorm/LayerNorm, rotary embedding, activation, residual add):
//   t = kernels * launch + bytes / (hbm_bw * memory_efficiency)
struct ElementwiseEfficiency {
  double memory_efficiency = 0.5;
  double launch_overhead_s = 5e-6;
};

// The attention kernels as measured (FlashAttention 2, vLLM's FLASH_ATTN backend), used when a profile
// calibrates them per kernel (RTX PRO 6000: LLMServingSim's attention.csv). Equations and sources in
// docs/latency-model.md ("Attention kernels as measured"); src/perf/attention_kernels.hpp evaluates them.
//  * varlen kernel (prefill chunks, and in vLLM V1 the decodes of a mixed step in the same launch): one
//    thread block per (query tile of `query_tile_tokens` rows, query head); `concurrent_tiles` run at once
//    (one per SM). A tile streams its keys at the per-SM share of peak FLOP/s x prefill_compute_efficiency
//    (4 x query_tile x head_dim FLOPs per key), plus `tile_overhead_s` per wave (Q load, softmax
//    finalisation, O store); decode queries are one-row tiles costing `decode_tile_overhead_s` per wave.
//    Waves are quantised. The decode tiles of a mixed launch also read their own KV from DRAM once per
//    query head that misses L2: reads = kv_bytes x (1 + (G - 1) x min(1, sequences / concurrent_tiles) x
//    x / (x + mixed_reuse_half_bytes)), x = the decodes' KV bytes per KV head, G = query heads per KV
//    head, at mixed_memory_efficiency of HBM.
//  * split-KV decode kernel (decode-only steps, and every decode in vLLM V0): launch + per_seq x seqs +
//    KV bytes / (HBM bw x decode_memory_efficiency x w / (w + decode_half_work)), w = seqs x KV heads x
//    ceil(context / decode_partition_tokens): the parallel work that fills the GPU.
struct AttentionKernels {
  double query_tile_tokens = 64;          // query rows per FlashAttention tile (kBlockM, head_dim 128)
  double concurrent_tiles = 188;          // tiles resident at once (SMs x blocks per SM)
  double tile_overhead_s = 7e-6;          // per wave of prefill tiles
  double decode_tile_overhead_s = 4.4e-6; // per wave of one-query decode tiles in a varlen launch
  double decode_launch_overhead_s = 10e-6;  // the split-KV decode kernel's launch
  double decode_half_work = 18;           // work units (seq x KV head x partition) at half the max efficiency
  double decode_partition_tokens = 512;   // context tokens per split-KV partition
  double decode_per_seq_s = 0.09e-6;      // per decode sequence (its query tile, softmax combine)
  double mixed_memory_efficiency = 0.8;   // of HBM bandwidth for the decode tiles' KV reads in a mixed launch
  double mixed_reuse_half_bytes = 344e6;  // KV bytes per KV head at which half the GQA re-reads miss L2
};

// Attention kernels. Without `kernels` (the A100 profiles: no per-kernel attention data) the closed form:
// prefill = launch + 4 x head_dim x heads x causal pairs / (peak x prefill_compute_efficiency), decode =
// launch + KV bytes / (HBM bw x decode_memory_efficiency), a mixed step the sum of both. With `kernels`
// (profile YAML `attention.kernels`), the measured-kernel model above: prefill_compute_efficiency is then
// the FLOP rate of a full wave of tiles, decode_memory_efficiency the split-KV kernel's maximum, and
// launch_overhead_s the varlen kernel's launch.
struct AttentionEfficiency {
  double prefill_compute_efficiency = 0.45;  // of peak FLOP/s for the QK^T and PV products
  double decode_memory_efficiency = 0.55;    // of peak HBM bandwidth reading the KV cache
  double launch_overhead_s = 8e-6;           // per attention kernel (one per layer per phase)
  std::optional<AttentionKernels> kernels;
};

// Collectives: ring all-reduce over a group of n GPUs with bottleneck link bandwidth B (topology):
//   t = latency_base + latency_per_step * 2(n-1) + 2(n-1)/n * bytes / (B * eff(n))
// eff(n) is looked up by group size (NCCL's bus bandwidth differs between 2, 4 and 8 GPUs on NVSwitch).
// Point-to-point transfers (pipeline-parallel hand-over, NCCL send/recv) over the same link:
//   t = latency + link latency + bytes / (B * bandwidth_efficiency)
// A copy over one link reaches a larger fraction of it than a ring all-reduce's bus bandwidth, and starts
// faster (Vidur send_recv.csv vs all_reduce.csv on the same A100 nodes: 230-300 GB/s vs ~170 GB/s over
// NVSwitch, 10-17 us vs ~44 us for small messages), so it has its own pair of constants.
struct PointToPointEfficiency {
  double bandwidth_efficiency = 0.6;  // of the link's one-direction bandwidth
  double latency_s = 10e-6;
};

struct CollectiveEfficiency {
  // Index i holds the efficiency of a group of 2^(i+1) GPUs (2, 4, 8, 16+).
  std::array<double, 4> bandwidth_efficiency_by_group{0.6, 0.6, 0.6, 0.6};
  double latency_base_s = 10e-6;
  double latency_per_step_s = 1e-6;
  // Calibrated send/recv (YAML `send`); absent: a send is costed with the 2-GPU all-reduce efficiency and
  // the base latency (uncalibrated, the behaviour of profiles written before send/recv was fitted).
  std::optional<PointToPointEfficiency> send;
  [[nodiscard]] double efficiency_for(int group_size) const;
  [[nodiscard]] PointToPointEfficiency point_to_point() const {
    return send ? *send : PointToPointEfficiency{efficiency_for(2), latency_base_s};
  }
};

// The serving engine's per-step CPU/launch overhead (scheduling, input preparation, sampling
// bookkeeping): overhead = fixed + per_seq * sequences in the step. Calibrated on whole-step data.
struct EngineOverhead {
  std::string engine = "vllm";  // which engine/version the numbers describe
  double fixed_s = 5e-3;
  double per_seq_s = 20e-6;
};

// Where a profile's numbers come from.
struct ProfileProvenance {
  std::string method;                 // e.g. "moesim calibrate (Ceres, log relative residuals)"
  std::vector<std::string> data_files;  // repo-relative paths with origin commits in data/profiling/SOURCES.md
  std::vector<std::string> fit_errors;  // "data set: median x%, max y% (n rows)"
  std::string notes;
};

struct GpuProfile {
  std::string gpu;  // GpuSpec name this profile calibrates, e.g. "A100-SXM-80GB"
  GemmEfficiency gemm;
  ElementwiseEfficiency elementwise;
  AttentionEfficiency attention;
  CollectiveEfficiency nvlink;      // groups whose bottleneck is an NVSwitch port (YAML key `nvlink`)
  // Groups whose bottleneck is a direct GPU-to-GPU NVLink without a switch (the NVLink pairs of the
  // `pairwise-nvlink` topology, custom links of kind `nvlink`). NCCL reaches a different fraction of the
  // link there than through an NVSwitch (Vidur a100_pairwise_nvlink vs a100_dgx 2-GPU rows), so it has
  // its own set; a YAML without `collectives.nvlink_direct` inherits `nvlink`.
  CollectiveEfficiency nvlink_direct;
  CollectiveEfficiency pcie;        // groups whose bottleneck is PCIe
  CollectiveEfficiency internode;   // groups whose bottleneck is the inter-node network
  EngineOverhead engine;  // vLLM V0 (scheduler: v0): the engine the whole-step calibration data measured
  // vLLM V1 (scheduler: v1, v0.8+): the engine core runs scheduling, input preparation and output
  // processing overlapped with the GPU (separate processes, persistent batch, CUDA graphs; vLLM blog
  // "vLLM V1: A Major Upgrade to vLLM's Core Architecture", 2025-01-27), so a step costs its kernels:
  // no per-step engine term beyond the kernels' own launch costs, unless a profile measures one
  // (YAML `engine_v1`, or latency.engine_overhead in the scenario).
  EngineOverhead engine_v1{"vllm V1 (CPU work overlapped with the GPU; no per-step term)", 0.0, 0.0};
  // vLLM's fused-MoE expert kernels (Triton fused_moe: one kernel per matrix over all touched experts),
  // same formula as `gemm` (see moe_experts_time_s). Absent (the A100 profiles, YAML without `moe`): the
  // experts use `gemm`. Present when a measured MoE-layer table shows the fused kernel reaching other
  // efficiencies than the dense cuBLAS GEMMs (RTX PRO 6000: ~58 % of peak FLOP/s at large M vs ~75 %,
  // and a ~32 us fixed cost per layer for router, top-k, token alignment and the two launches).
  std::optional<GemmEfficiency> moe;
  ProfileProvenance provenance;

  // The efficiencies moe_experts_time_s must be given: `moe` when calibrated, else `gemm`.
  [[nodiscard]] const GemmEfficiency& moe_gemm() const { return moe ? *moe : gemm; }
};

// YAML round trip. Parse errors throw ConfigError naming file, line, column and the key.
[[nodiscard]] GpuProfile parse_gpu_profile_yaml(const std::string& text, const std::string& file_name);
[[nodiscard]] GpuProfile load_gpu_profile(const std::filesystem::path& path);
[[nodiscard]] std::string to_yaml(const GpuProfile& profile);

// Profiles embedded at build time from data/gpu-profiles/*.yaml (the binary needs no source tree).
[[nodiscard]] std::optional<GpuProfile> embedded_gpu_profile(const std::string& gpu_name);
[[nodiscard]] std::vector<std::string> embedded_gpu_profile_names();

}  // namespace moesim
