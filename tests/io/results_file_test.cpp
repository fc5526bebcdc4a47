// The run-results file (docs/hdf5-schema.md): a small simulation is written with write_results_hdf5 and
// read back with the HDF5 C++ API. Set MOESIM_KEEP_RESULTS=/some/path.h5 to keep a copy of the complete
// run's file there and of an interrupted run's file at /some/path.interrupted.h5 (the Python loader and
// plots in analysis/ are checked end to end on them).
#include "moesim/io/results_file.hpp"

#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "h5_read_helpers.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/metrics/metrics.hpp"
#include "moesim/sim/simulation.hpp"

namespace moesim {
namespace {

namespace fs = std::filesystem;
using test_h5::length_of;
using test_h5::read_column;
using test_h5::read_string_attribute;

// Test latency, exactly known per operator: 1 ms engine overhead per step, 10 us per prompt token
// (attention_prefill), 20 us per decoding sequence (attention_decode).
class SplitLatency final : public StepLatencyModel {
 public:
  static constexpr SimTimeNs kOverheadNs = kNsPerMs;
  static constexpr SimTimeNs kPerPromptTokenNs = 10 * kNsPerUs;
  static constexpr SimTimeNs kPerDecodeNs = 20 * kNsPerUs;
  SimTimeNs step_time_ns(const StepShape& shape) const override {
    return kOverheadNs + kPerPromptTokenNs * shape.prefill_tokens + kPerDecodeNs * shape.num_decode_seqs;
  }
  void step_breakdown(const StepShape& shape, OperatorBreakdown& out) const override {
    out.fill(0.0);
    out[static_cast<std::size_t>(Operator::kEngineOverhead)] = ns_to_seconds(kOverheadNs);
    out[static_cast<std::size_t>(Operator::kAttentionPrefill)] = ns_to_seconds(kPerPromptTokenNs * shape.prefill_tokens);
    out[static_cast<std::size_t>(Operator::kAttentionDecode)] = ns_to_seconds(kPerDecodeNs * shape.num_decode_seqs);
  }
  std::string describe() const override { return "split test latency"; }
};

constexpr std::int32_t kRequests = 150;
constexpr std::int32_t kReplicas = 2;
constexpr SimTimeNs kSampleIntervalNs = 20 * kNsPerMs;

Workload make_workload() {
  Workload w;
  std::uint64_t state = 12345;
  for (std::int32_t i = 0; i < kRequests; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto prompt = static_cast<std::int32_t>(1 + (state >> 33) % 600);
    const auto output = static_cast<std::int32_t>(1 + (state >> 13) % 200);
    w.push_back({2 * kNsPerMs * i, prompt, output});
  }
  return w;
}

// Forwards steps to the recorder and raises the stop flag after `stop_after` steps (0 = never).
class StoppingObserver final : public SimulationObserver {
 public:
  StoppingObserver(MetricsRecorder& recorder, std::atomic<bool>& stop, std::int64_t stop_after)
      : recorder_(recorder), stop_(stop), stop_after_(stop_after) {}
  void on_step(const StepRecord& record) override {
    recorder_.on_step(record);
    if (stop_after_ > 0 && ++seen_ >= stop_after_) stop_.store(true);
  }

 private:
  MetricsRecorder& recorder_;
  std::atomic<bool>& stop_;
  std::int64_t stop_after_;
  std::int64_t seen_ = 0;
};

// One simulated run plus what the writer needs.
struct SimulatedRun {
  SplitLatency latency;
  Workload workload = make_workload();
  SimulationOutcome outcome;
  std::unique_ptr<MetricsRecorder> recorder;
  RunSummary summary;

