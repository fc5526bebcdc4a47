// build_workload(): trace rows and/or synthetic samplers -> requests sorted by arrival.
// The rules (repetition, clamping, streams) are written out in docs/workload.md.
#include "moesim/workload/workload.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "moesim/common/random.hpp"

namespace moesim {

namespace {

constexpr const char* kIssueFile = "<workload>";  // replaced by the config module with the YAML file

// Stream names: one random stream per consumer (see random.hpp), so e.g. switching the output
// distribution from the trace to a normal leaves the arrival times unchanged.
constexpr std::string_view kPromptStream = "workload.prompt_tokens";
constexpr std::string_view kOutputStream = "workload.output_tokens";
constexpr std::string_view kArrivalStream = "workload.arrivals";

std::string fmt(double value) {
  std::string text = std::to_string(value);
  // std::to_string gives 6 decimals; drop trailing zeros for readable messages ("0.5", not "0.500000").
  if (text.find('.') != std::string::npos) {
    while (!text.empty() && text.back() == '0') text.pop_back();
    if (!text.empty() && text.back() == '.') text.pop_back();
  }
  return text;
}

void validate_length(const LengthDistribution& d, const std::string& path, bool has_trace,
                     std::vector<ConfigIssue>& issues) {
  auto issue = [&](const std::string& field, const std::string& message) {
    issues.push_back(ConfigIssue{kIssueFile, 0, 0, path + "." + field, message});
  };
  const auto finite = [](double x) { return std::isfinite(x); };
  if (d.min < 1) issue("min", "= " + std::to_string(d.min) + "; must be >= 1 (a request has at least one token)");
  if (d.max < d.min) issue("max", "= " + std::to_string(d.max) + "; must be >= min (" + std::to_string(d.min) + ")");
  switch (d.kind) {
    case LengthDistributionKind::kTrace:
      if (!has_trace) issue("kind", "= trace needs workload.trace_path (a trace file to take the lengths from)");
      break;
    case LengthDistributionKind::kFixed:
      if (!finite(d.value) || d.value < 1) issue("value", "= " + fmt(d.value) + "; must be a finite number >= 1");
      break;
    case LengthDistributionKind::kUniform:
      if (!finite(d.low) || d.low < 1) issue("low", "= " + fmt(d.low) + "; must be a finite number >= 1");
      if (!finite(d.high) || std::floor(d.high) < std::ceil(d.low)) {
        issue("high", "= " + fmt(d.high) + "; must be finite and leave at least one integer in [low, high] (low = " +
                          fmt(d.low) + ")");
      }
      break;
    case LengthDistributionKind::kNormal:
    case LengthDistributionKind::kLognormal:
      if (!finite(d.mean) || d.mean <= 0) issue("mean", "= " + fmt(d.mean) + "; must be a finite number > 0 (tokens)");
      if (!finite(d.stddev) || d.stddev < 0) {
        issue("stddev", "= " + fmt(d.stddev) + "; must be a finite number >= 0 (tokens)");
      }
      break;
    case LengthDistributionKind::kEmpirical:
      if (d.empirical_trace.empty()) issue("empirical_trace", "is empty; kind = empirical needs a trace file to sample");
      break;
  }
}

// Sampler for one length column. Trace lengths are handled by the caller (they follow the row order).
class LengthSampler {
 public:
  LengthSampler(const LengthDistribution& d, double scale, std::uint64_t seed, std::string_view stream,
                const std::vector<std::int32_t>* empirical)
      : d_(d), scale_(scale), random_(seed, stream), empirical_(empirical) {
    if (d.kind == LengthDistributionKind::kLognormal) {
      // Mean m and stddev s of the tokens -> parameters of the underlying normal:
      // sigma^2 = ln(1 + s^2 / m^2), mu = ln(m) - sigma^2 / 2 (moments of the lognormal).
      const double sigma2 = std::log1p((d.stddev * d.stddev) / (d.mean * d.mean));
      lognormal_sigma_ = std::sqrt(sigma2);
      lognormal_mu_ = std::log(d.mean) - 0.5 * sigma2;
    }
    uniform_low_ = static_cast<std::int64_t>(std::ceil(d.low));
    uniform_high_ = static_cast<std::int64_t>(std::floor(d.high));
  }

