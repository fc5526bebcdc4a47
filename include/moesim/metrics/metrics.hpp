#pragma once
// Metrics: what the simulation announces, recorded and summarised. Every metric is defined once, in
// docs/metrics.md; the names here are the names there and in the HDF5 file.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "moesim/metrics/slo.hpp"
#include "moesim/perf/latency_model.hpp"
#include "moesim/scheduler/request_state.hpp"
#include "moesim/sim/simulation.hpp"

namespace moesim {

// mean and order statistics of a sample (linear interpolation between closest ranks, numpy's default).
struct Distribution {
  std::int64_t count = 0;
  double mean = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
};
[[nodiscard]] Distribution describe_distribution(std::vector<double> values);
// Quantile q in [0, 1] of sorted values, linear interpolation (numpy "linear").
[[nodiscard]] double quantile_sorted(std::span<const double> sorted, double q);

struct IterationColumns;
struct TimeSeriesColumns;

struct RecorderOptions {
  bool per_iteration = true;
  std::int64_t iteration_sample_every = 1;
  bool time_series = true;
  SimTimeNs time_series_interval_ns = kNsPerS;
  std::int32_t num_replicas = 1;
  std::int64_t blocks_per_replica = 0;      // KV blocks of each replica (time-series utilisation denominator)
  std::int32_t max_batch_size = 256;        // histogram bound for exact batch-size percentiles
  const StepLatencyModel* latency = nullptr;  // for the per-operator time breakdown (may be null)
  std::int32_t expert_parallel_gpus = 0;      // > 0: a lockstep expert-parallel run over this many GPUs per stage
  // Streaming of the per-iteration table (issue 13): when set, each time `iteration_block_rows` rows are
  // recorded they are handed to the sink (the results file appends them) and dropped from memory, so
  // memory does not grow with the number of steps; finish() then hands over the last, partial block.
  // A run with fewer rows never calls it: iterations() holds them all. Unset: every row stays in memory.
  std::function<void(const IterationColumns&)> iteration_sink;
  // 4096 rows = 360 KB (88 bytes each): the block is touched once and then reused, and each fresh page
  // costs a page fault (several microseconds in a VM); 16384 rows cost ~260 more faults per run (issue 13).
  std::size_t iteration_block_rows = 4096;
  // The same for the time series (issue 13): blocks of `time_series_block_rows` samples go to the sink
  // (40 bytes each: 4096 = 160 KB) instead of five vectors growing to the whole run (a 1 s series of a
  // 34,000 s run touched ~2.7 MB of fresh pages while growing). Without a sink all samples stay in memory.
  std::function<void(const TimeSeriesColumns&)> time_series_sink;
  std::size_t time_series_block_rows = 4096;
};

// Columns of the per-iteration table (one row per recorded step).
struct IterationColumns {
  std::vector<std::int32_t> replica;
  std::vector<std::int64_t> step_index;
  std::vector<double> start_s;
  std::vector<double> duration_s;
  std::vector<std::int32_t> num_prefill_seqs;
  std::vector<std::int64_t> prefill_tokens;
  std::vector<std::int32_t> num_decode_seqs;
  std::vector<std::int64_t> decode_context_tokens;
  std::vector<std::int64_t> kv_blocks_used;
  std::vector<std::int64_t> kv_blocks_total;
  std::vector<std::int64_t> waiting;
  std::vector<std::int64_t> running;
  std::vector<std::int32_t> preempted;
  std::vector<std::int64_t> group_step;  // lockstep runs only: the group step (group_steps table)

  [[nodiscard]] std::size_t size() const { return replica.size(); }
  void clear();  // every column emptied, capacity kept
  // Every column to `rows` rows (group_step too when `with_group_step`), capacity kept when shrinking.
  void resize(std::size_t rows, bool with_group_step);
};

// Lockstep (expert-parallel) runs: one row per group step (all DP ranks together).
struct GroupStepColumns {
  std::vector<std::int64_t> group_step;
  std::vector<double> start_s;
  std::vector<double> duration_s;
  std::vector<std::int32_t> active_ranks;
  std::vector<std::int32_t> dummy_ranks;
  std::vector<std::int32_t> slowest_rank;
  std::vector<double> slowest_rank_s;
  std::vector<std::int64_t> tokens;
  std::vector<double> moe_experts_s;
  std::vector<double> dispatch_combine_s;
  std::vector<std::int32_t> busiest_gpu;
  std::vector<std::int32_t> busiest_gpu_tokens;
  std::vector<std::int32_t> busiest_gpu_experts;
  std::vector<double> load_imbalance;  // busiest GPU's routed tokens / mean over GPUs
};

// Lockstep runs: one row per (group step, EP rank): the routing load of every GPU.
struct ExpertLoadColumns {
  std::vector<std::int64_t> group_step;
  std::vector<std::int32_t> gpu;  // EP rank (GPU of stage 0; each stage holds the same expert ids)
  std::vector<std::int32_t> routed_tokens;
  std::vector<std::int32_t> experts_touched;
};

// Columns of the time series: the whole deployment (all replicas) sampled on a fixed grid; a sample at
// time t shows the state after the last step that ended at or before t.
struct TimeSeriesColumns {
  std::vector<double> time_s;
  std::vector<std::int64_t> running;
  std::vector<std::int64_t> waiting;
  std::vector<std::int64_t> kv_blocks_used;
  std::vector<double> kv_utilization;

