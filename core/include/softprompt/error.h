#pragma once
#include <stdexcept>
#include <string>

namespace sp {

// What the user can do about an error, when a front end has a control for it. Core's message says
// it in the product's words ("use the plain prompt format") and never names a CLI flag or a GUI
// control; each front end adds its own advice from this code (the CLI names the flag, the GUI the
// widget). None: the message says all there is to do.
enum class Remedy {
    None,
    ChooseDatabase,    // use another run database file
    UsePlainFormat,    // the chat template cannot be followed: use the plain prompt format
    UseBfloat16,       // the model fits in memory when loaded in bfloat16
    UseFloat32,        // load the model's weights in float32 (e.g. to train them)
    UseFloat32Compute, // float16 weights on the CPU: compute in float32 (or load bfloat16)
    UseCpuDevice,      // CUDA is not available: run on the CPU
    ChooseModelFolder, // the demo model is missing: use a Hugging Face model folder
    RecomputeCoverage, // a stored coverage map is unreadable: compute it again
    RunSweepLocally,   // no Slurm here: run the sweep on this machine
    ChooseSweepFolder, // the sweep's folder cannot be created: put it where every node can write
    CheckSlurmOptions, // sbatch refused the job: check partition, account, time and GPUs per task
    GiveSweepOption,   // a grid point lacks model, context or queries: give it to every point
};

// Every error a user can cause (bad file, unsupported model, over-long context, locked database)
// is an sp::Error whose message says what went wrong and what to do about it. Programs show the
// message as it is (one line, no stack trace), followed by their own advice for remedy().
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message, Remedy remedy = Remedy::None)
        : std::runtime_error(message), remedy_(remedy)
    {
    }
    Remedy remedy() const noexcept { return remedy_; }

private:
    Remedy remedy_;
};

// Raised when the user asked for cancellation; not a failure.
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled by the user") {}
};

// Builds "<what>: <detail>" messages consistently, e.g. fileError(path, "header is not JSON").
std::string fileError(const std::string& path, const std::string& detail);

} // namespace sp
