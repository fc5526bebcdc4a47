#include "moesim/metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace moesim {
namespace {

TEST(Distribution, PercentilesInterpolateLinearlyBetweenClosestRanksAsNumpyDoes) {
  // numpy.percentile([1, 2, 3, 4, 10], [50, 90, 99]) = 3, 7.6, 9.76
  const Distribution d = describe_distribution({10, 1, 4, 2, 3});
  EXPECT_EQ(d.count, 5);
  EXPECT_DOUBLE_EQ(d.mean, 4.0);
  EXPECT_DOUBLE_EQ(d.p50, 3.0);
  EXPECT_DOUBLE_EQ(d.p90, 7.6);
  EXPECT_DOUBLE_EQ(d.p99, 9.76);
  EXPECT_DOUBLE_EQ(d.max, 10.0);
}

TEST(Distribution, LargeSamplesGiveExactlyWhatAFullSortGives) {
  // Above 4,096 values a radix sort is used: the order, hence every statistic, must equal std::sort's.
  std::mt19937_64 engine(7);
  std::vector<double> values(100000);
  for (auto& v : values) v = static_cast<double>(engine() % 1000000) / 997.0 + static_cast<double>(engine() % 3);
  values[17] = 0.0;
  values[99] = 1e-300;
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const Distribution d = describe_distribution(values);
  double mean = 0;
  for (const double v : sorted) mean += v;
  mean /= static_cast<double>(sorted.size());
  EXPECT_EQ(d.mean, mean);  // bit-identical: same summation order
  EXPECT_EQ(d.p50, quantile_sorted(sorted, 0.5));
  EXPECT_EQ(d.p99, quantile_sorted(sorted, 0.99));
  EXPECT_EQ(d.max, sorted.back());
}

TEST(Distribution, EmptySampleIsAllZero) {
  const Distribution d = describe_distribution({});
  EXPECT_EQ(d.count, 0);
  EXPECT_EQ(d.p99, 0.0);
}

StepPlan make_plan(int prefill_seqs, int prefill_tokens, int decode_seqs) {
  StepPlan plan;
  plan.shape.num_prefill_seqs = prefill_seqs;
  plan.shape.prefill_tokens = prefill_tokens;
  plan.shape.num_decode_seqs = decode_seqs;
  return plan;
}

TEST(MetricsRecorder, CountsStepKindsAndWeightsBatchSizeAndKvByStepTime) {
  RecorderOptions options;
  options.max_batch_size = 8;
  options.num_replicas = 1;
  options.blocks_per_replica = 100;
  options.time_series_interval_ns = kNsPerMs;
  MetricsRecorder recorder(options);
  const StepPlan prefill = make_plan(2, 100, 0);
  const StepPlan decode = make_plan(0, 0, 4);
  StepRecord r;
  r.total_blocks = 100;
  r.plan = &prefill;
  r.start_ns = 0;
  r.duration_ns = 3 * kNsPerMs;
  r.used_blocks = 10;
  recorder.on_step(r);
  r.plan = &decode;
  r.start_ns = 3 * kNsPerMs;
  r.duration_ns = kNsPerMs;
  r.used_blocks = 50;
  recorder.on_step(r);
  recorder.finish(4 * kNsPerMs);
  EXPECT_EQ(recorder.prefill_steps(), 1);
  EXPECT_EQ(recorder.decode_only_steps(), 1);
  EXPECT_DOUBLE_EQ(recorder.seq_time_product_s() / recorder.busy_time_s(), (2 * 3.0 + 4 * 1.0) / 4.0);
  EXPECT_DOUBLE_EQ(recorder.kv_time_product_s() / recorder.busy_time_s(), (0.1 * 3 + 0.5 * 1) / 4.0);
  EXPECT_DOUBLE_EQ(recorder.kv_utilization_peak(), 0.5);
  // Time series: samples at 0..4 ms; a sample at t shows the state after the last step ending <= t.
  const TimeSeriesColumns& ts = recorder.time_series();
  ASSERT_EQ(ts.time_s.size(), 5U);
  EXPECT_EQ(ts.kv_blocks_used, (std::vector<std::int64_t>{0, 0, 0, 10, 50}));
  EXPECT_DOUBLE_EQ(ts.kv_utilization[4], 0.5);
  EXPECT_EQ(recorder.iterations().duration_s.size(), 2U);
}

TEST(MetricsRecorder, SamplesEveryNthStepButKeepsTheSummaryExact) {
  RecorderOptions options;
  options.iteration_sample_every = 3;
  options.blocks_per_replica = 10;
  MetricsRecorder recorder(options);
  const StepPlan decode = make_plan(0, 0, 2);
  StepRecord r;
  r.plan = &decode;
  r.total_blocks = 10;
  for (int i = 0; i < 10; ++i) {
    r.start_ns = i * kNsPerMs;
    r.duration_ns = kNsPerMs;
    recorder.on_step(r);
  }
  EXPECT_EQ(recorder.iterations().duration_s.size(), 4U);  // steps 0, 3, 6, 9
  EXPECT_EQ(recorder.steps(), 10);
  EXPECT_EQ(recorder.batch_size_histogram()[2], 10);
}

// Streaming (issue 13): with sinks, the per-step rows (filled by index into block-sized columns) and the
// time-series samples reach the sinks in blocks, the last one partial at finish(), and concatenated they
// are exactly what a recorder without sinks keeps; nothing is left in memory afterwards.
TEST(MetricsRecorder, StreamedRowsAndSamplesConcatenateToTheRowsAndSamplesKeptInMemory) {
  auto options_for = [](bool streamed, std::vector<IterationColumns>& blocks, std::vector<TimeSeriesColumns>& series) {
    RecorderOptions options;
    options.max_batch_size = 8;
    options.blocks_per_replica = 100;
    options.time_series_interval_ns = kNsPerMs / 2;  // 2 samples per step of 1 ms
    if (streamed) {
      options.iteration_block_rows = 4;
      options.iteration_sink = [&blocks](const IterationColumns& rows) { blocks.push_back(rows); };
      options.time_series_block_rows = 5;
      options.time_series_sink = [&series](const TimeSeriesColumns& rows) { series.push_back(rows); };
    }
    return options;
  };
  std::vector<IterationColumns> blocks;
  std::vector<TimeSeriesColumns> series;
  std::vector<IterationColumns> unused_blocks;
  std::vector<TimeSeriesColumns> unused_series;
  MetricsRecorder streamed(options_for(true, blocks, series));
  MetricsRecorder kept(options_for(false, unused_blocks, unused_series));
  constexpr int kSteps = 11;  // 2 full blocks of 4 rows + 3; 22 samples = 4 blocks of 5 + 2 (+1 at the end)
  std::vector<StepPlan> plans;
  for (int i = 0; i < kSteps; ++i) plans.push_back(make_plan(i % 3 == 0 ? 1 : 0, i % 3 == 0 ? 100 + i : 0, 1 + i % 4));
  for (int i = 0; i < kSteps; ++i) {
    StepRecord r;
    r.plan = &plans[static_cast<std::size_t>(i)];
    r.step_index = i;
    r.start_ns = i * kNsPerMs;
    r.duration_ns = kNsPerMs;
    r.used_blocks = 3 * i;
    r.total_blocks = 100;
    r.running = 1 + i % 4;
    r.waiting = i % 2;
    streamed.on_step(r);
    kept.on_step(r);
  }
  streamed.finish(kSteps * kNsPerMs);
  kept.finish(kSteps * kNsPerMs);
  EXPECT_EQ(streamed.iterations().size(), 0U);
  EXPECT_EQ(streamed.time_series().size(), 0U);
  EXPECT_EQ(streamed.iteration_rows_streamed(), kSteps);
  EXPECT_EQ(static_cast<std::size_t>(streamed.time_series_rows_streamed()), kept.time_series().size());
  ASSERT_EQ(blocks.size(), 3U);
  EXPECT_EQ(blocks.back().size(), 3U);
  IterationColumns rows;
  for (const IterationColumns& b : blocks) {
    EXPECT_EQ(b.step_index.size(), b.size());
    EXPECT_EQ(b.preempted.size(), b.size());
    rows.step_index.insert(rows.step_index.end(), b.step_index.begin(), b.step_index.end());
    rows.start_s.insert(rows.start_s.end(), b.start_s.begin(), b.start_s.end());
    rows.prefill_tokens.insert(rows.prefill_tokens.end(), b.prefill_tokens.begin(), b.prefill_tokens.end());
    rows.num_decode_seqs.insert(rows.num_decode_seqs.end(), b.num_decode_seqs.begin(), b.num_decode_seqs.end());
    rows.kv_blocks_used.insert(rows.kv_blocks_used.end(), b.kv_blocks_used.begin(), b.kv_blocks_used.end());
    rows.waiting.insert(rows.waiting.end(), b.waiting.begin(), b.waiting.end());
  }
  const IterationColumns& all = kept.iterations();
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kSteps));
  EXPECT_EQ(rows.step_index, all.step_index);
  EXPECT_EQ(rows.start_s, all.start_s);
  EXPECT_EQ(rows.prefill_tokens, all.prefill_tokens);
  EXPECT_EQ(rows.num_decode_seqs, all.num_decode_seqs);
  EXPECT_EQ(rows.kv_blocks_used, all.kv_blocks_used);
  EXPECT_EQ(rows.waiting, all.waiting);
  ASSERT_GE(series.size(), 4U);
  TimeSeriesColumns samples;
  for (const TimeSeriesColumns& b : series) {
    EXPECT_LE(b.size(), 5U);
    samples.time_s.insert(samples.time_s.end(), b.time_s.begin(), b.time_s.end());
    samples.kv_blocks_used.insert(samples.kv_blocks_used.end(), b.kv_blocks_used.begin(), b.kv_blocks_used.end());
    samples.kv_utilization.insert(samples.kv_utilization.end(), b.kv_utilization.begin(), b.kv_utilization.end());
    samples.running.insert(samples.running.end(), b.running.begin(), b.running.end());
  }
  EXPECT_EQ(samples.time_s, kept.time_series().time_s);
  EXPECT_EQ(samples.kv_blocks_used, kept.time_series().kv_blocks_used);
  EXPECT_EQ(samples.kv_utilization, kept.time_series().kv_utilization);
  EXPECT_EQ(samples.running, kept.time_series().running);
}

