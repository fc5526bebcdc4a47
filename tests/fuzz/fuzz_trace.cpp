// libFuzzer target: one trace reader (the format is a compile definition, MOESIM_FUZZ_TRACE_FORMAT).
// The input is written to a temporary file, as users hand traces over as files, and read twice: strict
// (the first bad row is an error) and with skip_bad_rows (bad rows counted). Documented errors
// (ConfigError, InputError, UsageError) are fine; any other exception or a crash is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "moesim/common/errors.hpp"
#include "moesim/workload/workload.hpp"

namespace {

void read_once(const std::filesystem::path& path, bool skip_bad_rows) {
  try {
    moesim::TraceReadReport report;
    const auto rows = moesim::read_trace(path, moesim::MOESIM_FUZZ_TRACE_FORMAT, skip_bad_rows, &report);
    // What the reader returns must be usable: positive lengths, counts that add up.
    for (const auto& row : rows) {
      if (row.prompt_tokens < 1 || row.output_tokens < 1) {
        std::fprintf(stderr, "trace reader returned a row with a length below 1\n");
        std::abort();
      }
    }
    if (report.rows_read != static_cast<std::int64_t>(rows.size())) {
      std::fprintf(stderr, "rows_read %lld != rows returned %zu\n", static_cast<long long>(report.rows_read),
                   rows.size());
      std::abort();
    }
  } catch (const moesim::ConfigError&) {
  } catch (const moesim::InputError&) {
  } catch (const moesim::UsageError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The extension matters to format auto-detection (.jsonl); one file per process, reused.
  static const std::filesystem::path path = std::filesystem::temp_directory_path() /
      ("moesim-fuzz-trace-" + std::to_string(::getpid()) + MOESIM_FUZZ_TRACE_EXTENSION);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  read_once(path, false);
  read_once(path, true);
  return 0;
}
