// Exact parameter, KV and FLOP counts of a Transformer (dense or MoE), and the paper's shortcuts.
// The counting rules are written out in docs/model-and-memory.md.
#include "moesim/model/architecture.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace moesim {
namespace {

std::string to_lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

double as_double(int value) { return static_cast<double>(value); }

// Parameters of one MLP of width `width`: gated (gate, up: h x w; down: w x h) or plain (fc1, fc2).
double mlp_parameters(const ModelArchitecture& arch, int width) {
  const double h = as_double(arch.hidden_size);
  const double w = as_double(width);
  double weights = (arch.gated_mlp ? 3.0 : 2.0) * h * w;
  if (arch.mlp_bias) weights += (arch.gated_mlp ? 2.0 * w : w) + h;
  return weights;
}

double norm_parameters(const ModelArchitecture& arch) {
  const double h = as_double(arch.hidden_size);
  return arch.norm == NormKind::kLayerNorm ? 2.0 * h : h;
}

std::string format_count(double value) {
  char buffer[64];
  if (std::abs(value) >= 1e9) {
    std::snprintf(buffer, sizeof buffer, "%.3fB", value / 1e9);
  } else if (std::abs(value) >= 1e6) {
    std::snprintf(buffer, sizeof buffer, "%.3fM", value / 1e6);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.0f", value);
  }
  return buffer;
}

}  // namespace

double dtype_bytes(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4.0;
    case DType::kFloat16: return 2.0;
    case DType::kBFloat16: return 2.0;
    case DType::kFp8: return 1.0;
  }
  return 0.0;  // unreachable: every enumerator is handled above
}

std::string to_string(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFp8: return "fp8";
  }
  return "unknown";
}

std::optional<DType> dtype_from_string(const std::string& text) {
  const std::string key = to_lower(text);
  if (key == "float32" || key == "fp32" || key == "float") return DType::kFloat32;
  if (key == "float16" || key == "fp16" || key == "half") return DType::kFloat16;
  if (key == "bfloat16" || key == "bf16") return DType::kBFloat16;
  if (key == "fp8" || key == "float8" || key == "fp8_e4m3" || key == "fp8_e5m2") return DType::kFp8;
  return std::nullopt;
}

std::vector<std::string> dtype_names() { return {"float32", "float16", "bfloat16", "fp8"}; }

std::string to_string(NormKind kind) {
  switch (kind) {
    case NormKind::kRmsNorm: return "rmsnorm";
    case NormKind::kLayerNorm: return "layernorm";
  }
  return "unknown";
}

std::optional<NormKind> norm_kind_from_string(const std::string& text) {
  const std::string key = to_lower(text);
  if (key == "rmsnorm") return NormKind::kRmsNorm;
  if (key == "layernorm") return NormKind::kLayerNorm;
  return std::nullopt;
}

std::string to_string(QkNorm kind) {
  switch (kind) {
    case QkNorm::kNone: return "none";
    case QkNorm::kPerHead: return "head";
    case QkNorm::kFull: return "full";
  }
  return "unknown";
}

std::optional<QkNorm> qk_norm_from_string(const std::string& text) {
  const std::string key = to_lower(text);
  if (key == "none") return QkNorm::kNone;
  if (key == "head" || key == "per_head") return QkNorm::kPerHead;
  if (key == "full") return QkNorm::kFull;
  return std::nullopt;
}

bool ModelArchitecture::is_moe_layer(int layer) const {
  if (!is_moe() || moe_layer_frequency <= 0 || layer < 0 || layer >= num_layers) return false;
  if (layer < first_k_dense_layers) return false;
  if (std::find(dense_layers.begin(), dense_layers.end(), layer) != dense_layers.end()) return false;
  const int residue = moe_layer_offset < 0 ? moe_layer_frequency - 1 : moe_layer_offset % moe_layer_frequency;
  return layer % moe_layer_frequency == residue;
}

int ModelArchitecture::num_moe_layers() const {
  if (!is_moe() || moe_layer_frequency <= 0 || num_layers <= 0) return 0;
  // Default placement (layers f-1, 2f-1, ...): floor(l / f) of them.
  int count = 0;
  for (int layer = 0; layer < num_layers; ++layer) count += is_moe_layer(layer) ? 1 : 0;
  return count;
}

int ModelArchitecture::effective_head_dim() const {
  if (head_dim > 0) return head_dim;
  if (num_attention_heads <= 0) return 0;
  return hidden_size / num_attention_heads;
}

int ModelArchitecture::effective_expert_intermediate_size() const {
  return expert_intermediate_size > 0 ? expert_intermediate_size : intermediate_size;
}

