// Interrupted and failing runs: SIGINT/SIGTERM leave a valid HDF5 file marked incomplete (root attribute
// complete = 0) holding the finished work and exit 130 / 143 (128 + signal); a signal at any other moment
// (loading, writing, a command without partial results) leaves no file and no temporary file; a write error (a full disk, simulated with
// RLIMIT_FSIZE) leaves no half-written file, says so, and exits 1.
#include <H5Apublic.h>
#include <H5Dpublic.h>
#include <H5Fpublic.h>
#include <H5Ppublic.h>
#include <H5Spublic.h>
#include <H5Tpublic.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>

#include "cli_harness.hpp"

namespace moesim::test {
namespace {

using ::testing::HasSubstr;

// Hours of simulated traffic: the ShareGPT trace repeated to 2 million requests, Poisson arrivals. The
// run takes far longer than the test waits, so the signal always lands mid-run.
std::string long_scenario() {
  return R"(name: long
cluster: {gpu: A100-SXM-80GB, nodes: 1, gpus_per_node: 1, cost_per_gpu_hour_usd: 5.0}
model: {preset: llama-2-7b}
serving: {scheduler: v0}
workload:
  trace: )" + source_path("traces/sharegpt_8k_llama2.csv") +
         R"(
  prompt_tokens: {distribution: trace, max: 3072}
  output_tokens: {distribution: trace, max: 1024}
  arrivals: {process: poisson, rate_per_s: 2.0}
  num_requests: 2000000
  seed: 11
)";
}

struct ResultsFile {
  std::int64_t complete = -1;
  double interrupted = -1;
  double finished_requests = -1;
  double num_requests = -1;
};

double read_scalar(hid_t file, const char* name) {
  double value = -1;
  const hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
  if (dataset < 0) return value;
  H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value);  // length-1 dataset
  H5Dclose(dataset);
  return value;
}

// Opening the file at all is the validity check: a half-written HDF5 file does not open.
bool read_results(const std::filesystem::path& path, ResultsFile* out) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) return false;
  const hid_t attribute = H5Aopen_by_name(file, "/", "complete", H5P_DEFAULT, H5P_DEFAULT);
  if (attribute >= 0) {
    H5Aread(attribute, H5T_NATIVE_INT64, &out->complete);
    H5Aclose(attribute);
  }
  out->interrupted = read_scalar(file, "/summary/interrupted");
  out->finished_requests = read_scalar(file, "/summary/finished_requests");
  out->num_requests = read_scalar(file, "/summary/num_requests");
  H5Fclose(file);
  return true;
}

class CliInterrupt : public ::testing::TestWithParam<int> {};

TEST_P(CliInterrupt, LeavesAValidIncompleteFileWithTheFinishedWorkAndExits128PlusSignal) {
  const int signal_number = GetParam();
  TempDir dir;
  dir.write("long.yaml", long_scenario());
  RunningCommand run(dir, {"run", "long.yaml", "-o", "out.h5", "--no-iterations", "--no-timeseries"});
  // The handlers are installed before the scenario is loaded, so a signal at any moment (loading,
  // building the 2M-request workload, simulating) ends the run cleanly; give it time to start simulating.
  ASSERT_TRUE(run.wait_until_catching(signal_number, 20.0)) << "moesim run never installed its handler";
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_EQ(::kill(run.pid(), signal_number), 0);
  const CommandResult r = run.wait();
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.exit_code, 128 + signal_number) << r.err;  // 130 for SIGINT, 143 for SIGTERM
  EXPECT_THAT(r.err, HasSubstr(signal_number == SIGINT ? "SIGINT received" : "SIGTERM received"));
  EXPECT_THAT(r.err, HasSubstr("interrupted"));
  EXPECT_THAT(r.out, HasSubstr("marked incomplete"));

  EXPECT_EQ(dir.listing(), (std::set<std::string>{"long.yaml", "out.h5"})) << "a temporary file was left";
  ResultsFile results;
  ASSERT_TRUE(read_results(dir.path() / "out.h5", &results)) << "out.h5 is not a valid HDF5 file";
  EXPECT_EQ(results.complete, 0);
  EXPECT_EQ(results.interrupted, 1.0);
  EXPECT_EQ(results.num_requests, 2000000.0);
  // Usually some requests have finished; under sanitizers the signal can still arrive while the
  // workload is being built, and then the valid, incomplete file simply holds none.
  EXPECT_GE(results.finished_requests, 0.0);
  EXPECT_LT(results.finished_requests, results.num_requests);
}