  // `writer`: stream the per-step rows into it in blocks of `block_rows` and the time-series samples in
  // blocks of `block_rows + 2` (RecorderOptions::iteration_sink, time_series_sink; another size, so that
  // the last block of each is partial in the test below).
  explicit SimulatedRun(std::int64_t stop_after_steps = 0, ResultsFileWriter* writer = nullptr,
                        std::size_t block_rows = 0) {
    SimulationSetup setup;
    setup.serving.block_size = 16;
    setup.serving.max_num_seqs = 32;
    setup.serving.max_model_len = 2048;
    setup.serving.max_num_batched_tokens = 2048;
    setup.serving.data_parallel_size = kReplicas;
    setup.num_gpu_blocks = 120;  // small: the KV cache fills up and some requests are preempted
    setup.latency = &latency;
    setup.workload = &workload;
    RecorderOptions options;
    options.num_replicas = kReplicas;
    options.max_batch_size = setup.serving.max_num_seqs;
    options.time_series_interval_ns = kSampleIntervalNs;
    options.latency = &latency;
    if (writer != nullptr) {
      options.iteration_sink = [writer](const IterationColumns& rows) { writer->append_iterations(rows); };
      options.iteration_block_rows = block_rows;
      options.time_series_sink = [writer](const TimeSeriesColumns& rows) { writer->append_time_series(rows); };
      options.time_series_block_rows = block_rows + 2;
    }
    recorder = std::make_unique<MetricsRecorder>(options);
    std::atomic<bool> stop{false};
    StoppingObserver observer(*recorder, stop, stop_after_steps);
    outcome = Simulation(setup).run(&observer, &stop);
    recorder->finish(outcome.end_ns);
    summary = summarize(outcome, *recorder, 2.0, 1.5);
  }

  [[nodiscard]] ResultsContent content() const {
    ResultsContent c;
    c.scenario_name = "io-test";
    c.scenario_yaml = "name: io-test\nserving:\n  max_num_seqs: 32\n";
    c.latency_description = latency.describe();
    c.outcome = &outcome;
    c.recorder = recorder.get();
    c.summary = &summary;
    c.deployment = {{"gpus", 2.0, "GPUs", "GPUs of the deployment"},
                    {"kv_blocks_per_replica", 120.0, "blocks", "KV blocks per replica"}};
    return c;
  }
};

class ResultsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("moesim_io_results_" + std::to_string(::getpid()) + "_" + std::string(info->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "results.h5";
  }
  void TearDown() override { fs::remove_all(dir_); }

  [[nodiscard]] std::vector<std::string> directory_entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    return names;
  }

