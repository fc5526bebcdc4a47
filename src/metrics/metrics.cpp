#include "moesim/metrics/metrics.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <cmath>
#include <numeric>

#include "moesim/common/errors.hpp"

namespace moesim {

double quantile_sorted(std::span<const double> sorted, double q) {
  if (sorted.empty()) return 0.0;
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto lower = static_cast<std::size_t>(std::floor(position));
  const std::size_t upper = std::min(lower + 1, sorted.size() - 1);
  const double fraction = position - static_cast<double>(lower);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction;
}

namespace {

// Sorts doubles that are all >= 0 by an LSD radix sort on their bit patterns:
// for non-negative IEEE-754 doubles the unsigned bit pattern orders like the value, so the result is the
// same sequence std::sort gives, in O(n) (8 passes of 8 bits). Negative values (never produced by the
// metrics) fall back to std::sort. `scratch` is the one extra buffer (resized to values.size(); pass the
// same one to sort several distributions with one allocation); the passes alternate between the two
// buffers, which is why both are vectors that may be swapped.
void sort_values(std::vector<double>& values, std::vector<double>& scratch) {
  if (values.size() < 4096 || std::any_of(values.begin(), values.end(), [](double v) { return !(v >= 0.0); })) {
    std::sort(values.begin(), values.end());
    return;
  }
  scratch.resize(values.size());
  for (int shift = 0; shift < 64; shift += 8) {
    std::array<std::size_t, 257> offsets{};
    for (const double v : values) ++offsets[((std::bit_cast<std::uint64_t>(v) >> shift) & 0xFF) + 1];
    // Every key has the same byte here: the (stable) pass would not move anything.
    if (std::any_of(offsets.begin() + 1, offsets.end(), [&](std::size_t count) { return count == values.size(); })) {
      continue;
    }
    for (std::size_t b = 1; b < offsets.size(); ++b) offsets[b] += offsets[b - 1];
    for (const double v : values) scratch[offsets[(std::bit_cast<std::uint64_t>(v) >> shift) & 0xFF]++] = v;
    values.swap(scratch);
  }
}

// Sorts `values` (scratch as in sort_values) and describes them.
Distribution describe_in_place(std::vector<double>& values, std::vector<double>& scratch) {
  Distribution d;
  if (values.empty()) return d;
  sort_values(values, scratch);
  d.count = static_cast<std::int64_t>(values.size());
  d.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  d.p50 = quantile_sorted(values, 0.50);
  d.p90 = quantile_sorted(values, 0.90);
  d.p99 = quantile_sorted(values, 0.99);
  d.max = values.back();
  return d;
}

}  // namespace

Distribution describe_distribution(std::vector<double> values) {
  std::vector<double> scratch;
  return describe_in_place(values, scratch);
}

namespace {

// Quantile of a histogram (value = bin index), with the same linear interpolation as quantile_sorted.
double histogram_quantile(const std::vector<std::int64_t>& histogram, double q) {
  const std::int64_t total = std::accumulate(histogram.begin(), histogram.end(), std::int64_t{0});
  if (total == 0) return 0.0;
  const double position = q * static_cast<double>(total - 1);
  const auto lower_rank = static_cast<std::int64_t>(std::floor(position));
  const double fraction = position - static_cast<double>(lower_rank);
  auto value_at_rank = [&](std::int64_t rank) {
    std::int64_t seen = 0;
    for (std::size_t value = 0; value < histogram.size(); ++value) {
      seen += histogram[value];
      if (seen > rank) return static_cast<double>(value);
    }
    return static_cast<double>(histogram.size() - 1);
  };
  const double lower = value_at_rank(lower_rank);
  const double upper = value_at_rank(std::min(lower_rank + 1, total - 1));
  return lower + (upper - lower) * fraction;
}

double histogram_mean(const std::vector<std::int64_t>& histogram) {
  double weighted = 0;
  std::int64_t total = 0;
  for (std::size_t value = 0; value < histogram.size(); ++value) {
    weighted += static_cast<double>(value) * static_cast<double>(histogram[value]);
    total += histogram[value];
  }
  return total == 0 ? 0.0 : weighted / static_cast<double>(total);
}

}  // namespace

MetricsRecorder::MetricsRecorder(const RecorderOptions& options)
    : options_(options),
      sums_(options.max_batch_size),
      replica_running_(static_cast<std::size_t>(options.num_replicas), 0),
      replica_waiting_(static_cast<std::size_t>(options.num_replicas), 0),
      replica_used_(static_cast<std::size_t>(options.num_replicas), 0),
      replica_total_(static_cast<std::size_t>(options.num_replicas), options.blocks_per_replica),
      total_blocks_(options.blocks_per_replica * options.num_replicas) {
  check_invariant(options.iteration_sample_every >= 1, "iteration sampling interval >= 1");
  check_invariant(options.time_series_interval_ns > 0, "time series interval > 0");
  if (options.per_iteration && options.iteration_sink) {
    // Streamed: one block of rows is all the table ever holds, so reserve it now and on_step never
    // reallocates (nor holds a block twice while copying it).
    check_invariant(options.iteration_block_rows > 0, "iteration block rows > 0");
    // The columns are sized to the block once and filled by index (write_row): one bounds check
    // per row instead of one per column (issue 13: the 14 push_backs were the largest part of writing a
    // per-step row). iterations() is whole again after finish().
    iterations_.resize(options.iteration_block_rows, lockstep());
  }
  if (options.time_series && options.time_series_sink) {
    check_invariant(options.time_series_block_rows > 0, "time series block rows > 0");
    const std::size_t n = options.time_series_block_rows;
    TimeSeriesColumns& ts = time_series_;
    ts.time_s.reserve(n);
    ts.running.reserve(n);
    ts.waiting.reserve(n);
    ts.kv_blocks_used.reserve(n);
    ts.kv_utilization.reserve(n);
  }
}

void TimeSeriesColumns::clear() {
  time_s.clear();
  running.clear();
  waiting.clear();
  kv_blocks_used.clear();
  kv_utilization.clear();
}

void IterationColumns::resize(std::size_t rows, bool with_group_step) {
  for (auto* column : {&replica, &num_prefill_seqs, &num_decode_seqs, &preempted}) column->resize(rows);
  for (auto* column : {&step_index, &prefill_tokens, &decode_context_tokens, &kv_blocks_used, &kv_blocks_total, &waiting,
                       &running}) {
    column->resize(rows);
  }
  start_s.resize(rows);
  duration_s.resize(rows);
  if (with_group_step) group_step.resize(rows);
}

void IterationColumns::clear() {
  for (auto* column : {&replica, &num_prefill_seqs, &num_decode_seqs, &preempted}) column->clear();
  for (auto* column : {&step_index, &prefill_tokens, &decode_context_tokens, &kv_blocks_used, &kv_blocks_total, &waiting,
                       &running, &group_step}) {
    column->clear();
  }
  start_s.clear();
  duration_s.clear();
}

void MetricsRecorder::emit_time_series_until(SimTimeNs t) {
  while (next_sample_ns_ < t) {
    time_series_.time_s.push_back(ns_to_seconds(next_sample_ns_));
    time_series_.running.push_back(total_running_);
    time_series_.waiting.push_back(total_waiting_);
    time_series_.kv_blocks_used.push_back(total_used_);
    time_series_.kv_utilization.push_back(
        total_blocks_ > 0 ? static_cast<double>(total_used_) / static_cast<double>(total_blocks_) : 0.0);
    next_sample_ns_ += options_.time_series_interval_ns;
    if (options_.time_series_sink && time_series_.size() >= options_.time_series_block_rows) {
      // The block goes to the file; the columns keep their capacity, so later blocks allocate nothing.
      options_.time_series_sink(time_series_);
      time_series_rows_streamed_ += static_cast<std::int64_t>(time_series_.size());
      time_series_.clear();
    }
  }
}

void MetricsRecorder::write_row(std::size_t row, const StepRecord& record, double duration_s) {
  const StepPlan& plan = *record.plan;
  const StepShape& shape = plan.shape;
  IterationColumns& it = iterations_;
  it.replica[row] = record.replica;
  it.step_index[row] = record.step_index;
  it.start_s[row] = ns_to_seconds(record.start_ns);
  it.duration_s[row] = duration_s;
  it.num_prefill_seqs[row] = shape.num_prefill_seqs;
  it.prefill_tokens[row] = shape.prefill_tokens;
  it.num_decode_seqs[row] = shape.num_decode_seqs;
  it.decode_context_tokens[row] = shape.decode_context_tokens;
  it.kv_blocks_used[row] = record.used_blocks;
  it.kv_blocks_total[row] = record.total_blocks;
  it.waiting[row] = record.waiting;
  it.running[row] = record.running;
  it.preempted[row] = plan.preempted;
  if (lockstep()) it.group_step[row] = record.group_step;
}

void MetricsRecorder::add_pending_breakdown() {
  if (!breakdown_pending_) return;
  for (std::size_t i = 0; i < kOperatorCount; ++i) operator_time_s_[i] += scratch_breakdown_[i];
  breakdown_pending_ = false;
}

void MetricsRecorder::on_step(const StepRecord& record) {
  // The row-sampling rule below counts steps before this one.
  if (options_.per_iteration || options_.time_series) record_tables(record);
  sums_.add(record.plan->shape, record.duration_ns, record.used_blocks, record.total_blocks);
}

// The per-iteration rows and the time series (runs that keep tables; the others never call on_step,
// see summary_only_sums).
void MetricsRecorder::record_tables(const StepRecord& record) {
  const StepPlan& plan = *record.plan;
  const StepShape& shape = plan.shape;
  const double duration_s = ns_to_seconds(record.duration_ns);
  if (options_.per_iteration &&
      (options_.iteration_sample_every == 1 || sums_.steps % options_.iteration_sample_every == 0)) {
    if (options_.iteration_sink) {
      // Streamed: the row goes to index streamed_fill_ of the block-sized columns; a full block goes to the
      // sink and is refilled from the start (nothing allocated after the constructor).
      write_row(streamed_fill_, record, duration_s);
      if (++streamed_fill_ == options_.iteration_block_rows) {
        options_.iteration_sink(iterations_);
        iteration_rows_streamed_ += static_cast<std::int64_t>(streamed_fill_);
        streamed_fill_ = 0;
      }
    } else {
      const std::size_t row = iterations_.size();
      iterations_.resize(row + 1, lockstep());
      write_row(row, record, duration_s);
    }
    if (options_.latency != nullptr) {
      // This step's breakdown is added at the next recorded step (or on_group_step / finish): read right
      // after step_breakdown wrote it, the values waited for its (wide) stores to complete, which cost
      // more than the rest of the per-step row (issue 13). Same additions in the same order.
      add_pending_breakdown();
      options_.latency->step_breakdown(shape, scratch_breakdown_);
      breakdown_pending_ = true;
    }
  }

  if (options_.time_series) {
    // Grid samples strictly before this step's end show the state before it; update afterwards.
    emit_time_series_until(record.start_ns + record.duration_ns);
    const auto r = static_cast<std::size_t>(record.replica);
    total_running_ += record.running - replica_running_[r];
    total_waiting_ += record.waiting - replica_waiting_[r];
    total_used_ += record.used_blocks - replica_used_[r];
    total_blocks_ += record.total_blocks - replica_total_[r];
    replica_running_[r] = record.running;
    replica_waiting_[r] = record.waiting;
    replica_used_[r] = record.used_blocks;
    replica_total_[r] = record.total_blocks;
  }
}

void MetricsRecorder::on_group_step(const GroupStepRecord& record) {
  const MoeStepLoad& load = *record.moe;
  ++group_step_count_;
  dummy_rank_steps_ += record.dummy_ranks;
  moe_experts_time_s_ += load.experts_s;
  dispatch_combine_time_s_ += load.dispatch_combine_s;
  std::int64_t routed = 0;
  std::int32_t most = 0;
  for (const std::int32_t t : load.gpu_tokens) {
    routed += t;
    most = std::max(most, t);
  }
  const double mean = load.gpu_tokens.empty() ? 0.0 : static_cast<double>(routed) / static_cast<double>(load.gpu_tokens.size());
  const double imbalance = mean > 0 ? static_cast<double>(most) / mean : 1.0;
  load_imbalance_sum_ += imbalance;
  add_pending_breakdown();  // keeps the order of the additions to operator_time_s_
  if (options_.per_iteration && (group_step_count_ - 1) % options_.iteration_sample_every == 0) {
    GroupStepColumns& g = group_steps_;
    g.group_step.push_back(record.group_step);
    g.start_s.push_back(ns_to_seconds(record.start_ns));
    g.duration_s.push_back(ns_to_seconds(record.duration_ns));
    g.active_ranks.push_back(record.active_ranks);
    g.dummy_ranks.push_back(record.dummy_ranks);
    g.slowest_rank.push_back(record.slowest_rank);
    g.slowest_rank_s.push_back(record.slowest_rank_s);
    g.tokens.push_back(record.tokens);
    g.moe_experts_s.push_back(load.experts_s);
    g.dispatch_combine_s.push_back(load.dispatch_combine_s);
    g.busiest_gpu.push_back(load.busiest_rank);
    g.busiest_gpu_tokens.push_back(load.gpu_tokens[static_cast<std::size_t>(load.busiest_rank)]);
    g.busiest_gpu_experts.push_back(load.gpu_experts[static_cast<std::size_t>(load.busiest_rank)]);
    g.load_imbalance.push_back(imbalance);
    for (std::size_t i = 0; i < load.gpu_tokens.size(); ++i) {
      expert_load_.group_step.push_back(record.group_step);
      expert_load_.gpu.push_back(static_cast<std::int32_t>(i));
      expert_load_.routed_tokens.push_back(load.gpu_tokens[i]);
      expert_load_.experts_touched.push_back(load.gpu_experts[i]);
    }
    operator_time_s_[static_cast<std::size_t>(Operator::kMoeExperts)] += load.experts_s;
    operator_time_s_[static_cast<std::size_t>(Operator::kEpAllToAll)] += load.dispatch_combine_s;
  }
}

void MetricsRecorder::finish(SimTimeNs end_ns) {
  add_pending_breakdown();
  if (options_.time_series) emit_time_series_until(end_ns + 1);
  if (time_series_rows_streamed_ > 0 && time_series_.size() > 0) {
    options_.time_series_sink(time_series_);
    time_series_rows_streamed_ += static_cast<std::int64_t>(time_series_.size());
    time_series_.clear();
  }
  if (options_.per_iteration && options_.iteration_sink && !streamed_finished_) {
    // The block-sized columns shrink to the rows of the last, partial block (capacity kept).
    streamed_finished_ = true;
    iterations_.resize(streamed_fill_, lockstep());
    streamed_fill_ = 0;
  }
  if (iteration_rows_streamed_ > 0 && iterations_.size() > 0) {
    options_.iteration_sink(iterations_);
    iteration_rows_streamed_ += static_cast<std::int64_t>(iterations_.size());
    iterations_.clear();
  }
}

namespace {

// TPOT of a finished request with >= 2 output tokens: (completion - first token) / (outputs - 1).
double tpot_of(const RequestState& r) {
  return ns_to_seconds(r.completion_ns - r.first_token_ns) / static_cast<double>(r.generated - 1);
}

}  // namespace

RunSummary summarize(const SimulationOutcome& outcome, const MetricsRecorder& recorder, double gpus,
                     double cost_per_gpu_hour_usd, const SloConfig& slo) {
  RunSummary s;
  s.slo = slo;
  s.num_requests = static_cast<std::int64_t>(outcome.requests.size());
  s.preemptions = outcome.preemptions;
  s.steps = outcome.steps;
  s.prefill_steps = recorder.prefill_steps();
  s.decode_only_steps = recorder.decode_only_steps();
  s.mixed_steps = recorder.mixed_steps();
  s.computed_tokens = outcome.computed_tokens;
  s.interrupted = outcome.interrupted;
  SimTimeNs first_arrival = outcome.requests.empty() ? 0 : outcome.requests.front().arrival_ns;
  for (const RequestState& r : outcome.requests) {
    first_arrival = std::min(first_arrival, r.arrival_ns);
    if (r.preemptions > 0) ++s.preempted_requests;
    const std::int64_t requested = static_cast<std::int64_t>(r.prompt_tokens) + r.target_output_tokens;
    s.requested_tokens += requested;
    switch (r.status) {
      case RequestStatus::kFinished: {
        ++s.finished;
        s.input_tokens += r.prompt_tokens;
        s.output_tokens += r.generated;
        const double ttft_s = ns_to_seconds(r.first_token_ns - r.arrival_ns);
        bool met = !slo.ttft_s || ttft_s <= *slo.ttft_s;
        if (r.generated > 1) met = met && (!slo.tpot_s || tpot_of(r) <= *slo.tpot_s);
        if (met) ++s.slo_met_requests;
        break;
      }
      case RequestStatus::kRejected:
        ++s.rejected;
        s.rejected_tokens += requested;
        break;
      case RequestStatus::kAborted:
        ++s.aborted;
        break;
      default:
        break;
    }
  }
  s.makespan_s = ns_to_seconds(outcome.end_ns - first_arrival);
  if (s.makespan_s > 0) {
    s.throughput_requests_per_s = static_cast<double>(s.finished) / s.makespan_s;
    s.input_tokens_per_s = static_cast<double>(s.input_tokens) / s.makespan_s;
    s.output_tokens_per_s = static_cast<double>(s.output_tokens) / s.makespan_s;
    s.total_tokens_per_s = s.input_tokens_per_s + s.output_tokens_per_s;
    s.goodput_requests_per_s = static_cast<double>(s.slo_met_requests) / s.makespan_s;
  }
  if (s.requested_tokens > 0) {
    s.rejected_token_share = static_cast<double>(s.rejected_tokens) / static_cast<double>(s.requested_tokens);
  }
  if (s.num_requests > 0) {
    s.slo_attainment = static_cast<double>(s.slo_met_requests) / static_cast<double>(s.num_requests);
  }
  // The four latency distributions of finished requests, one after the other through one value buffer
  // and one sort buffer (2 x 8 bytes per finished request at most, instead of 4 lists plus the sort's):
  // with 1M requests this was the run's peak of memory (issue 13). Same values, same order, same results.
  {
    std::vector<double> values;
    std::vector<double> scratch;
    values.reserve(static_cast<std::size_t>(s.finished));
    auto describe = [&](auto&& include, auto&& value_of) {
      values.clear();
      for (const RequestState& r : outcome.requests) {
        if (r.status == RequestStatus::kFinished && include(r)) values.push_back(value_of(r));
      }
      return describe_in_place(values, scratch);
    };
    auto all = [](const RequestState&) { return true; };
    s.ttft_s = describe(all, [](const RequestState& r) { return ns_to_seconds(r.first_token_ns - r.arrival_ns); });
    s.tpot_s = describe([](const RequestState& r) { return r.generated > 1; }, tpot_of);
    s.e2e_s = describe(all, [](const RequestState& r) { return ns_to_seconds(r.completion_ns - r.arrival_ns); });
    s.queueing_s =
        describe(all, [](const RequestState& r) { return ns_to_seconds(r.first_scheduled_ns - r.arrival_ns); });
  }
  const TokenGapHistogram& gaps = outcome.token_gaps;
  s.itl_s = Distribution{gaps.count(), gaps.mean_s(), gaps.quantile_s(0.50), gaps.quantile_s(0.90),
                         gaps.quantile_s(0.99), gaps.max_s()};
  s.batch_size_mean = histogram_mean(recorder.batch_size_histogram());
  s.batch_size_p50 = histogram_quantile(recorder.batch_size_histogram(), 0.50);
  s.batch_size_p99 = histogram_quantile(recorder.batch_size_histogram(), 0.99);
  s.decode_batch_size_mean = histogram_mean(recorder.decode_batch_size_histogram());
  s.decode_batch_size_p50 = histogram_quantile(recorder.decode_batch_size_histogram(), 0.50);
  s.decode_batch_size_p99 = histogram_quantile(recorder.decode_batch_size_histogram(), 0.99);
  if (recorder.busy_time_s() > 0) {
    s.batch_size_time_weighted = recorder.seq_time_product_s() / recorder.busy_time_s();
    s.kv_utilization_mean = recorder.kv_time_product_s() / recorder.busy_time_s();
  }
  s.kv_utilization_peak = recorder.kv_utilization_peak();
  if (recorder.lockstep() && recorder.group_step_count() > 0) {
    s.group_steps = recorder.group_step_count();
    s.dummy_rank_steps = recorder.dummy_rank_steps();
    s.moe_load_imbalance_mean = recorder.load_imbalance_sum() / static_cast<double>(recorder.group_step_count());
    if (recorder.busy_time_s() > 0 && outcome.end_ns > 0) {
      const double makespan = ns_to_seconds(outcome.end_ns);
      s.moe_experts_busy_fraction = recorder.moe_experts_time_s() / makespan;
      s.dispatch_combine_fraction = recorder.dispatch_combine_time_s() / makespan;
    }
  }
  s.gpus = gpus;
  s.cost_per_gpu_hour_usd = cost_per_gpu_hour_usd;
  s.cost_usd = gpus * cost_per_gpu_hour_usd * s.makespan_s / 3600.0;
  if (s.output_tokens > 0) {
    s.cost_per_million_output_tokens_usd = s.cost_usd / (static_cast<double>(s.output_tokens) / 1e6);
  }
  return s;
}

std::vector<ComponentSummary> summarize_components(const SimulationOutcome& outcome,
                                                   std::span<const std::int32_t> component,
                                                   const std::vector<std::string>& names, const RunSummary& whole) {
  check_invariant(component.size() == outcome.requests.size(), "one component per request");
  std::vector<ComponentSummary> out(names.size());
  std::vector<std::vector<double>> ttft(names.size()), tpot(names.size());
  std::vector<double> prompt_sum(names.size(), 0.0), output_sum(names.size(), 0.0), generated(names.size(), 0.0);
  for (std::size_t c = 0; c < names.size(); ++c) out[c].name = names[c];
  for (std::size_t i = 0; i < outcome.requests.size(); ++i) {
    const RequestState& r = outcome.requests[i];
    const auto c = static_cast<std::size_t>(component[i]);
    check_invariant(c < names.size(), "component index in range");
    ComponentSummary& s = out[c];
    ++s.num_requests;
    prompt_sum[c] += r.prompt_tokens;
    output_sum[c] += r.target_output_tokens;
    if (r.status == RequestStatus::kRejected) ++s.rejected;
    if (r.status != RequestStatus::kFinished) continue;
    ++s.finished;
    generated[c] += r.generated;
    // Same definitions and SLO test as summarize().
    const double ttft_s = ns_to_seconds(r.first_token_ns - r.arrival_ns);
    ttft[c].push_back(ttft_s);
    bool met = !whole.slo.ttft_s || ttft_s <= *whole.slo.ttft_s;
    if (r.generated > 1) {
      const double tpot_s = ns_to_seconds(r.completion_ns - r.first_token_ns) / static_cast<double>(r.generated - 1);
      tpot[c].push_back(tpot_s);
      met = met && (!whole.slo.tpot_s || tpot_s <= *whole.slo.tpot_s);
    }
    if (met) ++s.slo_met_requests;
  }
  for (std::size_t c = 0; c < names.size(); ++c) {
    ComponentSummary& s = out[c];
    if (whole.makespan_s > 0) {
      s.throughput_requests_per_s = static_cast<double>(s.finished) / whole.makespan_s;
      s.goodput_requests_per_s = static_cast<double>(s.slo_met_requests) / whole.makespan_s;
      s.output_tokens_per_s = generated[c] / whole.makespan_s;
    }
    if (s.num_requests > 0) {
      s.mean_prompt_tokens = prompt_sum[c] / static_cast<double>(s.num_requests);
      s.mean_output_tokens = output_sum[c] / static_cast<double>(s.num_requests);
    }
    s.ttft_s = describe_distribution(std::move(ttft[c]));
    s.tpot_s = describe_distribution(std::move(tpot[c]));
  }
  return out;
}

}  // namespace moesim