INSTANTIATE_TEST_SUITE_P(Signals, CliInterrupt, ::testing::Values(SIGINT, SIGTERM),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           return std::string(param_info.param == SIGINT ? "SIGINT" : "SIGTERM");
                         });

// A signal at many moments of a run that loads, simulates and writes within about a second (3e5 requests,
// every table on): whatever the moment, the process ends with 128 + signal and one line naming the signal,
// and leaves either a valid HDF5 file (marked incomplete when the simulation was cut) or no file, never a
// temporary one. A signal after the process finished is not sent (the run then simply succeeded).
struct Moment {
  int signal;
  int delay_ms;
};

class CliSignalAtEveryMoment : public ::testing::TestWithParam<Moment> {};

TEST_P(CliSignalAtEveryMoment, RunEndsWithTheSignalsExitCodeAndAValidFileOrNone) {
  const Moment m = GetParam();
  TempDir dir;
  dir.write("medium.yaml", R"(name: medium
cluster: {gpu: A100-SXM-80GB, nodes: 1, gpus_per_node: 1, cost_per_gpu_hour_usd: 5.0}
model: {preset: llama-2-7b}
workload:
  prompt_tokens: {distribution: uniform, low: 16, high: 512}
  output_tokens: {distribution: uniform, low: 4, high: 128}
  arrivals: {process: poisson, rate_per_s: 50.0}
  num_requests: 300000
  seed: 5
)");
  RunningCommand run(dir, {"run", "medium.yaml", "-o", "out.h5"});
  ASSERT_TRUE(run.wait_until_catching(m.signal, 20.0)) << "moesim never installed its handler";
  std::this_thread::sleep_for(std::chrono::milliseconds(m.delay_ms));
  const bool sent = ::kill(run.pid(), m.signal) == 0;
  const CommandResult r = run.wait();
  EXPECT_EQ(r.term_signal, 0) << "killed by the signal instead of handling it";
  const std::set<std::string> listing = dir.listing();
  for (const std::string& name : listing) EXPECT_EQ(name.find(".tmp-"), std::string::npos) << name << " left";
  if (listing.count("out.h5") != 0U) {
    ResultsFile results;
    EXPECT_TRUE(read_results(dir.path() / "out.h5", &results)) << "out.h5 is not a valid HDF5 file";
  }
  if (!sent || r.exit_code == 0) {  // finished before the signal could land
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return;
  }
  EXPECT_EQ(r.exit_code, 128 + m.signal) << r.err;
  EXPECT_THAT(r.err, HasSubstr(m.signal == SIGINT ? "SIGINT" : "SIGTERM"));
}

INSTANTIATE_TEST_SUITE_P(Moments, CliSignalAtEveryMoment,
                         ::testing::Values(Moment{SIGINT, 0}, Moment{SIGTERM, 0}, Moment{SIGINT, 40},
                                           Moment{SIGTERM, 150}, Moment{SIGINT, 400}, Moment{SIGTERM, 700},
                                           Moment{SIGINT, 1000}, Moment{SIGTERM, 1300}, Moment{SIGINT, 1700},
                                           Moment{SIGTERM, 2200}, Moment{SIGINT, 3000}),
                         [](const ::testing::TestParamInfo<Moment>& moment_info) {
                           return std::string(moment_info.param.signal == SIGINT ? "SIGINT" : "SIGTERM") + "_after_" +
                                  std::to_string(moment_info.param.delay_ms) + "ms";
                         });

