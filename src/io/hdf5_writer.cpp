#include "moesim/io/hdf5_writer.hpp"

#include <H5Cpp.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace moesim::h5 {

struct Group::Impl {
  H5::Group group;
};

namespace {

// HDF5 reports errors by exception; we convert them to std::runtime_error with context.
[[noreturn]] void rethrow(const std::string& what, const H5::Exception& e) {
  throw std::runtime_error("HDF5 error while " + what + ": " + e.getDetailMsg());
}

void set_string_attribute(H5::H5Object& object, const std::string& name, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, value.empty() ? 1 : value.size());
  type.setCset(H5T_CSET_UTF8);
  H5::DataSpace scalar(H5S_SCALAR);
  H5::Attribute attribute = object.createAttribute(name, type, scalar);
  attribute.write(type, value.empty() ? std::string(" ").substr(0, 0) : value);
}

// Objects carry no modification times (HDF5 stores them by default), so the same content gives the same
// bytes: `moesim sweep` promises byte-identical files for any --jobs or MPI process count.
H5::DSetCreatPropList untimed_dataset() {
  H5::DSetCreatPropList properties;
  H5Pset_obj_track_times(properties.getId(), 0);
  return properties;
}

template <typename T>
void write_column(H5::Group& group, const std::string& name, std::span<const T> values, const H5::PredType& file_type,
                  const H5::PredType& memory_type, const std::string& units, const std::string& description) {
  try {
    const hsize_t dims[1] = {static_cast<hsize_t>(values.size())};
    H5::DataSpace space(1, dims);
    H5::DataSet dataset = group.createDataSet(name, file_type, space, untimed_dataset());
    if (!values.empty()) dataset.write(values.data(), memory_type);
    set_string_attribute(dataset, "units", units);
    if (!description.empty()) set_string_attribute(dataset, "description", description);
  } catch (const H5::Exception& e) {
    rethrow("writing dataset '" + name + "'", e);
  }
}

}  // namespace

