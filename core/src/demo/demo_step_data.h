#pragma once
// The data of each pretraining step: fresh contexts (the curriculum sets their length and how many
// facts they state), their tokens, the context positions scored by the LM loss, and the queries.
//
// Two ways to draw it, both reproducible from the seed:
//   - one random stream for the whole run, drawn step after step on the training thread (the CPU
//     default, and what the shipped model was trained on);
//   - a stream of its own per step, drawn ahead by worker threads (dataThreads > 0). On a GPU the
//     corpus and its tokenization take longer than the step itself, so they must run in parallel.
//     The result depends on the seed, not on the number of threads.
#include "demo/demo_step_loss.h"
#include "softprompt/demo_training.h"

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sp {
class Tokenizer;
}

namespace sp::demo {

class DemoCorpusGenerator;

// What the curriculum asks of one step's contexts.
struct StepShape {
    int lowTokens = 0;
    int highTokens = 0;
    int factCount = 0;
};
StepShape curriculumShape(const PretrainOptions& options, int step, int totalSteps);

// One random stream of contexts (sequential use only).
class StepDataSource {
public:
    StepDataSource(const PretrainOptions& options, const Tokenizer& tokenizer, std::int64_t endOfText,
                   std::uint64_t generatorSeed, std::uint64_t lengthSeed, std::uint64_t positionSeed,
                   std::uint64_t factSeed);
    ~StepDataSource();
    std::vector<PreparedContext> draw(const StepShape& shape);

private:
    const PretrainOptions& options_;
    const Tokenizer& tokenizer_;
    std::int64_t endOfText_;
    std::unique_ptr<DemoCorpusGenerator> generator_;
    std::uint64_t lengthState_;
    std::uint64_t positionState_;
    std::uint64_t factState_;
};

// Hands out each step's data in order; see the top of this file for the two modes.
class StepDataStream {
public:
    // dataThreads: 0 = one stream drawn on the calling thread; > 0 = that many workers.
    StepDataStream(const PretrainOptions& options, const Tokenizer& tokenizer, std::int64_t endOfText,
                   int totalSteps, int lastStep, int dataThreads);
    ~StepDataStream();
    StepDataStream(const StepDataStream&) = delete;
    StepDataStream& operator=(const StepDataStream&) = delete;

    std::vector<PreparedContext> take(int step); // steps must be taken in order, from 0

private:
    void work();

    const PretrainOptions& options_;
    const Tokenizer& tokenizer_;
    std::int64_t endOfText_;
    int totalSteps_;
    int lastStep_;
    int workerCount_;
    std::unique_ptr<StepDataSource> sequential_; // no workers

    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<int, std::vector<PreparedContext>> ready_;
    int nextToDraw_ = 0;
    int nextToTake_ = 0;
    bool stopping_ = false;
    std::string error_;
    std::vector<std::thread> workers_;
};

std::uint64_t mixSeed(std::uint64_t seed, std::uint64_t stream);

} // namespace sp::demo
