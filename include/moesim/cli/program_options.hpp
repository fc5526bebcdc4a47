#pragma once
// Shared helpers for the subcommands' Boost.Program_options parsing: errors become UsageError (exit 2).
#include <iosfwd>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace moesim::cli {

// Parses `args` into `vm`; unknown options and bad values throw UsageError naming the option.
void parse_options(const std::vector<std::string>& args, const boost::program_options::options_description& options,
                   const boost::program_options::positional_options_description& positional,
                   boost::program_options::variables_map& vm);

// Adds the repeatable `--set path=value` scenario override (docs/scenario-reference.md, "Overrides").
void add_set_option(boost::program_options::options_description& options);
// The `--set` arguments in command-line order (empty when none).
[[nodiscard]] std::vector<std::string> set_arguments(const boost::program_options::variables_map& vm);

}  // namespace moesim::cli