Group::Group(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Group Group::create_group(const std::string& name) {
  try {
    const hid_t properties = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(properties, 0);
    const hid_t id = H5Gcreate2(impl_->group.getId(), name.c_str(), H5P_DEFAULT, properties, H5P_DEFAULT);
    H5Pclose(properties);
    if (id < 0) throw H5::GroupIException("Group::create_group", "H5Gcreate2 failed");
    H5::Group group(id);
    H5Idec_ref(id);  // H5::Group(id) took its own reference
    return Group(std::make_shared<Impl>(Impl{group}));
  } catch (const H5::Exception& e) {
    rethrow("creating group '" + name + "'", e);
  }
}

void Group::write(const std::string& name, std::span<const double> values, const std::string& units,
                  const std::string& description) {
  write_column(impl_->group, name, values, H5::PredType::IEEE_F64LE, H5::PredType::NATIVE_DOUBLE, units, description);
}

void Group::write(const std::string& name, std::span<const std::int64_t> values, const std::string& units,
                  const std::string& description) {
  write_column(impl_->group, name, values, H5::PredType::STD_I64LE, H5::PredType::NATIVE_INT64, units, description);
}

void Group::write(const std::string& name, std::span<const std::int32_t> values, const std::string& units,
                  const std::string& description) {
  write_column(impl_->group, name, values, H5::PredType::STD_I32LE, H5::PredType::NATIVE_INT32, units, description);
}

void Group::write_strings(const std::string& name, const std::vector<std::string>& values,
                          const std::string& description) {
  try {
    H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
    type.setCset(H5T_CSET_UTF8);
    const hsize_t dims[1] = {static_cast<hsize_t>(values.size())};
    H5::DataSpace space(1, dims);
    H5::DataSet dataset = impl_->group.createDataSet(name, type, space, untimed_dataset());
    std::vector<const char*> pointers;
    pointers.reserve(values.size());
    for (const auto& value : values) pointers.push_back(value.c_str());
    if (!values.empty()) dataset.write(pointers.data(), type);
    set_string_attribute(dataset, "units", "");
    if (!description.empty()) set_string_attribute(dataset, "description", description);
  } catch (const H5::Exception& e) {
    rethrow("writing dataset '" + name + "'", e);
  }
}

void Group::write_matrix(const std::string& name, std::span<const double> values, std::size_t rows, std::size_t cols,
                         const std::string& units, const std::string& description) {
  if (values.size() != rows * cols) throw std::invalid_argument("write_matrix: size does not match rows x cols");
  try {
    const hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
    H5::DataSpace space(2, dims);
    H5::DataSet dataset = impl_->group.createDataSet(name, H5::PredType::IEEE_F64LE, space, untimed_dataset());
    if (!values.empty()) dataset.write(values.data(), H5::PredType::NATIVE_DOUBLE);
    set_string_attribute(dataset, "units", units);
    if (!description.empty()) set_string_attribute(dataset, "description", description);
  } catch (const H5::Exception& e) {
    rethrow("writing dataset '" + name + "'", e);
  }
}

void Group::set_attribute(const std::string& name, const std::string& value) {
  try {
    set_string_attribute(impl_->group, name, value);
  } catch (const H5::Exception& e) {
    rethrow("writing attribute '" + name + "'", e);
  }
}

void Group::set_attribute(const std::string& name, double value) {
  try {
    H5::DataSpace scalar(H5S_SCALAR);
    impl_->group.createAttribute(name, H5::PredType::IEEE_F64LE, scalar).write(H5::PredType::NATIVE_DOUBLE, &value);
  } catch (const H5::Exception& e) {
    rethrow("writing attribute '" + name + "'", e);
  }
}

void Group::set_attribute(const std::string& name, std::int64_t value) {
  try {
    H5::DataSpace scalar(H5S_SCALAR);
    impl_->group.createAttribute(name, H5::PredType::STD_I64LE, scalar).write(H5::PredType::NATIVE_INT64, &value);
  } catch (const H5::Exception& e) {
    rethrow("writing attribute '" + name + "'", e);
  }
}

// The file is built in memory (HDF5's core driver, no backing store) and written to disk by close() with
// one checked stream write. HDF5 itself never writes to the disk: when its own writes failed (a full disk,
// a file-size limit), its object and file closes failed too and left stale ids that crashed the process
// at exit in H5_term_library (found by tests/cli CliWriteError with RLIMIT_FSIZE, HDF5 1.10.8). The cost
// is memory: the whole file is held, and copied once, when it is written.
struct File::Impl {
  H5::H5File file;
  std::filesystem::path path;
};

namespace {
constexpr std::size_t kCoreDriverIncrementBytes = std::size_t{64} << 20;  // default growth step of the image
constexpr std::size_t kMinCoreDriverIncrementBytes = std::size_t{1} << 20;
}  // namespace

File::File(const std::filesystem::path& path, std::size_t expected_bytes) {
  H5::Exception::dontPrint();
  {
    // Create (truncate) the file now, as the sec2 driver would, so a bad path fails here and not at close.
    std::ofstream create(path, std::ios::binary | std::ios::trunc);
    if (!create) throw std::runtime_error("cannot create '" + path.string() + "'");
  }
  try {
    H5::FileAccPropList access;
    // The core driver grows its buffer linearly by this step: 12.5 % above the expected size (metadata,
    // alignment) keeps it to one allocation; without a guess, 64 MiB steps.
    const std::size_t increment =
        expected_bytes == 0 ? kCoreDriverIncrementBytes
                            : std::max(kMinCoreDriverIncrementBytes, expected_bytes + expected_bytes / 8);
    access.setCore(increment, false);
    impl_ = std::make_unique<Impl>(
        Impl{H5::H5File(path.string(), H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, access), path});
  } catch (const H5::Exception& e) {
    rethrow("creating '" + path.string() + "'", e);
  }
}

File::~File() {
  try {
    if (impl_) impl_->file.close();  // in memory: nothing reaches the disk without close()
  } catch (...) {  // NOLINT(bugprone-empty-catch): destructors must not throw; close() reports errors
  }
}

Group File::root() {
  try {
    return Group(std::make_shared<Group::Impl>(Group::Impl{impl_->file.openGroup("/")}));
  } catch (const H5::Exception& e) {
    rethrow("opening the root group", e);
  }
}

void File::close() {
  std::vector<char> image;
  try {
    impl_->file.flush(H5F_SCOPE_GLOBAL);
    const ssize_t size = H5Fget_file_image(impl_->file.getId(), nullptr, 0);
    if (size < 0) throw std::runtime_error("HDF5 error while taking the file image");
    image.resize(static_cast<std::size_t>(size));
    if (H5Fget_file_image(impl_->file.getId(), image.data(), image.size()) != size) {
      throw std::runtime_error("HDF5 error while copying the file image");
    }
    impl_->file.close();
  } catch (const H5::Exception& e) {
    rethrow("closing the file", e);
  }
  const std::filesystem::path path = impl_->path;
  impl_.reset();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(image.data(), static_cast<std::streamsize>(image.size()));
  out.flush();
  if (!out) throw std::runtime_error("cannot write " + std::to_string(image.size()) + " bytes (disk full?)");
}

}  // namespace moesim::h5
