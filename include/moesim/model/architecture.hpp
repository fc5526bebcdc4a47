#pragma once
// Transformer architecture (dense or Mixture-of-Experts) and the exact counts derived from it.
#include <cstdint>
#include <string>
#include <vector>

namespace moesim {

enum class DType { kFloat32, kFloat16, kBFloat16, kFp8 };
[[nodiscard]] double dtype_bytes(DType dtype);
[[nodiscard]] std::string to_string(DType dtype);  // "float32", "float16", "bfloat16", "fp8"

struct ModelArchitecture {
  std::string name;
  int hidden_size = 0;             // h
  int num_layers = 0;              // l
  int num_attention_heads = 0;
  int num_kv_heads = 0;            // = num_attention_heads without GQA
  int head_dim = 0;                // hidden_size / num_attention_heads unless given
  int intermediate_size = 0;       // dense gated-MLP width (gate, up: h x i; down: i x h)
  int vocab_size = 0;
  bool gated_mlp = true;           // SwiGLU-style (3 matrices); false: 2 matrices (OPT/GPT)
  bool tie_word_embeddings = false;
  // Mixture of Experts. num_experts == 1 means dense.
  int num_experts = 1;             // E
  int top_k = 1;                   // K
  int expert_intermediate_size = 0;   // width of one expert's gated MLP (defaults to intermediate_size)
  int num_shared_experts = 0;      // Qwen-MoE style always-on experts (width expert_intermediate_size each)
  // Which layers are MoE: layer i (0-based) is MoE iff num_experts > 1 and
  // i % moe_layer_frequency == moe_layer_frequency - 1. 1 = every layer (Mixtral), 2 = every second
  // layer (the paper, Section 2.1, and GShard/Switch convention).
  int moe_layer_frequency = 1;
  DType dtype = DType::kBFloat16;
  int max_position_embeddings = 4096;

  [[nodiscard]] bool is_moe() const { return num_experts > 1; }
  [[nodiscard]] int num_moe_layers() const;
  [[nodiscard]] int num_dense_layers() const { return num_layers - num_moe_layers(); }
};

// Exact parameter counts derived from the architecture (biases and norms ignored except where noted).
struct ParameterCounts {
  double total = 0;           // every weight, all experts, embeddings and LM head
  double activated = 0;       // weights one token uses (top-K experts), embeddings and LM head included
  double non_embedding = 0;   // total without token embedding and LM head
  double activated_non_embedding = 0;
  double embedding = 0;       // token embedding + LM head (once if tied)
  double attention_per_layer = 0;
  double dense_mlp_per_layer = 0;
  double expert_mlp = 0;      // one expert
  double router_per_moe_layer = 0;
  // The paper's "corresponding dense model" N: same layers and widths, every FFN dense, no embeddings.
  double corresponding_dense_non_embedding = 0;
};

[[nodiscard]] ParameterCounts count_parameters(const ModelArchitecture& arch);

// KV-cache bytes per token for the whole model (all layers, all KV heads): 2 * l * kv_heads * head_dim * bytes.
[[nodiscard]] double kv_bytes_per_token(const ModelArchitecture& arch);

// Problems with an architecture as (field, message) pairs, e.g. ("top_k", "must be <= num_experts (8)").
// Empty when consistent. The config loader turns each into a ConfigIssue with file/line/column.
struct ArchitectureProblem {
  std::string field;
  std::string message;
};
[[nodiscard]] std::vector<ArchitectureProblem> architecture_problems(const ModelArchitecture& arch);

}  // namespace moesim