  fs::path dir_;
  fs::path path_;
};

std::int64_t read_int_attribute(const H5::H5Object& object, const std::string& name) {
  std::int64_t value = -1;
  object.openAttribute(name).read(H5::PredType::NATIVE_INT64, &value);
  return value;
}

double read_scalar(const H5::H5File& file, const std::string& path) {
  const std::vector<double> v = read_column<double>(file.openDataSet(path), H5::PredType::NATIVE_DOUBLE);
  return v.size() == 1 ? v[0] : std::nan("");
}

bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// Every dataset under `group`, recursively, as full paths.
void collect_datasets(const H5::Group& group, const std::string& prefix, std::vector<std::string>& out) {
  for (hsize_t i = 0; i < group.getNumObjs(); ++i) {
    const std::string name = group.getObjnameByIdx(i);
    const H5G_obj_t type = group.getObjTypeByIdx(i);
    if (type == H5G_GROUP) {
      collect_datasets(group.openGroup(name), prefix + name + "/", out);
    } else if (type == H5G_DATASET) {
      out.push_back(prefix + name);
    }
  }
}

std::vector<std::string> datasets_in(const H5::H5File& file, const std::string& group) {
  std::vector<std::string> out;
  collect_datasets(file.openGroup(group), group == "/" ? "/" : group + "/", out);
  return out;
}

TEST(ResultsFileRun, TheTestRunIsBusyEnoughToBeInteresting) {
  // Guards the other tests: the run must preempt, use both replicas and finish every request.
  const SimulatedRun run;
  EXPECT_EQ(run.summary.finished, kRequests);
  EXPECT_GT(run.summary.preemptions, 0);
  EXPECT_GT(run.summary.mixed_steps + run.summary.prefill_steps, 0);
  EXPECT_GT(run.recorder->time_series().time_s.size(), 5U);
}

TEST_F(ResultsFile, RootAttributesNameTheSchemaVersionScenarioAndCompleteness) {
  const SimulatedRun run;
  write_results_hdf5(path_, run.content(), OverwritePolicy::kRefuse);
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  const H5::Group root = file.openGroup("/");
  EXPECT_EQ(read_int_attribute(root, "schema_version"), kResultsSchemaVersion);
  EXPECT_EQ(read_int_attribute(root, "schema_version"), 2);
  EXPECT_EQ(read_int_attribute(root, "complete"), 1);
  EXPECT_EQ(read_string_attribute(root, "scenario_name"), "io-test");
  EXPECT_FALSE(read_string_attribute(root, "moesim_version").empty());
  const H5::Group scenario = file.openGroup("/scenario");
  EXPECT_EQ(read_string_attribute(scenario, "yaml"), run.content().scenario_yaml);
  EXPECT_EQ(read_string_attribute(scenario, "latency_model"), "split test latency");

  if (const char* keep = std::getenv("MOESIM_KEEP_RESULTS"); keep != nullptr && *keep != '\0') {
    fs::copy_file(path_, keep, fs::copy_options::overwrite_existing);
  }
}

TEST_F(ResultsFile, SummaryDatasetsEqualTheRunSummary) {
  const SimulatedRun run;
  write_results_hdf5(path_, run.content(), OverwritePolicy::kRefuse);
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  // Directly against RunSummary fields (not only against summary_entries, which the writer also uses).
  EXPECT_EQ(read_scalar(file, "/summary/num_requests"), static_cast<double>(run.summary.num_requests));
  EXPECT_EQ(read_scalar(file, "/summary/finished_requests"), static_cast<double>(run.summary.finished));
  EXPECT_EQ(read_scalar(file, "/summary/preemptions"), static_cast<double>(run.summary.preemptions));
  EXPECT_EQ(read_scalar(file, "/summary/steps"), static_cast<double>(run.summary.steps));
  EXPECT_EQ(read_scalar(file, "/summary/makespan_s"), run.summary.makespan_s);
  EXPECT_EQ(read_scalar(file, "/summary/output_tokens_per_s"), run.summary.output_tokens_per_s);
  EXPECT_EQ(read_scalar(file, "/summary/batch_size_mean"), run.summary.batch_size_mean);
  EXPECT_EQ(read_scalar(file, "/summary/batch_size_time_weighted"), run.summary.batch_size_time_weighted);
  EXPECT_EQ(read_scalar(file, "/summary/kv_utilization_peak"), run.summary.kv_utilization_peak);
  EXPECT_EQ(read_scalar(file, "/summary/ttft_p99"), run.summary.ttft_s.p99);
  EXPECT_EQ(read_scalar(file, "/summary/tpot_mean"), run.summary.tpot_s.mean);
  EXPECT_EQ(read_scalar(file, "/summary/e2e_max"), run.summary.e2e_s.max);
  EXPECT_EQ(read_scalar(file, "/summary/queueing_p50"), run.summary.queueing_s.p50);
  EXPECT_EQ(read_scalar(file, "/summary/cost_per_million_output_tokens_usd"),
            run.summary.cost_per_million_output_tokens_usd);
  EXPECT_EQ(read_scalar(file, "/summary/interrupted"), 0.0);
  // And every entry, with its units, and nothing else in the group.
  const std::vector<ScalarEntry> entries = summary_entries(run.summary);
  EXPECT_EQ(datasets_in(file, "/summary").size(), entries.size());
  for (const ScalarEntry& e : entries) {
    SCOPED_TRACE(e.name);
    const H5::DataSet dataset = file.openDataSet("/summary/" + e.name);
    EXPECT_EQ(length_of(dataset), 1U);
    EXPECT_TRUE(same_value(read_scalar(file, "/summary/" + e.name), e.value));
    EXPECT_EQ(read_string_attribute(dataset, "units"), e.units);
  }
}

TEST_F(ResultsFile, EveryDatasetHasAUnitsAttribute) {
  SimulatedRun run;
  ResultsContent content = run.content();
  content.analytic = {{"throughput_tokens_per_s", 1000.0, "tokens/s", "analytic estimate"}};
  write_results_hdf5(path_, content, OverwritePolicy::kRefuse);
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  const std::vector<std::string> all = datasets_in(file, "/");
  // summary + deployment + analytic + 14 request + 2 request-status + 13 iteration + 5 time-series + 2 operator
  // columns.
  EXPECT_EQ(all.size(), summary_entries(run.summary).size() + 2 + 1 + 14 + 2 + 13 + 5 + 2);
  for (const std::string& path : all) {
    EXPECT_TRUE(file.openDataSet(path).attrExists("units")) << path << " has no units attribute";
  }
  const std::set<std::string> groups_expected{"scenario", "summary",    "deployment", "analytic",
                                              "requests", "request_status", "iterations", "timeseries", "operators"};
  std::set<std::string> groups;
  const H5::Group root = file.openGroup("/");
  for (hsize_t i = 0; i < root.getNumObjs(); ++i) groups.insert(root.getObjnameByIdx(i));
  EXPECT_EQ(groups, groups_expected);
}

TEST_F(ResultsFile, RequestColumnsHaveOneRowPerRequestAndMatchTheOutcome) {
  const SimulatedRun run;
  write_results_hdf5(path_, run.content(), OverwritePolicy::kRefuse);
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  for (const std::string& path : datasets_in(file, "/requests")) {
    // One table per group: every dataset of /requests is a per-request column (the status lookup lives in
    // /request_status), so the group reads straight into one data frame.
    EXPECT_EQ(length_of(file.openDataSet(path)), run.outcome.requests.size()) << path;
  }
  const auto arrival = read_column<double>(file.openDataSet("/requests/arrival_s"), H5::PredType::NATIVE_DOUBLE);
  const auto ttft = read_column<double>(file.openDataSet("/requests/ttft_s"), H5::PredType::NATIVE_DOUBLE);
  const auto tpot = read_column<double>(file.openDataSet("/requests/tpot_s"), H5::PredType::NATIVE_DOUBLE);
  const auto generated =
      read_column<std::int32_t>(file.openDataSet("/requests/generated_tokens"), H5::PredType::NATIVE_INT32);
  const auto status = read_column<std::int32_t>(file.openDataSet("/requests/status"), H5::PredType::NATIVE_INT32);
  ASSERT_EQ(ttft.size(), run.outcome.requests.size());
  for (std::size_t i = 0; i < ttft.size(); ++i) {
    const RequestState& r = run.outcome.requests[i];
    EXPECT_EQ(arrival[i], ns_to_seconds(run.workload[i].arrival_ns));
    EXPECT_EQ(ttft[i], ns_to_seconds(r.first_token_ns - r.arrival_ns));
    EXPECT_EQ(generated[i], run.workload[i].output_tokens);
    EXPECT_EQ(status[i], static_cast<std::int32_t>(RequestStatus::kFinished));
    if (r.generated > 1) {
      EXPECT_DOUBLE_EQ(tpot[i], ns_to_seconds(r.completion_ns - r.first_token_ns) / (r.generated - 1));
    } else {
      EXPECT_TRUE(std::isnan(tpot[i])) << "a one-token request has no TPOT";
    }
  }
  const auto names = test_h5::read_strings(file.openDataSet("/request_status/name"));
  const auto codes =
      read_column<std::int32_t>(file.openDataSet("/request_status/code"), H5::PredType::NATIVE_INT32);
  ASSERT_EQ(names.size(), 7U);
  ASSERT_EQ(codes.size(), 7U);
  EXPECT_EQ(codes[static_cast<std::size_t>(RequestStatus::kFinished)], 4);
  EXPECT_EQ(names[static_cast<std::size_t>(RequestStatus::kFinished)], "finished");
  EXPECT_EQ(names[6], "aborted");
}

TEST_F(ResultsFile, IterationsAndOperatorTimesAgreeWithTheLatencyModel) {
  const SimulatedRun run;
  write_results_hdf5(path_, run.content(), OverwritePolicy::kRefuse);
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  for (const std::string& path : datasets_in(file, "/iterations")) {
    EXPECT_EQ(length_of(file.openDataSet(path)), static_cast<std::size_t>(run.outcome.steps)) << path;
  }
  const auto duration = read_column<double>(file.openDataSet("/iterations/duration_s"), H5::PredType::NATIVE_DOUBLE);
  const auto prefill =
      read_column<std::int64_t>(file.openDataSet("/iterations/prefill_tokens"), H5::PredType::NATIVE_INT64);
  const auto decodes =
      read_column<std::int32_t>(file.openDataSet("/iterations/num_decode_seqs"), H5::PredType::NATIVE_INT32);
  std::int64_t prefill_total = 0, decode_total = 0;
  double duration_total = 0;
  for (std::size_t i = 0; i < duration.size(); ++i) {
    prefill_total += prefill[i];
    decode_total += decodes[i];
    duration_total += duration[i];
  }
  const auto names = test_h5::read_strings(file.openDataSet("/operators/name"));
  const auto seconds = read_column<double>(file.openDataSet("/operators/time_s"), H5::PredType::NATIVE_DOUBLE);
  ASSERT_EQ(names.size(), kOperatorCount);
  ASSERT_EQ(seconds.size(), kOperatorCount);
  std::map<std::string, double> by_name;
  double operator_total = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    by_name[names[i]] = seconds[i];
    operator_total += seconds[i];
  }
  EXPECT_EQ(by_name.size(), kOperatorCount) << "operator names are distinct";
  const double steps = static_cast<double>(run.outcome.steps);
  EXPECT_NEAR(by_name.at(to_string(Operator::kEngineOverhead)), steps * 1e-3, 1e-9);
  EXPECT_NEAR(by_name.at(to_string(Operator::kAttentionPrefill)), static_cast<double>(prefill_total) * 10e-6, 1e-9);
  EXPECT_NEAR(by_name.at(to_string(Operator::kAttentionDecode)), static_cast<double>(decode_total) * 20e-6, 1e-9);
  EXPECT_NEAR(operator_total, duration_total, 1e-9);
}