  [[nodiscard]] std::size_t size() const { return time_s.size(); }
  void clear();  // every column emptied, capacity kept
};

class MetricsRecorder final : public SimulationObserver {
 public:
  explicit MetricsRecorder(const RecorderOptions& options);
  void on_step(const StepRecord& record) override;
  // Without tables (per-iteration rows, time series), on_step only adds to the summary sums.
  [[nodiscard]] StepSummarySums* summary_only_sums() override {
    return options_.per_iteration || options_.time_series ? nullptr : &sums_;
  }
  void on_group_step(const GroupStepRecord& record) override;
  // Emits the time-series samples up to and including `end_ns` (call once after the run).
  void finish(SimTimeNs end_ns);

  // The recorded rows still in memory (all of them unless RecorderOptions::iteration_sink streamed some).
  // With a sink the columns are block-sized buffers during the run: read them after finish().
  [[nodiscard]] const IterationColumns& iterations() const { return iterations_; }
  // Rows handed to RecorderOptions::iteration_sink so far (0 without a sink or for a short run).
  [[nodiscard]] std::int64_t iteration_rows_streamed() const { return iteration_rows_streamed_; }
  // The samples still in memory (all of them unless RecorderOptions::time_series_sink streamed some).
  [[nodiscard]] const TimeSeriesColumns& time_series() const { return time_series_; }
  // Samples handed to RecorderOptions::time_series_sink so far (0 without a sink or for a short run).
  [[nodiscard]] std::int64_t time_series_rows_streamed() const { return time_series_rows_streamed_; }
  [[nodiscard]] const GroupStepColumns& group_steps() const { return group_steps_; }
  [[nodiscard]] const ExpertLoadColumns& expert_load() const { return expert_load_; }
  [[nodiscard]] bool lockstep() const { return options_.expert_parallel_gpus > 0; }
  [[nodiscard]] std::int64_t group_step_count() const { return group_step_count_; }
  [[nodiscard]] std::int64_t dummy_rank_steps() const { return dummy_rank_steps_; }
  [[nodiscard]] double moe_experts_time_s() const { return moe_experts_time_s_; }
  [[nodiscard]] double dispatch_combine_time_s() const { return dispatch_combine_time_s_; }
  [[nodiscard]] double load_imbalance_sum() const { return load_imbalance_sum_; }
  // Complete after finish() (the last recorded step's share is added there).
  [[nodiscard]] const OperatorBreakdown& operator_time_s() const { return operator_time_s_; }
  [[nodiscard]] std::int64_t steps() const { return sums_.steps; }
  [[nodiscard]] std::int64_t prefill_steps() const { return sums_.prefill_steps; }
  [[nodiscard]] std::int64_t decode_only_steps() const { return sums_.decode_only_steps; }
  [[nodiscard]] std::int64_t mixed_steps() const { return sums_.mixed_steps; }
  [[nodiscard]] double busy_time_s() const { return sums_.busy_time_s; }
  [[nodiscard]] double seq_time_product_s() const { return sums_.seq_time_product_s; }
  [[nodiscard]] double kv_time_product_s() const { return sums_.kv_time_product_s; }
  [[nodiscard]] double kv_utilization_peak() const { return sums_.kv_utilization_peak; }
  [[nodiscard]] const std::vector<std::int64_t>& batch_size_histogram() const { return sums_.batch_histogram; }
  [[nodiscard]] const std::vector<std::int64_t>& decode_batch_size_histogram() const { return sums_.decode_histogram; }

 private:
  void emit_time_series_until(SimTimeNs t);
  void record_tables(const StepRecord& record);
  void add_pending_breakdown();
  // Row `row` of iterations_ (which has it already): one bounds check per row, not one per column.
  void write_row(std::size_t row, const StepRecord& record, double duration_s);

