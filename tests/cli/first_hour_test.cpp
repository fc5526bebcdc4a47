// Issue 14's last frictions through the real executable: `describe` says where a TP group crosses nodes
// and what its all-reduce costs per step; one unit convention (request latencies in ms in text, seconds in
// JSON; yes/no in text, true/false in JSON); ITL in every output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_harness.hpp"

namespace moesim::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Llama-2-7B on two 8-GPU A100 nodes; TP size set per test with --set.
const std::string kTwoNodes = R"(name: two-nodes
cluster: {gpu: A100-SXM-80GB, nodes: 2, gpus_per_node: 8, cost_per_gpu_hour_usd: 5.0}
model: {preset: llama-2-7b}
serving: {scheduler: v1}
workload:
  prompt_tokens: {distribution: uniform, low: 16, high: 256}
  output_tokens: {distribution: uniform, low: 4, high: 64}
  arrivals: {process: poisson, rate_per_s: 20.0}
  num_requests: 100
  seed: 3
)";

TEST(CliDescribe, SaysWhenATensorParallelGroupCrossesNodesAndWhatItsAllReduceCosts) {
  TempDir dir;
  dir.write("s.yaml", kTwoNodes);
  const CommandResult inside = run_moesim(dir, {"describe", "s.yaml", "--set", "serving.tensor_parallel_size=8"});
  ASSERT_EQ(inside.exit_code, 0) << inside.err;
  EXPECT_THAT(inside.out, HasSubstr("TP group, stage 0: 8 GPUs (node 0 GPU 0-7), inside one node: all-reduce over nvswitch"));
  EXPECT_THAT(inside.out, Not(HasSubstr("CROSSES NODES")));

  const CommandResult across = run_moesim(dir, {"describe", "s.yaml", "--set", "serving.tensor_parallel_size=16"});
  ASSERT_EQ(across.exit_code, 0) << across.err;
  EXPECT_THAT(across.out, HasSubstr("16 GPUs (node 0 GPU 0-7, node 1 GPU 0-7) CROSSES NODES: its all-reduce runs over "
                                    "infiniband"));
  EXPECT_THAT(across.out, HasSubstr("per step: TP all-reduce"));

  // The same in JSON, and the cost: the all-reduce over InfiniBand is dearer than inside a node, in both
  // reference steps, and a larger share of the step.
  const CommandResult a = run_moesim(dir, {"describe", "s.yaml", "--format", "json", "--set", "serving.tensor_parallel_size=8"});
  const CommandResult b = run_moesim(dir, {"describe", "s.yaml", "--format", "json", "--set", "serving.tensor_parallel_size=16"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const nlohmann::json ga = nlohmann::json::parse(a.out)["parallel_groups"][0];
  const nlohmann::json gb = nlohmann::json::parse(b.out)["parallel_groups"][0];
  EXPECT_FALSE(ga["crosses_nodes"].get<bool>());
  EXPECT_TRUE(gb["crosses_nodes"].get<bool>());
  EXPECT_EQ(ga["link"], "nvswitch");
  EXPECT_EQ(gb["link"], "infiniband");
  EXPECT_LT(gb["link_bandwidth_bytes_per_s"].get<double>(), ga["link_bandwidth_bytes_per_s"].get<double>());
  for (const char* step : {"reference_decode_step", "reference_prefill_step"}) {
    const double share_a = ga[step]["tp_all_reduce_s"].get<double>() / ga[step]["step_s"].get<double>();
    const double share_b = gb[step]["tp_all_reduce_s"].get<double>() / gb[step]["step_s"].get<double>();
    EXPECT_GT(ga[step]["tp_all_reduce_s"].get<double>(), 0.0) << step;
    EXPECT_GT(gb[step]["tp_all_reduce_s"].get<double>(), ga[step]["tp_all_reduce_s"].get<double>()) << step;
    EXPECT_GT(share_b, share_a) << step;
  }

  // Pipeline stages on different nodes: the hand-over between them is named.
  const CommandResult pp = run_moesim(dir, {"describe", "s.yaml", "--set", "serving.tensor_parallel_size=8", "--set",
                                            "serving.pipeline_parallel_size=2"});
  ASSERT_EQ(pp.exit_code, 0) << pp.err;
  EXPECT_THAT(pp.out, HasSubstr("hand-over to stage 1 crosses nodes (PP send/recv)"));
  EXPECT_THAT(pp.out, HasSubstr("per step: PP send/recv"));
}

TEST(CliUnits, LatenciesInMillisecondsInTextSecondsInJsonAndBooleansAsYesNoOrTrueFalse) {
  TempDir dir;
  dir.write("s.yaml", kTwoNodes);
  const CommandResult text = run_moesim(dir, {"run", "s.yaml"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* metric : {"TTFT ", "TPOT ", "ITL ", "E2E "}) {
    const std::size_t at = text.out.find(std::string("  ") + metric);
    ASSERT_NE(at, std::string::npos) << metric << " line missing:\n" << text.out;
    const std::string line = text.out.substr(at, text.out.find('\n', at) - at);
    EXPECT_THAT(line, HasSubstr(" ms, p50 ")) << line;
    EXPECT_THAT(line, Not(HasSubstr(" s,"))) << line;
  }
  EXPECT_THAT(text.out, HasSubstr("fits                                  yes"));
  EXPECT_THAT(text.out, HasSubstr("max_batch_capped                      no"));
  EXPECT_THAT(text.out, Not(HasSubstr("1.0000 \n")));

  const CommandResult json = run_moesim(dir, {"run", "s.yaml", "--format", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_TRUE(j["summary"]["interrupted"].is_boolean());
  EXPECT_FALSE(j["summary"]["interrupted"].get<bool>());
  EXPECT_TRUE(j["analytic"]["fits"].is_boolean());
  // ITL in seconds (the JSON keeps SI units) and ordered.
  const nlohmann::json& s = j["summary"];
  EXPECT_GT(s["itl_p50"].get<double>(), 0.0);
  EXPECT_LE(s["itl_p50"].get<double>(), s["itl_p99"].get<double>());
  EXPECT_LE(s["itl_p99"].get<double>(), s["itl_max"].get<double>());
  EXPECT_LT(s["itl_mean"].get<double>(), 1.0);  // seconds: a gap of a 7B decode step is milliseconds
}

}  // namespace
}  // namespace moesim::test
