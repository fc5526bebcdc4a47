#include <gtest/gtest.h>

#include <filesystem>

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

TEST(HfConfig, TopLevelArrayIsAConfigError) {
  EXPECT_THROW((void)parse_hf_config("[1, 2]", "array.json"), ConfigError);
}

}  // namespace
}  // namespace moesim
