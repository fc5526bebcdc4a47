#pragma once
// An HDF5 virtual file driver (internal to moesim::io) that writes through to a POSIX file like HDF5's
// default sec2 driver but never reports a failed write to HDF5: the first error (ENOSPC, EFBIG, EIO) is
// recorded in a WriteStatus the caller owns, and that write and every later one are dropped. Why: HDF5
// 1.10.8 does not survive its own write errors; a failed flush leaves a half-destroyed file object that
// H5Fclose, and the library's shutdown at exit, then crash on (issue 6, tests/io Hdf5Writer.AWrite...).
// With this driver HDF5 always "succeeds", closes cleanly, and the writer reads the status and reports
// the error itself; the file, which then holds garbage, is removed by the caller (AtomicOutputPath).
#include <hdf5.h>

namespace moesim::h5::detail {

struct WriteStatus {
  int error = 0;  // errno of the first failed write or truncate; 0 = every write reached the file
};

// The driver's id (registered with HDF5 on first use).
hid_t checked_file_driver();

// Sets `fapl` to use the driver, recording errors into `*status` (which must outlive the file).
herr_t set_checked_file_driver(hid_t fapl, WriteStatus* status);

// The status of the open file that `object` (a file, group or dataset id) belongs to; nullptr when it is
// not a file of this driver.
const WriteStatus* write_status_of(hid_t object);

}  // namespace moesim::h5::detail