int ModelArchitecture::effective_shared_expert_intermediate_size() const {
  return shared_expert_intermediate_size > 0 ? shared_expert_intermediate_size : effective_expert_intermediate_size();
}

int ModelArchitecture::effective_qk_head_dim() const {
  return uses_mla() ? qk_nope_head_dim + qk_rope_head_dim : effective_head_dim();
}

int ModelArchitecture::effective_v_head_dim() const { return uses_mla() ? v_head_dim : effective_head_dim(); }

namespace {

// Multi-head Latent Attention (DeepSeek-V2 modeling_deepseek.py DeepseekV2Attention): q_a_proj (h x r_q),
// q_a_layernorm (r_q), q_b_proj (r_q x H(nope + rope)) or q_proj (h x H(nope + rope)) without r_q;
// kv_a_proj_with_mqa (h x (r_kv + rope)), kv_a_layernorm (r_kv), kv_b_proj (r_kv x H(nope + v)), o_proj (Hv x h).
double mla_attention_parameters(const ModelArchitecture& arch) {
  const double h = as_double(arch.hidden_size);
  const double heads = as_double(arch.num_attention_heads);
  const double q_width = heads * as_double(arch.qk_nope_head_dim + arch.qk_rope_head_dim);
  const double q_rank = as_double(arch.q_lora_rank);
  const double kv_rank = as_double(arch.kv_lora_rank);
  double params = arch.q_lora_rank > 0 ? h * q_rank + q_rank + q_rank * q_width : h * q_width;
  params += h * (kv_rank + as_double(arch.qk_rope_head_dim)) + kv_rank;
  params += kv_rank * heads * as_double(arch.qk_nope_head_dim + arch.v_head_dim);
  params += heads * as_double(arch.v_head_dim) * h;
  return params;
}

}  // namespace

ParameterCounts count_parameters(const ModelArchitecture& arch) {
  ParameterCounts counts;
  const double h = as_double(arch.hidden_size);
  const double d = as_double(arch.effective_head_dim());
  const double q_width = as_double(arch.num_attention_heads) * d;
  const double kv_width = as_double(arch.num_kv_heads) * d;

  if (arch.uses_mla()) {
    counts.attention_per_layer = mla_attention_parameters(arch);
  } else {
    // Attention: q (h x Hd), k and v (h x KVd each), o (Hd x h).
    counts.attention_per_layer = h * q_width + 2.0 * h * kv_width + q_width * h;
    if (arch.qkv_bias) counts.attention_per_layer += q_width + 2.0 * kv_width;
    if (arch.attention_output_bias) counts.attention_per_layer += h;
    if (arch.qk_norm == QkNorm::kPerHead) counts.attention_per_layer += 2.0 * d;
    if (arch.qk_norm == QkNorm::kFull) counts.attention_per_layer += q_width + kv_width;
  }
  if (arch.attention_sinks) counts.attention_per_layer += as_double(arch.num_attention_heads);

  counts.dense_mlp_per_layer = mlp_parameters(arch, arch.intermediate_size);
  counts.norms_per_layer = 2.0 * norm_parameters(arch);
  counts.final_norm = norm_parameters(arch);

  const double num_moe = as_double(arch.num_moe_layers());
  const double num_dense = as_double(arch.num_dense_layers());
  const double experts = as_double(arch.num_experts);
  const double top_k = as_double(arch.top_k);
  if (arch.is_moe()) {
    counts.expert_mlp = mlp_parameters(arch, arch.effective_expert_intermediate_size());
    // gate: Linear(h, E), no bias (Mixtral, Qwen-MoE, DeepSeek); a bias of E with router_bias.
    counts.router_per_moe_layer = h * experts + (arch.router_bias ? experts : 0.0);
    counts.shared_experts_per_moe_layer =
        as_double(arch.num_shared_experts) * mlp_parameters(arch, arch.effective_shared_expert_intermediate_size());
    if (arch.shared_expert_gate && arch.num_shared_experts > 0) counts.shared_experts_per_moe_layer += h;
  }
  counts.expert_total = num_moe * experts * counts.expert_mlp;

  const double common_per_layer = counts.attention_per_layer + counts.norms_per_layer;
  const double dense_layer = common_per_layer + counts.dense_mlp_per_layer;
  const double moe_shared_part =
      common_per_layer + counts.router_per_moe_layer + counts.shared_experts_per_moe_layer;
  const double moe_layer_total = moe_shared_part + experts * counts.expert_mlp;
  const double moe_layer_activated = moe_shared_part + top_k * counts.expert_mlp;

  counts.non_embedding = num_dense * dense_layer + num_moe * moe_layer_total + counts.final_norm;
  counts.activated_non_embedding = num_dense * dense_layer + num_moe * moe_layer_activated + counts.final_norm;

  const double token_embedding = as_double(arch.vocab_size) * h;
  counts.lm_head = token_embedding;
  counts.embedding = token_embedding + as_double(arch.position_embedding_rows) * h +
                     (arch.tie_word_embeddings ? 0.0 : counts.lm_head) +
                     (arch.lm_head_bias ? as_double(arch.vocab_size) : 0.0);
  counts.total = counts.non_embedding + counts.embedding;
  counts.activated = counts.activated_non_embedding + counts.embedding;
  // The corresponding dense model: every FFN dense, of width intermediate_size (the expert width
  // when the architecture has no dense width, e.g. an all-MoE model given only expert widths).
  const double corresponding_width = arch.intermediate_size > 0 ? counts.dense_mlp_per_layer
                                                                : mlp_parameters(arch, arch.effective_expert_intermediate_size());
  counts.corresponding_dense_non_embedding =
      as_double(arch.num_layers) * (common_per_layer + corresponding_width) + counts.final_norm;
  return counts;
}

