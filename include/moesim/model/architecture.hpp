#pragma once
// Transformer architecture (dense or Mixture-of-Experts) and the exact counts derived from it.
// Counting rules and their sources: docs/model-and-memory.md.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moesim {

enum class DType { kFloat32, kFloat16, kBFloat16, kFp8 };
[[nodiscard]] double dtype_bytes(DType dtype);
[[nodiscard]] std::string to_string(DType dtype);  // "float32", "float16", "bfloat16", "fp8"
// Accepts the to_string spelling and common aliases, case-insensitive: "fp32", "float", "fp16", "half",
// "bf16", "float8", "fp8_e4m3", "fp8_e5m2". nullopt for anything else.
[[nodiscard]] std::optional<DType> dtype_from_string(const std::string& text);
[[nodiscard]] std::vector<std::string> dtype_names();  // the to_string spellings

// Normalisation layers: LayerNorm has a weight and a bias (2h parameters), RMSNorm a weight only (h).
enum class NormKind { kRmsNorm, kLayerNorm };
[[nodiscard]] std::string to_string(NormKind kind);  // "rmsnorm", "layernorm"
[[nodiscard]] std::optional<NormKind> norm_kind_from_string(const std::string& text);

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

  // --- Details that only matter for exact parameter counts (defaults: Llama-style). ---
  NormKind norm = NormKind::kRmsNorm;  // 2 norms per layer + 1 final norm
  bool qkv_bias = false;           // biases on the q, k, v projections (OPT, Qwen)
  bool attention_output_bias = false;  // bias on the o projection (OPT)
  bool mlp_bias = false;           // biases on the MLP / expert matrices (OPT)
  bool shared_expert_gate = false;    // Qwen-MoE: a sigmoid gate Linear(h, 1) on the shared experts
  // Rows of a learned absolute position table (OPT: max_position_embeddings + 2); 0 for RoPE models.
  int position_embedding_rows = 0;

  [[nodiscard]] bool is_moe() const { return num_experts > 1; }
  [[nodiscard]] int num_moe_layers() const;
  [[nodiscard]] int num_dense_layers() const { return num_layers - num_moe_layers(); }
  // head_dim if given, else hidden_size / num_attention_heads (0 when heads is 0).
  [[nodiscard]] int effective_head_dim() const;
  // expert_intermediate_size if given, else intermediate_size.
  [[nodiscard]] int effective_expert_intermediate_size() const;
};

// Exact parameter counts derived from the architecture. Norms and the biases flagged above are
// counted, so counts match Hugging Face's `num_parameters()` for the presets.
struct ParameterCounts {
  double total = 0;           // every weight, all experts, embeddings and LM head
  double activated = 0;       // weights one token uses (top-K experts), embeddings and LM head included
  double non_embedding = 0;   // total without token embedding, position table and LM head
  double activated_non_embedding = 0;
  double embedding = 0;       // token embedding + position table + LM head (once if tied)
  double attention_per_layer = 0;
  double dense_mlp_per_layer = 0;
  double expert_mlp = 0;      // one expert
  double router_per_moe_layer = 0;
  // The paper's "corresponding dense model" N: same layers and widths, every FFN dense, no embeddings.
  double corresponding_dense_non_embedding = 0;
  // Further breakdown.
  double norms_per_layer = 0;         // the two per-layer norms
  double final_norm = 0;
  double shared_experts_per_moe_layer = 0;  // shared experts + their gate
  double lm_head = 0;                 // vocab * h (also when tied: the matmul still happens)
  double expert_total = 0;            // all routed experts of all MoE layers
};

[[nodiscard]] ParameterCounts count_parameters(const ModelArchitecture& arch);

// KV-cache bytes per token for the whole model (all layers, all KV heads): 2 * l * kv_heads * head_dim * bytes.
[[nodiscard]] double kv_bytes_per_token(const ModelArchitecture& arch);

// The paper's shortcut formulas (arXiv 2404.02852 Section 2.1, Section 4.2; specs/paper-model.md),
// computed from the architecture so they can be printed beside the exact counts.
struct PaperShortcuts {
  // N used by the shortcuts: the exact corresponding-dense non-embedding count
  // (ParameterCounts::corresponding_dense_non_embedding), not an approximation.
  double dense_n = 0;
  // Kaplan-style 12 h^2 l (4h^2 attention + 8h^2 MLP of width 4h; no GQA, no gating), for reference.
  double dense_n_12h2l = 0;
  double c_paper = 1.0 / 3.0;      // the paper's per-expert growth factor (MoE every second layer, a = 2/3)
  // c implied by this architecture: (routed-expert parameters of one expert, all MoE layers) / N.
  double c_architecture = 0;
  double total_paper = 0;          // (1 + (E - 1) * c_paper) * N
  double activated_paper = 0;      // (1 + (K - 1) * c_paper) * N
  double total_with_c_architecture = 0;      // (1 + (E - 1) * c_architecture) * N
  double activated_with_c_architecture = 0;  // (1 + (K - 1) * c_architecture) * N
  double kv_elements_per_token = 0;          // the paper's 2 * h * l (no GQA)
  double kv_bytes_per_token = 0;             // 2 * h * l * dtype bytes
};
[[nodiscard]] PaperShortcuts paper_shortcuts(const ModelArchitecture& arch);

// FLOPs per token (one multiply-add = 2 FLOPs).
// Linear layers of the forward pass: 2 * (activated non-embedding parameters + LM head). Biases and
// norms are included in the parameter count (negligible); the embedding lookup costs no FLOPs.
[[nodiscard]] double forward_linear_flops_per_token(const ModelArchitecture& arch);
// Attention scores and weighted values for one token attending to `context_tokens` earlier tokens
// (itself included): 2 matmuls * 2 FLOPs * heads * head_dim * context * layers.
[[nodiscard]] double attention_flops_per_token(const ModelArchitecture& arch, double context_tokens);
// Training (forward + backward, no recomputation): 3x the forward linear FLOPs, i.e. the paper's
// C = 6 * N_activated * D with N_activated counted exactly (Section 2.2).
[[nodiscard]] double training_flops_per_token(const ModelArchitecture& arch);

// Problems with an architecture as (field, message) pairs, e.g. ("top_k", "must be <= num_experts (8)").
// Empty when consistent. The config loader turns each into a ConfigIssue with file/line/column.
struct ArchitectureProblem {
  std::string field;
  std::string message;
};
[[nodiscard]] std::vector<ArchitectureProblem> architecture_problems(const ModelArchitecture& arch);

// A multi-line human-readable summary: widths, exact counts, the paper's shortcuts beside them, KV bytes.
[[nodiscard]] std::string describe_architecture(const ModelArchitecture& arch);

}  // namespace moesim
