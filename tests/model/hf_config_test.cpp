#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "moesim/common/errors.hpp"
#include "moesim/model/hf_config.hpp"
#include "moesim/model/presets.hpp"

namespace moesim {
namespace {

std::filesystem::path data(const std::string& file) {
  return std::filesystem::path(MOESIM_SOURCE_DIR) / "tests" / "model" / "data" / file;
}

void expect_same_shape(const ModelArchitecture& a, const ModelArchitecture& b) {
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.num_experts, b.num_experts);
  EXPECT_EQ(a.top_k, b.top_k);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_DOUBLE_EQ(count_parameters(a).total, count_parameters(b).total);
  EXPECT_DOUBLE_EQ(count_parameters(a).activated, count_parameters(b).activated);
}

TEST(HfConfig, ReadsLlama2AsThePreset) {
  const auto arch = read_hf_config(data("llama-2-7b-hf.config.json"));
  EXPECT_EQ(arch.name, "meta-llama/Llama-2-7b-hf");
  expect_same_shape(arch, find_model_preset("llama-2-7b").value());
}

TEST(HfConfig, ReadsMixtralExpertsAndTopK) {
  const auto arch = read_hf_config(data("mixtral-8x7b-v0.1.config.json"));
  EXPECT_EQ(arch.num_experts, 8);
  EXPECT_EQ(arch.top_k, 2);
  EXPECT_EQ(arch.num_moe_layers(), 32);
  expect_same_shape(arch, find_model_preset("mixtral-8x7b").value());
}

TEST(HfConfig, ReadsOptWithBiasesLearnedPositionsAndTiedHead) {
  const auto arch = read_hf_config(data("opt-13b.config.json"));
  EXPECT_FALSE(arch.gated_mlp);
  EXPECT_TRUE(arch.tie_word_embeddings);
  EXPECT_EQ(arch.position_embedding_rows, 2050);
  expect_same_shape(arch, find_model_preset("opt-13b").value());
}

TEST(HfConfig, ReadsQwenMoeSharedExpertsAndSparseStep) {
  const auto arch = read_hf_config(data("qwen1.5-moe-a2.7b.config.json"));
  EXPECT_EQ(arch.num_experts, 60);
  EXPECT_EQ(arch.top_k, 4);
  EXPECT_EQ(arch.expert_intermediate_size, 1408);
  EXPECT_EQ(arch.num_shared_experts, 4);
  EXPECT_EQ(arch.moe_layer_frequency, 1);
  expect_same_shape(arch, find_model_preset("qwen1.5-moe-a2.7b").value());
}

TEST(HfConfig, MissingFileIsAnInputErrorNamingTheFile) {
  const auto path = data("does-not-exist.json");
  try {
    (void)read_hf_config(path);
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_EQ(error.file(), path.string());
    EXPECT_EQ(error.row(), 0);
  }
}

TEST(HfConfig, DirectoryInsteadOfFileIsAnInputError) {
  EXPECT_THROW((void)read_hf_config(data("")), InputError);
}

TEST(HfConfig, InvalidJsonReportsTheLineOfTheError) {
  try {
    (void)read_hf_config(data("invalid-json.config.json"));
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_EQ(error.row(), 3) << error.what();  // the doubled comma is on line 3
    EXPECT_NE(std::string(error.what()).find("invalid JSON"), std::string::npos);
  }
}

TEST(HfConfig, MissingAndMistypedKeysAreAllReportedByName) {
  try {
    (void)read_hf_config(data("missing-and-wrong-keys.config.json"));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    ASSERT_EQ(error.issues().size(), 2U) << error.what();
    EXPECT_EQ(error.issues()[0].yaml_path, "hidden_size");
    EXPECT_NE(error.issues()[0].message.find("must be an integer"), std::string::npos);
    EXPECT_EQ(error.issues()[1].yaml_path, "num_local_experts");
    EXPECT_NE(error.issues()[1].message.find("missing required key"), std::string::npos);
    EXPECT_NE(error.issues()[1].file.find("missing-and-wrong-keys.config.json"), std::string::npos);
  }
}

TEST(HfConfig, InconsistentValuesAreReportedAsArchitectureProblems) {
  const std::string text = R"({"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 128, "vocab_size": 100,
    "num_local_experts": 2, "num_experts_per_tok": 3, "torch_dtype": "bfloat16"})";
  try {
    (void)parse_hf_config(text, "inline.json");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    ASSERT_EQ(error.issues().size(), 1U) << error.what();
    EXPECT_EQ(error.issues()[0].yaml_path, "top_k");
    EXPECT_EQ(error.issues()[0].file, "inline.json");
  }
}

