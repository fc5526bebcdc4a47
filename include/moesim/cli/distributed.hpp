#pragma once
// MPI for commands that shard independent work over processes (`moesim sweep` under `mpirun -np N` or
// `srun`). Without a launcher (or in a build without MPI) this is one process of rank 0 and every call
// is a no-op, so the same executable runs serially, on a thread pool, or distributed.
//
// MPI is initialised only when the environment shows an MPI launcher (OpenMPI's mpirun sets
// OMPI_COMM_WORLD_SIZE; PMIx and PMI launchers such as `srun --mpi=pmix` set PMIX_RANK / PMI_RANK), so a
// plain `moesim sweep` never pays MPI's start-up or needs its runtime.
#include <string>
#include <vector>

namespace moesim::cli {

class Distributed {
 public:
  // Initialises MPI when launched by an MPI launcher (MPI_THREAD_FUNNELED: worker threads never call
  // MPI). Throws UsageError when launched with several processes by a build without MPI (each process
  // would run everything and write the same file).
  Distributed();
  ~Distributed();  // MPI_Finalize when initialised
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  [[nodiscard]] int rank() const { return rank_; }
  [[nodiscard]] int size() const { return size_; }
  [[nodiscard]] bool active() const { return size_ > 1; }
  // Processes of this job on this machine (to share the cores between them); 1 without MPI.
  [[nodiscard]] int local_size() const { return local_size_; }

  // Rank 0 receives every rank's bytes (index = rank); other ranks get an empty vector. Collective.
  [[nodiscard]] std::vector<std::string> gather(const std::string& mine) const;
  // Every rank receives every rank's bytes (index = rank). Collective.
  [[nodiscard]] std::vector<std::string> all_gather(const std::string& mine) const;
  // The lowest rank for which `failed` is true, or -1 when none failed. Collective.
  [[nodiscard]] int first_failed(bool failed) const;
  // Ends every process of the job with `code` (after the caller printed why). Without MPI: std::exit.
  [[noreturn]] void abort(int code) const;

  // Whether this executable was built with MPI.
  static bool built_with_mpi();

 private:
  int rank_ = 0;
  int size_ = 1;
  int local_size_ = 1;
  bool initialised_ = false;
};

}  // namespace moesim::cli
