#pragma once
// Trace readers and synthetic generators -> a Workload (requests sorted by arrival).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moesim/common/errors.hpp"
#include "moesim/workload/request.hpp"
#include "moesim/workload/workload_config.hpp"

namespace moesim {

// One row of a trace file as read, before arrivals are assigned.
struct TraceRow {
  std::int32_t prompt_tokens = 0;
  std::int32_t output_tokens = 0;
  double arrival_s = -1;  // < 0 when the trace has no timestamps
};

struct TraceReadReport {
  std::int64_t rows_read = 0;
  std::int64_t rows_skipped = 0;  // only with skip_bad_rows
  std::string first_skip_reason;  // "file: row 12, column 'x': ..." of the first skipped row
  TraceFormat format = TraceFormat::kAuto;
  bool has_timestamps = false;
};

// Reads a trace. Errors: InputError naming the file, 1-based row (header = row 1 for CSV; line for JSONL)
// and column. An empty trace (no data rows) is an InputError.
std::vector<TraceRow> read_trace(const std::filesystem::path& path, TraceFormat format, bool skip_bad_rows,
                                 TraceReadReport* report = nullptr);

struct WorkloadBuildReport {
  TraceReadReport trace;
  std::int64_t num_requests = 0;
  double mean_prompt_tokens = 0;
  double mean_output_tokens = 0;
};

// Every problem with a WorkloadConfig's values, each with yaml_path "workload.<field>" (e.g.
// "workload.arrivals.rate_per_s") and file "<workload>", line 0: the config module, which knows where
// the key is in the YAML file, replaces file/line/column. Empty when the config is usable. Does not
// open files; problems found in the trace itself are InputErrors from build_workload().
std::vector<ConfigIssue> validate_workload_config(const WorkloadConfig& config);

// "2023-11-16 18:15:46.6805900" (Azure LLM trace; 'T' also accepted between date and time; 0 to 9
// fractional digits) -> nanoseconds since 1970-01-01 00:00:00 (the trace's clock; no time zone).
// nullopt when the text is not such a timestamp or a field is out of range (month 13, 25:00, ...), or it
// is before 1970 or after 2262-04-11 (int64 nanoseconds).
std::optional<std::int64_t> parse_timestamp_ns(std::string_view text);

// Spellings used in error messages and docs ("auto", "vidur_csv", "azure_csv", "jsonl").
std::string trace_format_name(TraceFormat format);

// Builds the request list. Throws ConfigError for invalid config values (all of them at once,
// see validate_workload_config), InputError for trace problems. Deterministic for a given config
// (seed included), independent of threads. The rules are written out in docs/workload.md.
Workload build_workload(const WorkloadConfig& config, WorkloadBuildReport* report = nullptr);

}  // namespace moesim
