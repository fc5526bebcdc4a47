// The thin HDF5 writer (include/moesim/io/hdf5_writer.hpp): what it writes is read back with the HDF5
// C++ API itself, so a bug in the writer cannot be hidden by a matching bug in a reader of ours.
#include "moesim/io/hdf5_writer.hpp"

#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "h5_read_helpers.hpp"

namespace moesim {
namespace {

namespace fs = std::filesystem;
using test_h5::read_column;
using test_h5::read_string_attribute;

class Hdf5Writer : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("moesim_io_writer_" + std::to_string(::getpid()) + "_" + std::string(info->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "out.h5";
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  fs::path path_;
};

TEST_F(Hdf5Writer, ColumnsOfEachTypeRoundTripWithUnitsAndDescription) {
  const std::vector<double> seconds{0.5, 1.25, -3.0};
  const std::vector<std::int64_t> blocks{0, 1LL << 40, -7};
  const std::vector<std::int32_t> seqs{3, 2, 1, 0};
  {
    h5::File file(path_);
    h5::Group root = file.root();
    root.write("seconds", std::span<const double>(seconds), "s", "some times");
    root.write("blocks", std::span<const std::int64_t>(blocks), "blocks");
    root.write("seqs", std::span<const std::int32_t>(seqs), "sequences", "batch sizes");
    file.close();
  }
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  EXPECT_EQ(read_column<double>(file.openDataSet("seconds"), H5::PredType::NATIVE_DOUBLE), seconds);
  EXPECT_EQ(read_column<std::int64_t>(file.openDataSet("blocks"), H5::PredType::NATIVE_INT64), blocks);
  EXPECT_EQ(read_column<std::int32_t>(file.openDataSet("seqs"), H5::PredType::NATIVE_INT32), seqs);
  EXPECT_EQ(read_string_attribute(file.openDataSet("seconds"), "units"), "s");
  EXPECT_EQ(read_string_attribute(file.openDataSet("seconds"), "description"), "some times");
  EXPECT_EQ(read_string_attribute(file.openDataSet("blocks"), "units"), "blocks");
  // No description given: no description attribute (but units is always there).
  EXPECT_FALSE(file.openDataSet("blocks").attrExists("description"));
  // The stored types are the documented ones: little-endian IEEE doubles, 64- and 32-bit integers.
  EXPECT_EQ(file.openDataSet("seconds").getDataType(), H5::PredType::IEEE_F64LE);
  EXPECT_EQ(file.openDataSet("blocks").getDataType(), H5::PredType::STD_I64LE);
  EXPECT_EQ(file.openDataSet("seqs").getDataType(), H5::PredType::STD_I32LE);
}

TEST_F(Hdf5Writer, AnEmptyColumnIsWrittenWithLengthZeroAndItsUnits) {
  {
    h5::File file(path_);
    file.root().write("nothing", std::span<const double>(), "s");
    file.close();
  }
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  EXPECT_TRUE(read_column<double>(file.openDataSet("nothing"), H5::PredType::NATIVE_DOUBLE).empty());
  EXPECT_EQ(read_string_attribute(file.openDataSet("nothing"), "units"), "s");
}

TEST_F(Hdf5Writer, AnEmptyUnitsStringIsStoredAsAnEmptyAttribute) {
  const std::vector<std::int64_t> ids{4, 5};
  {
    h5::File file(path_);
    file.root().write("id", std::span<const std::int64_t>(ids), "");
    file.close();
  }
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  ASSERT_TRUE(file.openDataSet("id").attrExists("units"));
  EXPECT_EQ(read_string_attribute(file.openDataSet("id"), "units"), "");
}

TEST_F(Hdf5Writer, StringColumnsRoundTripAsVariableLengthUtf8) {
  const std::vector<std::string> names{"attention_prefill", "", "moe_experts \xce\xbc"};
  {
    h5::File file(path_);
    file.root().write_strings("name", names, "operator");
    file.close();
  }
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  H5::DataSet dataset = file.openDataSet("name");
  EXPECT_TRUE(dataset.getStrType().isVariableStr());
  EXPECT_EQ(dataset.getStrType().getCset(), H5T_CSET_UTF8);
  EXPECT_EQ(test_h5::read_strings(dataset), names);
  EXPECT_EQ(read_string_attribute(dataset, "units"), "");
  EXPECT_EQ(read_string_attribute(dataset, "description"), "operator");
}

TEST_F(Hdf5Writer, AMatrixKeepsItsRowMajorShape) {
  const std::vector<double> values{1, 2, 3, 4, 5, 6};
  {
    h5::File file(path_);
    file.root().write_matrix("m", std::span<const double>(values), 2, 3, "s");
    file.close();
  }
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  H5::DataSet dataset = file.openDataSet("m");
  H5::DataSpace space = dataset.getSpace();
  ASSERT_EQ(space.getSimpleExtentNdims(), 2);
  hsize_t dims[2] = {0, 0};
  space.getSimpleExtentDims(dims);
  EXPECT_EQ(dims[0], 2U);
  EXPECT_EQ(dims[1], 3U);
  std::vector<double> back(6);
  dataset.read(back.data(), H5::PredType::NATIVE_DOUBLE);
  EXPECT_EQ(back, values);
}

TEST_F(Hdf5Writer, AMatrixWhoseSizeIsNotRowsTimesColumnsIsRefused) {
  const std::vector<double> values{1, 2, 3, 4, 5};
  h5::File file(path_);
  EXPECT_THROW(file.root().write_matrix("m", std::span<const double>(values), 2, 3, "s"), std::invalid_argument);
}

TEST_F(Hdf5Writer, AttributesOfEveryKindRoundTripOnNestedGroups) {
  {
    h5::File file(path_);
    h5::Group inner = file.root().create_group("outer").create_group("inner");
    inner.set_attribute("text", std::string("hello: world\nline 2"));
    inner.set_attribute("empty", std::string());
    inner.set_attribute("ratio", 0.125);
    inner.set_attribute("count", std::int64_t{-42});
    file.close();
  }
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  H5::Group inner = file.openGroup("/outer/inner");
  EXPECT_EQ(read_string_attribute(inner, "text"), "hello: world\nline 2");
  EXPECT_EQ(read_string_attribute(inner, "empty"), "");
  double ratio = 0;
  inner.openAttribute("ratio").read(H5::PredType::NATIVE_DOUBLE, &ratio);
  EXPECT_EQ(ratio, 0.125);
  std::int64_t count = 0;
  inner.openAttribute("count").read(H5::PredType::NATIVE_INT64, &count);
  EXPECT_EQ(count, -42);
}

TEST_F(Hdf5Writer, ADuplicateDatasetNameThrowsAnErrorNamingIt) {
  const std::vector<double> values{1.0};
  h5::File file(path_);
  h5::Group root = file.root();
  root.write("twice", std::span<const double>(values), "s");
  try {
    root.write("twice", std::span<const double>(values), "s");
    FAIL() << "writing a dataset name twice must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'twice'"), std::string::npos) << e.what();
  }
}

TEST_F(Hdf5Writer, CreatingAFileInAMissingDirectoryThrowsNamingThePath) {
  const fs::path missing = dir_ / "no-such-dir" / "out.h5";
  try {
    h5::File file(missing);
    FAIL() << "creating a file in a missing directory must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
}

// A streamed table (write_table) holds the values its fill functions produce, in row order, across block
// boundaries: 10 rows in blocks of 4 (4 + 4 + 2), each fill called with the right first row and length.
TEST_F(Hdf5Writer, AStreamedTableRoundTripsAcrossBlocksWithTheRightTypes) {
  std::vector<std::pair<std::size_t, std::size_t>> calls;  // (first row, rows) of the int64 column's fills
  {
    h5::File file(path_);
    h5::Group g = file.root().create_group("t");
    std::vector<h5::StreamedColumn> columns;
    columns.push_back({"half", "s", "row / 2", std::function<void(std::size_t, std::span<double>)>(
                                                   [](std::size_t first, std::span<double> out) {
                                                     for (std::size_t k = 0; k < out.size(); ++k) out[k] = 0.5 * static_cast<double>(first + k);
                                                   })});
    columns.push_back({"big", "blocks", "", std::function<void(std::size_t, std::span<std::int64_t>)>(
                                                [&calls](std::size_t first, std::span<std::int64_t> out) {
                                                  calls.emplace_back(first, out.size());
                                                  for (std::size_t k = 0; k < out.size(); ++k) out[k] = (std::int64_t{1} << 40) + static_cast<std::int64_t>(first + k);
                                                })});
    columns.push_back({"small", "", "negated", std::function<void(std::size_t, std::span<std::int32_t>)>(
                                                   [](std::size_t first, std::span<std::int32_t> out) {
                                                     for (std::size_t k = 0; k < out.size(); ++k) out[k] = -static_cast<std::int32_t>(first + k);
                                                   })});
    g.write_table(10, columns, 4);
    g.write_table(0, {}, 4);
    file.close();
  }
  EXPECT_EQ(calls, (std::vector<std::pair<std::size_t, std::size_t>>{{0, 4}, {4, 4}, {8, 2}}));
  H5::H5File file(path_.string(), H5F_ACC_RDONLY);
  H5::DataSet half = file.openDataSet("/t/half");
  EXPECT_EQ(half.getDataType(), H5::PredType::IEEE_F64LE);
  EXPECT_EQ(read_column<double>(half, H5::PredType::NATIVE_DOUBLE), (std::vector<double>{0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5}));
  EXPECT_EQ(read_string_attribute(half, "units"), "s");
  EXPECT_EQ(read_string_attribute(half, "description"), "row / 2");
  H5::DataSet big = file.openDataSet("/t/big");
  EXPECT_EQ(big.getDataType(), H5::PredType::STD_I64LE);
  const std::vector<std::int64_t> big_values = read_column<std::int64_t>(big, H5::PredType::NATIVE_INT64);
  ASSERT_EQ(big_values.size(), 10U);
  EXPECT_EQ(big_values[9], (std::int64_t{1} << 40) + 9);
  H5::DataSet small = file.openDataSet("/t/small");
  EXPECT_EQ(small.getDataType(), H5::PredType::STD_I32LE);
  EXPECT_EQ(read_column<std::int32_t>(small, H5::PredType::NATIVE_INT32), (std::vector<std::int32_t>{0, -1, -2, -3, -4, -5, -6, -7, -8, -9}));
}

// A file whose expected size exceeds the file-size limit is refused before HDF5 writes anything, with a
// message naming the limit; the (empty) file is left for the caller to remove. Run in a child process,
// where the limit cannot affect the test runner.
TEST_F(Hdf5Writer, AnExpectedSizeOverTheFileSizeLimitIsRefusedUpFront) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{64 * 1024, 64 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    int code = 3;
    try {
      h5::File file(path_, 10 * 1024 * 1024);
      code = 4;  // not refused
    } catch (const std::runtime_error& e) {
      code = std::string(e.what()).find("file-size limit") != std::string::npos ? 0 : 5;
    }
    std::exit(code);  // exit(), not _exit(): HDF5's shutdown at exit must not crash either
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child crashed (signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: no exception path ran, 4: not refused, 5: wrong message";
}

// When the guess is too small (or absent) and HDF5's own write fails half-way (here a file-size limit, as
// a full disk fails), the error reaches the caller as std::runtime_error and the process still exits
// cleanly: HDF5 1.10.8 used to crash at exit on the ids such a failure left open (issue 6).
TEST_F(Hdf5Writer, AWriteFailingHalfWayThrowsAndTheProcessStillExitsCleanly) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{256 * 1024, 256 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    int code = 3;
    try {
      h5::File file(path_);  // no size guess: nothing is checked up front
      h5::Group g = file.root().create_group("t");
      std::vector<h5::StreamedColumn> columns;
      columns.push_back({"x", "s", "", std::function<void(std::size_t, std::span<double>)>(
                                           [](std::size_t first, std::span<double> out) {
                                             for (std::size_t k = 0; k < out.size(); ++k) out[k] = static_cast<double>(first + k);
                                           })});
      g.write_table(1 << 20, columns);  // 8 MiB > 256 KiB
      g.write("after", std::span<const double>(std::vector<double>(1 << 16, 1.0)), "s");
      file.close();
      code = 4;  // no error reported
    } catch (const std::runtime_error&) {
      code = 0;
    }
    std::exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child crashed (signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: no exception path ran, 4: the failed write was not reported";
}

}  // namespace
}  // namespace moesim
