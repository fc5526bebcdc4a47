#pragma once
// Trace readers and synthetic generators -> a Workload (requests sorted by arrival).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

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

// Builds the request list. Deterministic for a given config (seed included), independent of threads.
Workload build_workload(const WorkloadConfig& config, WorkloadBuildReport* report = nullptr);

}  // namespace moesim