TEST(Summarize, DefinesLatenciesThroughputAndCostFromRequestTimes) {
  SimulationOutcome outcome;
  RequestState a;
  a.prompt_tokens = 100;
  a.target_output_tokens = a.generated = 11;
  a.status = RequestStatus::kFinished;
  a.arrival_ns = 0;
  a.first_scheduled_ns = kNsPerMs;
  a.first_token_ns = 2 * kNsPerMs;
  a.completion_ns = 12 * kNsPerMs;  // 10 more tokens in 10 ms: TPOT 1 ms
  RequestState b = a;
  b.status = RequestStatus::kRejected;
  b.generated = 0;
  outcome.requests = {a, b};
  outcome.end_ns = 12 * kNsPerMs;
  RecorderOptions options;
  const MetricsRecorder recorder(options);
  const RunSummary s = summarize(outcome, recorder, 8, 3.6);
  EXPECT_EQ(s.finished, 1);
  EXPECT_EQ(s.rejected, 1);
  EXPECT_DOUBLE_EQ(s.ttft_s.mean, 0.002);
  EXPECT_DOUBLE_EQ(s.tpot_s.mean, 0.001);
  EXPECT_DOUBLE_EQ(s.e2e_s.mean, 0.012);
  EXPECT_DOUBLE_EQ(s.makespan_s, 0.012);
  EXPECT_DOUBLE_EQ(s.output_tokens_per_s, 11 / 0.012);
  // 8 GPUs x 3.6 USD/h x 0.012 s = 9.6e-5 USD for 11 tokens.
  EXPECT_NEAR(s.cost_usd, 8 * 3.6 * 0.012 / 3600, 1e-15);
  EXPECT_NEAR(s.cost_per_million_output_tokens_usd, s.cost_usd / 11e-6, 1e-9);
}

