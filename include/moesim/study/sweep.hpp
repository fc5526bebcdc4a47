#pragma once
// `moesim sweep study.yaml`: a base scenario (or rank study) and a `sweep:` block of values for scenario
// paths; every point is the base with that point's values applied exactly as `--set path=value` would
// apply them (same paths, same validation), run through the `run` path (summary metrics) or through
// `rank` (the best design and its cost). One table, one row per point (docs/what-if.md).
//
// Determinism: a point's result depends only on the base and the point's values (each point's workload
// is drawn from the scenario's seed), so results are identical for any --jobs and any number of MPI
// ranks, and a resumed sweep equals an uninterrupted one.
#include <atomic>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "moesim/common/atomic_file.hpp"
#include "moesim/config/scenario.hpp"
#include "moesim/study/rank_output.hpp"
#include "moesim/study/study.hpp"

namespace moesim::study {

enum class SweepMode { kCartesian, kZip };
enum class SweepRunner { kRun, kRank };

// One `over:` entry: a scenario path and its values.
struct SweepAxis {
  std::string path;                  // "workload.prompt_scale", "workload.mix.1.weight" (as --set spells it)
  std::vector<std::string> values;   // each value as YAML text (flow style), as --set would receive it
  std::vector<int> lines, columns;   // 1-based position of each value in the sweep file
  bool numeric = true;               // every value a number: a numeric column (else text, e.g. GPU names)
  std::vector<double> numbers;       // the values as numbers when numeric
};

struct SweepSpec {
  std::string name;                  // the base scenario's name
  std::string source_file;           // the sweep file as given ("<text>" for load_sweep_text)
  std::string sweep_text;            // the whole file (provenance, and --resume checks it is the same sweep)
  std::string base_text;             // the base document: the file without its sweep/base keys, or `base:`'s file
  std::string base_display;          // name of the base document in messages
  std::filesystem::path base_dir;    // relative paths of the base resolve against this
  std::vector<std::string> base_overrides;  // `moesim sweep --set path=value`, already applied to base_text
  SweepMode mode = SweepMode::kCartesian;
  SweepRunner runner = SweepRunner::kRun;
  std::vector<SweepAxis> axes;
  // Axes that move together (a `zip:` entry, or every axis with mode zip): indices into `axes`. The
  // points are the cartesian product of the groups; within a group the i-th values go together.
  std::vector<std::vector<std::size_t>> groups;
};

// Every point as one value index per axis, in row order: cartesian = the last axis varies fastest (as
// nested loops in the order written); zip = the i-th value of every axis (all lists have one length).
[[nodiscard]] std::vector<std::vector<std::size_t>> expand_points(SweepMode mode, const std::vector<std::size_t>& sizes);
// The general form: `groups` partitions the axes (indices into `sizes`); every axis of a group has the
// group's length. Cartesian product of the groups, the last group fastest; one value index per axis.
[[nodiscard]] std::vector<std::vector<std::size_t>> expand_groups(const std::vector<std::vector<std::size_t>>& groups,
                                                                  const std::vector<std::size_t>& sizes);

// Reads the sweep block and the base document. Throws ConfigError (file:line:column: sweep.key: what is
// allowed) listing every problem of the block; InputError when the file cannot be opened.
[[nodiscard]] SweepSpec load_sweep_file(const std::filesystem::path& path);
[[nodiscard]] SweepSpec load_sweep_text(const std::string& text, const std::string& display_name,
                                        const std::filesystem::path& base_dir);

// `moesim sweep --set path=value ...`: applies the overrides to the base document (base_text then holds
// the merged document, so --resume refuses a file written with other --set values). A --set on a swept
// path is a UsageError (the sweep's values would silently replace it). Problems of the overridden values
// are reported by resolve_points, naming the --set argument.
void apply_base_overrides(SweepSpec& spec, const std::vector<std::string>& overrides);

// A point, resolved: its overrides as --set arguments and the validated scenario (run) or study (rank).
struct SweepPoint {
  std::size_t index = 0;
  std::vector<std::size_t> value_index;   // per axis
  std::vector<std::string> overrides;     // "path=value" per axis
  std::optional<Scenario> scenario;       // runner == kRun
  std::optional<StudySpec> study;         // runner == kRank
};

// Validates the base and every point before anything runs. Problems of a point's value are reported at
// the value in the sweep file (file:line:column: path: message, "in sweep point i"); problems of the base
// at the base. Throws ConfigError listing each distinct problem once.
[[nodiscard]] std::vector<SweepPoint> resolve_points(const SweepSpec& spec);

// The columns a point's result fills (after `point`, one column per axis and `done`): the run summary
// or the rank answer. Fixed for a runner, whatever the points.
struct ResultColumn {
  std::string name, units, description;
  bool text = false;
};
[[nodiscard]] std::vector<ResultColumn> result_columns(SweepRunner runner);

// One point's values, in result_columns order (numbers: the numeric columns; texts: the text columns).
struct PointResult {
  bool done = false;                 // false: not run (interrupted before it finished)
  std::vector<double> numbers;
  std::vector<std::string> texts;
};

// Runs one point (single-threaded). Returns done == false when `stop` was set before it finished.
[[nodiscard]] PointResult run_point(const SweepSpec& spec, const SweepPoint& point, const std::atomic<bool>* stop);

// The table `/points`: point, the swept paths, done, then the result columns (NaN / "" where not done).
[[nodiscard]] Table points_table(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                                 const std::vector<PointResult>& results);

// Writes the HDF5 file (root attributes kind = moesim-sweep, complete, sweep_yaml; group /points)
// atomically; `complete` false marks an interrupted sweep.
void write_sweep_hdf5(const std::filesystem::path& path, const SweepSpec& spec, const Table& points, bool complete,
                      OverwritePolicy policy);

// The finished points of an earlier (interrupted) file of the same sweep, by point index, for --resume.
// Throws UsageError when the file is not a sweep file or was written for another sweep.
[[nodiscard]] std::map<std::size_t, PointResult> read_sweep_resume(const std::filesystem::path& path,
                                                                   const SweepSpec& spec);

// Byte serialisation of finished point results (index + values), for gathering them over MPI.
[[nodiscard]] std::string serialize_results(const std::vector<std::size_t>& indices,
                                            const std::vector<PointResult>& results);
void deserialize_results(const std::string& bytes, std::vector<PointResult>& results);

}  // namespace moesim::study
