#pragma once
// Law files (data/laws/*.yaml): a form, its coefficients, provenance, the parameter-accounting convention,
// optional goodness of fit and bootstrap refits. Format: docs/scaling.md.
#include <filesystem>
#include <string>

#include "moesim/scaling/law.hpp"

namespace moesim::scaling {

// Throws ConfigError listing every problem (file:line:column, key, what is allowed).
[[nodiscard]] ScalingLaw read_law_file(const std::filesystem::path& path);
[[nodiscard]] ScalingLaw parse_law_yaml(const std::string& text, const std::string& file_name);
// Full precision (17 significant digits), so write -> read is exact.
[[nodiscard]] std::string law_to_yaml(const ScalingLaw& law);

}  // namespace moesim::scaling
