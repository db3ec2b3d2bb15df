#include "model/causal_lm.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <mutex>
#include <thread>

namespace sp::model {

void configureCpuThreads()
{
    static std::once_flag once;
    std::call_once(once, [] {
        int threads = int(std::thread::hardware_concurrency());
        if (const char* fromEnvironment = std::getenv("OMP_NUM_THREADS");
            fromEnvironment && *fromEnvironment) {
            const int requested = std::atoi(fromEnvironment);
            if (requested > 0)
                threads = requested;
        }
        if (threads > 0 && at::get_num_threads() != threads)
            at::set_num_threads(threads);
    });
}

} // namespace sp::model
