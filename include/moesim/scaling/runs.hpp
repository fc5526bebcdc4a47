#pragma once
// Training runs (N, D, E, final loss) read from a CSV with a configurable column mapping, so that Epoch's
// Chinchilla reconstruction and Clark et al.'s routing curves load without hand editing.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace moesim::scaling {

struct RunTable {
  std::vector<double> n_dense;  // N: corresponding dense model size (parameters)
  std::vector<double> tokens;   // D
  std::vector<int> experts;     // E (1 = dense)
  std::vector<double> loss;     // L
  std::string description;      // file and mapping used, for provenance
  [[nodiscard]] std::size_t size() const { return loss.size(); }
};

struct RunColumns {
  std::string n_column = "N";
  std::string d_column;            // tokens; exactly one of d_column, flops_column, step_column
  std::string flops_column;        // D = FLOPs / (6 N) (Epoch's convention for its CSV)
  std::string step_column;         // D = step * tokens_per_step (Clark's curves)
  double tokens_per_step = 0;
  std::string e_column;            // empty: every run is dense (E = 1)
  std::string loss_column = "loss";
  // Keep rows whose column equals the value (numbers compared numerically); "a|b" accepts either.
  std::vector<std::pair<std::string, std::string>> filters;
  // Keep rows whose numeric column is >= the value, e.g. ("step", 50000).
  std::vector<std::pair<std::string, double>> minimums;
  int drop_top_losses = 0;         // Epoch's convention: drop the 5 highest losses
  bool skip_empty_loss = true;     // rows with an empty loss cell are skipped (Clark's file has 8)
};

// Throws InputError(file, row, column, message) for a missing column, an unparsable or non-positive
// number, or an empty result; row 1 is the header.
[[nodiscard]] RunTable load_runs(const std::filesystem::path& csv, const RunColumns& columns);

// Parses "col=value"; throws UsageError otherwise.
[[nodiscard]] std::pair<std::string, std::string> parse_filter(const std::string& text);

}  // namespace moesim::scaling
