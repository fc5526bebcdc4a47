// Hugging Face config.json -> ModelArchitecture.
#include "moesim/model/hf_config.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

#include "moesim/common/errors.hpp"

namespace moesim {
namespace {

using nlohmann::json;

// Reads keys of one JSON object and collects every problem instead of stopping at the first.
class KeyReader {
 public:
  KeyReader(const json& object, std::string file) : object_(object), file_(std::move(file)) {}

  bool has(const char* key) const { return object_.contains(key) && !object_.at(key).is_null(); }

  std::optional<int> integer(const char* key, bool required) {
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
    if (!has(key)) return std::nullopt;
    const json& value = object_.at(key);
    if (!value.is_boolean()) {
      add(key, "must be true or false; got " + describe(value));
      return std::nullopt;
    }
    return value.get<bool>();
  }

  std::optional<std::string> string(const char* key) {
    if (!has(key)) return std::nullopt;
    const json& value = object_.at(key);
    if (!value.is_string()) {
      add(key, "must be a string; got " + describe(value));
      return std::nullopt;
    }
    return value.get<std::string>();
  }

  const json& raw(const char* key) const { return object_.at(key); }

  void add(const std::string& key, const std::string& message) {
    ConfigIssue issue;
    issue.file = file_;
    issue.yaml_path = key;
    issue.message = message;
    issues_.push_back(std::move(issue));
  }

  std::vector<ConfigIssue>& issues() { return issues_; }

 private:
  static std::string describe(const json& value) {
    std::string text = value.dump();
    if (text.size() > 40) text = text.substr(0, 37) + "...";
    return std::string(value.type_name()) + " " + text;
  }

  const json& object_;
  std::string file_;
  std::vector<ConfigIssue> issues_;
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

// Keys shared by Llama, Mistral, Mixtral, Qwen2 and Qwen2-MoE configs.
void read_llama_style(KeyReader& keys, ModelArchitecture& arch) {
  if (auto v = keys.integer("hidden_size", true)) arch.hidden_size = *v;
  if (auto v = keys.integer("num_hidden_layers", true)) arch.num_layers = *v;
  if (auto v = keys.integer("num_attention_heads", true)) arch.num_attention_heads = *v;
  arch.num_kv_heads = arch.num_attention_heads;
  if (auto v = keys.integer("num_key_value_heads", false)) arch.num_kv_heads = *v;
  if (auto v = keys.integer("head_dim", false)) arch.head_dim = *v;
  if (auto v = keys.integer("intermediate_size", true)) arch.intermediate_size = *v;
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

void read_mixtral(KeyReader& keys, ModelArchitecture& arch) {
  if (auto v = keys.integer("num_local_experts", true)) arch.num_experts = *v;
  if (auto v = keys.integer("num_experts_per_tok", true)) arch.top_k = *v;
  arch.expert_intermediate_size = arch.intermediate_size;  // each expert has the full FFN width
  arch.moe_layer_frequency = 1;
}

void read_qwen2_moe(KeyReader& keys, ModelArchitecture& arch) {
  arch.qkv_bias = true;  // Qwen2 attention: q/k/v biases, no o bias (transformers modeling_qwen2_moe.py)
  arch.attention_output_bias = false;
  if (auto v = keys.integer("num_experts", true)) arch.num_experts = *v;
  if (auto v = keys.integer("num_experts_per_tok", true)) arch.top_k = *v;
  if (auto v = keys.integer("moe_intermediate_size", true)) arch.expert_intermediate_size = *v;
  if (auto v = keys.integer("decoder_sparse_step", false)) arch.moe_layer_frequency = *v;
  if (auto v = keys.integer("shared_expert_intermediate_size", false); v && *v > 0) {
    if (arch.expert_intermediate_size > 0 && *v % arch.expert_intermediate_size != 0) {
      keys.add("shared_expert_intermediate_size",
               "= " + std::to_string(*v) + "; must be a multiple of moe_intermediate_size (" +
                   std::to_string(arch.expert_intermediate_size) +
                   ") because shared experts are modelled as experts of that width");
    } else if (arch.expert_intermediate_size > 0) {
      arch.num_shared_experts = *v / arch.expert_intermediate_size;
      arch.shared_expert_gate = true;
    }
  }
  if (keys.has("mlp_only_layers")) {
    const json& layers = keys.raw("mlp_only_layers");
    if (!layers.is_array()) {
      keys.add("mlp_only_layers", "must be a list of layer indices");
    } else if (!layers.empty()) {
      keys.add("mlp_only_layers", "non-empty lists are not supported; the simulator places MoE layers with "
                                  "decoder_sparse_step only");
    }
  }
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

  KeyReader keys(document, source_name);
  ModelArchitecture arch;
  const std::string model_type = keys.string("model_type").value_or("");
  if (model_type == "opt") {
    read_opt(keys, arch);
  } else {
    // "llama", "mistral", "mixtral", "qwen2", "qwen2_moe"; any other type is read with the Llama keys.
    read_llama_style(keys, arch);
    if (model_type == "qwen2") arch.qkv_bias = true;
    if (model_type == "mixtral" || (model_type.empty() && keys.has("num_local_experts"))) {
      read_mixtral(keys, arch);
    } else if (model_type == "qwen2_moe" || (model_type.empty() && keys.has("moe_intermediate_size"))) {
      read_qwen2_moe(keys, arch);
    }
  }
  read_dtype(keys, arch);

  if (auto name = keys.string("_name_or_path"); name && !name->empty()) {
    arch.name = *name;
  } else {
    arch.name = model_type.empty() ? "hf-model" : model_type;
  }

  std::vector<ConfigIssue> issues = std::move(keys.issues());
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
