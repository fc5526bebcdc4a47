// What-if features of issue 11 through the real executable: length scaling with the warning about
// requests that cannot be served, goodput and what each metric covers, --set overrides on every command
// that reads a scenario, and --print-scenario.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_harness.hpp"

namespace moesim::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Llama-2-7B on one A100-80GB (max_model_len 4096, V0 without chunked prefill: prompts up to 4096 tokens),
// 200 synthetic requests with prompts uniform in 16..256 tokens.
const std::string kScenario = R"(name: what-if
cluster:
  gpu: A100-SXM-80GB
  nodes: 1
  gpus_per_node: 1
  cost_per_gpu_hour_usd: 5.0
model:
  preset: llama-2-7b
serving:
  scheduler: v0
workload:
  prompt_tokens: {distribution: uniform, low: 16, high: 256}
  output_tokens: {distribution: uniform, low: 4, high: 64}
  arrivals: {process: poisson, rate_per_s: 20.0}
  num_requests: 200
  seed: 3
)";

class CliWhatIf : public ::testing::Test {
 protected:
  void SetUp() override { dir_.write("s.yaml", kScenario); }

  CommandResult expect_exit(int code, const std::vector<std::string>& args) {
    const std::set<std::string> before = dir_.listing();
    CommandResult r = run_moesim(dir_, args);
    EXPECT_EQ(r.exit_code, code) << "stdout:\n" << r.out << "\nstderr:\n" << r.err;
    if (code != 0) {
      EXPECT_EQ(dir_.listing(), before) << "a failed command left a file behind";
      EXPECT_EQ(r.out, "") << "a failed command printed output";
    }
    return r;
  }

  TempDir dir_;
};

