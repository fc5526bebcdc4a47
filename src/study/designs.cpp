#include "moesim/study/designs.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "moesim/scaling/design.hpp"

namespace moesim::study {

namespace {

double round_to_multiple(double value, double multiple) {
  return std::max(multiple, std::round(value / multiple) * multiple);
}

ModelArchitecture shape(int hidden, int layers, int experts, const ArchitectureChoices& c) {
  ModelArchitecture a;
  a.hidden_size = hidden;
  a.num_layers = layers;
  a.head_dim = c.head_dim;
  a.num_attention_heads = hidden / c.head_dim;
  a.num_kv_heads = c.num_kv_heads > 0 ? std::min(c.num_kv_heads, a.num_attention_heads) : a.num_attention_heads;
  // The gated-MLP width: 2.67 h (paper Section 2.1), a multiple of 64 per TP rank of the widest TP.
  const double width_multiple = 64.0 * c.max_tensor_parallel;
  a.intermediate_size = static_cast<int>(round_to_multiple(c.mlp_ratio * hidden, width_multiple));
  a.vocab_size = c.vocab_size;
  a.max_position_embeddings = c.max_position_embeddings;
  a.num_experts = experts;
  if (experts > 1) {
    a.top_k = std::min(c.top_k, experts);
    a.expert_intermediate_size = a.intermediate_size;  // experts are copies of the dense FFN (paper 2.1)
    a.moe_layer_frequency = c.moe_layer_frequency;
    a.num_shared_experts = c.num_shared_experts;
  }
  std::ostringstream name;
  name << (experts > 1 ? "moe-e" + std::to_string(experts) + "k" + std::to_string(a.top_k) : std::string("dense"))
       << "-h" << hidden << "-l" << layers;
  a.name = name.str();
  return a;
}

}  // namespace

ServableDesign servable_architecture(double n_dense, int experts, const ArchitectureChoices& c) {
  if (!(n_dense > 0) || !std::isfinite(n_dense)) throw std::invalid_argument("N must be a positive number");
  if (experts < 1) throw std::invalid_argument("experts must be >= 1");
  if (c.head_dim < 1 || c.max_tensor_parallel < 1) throw std::invalid_argument("head_dim and max TP must be >= 1");
  if (c.num_kv_heads > 0 && c.max_tensor_parallel % c.num_kv_heads != 0 && c.num_kv_heads % c.max_tensor_parallel != 0) {
    // Every TP up to the largest must be a divisor or a multiple of the KV heads (vLLM's rule).
    throw std::invalid_argument("num_kv_heads must divide or be a multiple of the largest tensor-parallel size");
  }
  // Width from the paper's aspect rule (Appendix C): h = N / (k * mu * N^(2/3)), rounded to the multiple
  // that keeps heads divisible by every TP up to the largest; then whole layers to match N exactly.
  scaling::ArchitectureRule rule;
  rule.mu = c.aspect_mu;
  const scaling::DerivedArchitecture paper = scaling::architecture_for_size(n_dense, rule);
  const double hidden_multiple = static_cast<double>(c.head_dim) * c.max_tensor_parallel;
  const double h_rule = n_dense / (rule.params_per_h2l * paper.hl);
  const int hidden = static_cast<int>(round_to_multiple(h_rule, hidden_multiple));
  // Exact dense-equivalent parameters per layer of this width (attention + gated MLP + norms).
  const ModelArchitecture one_layer = shape(hidden, 1, 1, c);
  const ParameterCounts one = count_parameters(one_layer);
  const double per_layer = one.corresponding_dense_non_embedding - one.final_norm;
  // At least one MoE layer for an MoE design.
  const int min_layers = experts > 1 ? std::max(1, c.moe_layer_frequency) : 1;
  const int layers = std::max(min_layers, static_cast<int>(std::lround((n_dense - one.final_norm) / per_layer)));

  ServableDesign d;
  d.arch = shape(hidden, layers, experts, c);
  const ParameterCounts counts = count_parameters(d.arch);
  d.n_dense_asked = n_dense;
  d.n_dense_realised = counts.corresponding_dense_non_embedding;
  d.total_parameters = counts.total;
  d.activated_parameters = counts.activated;
  d.total_non_embedding = counts.non_embedding;
  d.activated_non_embedding = counts.activated_non_embedding;
  return d;
}

std::string model_yaml(const ModelArchitecture& a) {
  std::ostringstream y;
  y << "{name: " << a.name << ", hidden_size: " << a.hidden_size << ", num_layers: " << a.num_layers
    << ", num_attention_heads: " << a.num_attention_heads << ", num_kv_heads: " << a.num_kv_heads
    << ", head_dim: " << a.effective_head_dim() << ", intermediate_size: " << a.intermediate_size
    << ", vocab_size: " << a.vocab_size << ", max_position_embeddings: " << a.max_position_embeddings
    << ", dtype: " << to_string(a.dtype);
  if (a.is_moe()) {
    y << ", num_experts: " << a.num_experts << ", top_k: " << a.top_k
      << ", expert_intermediate_size: " << a.effective_expert_intermediate_size()
      << ", moe_layer_frequency: " << a.moe_layer_frequency << ", num_shared_experts: " << a.num_shared_experts;
  }
  y << "}";
  return y.str();
}

std::string architecture_key(const ModelArchitecture& a) {
  std::ostringstream k;
  k << a.hidden_size << '/' << a.num_layers << '/' << a.num_attention_heads << '/' << a.num_kv_heads << '/'
    << a.effective_head_dim() << '/' << a.intermediate_size << '/' << a.vocab_size << '/' << a.gated_mlp << '/'
    << a.tie_word_embeddings << '/' << a.num_experts << '/' << a.top_k << '/' << a.effective_expert_intermediate_size()
    << '/' << a.num_shared_experts << '/' << a.moe_layer_frequency << '/' << to_string(a.dtype) << '/'
    << a.max_position_embeddings << '/' << to_string(a.norm) << '/' << a.qkv_bias << a.attention_output_bias
    << a.mlp_bias << a.shared_expert_gate << '/' << a.position_embedding_rows;
  return k.str();
}

std::string Layout::label() const {
  return "TP" + std::to_string(tensor_parallel) + "xPP" + std::to_string(pipeline_parallel) + "xDP" +
         std::to_string(data_parallel) + (expert_parallel ? "+EP" : "");
}

std::vector<Layout> enumerate_layouts(const ModelArchitecture& arch, int max_gpus, int nodes, int gpus_per_node,
                                      bool expert_parallel, bool data_parallel_ranks) {
  std::vector<Layout> layouts;
  const int cluster_gpus = nodes * gpus_per_node;
  const int limit = std::min(max_gpus, cluster_gpus);
  const int heads = arch.num_attention_heads;
  const int kv = arch.num_kv_heads > 0 ? arch.num_kv_heads : heads;
  for (int g = 1; g <= limit; ++g) {
    for (int tp = gpus_per_node; tp >= 1; --tp) {
      if ((tp & (tp - 1)) != 0 || g % tp != 0) continue;
      if (heads % tp != 0 || (kv % tp != 0 && tp % kv != 0)) continue;
      const int max_pp = tp == gpus_per_node ? nodes : 1;
      for (int pp = 1; pp <= max_pp; ++pp) {
        if (g % (tp * pp) != 0 || pp > arch.num_layers) continue;
        const Layout plain{tp, pp, g / (tp * pp)};
        layouts.push_back(plain);
        const int ep = tp * plain.data_parallel;
        if (expert_parallel && arch.is_moe() && ep > 1 && ep <= arch.num_experts &&
            (data_parallel_ranks || plain.data_parallel == 1)) {
          Layout twin = plain;
          twin.expert_parallel = true;
          layouts.push_back(twin);
        }
      }
    }
  }
  return layouts;
}

}  // namespace moesim::study
