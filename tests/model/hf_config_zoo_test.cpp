// Every Hugging Face config.json in ../shared/data/hf-configs (and the copies in tests/model/data)
// imported and counted: total and activated parameters within 1% of the counts derived in
// ../shared/data/hf-configs/FACTS.md ("derived total / active with embedding"), KV elements per token
// per layer exactly as FACTS.md states them.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>

#include "moesim/common/errors.hpp"
#include "moesim/model/hf_config.hpp"

namespace moesim {
namespace {

namespace fs = std::filesystem;

struct Facts {
  double total_billion;         // FACTS.md derived total (embeddings and LM head included)
  double activated_billion;     // FACTS.md derived active, with the input embedding
  double kv_elements_per_layer; // FACTS.md "KV elem / token / layer"
  int experts;                  // routed experts (1: dense)
  int top_k;
  int shared_experts;
  int moe_layers;
};

// File name -> FACTS.md row. Dense rows: total = activated ("derived params").
const std::map<std::string, Facts>& facts() {
  static const std::map<std::string, Facts> table = {
      {"Qwen1.5-MoE-A2.7B.json", {14.32, 2.69, 4096, 60, 4, 4, 24}},
      {"Qwen1.5-MoE-A2.7B-Chat.json", {14.32, 2.69, 4096, 60, 4, 4, 24}},
      {"Qwen3-30B-A3B.json", {30.53, 3.35, 1024, 128, 8, 0, 48}},
      {"DeepSeek-MoE-16B-base.json", {16.38, 2.83, 4096, 64, 6, 2, 27}},
      {"DeepSeek-V2-Lite.json", {15.71, 2.66, 576, 64, 6, 2, 26}},
      {"DeepSeek-V3.json", {671.03, 37.55, 576, 256, 8, 1, 58}},
      {"OLMoE-1B-7B.json", {6.92, 1.28, 4096, 64, 8, 0, 16}},
      {"DBRX-instruct.mlx-4bit-abridged.json", {131.60, 36.47, 2048, 16, 4, 0, 40}},
      {"Phi-mini-MoE-instruct.json", {7.65, 2.36, 2048, 16, 2, 0, 32}},
      {"gpt-oss-20b.json", {20.91, 4.19, 1024, 32, 4, 0, 24}},
      {"Llama-4-Scout-17B-16E-Instruct.json", {107.77, 17.17, 2048, 16, 1, 1, 48}},
      {"Llama-4-Scout-17B-16E-Instruct-FP8-dynamic.json", {107.77, 17.17, 2048, 16, 1, 1, 48}},
      {"Llama-4-Maverick-17B-128E-Instruct.trimmed.json", {400.71, 17.18, 2048, 128, 1, 1, 24}},
      // Mixtral has no FACTS.md row: Hugging Face num_parameters() 46,702,792,704 / 12,879,925,248
      // (docs/model-and-memory.md section 1), KV 2 x 8 x 128.
      {"Mixtral-8x7B-v0.1.json", {46.702792704, 12.879925248, 2048, 8, 2, 0, 32}},
      {"Llama-3.1-8B.json", {8.03, 8.03, 2048, 1, 1, 0, 0}},
      {"Llama-3.1-70B.json", {70.55, 70.55, 2048, 1, 1, 0, 0}},
      {"Qwen3-32B.json", {32.76, 32.76, 2048, 1, 1, 0, 0}},
      {"OPT-13B.partial.json", {12.85, 12.85, 10240, 1, 1, 0, 0}},
      // Copies in tests/model/data (same models as above).
      {"qwen3-30b-a3b.config.json", {30.53, 3.35, 1024, 128, 8, 0, 48}},
      {"deepseek-v2-lite.config.json", {15.71, 2.66, 576, 64, 6, 2, 26}},
      {"deepseek-v3.config.json", {671.03, 37.55, 576, 256, 8, 1, 58}},
      {"gpt-oss-20b.config.json", {20.91, 4.19, 1024, 32, 4, 0, 24}},
  };
  return table;
}

void check_against_facts(const fs::path& path, const Facts& f) {
  SCOPED_TRACE(path.string());
  ModelArchitecture arch;
  try {
    arch = read_hf_config(path);
  } catch (const std::exception& error) {
    FAIL() << error.what();
  }
  const ParameterCounts counts = count_parameters(arch);
  EXPECT_NEAR(counts.total / 1e9, f.total_billion, 0.01 * f.total_billion);
  EXPECT_NEAR(counts.activated / 1e9, f.activated_billion, 0.01 * f.activated_billion);
  EXPECT_DOUBLE_EQ(kv_elements_per_token_per_layer(arch), f.kv_elements_per_layer);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(arch),
                   f.kv_elements_per_layer * arch.num_layers * dtype_bytes(arch.dtype));
  EXPECT_EQ(arch.num_experts, f.experts);
  EXPECT_EQ(arch.is_moe() ? arch.top_k : 1, f.top_k);
  EXPECT_EQ(arch.num_moe_layers(), f.moe_layers);
  // Shared experts counted in expert widths (Qwen's one 4x-wide MLP = 4).
  const int shared_widths =
      arch.expert_intermediate_size > 0
          ? arch.num_shared_experts * arch.effective_shared_expert_intermediate_size() / arch.expert_intermediate_size
          : arch.num_shared_experts;
  EXPECT_EQ(shared_widths, f.shared_experts);
  std::printf("%-50s total %9.3fB (FACTS %8.2fB, %+6.2f%%)  activated %8.3fB (FACTS %6.2fB, %+6.2f%%)  KV %5.0f\n",
              path.filename().string().c_str(), counts.total / 1e9, f.total_billion,
              100.0 * (counts.total / 1e9 / f.total_billion - 1.0), counts.activated / 1e9, f.activated_billion,
              100.0 * (counts.activated / 1e9 / f.activated_billion - 1.0), kv_elements_per_token_per_layer(arch));
}

TEST(HfConfigZoo, EverySharedConfigMatchesFacts) {
  const fs::path dir = fs::path(MOESIM_SHARED_DIR) / "data" / "hf-configs";
  if (!fs::is_directory(dir)) GTEST_SKIP() << dir.string() << " not present (../shared is not checked out)";
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    const std::string name = entry.path().filename().string();
    const auto it = facts().find(name);
    ASSERT_NE(it, facts().end()) << name << " has no row in this test's FACTS table; add it";
    check_against_facts(entry.path(), it->second);
    ++checked;
  }
  EXPECT_GE(checked, 17);
}