// Streaming (ResultsFileWriter + RecorderOptions::iteration_sink, issue 13): the per-step rows, handed over
// in blocks of 7 during the run (the last block partial), make the same /iterations table as a run that
// kept them all in memory, column by column and value by value; only the storage layout differs
// (chunked, extendible). The recorder keeps no row once they are streamed.
TEST_F(ResultsFile, AStreamedPerStepTableHoldsExactlyTheRowsOfOneKeptInMemory) {
  const SimulatedRun kept;
  const fs::path kept_path = dir_ / "kept.h5";
  write_results_hdf5(kept_path, kept.content(), OverwritePolicy::kRefuse);
  {
    ResultsFileWriter writer(path_, OverwritePolicy::kRefuse);
    const SimulatedRun streamed(0, &writer, 7);
    EXPECT_EQ(streamed.recorder->iterations().size(), 0U) << "rows left in memory";
    EXPECT_EQ(streamed.recorder->iteration_rows_streamed(), streamed.outcome.steps);
    ASSERT_NE(streamed.outcome.steps % 7, 0) << "the test wants a partial last block";
    EXPECT_EQ(streamed.recorder->time_series().size(), 0U) << "samples left in memory";
    EXPECT_EQ(static_cast<std::size_t>(streamed.recorder->time_series_rows_streamed()), kept.recorder->time_series().size());
    ASSERT_GT(kept.recorder->time_series().size(), 9U) << "the test wants more than one block of samples";
    ASSERT_NE(kept.recorder->time_series().size() % 9, 0U) << "the test wants a partial last block";
    EXPECT_TRUE(fs::exists(dir_ / ("results.h5.tmp-" + std::to_string(::getpid())))) << "written while running";
    EXPECT_FALSE(fs::exists(path_)) << "visible before finish()";
    writer.finish(streamed.content());
  }
  H5::H5File a(kept_path.string(), H5F_ACC_RDONLY);
  H5::H5File b(path_.string(), H5F_ACC_RDONLY);
  const std::vector<std::string> columns = datasets_in(a, "/iterations");
  ASSERT_EQ(columns.size(), 13U);
  EXPECT_EQ(datasets_in(b, "/iterations"), columns);
  for (const std::string& column : columns) {
    const H5::DataSet x = a.openDataSet(column);
    const H5::DataSet y = b.openDataSet(column);
    EXPECT_EQ(x.getDataType(), y.getDataType()) << column;
    EXPECT_EQ(read_string_attribute(x, "units"), read_string_attribute(y, "units")) << column;
    EXPECT_EQ(read_column<double>(x, H5::PredType::NATIVE_DOUBLE), read_column<double>(y, H5::PredType::NATIVE_DOUBLE))
        << column;
    EXPECT_EQ(x.getCreatePlist().getLayout(), H5D_CONTIGUOUS) << column;
    EXPECT_EQ(y.getCreatePlist().getLayout(), H5D_CHUNKED) << column;
  }
  EXPECT_EQ(length_of(b.openDataSet("/iterations/step_index")), static_cast<std::size_t>(kept.outcome.steps));
  // The time series too (streamed since issue 13's second round), and the operator times summed from the
  // recorded steps are the same to the last bit.
  const std::vector<std::string> samples = datasets_in(a, "/timeseries");
  ASSERT_EQ(samples.size(), 5U);
  EXPECT_EQ(datasets_in(b, "/timeseries"), samples);
  for (const std::string& column : samples) {
    const H5::DataSet x = a.openDataSet(column);
    const H5::DataSet y = b.openDataSet(column);
    EXPECT_EQ(x.getDataType(), y.getDataType()) << column;
    EXPECT_EQ(read_string_attribute(x, "units"), read_string_attribute(y, "units")) << column;
    EXPECT_EQ(read_string_attribute(x, "description"), read_string_attribute(y, "description")) << column;
    EXPECT_EQ(read_column<double>(x, H5::PredType::NATIVE_DOUBLE), read_column<double>(y, H5::PredType::NATIVE_DOUBLE))
        << column;
    EXPECT_EQ(y.getCreatePlist().getLayout(), H5D_CHUNKED) << column;
  }
  EXPECT_EQ(read_column<double>(a.openDataSet("/operators/time_s"), H5::PredType::NATIVE_DOUBLE),
            read_column<double>(b.openDataSet("/operators/time_s"), H5::PredType::NATIVE_DOUBLE));
  EXPECT_EQ(read_column<double>(a.openDataSet("/requests/e2e_s"), H5::PredType::NATIVE_DOUBLE).size(),
            read_column<double>(b.openDataSet("/requests/e2e_s"), H5::PredType::NATIVE_DOUBLE).size());
}

