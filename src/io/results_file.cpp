#include "moesim/io/results_file.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>

#include "moesim/common/errors.hpp"
#include "moesim/io/hdf5_writer.hpp"

namespace moesim {

namespace {

void add_distribution(std::vector<ScalarEntry>& out, const std::string& name, const Distribution& d,
                      const std::string& what, const std::string& covers) {
  out.push_back({name + "_mean", d.mean, "s", "mean " + what, covers});
  out.push_back({name + "_p50", d.p50, "s", "median " + what, covers});
  out.push_back({name + "_p90", d.p90, "s", "90th percentile " + what, covers});
  out.push_back({name + "_p99", d.p99, "s", "99th percentile " + what, covers});
  out.push_back({name + "_max", d.max, "s", "maximum " + what, covers});
}

const char* status_name(RequestStatus status) {
  switch (status) {
    case RequestStatus::kPending: return "pending";
    case RequestStatus::kWaiting: return "waiting";
    case RequestStatus::kRunning: return "running";
    case RequestStatus::kSwapped: return "swapped";
    case RequestStatus::kFinished: return "finished";
    case RequestStatus::kRejected: return "rejected";
    case RequestStatus::kAborted: return "aborted";
  }
  return "unknown";
}

double seconds_or_nan(SimTimeNs ns) { return ns < 0 ? std::numeric_limits<double>::quiet_NaN() : ns_to_seconds(ns); }

void write_scalars(h5::Group group, const std::vector<ScalarEntry>& entries) {
  for (const ScalarEntry& e : entries) {
    const double value = e.value;
    group.write(e.name, std::span<const double>(&value, 1), e.units,
                e.covers.empty() ? e.description : e.description + " (covers: " + e.covers + ")");
  }
}

// /requests is streamed (h5::Group::write_table): each column is computed from the request states block by
// block into one fixed buffer, so writing 1M requests adds no per-request copy to the run's memory.
void write_requests(h5::Group group, const SimulationOutcome& outcome, std::span<const std::int32_t> component) {
  const std::vector<RequestState>& requests = outcome.requests;
  using F64 = std::function<void(std::size_t, std::span<double>)>;
  using I64 = std::function<void(std::size_t, std::span<std::int64_t>)>;
  using I32 = std::function<void(std::size_t, std::span<std::int32_t>)>;
  // Column of doubles (or int32) computed per request by `value`.
  auto f64 = [&](auto value) -> h5::ColumnFill {
    return F64([&requests, value](std::size_t first, std::span<double> out) {
      for (std::size_t k = 0; k < out.size(); ++k) out[k] = value(requests[first + k]);
    });
  };
  auto i32 = [&](auto value) -> h5::ColumnFill {
    return I32([&requests, value](std::size_t first, std::span<std::int32_t> out) {
      for (std::size_t k = 0; k < out.size(); ++k) out[k] = value(requests[first + k]);
    });
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<h5::StreamedColumn> columns;
  columns.push_back({"id", "", "request index in arrival order",
                     I64([](std::size_t first, std::span<std::int64_t> out) {
                       for (std::size_t k = 0; k < out.size(); ++k) out[k] = static_cast<std::int64_t>(first + k);
                     })});
  columns.push_back({"arrival_s", "s", "arrival time", f64([](const RequestState& r) { return ns_to_seconds(r.arrival_ns); })});
  columns.push_back({"first_scheduled_s", "s", "start of the first step that computed any of its tokens (NaN if never)",
                     f64([](const RequestState& r) { return seconds_or_nan(r.first_scheduled_ns); })});
  columns.push_back({"first_token_s", "s", "end of the step that sampled its first output token",
                     f64([](const RequestState& r) { return seconds_or_nan(r.first_token_ns); })});
  columns.push_back({"completion_s", "s", "end of the step that sampled its last token",
                     f64([](const RequestState& r) { return seconds_or_nan(r.completion_ns); })});
  columns.push_back({"ttft_s", "s", "time to first token (finished requests)", f64([nan](const RequestState& r) {
                       return r.status == RequestStatus::kFinished ? ns_to_seconds(r.first_token_ns - r.arrival_ns) : nan;
                     })});
  columns.push_back({"tpot_s", "s", "time per output token after the first", f64([nan](const RequestState& r) {
                       return r.status == RequestStatus::kFinished && r.generated > 1
                                  ? ns_to_seconds(r.completion_ns - r.first_token_ns) / static_cast<double>(r.generated - 1)
                                  : nan;
                     })});
  columns.push_back({"e2e_s", "s", "end-to-end latency", f64([nan](const RequestState& r) {
                       return r.status == RequestStatus::kFinished ? ns_to_seconds(r.completion_ns - r.arrival_ns) : nan;
                     })});
  columns.push_back({"prompt_tokens", "tokens", "prompt length", i32([](const RequestState& r) { return r.prompt_tokens; })});
  columns.push_back({"output_tokens", "tokens", "requested output length (max_tokens)",
                     i32([](const RequestState& r) { return r.target_output_tokens; })});
  columns.push_back({"generated_tokens", "tokens", "output tokens produced", i32([](const RequestState& r) { return r.generated; })});
  columns.push_back({"preemptions", "", "times the request was preempted", i32([](const RequestState& r) { return r.preemptions; })});
  columns.push_back({"replica", "", "data-parallel replica that served it", i32([](const RequestState& r) { return r.replica; })});
  columns.push_back({"status", "", "0 pending, 1 waiting, 2 running, 3 swapped, 4 finished, 5 rejected, 6 aborted (/request_status)",
                     i32([](const RequestState& r) { return static_cast<std::int32_t>(r.status); })});
  if (!component.empty()) {
    check_invariant(component.size() == requests.size(), "one workload.mix component per request");
    columns.push_back({"component", "", "workload.mix component the request came from (index into /components/name)",
                       I32([component](std::size_t first, std::span<std::int32_t> out) {
                         std::copy_n(component.begin() + static_cast<std::ptrdiff_t>(first), out.size(), out.begin());
                       })});
  }
  group.write_table(requests.size(), columns);
}

// The lookup of /requests/status codes, a table of its own: every group of the file holds one table whose
// columns all have the same length, so a group reads straight into one data frame.
void write_request_status(h5::Group group) {
  std::vector<std::int32_t> codes;
  std::vector<std::string> names;
  for (int s = 0; s <= static_cast<int>(RequestStatus::kAborted); ++s) {
    codes.push_back(s);
    names.emplace_back(status_name(static_cast<RequestStatus>(s)));
  }
  group.write("code", std::span<const std::int32_t>(codes), "", "value of /requests/status");
  group.write_strings("name", names, "name of the status code");
}

void write_iterations(h5::Group group, const IterationColumns& it) {
  group.write("replica", std::span<const std::int32_t>(it.replica), "", "replica index");
  group.write("step_index", std::span<const std::int64_t>(it.step_index), "", "step number within the replica");
  group.write("start_s", std::span<const double>(it.start_s), "s", "step start time");
  group.write("duration_s", std::span<const double>(it.duration_s), "s", "step duration from the latency model");
  group.write("num_prefill_seqs", std::span<const std::int32_t>(it.num_prefill_seqs), "sequences",
              "sequences with prompt tokens (or prompt chunks) in the step");
  group.write("prefill_tokens", std::span<const std::int64_t>(it.prefill_tokens), "tokens", "prompt tokens computed");
  group.write("num_decode_seqs", std::span<const std::int32_t>(it.num_decode_seqs), "sequences",
              "sequences decoding one token (= decode tokens)");
  group.write("decode_context_tokens", std::span<const std::int64_t>(it.decode_context_tokens), "tokens",
              "sum of the decoding sequences' context lengths");
  group.write("kv_blocks_used", std::span<const std::int64_t>(it.kv_blocks_used), "blocks", "KV blocks held after the step");
  group.write("kv_blocks_total", std::span<const std::int64_t>(it.kv_blocks_total), "blocks", "KV blocks of the replica");
  group.write("waiting", std::span<const std::int64_t>(it.waiting), "requests", "waiting queue length after the step");
  group.write("running", std::span<const std::int64_t>(it.running), "requests", "running requests after the step");
  group.write("preempted", std::span<const std::int32_t>(it.preempted), "requests", "requests preempted by the step");
  if (!it.group_step.empty()) {
    group.write("group_step", std::span<const std::int64_t>(it.group_step), "",
                "lockstep runs: the DP group's step this rank ran in (row of group_steps)");
  }
}

void write_group_steps(h5::Group group, const GroupStepColumns& g) {
  group.write("group_step", std::span<const std::int64_t>(g.group_step), "", "step of the whole lockstep DP group");
  group.write("start_s", std::span<const double>(g.start_s), "s", "group step start time");
  group.write("duration_s", std::span<const double>(g.duration_s), "s",
              "slowest rank's own part + MoE experts of the busiest GPU + dispatch/combine");
  group.write("active_ranks", std::span<const std::int32_t>(g.active_ranks), "ranks", "DP ranks that ran a real batch");
  group.write("dummy_ranks", std::span<const std::int32_t>(g.dummy_ranks), "ranks",
              "idle DP ranks that ran vLLM's one-token dummy batch");
  group.write("slowest_rank", std::span<const std::int32_t>(g.slowest_rank), "", "DP rank with the longest own part");
  group.write("slowest_rank_s", std::span<const double>(g.slowest_rank_s), "s",
              "that rank's own part (attention, dense layers, shared experts, router, TP all-reduce, LM head, overhead)");
  group.write("tokens", std::span<const std::int64_t>(g.tokens), "tokens", "tokens of all ranks, dummy tokens included");
  group.write("moe_experts_s", std::span<const double>(g.moe_experts_s), "s",
              "routed experts of all MoE layers on the busiest GPU");
  group.write("dispatch_combine_s", std::span<const double>(g.dispatch_combine_s), "s",
              "dispatch + combine of all MoE layers over the topology");
  group.write("busiest_gpu", std::span<const std::int32_t>(g.busiest_gpu), "", "EP rank whose experts took longest");
  group.write("busiest_gpu_tokens", std::span<const std::int32_t>(g.busiest_gpu_tokens), "tokens",
              "token copies routed to the busiest GPU's experts");
  group.write("busiest_gpu_experts", std::span<const std::int32_t>(g.busiest_gpu_experts), "experts",
              "distinct experts the busiest GPU touched (weights read)");
  group.write("load_imbalance", std::span<const double>(g.load_imbalance), "ratio",
              "busiest GPU's routed tokens / mean over GPUs");
}

void write_expert_load(h5::Group group, const ExpertLoadColumns& e) {
  group.write("group_step", std::span<const std::int64_t>(e.group_step), "", "group step (lockstep table)");
  group.write("gpu", std::span<const std::int32_t>(e.gpu), "", "EP rank = dp_rank x TP + tp_rank");
  group.write("routed_tokens", std::span<const std::int32_t>(e.routed_tokens), "tokens",
              "token copies routed to this GPU's experts in one MoE layer");
  group.write("experts_touched", std::span<const std::int32_t>(e.experts_touched), "experts",
              "distinct local experts with at least one token (weights read)");
}

void write_time_series(h5::Group group, const TimeSeriesColumns& ts) {
  group.write("time_s", std::span<const double>(ts.time_s), "s", "sample time");
  group.write("running", std::span<const std::int64_t>(ts.running), "requests", "running requests, all replicas");
  group.write("waiting", std::span<const std::int64_t>(ts.waiting), "requests", "waiting requests, all replicas");
  group.write("kv_blocks_used", std::span<const std::int64_t>(ts.kv_blocks_used), "blocks", "KV blocks held, all replicas");
  group.write("kv_utilization", std::span<const double>(ts.kv_utilization), "fraction", "used / total KV blocks");
}

void write_components(h5::Group group, const std::vector<ComponentSummary>& components) {
  std::vector<std::string> name;
  std::vector<double> requests, finished, rejected, met, throughput, goodput, output_rate, prompt, output, ttft50,
      ttft99, tpot50, tpot99;
  for (const ComponentSummary& c : components) {
    name.push_back(c.name);
    requests.push_back(static_cast<double>(c.num_requests));
    finished.push_back(static_cast<double>(c.finished));
    rejected.push_back(static_cast<double>(c.rejected));
    met.push_back(static_cast<double>(c.slo_met_requests));
    throughput.push_back(c.throughput_requests_per_s);
    goodput.push_back(c.goodput_requests_per_s);
    output_rate.push_back(c.output_tokens_per_s);
    prompt.push_back(c.mean_prompt_tokens);
    output.push_back(c.mean_output_tokens);
    ttft50.push_back(c.ttft_s.p50);
    ttft99.push_back(c.ttft_s.p99);
    tpot50.push_back(c.tpot_s.p50);
    tpot99.push_back(c.tpot_s.p99);
  }
  group.write_strings("name", name, "component name (workload.mix)");
  group.write("num_requests", std::span<const double>(requests), "requests", "requests of the component (covers: all)");
  group.write("finished_requests", std::span<const double>(finished), "requests", "finished (covers: all)");
  group.write("rejected_requests", std::span<const double>(rejected), "requests", "rejected (covers: all)");
  group.write("slo_met_requests", std::span<const double>(met), "requests", "finished meeting metrics.slo");
  group.write("throughput_requests_per_s", std::span<const double>(throughput), "requests/s",
              "finished requests / the run's makespan (covers: finished requests)");
  group.write("goodput_requests_per_s", std::span<const double>(goodput), "requests/s",
              "SLO-meeting finished requests / the run's makespan (covers: finished requests)");
  group.write("output_tokens_per_s", std::span<const double>(output_rate), "tokens/s",
              "output tokens of finished requests / the run's makespan (covers: finished requests)");
  group.write("mean_prompt_tokens", std::span<const double>(prompt), "tokens", "mean prompt (covers: all requests)");
  group.write("mean_output_tokens", std::span<const double>(output), "tokens", "mean max_tokens (covers: all requests)");
  group.write("ttft_p50", std::span<const double>(ttft50), "s", "median TTFT (covers: finished requests)");
  group.write("ttft_p99", std::span<const double>(ttft99), "s", "99th percentile TTFT (covers: finished requests)");
  group.write("tpot_p50", std::span<const double>(tpot50), "s", "median TPOT (covers: finished, >= 2 outputs)");
  group.write("tpot_p99", std::span<const double>(tpot99), "s", "99th percentile TPOT (covers: finished, >= 2 outputs)");
}

}  // namespace

std::string format_entry_value(const ScalarEntry& entry, int decimals) {
  if (entry.is_boolean()) return entry.value != 0 ? "yes" : "no";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, entry.value);
  return entry.units.empty() ? std::string(buffer) : std::string(buffer) + " " + entry.units;
}

std::vector<ScalarEntry> summary_entries(const RunSummary& s) {
  auto as_double = [](std::int64_t v) { return static_cast<double>(v); };
  // What each value covers: every metric says which requests (or steps) it is computed over, so a run
  // where requests were rejected cannot be read as if throughput covered the whole workload.
  const std::string all = "all requests";
  const std::string finished = "finished requests";
  const std::string rejected = "rejected requests";
  const std::string steps = "all steps";
  const std::string run = "the run";
  std::vector<ScalarEntry> out{
      {"num_requests", as_double(s.num_requests), "requests", "requests in the workload", all},
      {"finished_requests", as_double(s.finished), "requests", "requests that produced all their tokens", all},
      {"rejected_requests", as_double(s.rejected), "requests", "requests vLLM would ignore (too long / never fit)", all},
      {"rejected_token_share", s.rejected_token_share, "fraction",
       "prompt + max_tokens of rejected requests / of all requests", all},
      {"aborted_requests", as_double(s.aborted), "requests", "requests aborted for lack of CPU swap space", all},
      {"preemptions", as_double(s.preemptions), "events", "preemption events", all},
      {"preempted_requests", as_double(s.preempted_requests), "requests", "requests preempted at least once", all},
      {"steps", as_double(s.steps), "steps", "scheduler steps, all replicas", steps},
      {"prefill_steps", as_double(s.prefill_steps), "steps", "steps with prompt tokens only", steps},
      {"decode_only_steps", as_double(s.decode_only_steps), "steps", "steps with decodes only", steps},
      {"mixed_steps", as_double(s.mixed_steps), "steps", "steps with both prompt tokens and decodes", steps},
      {"makespan_s", s.makespan_s, "s", "first arrival to last step end", all},
      {"throughput_requests_per_s", s.throughput_requests_per_s, "requests/s", "finished requests / makespan", finished},
      {"goodput_requests_per_s", s.goodput_requests_per_s, "requests/s",
       "finished requests meeting the TTFT and TPOT SLOs (metrics.slo) / makespan; = throughput without SLOs",
       finished},
      {"slo_met_requests", as_double(s.slo_met_requests), "requests", "finished requests meeting every configured SLO",
       finished},
      {"slo_attainment", s.slo_attainment, "fraction",
       "slo_met_requests / num_requests (rejected and aborted requests miss)", all},
      {"input_tokens_per_s", s.input_tokens_per_s, "tokens/s", "prompt tokens of finished requests / makespan", finished},
      {"output_tokens_per_s", s.output_tokens_per_s, "tokens/s", "output tokens of finished requests / makespan", finished},
      {"total_tokens_per_s", s.total_tokens_per_s, "tokens/s", "input + output tokens per second", finished},
      {"input_tokens", as_double(s.input_tokens), "tokens", "prompt tokens of finished requests", finished},
      {"output_tokens", as_double(s.output_tokens), "tokens", "output tokens of finished requests", finished},
      {"rejected_tokens", as_double(s.rejected_tokens), "tokens", "prompt + max_tokens of rejected requests", rejected},
      {"computed_tokens", as_double(s.computed_tokens), "tokens", "tokens computed, recomputation included", steps},
      {"batch_size_mean", s.batch_size_mean, "sequences", "mean sequences per step", steps},
      {"batch_size_p50", s.batch_size_p50, "sequences", "median sequences per step", steps},
      {"batch_size_p99", s.batch_size_p99, "sequences", "99th percentile sequences per step", steps},
      {"batch_size_time_weighted", s.batch_size_time_weighted, "sequences", "sequences per step weighted by step time", steps},
      {"decode_batch_size_mean", s.decode_batch_size_mean, "sequences", "mean decodes per step with decodes", steps},
      {"decode_batch_size_p50", s.decode_batch_size_p50, "sequences", "median decodes per step with decodes", steps},
      {"decode_batch_size_p99", s.decode_batch_size_p99, "sequences", "99th percentile decodes per step", steps},
      {"kv_utilization_mean", s.kv_utilization_mean, "fraction", "KV blocks used / total, weighted by step time", steps},
      {"kv_utilization_peak", s.kv_utilization_peak, "fraction", "highest KV utilisation after a step", steps},
  };
  if (s.slo.ttft_s) out.push_back({"slo_ttft_s", *s.slo.ttft_s, "s", "TTFT objective (metrics.slo.ttft_s)", run});
  if (s.slo.tpot_s) out.push_back({"slo_tpot_s", *s.slo.tpot_s, "s", "TPOT objective (metrics.slo.tpot_s)", run});
  add_distribution(out, "ttft", s.ttft_s, "time to first token", finished);
  add_distribution(out, "tpot", s.tpot_s, "time per output token", "finished requests with >= 2 output tokens");
  add_distribution(out, "itl", s.itl_s,
                   "inter-token latency (gap between consecutive output tokens of a request, pooled; "
                   "percentiles within 0.05 %)",
                   "every output token after a request's first, of all requests");
  add_distribution(out, "e2e", s.e2e_s, "end-to-end latency", finished);
  add_distribution(out, "queueing", s.queueing_s, "arrival to first scheduled", finished);
  out.push_back({"gpus", s.gpus, "GPUs", "GPUs of the deployment (TP x PP x DP)", run});
  out.push_back({"cost_per_gpu_hour_usd", s.cost_per_gpu_hour_usd, "USD/GPU-hour", "price from the scenario", run});
  out.push_back({"cost_usd", s.cost_usd, "USD", "GPUs x price x makespan", all});
  out.push_back({"cost_per_million_output_tokens_usd", s.cost_per_million_output_tokens_usd, "USD/1e6 tokens",
                 "cost / (output tokens of finished requests / 1e6)", finished});
  out.push_back({"interrupted", s.interrupted ? 1.0 : 0.0, ScalarEntry::kBooleanUnits, "1 when the run was stopped early", run});
  if (s.group_steps > 0) {
    out.push_back({"group_steps", as_double(s.group_steps), "steps", "steps of the lockstep expert-parallel DP group", steps});
    out.push_back({"dummy_rank_steps", as_double(s.dummy_rank_steps), "rank-steps",
                   "idle DP ranks that ran vLLM's dummy batch, summed over group steps", steps});
    out.push_back({"moe_load_imbalance_mean", s.moe_load_imbalance_mean, "ratio",
                   "mean over group steps of busiest GPU's routed tokens / mean GPU's", steps});
    out.push_back({"moe_experts_fraction", s.moe_experts_busy_fraction, "fraction",
                   "makespan share spent in the busiest GPU's routed experts", steps});
    out.push_back({"dispatch_combine_fraction", s.dispatch_combine_fraction, "fraction",
                   "makespan share spent in MoE dispatch + combine", steps});
  }
  return out;
}

namespace {

// The columns of /iterations, in file order, as write_iterations writes them (streamed runs: AppendableTable).
std::vector<h5::ColumnSpec> iteration_columns(bool lockstep) {
  using h5::ColumnType;
  std::vector<h5::ColumnSpec> c{
      {"replica", "", "replica index", ColumnType::kInt32},
      {"step_index", "", "step number within the replica", ColumnType::kInt64},
      {"start_s", "s", "step start time", ColumnType::kFloat64},
      {"duration_s", "s", "step duration from the latency model", ColumnType::kFloat64},
      {"num_prefill_seqs", "sequences", "sequences with prompt tokens (or prompt chunks) in the step", ColumnType::kInt32},
      {"prefill_tokens", "tokens", "prompt tokens computed", ColumnType::kInt64},
      {"num_decode_seqs", "sequences", "sequences decoding one token (= decode tokens)", ColumnType::kInt32},
      {"decode_context_tokens", "tokens", "sum of the decoding sequences' context lengths", ColumnType::kInt64},
      {"kv_blocks_used", "blocks", "KV blocks held after the step", ColumnType::kInt64},
      {"kv_blocks_total", "blocks", "KV blocks of the replica", ColumnType::kInt64},
      {"waiting", "requests", "waiting queue length after the step", ColumnType::kInt64},
      {"running", "requests", "running requests after the step", ColumnType::kInt64},
      {"preempted", "requests", "requests preempted by the step", ColumnType::kInt32},
  };
  if (lockstep) {
    c.push_back({"group_step", "", "lockstep runs: the DP group's step this rank ran in (row of group_steps)",
                 ColumnType::kInt64});
  }
  return c;
}

// The columns of /timeseries, in file order, as write_time_series writes them (streamed: AppendableTable).
std::vector<h5::ColumnSpec> time_series_columns() {
  using h5::ColumnType;
  return {
      {"time_s", "s", "sample time", ColumnType::kFloat64},
      {"running", "requests", "running requests, all replicas", ColumnType::kInt64},
      {"waiting", "requests", "waiting requests, all replicas", ColumnType::kInt64},
      {"kv_blocks_used", "blocks", "KV blocks held, all replicas", ColumnType::kInt64},
      {"kv_utilization", "fraction", "used / total KV blocks", ColumnType::kFloat64},
  };
}

std::vector<const void*> time_series_pointers(const TimeSeriesColumns& ts) {
  return {ts.time_s.data(), ts.running.data(), ts.waiting.data(), ts.kv_blocks_used.data(), ts.kv_utilization.data()};
}

// `lockstep`: the table has the group_step column (decided by its first block).
std::vector<const void*> iteration_pointers(const IterationColumns& it, bool lockstep) {
  std::vector<const void*> p{it.replica.data(),         it.step_index.data(),     it.start_s.data(),
                             it.duration_s.data(),      it.num_prefill_seqs.data(), it.prefill_tokens.data(),
                             it.num_decode_seqs.data(), it.decode_context_tokens.data(), it.kv_blocks_used.data(),
                             it.kv_blocks_total.data(), it.waiting.data(),        it.running.data(),
                             it.preempted.data()};
  if (lockstep) p.push_back(it.group_step.data());
  return p;
}

}  // namespace

struct ResultsFileWriter::Impl {
  Impl(const std::filesystem::path& path, OverwritePolicy policy)
      : output(path, policy), file(output.temporary_path()), root(file.root()) {}
  AtomicOutputPath output;  // first member: destroyed last, after the file is closed, and removes it
  h5::File file;
  h5::Group root;
  std::optional<h5::Group> iterations_group;
  std::unique_ptr<h5::AppendableTable> iterations;
  bool iterations_lockstep = false;  // /iterations has the group_step column
  std::optional<h5::Group> time_series_group;
  std::unique_ptr<h5::AppendableTable> time_series;
  std::size_t streamed_room = 0;  // bytes of streamed rows the last reservation still covers

