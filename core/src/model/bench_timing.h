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

// Waits for the kernels queued on `value`'s device (a no-op on the CPU).
void synchronise(const at::Tensor& value);

// One matrix product [m, k] x [k, n] with random operands, timed one product at a time so that a
// benchmark can interleave it with the work it compares it to (both then see the same machine load).
class GemmProbe {
public:
    GemmProbe(std::int64_t m, std::int64_t k, std::int64_t n, const at::TensorOptions& options);
    double timeOnce();                   // seconds of one product, the device waited for
    double gflops(double seconds) const; // 2·m·k·n floating-point operations in `seconds`
    std::string shape() const;           // "MxKxN"

private:
    std::int64_t m_, k_, n_;
    at::Tensor left_;    // [m, k]
    at::Tensor right_;   // [k, n]
    at::Tensor product_; // [m, n]
};

// The GEMM rate at one shape: the median over `repeats` products (the statistic the training
// benchmark uses for its step time).
double medianGemmGflops(std::int64_t m, std::int64_t k, std::int64_t n, const at::TensorOptions& options,
                        int repeats);

} // namespace sp::model
