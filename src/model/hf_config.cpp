// Hugging Face config.json -> ModelArchitecture.
#include "moesim/model/hf_config.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <initializer_list>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "moesim/common/errors.hpp"

namespace moesim {
namespace {

using nlohmann::json;

// Reads keys of one JSON object and collects every problem instead of stopping at the first. Keys of a
// nested object (Llama 4 text_config, DBRX ffn_config) are reported as "prefix.key". Every key read or
// acknowledged is remembered, so that unread keys describing the MoE structure can be refused.
class KeyReader {
 public:
  KeyReader(const json& object, std::string file, std::vector<ConfigIssue>& issues, std::string prefix = "")
      : object_(object), file_(std::move(file)), issues_(issues), prefix_(std::move(prefix)) {}

  bool has(const char* key) const { return object_.contains(key) && !object_.at(key).is_null(); }

  std::optional<int> integer(const char* key, bool required) {
    used_.insert(key);
    if (!has(key)) {
      if (required) add(key, "missing required key; expected a positive integer");
      return std::nullopt;
    }
    const json& value = object_.at(key);
    if (!value.is_number_integer()) {
      add(key, "must be an integer; got " + describe(value));
      return std::nullopt;
    }
    const auto number = value.get<long long>();
    if (number < std::numeric_limits<int>::min() || number > std::numeric_limits<int>::max()) {
      add(key, "= " + std::to_string(number) + "; out of range for a 32-bit integer");
      return std::nullopt;
    }
    return static_cast<int>(number);
  }

  std::optional<bool> boolean(const char* key) {
    used_.insert(key);
    if (!has(key)) return std::nullopt;
    const json& value = object_.at(key);
    if (!value.is_boolean()) {
      add(key, "must be true or false; got " + describe(value));
      return std::nullopt;
    }
    return value.get<bool>();
  }

  std::optional<std::string> string(const char* key) {
    used_.insert(key);
    if (!has(key)) return std::nullopt;
    const json& value = object_.at(key);
    if (!value.is_string()) {
      add(key, "must be a string; got " + describe(value));
      return std::nullopt;
    }
    return value.get<std::string>();
  }

  // A list of non-negative integers (layer indices); nullopt (and an issue) when malformed.
  std::optional<std::vector<int>> int_list(const char* key) {
    used_.insert(key);
    if (!has(key)) return std::nullopt;
    const json& value = object_.at(key);
    if (!value.is_array()) {
      add(key, "must be a list of layer indices; got " + describe(value));
      return std::nullopt;
    }
    std::vector<int> list;
    for (const json& item : value) {
      if (!item.is_number_integer() || item.get<long long>() < 0 ||
          item.get<long long>() > std::numeric_limits<int>::max()) {
        add(key, "must be a list of layer indices (integers >= 0); got " + describe(value));
        return std::nullopt;
      }
      list.push_back(static_cast<int>(item.get<long long>()));
    }
    return list;
  }

  // A nested object (nullptr when absent; an issue when it is not an object).
  const json* object(const char* key, bool required) {
    used_.insert(key);
    if (!has(key)) {
      if (required) add(key, "missing required key; expected an object");
      return nullptr;
    }
    const json& value = object_.at(key);
    if (!value.is_object()) {
      add(key, "must be an object; got " + describe(value));
      return nullptr;
    }
    return &value;
  }

  // Keys that are read elsewhere or deliberately ignored (training-only, routing-only).
  void acknowledge(std::initializer_list<const char*> keys) {
    for (const char* key : keys) used_.insert(key);
  }

  void add(const std::string& key, const std::string& message) {
    ConfigIssue issue;
    issue.file = file_;
    issue.yaml_path = prefix_ + key;
    issue.message = message;
    issues_.push_back(std::move(issue));
  }

  // Refuses every key that shapes the MoE layers or the attention (expert counts, widths, placement,
  // MLA ranks) but was not read: the architecture would silently be wrong without it.
  void refuse_unread_structure_keys(const std::string& model_type) {
    std::vector<std::string> unread;
    for (const auto& item : object_.items()) {
      if (used_.count(item.key()) != 0 || item.value().is_null() || !is_structure_key(item.key())) continue;
      unread.push_back(item.key());
    }
    if (unread.empty()) return;
    std::string list;
    for (const auto& key : unread) list += (list.empty() ? "" : ", ") + prefix_ + key;
    for (const auto& key : unread) {
      add(key, "describes the MoE or attention structure but is not read for model_type \"" + model_type +
                   "\" (unread: " + list + "); refusing rather than importing a different model");
    }
  }

