#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "moesim/cluster/memory_plan.hpp"
#include "moesim/common/units.hpp"
#include "moesim/model/hf_config.hpp"
#include "moesim/model/presets.hpp"

namespace moesim {
namespace {

ModelArchitecture model(const std::string& name) { return find_model_preset(name).value(); }
GpuSpec gpu(const std::string& name) { return find_gpu(name).value(); }

// Hugging Face configs kept in the repository (tests/model/data).
ModelArchitecture hf(const std::string& file) {
  return read_hf_config(std::filesystem::path(MOESIM_SOURCE_DIR) / "tests" / "model" / "data" / file);
}

ServingConfig tp(int size) {
  ServingConfig serving;
  serving.tensor_parallel_size = size;
  return serving;
}

// Replica token capacity of a given amount of KV memory (summed over the TP group), computed from
// the plan's per-GPU bytes per token.
double slots(const MemoryPlan& plan, int tensor_parallel, double kv_gib_total) {
  return kv_gib_total * kBytesPerGiB / (plan.kv_bytes_per_token_per_gpu * tensor_parallel);
}

// --- serving-anchors.md section 1: vLLM paper (Kwon et al., SOSP'23) Table 1 ---

TEST(KvCapacityAnchors, A1Opt13BTwelveGibHoldFifteenPointSevenKTokens) {
  const auto plan = plan_memory(model("opt-13b"), gpu("A100-SXM-40GB"), tp(1));
  EXPECT_DOUBLE_EQ(plan.kv_bytes_per_token_per_gpu, 800.0 * kBytesPerKiB);
  EXPECT_NEAR(slots(plan, 1, 12.0) / 15'700.0, 1.0, 0.01);
}

TEST(KvCapacityAnchors, A2Opt66BNinePointSevenKSlotsNeedTwentyOneGib) {
  const auto plan = plan_memory(model("opt-66b"), gpu("A100-SXM-40GB"), tp(4));
  EXPECT_DOUBLE_EQ(plan.kv_bytes_per_token_per_gpu, 576.0 * kBytesPerKiB);  // 2.25 MiB per replica / 4
  // The table's "21 GB" is rounded: 21 GiB gives 9,557 slots (1.5% low; documented 2% tolerance),
  // and the printed 9.7K slots need 21.3 GiB, which rounds to 21.
  EXPECT_NEAR(slots(plan, 4, 21.0) / 9'700.0, 1.0, 0.02);
  const double gib_for_table_slots = 9'700.0 * plan.kv_bytes_per_token_per_gpu * 4 / kBytesPerGiB;
  EXPECT_EQ(std::lround(gib_for_table_slots), 21);
}

TEST(KvCapacityAnchors, A3Opt175BTwoHundredSixtyFourGibHoldSixtyPointOneKTokens) {
  const auto plan = plan_memory(model("opt-175b"), gpu("A100-SXM-80GB"), tp(8));
  EXPECT_DOUBLE_EQ(plan.kv_bytes_per_token_per_gpu * 8, 4.5 * kBytesPerMiB);
  EXPECT_NEAR(slots(plan, 8, 264.0) / 60'100.0, 1.0, 0.01);
}

// Table 1 is reproduced by "gpu_memory_utilization x nominal memory - weights": 0.9 x 40 GiB per
// A100-40GB and 0.9 x 80 GiB per A100-80GB, with no activation or non-torch reserve.
TEST(KvCapacityAnchors, TableOneIsNinetyPercentOfNominalMemoryMinusWeights) {
  ServingConfig serving;
  serving.activation_reserve_bytes = 0.0;
  serving.non_torch_memory_bytes = 0.0;
  GpuSpec nominal_40 = gpu("A100-SXM-40GB");
  nominal_40.memory_bytes = 40.0 * kBytesPerGiB;
  GpuSpec nominal_80 = gpu("A100-SXM-80GB");
  nominal_80.memory_bytes = 80.0 * kBytesPerGiB;

  serving.tensor_parallel_size = 1;
  const auto a1 = plan_memory(model("opt-13b"), nominal_40, serving);
  EXPECT_NEAR(static_cast<double>(a1.token_capacity) / 15'700.0, 1.0, 0.01);
  EXPECT_NEAR(a1.kv_budget_bytes_per_gpu / kBytesPerGiB / 12.0, 1.0, 0.01);

  serving.tensor_parallel_size = 4;
  const auto a2 = plan_memory(model("opt-66b"), nominal_40, serving);
  EXPECT_NEAR(static_cast<double>(a2.token_capacity) / 9'700.0, 1.0, 0.02);

  // OPT-175B lands 5% under the table: our 174.6B parameters are 349 GB, the table says 346 GB,
  // and 264 GB of KV is more than 8 x 72 GiB - 349 GB leaves. The table's A3 row is not exactly
  // "0.9 x nominal - weights"; we state the 6% gap rather than tune a constant.
  serving.tensor_parallel_size = 8;
  const auto a3 = plan_memory(model("opt-175b"), nominal_80, serving);
  EXPECT_NEAR(static_cast<double>(a3.token_capacity) / 60'100.0, 1.0, 0.06);
}

// The full plan with default settings (driver-reported memory, utilisation 0.9, estimated
// activation and non-torch reserves) lands below Table 1, because the table ignored those reserves
// and used nominal memory. Measured: A1 14,352 tokens (-8.6%), A2 7,088 (-27%: the reserves are
// 1.5 GiB on each of 4 GPUs against a 21 GiB total), A3 54,048 (-10%).
TEST(KvCapacityAnchors, FullDefaultPlansLandBelowTableOneByTheReservesItIgnored) {
  const auto a1 = plan_memory(model("opt-13b"), gpu("A100-SXM-40GB"), tp(1));
  const auto a2 = plan_memory(model("opt-66b"), gpu("A100-SXM-40GB"), tp(4));
  const auto a3 = plan_memory(model("opt-175b"), gpu("A100-SXM-80GB"), tp(8));
  ASSERT_TRUE(a1.fits && a2.fits && a3.fits);
  const double r1 = static_cast<double>(a1.token_capacity) / 15'700.0;
  const double r2 = static_cast<double>(a2.token_capacity) / 9'700.0;
  const double r3 = static_cast<double>(a3.token_capacity) / 60'100.0;
  EXPECT_GT(r1, 0.88);
  EXPECT_LT(r1, 0.95);
  EXPECT_GT(r2, 0.70);
  EXPECT_LT(r2, 0.78);
  EXPECT_GT(r3, 0.87);
  EXPECT_LT(r3, 0.93);
  // Weights: Table 1 says 26 GB (OPT-13B) and 132 GB (OPT-66B), decimal gigabytes.
  EXPECT_NEAR(a1.weight_bytes_per_gpu / 1e9, 26.0, 0.5);
  EXPECT_NEAR(a2.weight_bytes_per_gpu * 4 / 1e9, 132.0, 1.0);
}

// --- other plans ---

TEST(MemoryPlan, MixtralAtTensorParallelEightStoresOneKvHeadPerGpu) {
  const auto plan = plan_memory(model("mixtral-8x7b"), gpu("A100-SXM-40GB"), tp(8));
  EXPECT_TRUE(plan.fits) << plan.problem;
  EXPECT_EQ(plan.kv_heads_per_gpu, 1);
  EXPECT_DOUBLE_EQ(plan.kv_bytes_per_token_per_gpu, 16.0 * kBytesPerKiB);
  EXPECT_DOUBLE_EQ(plan.kv_bytes_per_block_per_gpu, 256.0 * kBytesPerKiB);
  // 46.7B parameters x 2 bytes / 8 GPUs (+ the replicated routers and norms) = 10.9 GiB.
  EXPECT_NEAR(plan.weight_bytes_per_gpu / kBytesPerGiB, 10.88, 0.02);
}

TEST(MemoryPlan, KvHeadsAreReplicatedWhenTensorParallelExceedsThem) {
  // Llama-2-70B has 8 KV heads; at TP 16 each GPU still stores one.
  const auto plan = plan_memory(model("llama-2-70b"), gpu("H100-SXM-80GB"), tp(16));
  EXPECT_EQ(plan.kv_heads_per_gpu, 1);
  EXPECT_DOUBLE_EQ(plan.kv_bytes_per_token_per_gpu, 2.0 * 80 * 1 * 128 * 2);
}

TEST(MemoryPlan, WeightsMatchVllmsLoggedSizeForLlama3EightB) {
  // vLLM's profiling log (vllm-project/vllm PR #10511): "model weights take 14.96GiB" at TP 1 and
  // "7.48GiB" at TP 2 for meta-llama/Meta-Llama-3-8B.
  EXPECT_NEAR(weight_bytes_per_gpu(model("llama-3-8b"), tp(1)) / kBytesPerGiB, 14.96, 0.005);
  EXPECT_NEAR(weight_bytes_per_gpu(model("llama-3-8b"), tp(2)) / kBytesPerGiB, 7.48, 0.005);
}

TEST(MemoryPlan, ActivationEstimateIsNearVllmsLoggedPeakForLlama3EightB) {
  // Same log: "PyTorch activation peak memory 1.26GiB" (max_num_batched_tokens 8192, 256 sequences).
  ServingConfig serving = tp(1);
  serving.max_model_len = 8192;
  EXPECT_EQ(resolved_max_num_batched_tokens(model("llama-3-8b"), serving), 8192);
  EXPECT_NEAR(estimate_activation_reserve_bytes(model("llama-3-8b"), serving) / kBytesPerGiB, 1.26, 0.1);
}

TEST(MemoryPlan, ModelThatDoesNotFitReportsTheNumbersInGib) {
  const auto plan = plan_memory(model("llama-2-70b"), gpu("A100-SXM-40GB"), tp(1));
  EXPECT_FALSE(plan.fits);
  EXPECT_EQ(plan.num_gpu_blocks, 0);
  EXPECT_NE(plan.problem.find("128.48 GiB"), std::string::npos) << plan.problem;  // weights per GPU
  EXPECT_NE(plan.problem.find("35.45 GiB"), std::string::npos) << plan.problem;   // usable
  EXPECT_NE(plan.problem.find("39.39 GiB"), std::string::npos) << plan.problem;   // driver total
}

TEST(MemoryPlan, KvCacheShorterThanMaxModelLenIsRefusedLikeVllmStartup) {
  ServingConfig serving = tp(1);
  serving.num_gpu_blocks_override = 100;  // 1,600 tokens
  serving.max_model_len = 4096;
  const auto plan = plan_memory(model("llama-2-13b"), gpu("A100-SXM-40GB"), serving);
  EXPECT_EQ(plan.num_gpu_blocks, 100);
  EXPECT_EQ(plan.token_capacity, 1600);
  EXPECT_FALSE(plan.fits);
  EXPECT_NE(plan.problem.find("max_model_len is 4096"), std::string::npos) << plan.problem;
  EXPECT_NE(plan.problem.find("GiB"), std::string::npos) << plan.problem;
}

TEST(MemoryPlan, ExplicitReservesReplaceTheEstimates) {
  ServingConfig serving = tp(1);
  serving.activation_reserve_bytes = 1.0 * kBytesPerGiB;
  serving.non_torch_memory_bytes = 0.5 * kBytesPerGiB;
  const auto arch = model("llama-2-7b");
  const auto a100 = gpu("A100-SXM-80GB");
  const auto plan = plan_memory(arch, a100, serving);
  EXPECT_DOUBLE_EQ(plan.activation_reserve_bytes, 1.0 * kBytesPerGiB);
  EXPECT_DOUBLE_EQ(plan.non_torch_bytes, 0.5 * kBytesPerGiB);
  const double budget = a100.memory_bytes * 0.9 - plan.weight_bytes_per_gpu - 1.5 * kBytesPerGiB;
  EXPECT_DOUBLE_EQ(plan.kv_budget_bytes_per_gpu, budget);
  EXPECT_EQ(plan.num_gpu_blocks, static_cast<std::int64_t>(std::floor(budget / (16 * 512.0 * kBytesPerKiB))));
  EXPECT_EQ(plan.token_capacity, plan.num_gpu_blocks * 16);
}

TEST(MemoryPlan, V1ReservesTheNullBlockAndDoesNotSwap) {
  ServingConfig v0 = tp(1);
  ServingConfig v1 = tp(1);
  v1.scheduler = SchedulerVersion::kV1;
  v0.max_num_batched_tokens = v1.max_num_batched_tokens = 2048;  // same profiling batch
  const auto p0 = plan_memory(model("llama-2-7b"), gpu("A100-SXM-80GB"), v0);
  const auto p1 = plan_memory(model("llama-2-7b"), gpu("A100-SXM-80GB"), v1);
  EXPECT_EQ(p1.num_gpu_blocks, p0.num_gpu_blocks - 1);
  EXPECT_EQ(p1.num_cpu_blocks, 0);
  // V0: 4 GiB of swap per GPU / 8 MiB blocks (512 KiB per token x 16).
  EXPECT_EQ(p0.num_cpu_blocks, 512);
}

TEST(MemoryPlan, ExpertParallelismGivesTheSameBytesPerGpuAsTensorSlicedExperts) {
  ServingConfig sliced = tp(8);
  ServingConfig expert_parallel = tp(8);
  expert_parallel.expert_parallel_size = 8;
  const auto arch = model("mixtral-8x7b");
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(arch, sliced), weight_bytes_per_gpu(arch, expert_parallel));
  ServingConfig too_wide = tp(4);
  too_wide.expert_parallel_size = 8;
  const auto plan = plan_memory(arch, gpu("A100-SXM-80GB"), too_wide);
  EXPECT_FALSE(plan.fits);
  EXPECT_NE(plan.problem.find("expert_parallel_size (8)"), std::string::npos) << plan.problem;
}

TEST(MemoryPlan, EnableExpertParallelPutsWholeExpertsOnEachOfTheTpTimesDpGpus) {
  const auto arch = model("mixtral-8x7b");
  const ParameterCounts counts = count_parameters(arch);
  // TP 2 x DP 2 = EP 4: each GPU holds 8 / 4 = 2 whole experts of each of the 32 layers, plus half of
  // everything else (attention, norms split or replicated as without EP, router replicated).
  ServingConfig ep = tp(2);
  ep.data_parallel_size = 2;
  ep.enable_expert_parallel = true;
  ServingConfig sliced = tp(2);  // the same TP without EP: 1/2 of all 8 experts per GPU
  const double expert_bytes = counts.expert_mlp * 2.0 * 32;  // one expert in every layer, bf16
  EXPECT_NEAR(weight_bytes_per_gpu(arch, sliced) - weight_bytes_per_gpu(arch, ep), (8.0 / 2 - 2) * expert_bytes, 1.0);
  // With a remainder the fullest GPU holds ceil(E / EP) experts: 8 over EP 3 -> 3 experts.
  ServingConfig three = tp(1);
  three.data_parallel_size = 3;
  three.enable_expert_parallel = true;
  EXPECT_NEAR(weight_bytes_per_gpu(arch, tp(1)) - weight_bytes_per_gpu(arch, three), (8.0 - 3) * expert_bytes, 1.0);
  // KV geometry is per DP rank and unchanged by EP.
  EXPECT_EQ(plan_memory(arch, gpu("A100-SXM-80GB"), ep).kv_bytes_per_token_per_gpu,
            plan_memory(arch, gpu("A100-SXM-80GB"), sliced).kv_bytes_per_token_per_gpu);
}

TEST(MemoryPlan, PipelineParallelismSplitsLayersAndKv) {
  ServingConfig pp2 = tp(1);
  pp2.pipeline_parallel_size = 2;
  const auto arch = model("llama-2-7b");
  const auto one = plan_memory(arch, gpu("A100-SXM-40GB"), tp(1));
  const auto two = plan_memory(arch, gpu("A100-SXM-40GB"), pp2);
  EXPECT_EQ(two.layers_per_gpu, 16);
  EXPECT_DOUBLE_EQ(two.kv_bytes_per_token_per_gpu, one.kv_bytes_per_token_per_gpu / 2);
  // Each stage has half the layers plus one vocabulary matrix (embedding or LM head).
  const double half_layers = (count_parameters(arch).non_embedding - 4096.0) / 2;
  EXPECT_NEAR(two.weight_bytes_per_gpu / 2, half_layers + 32000.0 * 4096 + 4096, 1.0);
}

TEST(MemoryPlan, HeadsNotDivisibleByTensorParallelAreRefused) {
  const auto plan = plan_memory(model("opt-66b"), gpu("A100-SXM-80GB"), tp(5));
  EXPECT_FALSE(plan.fits);
  EXPECT_NE(plan.problem.find("num_attention_heads (72)"), std::string::npos) << plan.problem;
}

TEST(MemoryPlan, InconsistentArchitectureIsRefusedWithoutDividingByZero) {
  ModelArchitecture empty;
  const auto plan = plan_memory(empty, gpu("A100-SXM-40GB"), tp(1));
  EXPECT_FALSE(plan.fits);
  EXPECT_EQ(plan.num_gpu_blocks, 0);
  EXPECT_NE(plan.problem.find("model num_layers"), std::string::npos) << plan.problem;
}

TEST(MemoryPlan, DefaultBatchedTokensFollowVllmDefaults) {
  ServingConfig serving = tp(1);
  EXPECT_EQ(resolved_max_num_batched_tokens(model("opt-13b"), serving), 2048);       // max(2048, 2048)
  EXPECT_EQ(resolved_max_num_batched_tokens(model("mixtral-8x7b"), serving), 32768);  // max_model_len
  serving.enable_chunked_prefill = true;
  EXPECT_EQ(resolved_max_num_batched_tokens(model("mixtral-8x7b"), serving), 512);
  serving.max_num_batched_tokens = 4096;
  EXPECT_EQ(resolved_max_num_batched_tokens(model("mixtral-8x7b"), serving), 4096);
}

TEST(MemoryPlan, DescribeShowsEveryTermInGib) {
  const auto plan = plan_memory(model("opt-13b"), gpu("A100-SXM-40GB"), tp(1));
  const std::string text = describe_memory_plan(plan);
  EXPECT_NE(text.find("weights 23.94 GiB"), std::string::npos) << text;
  EXPECT_NE(text.find("800 KiB/token/GPU"), std::string::npos) << text;
}

// --- Real MoE families: MLA, dense first layers, per-head q/k norms (docs/model-and-memory.md 5) ---

TEST(MemoryPlanMoeFamilies, WeightsAtTp1AreTheExactParameterCountTimesTheDtype) {
  for (const char* file : {"deepseek-v2-lite.config.json", "qwen3-30b-a3b.config.json"}) {
    const ModelArchitecture arch = hf(file);
    const double exact = count_parameters(arch).total * dtype_bytes(arch.dtype);
    const double planned = weight_bytes_per_gpu(arch, tp(1));
    EXPECT_NEAR(planned / exact, 1.0, 0.005) << file;
    EXPECT_NEAR(planned / exact, 1.0, 1e-9) << file << ": every term of count_parameters is placed";
  }
}

TEST(MemoryPlanMoeFamilies, DeepSeekV2LiteWeighsTwentyNinePointTwoFiveGibNotThirtyPointThreeFive) {
  // 15.71 B parameters in bfloat16; the old plan sized attention as 16 heads x 128 and made layer 0 MoE.
  const auto plan = plan_memory(hf("deepseek-v2-lite.config.json"), gpu("H100-SXM-80GB"), tp(1));
  EXPECT_NEAR(plan.weight_bytes_per_gpu / kBytesPerGiB, 29.25, 0.01);
}

TEST(MemoryPlanMoeFamilies, TensorParallelHalvesAllButTheReplicatedMlaDownProjectionsRouterAndNorms) {
  for (const char* file : {"deepseek-v2-lite.config.json", "qwen3-30b-a3b.config.json"}) {
    const ModelArchitecture arch = hf(file);
    const double one = weight_bytes_per_gpu(arch, tp(1));
    const double two = weight_bytes_per_gpu(arch, tp(2));
    EXPECT_GT(two, one / 2.0) << file;
    EXPECT_LT(two, one / 2.0 * 1.02) << file;
  }
  // DeepSeek-V2-Lite at TP2: kv_a_proj_with_mqa (h x 576) + kv_a_layernorm (512), the router (h x 64) of
  // the 26 MoE layers and the two norms of every layer stay whole on each GPU.
  const ModelArchitecture arch = hf("deepseek-v2-lite.config.json");
  const ParameterCounts counts = count_parameters(arch);
  const double h = arch.hidden_size;
  const double replicated_per_layer = h * 576.0 + 512.0 + counts.norms_per_layer;
  const double replicated = 27.0 * replicated_per_layer + 26.0 * counts.router_per_moe_layer + counts.final_norm;
  const double expected = ((counts.total - replicated) / 2.0 + replicated) * dtype_bytes(arch.dtype);
  EXPECT_NEAR(weight_bytes_per_gpu(arch, tp(2)) / expected, 1.0, 1e-9);
}

TEST(MemoryPlanMoeFamilies, PipelineStagesPlaceTheDenseFirstLayerOfDeepSeek) {
  // 27 layers in 3 stages of 9: stage 0 has the embedding, dense layer 0 and 8 MoE layers; stage 2 has
  // 9 MoE layers, the final norm and the LM head, and is the heaviest.
  const ModelArchitecture arch = hf("deepseek-v2-lite.config.json");
  const ParameterCounts counts = count_parameters(arch);
  const double moe_layer = counts.attention_per_layer + counts.norms_per_layer + counts.router_per_moe_layer +
                           counts.shared_experts_per_moe_layer + arch.num_experts * counts.expert_mlp;
  ServingConfig serving = tp(1);
  serving.pipeline_parallel_size = 3;
  const double expected = (9.0 * moe_layer + counts.final_norm + counts.lm_head) * dtype_bytes(arch.dtype);
  EXPECT_NEAR(weight_bytes_per_gpu(arch, serving) / expected, 1.0, 1e-9);
}

TEST(MemoryPlanMoeFamilies, MlaKvCacheIsTheLatentOnEveryRankAndDescribedSo) {
  const auto plan = plan_memory(hf("deepseek-v2-lite.config.json"), gpu("H100-SXM-80GB"), tp(2));
  EXPECT_TRUE(plan.kv_latent);
  EXPECT_DOUBLE_EQ(plan.kv_elements_per_layer_per_gpu, 576.0);
  EXPECT_DOUBLE_EQ(plan.kv_bytes_per_token_per_gpu, 27.0 * 576.0 * 2.0);
  const std::string text = describe_memory_plan(plan);
  EXPECT_NE(text.find("27 layers x 576 MLA latent elements"), std::string::npos) << text;
  const auto gqa = plan_memory(hf("qwen3-30b-a3b.config.json"), gpu("H100-SXM-80GB"), tp(2));
  EXPECT_FALSE(gqa.kv_latent);
  EXPECT_DOUBLE_EQ(gqa.kv_elements_per_layer_per_gpu, 2.0 * 2.0 * 128.0);  // 4 KV heads / TP 2, head_dim 128
  EXPECT_NE(describe_memory_plan(gqa).find("48 layers x 2 KV heads"), std::string::npos);
}

}  // namespace
}  // namespace moesim
