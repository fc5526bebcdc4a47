#include "moesim/common/errors.hpp"

#include <gtest/gtest.h>

namespace moesim {
namespace {

TEST(ConfigError, FormatsFileLineColumnPathAndMessage) {
  const ConfigError error(ConfigIssue{"scenario.yaml", 12, 7, "cluster.gpus_per_node", "0; must be > 0"});
  EXPECT_STREQ(error.what(), "scenario.yaml:12:7: cluster.gpus_per_node: 0; must be > 0");
}

TEST(ConfigError, ListsEveryIssueOnItsOwnLine) {
  const ConfigError error({ConfigIssue{"a.yaml", 1, 2, "x", "bad"}, ConfigIssue{"a.yaml", 3, 4, "y", "worse"}});
  EXPECT_STREQ(error.what(), "a.yaml:1:2: x: bad\na.yaml:3:4: y: worse");
  EXPECT_EQ(error.issues().size(), 2U);
}

TEST(InputError, NamesFileRowAndColumn) {
  const InputError error("trace.csv", 5, "num_decode_tokens", "'abc' is not an integer");
  EXPECT_STREQ(error.what(), "trace.csv: row 5, column 'num_decode_tokens': 'abc' is not an integer");
  EXPECT_EQ(error.row(), 5);
}

TEST(CheckInvariant, ThrowsInternalErrorNamingTheInvariant) {
  EXPECT_NO_THROW(check_invariant(true, "ok"));
  try {
    check_invariant(false, "KV blocks conserved");
    FAIL() << "no throw";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("KV blocks conserved"), std::string::npos);
  }
}

}  // namespace
}  // namespace moesim
