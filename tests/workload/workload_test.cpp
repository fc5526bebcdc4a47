// build_workload(): lengths from traces and generators, arrival processes, repetition, determinism.
#include "moesim/workload/workload.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "moesim/common/errors.hpp"
#include "test_files.hpp"

namespace moesim {
namespace {

using test::shipped_trace;
using test::TempDir;

struct Stats {
  double mean = 0;
  double stddev = 0;
};

template <typename Value>
Stats stats_of(const Workload& w, Value value) {
  double sum = 0;
  double sum_sq = 0;
  for (const auto& r : w) {
    const double x = value(r);
    sum += x;
    sum_sq += x * x;
  }
  const double n = static_cast<double>(w.size());
  const double mean = sum / n;
  return {mean, std::sqrt(std::max(0.0, sum_sq / n - mean * mean))};
}

Stats prompt_stats(const Workload& w) { return stats_of(w, [](const RequestSpec& r) { return r.prompt_tokens; }); }
Stats output_stats(const Workload& w) { return stats_of(w, [](const RequestSpec& r) { return r.output_tokens; }); }

// Inter-arrival gaps in seconds.
Stats gap_stats(const Workload& w) {
  Workload gaps;
  for (std::size_t i = 1; i < w.size(); ++i) gaps.push_back({w[i].arrival_ns - w[i - 1].arrival_ns, 0, 0});
  return stats_of(gaps, [](const RequestSpec& r) { return ns_to_seconds(r.arrival_ns); });
}

bool sorted_by_arrival(const Workload& w) {
  return std::is_sorted(w.begin(), w.end(), [](const auto& a, const auto& b) { return a.arrival_ns < b.arrival_ns; });
}

WorkloadConfig synthetic(std::int64_t n) {
  WorkloadConfig c;
  c.prompt.kind = LengthDistributionKind::kFixed;
  c.prompt.value = 100;
  c.output.kind = LengthDistributionKind::kFixed;
  c.output.value = 10;
  c.num_requests = n;
  c.seed = 1;
  return c;
}

WorkloadConfig from_trace(const std::string& name) {
  WorkloadConfig c;
  c.trace_path = shipped_trace(name);
  return c;
}

bool same(const Workload& a, const Workload& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
           return x.arrival_ns == y.arrival_ns && x.prompt_tokens == y.prompt_tokens && x.output_tokens == y.output_tokens;
         });
}

// ---- lengths --------------------------------------------------------------------------------------

