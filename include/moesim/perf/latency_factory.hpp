#pragma once
// Builds the scenario's StepLatencyModel: `latency.kind: roofline` or `profile` (measured tables where the
// scenario names them, roofline elsewhere), and reports which parts came from tables.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "moesim/hardware/cluster_config.hpp"
#include "moesim/model/architecture.hpp"
#include "moesim/perf/expert_parallel.hpp"
#include "moesim/perf/gpu_profile.hpp"
#include "moesim/perf/latency_config.hpp"
#include "moesim/perf/latency_model.hpp"
#include "moesim/scheduler/serving_config.hpp"

namespace moesim {

struct BuiltLatencyModel {
  std::unique_ptr<StepLatencyModel> model;
  std::string profile_source;                 // which GPU profile was used and why
  std::vector<std::string> parts_from_tables; // e.g. "tp_all_reduce from all_reduce.csv"; empty for roofline
  // With serving.enable_expert_parallel on an MoE model: the routed experts and their dispatch/combine,
  // timed per step from the routing (the `model` then times each DP rank's own part without them).
  std::unique_ptr<ExpertParallelModel> expert_parallel;
};

// latency.gpu_profile_path if set; else the embedded profile for gpu.name; else the A100-SXM-80GB profile
// transferred to gpu.name's peaks (uncalibrated, said so in `source`).
[[nodiscard]] GpuProfile resolve_gpu_profile(const LatencyConfig& latency, const GpuSpec& gpu, std::string& source);

// Empty when resolve_gpu_profile finds a profile (latency.gpu_profile_path or an embedded one); else one
// line naming the GPU and every part of the latency model that is transferred from A100-SXM-80GB. make_latency_model prints it on stderr once per GPU per process; `describe` prints it.
[[nodiscard]] std::string uncalibrated_gpu_warning(const LatencyConfig& latency, const GpuSpec& gpu);

// max_step_tokens: the largest step the scheduler can form, e.g. max(max_num_batched_tokens, max_num_seqs).
// Table errors: InputError (file, row, column); mismatching tables: ConfigError naming the latency key.
[[nodiscard]] BuiltLatencyModel make_latency_model(const ModelArchitecture& arch, const ClusterConfig& cluster,
                                                   const ServingConfig& serving, const LatencyConfig& latency,
                                                   std::int64_t max_step_tokens, int replica_index = 0,
                                                   std::uint64_t routing_seed = 0);

}  // namespace moesim
