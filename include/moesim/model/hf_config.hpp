#pragma once
// Import a model architecture from a Hugging Face `config.json`. model_type: llama, mistral, qwen2,
// qwen3, opt, mixtral, qwen2_moe, qwen3_moe, deepseek, deepseek_v2, deepseek_v3 (MLA), olmoe, dbrx,
// phimoe, granitemoe, granitemoeshared, gpt_oss, llama4 (text_config), llama4_text.
// Key mapping: docs/model-and-memory.md section 6.
#include <filesystem>
#include <string>

#include "moesim/model/architecture.hpp"

namespace moesim {

// Errors:
//  - missing or unreadable file: InputError(file, 0, "", ...);
//  - invalid JSON: InputError(file, line, "", ...) with the 1-based line of the parse error;
//  - missing required key, wrong type, unsupported feature or inconsistent values: ConfigError with
//    one ConfigIssue per problem (file, line 0, yaml_path = the JSON key, what is expected);
//  - a missing or unknown model_type, or a key shaping the MoE / attention structure (any key with
//    "expert" in its name, moe_*, first_k_dense_replace, decoder_sparse_step, mlp_only_layers, MLA
//    ranks, ...) that the reader of that model_type does not use: ConfigError naming the keys, never
//    a silently different (e.g. dense) model.
// dtype follows vLLM's dtype="auto" (vllm/config.py _get_and_verify_dtype @v0.6.3): the config's
// torch_dtype (or `dtype`), except float32 or absent -> float16.
[[nodiscard]] ModelArchitecture read_hf_config(const std::filesystem::path& path);

// The same, from JSON text already in memory; `source_name` is used in error messages.
[[nodiscard]] ModelArchitecture parse_hf_config(const std::string& json_text, const std::string& source_name);

}  // namespace moesim
