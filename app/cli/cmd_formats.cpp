// softprompt bench safetensors [--file PATH] [--repeat N] [--size-mb M]
//
//   Loads a safetensors file (or a model folder, sharded or not) through the memory-mapped reader and
//   reads every tensor byte, then reads the same bytes with plain read() calls as the baseline, in
//   the same run. Without --file it writes a synthetic model-like file of M MB (default 256) to the
//   temporary folder first, timing the writer too. Prints one JSON object; MB = 10^6 bytes.
#include "cli_common.h"
#include "registry.h"

#include "softprompt/error.h"
#include "softprompt/safetensors.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Keeps the byte sums, and so the reads being timed, from being optimised away.
volatile std::uint64_t benchSink = 0;

struct BenchOptions {
    std::string file;
    int repeat = 5;
    int sizeMb = 256;
};

double secondsSince(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values)
{
    std::sort(values.begin(), values.end());
    const std::size_t mid = values.size() / 2;
    return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

// Sums every byte with a stride of one cache line, so every page is faulted in and read.
std::uint64_t touch(const std::byte* data, std::size_t size)
{
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < size; i += 64)
        sum += static_cast<std::uint8_t>(data[i]);
    return sum;
}

// A GPT-2-shaped file of roughly `megabytes`: F32 matrices, BF16 copies, biases, an I64 step counter.
void writeSyntheticFile(const std::string& path, int megabytes)
{
    const std::int64_t d = 768;
    const std::int64_t rows =
        std::max<std::int64_t>(1, static_cast<std::int64_t>(megabytes) * 1'000'000 / (d * 4 * 4));
    std::vector<float> matrix(static_cast<std::size_t>(rows * d));
    std::mt19937 random(7);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (float& value : matrix)
        value = normal(random);
    std::vector<std::uint16_t> half(matrix.size());
    for (std::size_t i = 0; i < matrix.size(); ++i) {
        std::uint32_t bits;
        std::memcpy(&bits, &matrix[i], 4);
        half[i] = static_cast<std::uint16_t>(bits >> 16);
    }
    const std::vector<float> bias(static_cast<std::size_t>(d), 0.5f);
    const std::int64_t step = 1000;
    std::vector<sp::TensorToWrite> tensors;
    for (int layer = 0; layer < 3; ++layer)
        tensors.push_back(
            {"h." + std::to_string(layer) + ".weight", sp::TensorDType::F32, {rows, d}, matrix.data()});
    tensors.push_back({"h.bf16.weight", sp::TensorDType::BF16, {rows, d}, half.data()});
    tensors.push_back({"h.bf16.weight2", sp::TensorDType::BF16, {rows, d}, half.data()});
    tensors.push_back({"ln.bias", sp::TensorDType::F32, {d}, bias.data()});
    tensors.push_back({"step", sp::TensorDType::I64, {}, &step});
    sp::writeSafetensors(path, tensors, {{"format", "pt"}});
}

void runBench(const BenchOptions& options)
{
    if (options.repeat < 1)
        throw sp::Error("--repeat must be at least 1");
    nlohmann::json result;
    std::string target = options.file;
    fs::path synthetic;
    if (target.empty()) {
        if (options.sizeMb < 1)
            throw sp::Error("--size-mb must be at least 1");
        synthetic =
            fs::temp_directory_path() / ("softprompt-bench-" + std::to_string(::getpid()) + ".safetensors");
        const auto start = Clock::now();
        writeSyntheticFile(synthetic.string(), options.sizeMb);
        const double seconds = secondsSince(start);
        result["write_mb_per_s"] = static_cast<double>(fs::file_size(synthetic)) / 1e6 / seconds;
        target = synthetic.string();
    }

    struct Cleanup {
        fs::path path;
        ~Cleanup()
        {
            std::error_code error;
            if (!path.empty())
                fs::remove(path, error);
        }
    } cleanup{synthetic};

    std::vector<double> openSeconds, loadSeconds, readSeconds;
    std::uint64_t loadSum = 0, readSum = 0;
    std::size_t totalBytes = 0, tensorCount = 0;
    std::vector<std::string> files;
    for (int run = 0; run < options.repeat; ++run) {
        // The reader: map, parse, validate, then read every tensor byte.
        auto start = Clock::now();
        const sp::SafetensorsCheckpoint checkpoint = sp::SafetensorsCheckpoint::openFolder(target);
        openSeconds.push_back(secondsSince(start));
        loadSum = 0;
        totalBytes = 0;
        const std::vector<std::string> names = checkpoint.names();
        for (const std::string& name : names) {
            const sp::TensorView& view = checkpoint.tensor(name);
            loadSum += touch(view.data, view.byteSize);
            totalBytes += view.byteSize;
        }
        loadSeconds.push_back(secondsSince(start));
        tensorCount = names.size();
        files = checkpoint.files();

        // The baseline: read() the same files into one buffer and touch it the same way.
        start = Clock::now();
        readSum = 0;
        std::vector<char> buffer(1 << 24);
        for (const std::string& file : files) {
            std::FILE* stream = std::fopen(file.c_str(), "rb");
            if (!stream)
                throw sp::Error(sp::fileError(file, "cannot open"));
            std::size_t got;
            while ((got = std::fread(buffer.data(), 1, buffer.size(), stream)) > 0)
                readSum += touch(reinterpret_cast<const std::byte*>(buffer.data()), got);
            std::fclose(stream);
        }
        readSeconds.push_back(secondsSince(start));
    }

    benchSink = loadSum + readSum;

    std::uintmax_t fileBytes = 0;
    for (const std::string& file : files)
        fileBytes += fs::file_size(file);
    const double loadMedian = median(loadSeconds), readMedian = median(readSeconds);
    result["file"] =
        options.file.empty() ? std::string("synthetic ") + std::to_string(options.sizeMb) + " MB" : target;
    result["files"] = files.size();
    result["file_bytes"] = fileBytes;
    result["tensor_bytes"] = totalBytes;
    result["tensors"] = tensorCount;
    result["repeats"] = options.repeat;
    result["open_ms_median"] = 1e3 * median(openSeconds);
    result["load_ms_median"] = 1e3 * loadMedian;
    result["load_mb_per_s"] = static_cast<double>(totalBytes) / 1e6 / loadMedian;
    result["read_baseline_mb_per_s"] = static_cast<double>(fileBytes) / 1e6 / readMedian;
    result["load_vs_read_ratio"] = readMedian / loadMedian; // > 1: the mapped reader is faster
    spcli::printJson(result);
}

void registerFormatsCommands(CLI::App& app)
{
    auto options = std::make_shared<BenchOptions>();
    CLI::App* bench = spcli::benchGroup(app).add_subcommand(
        "safetensors", "Time the memory-mapped safetensors reader against plain read() (prints JSON)");
    bench->add_option("--file", options->file,
                      "A .safetensors file or model folder (default: a synthetic file)");
    bench->add_option("--repeat", options->repeat, "Timed repetitions (the median is reported)")
        ->capture_default_str();
    bench->add_option("--size-mb", options->sizeMb, "Size of the synthetic file")->capture_default_str();
    bench->callback([options]() { runBench(*options); });
}

} // namespace

SP_REGISTER_CLI_COMMANDS(90, registerFormatsCommands);
