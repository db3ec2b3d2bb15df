#include "model/bench_timing.h"

#include <fstream>
#include <string>

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

GemmProbe::GemmProbe(std::int64_t m, std::int64_t k, std::int64_t n, const at::TensorOptions& options,
                     bool keepOperands)
    : m_(m), k_(k), n_(n), options_(options), keepOperands_(keepOperands)
{
    at::NoGradGuard noGrad;
    allocate();
    product_ = at::mm(left_, right_); // [m, n], also the warm-up
    synchronise(product_);
    if (!keepOperands_)
        release();
}

void GemmProbe::allocate()
{
    left_ = at::randn({m_, k_}, options_);     // [m, k]
    right_ = at::randn({k_, n_}, options_);    // [k, n]
    product_ = at::empty({m_, n_}, options_);  // [m, n]
}

void GemmProbe::release()
{
    left_ = right_ = product_ = at::Tensor();
}

double GemmProbe::timeOnce()
{
    at::NoGradGuard noGrad;
    if (!keepOperands_)
        allocate(); // outside the timed product
    const double seconds = secondsOf([&] {
        at::mm_out(product_, left_, right_);
        synchronise(product_);
    });
    if (!keepOperands_)
        release();
    return seconds;
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

namespace {

std::int64_t statusKilobytes(const char* field)
{
    std::ifstream status("/proc/self/status");
    std::string line;
    const std::string prefix = std::string(field) + ":";
    while (std::getline(status, line))
        if (line.rfind(prefix, 0) == 0)
            return std::stoll(line.substr(prefix.size())) * 1024;
    return -1;
}

} // namespace

std::int64_t residentBytes()
{
    return statusKilobytes("VmRSS");
}

std::int64_t peakResidentBytes()
{
    return statusKilobytes("VmHWM");
}

} // namespace sp::model
