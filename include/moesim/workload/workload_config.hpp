#pragma once
// What the `workload:` section of a scenario asks for. Plain data; built into requests by build_workload().
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moesim {

enum class TraceFormat {
  kAuto,       // from the header: Vidur/Etalon, Azure or (by extension .jsonl) JSONL
  kVidurCsv,   // num_prefill_tokens,num_decode_tokens[,arrived_at (s)] (Vidur / Etalon / Splitwise)
  kAzureCsv,   // TIMESTAMP,ContextTokens,GeneratedTokens (Azure LLM inference trace 2023)
  kJsonl,      // one object per line: {"prompt_len": int, "output_len": int, "arrival_s": number (optional)}
};

enum class LengthDistributionKind { kTrace, kFixed, kUniform, kNormal, kLognormal, kEmpirical };

// Distribution of a token count. Samples are rounded to the nearest integer and clamped to [min, max].
struct LengthDistribution {
  LengthDistributionKind kind = LengthDistributionKind::kTrace;  // kTrace: take the trace's own column
  double value = 0;        // kFixed
  double low = 1, high = 1;  // kUniform: integers in [low, high]
  double mean = 0, stddev = 0;  // kNormal; kLognormal: mean and stddev of the tokens themselves
  std::string empirical_trace;  // kEmpirical: sample rows of this trace file (its matching column)
  TraceFormat empirical_format = TraceFormat::kAuto;
  std::int32_t min = 1;
  std::int32_t max = 1 << 20;
};

enum class ArrivalKind {
  kAllAtZero,  // offline batch: every request at t = 0
  kPoisson,    // exponential inter-arrival times at rate_per_s
  kGamma,      // gamma inter-arrival times with mean 1/rate_per_s and coefficient of variation cv
  kTrace,      // the trace's own timestamps, divided by time_scale (2 = replay twice as fast)
  // Closed loop: `concurrency` clients; each sends its next request when its previous one finishes (or is
  // rejected), like vLLM's benchmark_serving.py --max-concurrency with an infinite request rate. The
  // workload's arrival times are all 0; the simulation issues request i when a slot frees up.
  kClosedLoop,
};

struct ArrivalProcess {
  ArrivalKind kind = ArrivalKind::kAllAtZero;
  double rate_per_s = 0;  // kPoisson, kGamma
  double cv = 1;          // kGamma
  double time_scale = 1;  // kTrace
  std::int64_t concurrency = 0;  // kClosedLoop: requests in flight, >= 1
};

// One component of a workload mix (e.g. 70 % chat + 30 % summarisation): its share of the requests and
// where its lengths come from (its own trace and/or length distributions).
struct WorkloadComponent {
  std::string name;                       // unique; labels the HDF5 component column and per-component metrics
  double weight = 1;                      // > 0; share of requests = weight / sum of weights
  std::optional<std::string> trace_path;  // lengths of kind kTrace come from this trace's rows, cycled in order
  TraceFormat trace_format = TraceFormat::kAuto;
  LengthDistribution prompt;
  LengthDistribution output;
};

struct WorkloadConfig {
  std::optional<std::string> trace_path;  // resolved relative to the scenario file's directory
  TraceFormat trace_format = TraceFormat::kAuto;
  LengthDistribution prompt;   // kTrace needs trace_path
  LengthDistribution output;
  ArrivalProcess arrivals;
  // 0 = every row of the trace once. More rows than the trace has: the trace is repeated in order
  // (rows are reused, arrivals come from the arrival process or trace timestamps shifted per pass).
  std::int64_t num_requests = 0;
  // What-if scaling: every prompt (output) length, from the trace or a distribution, is multiplied by
  // this factor, rounded to the nearest integer and clamped to the distribution's [min, max] (so a scaled
  // length is never below 1 token). 1 = unchanged. Finite and > 0.
  double prompt_scale = 1;
  double output_scale = 1;
  // Non-empty: a mix. Each request's component is drawn by weight from the stream "workload.mix" (in
  // request order, before arrivals are assigned), its lengths from that component; trace_path, prompt and
  // output above are then unused. The arrival process is shared (arrivals: trace is not allowed).
  std::vector<WorkloadComponent> mix;
  std::uint64_t seed = 0;
  bool skip_bad_rows = false;  // count and skip malformed trace rows instead of failing
  std::string description;     // which trace/tokenizer, for the record
};

}  // namespace moesim
