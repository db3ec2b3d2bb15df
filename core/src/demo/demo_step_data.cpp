#include "demo/demo_step_data.h"

#include "softprompt/demo_corpus.h"
#include "softprompt/error.h"
#include "softprompt/tokenizer.h"

#include <algorithm>
#include <cmath>

namespace sp::demo {

namespace {

int drawContextLength(std::uint64_t& state, int low, int high)
{
    const double u = double(mixSeed(state++, 7) >> 11) * 0x1.0p-53;
    return int(
        std::lround(std::exp(std::log(double(low)) + (std::log(double(high)) - std::log(double(low))) * u)));
}

// How far ahead the workers may draw, per worker: enough to ride out a slow step, little memory.
constexpr int kStepsAheadPerWorker = 2;

} // namespace

std::uint64_t mixSeed(std::uint64_t seed, std::uint64_t stream)
{
    std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + stream;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

StepShape curriculumShape(const PretrainOptions& options, int step, int totalSteps)
{
    const double fraction = double(step) / double(totalSteps);
    StepShape shape;
    shape.lowTokens = options.minContextTokens;
    shape.highTokens = options.maxContextTokens;
    if (fraction < options.curriculumFraction) {
        // The ceiling grows geometrically: attention learns to find the rules among few tokens
        // first (at initialisation it spreads evenly, so every filler token dilutes the signal).
        const double ramp = fraction / options.curriculumFraction;
        shape.highTokens = int(
            std::lround(options.curriculumStartMaxTokens *
                        std::pow(double(options.maxContextTokens) / options.curriculumStartMaxTokens, ramp)));
        shape.lowTokens = std::min(shape.lowTokens, std::max(16, shape.highTokens / 4));
    }
    shape.lowTokens = std::min(shape.lowTokens, shape.highTokens);
    const int allFacts = int(demoAttributes().size());
    shape.factCount =
        fraction < options.curriculumFraction
            ? std::min(allFacts, 1 + int(double(allFacts) * fraction / options.curriculumFraction))
            : allFacts;
    return shape;
}

StepDataSource::StepDataSource(const PretrainOptions& options, const Tokenizer& tokenizer,
                               std::int64_t endOfText, std::uint64_t generatorSeed, std::uint64_t lengthSeed,
                               std::uint64_t positionSeed, std::uint64_t factSeed)
    : options_(options), tokenizer_(tokenizer), endOfText_(endOfText), lengthState_(lengthSeed),
      positionState_(positionSeed), factState_(factSeed)
{
    DemoCorpusOptions corpusOptions;
    corpusOptions.minContextTokens = 16;
    // Slack above the longest target: persona, rules and glossary alone may exceed a short target.
    corpusOptions.maxContextTokens = options.maxContextTokens + 300;
    corpusOptions.queriesPerContext = options.queriesPerContext;
    corpusOptions.queryAttributes = options.queryAttributes;
    corpusOptions.distractorsPerContext = options.distractorsPerContext;
    corpusOptions.distractorAttributes = options.distractorAttributes;
    corpusOptions.countTokens = [&tokenizer](std::string_view text) { return tokenizer.encode(text).size(); };
    generator_ = std::make_unique<DemoCorpusGenerator>(generatorSeed, corpusOptions);
}

StepDataSource::~StepDataSource() = default;

std::vector<PreparedContext> StepDataSource::draw(const StepShape& shape)
{
    // Up to contextsPerStep contexts, fewer once they hold contextTokensPerStep tokens: many short
    // contexts teach where facts are, a few long ones that they can be anywhere.
    std::vector<DemoContext> contexts;
    std::vector<PreparedContext> prepared;
    std::int64_t stepContextTokens = 0;
    while (int(contexts.size()) < options_.contextsPerStep &&
           (options_.contextTokensPerStep <= 0 || stepContextTokens < options_.contextTokensPerStep)) {
        DemoRules rules = generator_->drawRules();
        // Early contexts state only a few of the facts: with little to search through, the model
        // first learns to find a value at all, then to find it among many.
        while (int(rules.facts.size()) > shape.factCount)
            rules.facts.erase(rules.facts.begin() +
                              std::ptrdiff_t(mixSeed(factState_++, 11) % rules.facts.size()));
        contexts.push_back(generator_->contextWithRules(
            rules, drawContextLength(lengthState_, shape.lowTokens, shape.highTokens)));
        PreparedContext item;
        item.ids = encodeIds(tokenizer_, contexts.back().text);
        stepContextTokens += std::int64_t(item.ids.size());
        prepared.push_back(std::move(item));
    }
    // Drawn after all the contexts, so the streams advance as they did when this was inline.
    for (std::size_t c = 0; c < contexts.size(); ++c) {
        PreparedContext& item = prepared[c];
        // The LM loss on a sample of the context's positions.
        const std::int64_t candidates = std::int64_t(item.ids.size()) - 1;
        if (options_.contextLossPositions <= 0 || candidates <= options_.contextLossPositions) {
            for (std::int64_t p = 0; p < candidates; ++p)
                item.scoredPositions.push_back(p);
        } else {
            for (int s = 0; s < options_.contextLossPositions; ++s)
                item.scoredPositions.push_back(
                    std::int64_t(mixSeed(positionState_++, 9) % std::uint64_t(candidates)));
        }
        for (const DemoQuery& query : contexts[c].queries)
            item.queries.push_back(tokenizeQuery(tokenizer_, query, endOfText_));
    }
    return prepared;
}

StepDataStream::StepDataStream(const PretrainOptions& options, const Tokenizer& tokenizer,
                               std::int64_t endOfText, int totalSteps, int lastStep, int dataThreads)
    : options_(options), tokenizer_(tokenizer), endOfText_(endOfText), totalSteps_(totalSteps),
      lastStep_(lastStep), workerCount_(std::max(0, dataThreads))
{
    if (workerCount_ == 0) {
        sequential_ = std::make_unique<StepDataSource>(options, tokenizer, endOfText,
                                                       mixSeed(options.seed, 3), mixSeed(options.seed, 4),
                                                       mixSeed(options.seed, 5), mixSeed(options.seed, 8));
        return;
    }
    for (int t = 0; t < workerCount_; ++t)
        workers_.emplace_back([this] { work(); });
}

StepDataStream::~StepDataStream()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    for (std::thread& worker : workers_)
        worker.join();
}

void StepDataStream::work()
{
    const int ahead = kStepsAheadPerWorker * workerCount_;
    for (;;) {
        int step = 0;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            changed_.wait(
                lock, [&] { return stopping_ || nextToDraw_ < std::min(lastStep_, nextToTake_ + ahead); });
            if (stopping_)
                return;
            step = nextToDraw_++;
        }
        std::vector<PreparedContext> data;
        std::string failure;
        try {
            // Each step's own streams: the data depends on the seed and the step, never on which
            // worker drew it.
            const std::uint64_t stepSeed = mixSeed(mixSeed(options_.seed, 12), std::uint64_t(step));
            StepDataSource source(options_, tokenizer_, endOfText_, mixSeed(stepSeed, 3),
                                  mixSeed(stepSeed, 4), mixSeed(stepSeed, 5), mixSeed(stepSeed, 8));
            data = source.draw(curriculumShape(options_, step, totalSteps_));
        } catch (const std::exception& caught) {
            failure = caught.what();
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!failure.empty() && error_.empty())
                error_ = failure;
            ready_[step] = std::move(data);
        }
        changed_.notify_all();
    }
}

std::vector<PreparedContext> StepDataStream::take(int step)
{
    if (sequential_)
        return sequential_->draw(curriculumShape(options_, step, totalSteps_));
    std::unique_lock<std::mutex> lock(mutex_);
    if (step != nextToTake_)
        throw Error("pretrain-demo: step data taken out of order (internal error)");
    changed_.wait(lock, [&] { return !error_.empty() || ready_.count(step) > 0; });
    if (!error_.empty())
        throw Error("pretrain-demo: drawing the training data failed: " + error_);
    std::vector<PreparedContext> data = std::move(ready_[step]);
    ready_.erase(step);
    ++nextToTake_;
    lock.unlock();
    changed_.notify_all();
    return data;
}

} // namespace sp::demo
