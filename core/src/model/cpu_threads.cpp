#include "model/causal_lm.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

namespace sp::model {

namespace {

// Runnable processes already competing for the cores: /proc/loadavg's one-minute average.
int busyCores()
{
    std::ifstream file("/proc/loadavg");
    double load = 0.0;
    if (!(file >> load) || !std::isfinite(load) || load < 0)
        return 0;
    return int(std::lround(load));
}

} // namespace

int chooseCpuThreads()
{
    if (const char* fromEnvironment = std::getenv("OMP_NUM_THREADS"); fromEnvironment && *fromEnvironment) {
        const int requested = std::atoi(fromEnvironment);
        if (requested > 0)
            return requested;
    }
    const int cores = std::max(1, int(std::thread::hardware_concurrency()));
    // libgomp spin-waits at every parallel region's barrier. When other work already occupies the
    // cores (OpenBLAS's own GEMM threads, other processes), one lagging thread stalls every op:
    // measured here, a SmolLM-sized prefill ran 5x slower with 2 threads than with 1 on a busy
    // 2-core machine. So only the cores that are free get an OpenMP thread; GEMMs still use all
    // cores through OpenBLAS.
    return std::clamp(cores - busyCores(), 1, cores);
}

void configureCpuThreads()
{
    static std::once_flag once;
    std::call_once(once, [] {
        const int threads = chooseCpuThreads();
        if (at::get_num_threads() != threads)
            at::set_num_threads(threads);
    });
}

} // namespace sp::model
