#pragma once
// Timing helpers shared by the benchmarks (`softprompt bench model`, `softprompt bench train`):
// robust statistics over repeated timings and this machine's GEMM rate, so that every benchmark
// reports its achieved GFLOP/s next to a GEMM measured the same way in the same run.
#include "torch_common.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sp::model {

// Wall-clock seconds of `work` (which waits for the device itself where that matters).
double secondsOf(const std::function<void()>& work);
double median(std::vector<double> values);         // 0 for none
double minimum(const std::vector<double>& values); // 0 for none

// This process's resident memory now (VmRSS) and at its peak so far (VmHWM), from /proc/self/status;
// -1 where unreadable. Mapped file pages a process has touched count, as they do for the OOM killer.
std::int64_t residentBytes();
std::int64_t peakResidentBytes();

// Waits for the kernels queued on `value`'s device (a no-op on the CPU).
void synchronise(const at::Tensor& value);

// One matrix product [m, k] x [k, n] with random operands, timed one product at a time so that a
// benchmark can interleave it with the work it compares it to (both then see the same machine load).
class GemmProbe {
public:
    // keepOperands false: the operands exist only while one product is timed, so that they do not add to
    // the peak memory of the work the probe is interleaved with (bench model's peak RSS).
    GemmProbe(std::int64_t m, std::int64_t k, std::int64_t n, const at::TensorOptions& options,
              bool keepOperands = true);
    double timeOnce();                   // seconds of one product, the device waited for
    double gflops(double seconds) const; // 2·m·k·n floating-point operations in `seconds`
    std::string shape() const;           // "MxKxN"

private:
    void allocate();
    void release();
    std::int64_t m_, k_, n_;
    at::TensorOptions options_;
    bool keepOperands_ = true;
    at::Tensor left_;    // [m, k]
    at::Tensor right_;   // [k, n]
    at::Tensor product_; // [m, n]
};

// The GEMM rate at one shape: the median over `repeats` products (the statistic the training
// benchmark uses for its step time).
double medianGemmGflops(std::int64_t m, std::int64_t k, std::int64_t n, const at::TensorOptions& options,
                        int repeats);

} // namespace sp::model