  std::int32_t sample() {
    double value = 0;
    switch (d_.kind) {
      case LengthDistributionKind::kTrace: check_invariant(false, "trace lengths are not sampled"); break;
      case LengthDistributionKind::kFixed: value = d_.value; break;
      case LengthDistributionKind::kUniform:
        value = static_cast<double>(random_.uniform_int(uniform_low_, uniform_high_));
        break;
      case LengthDistributionKind::kNormal: value = random_.normal(d_.mean, d_.stddev); break;
      case LengthDistributionKind::kLognormal: value = random_.lognormal(lognormal_mu_, lognormal_sigma_); break;
      case LengthDistributionKind::kEmpirical: {
        const auto last = static_cast<std::int64_t>(empirical_->size()) - 1;
        value = (*empirical_)[static_cast<std::size_t>(random_.uniform_int(0, last))];
        break;
      }
    }
    return clamp_length(value * scale_, d_);
  }

  // `value` already multiplied by the workload's prompt_scale / output_scale.
  static std::int32_t clamp_length(double value, const LengthDistribution& d) {
    // Clamp before rounding so that huge normal tails cannot overflow the integer conversion.
    const double clamped = std::clamp(value, static_cast<double>(d.min), static_cast<double>(d.max));
    return static_cast<std::int32_t>(std::llround(clamped));
  }

