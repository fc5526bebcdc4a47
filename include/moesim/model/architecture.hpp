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

// Normalisation of queries and keys inside attention (parameters only; Llama 4's weightless L2 norm is kNone).
//   kNone: none. kPerHead: RMSNorm(head_dim) on q and on k (Qwen3): 2 d parameters per layer.
//   kFull: RMSNorm over all q and all k features (OLMoE): H d + KV d parameters per layer.
enum class QkNorm { kNone, kPerHead, kFull };
[[nodiscard]] std::string to_string(QkNorm kind);  // "none", "head", "full"
[[nodiscard]] std::optional<QkNorm> qk_norm_from_string(const std::string& text);

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
  int num_shared_experts = 0;      // always-on experts (Qwen-MoE, DeepSeek, Llama 4)
  // Width of each shared expert; 0 = expert width (effective_expert_intermediate_size()).
  int shared_expert_intermediate_size = 0;
  // Which layers are MoE (is_moe_layer): layer i (0-based) is MoE iff num_experts > 1,
  // i >= first_k_dense_layers, i is not in dense_layers, and i % moe_layer_frequency == the residue
  // moe_layer_offset (-1, the default, means moe_layer_frequency - 1). Frequency 1 = every layer
  // (Mixtral), 2 = every second layer (the paper, Section 2.1, and GShard/Switch convention).
  int moe_layer_frequency = 1;
  int moe_layer_offset = -1;       // -1: frequency - 1 (Qwen decoder_sparse_step, Llama 4); DeepSeek: 0
  int first_k_dense_layers = 0;    // DeepSeek first_k_dense_replace: layers 0..k-1 keep a dense MLP
  std::vector<int> dense_layers;   // further layers with a dense MLP (Qwen mlp_only_layers), 0-based
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
  QkNorm qk_norm = QkNorm::kNone;
  bool attention_sinks = false;    // gpt-oss: one learned sink logit per attention head and layer
  bool router_bias = false;        // a bias of E per router (gpt-oss; DeepSeek-V3 e_score_correction_bias)
  bool lm_head_bias = false;       // a bias of V on the LM head (PhiMoE)

  // --- Multi-head Latent Attention (DeepSeek-V2/V3). Used iff kv_lora_rank > 0; then num_kv_heads
  // and head_dim do not shape attention and the KV cache holds kv_lora_rank + qk_rope_head_dim
  // elements per token and layer (the compressed latent and the shared RoPE key).
  int q_lora_rank = 0;             // 0: queries are not compressed (q_proj h x H(nope + rope))
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;

  [[nodiscard]] bool is_moe() const { return num_experts > 1; }
  [[nodiscard]] bool uses_mla() const { return kv_lora_rank > 0; }
  [[nodiscard]] bool is_moe_layer(int layer) const;  // see moe_layer_frequency above
  [[nodiscard]] int num_moe_layers() const;
  [[nodiscard]] int num_dense_layers() const { return num_layers - num_moe_layers(); }
  // head_dim if given, else hidden_size / num_attention_heads (0 when heads is 0).
  [[nodiscard]] int effective_head_dim() const;
  // expert_intermediate_size if given, else intermediate_size.
  [[nodiscard]] int effective_expert_intermediate_size() const;
  // shared_expert_intermediate_size if given, else the expert width.
  [[nodiscard]] int effective_shared_expert_intermediate_size() const;
  // Query/key and value widths per head: MLA qk_nope + qk_rope and v_head_dim, else head_dim both.
  [[nodiscard]] int effective_qk_head_dim() const;
  [[nodiscard]] int effective_v_head_dim() const;
};

// Exact parameter counts derived from the architecture. Norms and the biases flagged above are
// counted, so counts match Hugging Face's `num_parameters()` for the presets.
struct ParameterCounts {
  double total = 0;           // every weight, all experts, embeddings and LM head
  double activated = 0;       // weights one token uses (top-K experts), embeddings and LM head included
  double non_embedding = 0;   // total without token embedding, position table and LM head
  double activated_non_embedding = 0;
  double embedding = 0;       // token embedding + position table + LM head (once if tied) + LM head bias
  double attention_per_layer = 0;
  double dense_mlp_per_layer = 0;
  double expert_mlp = 0;      // one expert
  double router_per_moe_layer = 0;     // hE (+ E with router_bias)
  // The paper's "corresponding dense model" N: same layers and widths, every FFN dense, no embeddings.
  double corresponding_dense_non_embedding = 0;
  // Further breakdown.
  double norms_per_layer = 0;         // the two per-layer norms
  double final_norm = 0;
  double shared_experts_per_moe_layer = 0;  // shared experts (each of the shared width) + their gate
  double lm_head = 0;                 // vocab * h (also when tied: the matmul still happens)
  double expert_total = 0;            // all routed experts of all MoE layers
};

[[nodiscard]] ParameterCounts count_parameters(const ModelArchitecture& arch);

// KV-cache elements per token of one layer on one GPU of a tensor-parallel group of `tensor_parallel_size`:
// 2 * max(1, kv_heads / TP) * head_dim (vLLM replicates KV heads when TP > kv_heads), or with MLA
// kv_lora_rank + qk_rope_head_dim (every TP rank caches the whole latent).
[[nodiscard]] double kv_elements_per_token_per_layer(const ModelArchitecture& arch, int tensor_parallel_size = 1);
// KV-cache bytes per token for the whole model: l * kv_elements_per_token_per_layer(arch) * dtype bytes
// (= 2 * l * kv_heads * head_dim * bytes without MLA).
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
// (itself included): 2 FLOPs * heads * (qk head dim + v head dim) * context * layers
// (= 4 * heads * head_dim * context * layers without MLA; MLA counted in its uncompressed form).
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
