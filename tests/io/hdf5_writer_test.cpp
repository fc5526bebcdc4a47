// The thin HDF5 writer (include/moesim/io/hdf5_writer.hpp): what it writes is read back with the HDF5
// C++ API itself, so a bug in the writer cannot be hidden by a matching bug in a reader of ours.
#include "moesim/io/hdf5_writer.hpp"

#include <H5Cpp.h>
#include <gtest/gtest.h>
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

}  // namespace
}  // namespace moesim