TEST(HfConfig, Float32OrMissingDtypeIsServedAsFloat16LikeVllmAuto) {
  const std::string base = R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100)";
  EXPECT_EQ(parse_hf_config(base + "}", "a.json").dtype, DType::kFloat16);
  EXPECT_EQ(parse_hf_config(base + R"(, "torch_dtype": "float32"})", "b.json").dtype, DType::kFloat16);
  EXPECT_EQ(parse_hf_config(base + R"(, "dtype": "bfloat16"})", "c.json").dtype, DType::kBFloat16);
  EXPECT_THROW((void)parse_hf_config(base + R"(, "torch_dtype": "int3"})", "d.json"), ConfigError);
}

TEST(HfConfig, OptWithProjectionDimensionIsRejected) {
  const std::string text = R"({"model_type": "opt", "hidden_size": 1024, "num_hidden_layers": 24,
    "num_attention_heads": 16, "ffn_dim": 4096, "vocab_size": 50272, "word_embed_proj_dim": 512})";
  try {
    (void)parse_hf_config(text, "opt-350m.json");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    ASSERT_EQ(error.issues().size(), 1U);
    EXPECT_EQ(error.issues()[0].yaml_path, "word_embed_proj_dim");
  }
}

std::vector<std::string> issue_paths(const std::string& text) {
  try {
    (void)parse_hf_config(text, "inline.json");
  } catch (const ConfigError& error) {
    std::vector<std::string> paths;
    for (const auto& issue : error.issues()) paths.push_back(issue.yaml_path);
    return paths;
  }
  return {};
}

const std::string kLlamaKeys = R"("hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
    "intermediate_size": 128, "vocab_size": 100, "torch_dtype": "bfloat16")";

TEST(HfConfig, UnknownModelTypeIsAnErrorNamingIt) {
  try {
    (void)parse_hf_config(R"({"model_type": "jamba", )" + kLlamaKeys + "}", "jamba.json");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    ASSERT_EQ(error.issues().size(), 1U);
    EXPECT_EQ(error.issues()[0].yaml_path, "model_type");
    EXPECT_NE(error.issues()[0].message.find("\"jamba\" is not supported"), std::string::npos);
    EXPECT_NE(error.issues()[0].message.find("deepseek_v3"), std::string::npos);
  }
}

TEST(HfConfig, MissingModelTypeIsAnError) {
  EXPECT_EQ(issue_paths("{" + kLlamaKeys + "}"), std::vector<std::string>{"model_type"});
}

TEST(HfConfig, ExpertKeysOnADenseTypeAreRefusedByName) {
  try {
    (void)parse_hf_config(R"({"model_type": "llama", "num_local_experts": 8, "num_experts_per_tok": 2, )" +
                              kLlamaKeys + "}",
                          "llama-moe.json");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    ASSERT_EQ(error.issues().size(), 2U) << error.what();
    // Keys in alphabetical order (nlohmann::json objects are sorted).
    EXPECT_EQ(error.issues()[0].yaml_path, "num_experts_per_tok");
    EXPECT_EQ(error.issues()[1].yaml_path, "num_local_experts");
    EXPECT_NE(error.issues()[0].message.find("not read for model_type \"llama\""), std::string::npos);
    EXPECT_NE(error.issues()[0].message.find("num_experts_per_tok, num_local_experts"), std::string::npos);
  }
}

