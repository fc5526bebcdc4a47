// `moesim calibrate`: fit a GPU profile to measured data and/or print the prediction-error report.
//   moesim calibrate --gpu A100-SXM-80GB --data-dir data/profiling -o profile.yaml [--report] [--force]
//   moesim calibrate --gpu A100-SXM-80GB --data-dir data/profiling --report [--profile FILE]
//   moesim calibrate --gpu RTX-PRO-6000-SE-96GB --llmservingsim data/profiling/llmservingsim/RTXPRO6000
//                    [-o profile.yaml] [--report] [--moe-table FILE.md] [--profile FILE]
#include <boost/program_options.hpp>
#include <ostream>

#include "moesim/cli/commands.hpp"
#include "moesim/common/atomic_file.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/hardware/gpu.hpp"
#include "moesim/perf/calibration.hpp"
#include "moesim/perf/gpu_profile.hpp"
#include "moesim/perf/llmservingsim_calibration.hpp"

namespace moesim::cli {

namespace po = boost::program_options;

namespace {
// --llmservingsim: the tables were measured on `gpu` itself, so fit and report use its peaks.
int llmservingsim_calibrate(const GpuSpec& gpu, const std::string& dir, const std::string& output,
                            const std::string& profile_path, const std::string& moe_table, bool report, bool force,
                            std::ostream& out, std::ostream& err) {
  const auto policy = force ? OverwritePolicy::kReplace : OverwritePolicy::kRefuse;
  for (const auto& path : {output, moe_table}) {
    if (!path.empty() && std::filesystem::exists(path) && !force) {
      throw UsageError("calibrate: " + path + " exists; use --force to overwrite");
    }
  }
  LlmServingSimOptions options;
  options.gpu_dir = dir;
  GpuProfile profile;
  std::vector<ErrorStats> errors;
  if (!output.empty()) {
    const GpuProfile start;  // documented defaults, so a rerun reproduces the shipped profile
    CalibrationResult result = calibrate_from_llmservingsim(gpu, start, options);
    profile = result.profile;
    errors = result.errors;
  } else {
    if (!profile_path.empty()) {
      profile = load_gpu_profile(profile_path);
    } else if (auto embedded = embedded_gpu_profile(gpu.name)) {
      profile = *embedded;
    } else {
      err << "calibrate: no embedded profile for " << gpu.name << "; reporting the uncalibrated defaults\n";
    }
    if (report) errors = llmservingsim_error_report(gpu, profile, options);
  }
  // Compute everything before writing anything: a bad table leaves no partial output.
  const std::string table = moe_table.empty() ? "" : format_moe_validation(llmservingsim_moe_validation(gpu, profile, options));
  if (!output.empty()) {
    write_text_file_atomically(output, to_yaml(profile), policy);
    out << "wrote " << output << "\n";
  }
  if (!moe_table.empty()) {
    write_text_file_atomically(moe_table, table, policy);
    out << "wrote " << moe_table << "\n";
  }
  if (report) out << format_error_table(errors);
  return 0;
}
}  // namespace

int calibrate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string gpu_name;
  std::string measured_on;
  std::string data_dir;
  std::string output;
  std::string profile_path;
  std::string llmservingsim_dir;
  std::string moe_table;
  po::options_description options("moesim calibrate options");
  options.add_options()("help,h", "show this help")(
      "gpu", po::value(&gpu_name)->required(), "GPU the profile is for (catalogue name, e.g. A100-SXM-80GB)")(
      "measured-on", po::value(&measured_on)->default_value("A100-SXM-80GB"),
      "GPU the data were measured on (Vidur and splitwise-sim A100 data: A100-SXM-80GB); the fitted "
      "efficiencies are applied to --gpu's peak numbers")(
      "data-dir", po::value(&data_dir)->default_value("data/profiling"),
      "folder with vidur/ and splitwise-sim/ tables (the repository's data/profiling)")(
      "output,o", po::value(&output), "write the fitted profile YAML here (atomically)")(
      "report", po::bool_switch(), "print the prediction error per data set (median and max relative error)")(
      "profile", po::value(&profile_path),
      "with --report and no -o: report on this profile instead of the embedded one")(
      "force", po::bool_switch(), "overwrite an existing output file")(
      "llmservingsim", po::value(&llmservingsim_dir),
      "fit/report on LLMServingSim per-layer tables measured on --gpu: the GPU folder holding "
      "<org>/<model>/bf16/tp1/{dense,attention,per_sequence,moe}.csv (e.g. "
      "data/profiling/llmservingsim/RTXPRO6000); replaces --data-dir/--measured-on")(
      "moe-table", po::value(&moe_table),
      "with --llmservingsim: write the per-row MoE validation table (markdown) here");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    if (vm.count("help")) {
      out << options << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string("calibrate: ") + e.what());
  }
  const bool report = vm["report"].as<bool>();
  const bool force = vm["force"].as<bool>();
  if (output.empty() && !report && moe_table.empty()) {
    throw UsageError("calibrate: nothing to do; give -o FILE and/or --report (or --moe-table)");
  }
  const auto gpu = find_gpu(gpu_name);
  if (!gpu) throw UsageError("calibrate: unknown --gpu '" + gpu_name + "'");
  if (!moe_table.empty() && llmservingsim_dir.empty()) throw UsageError("calibrate: --moe-table needs --llmservingsim");
  if (!llmservingsim_dir.empty()) {
    return llmservingsim_calibrate(*gpu, llmservingsim_dir, output, profile_path, moe_table, report, force, out, err);
  }
  const auto measured_gpu = find_gpu(measured_on);
  if (!measured_gpu) throw UsageError("calibrate: unknown --measured-on '" + measured_on + "'");
  if (!std::filesystem::is_directory(data_dir)) {
    throw UsageError("calibrate: --data-dir '" + data_dir + "' is not a directory");
  }
  CalibrationOptions calibration;
  calibration.data_dir = data_dir;

  if (!output.empty()) {
    // Refuse before the fit, so a user does not wait for nothing.
    if (std::filesystem::exists(output) && !force) {
      throw UsageError("calibrate: " + output + " exists; use --force to overwrite");
    }
    // Always start from the documented defaults so that a rerun reproduces the shipped profile.
    const GpuProfile start;
    CalibrationResult result = calibrate_gpu_profile(*measured_gpu, start, calibration);
    result.profile.gpu = gpu->name;
    if (gpu->name != measured_gpu->name) {
      result.profile.provenance.notes =
          "Efficiencies fitted on " + measured_gpu->name + " measurements and applied to " + gpu->name +
          "'s peak FLOP/s and HBM bandwidth (same GA100 chip and kernels); fit errors are those on " +
          measured_gpu->name + ". Not validated on " + gpu->name + " measurements.";
    } else {
      result.profile.provenance.notes = "Fitted on measurements of this GPU.";
    }
    write_text_file_atomically(output, to_yaml(result.profile),
                               force ? OverwritePolicy::kReplace : OverwritePolicy::kRefuse);
    out << "wrote " << output << "\n";
    if (report) out << format_error_table(result.errors);
    return 0;
  }
  GpuProfile profile;
  if (!profile_path.empty()) {
    profile = load_gpu_profile(profile_path);
  } else if (auto embedded = embedded_gpu_profile(gpu->name)) {
    profile = *embedded;
  } else {
    err << "calibrate: no embedded profile for " << gpu->name << "; reporting the uncalibrated defaults\n";
  }
  // Errors are computed against the measured GPU's peaks (that is where the data come from).
  out << format_error_table(latency_error_report(*measured_gpu, profile, calibration));
  return 0;
}

}  // namespace moesim::cli
