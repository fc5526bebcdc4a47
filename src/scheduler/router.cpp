#include "moesim/scheduler/router.hpp"

// Router is header-only (a template over the scheduler type); this file keeps the module layout regular.
namespace moesim {}