TEST_F(CliWhatIf, ScaledPromptsLongerThanTheModelAcceptsAreAWarningAndEveryMetricSaysWhatItCovers) {
  // x20: prompts 320..5120 tokens; those above 4096 (drawn prompts >= 205) cannot be served.
  const CommandResult r = expect_exit(0, {"run", "s.yaml", "--format", "json", "--set", "workload.prompt_scale=20",
                                          "--set", "metrics.slo={ttft_s: 2.0, tpot_s: 0.05}"});
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const auto& s = j["summary"];
  const double rejected = s["rejected_requests"].get<double>();
  EXPECT_GT(rejected, 20);  // ~ 52/241 of the uniform draws
  EXPECT_LT(rejected, 80);
  EXPECT_EQ(s["finished_requests"].get<double>() + rejected, 200);
  EXPECT_THAT(r.err, HasSubstr("moesim run: warning: " + std::to_string(static_cast<int>(rejected)) +
                               " of 200 requests ("));
  EXPECT_THAT(r.err, HasSubstr("cannot be served"));
  EXPECT_THAT(r.err, HasSubstr("max_model_len (4096 tokens)"));
  // The share of requested tokens is larger than the share of requests (the rejected ones are the longest).
  EXPECT_GT(s["rejected_token_share"].get<double>(), rejected / 200);
  EXPECT_EQ(j["summary_covers"]["throughput_requests_per_s"], "finished requests");
  EXPECT_EQ(j["summary_covers"]["rejected_requests"], "all requests");
  EXPECT_EQ(j["summary_covers"]["batch_size_mean"], "all steps");
  EXPECT_EQ(j["summary_covers"]["tpot_p50"], "finished requests with >= 2 output tokens");
  for (const auto& [name, covers] : j["summary_covers"].items()) EXPECT_NE(covers, "") << name;
  EXPECT_EQ(j["summary_covers"].size(), s.size());
  // Goodput: SLO-meeting finished requests per second, never above the throughput.
  EXPECT_DOUBLE_EQ(s["slo_ttft_s"].get<double>(), 2.0);
  EXPECT_LE(s["goodput_requests_per_s"].get<double>(), s["throughput_requests_per_s"].get<double>());
  EXPECT_DOUBLE_EQ(s["goodput_requests_per_s"].get<double>(),
                   s["slo_met_requests"].get<double>() / s["makespan_s"].get<double>());

  // Unscaled: nothing rejected, no warning; without SLOs goodput = throughput.
  const CommandResult plain = expect_exit(0, {"run", "s.yaml", "--format", "json"});
  EXPECT_THAT(plain.err, Not(HasSubstr("warning")));
  const nlohmann::json plain_json = nlohmann::json::parse(plain.out);
  const auto& p = plain_json["summary"];
  EXPECT_EQ(p["rejected_requests"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(p["goodput_requests_per_s"].get<double>(), p["throughput_requests_per_s"].get<double>());
  // The text summary says what it covers and shows goodput.
  const CommandResult text = expect_exit(0, {"run", "s.yaml"});
  EXPECT_THAT(text.out, HasSubstr("covers       200 finished of 200 requests"));
  EXPECT_THAT(text.out, HasSubstr("goodput"));
}

TEST_F(CliWhatIf, SetOverridesAnyKeyAndIsValidatedLikeTheFile) {
  const CommandResult r = expect_exit(0, {"run", "s.yaml", "--format", "json", "--set", "workload.num_requests=10",
                                          "--set", "serving.max_num_seqs=8"});
  EXPECT_EQ(nlohmann::json::parse(r.out)["summary"]["num_requests"].get<double>(), 10);

  // A bad value: named by its --set argument, with what is allowed; exit 2, nothing written.
  CommandResult bad = expect_exit(2, {"run", "s.yaml", "-o", "out.h5", "--set", "workload.prompt_scale=-1"});
  EXPECT_THAT(bad.err, HasSubstr("--set workload.prompt_scale=-1: workload.prompt_scale: must be a finite number > 0"));
  bad = expect_exit(2, {"run", "s.yaml", "-o", "out.h5", "--set", "serving.max_num_seqs=many"});
  EXPECT_THAT(bad.err, HasSubstr("--set serving.max_num_seqs=many: serving.max_num_seqs: expected an integer"));
  // A path that does not exist: the unknown key with a suggestion and the allowed keys.
  bad = expect_exit(2, {"run", "s.yaml", "-o", "out.h5", "--set", "workload.promt_scale=2"});
  EXPECT_THAT(bad.err, HasSubstr("--set workload.promt_scale=2: workload.promt_scale: unknown key 'promt_scale'; did "
                                 "you mean 'prompt_scale'?"));
  // Malformed arguments and paths through values.
  bad = expect_exit(2, {"run", "s.yaml", "-o", "out.h5", "--set", "workload.prompt_scale"});
  EXPECT_THAT(bad.err, HasSubstr("--set workload.prompt_scale: no '='"));
  bad = expect_exit(2, {"run", "s.yaml", "-o", "out.h5", "--set", "cluster.gpu.memory=1"});
  EXPECT_THAT(bad.err, HasSubstr("--set cluster.gpu.memory=1: cluster.gpu.memory: cluster.gpu is a value"));
  bad = expect_exit(2, {"run", "s.yaml", "--set", "name=[unclosed"});
  EXPECT_THAT(bad.err, HasSubstr("--set name=[unclosed: name: the value is not valid YAML"));
  // Problems elsewhere in the file keep their file:line:column.
  dir_.write("typo.yaml", kScenario + "  seeed: 4\n");
  bad = expect_exit(2, {"run", "typo.yaml", "--set", "workload.prompt_scale=2"});
  EXPECT_THAT(bad.err, HasSubstr("typo.yaml:17:3: workload.seeed: unknown key"));
}

TEST_F(CliWhatIf, DescribeStepAndRankTakeSetToo) {
  const CommandResult d = expect_exit(0, {"describe", "s.yaml", "--format", "json", "--set", "serving.max_num_seqs=7"});
  EXPECT_THAT(d.out, HasSubstr("\"max_num_seqs\": 7"));
  expect_exit(2, {"describe", "s.yaml", "--set", "serving.max_num_seqs=0"});
  const CommandResult st = expect_exit(0, {"step", "s.yaml", "--prefill", "128", "--set", "cluster.gpu=H100-SXM-80GB"});
  EXPECT_THAT(st.out, HasSubstr("H100"));
  const CommandResult sb = expect_exit(2, {"step", "s.yaml", "--prefill", "128", "--set", "cluster.gpu=B300"});
  EXPECT_THAT(sb.err, HasSubstr("--set cluster.gpu=B300: cluster.gpu: unknown"));
  // rank checks the overridden study before anything runs (--print-study then prints the merged study).
  const CommandResult rb = expect_exit(2, {"rank", "--print-study", "--set", "workload.prompt_scale=0"});
  EXPECT_THAT(rb.err, HasSubstr("--set workload.prompt_scale=0: workload.prompt_scale: must be"));
  const CommandResult rp = expect_exit(0, {"rank", "--print-study", "--set", "workload.prompt_scale=2"});
  EXPECT_THAT(rp.out, HasSubstr("prompt_scale: 2"));
}

TEST_F(CliWhatIf, PrintScenarioWritesTheResolvedScenarioWhichLoadsBack) {
  const CommandResult r = expect_exit(0, {"run", "--print-scenario"});
  EXPECT_THAT(r.out, HasSubstr("# Loaded from: <embedded default>"));
  EXPECT_THAT(r.out, HasSubstr("prompt_scale: 1"));
  EXPECT_THAT(r.out, HasSubstr("max_num_batched_tokens:"));  // defaults resolved
  dir_.write("echo.yaml", r.out);
  const CommandResult again = expect_exit(0, {"run", "echo.yaml", "--print-scenario"});
  auto body = [](const std::string& text) { return text.substr(text.find("\n", text.find("# Loaded from"))); };
  EXPECT_EQ(body(again.out), body(r.out));
  const CommandResult set = expect_exit(0, {"run", "s.yaml", "--print-scenario", "--set", "workload.output_scale=0.5"});
  EXPECT_THAT(set.out, HasSubstr("output_scale: 0.5"));
  EXPECT_EQ(dir_.listing(), (std::set<std::string>{"echo.yaml", "s.yaml"}));
}

TEST_F(CliWhatIf, AMixReportsEachComponentAndOverridesReachIntoIt) {
  const std::string mix = kScenario.substr(0, kScenario.find("workload:")) +
                          "workload:\n"
                          "  mix:\n"
                          "    - {name: chat, weight: 7, prompt_tokens: {distribution: fixed, value: 100},\n"
                          "       output_tokens: {distribution: fixed, value: 20}}\n"
                          "    - {name: summary, weight: 3, prompt_tokens: {distribution: fixed, value: 2000},\n"
                          "       output_tokens: {distribution: fixed, value: 100}}\n"
                          "  arrivals: {process: poisson, rate_per_s: 4}\n"
                          "  num_requests: 300\n";
  dir_.write("mix.yaml", mix);
  const CommandResult r = expect_exit(0, {"run", "mix.yaml", "--format", "json"});
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const auto& chat = j["components"]["chat"];
  const auto& summary = j["components"]["summary"];
  EXPECT_EQ(chat["num_requests"].get<double>() + summary["num_requests"].get<double>(), 300);
  EXPECT_DOUBLE_EQ(chat["mean_prompt_tokens"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(summary["mean_output_tokens"].get<double>(), 100);
  EXPECT_NEAR(chat["num_requests"].get<double>(), 210, 40);  // Binomial(300, 0.7): sd 7.9
  EXPECT_NEAR(chat["throughput_requests_per_s"].get<double>() + summary["throughput_requests_per_s"].get<double>(),
              j["summary"]["throughput_requests_per_s"].get<double>(), 1e-9);
  // Same seed, same output (the mix is deterministic).
  EXPECT_EQ(expect_exit(0, {"run", "mix.yaml", "--format", "json"}).out, r.out);
  // A weight moved with --set (list items by index); a bad one names the argument.
  const nlohmann::json heavier = nlohmann::json::parse(
      expect_exit(0, {"run", "mix.yaml", "--format", "json", "--set", "workload.mix.1.weight=7"}).out);
  EXPECT_NEAR(heavier["components"]["summary"]["num_requests"].get<double>(), 150, 40);
  CommandResult bad = expect_exit(2, {"run", "mix.yaml", "-o", "o.h5", "--set", "workload.mix.1.weight=0"});
  EXPECT_THAT(bad.err, HasSubstr("--set workload.mix.1.weight=0: workload.mix[1].weight: must be a finite number > 0"));
  bad = expect_exit(2, {"run", "mix.yaml", "-o", "o.h5", "--set", "workload.mix.5.weight=1"});
  EXPECT_THAT(bad.err, HasSubstr("workload.mix is a list of 2 items"));
  // A component without lengths: file:line:column and what is allowed.
  dir_.write("nolen.yaml", kScenario.substr(0, kScenario.find("workload:")) +
                               "workload:\n  mix:\n    - {name: a, weight: 1}\n  num_requests: 5\n");
  bad = expect_exit(2, {"run", "nolen.yaml", "-o", "o.h5"});
  EXPECT_THAT(bad.err, HasSubstr("nolen.yaml:13:7: workload.mix[0].prompt_tokens: missing"));
}

// Closed loop (vLLM benchmark --max-concurrency): never more than N requests in flight; a rejected request
// frees its client at once (else the run would stop with requests never issued).
TEST_F(CliWhatIf, ClosedLoopClientsKeepAtMostConcurrencyRequestsInFlight) {
  const nlohmann::json one = nlohmann::json::parse(
      expect_exit(0, {"run", "s.yaml", "--format", "json", "--set", "workload.arrivals={process: closed_loop, concurrency: 1}",
                      "--set", "workload.num_requests=20"})
          .out);
  EXPECT_EQ(one["summary"]["finished_requests"].get<double>(), 20);
  EXPECT_EQ(one["summary"]["batch_size_p99"].get<double>(), 1);  // one client: one sequence per step
  EXPECT_EQ(one["summary"]["queueing_max"].get<double>(), 0);     // issued when the previous one finished
  const nlohmann::json eight = nlohmann::json::parse(
      expect_exit(0, {"run", "s.yaml", "--format", "json", "--set",
                      "workload.arrivals={process: closed_loop, concurrency: 8}", "--set", "workload.prompt_scale=20"})
          .out);
  EXPECT_EQ(eight["summary"]["finished_requests"].get<double>() + eight["summary"]["rejected_requests"].get<double>(), 200);
  EXPECT_GT(eight["summary"]["rejected_requests"].get<double>(), 0);
  EXPECT_LE(eight["summary"]["batch_size_p99"].get<double>(), 8);
  const CommandResult bad = expect_exit(2, {"run", "s.yaml", "-o", "o.h5", "--set", "workload.arrivals={process: closed_loop}"});
  EXPECT_THAT(bad.err, HasSubstr("workload.arrivals.concurrency: missing required key"));
}

}  // namespace
}  // namespace moesim::test
