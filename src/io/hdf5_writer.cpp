#include "moesim/io/hdf5_writer.hpp"

#include "checked_file_driver.hpp"

#include <H5Cpp.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace moesim::h5 {

struct Group::Impl {
  H5::Group group;
};

namespace {
// Throws when the file `object` belongs to has lost a write (defined with File below).
void throw_if_write_failed(hid_t object);
}  // namespace

namespace {

// HDF5 reports errors by exception; we convert them to std::runtime_error with context.
[[noreturn]] void rethrow(const std::string& what, const H5::Exception& e) {
  throw std::runtime_error("HDF5 error while " + what + ": " + e.getDetailMsg());
}

// Closes an HDF5 id when it goes out of scope (errors ignored: only ever an id this file opened).
// No H5E_BEGIN_TRY around these calls: File::File turned HDF5's error printing off for the process
// (H5::Exception::dontPrint) before any group exists, and each H5E_BEGIN_TRY costs ~3,000 instructions,
// more than closing an id.
struct IdCloser {
  hid_t id;
  herr_t (*close)(hid_t);
  ~IdCloser() {
    if (id >= 0) close(id);
  }
};

// Writes a UTF-8 string attribute of `object` (an HDF5 id). The C API rather than H5Cpp: the results
// file has ~250 of these and the C++ wrappers cost as much again as the attribute itself (issue 13).
// Returns < 0 on failure.
herr_t write_string_attribute(hid_t object, const char* name, const std::string& value) {
  herr_t status = -1;
  const IdCloser type{H5Tcopy(H5T_C_S1), H5Tclose};
  const IdCloser space{H5Screate(H5S_SCALAR), H5Sclose};
  if (type.id >= 0 && space.id >= 0 && H5Tset_size(type.id, value.empty() ? 1 : value.size()) >= 0 &&
      H5Tset_cset(type.id, H5T_CSET_UTF8) >= 0) {
    const IdCloser attribute{H5Acreate2(object, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
    // An empty value is stored as one NUL byte (a zero-size string type does not exist).
    const char empty[1] = {'\0'};
    if (attribute.id >= 0) status = H5Awrite(attribute.id, type.id, value.empty() ? empty : value.data());
  }
  return status;
}

void set_string_attribute(H5::H5Object& object, const std::string& name, const std::string& value) {
  if (write_string_attribute(object.getId(), name.c_str(), value) < 0) {
    throw H5::AttributeIException("set_string_attribute", "H5Acreate2/H5Awrite failed for '" + name + "'");
  }
}

// Objects carry no modification times (HDF5 stores them by default), so the same content gives the same
// bytes: `moesim sweep` promises byte-identical files for any --jobs or MPI process count. One property
// list for the whole process (a property list belongs to no file; creating and closing one per dataset
// was a tenth of the cost of a small dataset). Thread-safe initialisation (function-local static).
hid_t untimed_dataset_id() {
  static const hid_t properties = [] {
    const hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if (p >= 0) H5Pset_obj_track_times(p, 0);
    return p;
  }();
  return properties;
}

// Creates the dataset `name` of `parent` with `dims` (rank 1 or 2), writes `data` (may be null when a
// dimension is 0) with `memory_type`, and its units/description attributes; `transfer` is the transfer
// property list (H5P_DEFAULT or one with a smaller conversion buffer). Throws naming the dataset.
void write_dataset(hid_t parent, const std::string& name, hid_t file_type, hid_t memory_type, int rank,
                   const hsize_t* dims, const void* data, const std::string& units, const std::string& description,
                   hid_t transfer = H5P_DEFAULT) {
  herr_t status = -1;
  {
    const IdCloser space{H5Screate_simple(rank, dims, nullptr), H5Sclose};
    const hid_t create = untimed_dataset_id();
    if (space.id >= 0 && create >= 0) {
      const IdCloser dataset{H5Dcreate2(parent, name.c_str(), file_type, space.id, H5P_DEFAULT, create, H5P_DEFAULT),
                             H5Dclose};
      if (dataset.id >= 0) {
        status = 0;
        if (data != nullptr) status = H5Dwrite(dataset.id, memory_type, H5S_ALL, H5S_ALL, transfer, data);
        if (status >= 0) status = write_string_attribute(dataset.id, "units", units);
        if (status >= 0 && !description.empty()) status = write_string_attribute(dataset.id, "description", description);
      }
    }
  }
  if (status < 0) throw std::runtime_error("HDF5 error while writing dataset '" + name + "'");
}

template <typename T>
void write_column(H5::Group& group, const std::string& name, std::span<const T> values, hid_t file_type,
                  hid_t memory_type, const std::string& units, const std::string& description) {
  const hsize_t dims[1] = {static_cast<hsize_t>(values.size())};
  write_dataset(group.getId(), name, file_type, memory_type, 1, dims, values.empty() ? nullptr : values.data(), units,
                description);
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
  write_column(impl_->group, name, values, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, units, description);
}

void Group::write(const std::string& name, std::span<const std::int64_t> values, const std::string& units,
                  const std::string& description) {
  write_column(impl_->group, name, values, H5T_STD_I64LE, H5T_NATIVE_INT64, units, description);
}

void Group::write(const std::string& name, std::span<const std::int32_t> values, const std::string& units,
                  const std::string& description) {
  write_column(impl_->group, name, values, H5T_STD_I32LE, H5T_NATIVE_INT32, units, description);
}

void Group::write_strings(const std::string& name, const std::vector<std::string>& values,
                          const std::string& description) {
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const auto& value : values) pointers.push_back(value.c_str());
  herr_t status = -1;
  {
    const IdCloser type{H5Tcopy(H5T_C_S1), H5Tclose};
    // Writing variable-length strings converts them, through a conversion buffer of 1 MiB by default
    // that HDF5 allocates and zeroes on every write: 256 page faults for a handful of names, which cost
    // more than the rest of the file in a VM (issue 13). A buffer for the strings written is enough
    // (16 bytes = the larger of a char* and the file's vlen descriptor, hvl_t).
    const IdCloser transfer{H5Pcreate(H5P_DATASET_XFER), H5Pclose};
    if (type.id >= 0 && transfer.id >= 0 && H5Tset_size(type.id, H5T_VARIABLE) >= 0 &&
        H5Tset_cset(type.id, H5T_CSET_UTF8) >= 0 &&
        H5Pset_buffer(transfer.id, std::max<std::size_t>(values.size(), 1) * sizeof(hvl_t), nullptr, nullptr) >= 0) {
      status = 0;
    }
    if (status >= 0) {
      const hsize_t dims[1] = {static_cast<hsize_t>(values.size())};
      try {
        write_dataset(impl_->group.getId(), name, type.id, type.id, 1, dims, values.empty() ? nullptr : pointers.data(),
                      "", description, transfer.id);
      } catch (const std::runtime_error&) {
        status = -1;
      }
    }
  }
  if (status < 0) throw std::runtime_error("HDF5 error while writing dataset '" + name + "'");
}

void Group::write_matrix(const std::string& name, std::span<const double> values, std::size_t rows, std::size_t cols,
                         const std::string& units, const std::string& description) {
  if (values.size() != rows * cols) throw std::invalid_argument("write_matrix: size does not match rows x cols");
  const hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  write_dataset(impl_->group.getId(), name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims,
                values.empty() ? nullptr : values.data(), units, description);
}

void Group::write_table(std::size_t rows, const std::vector<StreamedColumn>& columns, std::size_t block_rows) {
  if (block_rows == 0) throw std::invalid_argument("write_table: block_rows must be > 0");
  struct Created {
    hid_t dataset;
    hid_t memory_type;
  };
  std::vector<Created> created;
  created.reserve(columns.size());
  // Closes the datasets however this returns (C API: the H5Cpp wrappers cost as much as the datasets).
  struct CloseAll {
    std::vector<Created>& created;
    ~CloseAll() {
      for (const Created& c : created) H5Dclose(c.dataset);
    }
  } close_all{created};
  const hsize_t dims[1] = {static_cast<hsize_t>(rows)};
  const IdCloser space{H5Screate_simple(1, dims, nullptr), H5Sclose};
  for (const StreamedColumn& c : columns) {
    hid_t file_type = H5T_STD_I32LE;
    hid_t memory_type = H5T_NATIVE_INT32;
    std::visit(
        [&](const auto& fill) {
          using Fill = std::decay_t<decltype(fill)>;
          if constexpr (std::is_same_v<Fill, std::function<void(std::size_t, std::span<double>)>>) {
            file_type = H5T_IEEE_F64LE;
            memory_type = H5T_NATIVE_DOUBLE;
          } else if constexpr (std::is_same_v<Fill, std::function<void(std::size_t, std::span<std::int64_t>)>>) {
            file_type = H5T_STD_I64LE;
            memory_type = H5T_NATIVE_INT64;
          }
        },
        c.fill);
    const hid_t dataset = space.id < 0 ? -1
                                       : H5Dcreate2(impl_->group.getId(), c.name.c_str(), file_type, space.id,
                                                    H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (dataset < 0) throw std::runtime_error("HDF5 error while writing dataset '" + c.name + "'");
    created.push_back({dataset, memory_type});
    if (write_string_attribute(dataset, "units", c.units) < 0 ||
        (!c.description.empty() && write_string_attribute(dataset, "description", c.description) < 0)) {
      throw std::runtime_error("HDF5 error while writing dataset '" + c.name + "'");
    }
  }
  // One buffer for every column: 8 bytes per row is the widest type.
  std::vector<std::int64_t> buffer(std::min(rows, block_rows));
  for (std::size_t first = 0; first < rows; first += block_rows) {
    const std::size_t count = std::min(block_rows, rows - first);
    for (std::size_t k = 0; k < columns.size(); ++k) {
      std::visit(
          [&]<typename T>(const std::function<void(std::size_t, std::span<T>)>& fill) {
            static_assert(sizeof(T) <= sizeof(std::int64_t));
            const std::span<T> out(reinterpret_cast<T*>(buffer.data()), count);
            fill(first, out);
            const hsize_t start[1] = {static_cast<hsize_t>(first)};
            const hsize_t block[1] = {static_cast<hsize_t>(count)};
            const hid_t dataset = created[k].dataset;
            const hid_t file_space = H5Dget_space(dataset);
            const hid_t memory_space = H5Screate_simple(1, block, nullptr);
            herr_t status = file_space < 0 || memory_space < 0 ? -1 : 0;
            if (status >= 0) status = H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, block, nullptr);
            if (status >= 0) status = H5Dwrite(dataset, created[k].memory_type, memory_space, file_space, H5P_DEFAULT, out.data());
            if (memory_space >= 0) H5Sclose(memory_space);
            if (file_space >= 0) H5Sclose(file_space);
            if (status < 0) {
              throw std::runtime_error("HDF5 error while writing dataset '" + columns[k].name + "' rows " +
                                       std::to_string(first) + "-" + std::to_string(first + count - 1));
            }
          },
          columns[k].fill);
    }
    // Stop at the first lost block rather than compute the rest of a file that will be removed.
    throw_if_write_failed(impl_->group.getId());
  }
}

struct AppendableTable::Impl {
  std::vector<hid_t> datasets;
  std::vector<hid_t> memory_types;
  std::vector<std::string> names;
};

AppendableTable::AppendableTable(Group& group, const std::vector<ColumnSpec>& columns, std::size_t chunk_rows)
    : impl_(std::make_unique<Impl>()) {
  if (chunk_rows == 0) throw std::invalid_argument("AppendableTable: chunk_rows must be > 0");
  const hid_t parent = group.impl_->group.getId();
  for (const ColumnSpec& c : columns) {
    hid_t file_type = H5T_STD_I32LE;
    hid_t memory_type = H5T_NATIVE_INT32;
    if (c.type == ColumnType::kFloat64) {
      file_type = H5T_IEEE_F64LE;
      memory_type = H5T_NATIVE_DOUBLE;
    } else if (c.type == ColumnType::kInt64) {
      file_type = H5T_STD_I64LE;
      memory_type = H5T_NATIVE_INT64;
    }
    const hsize_t dims[1] = {0};
    const hsize_t max_dims[1] = {H5S_UNLIMITED};
    const hsize_t chunk[1] = {static_cast<hsize_t>(chunk_rows)};
    hid_t dataset = -1;
    H5E_BEGIN_TRY {
      const hid_t space = H5Screate_simple(1, dims, max_dims);
      const hid_t create = H5Pcreate(H5P_DATASET_CREATE);
      const hid_t access = H5Pcreate(H5P_DATASET_ACCESS);
      // No chunk cache: appends come in whole blocks, and a cache would hold up to 1 MiB per column.
      // Never fill chunks with the fill value first: every row is written (a third of the cost otherwise).
      if (space >= 0 && create >= 0 && access >= 0 && H5Pset_chunk(create, 1, chunk) >= 0 &&
          H5Pset_fill_time(create, H5D_FILL_TIME_NEVER) >= 0 && H5Pset_chunk_cache(access, 0, 0, 1.0) >= 0) {
        dataset = H5Dcreate2(parent, c.name.c_str(), file_type, space, H5P_DEFAULT, create, access);
      }
      if (access >= 0) H5Pclose(access);
      if (create >= 0) H5Pclose(create);
      if (space >= 0) H5Sclose(space);
    }
    H5E_END_TRY;
    if (dataset < 0) throw std::runtime_error("HDF5 error while creating dataset '" + c.name + "'");
    impl_->datasets.push_back(dataset);
    impl_->memory_types.push_back(memory_type);
    impl_->names.push_back(c.name);
    if (write_string_attribute(dataset, "units", c.units) < 0 ||
        (!c.description.empty() && write_string_attribute(dataset, "description", c.description) < 0)) {
      throw std::runtime_error("HDF5 error while writing the attributes of '" + c.name + "'");
    }
  }
}

AppendableTable::~AppendableTable() {
  H5E_BEGIN_TRY {
    for (const hid_t dataset : impl_->datasets) H5Dclose(dataset);
  }
  H5E_END_TRY;
}

void AppendableTable::append(std::size_t rows, const std::vector<const void*>& values) {
  if (rows == 0) return;
  if (values.size() != impl_->datasets.size()) throw std::invalid_argument("AppendableTable::append: one pointer per column");
  const hsize_t start[1] = {static_cast<hsize_t>(rows_)};
  const hsize_t count[1] = {static_cast<hsize_t>(rows)};
  const hsize_t extent[1] = {static_cast<hsize_t>(rows_ + rows)};
  // No H5E_BEGIN_TRY (error printing is off for the process, File::File): it cost more than an append.
  const IdCloser memory_space{H5Screate_simple(1, count, nullptr), H5Sclose};
  for (std::size_t k = 0; k < impl_->datasets.size(); ++k) {
    const hid_t dataset = impl_->datasets[k];
    herr_t status = memory_space.id < 0 ? -1 : H5Dset_extent(dataset, extent);
    if (status >= 0) {
      const IdCloser file_space{H5Dget_space(dataset), H5Sclose};
      status = file_space.id < 0 ? -1 : H5Sselect_hyperslab(file_space.id, H5S_SELECT_SET, start, nullptr, count, nullptr);
      if (status >= 0) {
        status = H5Dwrite(dataset, impl_->memory_types[k], memory_space.id, file_space.id, H5P_DEFAULT, values[k]);
      }
    }
    if (status < 0) {
      throw std::runtime_error("HDF5 error while appending rows " + std::to_string(rows_) + "-" +
                               std::to_string(rows_ + rows - 1) + " to dataset '" + impl_->names[k] + "'");
    }
  }
  rows_ += rows;
  if (!impl_->datasets.empty()) throw_if_write_failed(impl_->datasets.front());
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

// The file is written straight to `path` (a temporary path: the callers rename it when complete,
// AtomicOutputPath, and remove it on any failure or signal) as datasets are written. Until issue 13 it was
// assembled in memory (core driver) and written with one checked write, because HDF5 1.10.8 crashes after
// its own write errors (issue 6); that held the whole file, and a copy, in memory. Now:
//   1. Before anything is written, the expected size is checked against the file-size limit
//      (RLIMIT_FSIZE) and the free space of the file system, and reserved with fallocate, so the usual
//      failure is a clean message before a byte is written.
//   2. The file goes through checked_file_driver.hpp, which never lets HDF5 see a write error: it
//      records the first one and drops the rest, HDF5 closes the file normally, and close() (or the
//      next streamed block) reports the error. The caller then removes the file.
struct File::Impl {
  hid_t file = -1;
  std::filesystem::path path;
  std::unique_ptr<detail::WriteStatus> status;  // filled by the driver; outlives the HDF5 file
};

namespace {

// Room for what the callers' size guesses leave out (object headers, attributes, group B-trees and
// heaps): generous, since it is only checked and reserved, never written.
constexpr std::size_t kMetadataAllowanceBytes = std::size_t{1} << 20;

void check_and_reserve_space(const std::filesystem::path& path, std::size_t expected_bytes) {
  std::error_code ec;
  const std::uintmax_t current = std::filesystem::file_size(path, ec);
  const std::uint64_t offset = ec ? 0 : static_cast<std::uint64_t>(current);
  const std::size_t needed = expected_bytes + kMetadataAllowanceBytes;
  rlimit limit{};
  if (::getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      static_cast<std::uint64_t>(limit.rlim_cur) < offset + needed) {
    throw std::runtime_error("the file would need about " + std::to_string(offset + needed) +
                             " bytes, more than the process's file-size limit (ulimit -f) of " +
                             std::to_string(static_cast<std::uint64_t>(limit.rlim_cur)) + " bytes");
  }
  const std::filesystem::path directory = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  struct statvfs fs {};
  if (::statvfs(directory.c_str(), &fs) == 0) {
    const std::uint64_t available = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (available < needed) {
      throw std::runtime_error("the file would need about " + std::to_string(needed) + " bytes and only " +
                               std::to_string(available) + " are free on the disk");
    }
  }
  // Reserve the blocks without changing the file's size, so that another process cannot take the space
  // in the meantime; close() gives back what was not used. Not every file system supports it (then the
  // check above is all there is, and the driver reports a failure later).
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  const int rc = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset), static_cast<off_t>(needed));
  const int error = rc == 0 ? 0 : errno;
  ::close(fd);
  if (error == ENOSPC || error == EFBIG) {
    throw std::runtime_error("cannot reserve " + std::to_string(needed) + " bytes: " + std::strerror(error));
  }
}

// Closes every object of the file, then the file (errors ignored: the file is being given up).
void close_everything_quietly(hid_t file) {
  H5E_BEGIN_TRY {
    constexpr unsigned kObjects = H5F_OBJ_LOCAL | H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR;
    const ssize_t count = H5Fget_obj_count(file, kObjects);
    if (count > 0) {
      std::vector<hid_t> ids(static_cast<std::size_t>(count));
      const ssize_t got = H5Fget_obj_ids(file, kObjects, ids.size(), ids.data());
      for (ssize_t i = 0; i < got; ++i) {
        const hid_t id = ids[static_cast<std::size_t>(i)];
        while (H5Iis_valid(id) > 0 && H5Idec_ref(id) > 0) {
        }
      }
    }
    H5Fclose(file);
  }
  H5E_END_TRY;
}

std::string write_error_message(int error) {
  return std::string("cannot write the file: ") + std::strerror(error) + (error == ENOSPC ? "" : " (disk full?)");
}

void throw_if_write_failed(hid_t object) {
  const detail::WriteStatus* status = detail::write_status_of(object);
  if (status != nullptr && status->error != 0) throw std::runtime_error(write_error_message(status->error));
}

}  // namespace

File::File(const std::filesystem::path& path, std::size_t expected_bytes) {
  H5::Exception::dontPrint();
  auto status = std::make_unique<detail::WriteStatus>();
  hid_t file = -1;
  H5E_BEGIN_TRY {
    const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    // Strong close: H5Fclose closes the groups and datasets still open (the callers' Group objects often
    // outlive close()), so that every byte is written, and the status read, when close() returns. With
    // the default (weak) close the file would stay open until its last object is released.
    if (fapl >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0 &&
        detail::set_checked_file_driver(fapl, status.get()) >= 0) {
      file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    }
    if (fapl >= 0) H5Pclose(fapl);
  }
  H5E_END_TRY;
  if (file < 0) throw std::runtime_error("HDF5 error while creating '" + path.string() + "'");
  impl_ = std::make_unique<Impl>(Impl{file, path, std::move(status)});
  if (expected_bytes > 0) reserve(expected_bytes);
}

File::~File() {
  // Not closed by close(): an exception is on its way and the file is being given up (and removed).
  if (impl_) close_everything_quietly(impl_->file);
}

void File::reserve(std::size_t bytes) {
  try {
    check_and_reserve_space(impl_->path, bytes);
  } catch (...) {
    close_everything_quietly(impl_->file);
    impl_.reset();
    throw;
  }
}

Group File::root() {
  hid_t group = -1;
  H5E_BEGIN_TRY { group = H5Gopen2(impl_->file, "/", H5P_DEFAULT); }
  H5E_END_TRY;
  if (group < 0) throw std::runtime_error("HDF5 error while opening the root group");
  return Group(std::make_shared<Group::Impl>(Group::Impl{H5::Group(group)}));
}

void File::close() {
  herr_t status = -1;
  H5E_BEGIN_TRY { status = H5Fclose(impl_->file); }
  H5E_END_TRY;
  const std::unique_ptr<Impl> impl = std::move(impl_);
  if (status < 0) throw std::runtime_error("HDF5 error while closing the file");
  if (impl->status->error != 0) throw std::runtime_error(write_error_message(impl->status->error));
  // Give back the blocks reserved past the end (check_and_reserve_space): truncating a file to its own
  // size frees the blocks fallocate(FALLOC_FL_KEEP_SIZE) kept beyond it (ext4, tmpfs, XFS).
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(impl->path, ec);
  if (!ec) (void)::truncate(impl->path.c_str(), static_cast<off_t>(size));
}

}  // namespace moesim::h5
