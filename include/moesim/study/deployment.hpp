#pragma once
// Glue between a loaded Scenario and the libraries: the latency model it asks for, and the paper's
// analytic serving model for the same deployment (reported beside the simulated values).
#include <memory>
#include <vector>

#include "moesim/cluster/memory_plan.hpp"
#include "moesim/config/scenario.hpp"
#include "moesim/io/results_file.hpp"
#include "moesim/perf/latency_factory.hpp"
#include "moesim/perf/latency_model.hpp"

namespace moesim::study {

// The step-latency model of the scenario's `latency:` section (roofline, profile tables, or a mix).
[[nodiscard]] BuiltLatencyModel make_latency_model(const Scenario& scenario);

// b = (G*M0 - N_m) / ((2p+n) * KV bytes per token), L(b) = L_P(b/n) + L_D(b), T = b/L, cost per token
// (arXiv 2404.02852 Section 4, Appendix C), for one replica, timed by the scenario's latency model
// (built with tables large enough for the formula's batch).
[[nodiscard]] std::vector<ScalarEntry> paper_analytic_entries(const Scenario& scenario, const MemoryPlan& plan,
                                                              double mean_prompt_tokens, double mean_output_tokens);

}  // namespace moesim::study
