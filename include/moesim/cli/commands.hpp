#pragma once
// Subcommands of the `moesim` executable. Each parses its own arguments (Boost.Program_options), does
// its work through the libraries and returns the process exit code. Errors propagate as exceptions that
// main() maps to exit codes: UsageError/ConfigError/InputError -> 2, anything else -> 1.
#include <iosfwd>
#include <string>
#include <vector>

namespace moesim::cli {

// args excludes the program name and the subcommand name.
int run_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int describe_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int fit_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int allocate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int calibrate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int rank_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int step_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int sweep_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int evaluate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace moesim::cli