double kv_elements_per_token_per_layer(const ModelArchitecture& arch, int tensor_parallel_size) {
  if (arch.uses_mla()) return as_double(arch.kv_lora_rank + arch.qk_rope_head_dim);
  // vllm/config.py:514-522 @v0.6.3: max(1, total_num_kv_heads // tensor_parallel_size).
  const int heads = std::max(1, arch.num_kv_heads / std::max(1, tensor_parallel_size));
  return 2.0 * as_double(heads) * as_double(arch.effective_head_dim());
}

double kv_bytes_per_token(const ModelArchitecture& arch) {
  if (!arch.uses_mla()) {  // kept in its original form: all KV heads, no TP
    return 2.0 * as_double(arch.num_layers) * as_double(arch.num_kv_heads) * as_double(arch.effective_head_dim()) *
           dtype_bytes(arch.dtype);
  }
  return as_double(arch.num_layers) * kv_elements_per_token_per_layer(arch) * dtype_bytes(arch.dtype);
}

PaperShortcuts paper_shortcuts(const ModelArchitecture& arch) {
  PaperShortcuts shortcuts;
  const ParameterCounts counts = count_parameters(arch);
  const double h = as_double(arch.hidden_size);
  const double l = as_double(arch.num_layers);
  const double experts = as_double(arch.num_experts);
  const double top_k = arch.is_moe() ? as_double(arch.top_k) : 1.0;
  shortcuts.dense_n = counts.corresponding_dense_non_embedding;
  shortcuts.dense_n_12h2l = 12.0 * h * h * l;
  if (shortcuts.dense_n > 0) {
    shortcuts.c_architecture = counts.expert_mlp * as_double(arch.num_moe_layers()) / shortcuts.dense_n;
  }
  shortcuts.total_paper = (1.0 + (experts - 1.0) * shortcuts.c_paper) * shortcuts.dense_n;
  shortcuts.activated_paper = (1.0 + (top_k - 1.0) * shortcuts.c_paper) * shortcuts.dense_n;
  shortcuts.total_with_c_architecture = (1.0 + (experts - 1.0) * shortcuts.c_architecture) * shortcuts.dense_n;
  shortcuts.activated_with_c_architecture = (1.0 + (top_k - 1.0) * shortcuts.c_architecture) * shortcuts.dense_n;
  shortcuts.kv_elements_per_token = 2.0 * h * l;
  shortcuts.kv_bytes_per_token = shortcuts.kv_elements_per_token * dtype_bytes(arch.dtype);
  return shortcuts;
}

double forward_linear_flops_per_token(const ModelArchitecture& arch) {
  const ParameterCounts counts = count_parameters(arch);
  return 2.0 * (counts.activated_non_embedding + counts.lm_head);
}

double attention_flops_per_token(const ModelArchitecture& arch, double context_tokens) {
  // Q K^T: heads * qk head dim multiply-adds per context token; softmax(.) V: heads * v head dim.
  return 2.0 * as_double(arch.num_attention_heads) *
         as_double(arch.effective_qk_head_dim() + arch.effective_v_head_dim()) * context_tokens *
         as_double(arch.num_layers);
}

double training_flops_per_token(const ModelArchitecture& arch) {
  return 3.0 * forward_linear_flops_per_token(arch);
}