 private:
  LengthDistribution d_;
  double scale_ = 1;
  RandomStream random_;
  const std::vector<std::int32_t>* empirical_;
  double lognormal_mu_ = 0;
  double lognormal_sigma_ = 0;
  std::int64_t uniform_low_ = 1;
  std::int64_t uniform_high_ = 1;
};

}  // namespace

std::vector<ConfigIssue> validate_workload_config(const WorkloadConfig& config) {
  std::vector<ConfigIssue> issues;
  if (!config.mix.empty()) {
    double total = 0;
    for (std::size_t i = 0; i < config.mix.size(); ++i) {
      const WorkloadComponent& c = config.mix[i];
      const std::string path = "workload.mix[" + std::to_string(i) + "]";
      const bool component_trace = c.trace_path.has_value() && !c.trace_path->empty();
      if (!std::isfinite(c.weight) || c.weight <= 0) {
        issues.push_back(ConfigIssue{kIssueFile, 0, 0, path + ".weight", "= " + fmt(c.weight) + "; must be a finite number > 0"});
      } else {
        total += c.weight;
      }
      validate_length(c.prompt, path + ".prompt", component_trace, issues);
      validate_length(c.output, path + ".output", component_trace, issues);
    }
    if (!(total > 0) || !std::isfinite(total)) {
      issues.push_back(ConfigIssue{kIssueFile, 0, 0, "workload.mix", "the weights must sum to a finite number > 0"});
    }
    if (config.num_requests <= 0) {
      issues.push_back(ConfigIssue{kIssueFile, 0, 0, "workload.num_requests", "must be > 0 with a workload.mix"});
    }
    if (config.arrivals.kind == ArrivalKind::kTrace) {
      issues.push_back(ConfigIssue{kIssueFile, 0, 0, "workload.arrivals.process",
                                   "= trace cannot be used with a workload.mix (the components share one arrival "
                                   "process: all_at_zero, poisson or gamma)"});
    }
    WorkloadConfig rest = config;
    rest.mix.clear();
    rest.prompt.kind = rest.output.kind = LengthDistributionKind::kFixed;
    rest.prompt.value = rest.output.value = 1;
    rest.arrivals.kind = config.arrivals.kind == ArrivalKind::kTrace ? ArrivalKind::kAllAtZero : config.arrivals.kind;
    rest.num_requests = std::max<std::int64_t>(config.num_requests, 1);
    for (ConfigIssue& issue : validate_workload_config(rest)) issues.push_back(std::move(issue));
    return issues;
  }
  const bool has_trace = config.trace_path.has_value() && !config.trace_path->empty();
  if (config.trace_path.has_value() && config.trace_path->empty()) {
    issues.push_back(ConfigIssue{kIssueFile, 0, 0, "workload.trace_path", "is empty; give a trace file or leave it out"});
  }
  validate_length(config.prompt, "workload.prompt", has_trace, issues);
  validate_length(config.output, "workload.output", has_trace, issues);
  for (const auto& [field, scale] : {std::pair{"prompt_scale", config.prompt_scale}, std::pair{"output_scale", config.output_scale}}) {
    if (!std::isfinite(scale) || scale <= 0) {
      issues.push_back(ConfigIssue{kIssueFile, 0, 0, std::string("workload.") + field,
                                   "= " + fmt(scale) + "; must be a finite number > 0 (1 = lengths unchanged)"});
    }
  }
  const ArrivalProcess& a = config.arrivals;
  auto issue = [&](const std::string& field, const std::string& message) {
    issues.push_back(ConfigIssue{kIssueFile, 0, 0, "workload.arrivals." + field, message});
  };
  switch (a.kind) {
    case ArrivalKind::kAllAtZero: break;
    case ArrivalKind::kGamma:
      if (!std::isfinite(a.cv) || a.cv <= 0) issue("cv", "= " + fmt(a.cv) + "; must be a finite number > 0");
      [[fallthrough]];
    case ArrivalKind::kPoisson:
      if (!std::isfinite(a.rate_per_s) || a.rate_per_s <= 0) {
        issue("rate_per_s", "= " + fmt(a.rate_per_s) + "; must be a finite number > 0 (requests per second)");
      }
      break;
    case ArrivalKind::kClosedLoop:
      if (a.concurrency < 1) issue("concurrency", "= " + std::to_string(a.concurrency) + "; must be >= 1 (clients)");
      break;
    case ArrivalKind::kTrace:
      if (!has_trace) issue("kind", "= trace needs workload.trace_path (a trace file with timestamps)");
      if (!std::isfinite(a.time_scale) || a.time_scale <= 0) {
        issue("time_scale", "= " + fmt(a.time_scale) + "; must be a finite number > 0 (2 = replay twice as fast)");
      }
      break;
  }
  if (config.num_requests < 0) {
    issues.push_back(ConfigIssue{kIssueFile, 0, 0, "workload.num_requests",
                                 "= " + std::to_string(config.num_requests) + "; must be >= 0 (0 = every trace row once)"});
  } else if (config.num_requests == 0 && !has_trace) {
    issues.push_back(ConfigIssue{kIssueFile, 0, 0, "workload.num_requests",
                                 "= 0 means 'every row of the trace once', but there is no workload.trace_path; "
                                 "give a count > 0 for a synthetic workload"});
  }
  return issues;
}

namespace {

// Simulated time is int64 nanoseconds: arrivals beyond ~292 years cannot be represented (a tiny arrival
// rate or a huge time scale would otherwise overflow, which is undefined behaviour).
SimTimeNs arrival_seconds_to_ns(double seconds) {
  constexpr double kMaxArrivalS = 9.0e9;  // < INT64_MAX / 1e9 = 9.22e9 s
  if (!(seconds >= 0 && seconds <= kMaxArrivalS)) {
    throw ConfigError(ConfigIssue{"<workload>", 0, 0, "workload.arrivals",
                                  "arrival time " + std::to_string(seconds) +
                                      " s is outside the simulated range [0, 9e9] s (about 285 years): raise "
                                      "rate_per_s or lower time_scale"});
  }
  return seconds_to_ns(seconds);
}

}  // namespace

namespace {

// Lengths of a mixed workload: each request's component drawn by weight (stream "workload.mix"), then its
// prompt and output from that component: its trace's rows in order (cycled; one row counter per
// component) or its distributions (streams "workload.mix.<name>.prompt_tokens" / ".output_tokens").
Workload build_mix_lengths(const WorkloadConfig& config, WorkloadBuildReport& report) {
  struct Source {
    std::vector<TraceRow> rows;
    std::vector<std::int32_t> empirical_prompt, empirical_output;
    std::unique_ptr<LengthSampler> prompt, output;
    std::int64_t next_row = 0;
  };
  std::vector<Source> sources(config.mix.size());
  std::vector<double> cumulative;
  double total = 0;
  for (std::size_t c = 0; c < config.mix.size(); ++c) {
    const WorkloadComponent& component = config.mix[c];
    Source& source = sources[c];
    if (component.trace_path) {
      TraceReadReport trace_report;
      source.rows = read_trace(*component.trace_path, component.trace_format, config.skip_bad_rows, &trace_report);
      report.trace.rows_read += trace_report.rows_read;
      report.trace.rows_skipped += trace_report.rows_skipped;
      if (report.trace.first_skip_reason.empty()) report.trace.first_skip_reason = trace_report.first_skip_reason;
    }
    auto empirical = [&](const LengthDistribution& d, bool prompt_column) {
      std::vector<std::int32_t> column;
      if (d.kind != LengthDistributionKind::kEmpirical) return column;
      for (const TraceRow& row : read_trace(d.empirical_trace, d.empirical_format, config.skip_bad_rows)) {
        column.push_back(prompt_column ? row.prompt_tokens : row.output_tokens);
      }
      return column;
    };
    source.empirical_prompt = empirical(component.prompt, true);
    source.empirical_output = empirical(component.output, false);
    const std::string stream = "workload.mix." + component.name;
    source.prompt = std::make_unique<LengthSampler>(component.prompt, config.prompt_scale, config.seed,
                                                    stream + ".prompt_tokens", &source.empirical_prompt);
    source.output = std::make_unique<LengthSampler>(component.output, config.output_scale, config.seed,
                                                    stream + ".output_tokens", &source.empirical_output);
    total += component.weight;
    cumulative.push_back(total);
  }
  RandomStream pick(config.seed, "workload.mix");
  Workload workload(static_cast<std::size_t>(config.num_requests));
  for (RequestSpec& r : workload) {
    const double u = pick.uniform01() * total;
    std::size_t c = 0;
    while (c + 1 < cumulative.size() && u >= cumulative[c]) ++c;
    const WorkloadComponent& component = config.mix[c];
    Source& source = sources[c];
    r.component = static_cast<std::int32_t>(c);
    const bool prompt_from_trace = component.prompt.kind == LengthDistributionKind::kTrace;
    const bool output_from_trace = component.output.kind == LengthDistributionKind::kTrace;
    if (prompt_from_trace || output_from_trace) {
      const TraceRow& row = source.rows[static_cast<std::size_t>(source.next_row % static_cast<std::int64_t>(source.rows.size()))];
      ++source.next_row;
      if (prompt_from_trace) r.prompt_tokens = LengthSampler::clamp_length(row.prompt_tokens * config.prompt_scale, component.prompt);
      if (output_from_trace) r.output_tokens = LengthSampler::clamp_length(row.output_tokens * config.output_scale, component.output);
    }
    if (!prompt_from_trace) r.prompt_tokens = source.prompt->sample();
    if (!output_from_trace) r.output_tokens = source.output->sample();
  }
  return workload;
}

}  // namespace

Workload build_workload(const WorkloadConfig& config, WorkloadBuildReport* report) {
  if (auto issues = validate_workload_config(config); !issues.empty()) throw ConfigError(std::move(issues));

  WorkloadBuildReport local_report;
  std::vector<TraceRow> trace;
  Workload workload;
  if (!config.mix.empty()) {
    workload = build_mix_lengths(config, local_report);
  } else {
    if (config.trace_path) {
      trace = read_trace(*config.trace_path, config.trace_format, config.skip_bad_rows, &local_report.trace);
    }
    if (config.arrivals.kind == ArrivalKind::kTrace && !local_report.trace.has_timestamps) {
      throw ConfigError(ConfigIssue{kIssueFile, 0, 0, "workload.arrivals.kind",
                                    "= trace, but " + *config.trace_path + " (" +
                                        trace_format_name(local_report.trace.format) +
                                        ") has no timestamps (arrived_at, TIMESTAMP or arrival_s); use poisson, "
                                        "gamma or all_at_zero arrivals"});
    }

    // Empirical distributions: one column of a (possibly different) trace file, read once per file.
    std::map<std::string, std::vector<TraceRow>> empirical_rows;
    auto empirical_column = [&](const LengthDistribution& d, bool prompt_column) {
      std::vector<std::int32_t> column;
      if (d.kind != LengthDistributionKind::kEmpirical) return column;
      auto it = empirical_rows.find(d.empirical_trace);
      if (it == empirical_rows.end()) {
        it = empirical_rows.emplace(d.empirical_trace, read_trace(d.empirical_trace, d.empirical_format, config.skip_bad_rows))
                 .first;
      }
      column.reserve(it->second.size());
      for (const TraceRow& row : it->second) column.push_back(prompt_column ? row.prompt_tokens : row.output_tokens);
      return column;
    };
    const std::vector<std::int32_t> empirical_prompt = empirical_column(config.prompt, true);
    const std::vector<std::int32_t> empirical_output = empirical_column(config.output, false);

    const auto trace_rows = static_cast<std::int64_t>(trace.size());
    const std::int64_t n = config.num_requests > 0 ? config.num_requests : trace_rows;
    workload.resize(static_cast<std::size_t>(n));

    // Lengths. Trace columns follow the row order, cycling through the trace when n > rows.
    const bool prompt_from_trace = config.prompt.kind == LengthDistributionKind::kTrace;
    const bool output_from_trace = config.output.kind == LengthDistributionKind::kTrace;
    LengthSampler prompt_sampler(config.prompt, config.prompt_scale, config.seed, kPromptStream, &empirical_prompt);
    LengthSampler output_sampler(config.output, config.output_scale, config.seed, kOutputStream, &empirical_output);
    for (std::int64_t i = 0; i < n; ++i) {
      RequestSpec& r = workload[static_cast<std::size_t>(i)];
      if (prompt_from_trace || output_from_trace) {
        const TraceRow& row = trace[static_cast<std::size_t>(i % trace_rows)];
        if (prompt_from_trace) r.prompt_tokens = LengthSampler::clamp_length(row.prompt_tokens * config.prompt_scale, config.prompt);
        if (output_from_trace) r.output_tokens = LengthSampler::clamp_length(row.output_tokens * config.output_scale, config.output);
      }
      if (!prompt_from_trace) r.prompt_tokens = prompt_sampler.sample();
      if (!output_from_trace) r.output_tokens = output_sampler.sample();
    }
  }
  const auto trace_rows = static_cast<std::int64_t>(trace.size());
  const auto n = static_cast<std::int64_t>(workload.size());

  // Arrivals, in seconds (double) and rounded to integer nanoseconds once per request, so rounding
  // errors do not accumulate along the sequence.
  const ArrivalProcess& a = config.arrivals;
  switch (a.kind) {
    case ArrivalKind::kAllAtZero: break;  // RequestSpec::arrival_ns is already 0
    case ArrivalKind::kClosedLoop: break;  // issued by the simulation as slots free up (SimulationSetup)
    case ArrivalKind::kPoisson:
    case ArrivalKind::kGamma: {
      // The first request arrives at t = 0 and each later one one gap after the previous, as vLLM's
      // benchmark_serving.py sends a request and then sleeps (vllm v0.6.3 benchmarks/benchmark_serving.py:306).
      RandomStream random(config.seed, kArrivalStream);
      // Gamma with mean 1/rate and coefficient of variation cv: shape k = 1/cv^2, scale = 1/(rate k).
      const double shape = 1.0 / (a.cv * a.cv);
      const double scale = 1.0 / (a.rate_per_s * shape);
      double t_s = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        if (i > 0) t_s += a.kind == ArrivalKind::kPoisson ? random.exponential(a.rate_per_s) : random.gamma(shape, scale);
        workload[static_cast<std::size_t>(i)].arrival_ns = arrival_seconds_to_ns(t_s);
      }
      break;
    }
    case ArrivalKind::kTrace: {
      // Repeating the trace: pass p is shifted by p * (span + mean gap), so the last request of one pass
      // and the first of the next are one average inter-arrival time apart.
      double first_s = trace.front().arrival_s;
      double last_s = first_s;
      for (const TraceRow& row : trace) {
        first_s = std::min(first_s, row.arrival_s);
        last_s = std::max(last_s, row.arrival_s);
      }
      const double span_s = last_s - first_s;
      if (n > trace_rows && (trace_rows < 2 || span_s <= 0)) {
        throw InputError(*config.trace_path, 0, "",
                         "cannot repeat this trace with its own timestamps: it has no time span (" +
                             std::to_string(trace_rows) + " rows, all at " + fmt(first_s) +
                             " s); use num_requests <= the row count or a poisson/gamma arrival process");
      }
      const double pass_shift_s = trace_rows > 1 ? span_s + span_s / static_cast<double>(trace_rows - 1) : 0.0;
      for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t pass = i / trace_rows;
        const double t_s = trace[static_cast<std::size_t>(i % trace_rows)].arrival_s +
                           static_cast<double>(pass) * pass_shift_s;
        workload[static_cast<std::size_t>(i)].arrival_ns = arrival_seconds_to_ns(t_s / a.time_scale);
      }
      break;
    }
  }
  const auto by_arrival = [](const RequestSpec& x, const RequestSpec& y) { return x.arrival_ns < y.arrival_ns; };
  if (!std::is_sorted(workload.begin(), workload.end(), by_arrival)) {
    std::stable_sort(workload.begin(), workload.end(), by_arrival);
  }

  local_report.num_requests = n;
  double prompt_sum = 0;
  double output_sum = 0;
  for (const RequestSpec& r : workload) {
    prompt_sum += r.prompt_tokens;
    output_sum += r.output_tokens;
  }
  local_report.mean_prompt_tokens = n > 0 ? prompt_sum / static_cast<double>(n) : 0.0;
  local_report.mean_output_tokens = n > 0 ? output_sum / static_cast<double>(n) : 0.0;
  if (report != nullptr) *report = std::move(local_report);
  return workload;
}

}  // namespace moesim