// Goodput (DistServe's definition): finished requests meeting every SLO per second. Hand-worked:
//   a: TTFT 2 ms, TPOT 1 ms     b: TTFT 5 ms, TPOT 1 ms     c: TTFT 2 ms, TPOT 3 ms
//   d: one output token (no TPOT), TTFT 2 ms                e: rejected (100 + 11 requested tokens)
// makespan 0 .. 32 ms = 0.032 s.
TEST(Summarize, GoodputCountsFinishedRequestsMeetingEverySlo) {
  auto finished = [](SimTimeNs ttft_ms, SimTimeNs tpot_ms, std::int32_t outputs) {
    RequestState r;
    r.prompt_tokens = 100;
    r.target_output_tokens = r.generated = outputs;
    r.status = RequestStatus::kFinished;
    r.first_scheduled_ns = 0;
    r.first_token_ns = ttft_ms * kNsPerMs;
    r.completion_ns = r.first_token_ns + tpot_ms * kNsPerMs * (outputs - 1);
    return r;
  };
  SimulationOutcome outcome;
  RequestState rejected = finished(2, 1, 11);
  rejected.status = RequestStatus::kRejected;
  rejected.generated = 0;
  outcome.requests = {finished(2, 1, 11), finished(5, 1, 11), finished(2, 3, 11), finished(2, 0, 1), rejected};
  outcome.end_ns = 32 * kNsPerMs;  // c: 2 + 3 x 10 = 32 ms
  const MetricsRecorder recorder(RecorderOptions{});

  // No SLO: every finished request counts, goodput = throughput.
  const RunSummary none = summarize(outcome, recorder, 1, 1);
  EXPECT_EQ(none.slo_met_requests, 4);
  EXPECT_DOUBLE_EQ(none.goodput_requests_per_s, none.throughput_requests_per_s);
  EXPECT_DOUBLE_EQ(none.goodput_requests_per_s, 4 / 0.032);
  EXPECT_DOUBLE_EQ(none.slo_attainment, 4.0 / 5.0);

  // TTFT <= 3 ms and TPOT <= 2 ms: a and d (d has no TPOT, only its TTFT is checked).
  SloConfig slo;
  slo.ttft_s = 0.003;
  slo.tpot_s = 0.002;
  const RunSummary both = summarize(outcome, recorder, 1, 1, slo);
  EXPECT_EQ(both.slo_met_requests, 2);
  EXPECT_DOUBLE_EQ(both.goodput_requests_per_s, 2 / 0.032);
  EXPECT_DOUBLE_EQ(both.slo_attainment, 2.0 / 5.0);

  // TTFT only: a, c and d.
  SloConfig ttft_only;
  ttft_only.ttft_s = 0.003;
  EXPECT_EQ(summarize(outcome, recorder, 1, 1, ttft_only).slo_met_requests, 3);

  // Rejected share of requested tokens: (100 + 11) / (3 x 111 + 101 + 111).
  EXPECT_EQ(both.rejected_tokens, 111);
  EXPECT_EQ(both.requested_tokens, 3 * 111 + 101 + 111);
  EXPECT_DOUBLE_EQ(both.rejected_token_share, 111.0 / 545.0);
}

