#include "model/causal_lm.h"

#include <ATen/Context.h>
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
    // With OpenBLAS (Debian's LibTorch), every GEMM already runs on all cores in OpenBLAS's own
    // thread pool. A second pool of OpenMP threads for the element-wise ops spin-waits at each
    // parallel region's barrier and takes the cores from OpenBLAS's threads, which spin too: on this
    // project's 2-core machine, 2 OpenMP threads made the σ step 2–4× slower than 1 on an idle
    // machine (bench train: demo 145 ms against 36 ms a step, SmolLM-135M shape 2.86 s against 1.25 s),
    // and the teacher's prefill 2.4× slower. So one OpenMP thread, and the cores go to OpenBLAS.
    // MKL threads through OpenMP itself, so there the OpenMP pool is the GEMM pool: every core that
    // the one-minute load average leaves free.
    if (!at::hasMKL())
        return 1;
    const int cores = std::max(1, int(std::thread::hardware_concurrency()));
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
