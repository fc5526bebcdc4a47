#pragma once
// Reading back with the plain HDF5 C++ API (H5Cpp.h), for the io tests. Deliberately independent of
// moesim's writer so that the tests check the file, not the writer against itself.
#include <H5Cpp.h>

#include <cstddef>
#include <string>
#include <vector>

namespace moesim::test_h5 {

inline std::size_t length_of(const H5::DataSet& dataset) {
  H5::DataSpace space = dataset.getSpace();
  if (space.getSimpleExtentNdims() != 1) return 0;
  hsize_t dims[1] = {0};
  space.getSimpleExtentDims(dims);
  return static_cast<std::size_t>(dims[0]);
}

template <typename T>
std::vector<T> read_column(const H5::DataSet& dataset, const H5::PredType& memory_type) {
  std::vector<T> values(length_of(dataset));
  if (!values.empty()) dataset.read(values.data(), memory_type);
  return values;
}

// A string attribute, fixed- or variable-length (HDF5 converts both into std::string).
template <typename Object>
std::string read_string_attribute(const Object& object, const std::string& name) {
  H5::Attribute attribute = object.openAttribute(name);
  std::string value;
  attribute.read(attribute.getStrType(), value);
  // A fixed-length attribute written for an empty string holds one NUL byte.
  while (!value.empty() && value.back() == '\0') value.pop_back();
  return value;
}

inline std::vector<std::string> read_strings(const H5::DataSet& dataset) {
  const std::size_t n = length_of(dataset);
  std::vector<char*> pointers(n, nullptr);
  H5::StrType type = dataset.getStrType();
  if (n > 0) dataset.read(pointers.data(), type);
  std::vector<std::string> out;
  out.reserve(n);
  for (char* p : pointers) {
    out.emplace_back(p == nullptr ? "" : p);
    H5free_memory(p);
  }
  return out;
}

}  // namespace moesim::test_h5
