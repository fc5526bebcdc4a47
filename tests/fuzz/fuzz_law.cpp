// libFuzzer target: the scaling-law file reader. Documented errors (ConfigError, InputError, UsageError)
// are fine; any other exception or a crash is a finding. A law that loads must survive its own
// write -> read round trip (law_to_yaml writes 17 significant digits so that it is exact).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "moesim/common/errors.hpp"
#include "moesim/scaling/law_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string written;
  try {
    written = moesim::scaling::law_to_yaml(moesim::scaling::parse_law_yaml(text, "<fuzz>.yaml"));
  } catch (const moesim::ConfigError&) {
    return 0;
  } catch (const moesim::InputError&) {
    return 0;
  } catch (const moesim::UsageError&) {
    return 0;
  }
  try {
    (void)moesim::scaling::parse_law_yaml(written, "<fuzz echo>.yaml");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "a loaded law does not load again after law_to_yaml: %s\n--- written ---\n%s\n",
                 e.what(), written.c_str());
    std::abort();
  }
  return 0;
}