  // Before a streamed block of `bytes` (96 bytes a per-step row, 40 a time-series sample) is written:
  // when the last reservation does not cover it, checks and reserves room for it and 7 more blocks
  // (h5::File::reserve: file-size limit, free space, fallocate). So a limit or a full disk is reported
  // before the block is written, never by SIGXFSZ in the middle of a write (which would kill the process
  // and leave the temporary file); finish() checks the rest of the file.
  void reserve_streamed(std::size_t bytes) {
    if (bytes <= streamed_room) {
      streamed_room -= bytes;
      return;
    }
    file.reserve(8 * bytes);
    streamed_room = 7 * bytes;
  }
};

// A write error (a full disk, a file-size limit) surfaces as std::runtime_error from the HDF5 layer; the
// temporary file is removed by the AtomicOutputPath's destructor, so say which file failed and that
// nothing was left.
[[noreturn]] static void rethrow_write_error(const std::filesystem::path& path, const std::runtime_error& e) {
  throw std::runtime_error("write error on '" + path.string() + "': " + e.what() + "; nothing was written");
}

ResultsFileWriter::ResultsFileWriter(const std::filesystem::path& path, OverwritePolicy policy) : path_(path) {
  try {
    impl_ = std::make_unique<Impl>(path, policy);
  } catch (const UsageError&) {
    throw;
  } catch (const std::runtime_error& e) {
    rethrow_write_error(path_, e);
  }
}

ResultsFileWriter::~ResultsFileWriter() = default;

void ResultsFileWriter::append_iterations(const IterationColumns& rows) {
  check_invariant(impl_ != nullptr, "results file still open");
  if (rows.size() == 0) return;
  try {
    impl_->reserve_streamed(96 * rows.size());
    if (!impl_->iterations) {
      impl_->iterations_group = impl_->root.create_group("iterations");
      impl_->iterations_lockstep = !rows.group_step.empty();
      impl_->iterations =
          std::make_unique<h5::AppendableTable>(*impl_->iterations_group, iteration_columns(impl_->iterations_lockstep));
    }
    check_invariant(rows.group_step.size() == (impl_->iterations_lockstep ? rows.size() : 0),
                    "every block of per-step rows has the group_step column or none does");
    impl_->iterations->append(rows.size(), iteration_pointers(rows, impl_->iterations_lockstep));
  } catch (const std::runtime_error& e) {
    impl_.reset();  // closes and removes the temporary file now
    rethrow_write_error(path_, e);
  }
}

void ResultsFileWriter::append_time_series(const TimeSeriesColumns& rows) {
  check_invariant(impl_ != nullptr, "results file still open");
  if (rows.size() == 0) return;
  try {
    impl_->reserve_streamed(40 * rows.size());
    if (!impl_->time_series) {
      impl_->time_series_group = impl_->root.create_group("timeseries");
      impl_->time_series = std::make_unique<h5::AppendableTable>(*impl_->time_series_group, time_series_columns());
    }
    impl_->time_series->append(rows.size(), time_series_pointers(rows));
  } catch (const std::runtime_error& e) {
    impl_.reset();  // closes and removes the temporary file now
    rethrow_write_error(path_, e);
  }
}

void ResultsFileWriter::finish(const ResultsContent& content) {
  check_invariant(impl_ != nullptr, "results file still open");
  check_invariant(content.outcome != nullptr && content.recorder != nullptr && content.summary != nullptr,
                  "results writer has an outcome, recorder and summary");
  try {
    // Expected size of what is left to write, checked and reserved before it is written (h5::File): the
    // bytes of a row of each table (/requests: 8 float64/int64 + 6 int32 columns, +1 int32 with a workload
    // mix; /iterations: 9 + 4 (+1 lockstep); /timeseries: 5 x 8; /group_steps: 14 x 8 at most;
    // /expert_load: 8 + 3 x 4) times its rows, plus the scenario text; h5::File adds 1 MiB of metadata.
    const MetricsRecorder& recorder = *content.recorder;
    const std::size_t request_row = 88 + (content.request_component.empty() ? 0 : 4);
    const bool lockstep = content.per_iteration && recorder.lockstep();
    const std::size_t expected_bytes =
        request_row * (content.per_request ? content.outcome->requests.size() : 0) +
        96 * (content.per_iteration ? recorder.iterations().size() : 0) +
        40 * (content.time_series ? recorder.time_series().time_s.size() : 0) +
        (lockstep ? 112 * recorder.group_steps().group_step.size() + 20 * recorder.expert_load().gpu.size() : 0) +
        2 * content.scenario_yaml.size();
    impl_->file.reserve(expected_bytes);
    h5::Group& root = impl_->root;
    root.set_attribute("schema_version", kResultsSchemaVersion);
    root.set_attribute("moesim_version", std::string(MOESIM_VERSION_STRING));
    root.set_attribute("scenario_name", content.scenario_name);
    root.set_attribute("complete", static_cast<std::int64_t>(content.outcome->interrupted ? 0 : 1));
    h5::Group scenario = root.create_group("scenario");
    scenario.set_attribute("yaml", content.scenario_yaml);
    scenario.set_attribute("latency_model", content.latency_description);
    write_scalars(root.create_group("summary"), summary_entries(*content.summary));
    write_scalars(root.create_group("deployment"), content.deployment);
    if (!content.analytic.empty()) write_scalars(root.create_group("analytic"), content.analytic);
    if (content.per_request) {
      write_requests(root.create_group("requests"), *content.outcome, content.request_component);
      write_request_status(root.create_group("request_status"));
    }
    if (!content.components.empty()) write_components(root.create_group("components"), content.components);
    if (impl_->iterations) {
      // Streamed during the run: the rows not yet handed over (none after MetricsRecorder::finish).
      const IterationColumns& rest = recorder.iterations();
      if (rest.size() > 0) {
        check_invariant(rest.group_step.size() == (impl_->iterations_lockstep ? rest.size() : 0),
                        "every block of per-step rows has the group_step column or none does");
        impl_->iterations->append(rest.size(), iteration_pointers(rest, impl_->iterations_lockstep));
      }
    } else if (content.per_iteration) {
      write_iterations(root.create_group("iterations"), recorder.iterations());
    }
    if (impl_->time_series) {
      // Streamed during the run: the samples not yet handed over (none after MetricsRecorder::finish).
      const TimeSeriesColumns& rest = recorder.time_series();
      if (rest.size() > 0) impl_->time_series->append(rest.size(), time_series_pointers(rest));
    } else if (content.time_series) {
      write_time_series(root.create_group("timeseries"), recorder.time_series());
    }
    if (content.per_iteration && content.recorder->lockstep()) {
      write_group_steps(root.create_group("group_steps"), content.recorder->group_steps());
      write_expert_load(root.create_group("expert_load"), content.recorder->expert_load());
    }
    h5::Group operators = root.create_group("operators");
    std::vector<std::string> names;
    std::vector<double> seconds;
    for (std::size_t i = 0; i < kOperatorCount; ++i) {
      names.push_back(to_string(static_cast<Operator>(i)));
      seconds.push_back(content.recorder->operator_time_s()[i]);
    }
    operators.write_strings("name", names, "operator");
    operators.write("time_s", std::span<const double>(seconds), "s", "time per operator summed over recorded steps");
    impl_->iterations.reset();
    impl_->iterations_group.reset();
    impl_->time_series.reset();
    impl_->time_series_group.reset();
    impl_->file.close();
  } catch (const std::runtime_error& e) {
    impl_.reset();
    rethrow_write_error(path_, e);
  }
  impl_->output.commit();
  impl_.reset();
}

void write_results_hdf5(const std::filesystem::path& path, const ResultsContent& content, OverwritePolicy policy) {
  ResultsFileWriter writer(path, policy);
  writer.finish(content);
}

}  // namespace moesim
