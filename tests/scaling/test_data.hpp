#pragma once
// The shipped training-run tables (data/scaling/, see SOURCES.md) loaded as the reference study did.
#include <string>

#include "moesim/scaling/runs.hpp"

namespace moesim::scaling::testing {

inline std::string data_file(const std::string& name) { return std::string(MOESIM_SOURCE_DIR) + "/data/scaling/" + name; }

// Epoch's reconstruction of Chinchilla's runs, 5 highest losses dropped: 240 rows (reference 6.1).
inline RunTable epoch_runs() {
  RunColumns c;
  c.n_column = "Model Size";
  c.flops_column = "Training FLOP";
  c.loss_column = "loss";
  c.drop_top_losses = 5;
  return load_runs(data_file("epoch_chinchilla_svg_extracted_data.csv"), c);
}

// Clark et al. S-Base + Dense, routing_frequency 0.5, k = 1, seed 42, step >= 50,000: 1,218 rows (6.5).
inline RunTable clark_runs(const std::string& routers = "Dense|S-Base") {
  RunColumns c;
  c.n_column = "dense_parameter_count";
  c.step_column = "step";
  c.tokens_per_step = 524288;
  c.e_column = "num_experts";
  c.loss_column = "loss_validation";
  c.filters = {{"routing_frequency", "0.5"}, {"k", "1"}, {"seed", "42"}, {"router_type", routers}};
  c.minimums = {{"step", 50000}};
  return load_runs(data_file("clark2022_routing_curves.csv"), c);
}

}  // namespace moesim::scaling::testing
