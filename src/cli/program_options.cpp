#include "moesim/cli/program_options.hpp"

#include "moesim/common/errors.hpp"

namespace moesim::cli {

void parse_options(const std::vector<std::string>& args, const boost::program_options::options_description& options,
                   const boost::program_options::positional_options_description& positional,
                   boost::program_options::variables_map& vm) {
  namespace po = boost::program_options;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see --help)");
  }
}

void add_set_option(boost::program_options::options_description& options) {
  namespace po = boost::program_options;
  options.add_options()("set", po::value<std::vector<std::string>>()->composing(),
                        "override a scenario key: --set path=value (repeatable; value read as YAML, checked like "
                        "the file), e.g. --set workload.prompt_scale=2");
}

std::vector<std::string> set_arguments(const boost::program_options::variables_map& vm) {
  if (vm.count("set") == 0U) return {};
  return vm["set"].as<std::vector<std::string>>();
}

}  // namespace moesim::cli
