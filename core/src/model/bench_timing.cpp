#include "model/bench_timing.h"

#include <algorithm>
#include <chrono>

namespace sp::model {

double secondsOf(const std::function<void()>& work)
{
    const auto start = std::chrono::steady_clock::now();
    work();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> values)
{
    if (values.empty())
        return 0.0;
    std::sort(values.begin(), values.end());
    const std::size_t middle = values.size() / 2;
    return values.size() % 2 ? values[middle] : 0.5 * (values[middle - 1] + values[middle]);
}

double minimum(const std::vector<double>& values)
{
    return values.empty() ? 0.0 : *std::min_element(values.begin(), values.end());
}

void synchronise(const at::Tensor& value)
{
    if (value.device().is_cuda())
        value.sum().item<double>(); // waits for the queued kernels
}

GemmProbe::GemmProbe(std::int64_t m, std::int64_t k, std::int64_t n, const at::TensorOptions& options)
    : m_(m), k_(k), n_(n)
{
    at::NoGradGuard noGrad;
    left_ = at::randn({m, k}, options);  // [m, k]
    right_ = at::randn({k, n}, options); // [k, n]
    product_ = at::mm(left_, right_);    // [m, n], also the warm-up
    synchronise(product_);
}

double GemmProbe::timeOnce()
{
    at::NoGradGuard noGrad;
    return secondsOf([&] {
        at::mm_out(product_, left_, right_);
        synchronise(product_);
    });
}

double GemmProbe::gflops(double seconds) const
{
    return 2.0 * double(m_) * double(k_) * double(n_) / seconds / 1e9;
}

std::string GemmProbe::shape() const
{
    return std::to_string(m_) + "x" + std::to_string(k_) + "x" + std::to_string(n_);
}

double medianGemmGflops(std::int64_t m, std::int64_t k, std::int64_t n, const at::TensorOptions& options,
                        int repeats)
{
    GemmProbe probe(m, k, n, options);
    std::vector<double> seconds;
    for (int i = 0; i < repeats; ++i)
        seconds.push_back(probe.timeOnce());
    return probe.gflops(median(seconds));
}

} // namespace sp::model