TEST(HfConfigZoo, RepositoryCopiesMatchFacts) {
  const fs::path dir = fs::path(MOESIM_SOURCE_DIR) / "tests" / "model" / "data";
  for (const char* name : {"qwen3-30b-a3b.config.json", "deepseek-v2-lite.config.json", "deepseek-v3.config.json",
                           "gpt-oss-20b.config.json"}) {
    check_against_facts(dir / name, facts().at(name));
  }
}

TEST(HfConfigZoo, DeepSeekV2LiteStructure) {
  const auto arch = read_hf_config(fs::path(MOESIM_SOURCE_DIR) / "tests" / "model" / "data" / "deepseek-v2-lite.config.json");
  EXPECT_TRUE(arch.uses_mla());
  EXPECT_EQ(arch.q_lora_rank, 0);
  EXPECT_EQ(arch.kv_lora_rank, 512);
  EXPECT_EQ(arch.qk_rope_head_dim, 64);
  EXPECT_EQ(arch.first_k_dense_layers, 1);
  EXPECT_FALSE(arch.is_moe_layer(0));
  EXPECT_TRUE(arch.is_moe_layer(1));
  EXPECT_TRUE(arch.is_moe_layer(26));
  EXPECT_EQ(arch.intermediate_size, 10944);
  EXPECT_EQ(arch.expert_intermediate_size, 1408);
  EXPECT_EQ(arch.num_shared_experts, 2);
  EXPECT_EQ(arch.effective_shared_expert_intermediate_size(), 1408);
  // 27 layers x 576 elements x 2 bytes.
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(arch), 27.0 * 576.0 * 2.0);
  EXPECT_DOUBLE_EQ(kv_elements_per_token_per_layer(arch, 8), 576.0);  // the latent is replicated over TP
}

}  // namespace
}  // namespace moesim