// A signal that arrives before moesim's main() runs: the child blocks SIGINT, sends it to itself (so it is
// pending before exec, a moment no sleep-based test can hit reliably) and execs moesim. The handler, installed
// during static initialisation, unblocks it and handles it: one line naming the signal, exit 130, no output
// file, instead of a silent death or a signal that is never acted on.
TEST(CliSignal, ASignalPendingBeforeMainIsHandledWithAMessageAndExit130) {
  TempDir dir;
  const std::string binary = moesim_executable();
  const std::string out_path = (dir.path() / "out.h5").string();
  const std::string err_path = (dir.path() / "stderr.txt").string();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    ::sigprocmask(SIG_BLOCK, &block, nullptr);
    ::raise(SIGINT);  // pending: blocked
    const int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ::dup2(fd, STDERR_FILENO) < 0) ::_exit(99);
    const char* argv[] = {binary.c_str(), "run", "-o", out_path.c_str(), nullptr};
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(98);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 130);
  std::ifstream err_file(err_path);
  const std::string err((std::istreambuf_iterator<char>(err_file)), std::istreambuf_iterator<char>());
  EXPECT_THAT(err, HasSubstr("moesim: interrupted by SIGINT"));
  const std::set<std::string> listing = dir.listing();
  EXPECT_EQ(listing, std::set<std::string>{"stderr.txt"}) << "an output or temporary file was left";
}

// Commands without partial results (fit here, a multi-second grid search) end at once: 128 + signal, one
// line, no output file and no temporary file.
TEST(CliSignal, FitEndsAtOnceWithoutOutput) {
  for (const int signal_number : {SIGINT, SIGTERM}) {
    TempDir dir;
    const std::string csv = source_path("data/scaling/epoch_chinchilla_svg_extracted_data.csv");
    RunningCommand run(dir, {"fit", csv, "--law", "chinchilla", "--n-column", "Model Size", "--flops-column",
                             "Training FLOP", "--bootstrap", "2000", "--threads", "1", "-o", "law.yaml"});
    ASSERT_TRUE(run.wait_until_catching(signal_number, 20.0));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(::kill(run.pid(), signal_number), 0);
    const CommandResult r = run.wait();
    EXPECT_EQ(r.term_signal, 0);
    EXPECT_EQ(r.exit_code, 128 + signal_number) << r.err;
    EXPECT_THAT(r.err, HasSubstr(std::string("moesim fit: interrupted by ") +
                                 (signal_number == SIGINT ? "SIGINT" : "SIGTERM")));
    EXPECT_TRUE(dir.listing().empty()) << "an output or temporary file was left";
  }
}

