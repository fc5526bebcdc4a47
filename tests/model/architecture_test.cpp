#include <gtest/gtest.h>

#include <algorithm>

#include "moesim/model/architecture.hpp"
#include "moesim/model/presets.hpp"

namespace moesim {
namespace {

ModelArchitecture preset(const std::string& name) {
  auto arch = find_model_preset(name);
  EXPECT_TRUE(arch.has_value()) << name;
  return arch.value_or(ModelArchitecture{});
}

bool has_problem(const ModelArchitecture& arch, const std::string& field) {
  const auto problems = architecture_problems(arch);
  return std::any_of(problems.begin(), problems.end(), [&](const auto& p) { return p.field == field; });
}

// A small paper-style MoE: gated MLP of width 8/3 h (here 2.67h rounded), MoE every second layer.
ModelArchitecture paper_style_moe(int experts, int top_k) {
  ModelArchitecture arch;
  arch.name = "paper-moe";
  arch.hidden_size = 768;
  arch.num_layers = 12;
  arch.num_attention_heads = 8;
  arch.num_kv_heads = 8;
  arch.head_dim = 96;
  arch.intermediate_size = 2048;  // 2.67 * 768
  arch.vocab_size = 32000;
  arch.num_experts = experts;
  arch.top_k = top_k;
  arch.moe_layer_frequency = 2;
  return arch;
}

TEST(DType, BytesAndNamesRoundTrip) {
  EXPECT_DOUBLE_EQ(dtype_bytes(DType::kFloat32), 4.0);
  EXPECT_DOUBLE_EQ(dtype_bytes(DType::kFloat16), 2.0);
  EXPECT_DOUBLE_EQ(dtype_bytes(DType::kBFloat16), 2.0);
  EXPECT_DOUBLE_EQ(dtype_bytes(DType::kFp8), 1.0);
  for (const auto& name : dtype_names()) {
    const auto dtype = dtype_from_string(name);
    ASSERT_TRUE(dtype.has_value()) << name;
    EXPECT_EQ(to_string(*dtype), name);
  }
}

TEST(DType, FromStringAcceptsAliasesAndRejectsUnknownSpellings) {
  EXPECT_EQ(dtype_from_string("BF16"), DType::kBFloat16);
  EXPECT_EQ(dtype_from_string("half"), DType::kFloat16);
  EXPECT_EQ(dtype_from_string("fp32"), DType::kFloat32);
  EXPECT_FALSE(dtype_from_string("int4").has_value());
  EXPECT_FALSE(dtype_from_string("").has_value());
}

TEST(NormKind, NamesRoundTrip) {
  EXPECT_EQ(norm_kind_from_string(to_string(NormKind::kLayerNorm)), NormKind::kLayerNorm);
  EXPECT_EQ(norm_kind_from_string("RMSNorm"), NormKind::kRmsNorm);
  EXPECT_FALSE(norm_kind_from_string("batchnorm").has_value());
}

TEST(ParameterCount, Llama2SevenBMatchesHuggingFaceExactly) {
  // transformers' LlamaForCausalLM(meta-llama/Llama-2-7b-hf).num_parameters() = 6,738,415,616.
  const auto counts = count_parameters(preset("llama-2-7b"));
  EXPECT_DOUBLE_EQ(counts.total, 6'738'415'616.0);
  EXPECT_DOUBLE_EQ(counts.activated, counts.total);
  EXPECT_DOUBLE_EQ(counts.embedding, 2.0 * 32000 * 4096);
}

TEST(ParameterCount, Llama2SeventyBWithGroupedQueryAttentionMatchesPublishedCount) {
  // 68,976,648,192 parameters (GQA: 8 KV heads of 64).
  const auto counts = count_parameters(preset("llama-2-70b"));
  EXPECT_DOUBLE_EQ(counts.total, 68'976'648'192.0);
  // q and o: 2 * 8192^2; k and v: 2 * 8192 * 1024.
  EXPECT_DOUBLE_EQ(counts.attention_per_layer, 2.0 * 8192 * 8192 + 2.0 * 8192 * 1024);
}

TEST(ParameterCount, Llama3EightBMatchesPublishedCount) {
  EXPECT_DOUBLE_EQ(count_parameters(preset("llama-3-8b")).total, 8'030'261'248.0);
}

TEST(ParameterCount, MixtralTotalAndActivatedMatchPublishedSizes) {
  const auto counts = count_parameters(preset("mixtral-8x7b"));
  // Mistral AI: 46.7B total, 12.9B active per token.
  EXPECT_NEAR(counts.total / 46.7e9, 1.0, 0.005);
  EXPECT_NEAR(counts.activated / 12.9e9, 1.0, 0.005);
  EXPECT_DOUBLE_EQ(counts.total, 46'702'792'704.0);
  EXPECT_DOUBLE_EQ(counts.expert_mlp, 3.0 * 4096 * 14336);
  EXPECT_DOUBLE_EQ(counts.router_per_moe_layer, 4096.0 * 8);
  EXPECT_DOUBLE_EQ(counts.expert_total, 32.0 * 8 * 3 * 4096 * 14336);
}

TEST(ParameterCount, Opt13BWithBiasesLayerNormsAndTiedHeadIsTwelvePointEightFiveBillion) {
  const auto counts = count_parameters(preset("opt-13b"));
  EXPECT_NEAR(counts.total / 12.85e9, 1.0, 0.005);
  // Tied LM head: the embedding holds the token table once plus the learned positions (2048 + 2 rows).
  EXPECT_DOUBLE_EQ(counts.embedding, 50272.0 * 5120 + 2050.0 * 5120);
  // Non-gated MLP with biases: 2 h i + i + h.
  EXPECT_DOUBLE_EQ(counts.dense_mlp_per_layer, 2.0 * 5120 * 20480 + 20480 + 5120);
}

TEST(ParameterCount, Qwen15MoeMatchesItsNameplate) {
  // Qwen1.5-MoE-A2.7B: 14.3B parameters, 2.7B activated.
  const auto counts = count_parameters(preset("qwen1.5-moe-a2.7b"));
  EXPECT_NEAR(counts.total / 14.3e9, 1.0, 0.005);
  EXPECT_NEAR(counts.activated / 2.7e9, 1.0, 0.01);
}

TEST(ParameterCount, TyingTheHeadRemovesOneVocabularyMatrix) {
  auto untied = preset("llama-2-7b");
  auto tied = untied;
  tied.tie_word_embeddings = true;
  EXPECT_DOUBLE_EQ(count_parameters(untied).total - count_parameters(tied).total, 32000.0 * 4096);
  // The LM head matmul still happens, so forward FLOPs do not change.
  EXPECT_DOUBLE_EQ(forward_linear_flops_per_token(untied), forward_linear_flops_per_token(tied));
}

TEST(ParameterCount, DenseModelHasNoExpertsAndEqualTotalAndActivated) {
  const auto counts = count_parameters(preset("llama-2-13b"));
  EXPECT_DOUBLE_EQ(counts.expert_total, 0.0);
  EXPECT_DOUBLE_EQ(counts.router_per_moe_layer, 0.0);
  EXPECT_DOUBLE_EQ(counts.corresponding_dense_non_embedding, counts.non_embedding);
}

TEST(MoeLayers, EverySecondLayerIsMoeWithFrequencyTwo) {
  auto arch = paper_style_moe(8, 2);
  EXPECT_EQ(arch.num_moe_layers(), 6);
  EXPECT_EQ(arch.num_dense_layers(), 6);
  arch.num_layers = 13;
  EXPECT_EQ(arch.num_moe_layers(), 6);  // layers 1, 3, ..., 11
  arch.num_experts = 1;
  EXPECT_EQ(arch.num_moe_layers(), 0);
}

TEST(PaperShortcuts, MatchExactCountsForThePaperSetupUpToEmbeddings) {
  // The paper's c = 1/3 holds when the MLP is 2/3 of the dense layer and MoE is every second layer.
  for (int experts : {2, 8, 32}) {
    const auto arch = paper_style_moe(experts, 2);
    const auto shortcuts = paper_shortcuts(arch);
    const auto counts = count_parameters(arch);
    EXPECT_NEAR(shortcuts.c_architecture, 1.0 / 3.0, 0.01) << experts;
    // Exact non-embedding count = shortcut + routers (h * E per MoE layer).
    EXPECT_NEAR(counts.non_embedding / shortcuts.total_with_c_architecture, 1.0, 1e-3) << experts;
    EXPECT_NEAR(counts.non_embedding / shortcuts.total_paper, 1.0, 0.01) << experts;
    EXPECT_NEAR(counts.activated_non_embedding / shortcuts.activated_paper, 1.0, 0.01) << experts;
  }
}

TEST(PaperShortcuts, MixtralIsFarFromTheOneThirdRule) {
  const auto shortcuts = paper_shortcuts(preset("mixtral-8x7b"));
  const auto counts = count_parameters(preset("mixtral-8x7b"));
  // Every layer is MoE and the FFN is 3.5h wide: c is about 0.81, not 1/3.
  EXPECT_NEAR(shortcuts.c_architecture, 0.808, 0.002);
  EXPECT_LT(shortcuts.total_paper, 0.6 * counts.non_embedding);
  EXPECT_NEAR(shortcuts.total_with_c_architecture / counts.non_embedding, 1.0, 1e-4);
  // The paper's 2hl KV estimate ignores GQA: 4x the real 8-of-32 KV heads.
  EXPECT_DOUBLE_EQ(shortcuts.kv_bytes_per_token, 4.0 * kv_bytes_per_token(preset("mixtral-8x7b")));
}

TEST(KvBytes, FollowHeadsLayersAndDtype) {
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(preset("opt-13b")), 2.0 * 5120 * 40 * 2);   // 800 KiB
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(preset("mixtral-8x7b")), 128.0 * 1024);     // 2*32*8*128*2
  auto fp8 = preset("mixtral-8x7b");
  fp8.dtype = DType::kFp8;
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(fp8), 64.0 * 1024);
}

TEST(Flops, ForwardIsTwicePerActivatedWeightAndTrainingThreeTimesThat) {
  const auto arch = preset("mixtral-8x7b");
  const auto counts = count_parameters(arch);
  EXPECT_DOUBLE_EQ(forward_linear_flops_per_token(arch), 2.0 * (counts.activated_non_embedding + 32000.0 * 4096));
  EXPECT_DOUBLE_EQ(training_flops_per_token(arch), 3.0 * forward_linear_flops_per_token(arch));
  // 1024 tokens of context: 4 * 32 heads * 128 * 1024 * 32 layers.
  EXPECT_DOUBLE_EQ(attention_flops_per_token(arch, 1024), 4.0 * 32 * 128 * 1024 * 32);
}

TEST(ArchitectureProblems, PresetsAreConsistent) {
  for (const auto& name : model_preset_names()) {
    const auto problems = architecture_problems(preset(name));
    EXPECT_TRUE(problems.empty()) << name << ": " << (problems.empty() ? "" : problems[0].field + " " + problems[0].message);
  }
}

TEST(ArchitectureProblems, NameEveryBadField) {
  ModelArchitecture arch;  // all sizes zero
  for (const char* field : {"hidden_size", "num_layers", "num_attention_heads", "num_kv_heads",
                            "intermediate_size", "vocab_size"}) {
    EXPECT_TRUE(has_problem(arch, field)) << field;
  }
}

TEST(ArchitectureProblems, TopKAboveExpertCountIsReported) {
  auto arch = preset("mixtral-8x7b");
  arch.top_k = 9;
  const auto problems = architecture_problems(arch);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].field, "top_k");
  EXPECT_NE(problems[0].message.find("num_experts (8)"), std::string::npos);
}

TEST(ArchitectureProblems, HeadsMustBeAMultipleOfKvHeads) {
  auto arch = preset("llama-2-70b");
  arch.num_kv_heads = 7;
  EXPECT_TRUE(has_problem(arch, "num_kv_heads"));
  arch.num_kv_heads = 128;
  EXPECT_TRUE(has_problem(arch, "num_kv_heads"));
}

TEST(ArchitectureProblems, HiddenSizeMustSplitIntoHeadsUnlessHeadDimIsGiven) {
  auto arch = preset("llama-2-7b");
  arch.num_attention_heads = 30;
  arch.num_kv_heads = 30;
  EXPECT_TRUE(has_problem(arch, "num_attention_heads"));
  arch.head_dim = 128;
  EXPECT_FALSE(has_problem(arch, "num_attention_heads"));
}

TEST(ArchitectureProblems, MoeFrequencyLongerThanTheModelIsReported) {
  auto arch = paper_style_moe(8, 2);
  arch.moe_layer_frequency = 13;
  EXPECT_TRUE(has_problem(arch, "moe_layer_frequency"));
  arch.moe_layer_frequency = 0;
  EXPECT_TRUE(has_problem(arch, "moe_layer_frequency"));
}

TEST(ArchitectureProblems, SharedExpertsOrTopKOnADenseModelAreReported) {
  auto arch = preset("llama-2-7b");
  arch.top_k = 2;
  arch.num_shared_experts = 1;
  EXPECT_TRUE(has_problem(arch, "top_k"));
  EXPECT_TRUE(has_problem(arch, "num_shared_experts"));
}

TEST(Presets, LookupIgnoresCaseAndUnknownNamesAreNotFound) {
  EXPECT_TRUE(find_model_preset("Mixtral-8x7B").has_value());
  EXPECT_FALSE(find_model_preset("gpt-5").has_value());
  EXPECT_EQ(model_preset_names().size(), 9U);
}

TEST(Describe, PrintsExactCountsBesideThePaperShortcuts) {
  const std::string text = describe_architecture(preset("mixtral-8x7b"));
  EXPECT_NE(text.find("total 46.703B"), std::string::npos) << text;
  EXPECT_NE(text.find("activated 12.880B"), std::string::npos) << text;
  EXPECT_NE(text.find("N_moe=(1+(E-1)/3)N"), std::string::npos) << text;
  EXPECT_NE(text.find("128 KiB exact"), std::string::npos) << text;
}

TEST(Architecture, AllMoeModelNeedsOnlyTheExpertWidth) {
  ModelArchitecture arch = paper_style_moe(8, 2);
  arch.moe_layer_frequency = 1;
  arch.intermediate_size = 0;
  arch.expert_intermediate_size = 512;
  EXPECT_TRUE(architecture_problems(arch).empty());
  EXPECT_GT(count_parameters(arch).corresponding_dense_non_embedding, 0.0);
  arch.dense_layers = {3};  // now a dense layer needs the dense width
  EXPECT_TRUE(has_problem(arch, "intermediate_size"));
}

TEST(Architecture, MoeLayerPlacementKeysAndDefaultsAgree) {
  ModelArchitecture arch = paper_style_moe(8, 2);  // 12 layers, frequency 2: layers 1, 3, ..., 11
  EXPECT_EQ(arch.num_moe_layers(), 6);
  EXPECT_TRUE(arch.is_moe_layer(1));
  EXPECT_FALSE(arch.is_moe_layer(0));
  arch.moe_layer_offset = 0;  // DeepSeek's residue: layers 0, 2, ...
  EXPECT_TRUE(arch.is_moe_layer(0));
  arch.first_k_dense_layers = 3;  // 4, 6, 8, 10
  EXPECT_EQ(arch.num_moe_layers(), 4);
  arch.dense_layers = {6};
  EXPECT_EQ(arch.num_moe_layers(), 3);
  arch.moe_layer_offset = 2;
  EXPECT_TRUE(has_problem(arch, "moe_layer_offset"));
}

TEST(Architecture, SharedExpertWidthAndMlaCounts) {
  ModelArchitecture arch = paper_style_moe(8, 2);
  arch.num_shared_experts = 2;
  const double two_expert_widths = count_parameters(arch).shared_experts_per_moe_layer;
  arch.shared_expert_intermediate_size = 2 * arch.intermediate_size;
  arch.num_shared_experts = 1;
  EXPECT_DOUBLE_EQ(count_parameters(arch).shared_experts_per_moe_layer, two_expert_widths);
  // MLA: attention and KV from the ranks (DeepSeek-V2-Lite shapes on h = 768, 8 heads).
  arch.kv_lora_rank = 512;
  arch.qk_nope_head_dim = 128;
  arch.qk_rope_head_dim = 64;
  arch.v_head_dim = 128;
  const double h = 768, heads = 8;
  EXPECT_DOUBLE_EQ(count_parameters(arch).attention_per_layer,
                   h * heads * 192 + h * (512 + 64) + 512 + 512 * heads * 256 + heads * 128 * h);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(arch), 12.0 * 576 * 2);
  EXPECT_DOUBLE_EQ(kv_elements_per_token_per_layer(arch, 4), 576.0);
  arch.q_lora_rank = 256;
  EXPECT_DOUBLE_EQ(count_parameters(arch).attention_per_layer,
                   h * 256 + 256 + 256 * heads * 192 + h * (512 + 64) + 512 + 512 * heads * 256 + heads * 128 * h);
  arch.v_head_dim = 0;
  EXPECT_TRUE(has_problem(arch, "kv_lora_rank"));
}

}  // namespace
}  // namespace moesim