 private:
  static bool is_structure_key(const std::string& key) {
    static const std::set<std::string> named = {
        "first_k_dense_replace", "decoder_sparse_step", "mlp_only_layers", "moe_layers", "kv_lora_rank",
        "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "n_group", "topk_group",
        "num_nextn_predict_layers", "intermediate_size_mlp", "shared_intermediate_size", "ffn_config"};
    if (named.count(key) != 0) return true;
    return key.find("expert") != std::string::npos || key.rfind("moe_", 0) == 0 ||
           key.find("_moe") != std::string::npos;
  }

  static std::string describe(const json& value) {
    std::string text = value.dump();
    if (text.size() > 40) text = text.substr(0, 37) + "...";
    return std::string(value.type_name()) + " " + text;
  }

  const json& object_;
  std::string file_;
  std::vector<ConfigIssue>& issues_;
  std::string prefix_;
  std::set<std::string> used_;
};

long long line_of_byte(const std::string& text, std::size_t byte) {
  // nlohmann reports the 1-based byte position of the last character read.
  const std::size_t end = std::min(byte == 0 ? 0 : byte - 1, text.size());
  return 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(end), '\n');
}

void read_dtype(KeyReader& keys, ModelArchitecture& arch) {
  std::optional<std::string> text = keys.string("torch_dtype");
  const char* key = "torch_dtype";
  if (!text && !keys.has("torch_dtype")) {
    text = keys.string("dtype");  // newer transformers releases write `dtype`
    key = "dtype";
  }
  if (!text) {
    arch.dtype = DType::kFloat16;  // absent = float32 checkpoints; vLLM "auto" serves them in float16
    return;
  }
  const std::optional<DType> dtype = dtype_from_string(*text);
  if (!dtype) {
    keys.add(key, "= \"" + *text + "\"; expected float32, float16 or bfloat16");
    return;
  }
  arch.dtype = (*dtype == DType::kFloat32) ? DType::kFloat16 : *dtype;
}

// Keys shared by the Llama-style families (Llama, Mistral, Qwen, Mixtral, DeepSeek, OLMoE, ...).
// `intermediate_required`: false where the family may omit the dense width.
void read_llama_style(KeyReader& keys, ModelArchitecture& arch, bool intermediate_required = true) {
  if (auto v = keys.integer("hidden_size", true)) arch.hidden_size = *v;
  if (auto v = keys.integer("num_hidden_layers", true)) arch.num_layers = *v;
  if (auto v = keys.integer("num_attention_heads", true)) arch.num_attention_heads = *v;
  arch.num_kv_heads = arch.num_attention_heads;
  if (auto v = keys.integer("num_key_value_heads", false)) arch.num_kv_heads = *v;
  if (auto v = keys.integer("head_dim", false)) arch.head_dim = *v;
  if (auto v = keys.integer("intermediate_size", intermediate_required)) arch.intermediate_size = *v;
  if (auto v = keys.integer("vocab_size", true)) arch.vocab_size = *v;
  if (auto v = keys.integer("max_position_embeddings", false)) arch.max_position_embeddings = *v;
  if (auto v = keys.boolean("tie_word_embeddings")) arch.tie_word_embeddings = *v;
  if (auto v = keys.boolean("attention_bias")) {  // Llama: one flag for q, k, v and o
    arch.qkv_bias = *v;
    arch.attention_output_bias = *v;
  }
  if (auto v = keys.boolean("mlp_bias")) arch.mlp_bias = *v;
  arch.norm = NormKind::kRmsNorm;
  arch.gated_mlp = true;
}

// Mixtral, PhiMoE, GraniteMoE, gpt-oss: every layer MoE, experts as wide as intermediate_size.
void read_mixtral(KeyReader& keys, ModelArchitecture& arch) {
  if (auto v = keys.integer("num_local_experts", true)) arch.num_experts = *v;
  if (auto v = keys.integer("num_experts_per_tok", true)) arch.top_k = *v;
  arch.expert_intermediate_size = arch.intermediate_size;  // each expert has the full FFN width
  arch.moe_layer_frequency = 1;
}

// Qwen2-MoE (shared expert with a sigmoid gate) and Qwen3-MoE (none):
// transformers modeling_qwen2_moe.py / modeling_qwen3_moe.py. Layer i is MoE iff i is not in
// mlp_only_layers and (i + 1) % decoder_sparse_step == 0; the other layers use intermediate_size.
void read_qwen_moe(KeyReader& keys, ModelArchitecture& arch, bool shared_expert) {
  if (auto v = keys.integer("num_experts", true)) arch.num_experts = *v;
  if (auto v = keys.integer("num_experts_per_tok", true)) arch.top_k = *v;
  if (auto v = keys.integer("moe_intermediate_size", true)) arch.expert_intermediate_size = *v;
  if (auto v = keys.integer("decoder_sparse_step", false)) arch.moe_layer_frequency = *v;
  if (auto v = keys.int_list("mlp_only_layers")) arch.dense_layers = *v;
  if (!shared_expert) return;
  if (auto v = keys.integer("shared_expert_intermediate_size", false); v && *v > 0) {
    arch.shared_expert_gate = true;
    if (arch.expert_intermediate_size > 0 && *v % arch.expert_intermediate_size == 0) {
      arch.num_shared_experts = *v / arch.expert_intermediate_size;  // n experts of the expert width
    } else {
      arch.num_shared_experts = 1;
      arch.shared_expert_intermediate_size = *v;
    }
  }
}

// DeepSeek-MoE / V2 / V3 (modeling_deepseek.py): layer i is MoE iff i >= first_k_dense_replace and
// i % moe_layer_freq == 0; n_shared_experts experts of moe_intermediate_size (one MLP of n times that
// width, no gate); V2/V3 attention is MLA.
void read_deepseek(KeyReader& keys, ModelArchitecture& arch, const std::string& model_type) {
  if (auto v = keys.integer("n_routed_experts", true)) arch.num_experts = *v;
  if (auto v = keys.integer("num_experts_per_tok", true)) arch.top_k = *v;
  if (auto v = keys.integer("moe_intermediate_size", true)) arch.expert_intermediate_size = *v;
  if (auto v = keys.integer("n_shared_experts", false)) arch.num_shared_experts = *v;
  if (auto v = keys.integer("first_k_dense_replace", false)) arch.first_k_dense_layers = *v;
  if (auto v = keys.integer("moe_layer_freq", false)) arch.moe_layer_frequency = *v;
  arch.moe_layer_offset = 0;
  // Grouped routing (n_group, topk_group) only restricts which experts a token may pick: no parameters.
  // num_nextn_predict_layers: the multi-token-prediction module is not part of the served model.
  keys.acknowledge({"n_group", "topk_group", "num_nextn_predict_layers", "ep_size"});
  if (model_type == "deepseek") return;
  if (auto v = keys.integer("q_lora_rank", false)) arch.q_lora_rank = *v;  // null: queries uncompressed
  if (auto v = keys.integer("kv_lora_rank", true)) arch.kv_lora_rank = *v;
  if (auto v = keys.integer("qk_nope_head_dim", true)) arch.qk_nope_head_dim = *v;
  if (auto v = keys.integer("qk_rope_head_dim", true)) arch.qk_rope_head_dim = *v;
  if (auto v = keys.integer("v_head_dim", true)) arch.v_head_dim = *v;
  // noaux_tc routing (V3) adds e_score_correction_bias, E values per MoE layer.
  if (auto method = keys.string("topk_method"); method && *method == "noaux_tc") arch.router_bias = true;
}

// gpt-oss (modeling_gpt_oss.py): q/k/v/o biases, one sink logit per head, a router with a bias and
// experts with biases (gate_up_proj h x 2i + 2i, down_proj i x h + h).
void read_gpt_oss(KeyReader& keys, ModelArchitecture& arch) {
  read_mixtral(keys, arch);
  if (auto v = keys.integer("experts_per_token", false); v && *v != arch.top_k) {
    keys.add("experts_per_token", "= " + std::to_string(*v) + " differs from num_experts_per_tok (" +
                                      std::to_string(arch.top_k) + ")");
  }
  arch.attention_sinks = true;
  arch.router_bias = true;
  arch.mlp_bias = true;
}

// Llama 4 (modeling_llama4.py): the text model sits in text_config. MoE layers are
// range(step - 1, l, step) for interleave_moe_layer_step (or an explicit moe_layers list); routed
// experts and the one shared expert (Llama4TextMoe.shared_expert, no gate) are intermediate_size wide,
// dense layers intermediate_size_mlp. use_qk_norm is a weightless L2 norm.
void read_llama4_text(KeyReader& keys, ModelArchitecture& arch) {
  read_llama_style(keys, arch);
  arch.expert_intermediate_size = arch.intermediate_size;
  if (auto v = keys.integer("num_local_experts", true)) arch.num_experts = *v;
  if (auto v = keys.integer("num_experts_per_tok", true)) arch.top_k = *v;
  if (auto v = keys.integer("interleave_moe_layer_step", false)) arch.moe_layer_frequency = *v;
  if (auto v = keys.int_list("moe_layers")) {
    arch.moe_layer_frequency = 1;
    arch.dense_layers.clear();
    for (int layer = 0; layer < arch.num_layers; ++layer) {
      if (std::find(v->begin(), v->end(), layer) == v->end()) arch.dense_layers.push_back(layer);
    }
  }
  arch.num_shared_experts = 1;
  arch.shared_expert_intermediate_size = arch.intermediate_size;
  const bool has_dense = arch.num_experts > 1 && arch.moe_layer_frequency > 0 &&
                         (arch.moe_layer_frequency > 1 || !arch.dense_layers.empty());
  if (auto v = keys.integer("intermediate_size_mlp", has_dense)) {
    arch.intermediate_size = *v;
  } else if (!has_dense) {
    arch.intermediate_size = arch.expert_intermediate_size;
  }
}

// DBRX (modeling_dbrx.py): d_model, n_heads, n_layers; attn_config.kv_n_heads; experts in ffn_config.
// Wqkv and out_proj without biases; LayerNorm without bias (h each, counted like RMSNorm).
void read_dbrx(KeyReader& keys, ModelArchitecture& arch, const std::string& file, std::vector<ConfigIssue>& issues) {
  if (auto v = keys.integer("d_model", true)) arch.hidden_size = *v;
  if (auto v = keys.integer("n_layers", true)) arch.num_layers = *v;
  if (auto v = keys.integer("n_heads", true)) arch.num_attention_heads = *v;
  if (auto v = keys.integer("vocab_size", true)) arch.vocab_size = *v;
  if (auto v = keys.integer("max_seq_len", false)) arch.max_position_embeddings = *v;
  if (auto v = keys.boolean("tie_word_embeddings")) arch.tie_word_embeddings = *v;
  arch.num_kv_heads = 1;  // DbrxAttentionConfig default
  if (const json* attn = keys.object("attn_config", true)) {
    KeyReader attn_keys(*attn, file, issues, "attn_config.");
    if (auto v = attn_keys.integer("kv_n_heads", false)) arch.num_kv_heads = *v;
    attn_keys.refuse_unread_structure_keys("dbrx");
  }
  if (const json* ffn = keys.object("ffn_config", true)) {
    KeyReader ffn_keys(*ffn, file, issues, "ffn_config.");
    if (auto v = ffn_keys.integer("ffn_hidden_size", true)) arch.intermediate_size = *v;
    if (auto v = ffn_keys.integer("moe_num_experts", true)) arch.num_experts = *v;
    if (auto v = ffn_keys.integer("moe_top_k", true)) arch.top_k = *v;
    // Training-time and routing-only settings: no parameters.
    ffn_keys.acknowledge({"moe_jitter_eps", "moe_loss_weight", "moe_normalize_expert_weights",
                          "uniform_expert_assignment"});
    ffn_keys.refuse_unread_structure_keys("dbrx");
  }
  arch.expert_intermediate_size = arch.intermediate_size;
  arch.norm = NormKind::kRmsNorm;
  arch.gated_mlp = true;
}

void read_opt(KeyReader& keys, ModelArchitecture& arch) {
  if (auto v = keys.integer("hidden_size", true)) arch.hidden_size = *v;
  if (auto v = keys.integer("num_hidden_layers", true)) arch.num_layers = *v;
  if (auto v = keys.integer("num_attention_heads", true)) arch.num_attention_heads = *v;
  arch.num_kv_heads = arch.num_attention_heads;
  if (auto v = keys.integer("ffn_dim", true)) arch.intermediate_size = *v;
  if (auto v = keys.integer("vocab_size", true)) arch.vocab_size = *v;
  arch.max_position_embeddings = 2048;  // OPTConfig default
  if (auto v = keys.integer("max_position_embeddings", false)) arch.max_position_embeddings = *v;
  arch.tie_word_embeddings = true;  // OPT ties lm_head to embed_tokens (OPTForCausalLM)
  if (auto v = keys.boolean("tie_word_embeddings")) arch.tie_word_embeddings = *v;
  bool bias = true;  // OPTConfig enable_bias default
  if (auto v = keys.boolean("enable_bias")) bias = *v;
  arch.qkv_bias = bias;
  arch.attention_output_bias = bias;
  arch.mlp_bias = bias;
  if (auto v = keys.integer("word_embed_proj_dim", false); v && *v != arch.hidden_size && arch.hidden_size > 0) {
    keys.add("word_embed_proj_dim", "= " + std::to_string(*v) + " differs from hidden_size (" +
                                        std::to_string(arch.hidden_size) +
                                        "); OPT models with project_in/project_out (opt-350m) are not supported");
  }
  arch.gated_mlp = false;
  arch.norm = NormKind::kLayerNorm;
  arch.position_embedding_rows = arch.max_position_embeddings + 2;  // OPTLearnedPositionalEmbedding offset 2
}

const std::vector<std::string>& known_model_types() {
  static const std::vector<std::string> types = {
      "llama",   "mistral",   "qwen2",       "qwen3",       "opt",        "mixtral",   "qwen2_moe",
      "qwen3_moe", "deepseek", "deepseek_v2", "deepseek_v3", "olmoe",      "dbrx",      "phimoe",
      "granitemoe", "granitemoeshared", "gpt_oss", "llama4", "llama4_text"};
  return types;
}

// Reads one config object of a known model_type (nested text configs call it again).
void read_by_type(KeyReader& keys, ModelArchitecture& arch, const std::string& model_type, const std::string& file,
                  std::vector<ConfigIssue>& issues) {
  if (model_type == "opt") {
    read_opt(keys, arch);
  } else if (model_type == "dbrx") {
    read_dbrx(keys, arch, file, issues);
  } else if (model_type == "llama4") {
    // The multimodal wrapper: the language model is text_config (the vision encoder is not modelled).
    keys.acknowledge({"vision_config"});
    if (const json* text = keys.object("text_config", true)) {
      KeyReader text_keys(*text, file, issues, "text_config.");
      read_llama4_text(text_keys, arch);
      // torch_dtype / tie_word_embeddings may sit in text_config as well as at the top.
      if (auto v = text_keys.boolean("tie_word_embeddings")) arch.tie_word_embeddings = *v;
      text_keys.acknowledge({"torch_dtype", "dtype"});
      text_keys.refuse_unread_structure_keys("llama4_text");
    }
    if (auto v = keys.boolean("tie_word_embeddings")) arch.tie_word_embeddings = *v;
  } else if (model_type == "llama4_text") {
    read_llama4_text(keys, arch);
  } else if (model_type == "deepseek" || model_type == "deepseek_v2" || model_type == "deepseek_v3") {
    read_llama_style(keys, arch);
    read_deepseek(keys, arch, model_type);
  } else if (model_type == "gpt_oss") {
    read_llama_style(keys, arch);
    read_gpt_oss(keys, arch);
  } else {
    read_llama_style(keys, arch);
    if (model_type == "qwen2" || model_type == "qwen2_moe") {
      arch.qkv_bias = true;  // Qwen2 attention: q/k/v biases, no o bias (modeling_qwen2*.py)
      arch.attention_output_bias = false;
    }
    if (model_type == "qwen3" || model_type == "qwen3_moe") arch.qk_norm = QkNorm::kPerHead;  // q_norm, k_norm
    if (model_type == "mixtral" || model_type == "phimoe" || model_type == "granitemoe" ||
        model_type == "granitemoeshared" || model_type == "olmoe") {
      if (model_type == "olmoe") {  // OlmoeConfig: num_experts; q_norm(h), k_norm(KV d)
        if (auto v = keys.integer("num_experts", true)) arch.num_experts = *v;
        if (auto v = keys.integer("num_experts_per_tok", true)) arch.top_k = *v;
        arch.expert_intermediate_size = arch.intermediate_size;
        arch.qk_norm = QkNorm::kFull;
      } else {
        read_mixtral(keys, arch);
      }
    }
    if (model_type == "phimoe") {
      // modeling_phimoe.py: LayerNorm with bias, q/k/v/o biases from attention_bias, optional lm_head bias.
      arch.norm = NormKind::kLayerNorm;
      if (auto v = keys.boolean("lm_head_bias")) arch.lm_head_bias = *v;
      keys.acknowledge({"expert_dropout"});  // training only
    }
    if (model_type == "granitemoeshared") {  // one shared MLP of shared_intermediate_size, no gate
      if (auto v = keys.integer("shared_intermediate_size", false); v && *v > 0) {
        arch.num_shared_experts = 1;
        arch.shared_expert_intermediate_size = *v;
      }
    }
    if (model_type == "qwen2_moe" || model_type == "qwen3_moe") read_qwen_moe(keys, arch, model_type == "qwen2_moe");
  }
  keys.refuse_unread_structure_keys(model_type);
}

}  // namespace

