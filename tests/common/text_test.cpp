#include "moesim/common/text.hpp"

#include <gtest/gtest.h>

namespace moesim {
namespace {

TEST(EditDistance, CountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3U);
  EXPECT_EQ(edit_distance("", "abc"), 3U);
  EXPECT_EQ(edit_distance("same", "same"), 0U);
}

TEST(ClosestMatch, SuggestsANearbyKeyAndNothingForFarOnes) {
  const std::vector<std::string> keys{"block_size", "max_num_seqs", "max_num_batched_tokens"};
  EXPECT_EQ(closest_match("blok_size", keys), "block_size");
  EXPECT_EQ(closest_match("max_num_seq", keys), "max_num_seqs");
  EXPECT_EQ(closest_match("completely_different", keys), "");
}

TEST(JoinAlternatives, UsesCommasAndOr) {
  EXPECT_EQ(join_alternatives({"a"}), "a");
  EXPECT_EQ(join_alternatives({"a", "b", "c"}), "a, b or c");
}

}  // namespace
}  // namespace moesim
