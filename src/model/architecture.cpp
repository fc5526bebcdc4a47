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

int ModelArchitecture::num_moe_layers() const {
  if (!is_moe() || moe_layer_frequency <= 0 || num_layers <= 0) return 0;
  // Layers i = f-1, 2f-1, ... < l are MoE: floor(l / f) of them.
  return num_layers / moe_layer_frequency;
}

int ModelArchitecture::effective_head_dim() const {
  if (head_dim > 0) return head_dim;
  if (num_attention_heads <= 0) return 0;
  return hidden_size / num_attention_heads;
}

int ModelArchitecture::effective_expert_intermediate_size() const {
  return expert_intermediate_size > 0 ? expert_intermediate_size : intermediate_size;
}

ParameterCounts count_parameters(const ModelArchitecture& arch) {
  ParameterCounts counts;
  const double h = as_double(arch.hidden_size);
  const double d = as_double(arch.effective_head_dim());
  const double q_width = as_double(arch.num_attention_heads) * d;
  const double kv_width = as_double(arch.num_kv_heads) * d;

  // Attention: q (h x Hd), k and v (h x KVd each), o (Hd x h).
  counts.attention_per_layer = h * q_width + 2.0 * h * kv_width + q_width * h;
  if (arch.qkv_bias) counts.attention_per_layer += q_width + 2.0 * kv_width;
  if (arch.attention_output_bias) counts.attention_per_layer += h;

  counts.dense_mlp_per_layer = mlp_parameters(arch, arch.intermediate_size);
  counts.norms_per_layer = 2.0 * norm_parameters(arch);
  counts.final_norm = norm_parameters(arch);

  const double num_moe = as_double(arch.num_moe_layers());
  const double num_dense = as_double(arch.num_dense_layers());
  const double experts = as_double(arch.num_experts);
  const double top_k = as_double(arch.top_k);
  if (arch.is_moe()) {
    counts.expert_mlp = mlp_parameters(arch, arch.effective_expert_intermediate_size());
    counts.router_per_moe_layer = h * experts;  // gate: Linear(h, E), no bias (Mixtral, Qwen-MoE)
    counts.shared_experts_per_moe_layer = as_double(arch.num_shared_experts) * counts.expert_mlp;
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
                     (arch.tie_word_embeddings ? 0.0 : counts.lm_head);
  counts.total = counts.non_embedding + counts.embedding;
  counts.activated = counts.activated_non_embedding + counts.embedding;
  counts.corresponding_dense_non_embedding = as_double(arch.num_layers) * dense_layer + counts.final_norm;
  return counts;
}

double kv_bytes_per_token(const ModelArchitecture& arch) {
  return 2.0 * as_double(arch.num_layers) * as_double(arch.num_kv_heads) * as_double(arch.effective_head_dim()) *
         dtype_bytes(arch.dtype);
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
  // Q K^T: heads * head_dim multiply-adds per context token; softmax(.) V: the same again.
  return 2.0 * 2.0 * as_double(arch.num_attention_heads) * as_double(arch.effective_head_dim()) *
         context_tokens * as_double(arch.num_layers);
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
  positive("intermediate_size", arch.intermediate_size);
  positive("vocab_size", arch.vocab_size);
  positive("num_experts", arch.num_experts);
  positive("top_k", arch.top_k);
  non_negative("expert_intermediate_size", arch.expert_intermediate_size);
  non_negative("num_shared_experts", arch.num_shared_experts);
  positive("moe_layer_frequency", arch.moe_layer_frequency);
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
  if (arch.is_moe()) {
    out << "  experts E=" << arch.num_experts << " top-K=" << arch.top_k
        << " expert_ffn=" << arch.effective_expert_intermediate_size() << " shared=" << arch.num_shared_experts
        << " MoE layers=" << arch.num_moe_layers() << "/" << arch.num_layers << '\n';
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
