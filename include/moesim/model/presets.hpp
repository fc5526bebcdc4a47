#pragma once
// Published model configurations (values from each model's Hugging Face config.json; cited in
// src/model/presets.cpp).
#include <optional>
#include <string>
#include <vector>

#include "moesim/model/architecture.hpp"

namespace moesim {

// Names: "opt-13b", "opt-66b", "opt-175b", "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b",
// "mixtral-8x7b", "qwen1.5-moe-a2.7b". Lookup ignores case.
[[nodiscard]] std::optional<ModelArchitecture> find_model_preset(const std::string& name);
[[nodiscard]] std::vector<std::string> model_preset_names();

}  // namespace moesim
