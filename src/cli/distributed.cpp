#include "moesim/cli/distributed.hpp"

#include <cstdlib>
#include <string>

#include "moesim/common/errors.hpp"

#ifdef MOESIM_WITH_MPI
#include <mpi.h>
#endif

namespace moesim::cli {

namespace {

[[maybe_unused]] int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  try {
    return std::stoi(v);
  } catch (const std::exception&) {
    return fallback;
  }
}

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr ||
         std::getenv("PMI_RANK") != nullptr || std::getenv("PMI_SIZE") != nullptr;
}

}  // namespace

bool Distributed::built_with_mpi() {
#ifdef MOESIM_WITH_MPI
  return true;
#else
  return false;
#endif
}

Distributed::Distributed() {
  if (!launched_by_mpi()) return;
#ifdef MOESIM_WITH_MPI
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  initialised_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
#else
  const int size = std::max(env_int("OMPI_COMM_WORLD_SIZE", 1), env_int("PMI_SIZE", 1));
  if (size > 1 || env_int("SLURM_NTASKS", 1) > 1) {
    throw UsageError("launched as " + std::to_string(size) +
                     " MPI processes, but this moesim was built without MPI (each would run the whole sweep); "
                     "install libopenmpi-dev and rebuild, or run one process with --jobs N");
  }
#endif
}

Distributed::~Distributed() {
#ifdef MOESIM_WITH_MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (initialised_ && finalized == 0) MPI_Finalize();
#endif
}

std::vector<std::string> Distributed::gather(const std::string& mine) const {
#ifdef MOESIM_WITH_MPI
  if (initialised_) {
    const int count = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<std::size_t>(size_), 0);
    MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    std::vector<int> offsets(static_cast<std::size_t>(size_), 0);
    std::string all;
    if (rank_ == 0) {
      long long total = 0;
      for (int r = 0; r < size_; ++r) {
        offsets[static_cast<std::size_t>(r)] = static_cast<int>(total);
        total += counts[static_cast<std::size_t>(r)];
      }
      all.resize(static_cast<std::size_t>(total));
    }
    MPI_Gatherv(mine.data(), count, MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
    std::vector<std::string> parts;
    if (rank_ == 0) {
      for (int r = 0; r < size_; ++r) {
        parts.push_back(all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(r)]),
                                   static_cast<std::size_t>(counts[static_cast<std::size_t>(r)])));
      }
    }
    return parts;
  }
#endif
  return {mine};
}

std::vector<std::string> Distributed::all_gather(const std::string& mine) const {
#ifdef MOESIM_WITH_MPI
  if (initialised_) {
    const int count = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<std::size_t>(size_), 0);
    MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    std::vector<int> offsets(static_cast<std::size_t>(size_), 0);
    long long total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[static_cast<std::size_t>(r)] = static_cast<int>(total);
      total += counts[static_cast<std::size_t>(r)];
    }
    std::string all(static_cast<std::size_t>(total), '\0');
    MPI_Allgatherv(mine.data(), count, MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR, MPI_COMM_WORLD);
    std::vector<std::string> parts;
    for (int r = 0; r < size_; ++r) {
      parts.push_back(all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(r)]),
                                 static_cast<std::size_t>(counts[static_cast<std::size_t>(r)])));
    }
    return parts;
  }
#endif
  return {mine};
}

int Distributed::first_failed(bool failed) const {
#ifdef MOESIM_WITH_MPI
  if (initialised_) {
    const int mine = failed ? rank_ : size_;
    int lowest = size_;
    MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return lowest < size_ ? lowest : -1;
  }
#endif
  return failed ? 0 : -1;
}

void Distributed::abort(int code) const {
#ifdef MOESIM_WITH_MPI
  if (initialised_) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace moesim::cli
