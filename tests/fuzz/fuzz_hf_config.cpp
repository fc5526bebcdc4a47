// libFuzzer target: the Hugging Face config.json reader. Documented errors (ConfigError, InputError,
// UsageError) are fine; any other exception (a JSON type error leaking out, say) or a crash is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "moesim/common/errors.hpp"
#include "moesim/model/hf_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)moesim::parse_hf_config(text, "<fuzz>/config.json");
  } catch (const moesim::ConfigError&) {
  } catch (const moesim::InputError&) {
  } catch (const moesim::UsageError&) {
  }
  return 0;
}
