#pragma once
// Import a model architecture from a Hugging Face `config.json` (Llama, Mistral, Mixtral, Qwen2,
// Qwen2-MoE, OPT). Key mapping: docs/model-and-memory.md.
#include <filesystem>
#include <string>

#include "moesim/model/architecture.hpp"

namespace moesim {

// Errors:
//  - missing or unreadable file: InputError(file, 0, "", ...);
//  - invalid JSON: InputError(file, line, "", ...) with the 1-based line of the parse error;
//  - missing required key, wrong type, unsupported feature or inconsistent values: ConfigError with
//    one ConfigIssue per problem (file, line 0, yaml_path = the JSON key, what is expected).
// dtype follows vLLM's dtype="auto" (vllm/config.py _get_and_verify_dtype @v0.6.3): the config's
// torch_dtype (or `dtype`), except float32 or absent -> float16.
[[nodiscard]] ModelArchitecture read_hf_config(const std::filesystem::path& path);

// The same, from JSON text already in memory; `source_name` is used in error messages.
[[nodiscard]] ModelArchitecture parse_hf_config(const std::string& json_text, const std::string& source_name);

}  // namespace moesim
