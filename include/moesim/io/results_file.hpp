#pragma once
// Writes a run's results to HDF5 in the layout of docs/hdf5-schema.md (schema version kResultsSchemaVersion):
//   /            attrs: schema_version, moesim_version, scenario_name, complete (1 = run finished)
//   /scenario    attr yaml: the resolved scenario; attr latency_model: what timed the steps
//   /summary     one scalar dataset per summary metric, each with units and description
//   /deployment  scalar datasets: GPUs, KV blocks, token capacity, memory plan numbers
//   /analytic    the paper's analytic serving model for the same setup (when computed)
//   /requests    one column per field, one row per request (output.per_request)
//   /iterations  one column per field, one row per recorded step (output.per_iteration)
//   /timeseries  deployment state on a fixed time grid (output.time_series)
//   /operators   name + seconds: time per operator summed over recorded steps
// The file is written to a temporary name and renamed when complete: never half-written.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "moesim/common/atomic_file.hpp"
#include "moesim/metrics/metrics.hpp"
#include "moesim/sim/simulation.hpp"

namespace moesim {

// 2: the status-code lookup moved from /requests/status_names to its own table /request_status (every
// group is one table). Version 1 files are still read by analysis/moesim_results.py.
inline constexpr std::int64_t kResultsSchemaVersion = 2;

struct ScalarEntry {
  ScalarEntry() = default;
  ScalarEntry(std::string name_, double value_, std::string units_, std::string description_, std::string covers_ = "")
      : name(std::move(name_)),
        value(value_),
        units(std::move(units_)),
        description(std::move(description_)),
        covers(std::move(covers_)) {}
  std::string name;
  double value = 0;
  std::string units;
  std::string description;
  // Which requests (or steps) the value is computed over, e.g. "finished requests"; summary entries
  // always say so (written into the HDF5 description, the JSON "summary_covers" and docs/metrics.md).
  std::string covers;

  // Yes/no values (units "bool"): 1/0 in HDF5 and CSV, true/false in JSON, yes/no in text (docs/metrics.md,
  // "Units").
  [[nodiscard]] bool is_boolean() const { return units == kBooleanUnits; }
  static constexpr const char* kBooleanUnits = "bool";
};

// A value as the text outputs print it: yes/no for booleans, else `decimals` decimals and the units.
[[nodiscard]] std::string format_entry_value(const ScalarEntry& entry, int decimals);

struct ResultsContent {
  std::string scenario_name;
  std::string scenario_yaml;
  std::string latency_description;
  const SimulationOutcome* outcome = nullptr;
  const MetricsRecorder* recorder = nullptr;
  const RunSummary* summary = nullptr;
  bool per_request = true;
  bool per_iteration = true;
  bool time_series = true;
  std::vector<ScalarEntry> deployment;
  std::vector<ScalarEntry> analytic;
  // Workload mixes: request i's component (the /requests/component column) and the per-component table
  // (/components). Empty without a mix.
  std::vector<std::int32_t> request_component;
  std::vector<ComponentSummary> components;
};

// The summary as (name, value, units, description) rows, in a fixed order (shared by HDF5, text, JSON).
[[nodiscard]] std::vector<ScalarEntry> summary_entries(const RunSummary& summary);

void write_results_hdf5(const std::filesystem::path& path, const ResultsContent& content, OverwritePolicy policy);

// The same file, opened before the run so that the per-step table can be streamed into it while the run
// goes (issue 13: memory does not grow with the steps): pass append_iterations as the recorder's
// RecorderOptions::iteration_sink, then finish() with the content once the run is summarised. Until
// finish() returns, the file exists only under its temporary name (removed on any error, on destruction
// and on a signal, as write_results_hdf5's). Errors: std::runtime_error "write error on '<path>': ...;
// nothing was written"; UsageError for a path that exists (kRefuse) or cannot be written.
class ResultsFileWriter {
 public:
  ResultsFileWriter(const std::filesystem::path& path, OverwritePolicy policy);
  ~ResultsFileWriter();
  ResultsFileWriter(const ResultsFileWriter&) = delete;
  ResultsFileWriter& operator=(const ResultsFileWriter&) = delete;
  // Appends a block of per-step rows to /iterations (a chunked table created by the first block).
  void append_iterations(const IterationColumns& rows);
  // Appends a block of time-series samples to /timeseries (RecorderOptions::time_series_sink).
  void append_time_series(const TimeSeriesColumns& rows);
  // Writes everything else (and the rows of content.recorder->iterations() and time_series() not appended
  // yet), closes the file and renames it onto the path. Call once.
  void finish(const ResultsContent& content);

 private:
  struct Impl;
  std::filesystem::path path_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moesim
