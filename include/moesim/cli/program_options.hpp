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

}  // namespace moesim::cli