// A writer given up before finish() (an error in the run, an exception) leaves nothing behind.
TEST_F(ResultsFile, AStreamingWriterDestroyedBeforeFinishLeavesNoFile) {
  {
    ResultsFileWriter writer(path_, OverwritePolicy::kRefuse);
    const SimulatedRun streamed(0, &writer, 5);
    EXPECT_EQ(directory_entries().size(), 1U);
  }
  EXPECT_TRUE(directory_entries().empty());
}

TEST_F(ResultsFile, TheTimeSeriesIsAnIncreasingGridWithUtilisationBetweenZeroAndOne) {
  const SimulatedRun run;
  write_results_hdf5(path_, run.content(), OverwritePolicy::kRefuse);
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  const auto time = read_column<double>(file.openDataSet("/timeseries/time_s"), H5::PredType::NATIVE_DOUBLE);
  const auto kv = read_column<double>(file.openDataSet("/timeseries/kv_utilization"), H5::PredType::NATIVE_DOUBLE);
  ASSERT_GT(time.size(), 1U);
  for (const std::string& path : datasets_in(file, "/timeseries")) {
    EXPECT_EQ(length_of(file.openDataSet(path)), time.size()) << path;
  }
  EXPECT_EQ(time.front(), 0.0);
  for (std::size_t i = 1; i < time.size(); ++i) {
    EXPECT_NEAR(time[i] - time[i - 1], ns_to_seconds(kSampleIntervalNs), 1e-12);
  }
  EXPECT_LE(time.back(), ns_to_seconds(run.outcome.end_ns));
  double peak = 0;
  for (double u : kv) {
    EXPECT_GE(u, 0.0);
    EXPECT_LE(u, 1.0);
    peak = std::max(peak, u);
  }
  EXPECT_GT(peak, 0.0);
}