std::vector<ArchitectureProblem> architecture_problems(const ModelArchitecture& arch) {
  std::vector<ArchitectureProblem> problems;
  auto positive = [&problems](const char* field, int value) {
    if (value <= 0) problems.push_back({field, "= " + std::to_string(value) + "; must be > 0"});
  };
  auto non_negative = [&problems](const char* field, int value) {
    if (value < 0) problems.push_back({field, "= " + std::to_string(value) + "; must be >= 0"});
  };
  positive("hidden_size", arch.hidden_size);
  positive("num_layers", arch.num_layers);
  positive("num_attention_heads", arch.num_attention_heads);
  positive("num_kv_heads", arch.num_kv_heads);
  non_negative("head_dim", arch.head_dim);
  // The dense width is needed when some layer is dense; an all-MoE model may give only expert widths.
  if (arch.is_moe() && arch.num_dense_layers() > 0 && arch.expert_intermediate_size > 0 &&
      arch.intermediate_size <= 0) {
    problems.push_back({"intermediate_size", "= " + std::to_string(arch.intermediate_size) + "; must be > 0: " +
                                                 std::to_string(arch.num_dense_layers()) +
                                                 " layer(s) are dense (first_k_dense_layers, dense_layers or "
                                                 "moe_layer_frequency) and need the dense MLP width"});
  } else if (!arch.is_moe() || arch.num_dense_layers() > 0 || arch.expert_intermediate_size <= 0) {
    positive("intermediate_size", arch.intermediate_size);
  } else {
    non_negative("intermediate_size", arch.intermediate_size);
  }
  positive("vocab_size", arch.vocab_size);
  positive("num_experts", arch.num_experts);
  positive("top_k", arch.top_k);
  non_negative("expert_intermediate_size", arch.expert_intermediate_size);
  non_negative("num_shared_experts", arch.num_shared_experts);
  positive("moe_layer_frequency", arch.moe_layer_frequency);
  non_negative("shared_expert_intermediate_size", arch.shared_expert_intermediate_size);
  non_negative("first_k_dense_layers", arch.first_k_dense_layers);
  non_negative("q_lora_rank", arch.q_lora_rank);
  non_negative("kv_lora_rank", arch.kv_lora_rank);
  non_negative("qk_nope_head_dim", arch.qk_nope_head_dim);
  non_negative("qk_rope_head_dim", arch.qk_rope_head_dim);
  non_negative("v_head_dim", arch.v_head_dim);
  if (arch.moe_layer_frequency > 0 && (arch.moe_layer_offset < -1 || arch.moe_layer_offset >= arch.moe_layer_frequency)) {
    problems.push_back({"moe_layer_offset", "= " + std::to_string(arch.moe_layer_offset) +
                                                "; must be -1 (frequency - 1) or in 0 .. moe_layer_frequency - 1 (" +
                                                std::to_string(arch.moe_layer_frequency - 1) + ")"});
  }
  for (const int layer : arch.dense_layers) {
    if (layer < 0 || layer >= arch.num_layers) {
      problems.push_back({"dense_layers", "contains " + std::to_string(layer) + "; layers are 0 .. num_layers - 1 (" +
                                              std::to_string(arch.num_layers - 1) + ")"});
      break;
    }
  }
  if (arch.uses_mla() && (arch.qk_nope_head_dim + arch.qk_rope_head_dim <= 0 || arch.v_head_dim <= 0)) {
    problems.push_back({"kv_lora_rank", "= " + std::to_string(arch.kv_lora_rank) +
                                            " (Multi-head Latent Attention) needs qk_nope_head_dim + qk_rope_head_dim > 0 "
                                            "and v_head_dim > 0"});
  }
  positive("max_position_embeddings", arch.max_position_embeddings);
  non_negative("position_embedding_rows", arch.position_embedding_rows);

  if (arch.num_attention_heads > 0 && arch.num_kv_heads > 0) {
    if (arch.num_kv_heads > arch.num_attention_heads) {
      problems.push_back({"num_kv_heads", "= " + std::to_string(arch.num_kv_heads) +
                                              "; must be <= num_attention_heads (" +
                                              std::to_string(arch.num_attention_heads) + ")"});
    } else if (arch.num_attention_heads % arch.num_kv_heads != 0) {
      problems.push_back({"num_kv_heads", "= " + std::to_string(arch.num_kv_heads) +
                                              "; num_attention_heads (" + std::to_string(arch.num_attention_heads) +
                                              ") must be a multiple of it (grouped-query attention)"});
    }
  }
  if (arch.head_dim == 0 && arch.hidden_size > 0 && arch.num_attention_heads > 0 &&
      arch.hidden_size % arch.num_attention_heads != 0) {
    problems.push_back({"num_attention_heads", "= " + std::to_string(arch.num_attention_heads) +
                                                   " does not divide hidden_size (" +
                                                   std::to_string(arch.hidden_size) + "); give head_dim explicitly"});
  }
  if (arch.num_experts > 0 && arch.top_k > arch.num_experts) {
    problems.push_back({"top_k", "= " + std::to_string(arch.top_k) + "; must be <= num_experts (" +
                                     std::to_string(arch.num_experts) + ")"});
  }
  if (arch.num_experts == 1 && arch.top_k > 1) {
    problems.push_back({"top_k", "= " + std::to_string(arch.top_k) + "; a dense model (num_experts = 1) has top_k = 1"});
  }
  if (arch.num_experts == 1 && arch.num_shared_experts > 0) {
    problems.push_back({"num_shared_experts", "= " + std::to_string(arch.num_shared_experts) +
                                                  "; shared experts need an MoE model (num_experts > 1)"});
  }
  if (arch.is_moe() && arch.moe_layer_frequency > 0 && arch.num_layers > 0 &&
      arch.moe_layer_frequency > arch.num_layers) {
    problems.push_back({"moe_layer_frequency", "= " + std::to_string(arch.moe_layer_frequency) +
                                                   "; must be <= num_layers (" + std::to_string(arch.num_layers) +
                                                   ") or the model has no MoE layer"});
  } else if (arch.is_moe() && arch.moe_layer_frequency > 0 && arch.num_layers > 0 &&
             arch.first_k_dense_layers >= 0 && arch.num_moe_layers() == 0) {
    problems.push_back({"first_k_dense_layers", "= " + std::to_string(arch.first_k_dense_layers) +
                                                    " with the other placement keys leaves no MoE layer of " +
                                                    std::to_string(arch.num_layers)});
  }
  return problems;
}