// Per-component metrics: the same definitions over each component's requests, rates over the whole makespan.
TEST(Summarize, ComponentsSplitTheRequestsAndAddUpToTheRun) {
  auto finished = [](SimTimeNs ttft_ms, SimTimeNs tpot_ms, std::int32_t outputs) {
    RequestState r;
    r.prompt_tokens = 100;
    r.target_output_tokens = r.generated = outputs;
    r.status = RequestStatus::kFinished;
    r.first_scheduled_ns = 0;
    r.first_token_ns = ttft_ms * kNsPerMs;
    r.completion_ns = r.first_token_ns + tpot_ms * kNsPerMs * (outputs - 1);
    return r;
  };
  SimulationOutcome outcome;
  RequestState rejected = finished(2, 1, 11);
  rejected.status = RequestStatus::kRejected;
  rejected.generated = 0;
  outcome.requests = {finished(2, 1, 11), finished(5, 1, 11), finished(2, 3, 11), rejected};
  outcome.end_ns = 32 * kNsPerMs;
  const std::vector<std::int32_t> component{0, 1, 0, 1};
  SloConfig slo;
  slo.ttft_s = 0.003;
  const RunSummary whole = summarize(outcome, MetricsRecorder(RecorderOptions{}), 1, 1, slo);
  const auto parts = summarize_components(outcome, component, {"a", "b"}, whole);
  ASSERT_EQ(parts.size(), 2U);
  EXPECT_EQ(parts[0].num_requests, 2);
  EXPECT_EQ(parts[0].finished, 2);
  EXPECT_EQ(parts[0].slo_met_requests, 2);  // TTFT 2 ms, 2 ms
  EXPECT_EQ(parts[1].finished, 1);
  EXPECT_EQ(parts[1].rejected, 1);
  EXPECT_EQ(parts[1].slo_met_requests, 0);  // TTFT 5 ms
  EXPECT_DOUBLE_EQ(parts[0].throughput_requests_per_s, 2 / 0.032);
  EXPECT_DOUBLE_EQ(parts[0].throughput_requests_per_s + parts[1].throughput_requests_per_s,
                   whole.throughput_requests_per_s);
  EXPECT_DOUBLE_EQ(parts[0].goodput_requests_per_s + parts[1].goodput_requests_per_s, whole.goodput_requests_per_s);
  EXPECT_DOUBLE_EQ(parts[0].tpot_s.p50, 0.002);  // median of 1 ms and 3 ms
  EXPECT_DOUBLE_EQ(parts[1].ttft_s.p50, 0.005);
  EXPECT_DOUBLE_EQ(parts[1].mean_output_tokens, 11.0);
}

}  // namespace
}  // namespace moesim
