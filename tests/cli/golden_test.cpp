// Golden and determinism tests.
// - tests/golden/<name>.yaml run with `moesim run --format json` must print exactly tests/golden/<name>.json
//   (every value compared exactly). The .json files are written only by scripts/regenerate-golden.sh, and
//   a change to them must be reviewed like code: it says the simulator's answers changed.
// - The same scenario and seed give identical output; another seed gives another synthetic workload.
// - `moesim fit` writes the same law with 1 and 2 threads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_harness.hpp"

namespace moesim::test {
namespace {

using ::testing::HasSubstr;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every leaf that differs, as "/summary/ttft_p50: expected 0.1, got 0.2", so a failure shows what moved.
std::string differences(const nlohmann::json& expected, const nlohmann::json& actual) {
  const nlohmann::json e = expected.flatten();
  const nlohmann::json a = actual.flatten();
  std::string text;
  for (const auto& [key, value] : e.items()) {
    if (!a.contains(key)) {
      text += key + ": missing\n";
    } else if (a[key] != value) {
      text += key + ": expected " + value.dump() + ", got " + a[key].dump() + "\n";
    }
  }
  for (const auto& [key, value] : a.items()) {
    if (!e.contains(key)) text += key + ": not in the golden file (" + value.dump() + ")\n";
  }
  return text;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, RunPrintsExactlyTheReviewedSummary) {
  const std::string name = GetParam();
  const std::filesystem::path golden = source_path("tests/golden/" + name + ".json");
  ASSERT_TRUE(std::filesystem::exists(golden)) << golden << " is missing: run scripts/regenerate-golden.sh";
  TempDir dir;
  const CommandResult r = run_moesim(dir, {"run", source_path("tests/golden/" + name + ".yaml"), "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json expected = nlohmann::json::parse(read_text(golden));
  const nlohmann::json actual = nlohmann::json::parse(r.out);
  EXPECT_EQ(actual, expected) << "output of " << name << ".yaml differs from the golden file:\n"
                              << differences(expected, actual)
                              << "If the change is intended, run scripts/regenerate-golden.sh and review the diff.";
}

INSTANTIATE_TEST_SUITE_P(Scenarios, Golden, ::testing::Values("v0", "v0-chunked", "v1", "two-replicas"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string n = param_info.param;
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

TEST(Determinism, SameScenarioAndSeedGiveIdenticalOutput) {
  TempDir dir;
  const std::vector<std::string> args{"run", source_path("tests/golden/two-replicas.yaml"), "--format", "json"};
  const CommandResult first = run_moesim(dir, args);
  const CommandResult second = run_moesim(dir, args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(first.out, second.out);
}

TEST(Determinism, ADifferentSeedChangesTheSyntheticWorkload) {
  TempDir dir;
  std::string text = read_text(source_path("tests/golden/v0.yaml"));
  const std::size_t at = text.find("seed: 42");
  ASSERT_NE(at, std::string::npos);
  dir.write("seed42.yaml", text);
  dir.write("seed43.yaml", text.replace(at, 8, "seed: 43"));
  const CommandResult a = run_moesim(dir, {"run", "seed42.yaml", "--format", "json"});
  const CommandResult b = run_moesim(dir, {"run", "seed43.yaml", "--format", "json"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const nlohmann::json ja = nlohmann::json::parse(a.out);
  const nlohmann::json jb = nlohmann::json::parse(b.out);
  EXPECT_NE(ja["deployment"]["mean_prompt_tokens"], jb["deployment"]["mean_prompt_tokens"]);
  EXPECT_NE(ja["deployment"]["mean_output_tokens"], jb["deployment"]["mean_output_tokens"]);
  EXPECT_NE(ja["summary"]["makespan_s"], jb["summary"]["makespan_s"]);
}

// The law file records the command line in its provenance ("Fitted by: moesim fit ... --threads 1"); that
// line differs by construction and is left out of the comparison. Everything else must be identical.
std::string without_command_line(const std::string& law_yaml) {
  std::istringstream in(law_yaml);
  std::string line;
  std::string kept;
  while (std::getline(in, line)) {
    if (line.find("Fitted by: moesim fit") == std::string::npos) kept += line + "\n";
  }
  return kept;
}

TEST(Determinism, FitWritesTheSameLawWithOneAndTwoThreads) {
  TempDir dir;
  const std::string csv = source_path("data/scaling/epoch_chinchilla_svg_extracted_data.csv");
  for (const std::string threads : {"1", "2"}) {
    const CommandResult r =
        run_moesim(dir, {"fit", csv, "--law", "chinchilla", "--n-column", "Model Size", "--flops-column",
                         "Training FLOP", "--drop-top-losses", "5", "--grid", "small", "--bootstrap", "4",
                         "--name", "threads-test", "--threads", threads, "-o", "law-" + threads + ".yaml"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::string one = read_text(dir.path() / "law-1.yaml");
  const std::string two = read_text(dir.path() / "law-2.yaml");
  EXPECT_THAT(one, HasSubstr("--threads 1"));
  EXPECT_THAT(two, HasSubstr("--threads 2"));
  EXPECT_EQ(without_command_line(one), without_command_line(two));
}

}  // namespace
}  // namespace moesim::test