TEST(HfConfig, UnreadMoeKeysOfAKnownMoeTypeAreRefused) {
  // Mixtral with DeepSeek-style keys it does not read.
  const std::string text = R"({"model_type": "mixtral", "num_local_experts": 8, "num_experts_per_tok": 2,
    "n_shared_experts": 2, "moe_intermediate_size": 32, "first_k_dense_replace": 1, )" + kLlamaKeys + "}";
  EXPECT_EQ(issue_paths(text),
            (std::vector<std::string>{"first_k_dense_replace", "moe_intermediate_size", "n_shared_experts"}));
  // Qwen3-MoE has no shared expert: a shared_expert_intermediate_size is not silently dropped.
  const std::string qwen3 = R"({"model_type": "qwen3_moe", "num_experts": 8, "num_experts_per_tok": 2,
    "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64, )" + kLlamaKeys + "}";
  EXPECT_EQ(issue_paths(qwen3), std::vector<std::string>{"shared_expert_intermediate_size"});
  // Nested: a DBRX ffn_config key that is not read.
  const std::string dbrx = R"({"model_type": "dbrx", "d_model": 64, "n_heads": 4, "n_layers": 2, "vocab_size": 100,
    "attn_config": {"kv_n_heads": 2}, "ffn_config": {"ffn_hidden_size": 128, "moe_num_experts": 4, "moe_top_k": 2,
    "moe_num_shared_experts": 1}})";
  EXPECT_EQ(issue_paths(dbrx), std::vector<std::string>{"ffn_config.moe_num_shared_experts"});
}

TEST(HfConfig, MlpOnlyLayersAndSparseStepPlaceTheMoeLayers) {
  const std::string text = R"({"model_type": "qwen2_moe", "num_experts": 8, "num_experts_per_tok": 2,
    "moe_intermediate_size": 32, "shared_expert_intermediate_size": 48, "decoder_sparse_step": 1,
    "mlp_only_layers": [0, 3], )" + kLlamaKeys + "}";
  const auto arch = parse_hf_config(text, "qwen.json");
  EXPECT_EQ(arch.num_moe_layers(), 2);
  EXPECT_FALSE(arch.is_moe_layer(0));
  EXPECT_TRUE(arch.is_moe_layer(1));
  EXPECT_FALSE(arch.is_moe_layer(3));
  // 48 is not a multiple of 32: one shared expert of its own width, with the sigmoid gate.
  EXPECT_EQ(arch.num_shared_experts, 1);
  EXPECT_EQ(arch.effective_shared_expert_intermediate_size(), 48);
  EXPECT_TRUE(arch.shared_expert_gate);
  const auto counts = count_parameters(arch);
  EXPECT_DOUBLE_EQ(counts.shared_experts_per_moe_layer, 3.0 * 64 * 48 + 64);
  EXPECT_THROW((void)parse_hf_config(R"({"model_type": "qwen2_moe", "num_experts": 8, "num_experts_per_tok": 2,
    "moe_intermediate_size": 32, "mlp_only_layers": [0, 9], )" + kLlamaKeys + "}", "bad.json"), ConfigError);
}

TEST(HfConfig, DeepSeekMoeLayerFrequencyCountsFromTheFirstSparseLayer) {
  // modeling_deepseek.py: MoE iff layer >= first_k_dense_replace and layer % moe_layer_freq == 0.
  const std::string text = R"({"model_type": "deepseek", "n_routed_experts": 8, "num_experts_per_tok": 2,
    "moe_intermediate_size": 32, "n_shared_experts": 1, "first_k_dense_replace": 1, "moe_layer_freq": 2, )" +
                           kLlamaKeys + "}";
  const auto arch = parse_hf_config(text, "ds.json");
  EXPECT_FALSE(arch.is_moe_layer(0));
  EXPECT_FALSE(arch.is_moe_layer(1));
  EXPECT_TRUE(arch.is_moe_layer(2));
  EXPECT_FALSE(arch.is_moe_layer(3));
  EXPECT_EQ(arch.num_moe_layers(), 1);
}

TEST(HfConfig, TopLevelArrayIsAConfigError) {
  EXPECT_THROW((void)parse_hf_config("[1, 2]", "array.json"), ConfigError);
}

}  // namespace
}  // namespace moesim
