// Per-GPU memory plan of one replica: weights, activation reserve, non-torch memory, KV blocks.
// Mirrors vLLM's determine_num_available_blocks (vllm/worker/worker.py:205-254 @v0.6.3) and
// cache_engine.py:102-120 (block bytes); V1 differences from vllm/v1 @v0.11.0. Equations and every
// constant: docs/model-and-memory.md.
#include "moesim/cluster/memory_plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

#include "moesim/common/units.hpp"

namespace moesim {
namespace {

// Memory outside torch's caching allocator that the profiling run still sees (it measures free
// device memory): cuBLAS workspaces and allocator slack on one GPU; plus NCCL communicator buffers
// and custom all-reduce IPC buffers when the replica spans several GPUs. ESTIMATES, from vLLM's
// profiling logs: "non_torch_memory takes 0.16GiB" (H100, TP1, vllm PR #12126), 0.20 GiB (TP4,
// 24 GB GPUs, PR #14447), 0.59-0.73 GiB (TP2, nlzy/vllm-gfx906 issue #10). CUDA context memory is
// not counted: vLLM measures free memory after the context exists, so it sits in the
// (1 - gpu_memory_utilization) headroom.
constexpr double kNonTorchSingleGpuBytes = 0.2 * kBytesPerGiB;
constexpr double kNonTorchMultiGpuBytes = 0.6 * kBytesPerGiB;

// Bytes per element of the sampler's float32 copies of the logits (logits.float(), probabilities,
// log-probabilities: 3 x 4 bytes), vllm/model_executor/layers/sampler.py @v0.6.3.
constexpr double kSamplerBytesPerLogit = 3.0 * 4.0;

// V0 default max_num_batched_tokens without chunked prefill is max(max_model_len, 2048)
// (vllm/config.py:985-987 @v0.6.3); with chunked prefill 512 (config.py:973-983). V1: 2048, the
// OpenAI-server default on A100 and the SchedulerConfig fallback (vllm/engine/arg_utils.py:1605-1624,
// vllm/utils/__init__.py:88 @v0.11.0).
constexpr int kV0MinBatchedTokens = 2048;
constexpr int kV0ChunkedBatchedTokens = 512;
constexpr int kV1DefaultBatchedTokens = 2048;

double gib(double bytes) { return bytes / kBytesPerGiB; }

std::string format_gib(double bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f GiB", gib(bytes));
  return buffer;
}

int resolved_max_model_len(const ModelArchitecture& arch, const ServingConfig& serving) {
  return serving.max_model_len > 0 ? serving.max_model_len : arch.max_position_embeddings;
}

int kv_heads_per_gpu(const ModelArchitecture& arch, int tp) {
  // vllm/config.py:514-522 @v0.6.3: max(1, total_num_kv_heads // tensor_parallel_size).
  return std::max(1, arch.num_kv_heads / std::max(1, tp));
}

// Attention parameters of one layer held by one GPU of the tensor-parallel group (at TP 1 exactly
// ParameterCounts::attention_per_layer).
double attention_shard(const ModelArchitecture& arch, int tensor_parallel_size) {
  const double tp = static_cast<double>(std::max(1, tensor_parallel_size));
  const double h = static_cast<double>(arch.hidden_size);
  const double heads = static_cast<double>(arch.num_attention_heads);
  double attention = 0;
  if (arch.uses_mla()) {
    // Multi-head Latent Attention as vLLM shards it (DeepseekV2MLAAttention): q_a_proj (h x r_q) with
    // q_a_layernorm, kv_a_proj_with_mqa (h x (r_kv + rope)) and kv_a_layernorm are replicated;
    // q_b_proj (r_q x H(nope + rope)) or q_proj (h x H(nope + rope)) and kv_b_proj (r_kv x H(nope + v))
    // are column-parallel, o_proj (Hv x h) row-parallel: their head dimension is split by TP.
    const double qk = static_cast<double>(arch.qk_nope_head_dim + arch.qk_rope_head_dim);
    const double q_rank = static_cast<double>(arch.q_lora_rank);
    const double kv_rank = static_cast<double>(arch.kv_lora_rank);
    attention = arch.q_lora_rank > 0 ? h * q_rank + q_rank + q_rank * heads * qk / tp : h * heads * qk / tp;
    attention += h * (kv_rank + static_cast<double>(arch.qk_rope_head_dim)) + kv_rank;
    attention += kv_rank * heads * static_cast<double>(arch.qk_nope_head_dim + arch.v_head_dim) / tp;
    attention += heads * static_cast<double>(arch.v_head_dim) * h / tp;
  } else {
    const double d = static_cast<double>(arch.effective_head_dim());
    const double q_width = heads * d;
    const double kv_width_per_gpu = static_cast<double>(kv_heads_per_gpu(arch, tensor_parallel_size)) * d;
    // q and o are split by TP; k and v hold this GPU's KV heads (replicated when TP > kv_heads,
    // vLLM QKVParallelLinear); the o bias and the norms are replicated.
    attention = 2.0 * h * q_width / tp + 2.0 * h * kv_width_per_gpu;
    if (arch.qkv_bias) attention += q_width / tp + 2.0 * kv_width_per_gpu;
    if (arch.attention_output_bias) attention += h;
    // q/k norms: per-head RMSNorm (Qwen3) is replicated; the full-width one (OLMoE) normalises the
    // gathered q and k, so every rank holds all of it.
    if (arch.qk_norm == QkNorm::kPerHead) attention += 2.0 * d;
    if (arch.qk_norm == QkNorm::kFull) attention += q_width + static_cast<double>(arch.num_kv_heads) * d;
  }
  if (arch.attention_sinks) attention += heads / tp;  // one sink per head, split with the heads
  return attention;
}

// Parameters of one layer held by one GPU of the tensor-parallel group.
struct LayerShard {
  double dense_layer = 0;  // attention + norms + dense MLP
  double moe_layer = 0;    // attention + norms + router + shared experts + this GPU's share of the experts
};

LayerShard layer_shard(const ModelArchitecture& arch, const ServingConfig& serving) {
  const ParameterCounts counts = count_parameters(arch);
  const double tp = static_cast<double>(serving.tensor_parallel_size);
  const double ep = static_cast<double>(serving.expert_parallel_ranks());
  const double slices = static_cast<double>(serving.expert_tensor_slices());
  const double h = static_cast<double>(arch.hidden_size);
  const double common = attention_shard(arch, serving.tensor_parallel_size) + counts.norms_per_layer;

  LayerShard shard;
  shard.dense_layer = common + counts.dense_mlp_per_layer / tp;
  if (arch.is_moe()) {
    // Routed experts: tensor-sliced over TP when EP == 1; with EP > 1 whole experts are spread over
    // EP GPUs (ceil(E / EP) on the fullest, vLLM determine_expert_map) and each is sliced over
    // `slices` GPUs: TP / EP inside a replica, 1 with enable_expert_parallel (EP = TP x DP). The
    // router is replicated (ReplicatedLinear in vLLM's Mixtral).
    const double experts = static_cast<double>(arch.num_experts);
    const double routed = ep <= 1.0 ? experts * counts.expert_mlp / tp
                                    : std::ceil(experts / ep) * counts.expert_mlp / slices;
    // Shared experts (each of the shared width, counts.shared_experts_per_moe_layer) are tensor-sliced
    // like a dense MLP; Qwen-MoE's shared-expert gate Linear(h, 1) is replicated.
    const double shared_gate = arch.shared_expert_gate && arch.num_shared_experts > 0 ? h : 0.0;
    const double shared = (counts.shared_experts_per_moe_layer - shared_gate) / tp + shared_gate;
    shard.moe_layer = common + counts.router_per_moe_layer + shared + routed;
  }
  return shard;
}

}  // namespace

double weight_bytes_per_gpu(const ModelArchitecture& arch, const ServingConfig& serving) {
  const ParameterCounts counts = count_parameters(arch);
  const LayerShard shard = layer_shard(arch, serving);
  const int pp = std::max(1, serving.pipeline_parallel_size);
  const double tp = static_cast<double>(std::max(1, serving.tensor_parallel_size));
  const int layers_per_stage = (arch.num_layers + pp - 1) / pp;
  const double h = static_cast<double>(arch.hidden_size);
  const double token_embedding = static_cast<double>(arch.vocab_size) * h / tp;  // VocabParallelEmbedding
  const double position_table = static_cast<double>(arch.position_embedding_rows) * h;  // replicated (OPT)
  const double lm_head = counts.lm_head / tp;                                         // ParallelLMHead
  // PhiMoE's LM-head bias, split with the vocabulary.
  const double lm_head_bias = arch.lm_head_bias ? static_cast<double>(arch.vocab_size) / tp : 0.0;

  // Layers are split into contiguous stages of ceil(l / PP); the first stage also holds the input
  // embeddings, the last the final norm and the LM head (a copy of the embedding when tied and PP > 1).
  double heaviest = 0;
  for (int stage = 0; stage < pp; ++stage) {
    const int first = stage * layers_per_stage;
    const int last = std::min(arch.num_layers, first + layers_per_stage);
    double params = 0;
    for (int layer = first; layer < last; ++layer) {
      params += arch.is_moe_layer(layer) ? shard.moe_layer : shard.dense_layer;
    }
    if (stage == 0) params += token_embedding + position_table;
    if (stage == pp - 1) {
      params += counts.final_norm;
      if (!arch.tie_word_embeddings || pp > 1) params += lm_head;
      params += lm_head_bias;
    }
    heaviest = std::max(heaviest, params);
  }
  return heaviest * dtype_bytes(arch.dtype);
}

int resolved_max_num_batched_tokens(const ModelArchitecture& arch, const ServingConfig& serving) {
  if (serving.max_num_batched_tokens > 0) return serving.max_num_batched_tokens;
  if (serving.scheduler == SchedulerVersion::kV1) return kV1DefaultBatchedTokens;
  if (serving.enable_chunked_prefill) return kV0ChunkedBatchedTokens;
  return std::max(resolved_max_model_len(arch, serving), kV0MinBatchedTokens);
}

double estimate_activation_reserve_bytes(const ModelArchitecture& arch, const ServingConfig& serving) {
  // vLLM's profiling run forwards one batch of T = max_num_batched_tokens tokens split into
  // max_num_seqs sequences (model_runner.py:1203-1262 @v0.6.3) and samples one token per sequence.
  // Layers run one at a time, so the peak is the residual stream plus the largest transient of one
  // layer, plus the sampler's logits. Per token, in elements:
  //   residual stream:   2h (hidden states + residual)
  //   attention:         h (normed input) + (q + k + v) / GPU + attention output / GPU
  //   dense MLP:         h + 3i/TP (gate_up output 2i + activation output i; non-gated 2i/TP)
  //   MoE (fused_moe):   h + K (3 i_e / TP + h) (intermediate caches 1-3 of vLLM's fused_moe kernel)
  // logits: min(max_num_seqs, T) x vocab x 12 bytes (three float32 copies in the sampler).
  // Calibration: Llama-3-8B, T = 8192, 256 sequences gives 1.25 GiB; vLLM logged 1.26 GiB
  // ("PyTorch activation peak memory 1.26GiB", vllm PR #10511, H100).
  const double tokens = static_cast<double>(resolved_max_num_batched_tokens(arch, serving));
  const double tp = static_cast<double>(std::max(1, serving.tensor_parallel_size));
  const double h = static_cast<double>(arch.hidden_size);
  const double d = static_cast<double>(arch.effective_head_dim());
  const double q_width = static_cast<double>(arch.num_attention_heads) * d / tp;
  const double kv_width = static_cast<double>(kv_heads_per_gpu(arch, serving.tensor_parallel_size)) * d;
  const double mlp_factor = arch.gated_mlp ? 3.0 : 2.0;

  double attention = h + q_width + 2.0 * kv_width + q_width;
  if (arch.uses_mla()) {
    // MLA: queries H(nope + rope) / TP, the latent and RoPE key (replicated), kv_b_proj's output
    // H(nope + v) / TP and the attention output Hv / TP.
    const double heads = static_cast<double>(arch.num_attention_heads) / tp;
    attention = h + heads * static_cast<double>(arch.effective_qk_head_dim()) +
                static_cast<double>(arch.kv_lora_rank + arch.qk_rope_head_dim) +
                heads * static_cast<double>(arch.qk_nope_head_dim + arch.v_head_dim) +
                heads * static_cast<double>(arch.v_head_dim);
  }
  double transient = attention;
  if (arch.num_dense_layers() > 0) {
    transient = std::max(transient, h + mlp_factor * static_cast<double>(arch.intermediate_size) / tp);
  }
  if (arch.num_moe_layers() > 0) {
    const double expert_width = static_cast<double>(arch.effective_expert_intermediate_size());
    const double k = static_cast<double>(arch.top_k);
    transient = std::max(transient, h + k * (mlp_factor * expert_width / serving.expert_tensor_slices() + h));
  }
  const double activations = tokens * (2.0 * h + transient) * dtype_bytes(arch.dtype);
  const double sequences = std::min(static_cast<double>(std::max(1, serving.max_num_seqs)), tokens);
  const double logits = sequences * static_cast<double>(arch.vocab_size) * kSamplerBytesPerLogit;
  return activations + logits;
}

double default_non_torch_bytes(const ServingConfig& serving) {
  // Expert-parallel DP ranks talk over NCCL too, even at TP 1.
  return serving.gpus_per_replica() > 1 || serving.lockstep_data_parallel() ? kNonTorchMultiGpuBytes
                                                                            : kNonTorchSingleGpuBytes;
}

MemoryPlan plan_memory(const ModelArchitecture& arch, const GpuSpec& gpu, const ServingConfig& serving) {
  MemoryPlan plan;
  const int tp = serving.tensor_parallel_size;
  const int pp = serving.pipeline_parallel_size;
  const int ep = serving.expert_parallel_ranks();  // TP x DP with enable_expert_parallel
  plan.max_model_len = resolved_max_model_len(arch, serving);

  // Settings vLLM itself refuses (the config module reports them with file:line; repeated here so
  // that a plan is never computed from nonsense).
  std::vector<std::string> refusals;
  for (const auto& bad : architecture_problems(arch)) refusals.push_back("model " + bad.field + " " + bad.message);
  if (tp < 1 || pp < 1 || ep < 1) refusals.push_back("parallel sizes must be >= 1");
  if (serving.block_size < 1) refusals.push_back("block_size must be >= 1");
  if (!(serving.gpu_memory_utilization > 0 && serving.gpu_memory_utilization <= 1)) {
    refusals.push_back("gpu_memory_utilization must be in (0, 1]");
  }
  if (!(gpu.memory_bytes > 0)) refusals.push_back("the GPU's memory_bytes must be > 0");
  if (tp >= 1 && arch.num_attention_heads % tp != 0) {
    refusals.push_back("num_attention_heads (" + std::to_string(arch.num_attention_heads) +
                       ") must be divisible by tensor_parallel_size (" + std::to_string(tp) + ")");
  }
  if (tp >= 1 && arch.num_kv_heads > 0 && arch.num_kv_heads % tp != 0 && tp % arch.num_kv_heads != 0) {
    refusals.push_back("num_kv_heads (" + std::to_string(arch.num_kv_heads) + ") and tensor_parallel_size (" +
                       std::to_string(tp) + ") must divide one another");
  }
  if (pp >= 1 && pp > arch.num_layers) {
    refusals.push_back("pipeline_parallel_size (" + std::to_string(pp) + ") exceeds the number of layers (" +
                       std::to_string(arch.num_layers) + ")");
  }
  if (tp >= 1 && ep > tp && !serving.enable_expert_parallel) {
    refusals.push_back("expert_parallel_size (" + std::to_string(ep) + ") > tensor_parallel_size (" +
                       std::to_string(tp) + "): expert groups must lie inside one pipeline stage");
  }
  if (!refusals.empty()) {
    plan.fits = false;
    for (const auto& reason : refusals) plan.problem += (plan.problem.empty() ? "" : "; ") + reason;
    return plan;
  }

  // KV cache geometry (cache_engine.py:102-120 @v0.6.3).
  plan.layers_per_gpu = (arch.num_layers + pp - 1) / pp;
  plan.kv_heads_per_gpu = kv_heads_per_gpu(arch, tp);
  // = 2 x kv_heads_per_gpu x head_dim per layer; MLA: kv_lora_rank + qk_rope_head_dim on every TP rank.
  plan.kv_elements_per_layer_per_gpu = kv_elements_per_token_per_layer(arch, tp);
  plan.kv_latent = arch.uses_mla();
  plan.kv_bytes_per_token_per_gpu = static_cast<double>(plan.layers_per_gpu) *
                                    plan.kv_elements_per_layer_per_gpu * dtype_bytes(arch.dtype);
  plan.kv_bytes_per_block_per_gpu = plan.kv_bytes_per_token_per_gpu * serving.block_size;

  // What is not KV cache.
  plan.weight_bytes_per_gpu = weight_bytes_per_gpu(arch, serving);
  plan.profile_batched_tokens = resolved_max_num_batched_tokens(arch, serving);
  plan.activation_reserve_bytes = serving.activation_reserve_bytes.value_or(estimate_activation_reserve_bytes(arch, serving));
  plan.non_torch_bytes = serving.non_torch_memory_bytes.value_or(default_non_torch_bytes(serving));
  plan.usable_bytes_per_gpu = gpu.memory_bytes * serving.gpu_memory_utilization;
  plan.kv_budget_bytes_per_gpu =
      plan.usable_bytes_per_gpu - plan.weight_bytes_per_gpu - plan.activation_reserve_bytes - plan.non_torch_bytes;

  // Blocks: floor(budget / block bytes) (worker.py:205-254), or the override (llm_engine.py:486-492).
  std::int64_t blocks = 0;
  if (plan.kv_budget_bytes_per_gpu > 0) {
    blocks = static_cast<std::int64_t>(std::floor(plan.kv_budget_bytes_per_gpu / plan.kv_bytes_per_block_per_gpu));
  }
  if (serving.num_gpu_blocks_override) blocks = *serving.num_gpu_blocks_override;
  const bool v1 = serving.scheduler == SchedulerVersion::kV1;
  if (v1 && blocks > 0) blocks -= 1;  // block 0 is V1's null block (v1/core/block_pool.py:157-158)
  plan.num_gpu_blocks = blocks;
  plan.token_capacity = blocks * serving.block_size;
  // V0 allocates swap_space GiB of pinned CPU blocks per GPU; V1 does not swap.
  plan.num_cpu_blocks =
      v1 ? 0 : static_cast<std::int64_t>(std::floor(serving.swap_space_gib * kBytesPerGiB / plan.kv_bytes_per_block_per_gpu));

  // Startup checks.
  const double needed = plan.weight_bytes_per_gpu + plan.activation_reserve_bytes + plan.non_torch_bytes;
  std::ostringstream problem;
  if (needed >= plan.usable_bytes_per_gpu) {
    const double params = count_parameters(arch).total;
    char params_text[32];
    std::snprintf(params_text, sizeof params_text, "%.2fB", params / 1e9);
    problem << "weights need " << format_gib(plan.weight_bytes_per_gpu) << " per GPU (" << params_text
            << " parameters x " << dtype_bytes(arch.dtype) << " B, TP " << tp << ", PP " << pp << ", EP " << ep
            << "), activation reserve " << format_gib(plan.activation_reserve_bytes) << ", non-torch "
            << format_gib(plan.non_torch_bytes) << ": " << format_gib(needed) << " exceed the usable "
            << format_gib(plan.usable_bytes_per_gpu) << " (" << format_gib(gpu.memory_bytes) << " x gpu_memory_utilization "
            << serving.gpu_memory_utilization << ") of " << gpu.name
            << "; use more GPUs per replica or a GPU with more memory";
  } else if (plan.token_capacity < plan.max_model_len) {
    // worker.py:480-497 @v0.6.3 ("The model's max seq len ... is larger than the maximum number of
    // tokens that can be stored in KV cache").
    const double need_kv = std::ceil(static_cast<double>(plan.max_model_len) / serving.block_size) *
                           plan.kv_bytes_per_block_per_gpu;
    problem << "the KV cache holds " << plan.token_capacity << " tokens (" << plan.num_gpu_blocks << " blocks x "
            << serving.block_size << ") but max_model_len is " << plan.max_model_len << "; one sequence of "
            << plan.max_model_len << " tokens needs " << format_gib(need_kv) << " of KV per GPU and "
            << format_gib(std::max(0.0, plan.kv_budget_bytes_per_gpu)) << " is left (usable "
            << format_gib(plan.usable_bytes_per_gpu) << " - weights " << format_gib(plan.weight_bytes_per_gpu)
            << " - activations " << format_gib(plan.activation_reserve_bytes) << " - non-torch "
            << format_gib(plan.non_torch_bytes) << "); lower max_model_len or add memory";
  }
  plan.problem = problem.str();
  plan.fits = plan.problem.empty();
  return plan;
}

std::string describe_memory_plan(const MemoryPlan& plan) {
  std::ostringstream out;
  out << "memory per GPU: usable " << format_gib(plan.usable_bytes_per_gpu) << " = weights "
      << format_gib(plan.weight_bytes_per_gpu) << " + activations " << format_gib(plan.activation_reserve_bytes)
      << " + non-torch " << format_gib(plan.non_torch_bytes) << " + KV " << format_gib(plan.kv_budget_bytes_per_gpu)
      << '\n';
  out << "KV: " << plan.kv_bytes_per_token_per_gpu / kBytesPerKiB << " KiB/token/GPU (" << plan.layers_per_gpu
      << " layers x ";
  if (plan.kv_latent) {
    out << plan.kv_elements_per_layer_per_gpu << " MLA latent elements";
  } else {
    out << plan.kv_heads_per_gpu << " KV heads";
  }
  out << "), " << plan.num_gpu_blocks << " GPU blocks = "
      << plan.token_capacity << " tokens, " << plan.num_cpu_blocks << " CPU blocks\n";
  if (!plan.fits) out << "does not fit: " << plan.problem << '\n';
  return out.str();
}

}  // namespace moesim
