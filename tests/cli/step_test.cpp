// `moesim step`: one step's time on a scenario's deployment, per operator, through the real executable.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_harness.hpp"

namespace moesim::test {
namespace {

using ::testing::HasSubstr;

nlohmann::json step_json(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "step");
  args.emplace_back("--format");
  args.emplace_back("json");
  const CommandResult r = run_moesim(dir, args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(CliStep, OperatorsSumToTheStepAndTheShapeIsCountedAsTheSchedulerCountsIt) {
  TempDir dir;
  const std::string scenario = source_path("scenarios/llama-2-7b_1xa100-80gb.yaml");
  const nlohmann::json j = step_json(dir, {scenario, "--prefill", "512@1024", "--decode", "32x900", "--decode", "100"});
  const nlohmann::json& s = j["steps"][0];
  EXPECT_EQ(s["num_prefill_seqs"], 1);
  EXPECT_EQ(s["prefill_tokens"], 512);
  // Query-key pairs of a 512-token chunk after 1024 computed tokens: 512 x (1024 + 513 / 2).
  EXPECT_DOUBLE_EQ(s["prefill_attention_pairs"].get<double>(), 512.0 * (1024.0 + 256.5));
  EXPECT_EQ(s["num_decode_seqs"], 33);
  EXPECT_EQ(s["decode_context_tokens"], 32 * 900 + 100);
  double sum = 0;
  for (const auto& [name, seconds] : s["operators_s"].items()) sum += seconds.get<double>();
  EXPECT_NEAR(sum, s["total_s"].get<double>(), 1e-9);  // the step time is integer ns
  // More decode context costs more attention time, nothing else.
  const nlohmann::json longer = step_json(dir, {scenario, "--prefill", "512@1024", "--decode", "32x1900", "--decode", "100"});
  EXPECT_GT(longer["steps"][0]["operators_s"]["attention_decode"].get<double>(),
            s["operators_s"]["attention_decode"].get<double>());
  EXPECT_EQ(longer["steps"][0]["operators_s"]["qkvo_projection"], s["operators_s"]["qkvo_projection"]);
}

TEST(CliStep, ExpertParallelStepsAddTheGroupsMoeLayers) {
  TempDir dir;
  const nlohmann::json j =
      step_json(dir, {source_path("scenarios/qwen3-30b-a3b_2xa100-80gb_dp2-ep.yaml"), "--decode", "37x2600"});
  const nlohmann::json& s = j["steps"][0];
  EXPECT_GT(s["moe_experts_busiest_gpu_s"].get<double>(), 0.0);
  EXPECT_GT(s["dispatch_combine_s"].get<double>(), 0.0);
  EXPECT_NEAR(s["total_s"].get<double>(),
              s["rank_total_s"].get<double>() + s["moe_experts_busiest_gpu_s"].get<double>() +
                  s["dispatch_combine_s"].get<double>(),
              1e-12);
}

TEST(CliStep, ACsvOfShapesGivesOneRowPerStepAndBadRowsNameTheirPlace) {
  TempDir dir;
  dir.write("steps.csv", "prefill_tokens,num_decode_seqs,decode_context_tokens\n512,0,0\n0,16,16000\n");
  const nlohmann::json j = step_json(dir, {source_path("scenarios/llama-2-7b_1xa100-80gb.yaml"), "--shapes", "steps.csv"});
  ASSERT_EQ(j["steps"].size(), 2u);
  EXPECT_EQ(j["steps"][1]["decode_context_tokens"], 16000);
  dir.write("bad.csv", "prefill_tokens,num_decode_seqs,decode_context_tokens\n512,0,0\n0,16,x\n");
  const CommandResult bad = run_moesim(dir, {"step", "--shapes", "bad.csv"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("bad.csv"));
  EXPECT_THAT(bad.err, HasSubstr("decode_context_tokens"));
  // num_prefill_seqs splits a row's prefill tokens into equal chunks (a static batch of prompts): 4 x 256
  // tokens count 4 sequences and 4 x 256 x 257 / 2 causal pairs, fewer than one 1024-token chunk.
  dir.write("batch.csv", "prefill_tokens,num_prefill_seqs,num_decode_seqs,decode_context_tokens\n1024,4,0,0\n1024,1,0,0\n");
  const nlohmann::json b = step_json(dir, {source_path("scenarios/llama-2-7b_1xa100-80gb.yaml"), "--shapes", "batch.csv"});
  ASSERT_EQ(b["steps"].size(), 2u);
  EXPECT_EQ(b["steps"][0]["num_prefill_seqs"], 4);
  EXPECT_EQ(b["steps"][0]["prefill_tokens"], 1024);
  EXPECT_DOUBLE_EQ(b["steps"][0]["prefill_attention_pairs"].get<double>(), 4 * 256.0 * 257.0 / 2);
  EXPECT_LT(b["steps"][0]["operators_s"]["attention_prefill"].get<double>(),
            b["steps"][1]["operators_s"]["attention_prefill"].get<double>());
  dir.write("uneven.csv", "prefill_tokens,num_prefill_seqs,num_decode_seqs,decode_context_tokens\n1000,3,0,0\n");
  const CommandResult uneven = run_moesim(dir, {"step", "--shapes", "uneven.csv"});
  EXPECT_EQ(uneven.exit_code, 2);
  EXPECT_THAT(uneven.err, HasSubstr("num_prefill_seqs"));
  const CommandResult none = run_moesim(dir, {"step"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("give the step's shape"));
  const CommandResult syntax = run_moesim(dir, {"step", "--decode", "32y900"});
  EXPECT_EQ(syntax.exit_code, 2);
  EXPECT_THAT(syntax.err, HasSubstr("--decode '32y900'"));
}

}  // namespace
}  // namespace moesim::test