std::string describe_architecture(const ModelArchitecture& arch) {
  const ParameterCounts counts = count_parameters(arch);
  const PaperShortcuts paper = paper_shortcuts(arch);
  std::ostringstream out;
  out << "model " << (arch.name.empty() ? "(unnamed)" : arch.name) << ": h=" << arch.hidden_size
      << " l=" << arch.num_layers << " heads=" << arch.num_attention_heads << " kv_heads=" << arch.num_kv_heads
      << " head_dim=" << arch.effective_head_dim() << " ffn=" << arch.intermediate_size
      << (arch.gated_mlp ? " (gated)" : " (plain)") << " vocab=" << arch.vocab_size << " dtype=" << to_string(arch.dtype)
      << '\n';
  if (arch.uses_mla()) {
    out << "  MLA: q_lora_rank=" << arch.q_lora_rank << " kv_lora_rank=" << arch.kv_lora_rank
        << " qk_nope=" << arch.qk_nope_head_dim << " qk_rope=" << arch.qk_rope_head_dim << " v_head_dim=" << arch.v_head_dim
        << " (KV cache " << kv_elements_per_token_per_layer(arch) << " elements per token and layer)\n";
  }
  if (arch.is_moe()) {
    out << "  experts E=" << arch.num_experts << " top-K=" << arch.top_k
        << " expert_ffn=" << arch.effective_expert_intermediate_size() << " shared=" << arch.num_shared_experts;
    if (arch.num_shared_experts > 0) out << " (ffn " << arch.effective_shared_expert_intermediate_size() << ")";
    out << " MoE layers=" << arch.num_moe_layers() << "/" << arch.num_layers << '\n';
  }
  out << "  parameters (exact): total " << format_count(counts.total) << ", activated "
      << format_count(counts.activated) << ", non-embedding " << format_count(counts.non_embedding)
      << ", activated non-embedding " << format_count(counts.activated_non_embedding) << '\n';
  out << "  paper shortcuts: N (corresponding dense, exact) " << format_count(paper.dense_n) << " [12h^2l "
      << format_count(paper.dense_n_12h2l) << "]; N_moe=(1+(E-1)/3)N " << format_count(paper.total_paper)
      << ", activated (1+(K-1)/3)N " << format_count(paper.activated_paper) << "; c of this architecture "
      << paper.c_architecture << '\n';
  out << "  KV per token: " << kv_bytes_per_token(arch) / 1024.0 << " KiB exact, "
      << paper.kv_bytes_per_token / 1024.0 << " KiB by the paper's 2hl\n";
  out << "  forward linear FLOPs per token: " << format_count(forward_linear_flops_per_token(arch)) << '\n';
  return out.str();
}

}  // namespace moesim