TEST(BuildWorkload, TraceLengthsOfferedOnceAllAtZeroByDefault) {
  WorkloadBuildReport report;
  const Workload w = build_workload(from_trace("sharegpt_8k_llama2.csv"), &report);
  ASSERT_EQ(w.size(), 30731U);
  EXPECT_EQ(report.num_requests, 30731);
  EXPECT_EQ(report.trace.rows_read, 30731);
  // Exact: 71,911,571 / 30,731 and 13,481,988 / 30,731 (sums from Python's csv module).
  EXPECT_DOUBLE_EQ(report.mean_prompt_tokens, 71'911'571.0 / 30'731.0);
  EXPECT_DOUBLE_EQ(report.mean_output_tokens, 13'481'988.0 / 30'731.0);
  EXPECT_EQ(w[0].prompt_tokens, 74);  // trace order kept (all arrivals equal, stable)
  EXPECT_EQ(w[0].output_tokens, 918);
  EXPECT_TRUE(std::all_of(w.begin(), w.end(), [](const auto& r) { return r.arrival_ns == 0; }));
}

TEST(BuildWorkload, TraceLengthsAreClampedToMinAndMax) {
  WorkloadConfig c = from_trace("sharegpt_8k_llama2.csv");
  c.prompt.max = 1000;
  c.output.min = 50;
  const Workload w = build_workload(c);
  const auto [pmin, pmax] = std::minmax_element(w.begin(), w.end(), [](auto& a, auto& b) { return a.prompt_tokens < b.prompt_tokens; });
  const auto omin = std::min_element(w.begin(), w.end(), [](auto& a, auto& b) { return a.output_tokens < b.output_tokens; });
  EXPECT_EQ(pmin->prompt_tokens, 1);
  EXPECT_EQ(pmax->prompt_tokens, 1000);
  EXPECT_EQ(omin->output_tokens, 50);
}

TEST(BuildWorkload, FixedAndUniformLengths) {
  WorkloadConfig c = synthetic(100'000);
  c.output.kind = LengthDistributionKind::kUniform;
  c.output.low = 10;
  c.output.high = 20;
  const Workload w = build_workload(c);
  EXPECT_TRUE(std::all_of(w.begin(), w.end(), [](const auto& r) { return r.prompt_tokens == 100; }));
  const auto [lo, hi] = std::minmax_element(w.begin(), w.end(), [](auto& a, auto& b) { return a.output_tokens < b.output_tokens; });
  EXPECT_EQ(lo->output_tokens, 10);
  EXPECT_EQ(hi->output_tokens, 20);
  const Stats s = output_stats(w);
  EXPECT_NEAR(s.mean, 15.0, 0.05);                        // standard error 0.01
  EXPECT_NEAR(s.stddev, std::sqrt((11.0 * 11 - 1) / 12), 0.03);  // discrete uniform on 11 values
}

TEST(BuildWorkload, NormalLengthsHaveTheRequestedMeanAndStddev) {
  // DeepSpeed-FastGen's synthetic prompts: Normal(1200, 30 %) (serving-anchors.md section 2).
  WorkloadConfig c = synthetic(100'000);
  c.prompt.kind = LengthDistributionKind::kNormal;
  c.prompt.mean = 1200;
  c.prompt.stddev = 360;
  const Stats s = prompt_stats(build_workload(c));
  EXPECT_NEAR(s.mean, 1200, 5);  // standard error 1.1
  EXPECT_NEAR(s.stddev, 360, 5);
}

TEST(BuildWorkload, NormalSamplesBelowMinAreClamped) {
  WorkloadConfig c = synthetic(10'000);
  c.output.kind = LengthDistributionKind::kNormal;
  c.output.mean = 5;
  c.output.stddev = 10;
  c.output.min = 2;
  c.output.max = 12;
  const Workload w = build_workload(c);
  const auto at_min = std::count_if(w.begin(), w.end(), [](const auto& r) { return r.output_tokens == 2; });
  EXPECT_TRUE(std::all_of(w.begin(), w.end(), [](const auto& r) { return r.output_tokens >= 2 && r.output_tokens <= 12; }));
  // P(N(5, 10) < 2.5) = Phi(-0.25) = 0.401: that mass piles up at min.
  EXPECT_NEAR(static_cast<double>(at_min) / 10'000, 0.401, 0.02);
}

TEST(BuildWorkload, LognormalIsParameterisedByTheTokensMeanAndStddev) {
  WorkloadConfig c = synthetic(100'000);
  c.prompt.kind = LengthDistributionKind::kLognormal;
  c.prompt.mean = 1000;
  c.prompt.stddev = 500;
  const Workload w = build_workload(c);
  const Stats s = prompt_stats(w);
  EXPECT_NEAR(s.mean, 1000, 8);   // standard error 1.6
  EXPECT_NEAR(s.stddev, 500, 10);
  // The median of a lognormal is exp(mu) = mean / sqrt(1 + cv^2) = 1000 / sqrt(1.25) = 894.4.
  std::vector<std::int32_t> prompts;
  for (const auto& r : w) prompts.push_back(r.prompt_tokens);
  std::nth_element(prompts.begin(), prompts.begin() + 50'000, prompts.end());
  EXPECT_NEAR(prompts[50'000], 894.4, 6);
}

TEST(BuildWorkload, EmpiricalLengthsResampleTheTraceColumn) {
  WorkloadConfig c = synthetic(100'000);
  c.prompt.kind = LengthDistributionKind::kEmpirical;
  c.prompt.empirical_trace = shipped_trace("sharegpt_8k_llama2.csv");
  c.output.kind = LengthDistributionKind::kEmpirical;
  c.output.empirical_trace = shipped_trace("sharegpt_8k_llama2.csv");
  const Workload w = build_workload(c);
  // Trace means 2340.03 and 438.71; stddevs of the columns are ~2000 and ~270, so standard errors of
  // a 100,000-draw mean are ~6.5 and ~0.9.
  EXPECT_NEAR(prompt_stats(w).mean, 2340.03, 30);
  EXPECT_NEAR(output_stats(w).mean, 438.71, 5);
  EXPECT_TRUE(std::all_of(w.begin(), w.end(), [](const auto& r) { return r.output_tokens <= 1024; }));
}

// ---- arrivals -------------------------------------------------------------------------------------

TEST(BuildWorkload, PoissonArrivalsStartAtZeroWithExponentialGaps) {
  WorkloadConfig c = synthetic(100'000);
  c.arrivals.kind = ArrivalKind::kPoisson;
  c.arrivals.rate_per_s = 10;
  const Workload w = build_workload(c);
  EXPECT_EQ(w.front().arrival_ns, 0);
  EXPECT_TRUE(sorted_by_arrival(w));
  const Stats g = gap_stats(w);
  EXPECT_NEAR(g.mean, 0.1, 0.001);  // standard error 0.0003
  EXPECT_NEAR(g.stddev / g.mean, 1.0, 0.02);
}

TEST(BuildWorkload, GammaArrivalsHaveTheRequestedRateAndCv) {
  for (const double cv : {0.5, 2.0}) {
    WorkloadConfig c = synthetic(100'000);
    c.arrivals.kind = ArrivalKind::kGamma;
    c.arrivals.rate_per_s = 4;
    c.arrivals.cv = cv;
    const Stats g = gap_stats(build_workload(c));
    EXPECT_NEAR(g.mean, 0.25, 0.25 * 0.02) << "cv " << cv;
    EXPECT_NEAR(g.stddev / g.mean, cv, cv * 0.04) << "cv " << cv;
  }
}

TEST(BuildWorkload, TraceArrivalsAreDividedByTimeScale) {
  WorkloadConfig c = from_trace("azure_conv_2023_splitwise.csv");
  c.arrivals.kind = ArrivalKind::kTrace;
  c.arrivals.time_scale = 2;
  const Workload w = build_workload(c);
  ASSERT_EQ(w.size(), 19366U);
  EXPECT_EQ(w[1].arrival_ns, seconds_to_ns(4.314579 / 2));
  EXPECT_EQ(w.back().arrival_ns, seconds_to_ns(3501.721937 / 2));
  EXPECT_EQ(w[0].prompt_tokens, 374);
}

TEST(BuildWorkload, OutOfOrderTraceArrivalsAreSortedStably) {
  TempDir dir("unordered");
  WorkloadConfig c;
  c.trace_path = dir.write("t.jsonl",
                           "{\"prompt_len\": 1, \"output_len\": 1, \"arrival_s\": 5}\n"
                           "{\"prompt_len\": 2, \"output_len\": 1, \"arrival_s\": 2}\n"
                           "{\"prompt_len\": 3, \"output_len\": 1, \"arrival_s\": 2}\n");
  c.arrivals.kind = ArrivalKind::kTrace;
  const Workload w = build_workload(c);
  ASSERT_EQ(w.size(), 3U);
  EXPECT_EQ(w[0].prompt_tokens, 2);
  EXPECT_EQ(w[1].prompt_tokens, 3);
  EXPECT_EQ(w[2].prompt_tokens, 1);
  EXPECT_EQ(w[2].arrival_ns, 5 * kNsPerS);
}

// ---- repetition -----------------------------------------------------------------------------------

TEST(BuildWorkload, CyclingATraceWithPoissonArrivalsReusesRowsInOrder) {
  WorkloadConfig c = from_trace("sharegpt_8k_llama2.csv");
  c.num_requests = 100'000;
  c.arrivals.kind = ArrivalKind::kPoisson;
  c.arrivals.rate_per_s = 5;
  const Workload cycled = build_workload(c);
  const Workload once = build_workload(from_trace("sharegpt_8k_llama2.csv"));
  ASSERT_EQ(cycled.size(), 100'000U);
  EXPECT_TRUE(sorted_by_arrival(cycled));
  for (std::size_t i = 0; i < cycled.size(); ++i) {
    ASSERT_EQ(cycled[i].prompt_tokens, once[i % once.size()].prompt_tokens) << i;
    ASSERT_EQ(cycled[i].output_tokens, once[i % once.size()].output_tokens) << i;
  }
}

TEST(BuildWorkload, CyclingATraceWithItsTimestampsShiftsEachPassBySpanPlusMeanGap) {
  WorkloadConfig c = from_trace("azure_conv_2023_splitwise.csv");
  c.num_requests = 100'000;
  c.arrivals.kind = ArrivalKind::kTrace;
  const Workload w = build_workload(c);
  ASSERT_EQ(w.size(), 100'000U);
  EXPECT_TRUE(sorted_by_arrival(w));
  const double span_s = 3501.721937;
  const double shift_s = span_s + span_s / 19365.0;
  // Request 19,366 is the first of the second pass; 100,000 = 5 * 19,366 + 3,170.
  EXPECT_EQ(w[19366].arrival_ns, seconds_to_ns(shift_s));
  EXPECT_EQ(w[19366].prompt_tokens, w[0].prompt_tokens);
  EXPECT_EQ(w[19367].arrival_ns, seconds_to_ns(4.314579 + shift_s));
  EXPECT_EQ(w[5 * 19366].arrival_ns, seconds_to_ns(5 * shift_s));
  EXPECT_EQ(w.back().prompt_tokens, w[3169].prompt_tokens);
}

TEST(BuildWorkload, FewerRequestsThanTraceRowsTakesTheFirstRows) {
  WorkloadConfig c = from_trace("sharegpt_8k_llama2.csv");
  c.num_requests = 3;
  const Workload w = build_workload(c);
  ASSERT_EQ(w.size(), 3U);
  EXPECT_EQ(w[0].prompt_tokens, 74);
  EXPECT_EQ(w[1].prompt_tokens, 290);
  EXPECT_EQ(w[2].prompt_tokens, 1402);
}

// ---- determinism and streams ----------------------------------------------------------------------

WorkloadConfig fully_random(std::uint64_t seed) {
  WorkloadConfig c = synthetic(2'000);
  c.seed = seed;
  c.prompt.kind = LengthDistributionKind::kLognormal;
  c.prompt.mean = 800;
  c.prompt.stddev = 400;
  c.output.kind = LengthDistributionKind::kNormal;
  c.output.mean = 200;
  c.output.stddev = 50;
  c.arrivals.kind = ArrivalKind::kGamma;
  c.arrivals.rate_per_s = 3;
  c.arrivals.cv = 1.5;
  return c;
}

TEST(BuildWorkload, SameSeedGivesTheSameWorkloadAndAnotherSeedAnother) {
  EXPECT_TRUE(same(build_workload(fully_random(7)), build_workload(fully_random(7))));
  const Workload a = build_workload(fully_random(7));
  const Workload b = build_workload(fully_random(8));
  std::size_t differing = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].arrival_ns != b[i].arrival_ns || a[i].prompt_tokens != b[i].prompt_tokens) ++differing;
  }
  EXPECT_GT(differing, a.size() * 9 / 10);
}

TEST(BuildWorkload, ChangingOneDistributionLeavesTheOtherStreamsAlone) {
  WorkloadConfig c = fully_random(7);
  const Workload before = build_workload(c);
  c.output.mean = 300;  // only the output stream's draws change meaning
  const Workload after = build_workload(c);
  ASSERT_EQ(before.size(), after.size());
  std::size_t outputs_changed = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    ASSERT_EQ(before[i].arrival_ns, after[i].arrival_ns);
    ASSERT_EQ(before[i].prompt_tokens, after[i].prompt_tokens);
    if (before[i].output_tokens != after[i].output_tokens) ++outputs_changed;
  }
  EXPECT_GT(outputs_changed, 0U);
}

// ---- performance ----------------------------------------------------------------------------------

TEST(BuildWorkload, AMillionTraceRequestsWithPoissonArrivalsBuildQuickly) {
  WorkloadConfig c = from_trace("sharegpt_8k_llama2.csv");
  c.num_requests = 1'000'000;
  c.arrivals.kind = ArrivalKind::kPoisson;
  c.arrivals.rate_per_s = 100;
  const auto start = std::chrono::steady_clock::now();
  WorkloadBuildReport report;
  const Workload w = build_workload(c, &report);
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ perf ] 1,000,000 requests (ShareGPT trace + Poisson) built in %.1f ms\n", elapsed_s * 1e3);
  ASSERT_EQ(w.size(), 1'000'000U);
  EXPECT_NEAR(ns_to_seconds(w.back().arrival_ns), 1e4, 1e4 * 0.01);  // 1e6 requests at 100/s
  EXPECT_LT(elapsed_s, 1.0);  // target < 0.1 s; generous for a loaded or sanitizer CI build
}

// ---- configuration errors -------------------------------------------------------------------------

std::vector<std::string> issue_paths(const WorkloadConfig& c) {
  std::vector<std::string> paths;
  for (const auto& issue : validate_workload_config(c)) paths.push_back(issue.yaml_path);
  return paths;
}

TEST(WorkloadConfigErrors, SyntheticWorkloadWithoutACountIsRejected) {
  WorkloadConfig c = synthetic(0);
  EXPECT_EQ(issue_paths(c), std::vector<std::string>{"workload.num_requests"});
  EXPECT_THROW(build_workload(c), ConfigError);
}

TEST(WorkloadConfigErrors, EveryBadValueIsReportedAtOnce) {
  WorkloadConfig c;  // kTrace lengths without a trace
  c.num_requests = -1;
  c.arrivals.kind = ArrivalKind::kGamma;
  c.arrivals.rate_per_s = 0;
  c.arrivals.cv = std::nan("");
  c.output.min = 0;
  const std::vector<std::string> expected = {"workload.prompt.kind", "workload.output.min", "workload.output.kind",
                                             "workload.arrivals.cv", "workload.arrivals.rate_per_s",
                                             "workload.num_requests"};
  EXPECT_EQ(issue_paths(c), expected);
  try {
    build_workload(c);
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.issues().size(), expected.size());
    EXPECT_NE(std::string(e.what()).find("workload.arrivals.rate_per_s: = 0; must be a finite number > 0"),
              std::string::npos)
        << e.what();
  }
}

TEST(WorkloadConfigErrors, DistributionParametersAreChecked) {
  WorkloadConfig c = synthetic(10);
  c.prompt.kind = LengthDistributionKind::kUniform;
  c.prompt.low = 10.5;
  c.prompt.high = 10.7;  // no integer in [10.5, 10.7]
  c.output.kind = LengthDistributionKind::kLognormal;
  c.output.mean = 0;
  c.output.stddev = -1;
  const std::vector<std::string> expected = {"workload.prompt.high", "workload.output.mean", "workload.output.stddev"};
  EXPECT_EQ(issue_paths(c), expected);
  c = synthetic(10);
  c.prompt.kind = LengthDistributionKind::kEmpirical;
  c.arrivals.kind = ArrivalKind::kTrace;
  c.arrivals.time_scale = 0;
  const std::vector<std::string> expected2 = {"workload.prompt.empirical_trace", "workload.arrivals.kind",
                                              "workload.arrivals.time_scale"};
  EXPECT_EQ(issue_paths(c), expected2);
}

TEST(WorkloadConfigErrors, TraceArrivalsNeedATraceWithTimestamps) {
  WorkloadConfig c = from_trace("sharegpt_8k_llama2.csv");
  c.arrivals.kind = ArrivalKind::kTrace;
  try {
    build_workload(c);
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.issues().size(), 1U);
    EXPECT_EQ(e.issues()[0].yaml_path, "workload.arrivals.kind");
    EXPECT_NE(e.issues()[0].message.find("has no timestamps"), std::string::npos) << e.what();
  }
}

TEST(WorkloadConfigErrors, ATraceWithoutTimeSpanCannotBeRepeatedWithItsTimestamps) {
  TempDir dir("one_row");
  WorkloadConfig c;
  c.trace_path = dir.write("one.jsonl", "{\"prompt_len\": 5, \"output_len\": 6, \"arrival_s\": 1}\n");
  c.arrivals.kind = ArrivalKind::kTrace;
  EXPECT_EQ(build_workload(c).size(), 1U);
  c.num_requests = 2;
  EXPECT_THROW(build_workload(c), InputError);
}

TEST(WorkloadConfigErrors, TraceErrorsPropagateAsInputErrors) {
  WorkloadConfig c;
  c.trace_path = "/nonexistent/trace.csv";
  EXPECT_THROW(build_workload(c), InputError);
  c = synthetic(10);
  c.prompt.kind = LengthDistributionKind::kEmpirical;
  c.prompt.empirical_trace = "/nonexistent/empirical.csv";
  EXPECT_THROW(build_workload(c), InputError);
}

}  // namespace
}  // namespace moesim

namespace moesim {
namespace {

TEST(BuildWorkload, ArrivalsBeyondTheSimulatedTimeRangeAreAConfigError) {
  WorkloadConfig config;
  config.prompt.kind = LengthDistributionKind::kFixed;
  config.prompt.value = 10;
  config.output.kind = LengthDistributionKind::kFixed;
  config.output.value = 10;
  config.num_requests = 3;
  config.arrivals.kind = ArrivalKind::kPoisson;
  config.arrivals.rate_per_s = 1e-12;  // mean gap 1e12 s: beyond int64 nanoseconds
  EXPECT_THROW((void)build_workload(config), ConfigError);
}

// prompt_scale / output_scale: multiply, round to nearest (halves away from zero), clamp to [min, max].
TEST(BuildWorkload, ScalesTraceAndSyntheticLengthsThenRoundsAndClamps) {
  TempDir dir("scale");
  WorkloadConfig c;
  c.trace_path = dir.write("t.jsonl",
                           "{\"prompt_len\": 3, \"output_len\": 10}\n"
                           "{\"prompt_len\": 100, \"output_len\": 1}\n"
                           "{\"prompt_len\": 5, \"output_len\": 7}\n");
  c.prompt_scale = 0.5;  // 1.5 -> 2, 50, 2.5 -> 3
  c.output_scale = 2.5;  // 25, 2.5 -> 3, 17.5 -> 18
  c.output.max = 20;     // 25 -> clamped to 20
  const Workload w = build_workload(c);
  ASSERT_EQ(w.size(), 3U);
  EXPECT_EQ(w[0].prompt_tokens, 2);
  EXPECT_EQ(w[1].prompt_tokens, 50);
  EXPECT_EQ(w[2].prompt_tokens, 3);
  EXPECT_EQ(w[0].output_tokens, 20);
  EXPECT_EQ(w[1].output_tokens, 3);
  EXPECT_EQ(w[2].output_tokens, 18);

  // A tiny scale never goes below min (default 1 token).
  c.prompt_scale = 1e-6;
  for (const RequestSpec& r : build_workload(c)) EXPECT_EQ(r.prompt_tokens, 1);

  // Synthetic: fixed 100 x 1.5 = 150; the arrival times do not move (own random stream).
  WorkloadConfig s = synthetic(50);
  s.arrivals.kind = ArrivalKind::kPoisson;
  s.arrivals.rate_per_s = 4;
  const Workload base = build_workload(s);
  s.prompt_scale = 1.5;
  const Workload scaled = build_workload(s);
  for (std::size_t i = 0; i < scaled.size(); ++i) {
    EXPECT_EQ(scaled[i].prompt_tokens, 150);
    EXPECT_EQ(scaled[i].output_tokens, 10);
    EXPECT_EQ(scaled[i].arrival_ns, base[i].arrival_ns);
  }
}

TEST(BuildWorkload, RefusesNonPositiveScales) {
  WorkloadConfig c = synthetic(2);
  c.prompt_scale = 0;
  c.output_scale = std::nan("");
  const auto issues = validate_workload_config(c);
  ASSERT_EQ(issues.size(), 2U);
  EXPECT_EQ(issues[0].yaml_path, "workload.prompt_scale");
  EXPECT_EQ(issues[1].yaml_path, "workload.output_scale");
  EXPECT_THROW((void)build_workload(c), ConfigError);
}

// A mix: components drawn by weight, lengths from each component's own source, deterministic from the seed.
TEST(BuildWorkload, AMixDrawsComponentsByWeightWithTheirOwnLengths) {
  TempDir dir("mix");
  WorkloadConfig c;
  c.num_requests = 4000;
  c.seed = 9;
  c.arrivals.kind = ArrivalKind::kPoisson;
  c.arrivals.rate_per_s = 10;
  WorkloadComponent chat;
  chat.name = "chat";
  chat.weight = 7;  // weights are normalised: 7 : 3 = 70 % : 30 %
  chat.trace_path = dir.write("chat.jsonl",
                              "{\"prompt_len\": 10, \"output_len\": 20}\n{\"prompt_len\": 11, \"output_len\": 21}\n");
  WorkloadComponent summary;
  summary.name = "summary";
  summary.weight = 3;
  summary.prompt.kind = summary.output.kind = LengthDistributionKind::kFixed;
  summary.prompt.value = 3000;
  summary.output.value = 200;
  c.mix = {chat, summary};
  const Workload w = build_workload(c);
  ASSERT_EQ(w.size(), 4000U);
  std::int64_t chats = 0;
  // The chat trace's rows are used in order, cycling: 10/20, 11/21, 10/20, ... in request order. Requests
  // are sorted by arrival, which here is request order (Poisson arrivals are increasing).
  std::int64_t chat_index = 0;
  for (const RequestSpec& r : w) {
    if (r.component == 0) {
      EXPECT_EQ(r.prompt_tokens, 10 + chat_index % 2);
      EXPECT_EQ(r.output_tokens, 20 + chat_index % 2);
      ++chat_index;
      ++chats;
    } else {
      ASSERT_EQ(r.component, 1);
      EXPECT_EQ(r.prompt_tokens, 3000);
      EXPECT_EQ(r.output_tokens, 200);
    }
  }
  // Binomial(4000, 0.7): mean 2800, sd 29; 5 sd = 145.
  EXPECT_NEAR(static_cast<double>(chats), 2800.0, 145.0);
  // Deterministic; another seed draws other components; the scales apply to every component.
  const Workload again = build_workload(c);
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_EQ(again[i].component, w[i].component);
  c.prompt_scale = 2;
  const Workload scaled = build_workload(c);
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_EQ(scaled[i].prompt_tokens, 2 * w[i].prompt_tokens);
  c.seed = 10;
  const Workload other = build_workload(c);
  std::int64_t differ = 0;
  for (std::size_t i = 0; i < w.size(); ++i) differ += other[i].component != w[i].component ? 1 : 0;
  EXPECT_GT(differ, 1000);
}

TEST(BuildWorkload, AMixNeedsPositiveWeightsLengthsAndACount) {
  WorkloadConfig c;
  c.num_requests = 0;
  WorkloadComponent a;
  a.name = "a";
  a.weight = 0;  // and prompt/output default to kTrace without a trace
  c.mix = {a};
  std::vector<std::string> paths;
  for (const ConfigIssue& issue : validate_workload_config(c)) paths.push_back(issue.yaml_path);
  EXPECT_EQ(paths, (std::vector<std::string>{"workload.mix[0].weight", "workload.mix[0].prompt.kind",
                                             "workload.mix[0].output.kind", "workload.mix", "workload.num_requests"}));
}

}  // namespace
}  // namespace moesim
