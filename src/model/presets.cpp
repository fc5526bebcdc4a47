// Model presets written from the published Hugging Face config.json files (huggingface.co/<repo>,
// file config.json). Each block names the repository; the values are copied, not derived.
#include "moesim/model/presets.hpp"

#include <algorithm>
#include <cctype>

namespace moesim {
namespace {

// OPT (Zhang et al. 2022, arXiv 2205.01068): pre-LayerNorm decoder, ReLU MLP of width 4h with biases,
// biases on every attention projection, learned positions with an offset of 2 rows
// (transformers OPTLearnedPositionalEmbedding), LM head tied to the token embedding.
ModelArchitecture opt(const std::string& name, int hidden, int layers, int heads) {
  ModelArchitecture arch;
  arch.name = name;
  arch.hidden_size = hidden;
  arch.num_layers = layers;
  arch.num_attention_heads = heads;
  arch.num_kv_heads = heads;
  arch.intermediate_size = 4 * hidden;  // ffn_dim
  arch.vocab_size = 50272;
  arch.gated_mlp = false;
  arch.tie_word_embeddings = true;
  arch.dtype = DType::kFloat16;        // torch_dtype "float16"
  arch.max_position_embeddings = 2048;
  arch.norm = NormKind::kLayerNorm;
  arch.qkv_bias = true;
  arch.attention_output_bias = true;
  arch.mlp_bias = true;
  arch.position_embedding_rows = arch.max_position_embeddings + 2;
  return arch;
}

// Llama family: RMSNorm, SwiGLU MLP, no biases, RoPE (no position table), untied LM head.
ModelArchitecture llama(const std::string& name, int hidden, int layers, int heads, int kv_heads,
                        int intermediate, int vocab, int max_positions, DType dtype) {
  ModelArchitecture arch;
  arch.name = name;
  arch.hidden_size = hidden;
  arch.num_layers = layers;
  arch.num_attention_heads = heads;
  arch.num_kv_heads = kv_heads;
  arch.intermediate_size = intermediate;
  arch.vocab_size = vocab;
  arch.max_position_embeddings = max_positions;
  arch.dtype = dtype;
  return arch;
}

std::vector<ModelArchitecture> presets() {
  std::vector<ModelArchitecture> all;
  // facebook/opt-13b: hidden_size 5120, num_hidden_layers 40, num_attention_heads 40, ffn_dim 20480.
  all.push_back(opt("opt-13b", 5120, 40, 40));
  // facebook/opt-66b: hidden_size 9216, num_hidden_layers 64, num_attention_heads 72, ffn_dim 36864.
  all.push_back(opt("opt-66b", 9216, 64, 72));
  // OPT-175B (weights on request, not on the Hub): OPT paper Table 1 (96 layers, 96 heads,
  // d_model 12288), ffn 4 * 12288 = 49152, same vocabulary and positions as the smaller OPTs.
  all.push_back(opt("opt-175b", 12288, 96, 96));
  // meta-llama/Llama-2-7b-hf: 4096, 32 layers, 32 heads, 32 KV heads, intermediate 11008, vocab 32000,
  // max_position_embeddings 4096, torch_dtype float16.
  all.push_back(llama("llama-2-7b", 4096, 32, 32, 32, 11008, 32000, 4096, DType::kFloat16));
  // meta-llama/Llama-2-13b-hf: 5120, 40 layers, 40 heads, 40 KV heads, intermediate 13824.
  all.push_back(llama("llama-2-13b", 5120, 40, 40, 40, 13824, 32000, 4096, DType::kFloat16));
  // meta-llama/Llama-2-70b-hf: 8192, 80 layers, 64 heads, 8 KV heads (GQA), intermediate 28672.
  all.push_back(llama("llama-2-70b", 8192, 80, 64, 8, 28672, 32000, 4096, DType::kFloat16));
  // meta-llama/Meta-Llama-3-8B: 4096, 32 layers, 32 heads, 8 KV heads, intermediate 14336,
  // vocab 128256, max_position_embeddings 8192, torch_dtype bfloat16.
  all.push_back(llama("llama-3-8b", 4096, 32, 32, 8, 14336, 128256, 8192, DType::kBFloat16));
  {
    // mistralai/Mixtral-8x7B-v0.1: 4096, 32 layers, 32 heads, 8 KV heads, intermediate 14336 (each
    // expert), vocab 32000, max_position_embeddings 32768, num_local_experts 8, num_experts_per_tok 2,
    // torch_dtype bfloat16; every layer is MoE.
    ModelArchitecture arch = llama("mixtral-8x7b", 4096, 32, 32, 8, 14336, 32000, 32768, DType::kBFloat16);
    arch.num_experts = 8;
    arch.top_k = 2;
    arch.expert_intermediate_size = 14336;
    arch.moe_layer_frequency = 1;
    all.push_back(arch);
  }
  {
    // Qwen/Qwen1.5-MoE-A2.7B: hidden_size 2048, 24 layers, 16 heads, 16 KV heads, intermediate 5632,
    // moe_intermediate_size 1408, shared_expert_intermediate_size 5632 (= 4 experts of 1408),
    // num_experts 60, num_experts_per_tok 4, decoder_sparse_step 1, vocab 151936,
    // max_position_embeddings 8192, tie_word_embeddings false, torch_dtype bfloat16. Qwen2 attention has
    // q/k/v biases (no o bias); the shared expert has a sigmoid gate Linear(h, 1).
    ModelArchitecture arch = llama("qwen1.5-moe-a2.7b", 2048, 24, 16, 16, 5632, 151936, 8192, DType::kBFloat16);
    arch.num_experts = 60;
    arch.top_k = 4;
    arch.expert_intermediate_size = 1408;
    arch.num_shared_experts = 4;
    arch.shared_expert_gate = true;
    arch.qkv_bias = true;
    arch.moe_layer_frequency = 1;
    all.push_back(arch);
  }
  return all;
}

std::string to_lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

std::optional<ModelArchitecture> find_model_preset(const std::string& name) {
  const std::string wanted = to_lower(name);
  for (auto& arch : presets()) {
    if (arch.name == wanted) return arch;
  }
  return std::nullopt;
}

std::vector<std::string> model_preset_names() {
  std::vector<std::string> names;
  for (const auto& arch : presets()) names.push_back(arch.name);
  return names;
}

}  // namespace moesim