  RecorderOptions options_;
  IterationColumns iterations_;
  std::int64_t iteration_rows_streamed_ = 0;
  std::size_t streamed_fill_ = 0;      // with a sink: rows of the current block (iterations_ is block-sized)
  bool streamed_finished_ = false;     // finish() has shrunk the block to its rows
  TimeSeriesColumns time_series_;
  std::int64_t time_series_rows_streamed_ = 0;
  GroupStepColumns group_steps_;
  ExpertLoadColumns expert_load_;
  std::int64_t group_step_count_ = 0;
  std::int64_t dummy_rank_steps_ = 0;
  double moe_experts_time_s_ = 0;
  double dispatch_combine_time_s_ = 0;
  double load_imbalance_sum_ = 0;
  OperatorBreakdown operator_time_s_{};
  OperatorBreakdown scratch_breakdown_{};
  StepSummarySums sums_;  // steps by kind, batch-size histograms, busy time, time-weighted sums
  bool breakdown_pending_ = false;  // scratch_breakdown_ is a recorded step's, not yet in operator_time_s_
  // Current deployment state for the time series.
  std::vector<std::int64_t> replica_running_, replica_waiting_, replica_used_, replica_total_;
  std::int64_t total_blocks_ = 0;  // initialised from the options (all replicas)
  std::int64_t total_running_ = 0, total_waiting_ = 0, total_used_ = 0;
  SimTimeNs next_sample_ns_ = 0;
};

struct RunSummary {
  std::int64_t num_requests = 0;
  std::int64_t finished = 0;
  std::int64_t rejected = 0;
  std::int64_t aborted = 0;
  // Rejected requests (longer than vLLM accepts, see docs/metrics.md): their share of the workload's
  // requested tokens (prompt + max_tokens over all requests), in [0, 1]. The throughput and cost metrics
  // below cover finished requests only, so a large share means they describe a different workload.
  std::int64_t rejected_tokens = 0;
  std::int64_t requested_tokens = 0;
  double rejected_token_share = 0;
  // Goodput: finished requests meeting every configured SLO (TTFT <= slo.ttft_s and, for requests with
  // >= 2 output tokens, TPOT <= slo.tpot_s), per second of makespan. Without SLOs every finished request
  // counts (goodput = throughput).
  SloConfig slo;
  std::int64_t slo_met_requests = 0;
  double goodput_requests_per_s = 0;
  double slo_attainment = 0;  // slo_met_requests / num_requests (rejected and aborted requests miss)
  std::int64_t preemptions = 0;
  std::int64_t preempted_requests = 0;
  std::int64_t steps = 0;
  std::int64_t prefill_steps = 0, decode_only_steps = 0, mixed_steps = 0;
  double makespan_s = 0;
  double throughput_requests_per_s = 0;
  double input_tokens_per_s = 0;
  double output_tokens_per_s = 0;
  double total_tokens_per_s = 0;
  std::int64_t input_tokens = 0;   // prompts of finished requests
  std::int64_t output_tokens = 0;  // outputs of finished requests
  std::int64_t computed_tokens = 0;  // prefill + decode tokens computed, recomputation included
  double batch_size_mean = 0, batch_size_p50 = 0, batch_size_p99 = 0, batch_size_time_weighted = 0;
  double decode_batch_size_mean = 0, decode_batch_size_p50 = 0, decode_batch_size_p99 = 0;
  double kv_utilization_mean = 0, kv_utilization_peak = 0;
  Distribution ttft_s, tpot_s, e2e_s, queueing_s;
  // Inter-token latency: every gap between consecutive output tokens of a request, pooled over all requests
  // (vLLM benchmark_serving's ITL); percentiles from TokenGapHistogram (within 0.05 %), mean and max exact.
  Distribution itl_s;
  double gpus = 0;
  double cost_per_gpu_hour_usd = 0;
  double cost_usd = 0;
  double cost_per_million_output_tokens_usd = 0;
  bool interrupted = false;
  // Lockstep expert-parallel runs (enable_expert_parallel), else 0.
  std::int64_t group_steps = 0;            // steps of the whole DP group
  std::int64_t dummy_rank_steps = 0;       // rank-steps that ran vLLM's dummy batch
  double moe_load_imbalance_mean = 0;      // mean over group steps of busiest GPU tokens / mean GPU tokens
  double moe_experts_busy_fraction = 0;    // share of the makespan spent in the slowest GPU's experts
  double dispatch_combine_fraction = 0;    // share of the makespan spent in dispatch + combine
};

// Per-component metrics of a workload mix. Rates are over the whole run's makespan (the components share
// the deployment and its time), so the components' throughputs add up to the run's.
struct ComponentSummary {
  std::string name;
  std::int64_t num_requests = 0;
  std::int64_t finished = 0;
  std::int64_t rejected = 0;
  std::int64_t slo_met_requests = 0;
  double throughput_requests_per_s = 0;
  double goodput_requests_per_s = 0;
  double output_tokens_per_s = 0;
  double mean_prompt_tokens = 0;  // over all the component's requests
  double mean_output_tokens = 0;  // requested (max_tokens), over all the component's requests
  Distribution ttft_s, tpot_s;    // finished requests (TPOT: with >= 2 output tokens)
};

// `component[i]` is request i's component (index into `names`); `whole` gives the makespan and SLOs.
[[nodiscard]] std::vector<ComponentSummary> summarize_components(const SimulationOutcome& outcome,
                                                                 std::span<const std::int32_t> component,
                                                                 const std::vector<std::string>& names,
                                                                 const RunSummary& whole);

[[nodiscard]] RunSummary summarize(const SimulationOutcome& outcome, const MetricsRecorder& recorder, double gpus,
                                   double cost_per_gpu_hour_usd, const SloConfig& slo = {});

}  // namespace moesim
