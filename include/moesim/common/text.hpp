#pragma once
// Small text helpers shared by the parsers: edit distance for "did you mean" suggestions.
#include <string>
#include <string_view>
#include <vector>

namespace moesim {

// Levenshtein distance between two strings (case-sensitive).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate to `word` if it is near enough to be a plausible typo, else "".
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// "a, b or c" for error messages.
std::string join_alternatives(const std::vector<std::string>& items);

}  // namespace moesim