ModelArchitecture parse_hf_config(const std::string& json_text, const std::string& source_name) {
  json document;
  try {
    document = json::parse(json_text);
  } catch (const json::parse_error& error) {
    throw InputError(source_name, line_of_byte(json_text, error.byte), "",
                     std::string("invalid JSON: ") + error.what());
  } catch (const json::out_of_range& error) {
    // A number beyond double's range (e.g. 1e706) is reported as out_of_range, not parse_error
    // (found by tests/fuzz/fuzz_hf_config); it carries no byte offset.
    throw InputError(source_name, 0, "", std::string("invalid JSON: ") + error.what());
  }
  if (!document.is_object()) {
    throw ConfigError(ConfigIssue{source_name, 0, 0, "", "a Hugging Face config.json must be a JSON object"});
  }

  std::vector<ConfigIssue> issues;
  KeyReader keys(document, source_name, issues);
  ModelArchitecture arch;
  const std::optional<std::string> type_text = keys.string("model_type");
  const std::string model_type = type_text.value_or("");
  const auto& known = known_model_types();
  if (std::find(known.begin(), known.end(), model_type) == known.end()) {
    std::string list;
    for (const auto& type : known) list += (list.empty() ? "" : ", ") + type;
    if (!keys.has("model_type")) {
      keys.add("model_type", "missing; the reader needs it to know which keys describe the model (one of " + list +
                                 ")");
    } else if (type_text) {
      keys.add("model_type", "= \"" + model_type + "\" is not supported (supported: " + list +
                                 "); refusing rather than guessing the architecture");
    }
    throw ConfigError(std::move(issues));
  }
  read_by_type(keys, arch, model_type, source_name, issues);
  read_dtype(keys, arch);

  if (auto name = keys.string("_name_or_path"); name && !name->empty()) {
    arch.name = *name;
  } else {
    arch.name = model_type;
  }

  if (issues.empty()) {
    for (const auto& problem : architecture_problems(arch)) {
      issues.push_back(ConfigIssue{source_name, 0, 0, problem.field,
                                   problem.message + " (as read from the config's keys)"});
    }
  }
  if (!issues.empty()) throw ConfigError(std::move(issues));
  return arch;
}

ModelArchitecture read_hf_config(const std::filesystem::path& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    throw InputError(path.string(), 0, "", "is a directory; expected a Hugging Face config.json file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), 0, "", "cannot open the Hugging Face config file for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(path.string(), 0, "", "error while reading the file");
  ModelArchitecture arch = parse_hf_config(text.str(), path.string());
  return arch;
}

}  // namespace moesim