TEST_F(ResultsFile, NoTemporaryFileIsLeftInTheDirectory) {
  const SimulatedRun run;
  write_results_hdf5(path_, run.content(), OverwritePolicy::kRefuse);
  EXPECT_EQ(directory_entries(), std::vector<std::string>{"results.h5"});
}

TEST_F(ResultsFile, AnExistingFileIsRefusedAndKeptUnlessReplaceIsAsked) {
  const SimulatedRun run;
  { std::ofstream(path_) << "not an HDF5 file"; }
  EXPECT_THROW(write_results_hdf5(path_, run.content(), OverwritePolicy::kRefuse), UsageError);
  {
    std::ifstream in(path_);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, "not an HDF5 file") << "a refused write must not touch the existing file";
  }
  EXPECT_EQ(directory_entries(), std::vector<std::string>{"results.h5"});

  write_results_hdf5(path_, run.content(), OverwritePolicy::kReplace);
  EXPECT_EQ(directory_entries(), std::vector<std::string>{"results.h5"});
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  EXPECT_EQ(read_int_attribute(file.openGroup("/"), "schema_version"), 2);
}

TEST_F(ResultsFile, AnInterruptedRunIsWrittenWithCompleteZero) {
  const SimulatedRun run(/*stop_after_steps=*/40);
  ASSERT_TRUE(run.outcome.interrupted);
  ASSERT_LT(run.summary.finished, kRequests);
  write_results_hdf5(path_, run.content(), OverwritePolicy::kRefuse);
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  EXPECT_EQ(read_int_attribute(file.openGroup("/"), "complete"), 0);
  EXPECT_EQ(read_scalar(file, "/summary/interrupted"), 1.0);
  EXPECT_EQ(read_scalar(file, "/summary/finished_requests"), static_cast<double>(run.summary.finished));
  // Unfinished requests have no TTFT/E2E: NaN, not 0 or a negative difference of -1 sentinels.
  const auto ttft = read_column<double>(file.openDataSet("/requests/ttft_s"), H5::PredType::NATIVE_DOUBLE);
  const auto e2e = read_column<double>(file.openDataSet("/requests/e2e_s"), H5::PredType::NATIVE_DOUBLE);
  const auto completion = read_column<double>(file.openDataSet("/requests/completion_s"), H5::PredType::NATIVE_DOUBLE);
  std::int64_t unfinished = 0;
  for (std::size_t i = 0; i < ttft.size(); ++i) {
    if (run.outcome.requests[i].status != RequestStatus::kFinished) {
      ++unfinished;
      EXPECT_TRUE(std::isnan(ttft[i]));
      EXPECT_TRUE(std::isnan(e2e[i]));
      EXPECT_TRUE(std::isnan(completion[i]));
    }
  }
  EXPECT_EQ(unfinished, kRequests - run.summary.finished);
  EXPECT_EQ(length_of(file.openDataSet("/iterations/start_s")), static_cast<std::size_t>(run.outcome.steps));

  // Kept beside the complete run's copy as <stem>.interrupted.h5 for the Python checks.
  if (const char* keep = std::getenv("MOESIM_KEEP_RESULTS"); keep != nullptr && *keep != '\0') {
    fs::copy_file(path_, fs::path(keep).replace_extension(".interrupted.h5"), fs::copy_options::overwrite_existing);
  }
}

TEST_F(ResultsFile, OptionalGroupsAreLeftOutWhenNotRequested) {
  const SimulatedRun run;
  ResultsContent content = run.content();
  content.per_request = false;
  content.per_iteration = false;
  content.time_series = false;
  write_results_hdf5(path_, content, OverwritePolicy::kRefuse);
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  EXPECT_FALSE(file.nameExists("requests"));
  EXPECT_FALSE(file.nameExists("iterations"));
  EXPECT_FALSE(file.nameExists("timeseries"));
  EXPECT_FALSE(file.nameExists("analytic")) << "no analytic entries given";
  EXPECT_TRUE(file.nameExists("summary"));
  EXPECT_TRUE(file.nameExists("deployment"));
  EXPECT_TRUE(file.nameExists("operators"));
  EXPECT_EQ(read_scalar(file, "/deployment/kv_blocks_per_replica"), 120.0);
}

}  // namespace
}  // namespace moesim
