// libFuzzer target: the scenario loader (YAML text -> validated Scenario). Documented errors
// (ConfigError, InputError, UsageError) are fine; any other exception or a crash is a finding.
// A scenario that loads must also survive its own echo: to_yaml() loads again (docs/scenario-reference.md).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "moesim/common/errors.hpp"
#include "moesim/config/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Relative paths in the input resolve against an empty folder that holds no traces or configs.
  const std::filesystem::path base = std::filesystem::temp_directory_path() / "moesim-fuzz-scenario-base";
  std::error_code ec;
  std::filesystem::create_directories(base, ec);
  std::string echo;
  try {
    const moesim::Scenario scenario = moesim::load_scenario_text(text, "<fuzz>", base);
    echo = moesim::to_yaml(scenario);
  } catch (const moesim::ConfigError&) {
    return 0;
  } catch (const moesim::InputError&) {
    return 0;
  } catch (const moesim::UsageError&) {
    return 0;
  }
  try {
    (void)moesim::load_scenario_text(echo, "<fuzz echo>", base);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "a loaded scenario's echo does not load again: %s\n--- echo ---\n%s\n", e.what(),
                 echo.c_str());
    std::abort();
  }
  return 0;
}