// A lockstep (expert-parallel) run long enough that its per-step rows are streamed into the file during the
// run (more than 16,384 recorded steps, issue 13): every row is there, with the lockstep group_step column,
// in the chunked layout, and nothing else is left in the directory. (The first version failed at the end
// when the last, empty block was appended without the group_step column.)
TEST(CliResultsFile, ALongLockstepRunStreamsEveryStepRowWithItsGroupStep) {
  TempDir dir;
  const CommandResult r = run_moesim(dir, {"run", source_path("scenarios/qwen3-30b-a3b_2xa100-80gb_dp2-ep.yaml"), "--set",
                                           "workload.num_requests=2000", "--format", "json", "-o", "out.h5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"out.h5"}));
  const hid_t file = H5Fopen((dir.path() / "out.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  auto rows_and_layout = [&](const char* name) {
    const hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
    if (dataset < 0) return std::pair<hsize_t, H5D_layout_t>{0, H5D_LAYOUT_ERROR};
    const hid_t space = H5Dget_space(dataset);
    hsize_t dims[1] = {0};
    H5Sget_simple_extent_dims(space, dims, nullptr);
    const hid_t create = H5Dget_create_plist(dataset);
    const H5D_layout_t layout = H5Pget_layout(create);
    H5Pclose(create);
    H5Sclose(space);
    H5Dclose(dataset);
    return std::pair<hsize_t, H5D_layout_t>{dims[0], layout};
  };
  const auto steps = rows_and_layout("/iterations/step_index");
  const auto groups = rows_and_layout("/iterations/group_step");
  H5Fclose(file);
  EXPECT_GT(steps.first, hsize_t{16384}) << "too short to be streamed";
  EXPECT_EQ(groups.first, steps.first);
  EXPECT_EQ(steps.second, H5D_CHUNKED);
  EXPECT_EQ(groups.second, H5D_CHUNKED);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["summary"]["finished_requests"].get<double>(), 2000.0);
}

TEST(CliWriteError, FullDiskLeavesNoHalfWrittenFileSaysSoAndExitsOne) {
  TempDir dir;
  dir.write("scenario.yaml", R"(name: small
cluster: {gpu: A100-SXM-80GB, nodes: 1, gpus_per_node: 1, cost_per_gpu_hour_usd: 5.0}
model: {preset: llama-2-7b}
workload:
  prompt_tokens: {distribution: uniform, low: 16, high: 512}
  output_tokens: {distribution: uniform, low: 4, high: 256}
  arrivals: {process: poisson, rate_per_s: 20.0}
  num_requests: 2000
  seed: 5
)");
  // RLIMIT_FSIZE of 64 KiB (ulimit -f counts 512-byte blocks) makes every write past it fail with EFBIG,
  // as a full disk fails with ENOSPC; SIGXFSZ is ignored so that the write returns an error instead of
  // killing the process.
  const CommandResult r = run_shell(dir, "trap '' XFSZ; ulimit -f 128; exec \"$MOESIM\" run scenario.yaml -o out.h5");
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("out.h5"));
  EXPECT_THAT(r.err, HasSubstr("nothing was written"));
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"scenario.yaml"})) << "a half-written file was left";
}

// The per-step rows are streamed into the file during the run (issue 13) in blocks of 4,096 rows. A
// file-size limit that the first blocks fit under but the run's rows do not must be reported before the
// block that would cross it is written: SIGXFSZ is NOT ignored here, and a write past the limit would kill
// the process and leave the temporary file (as it did when only the first block was checked). The run
// (~57,000 steps, 5.4 MB of rows) crosses the limit (4.8 MB) in its ninth block.
TEST(CliWriteError, AFileSizeLimitCrossedByTheStreamedRowsIsReportedBeforeTheWrite) {
  TempDir dir;
  dir.write("scenario.yaml", R"(name: small
cluster: {gpu: A100-SXM-80GB, nodes: 1, gpus_per_node: 1, cost_per_gpu_hour_usd: 5.0}
model: {preset: llama-2-7b}
workload:
  prompt_tokens: {distribution: uniform, low: 16, high: 512}
  output_tokens: {distribution: uniform, low: 4, high: 256}
  arrivals: {process: poisson, rate_per_s: 20.0}
  num_requests: 60000
  seed: 5
)");
  const CommandResult r = run_shell(dir, "ulimit -f 9400; exec \"$MOESIM\" run scenario.yaml -o out.h5");
  EXPECT_EQ(r.term_signal, 0) << "killed (SIGXFSZ?)";
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("file-size limit"));
  EXPECT_THAT(r.err, HasSubstr("nothing was written"));
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"scenario.yaml"})) << "a half-written file was left";
}

TEST(CliWriteError, FullDiskWhileWritingALawFileLeavesNoFile) {
  TempDir dir;
  // The law file is a few kilobytes; a 1-block (512-byte) limit makes its write fail while stderr (a file
  // here too, under the same limit) still has room for the message.
  const std::string csv = source_path("data/scaling/epoch_chinchilla_svg_extracted_data.csv");
  const CommandResult r = run_shell(dir, "trap '' XFSZ; ulimit -f 1; exec \"$MOESIM\" fit '" + csv +
                                             "' --law chinchilla --n-column 'Model Size' --flops-column 'Training FLOP'"
                                             " --grid small --threads 1 -o law.yaml");
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("law.yaml"));
  EXPECT_THAT(r.err, HasSubstr("nothing was written"));
  EXPECT_TRUE(dir.listing().empty()) << "a half-written file was left";
}

}  // namespace
}  // namespace moesim::test
