#include "checked_file_driver.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <limits>

namespace moesim::h5::detail {

namespace {

// What H5Pset_driver copies into the file access property list (HDF5 memcpy's it: fapl_copy is null).
struct DriverInfo {
  WriteStatus* status;
};

// One open file. HDF5 only knows the H5FD_t at its start (the driver API's convention for subclasses).
struct CheckedFile {
  H5FD_t base;  // must be first
  int fd = -1;
  haddr_t eoa = 0;  // end of the address space HDF5 has allocated
  haddr_t eof = 0;  // end of the data in the file (what its size would be without dropped writes)
  dev_t device = 0;
  ino_t inode = 0;
  WriteStatus* status = nullptr;
};

// Largest address: offsets are off_t (signed 64 bits), as sec2's limit.
constexpr haddr_t kMaxAddress = static_cast<haddr_t>(std::numeric_limits<off_t>::max());

void record(CheckedFile* file, int error) {
  if (file->status != nullptr && file->status->error == 0) file->status->error = error == 0 ? EIO : error;
}

bool failed(const CheckedFile* file) { return file->status != nullptr && file->status->error != 0; }

H5FD_t* open_file(const char* name, unsigned flags, hid_t fapl, haddr_t maxaddr) {
  if (name == nullptr || *name == '\0' || maxaddr == 0 || maxaddr > kMaxAddress) return nullptr;
  int open_flags = (flags & H5F_ACC_RDWR) != 0U ? O_RDWR : O_RDONLY;
  if ((flags & H5F_ACC_TRUNC) != 0U) open_flags |= O_TRUNC;
  if ((flags & H5F_ACC_CREAT) != 0U) open_flags |= O_CREAT;
  if ((flags & H5F_ACC_EXCL) != 0U) open_flags |= O_EXCL;
  const int fd = ::open(name, open_flags | O_CLOEXEC, 0666);
  if (fd < 0) return nullptr;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return nullptr;
  }
  auto* file = new CheckedFile{};
  file->fd = fd;
  file->eof = static_cast<haddr_t>(st.st_size);
  file->device = st.st_dev;
  file->inode = st.st_ino;
  if (const auto* info = static_cast<const DriverInfo*>(H5Pget_driver_info(fapl)); info != nullptr) {
    file->status = info->status;
  }
  return &file->base;
}

herr_t close_file(H5FD_t* base) {
  auto* file = reinterpret_cast<CheckedFile*>(base);
  if (::close(file->fd) != 0) record(file, errno);  // NFS and the like report write errors at close
  delete file;
  return 0;
}

int compare(const H5FD_t* a, const H5FD_t* b) {
  const auto* x = reinterpret_cast<const CheckedFile*>(a);
  const auto* y = reinterpret_cast<const CheckedFile*>(b);
  if (x->device != y->device) return x->device < y->device ? -1 : 1;
  if (x->inode != y->inode) return x->inode < y->inode ? -1 : 1;
  return 0;
}

herr_t query(const H5FD_t* /*file*/, unsigned long* flags) {
  // The optimisations sec2 allows: metadata and small raw data aggregated into blocks, metadata
  // accumulated into larger writes, data sieving for partial raw-data I/O.
  if (flags != nullptr) {
    *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE |
             H5FD_FEAT_AGGREGATE_SMALLDATA;
  }
  return 0;
}

haddr_t get_eoa(const H5FD_t* base, H5FD_mem_t /*type*/) { return reinterpret_cast<const CheckedFile*>(base)->eoa; }

herr_t set_eoa(H5FD_t* base, H5FD_mem_t /*type*/, haddr_t address) {
  if (address > kMaxAddress) return -1;
  reinterpret_cast<CheckedFile*>(base)->eoa = address;
  return 0;
}

haddr_t get_eof(const H5FD_t* base, H5FD_mem_t /*type*/) { return reinterpret_cast<const CheckedFile*>(base)->eof; }

herr_t get_handle(H5FD_t* base, hid_t /*fapl*/, void** handle) {
  if (handle == nullptr) return -1;
  *handle = base;  // for write_status_of; moesim never uses it as a descriptor
  return 0;
}

herr_t read_block(H5FD_t* base, H5FD_mem_t /*type*/, hid_t /*dxpl*/, haddr_t address, size_t size, void* buffer) {
  auto* file = reinterpret_cast<CheckedFile*>(base);
  if (address > kMaxAddress || size > kMaxAddress - address || address + size > file->eoa) return -1;
  auto* out = static_cast<unsigned char*>(buffer);
  while (size > 0) {
    const ssize_t got = ::pread(file->fd, out, std::min<size_t>(size, std::size_t{1} << 30), static_cast<off_t>(address));
    if (got < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (got == 0) {  // past the end of the file: HDF5 expects zeros there (sec2 does the same)
      std::memset(out, 0, size);
      break;
    }
    out += got;
    address += static_cast<haddr_t>(got);
    size -= static_cast<size_t>(got);
  }
  return 0;
}

herr_t write_block(H5FD_t* base, H5FD_mem_t /*type*/, hid_t /*dxpl*/, haddr_t address, size_t size, const void* buffer) {
  auto* file = reinterpret_cast<CheckedFile*>(base);
  if (address > kMaxAddress || size > kMaxAddress - address || address + size > file->eoa) return -1;  // a bug, not I/O
  file->eof = std::max(file->eof, address + size);
  if (failed(file)) return 0;  // dropped: the file is already lost
  const auto* in = static_cast<const unsigned char*>(buffer);
  while (size > 0) {
    const ssize_t put = ::pwrite(file->fd, in, std::min<size_t>(size, std::size_t{1} << 30), static_cast<off_t>(address));
    if (put < 0) {
      if (errno == EINTR) continue;
      record(file, errno);
      return 0;  // reported through the status, never to HDF5 (see the header)
    }
    in += put;
    address += static_cast<haddr_t>(put);
    size -= static_cast<size_t>(put);
  }
  return 0;
}

herr_t truncate_file(H5FD_t* base, hid_t /*dxpl*/, hbool_t /*closing*/) {
  auto* file = reinterpret_cast<CheckedFile*>(base);
  if (file->eoa == file->eof) return 0;
  if (!failed(file) && ::ftruncate(file->fd, static_cast<off_t>(file->eoa)) != 0) record(file, errno);
  file->eof = file->eoa;
  return 0;
}

H5FD_class_t make_class() {
  H5FD_class_t c{};
  c.name = "moesim_checked";
  c.maxaddr = kMaxAddress;
  c.fc_degree = H5F_CLOSE_WEAK;
  c.fapl_size = sizeof(DriverInfo);
  c.open = open_file;
  c.close = close_file;
  c.cmp = compare;
  c.query = query;
  c.get_eoa = get_eoa;
  c.set_eoa = set_eoa;
  c.get_eof = get_eof;
  c.get_handle = get_handle;
  c.read = read_block;
  c.write = write_block;
  c.truncate = truncate_file;
  const H5FD_mem_t map[H5FD_MEM_NTYPES] = H5FD_FLMAP_DICHOTOMY;
  std::copy(std::begin(map), std::end(map), std::begin(c.fl_map));
  return c;
}

}  // namespace

hid_t checked_file_driver() {
  static const H5FD_class_t cls = make_class();
  static hid_t id = -1;
  // Registered again if HDF5 was shut down and restarted in between (H5close in tests).
  if (id < 0 || H5Iis_valid(id) <= 0) id = H5FDregister(&cls);
  return id;
}

herr_t set_checked_file_driver(hid_t fapl, WriteStatus* status) {
  const hid_t driver = checked_file_driver();
  if (driver < 0) return -1;
  const DriverInfo info{status};
  return H5Pset_driver(fapl, driver, &info);
}

const WriteStatus* write_status_of(hid_t object) {
  const hid_t file = H5Iget_file_id(object);
  if (file < 0) return nullptr;
  void* handle = nullptr;
  const bool ours = H5Fget_vfd_handle(file, H5P_FILE_ACCESS_DEFAULT, &handle) >= 0 && handle != nullptr &&
                    static_cast<H5FD_t*>(handle)->cls != nullptr &&
                    std::strcmp(static_cast<H5FD_t*>(handle)->cls->name, "moesim_checked") == 0;
  H5Fclose(file);
  return ours ? static_cast<const CheckedFile*>(handle)->status : nullptr;
}

}  // namespace moesim::h5::detail
