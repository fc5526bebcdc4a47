#pragma once
// YAML spellings of the scenario's enums (private to the config module). The first spelling of each
// value is the canonical one that to_yaml writes; later ones are accepted aliases. These tables are
// local on purpose: to_string() for the scheduler enums lives in the scheduler module, which the
// config module must not link against.
#include <string>
#include <utility>
#include <vector>

#include "moesim/hardware/cluster_config.hpp"
#include "moesim/model/architecture.hpp"
#include "moesim/perf/latency_config.hpp"
#include "moesim/scheduler/serving_config.hpp"
#include "moesim/workload/workload_config.hpp"

namespace moesim::config_detail {

template <typename Enum>
using SpellingTable = std::vector<std::pair<std::string, Enum>>;

inline const SpellingTable<SchedulerVersion>& scheduler_version_spellings() {
  static const SpellingTable<SchedulerVersion> table = {{"v0", SchedulerVersion::kV0},
                                                        {"v1", SchedulerVersion::kV1}};
  return table;
}

inline const SpellingTable<PreemptionMode>& preemption_mode_spellings() {
  static const SpellingTable<PreemptionMode> table = {{"recompute", PreemptionMode::kRecompute},
                                                      {"swap", PreemptionMode::kSwap}};
  return table;
}

inline const SpellingTable<RouterPolicy>& router_policy_spellings() {
  static const SpellingTable<RouterPolicy> table = {{"round_robin", RouterPolicy::kRoundRobin},
                                                    {"least_outstanding", RouterPolicy::kLeastOutstanding},
                                                    {"vllm_dp_lb", RouterPolicy::kVllmDpLoadBalancer}};
  return table;
}

inline const SpellingTable<ExpertRoutingDistribution>& expert_routing_spellings() {
  static const SpellingTable<ExpertRoutingDistribution> table = {{"uniform", ExpertRoutingDistribution::kUniform},
                                                                 {"zipf", ExpertRoutingDistribution::kZipf},
                                                                 {"shares", ExpertRoutingDistribution::kShares}};
  return table;
}

inline const SpellingTable<All2AllBackend>& all2all_backend_spellings() {
  static const SpellingTable<All2AllBackend> table = {
      {"allgather_reducescatter", All2AllBackend::kAllgatherReducescatter},
      {"naive", All2AllBackend::kNaive},
      {"pplx", All2AllBackend::kPplx},
      {"deepep_high_throughput", All2AllBackend::kDeepepHighThroughput},
      {"deepep_low_latency", All2AllBackend::kDeepepLowLatency}};
  return table;
}

// "vidur_csv"/"azure_csv" are the workload module's names for the same formats (trace_format_name).
inline const SpellingTable<TraceFormat>& trace_format_spellings() {
  static const SpellingTable<TraceFormat> table = {{"auto", TraceFormat::kAuto},
                                                   {"vidur", TraceFormat::kVidurCsv},
                                                   {"azure", TraceFormat::kAzureCsv},
                                                   {"jsonl", TraceFormat::kJsonl},
                                                   {"vidur_csv", TraceFormat::kVidurCsv},
                                                   {"azure_csv", TraceFormat::kAzureCsv}};
  return table;
}

inline const SpellingTable<LengthDistributionKind>& length_distribution_spellings() {
  static const SpellingTable<LengthDistributionKind> table = {
      {"trace", LengthDistributionKind::kTrace},         {"fixed", LengthDistributionKind::kFixed},
      {"uniform", LengthDistributionKind::kUniform},     {"normal", LengthDistributionKind::kNormal},
      {"lognormal", LengthDistributionKind::kLognormal}, {"empirical", LengthDistributionKind::kEmpirical}};
  return table;
}

inline const SpellingTable<ArrivalKind>& arrival_kind_spellings() {
  static const SpellingTable<ArrivalKind> table = {{"all_at_zero", ArrivalKind::kAllAtZero},
                                                   {"poisson", ArrivalKind::kPoisson},
                                                   {"gamma", ArrivalKind::kGamma},
                                                   {"trace", ArrivalKind::kTrace},
                                                   {"closed_loop", ArrivalKind::kClosedLoop}};
  return table;
}

inline const SpellingTable<LatencyModelKind>& latency_model_spellings() {
  static const SpellingTable<LatencyModelKind> table = {{"roofline", LatencyModelKind::kRoofline},
                                                        {"profile", LatencyModelKind::kProfile},
                                                        {"linear", LatencyModelKind::kLinear}};
  return table;
}

// Same spellings as to_string(DType) in the model module, plus common aliases.
inline const SpellingTable<DType>& dtype_spellings() {
  static const SpellingTable<DType> table = {
      {"bfloat16", DType::kBFloat16}, {"float16", DType::kFloat16}, {"float32", DType::kFloat32},
      {"fp8", DType::kFp8},           {"bf16", DType::kBFloat16},   {"fp16", DType::kFloat16},
      {"half", DType::kFloat16},      {"fp32", DType::kFloat32},    {"float", DType::kFloat32}};
  return table;
}

inline const std::vector<std::string>& builtin_topology_names() {
  static const std::vector<std::string> names = {"dgx-nvswitch", "pairwise-nvlink", "custom"};
  return names;
}

inline const std::vector<std::string>& link_kind_names() {
  static const std::vector<std::string> names = {"nvlink", "nvswitch", "pcie", "infiniband", "ethernet"};
  return names;
}

// Canonical spelling (the first entry for that value).
template <typename Enum>
std::string spelling_of(const SpellingTable<Enum>& table, Enum value) {
  for (const auto& [spelling, entry] : table) {
    if (entry == value) return spelling;
  }
  return "?";
}

// Canonical spellings only (aliases left out), for "allowed:" lists in messages and docs.
template <typename Enum>
std::vector<std::string> canonical_spellings(const SpellingTable<Enum>& table) {
  std::vector<std::string> names;
  for (const auto& [spelling, value] : table) {
    if (spelling_of(table, value) == spelling) names.push_back(spelling);
  }
  return names;
}

}  // namespace moesim::config_detail
