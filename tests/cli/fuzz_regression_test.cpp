// Regression tests for inputs the fuzzers (tests/fuzz/, scripts/fuzz.sh) found crashing a reader. Each
// input must now give a documented error (InputError / ConfigError), never another exception or a crash.
#include <gtest/gtest.h>

#include <string>

#include "moesim/common/errors.hpp"
#include "moesim/model/hf_config.hpp"
#include "moesim/scaling/law_io.hpp"
#include "moesim/workload/workload.hpp"

namespace moesim {
namespace {

// fuzz_hf_config: nlohmann::json reports a number beyond double's range as out_of_range (error 406), not
// as a parse_error, and it escaped parse_hf_config and terminated the program.
TEST(FuzzRegression, HfConfigWithANumberBeyondDoubleRangeIsAnInputError) {
  const std::string text = R"({"model_type": "llama", "hidden_size": 1e706})";
  try {
    (void)parse_hf_config(text, "huge/config.json");
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("huge/config.json"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("number overflow"), std::string::npos) << error.what();
  }
}

// fuzz_trace_azure / fuzz_trace_auto (UBSan): a timestamp in year 9999 overflowed int64 nanoseconds
// (signed overflow, undefined behaviour) instead of being refused.
TEST(FuzzRegression, TimestampsBeyondInt64NanosecondsAreNotTimestamps) {
  EXPECT_FALSE(parse_timestamp_ns("9999-11-16 18:15:46.6805900").has_value());
  EXPECT_FALSE(parse_timestamp_ns("2262-04-12 00:00:00").has_value());
  EXPECT_FALSE(parse_timestamp_ns("1969-12-31 23:59:59").has_value());
  // The last whole second that fits, and the epoch, still parse.
  EXPECT_EQ(parse_timestamp_ns("1970-01-01 00:00:00"), std::optional<std::int64_t>(0));
  ASSERT_TRUE(parse_timestamp_ns("2262-04-11 23:47:15").has_value());
}

// fuzz_law: a section that is not a map (`accounting: text`), and a key that is a list, made yaml-cpp throw
// BadSubscript / TypedBadConversion out of parse_law_yaml.
constexpr const char* kLawHead = R"(form: chinchilla
provenance: test
coefficients: {A: 406.4, alpha: 0.34, B: 410.7, beta: 0.28, E: 1.69}
)";

void expect_config_error_naming(const std::string& text, const std::string& fragment) {
  try {
    (void)scaling::parse_law_yaml(text, "law.yaml");
    FAIL() << "expected ConfigError for:\n" << text;
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("law.yaml:"), std::string::npos) << error.what();
  }
}

TEST(FuzzRegression, LawSectionsThatAreNotMapsAreConfigErrors) {
  expect_config_error_naming(std::string(kLawHead) + "accounting: training_parameters activated\n",
                             "accounting: must be a map");
  expect_config_error_naming(std::string(kLawHead) + "fit: [1, 2]\n", "fit: must be a map");
}

TEST(FuzzRegression, LawKeyThatIsAListIsAConfigError) {
  expect_config_error_naming(std::string(kLawHead) + "? [a, b]\n: 1\n", "keys must be plain names");
}

// fuzz_law (UBSan, CI run): `accounting.top_k: 4.4e111` was cast to int (undefined behaviour) before any
// range check; `fit.rows` likewise to long long.
TEST(FuzzRegression, LawIntegersOutsideTheirRangeAreConfigErrorsNotCasts) {
  expect_config_error_naming(std::string(kLawHead) + "accounting:\n  top_k: 4.44444e+111\n",
                             "accounting.top_k: must be an integer between 1 and 1024");
  expect_config_error_naming(std::string(kLawHead) + "fit:\n  rows: 1e300\n",
                             "fit.rows: must be an integer between 0 and 1e15");
}

}  // namespace
}  // namespace moesim
