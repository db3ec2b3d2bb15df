#include "softprompt/demo_tokenizer.h"

#include "demo/byte_level_bpe.h"
#include "demo/demo_vocabulary.h"
#include "softprompt/demo_corpus.h"

namespace sp::demo {

TrainedBpe trainDemoBpe(const DemoTokenizerOptions& options)
{
    DemoCorpusGenerator generator(options.seed);
    std::vector<std::string> texts;
    for (int i = 0; i < options.sampleContexts; ++i) {
        DemoContext context = generator.nextContext();
        texts.push_back(std::move(context.text));
        for (DemoQuery& query : context.queries) {
            texts.push_back(std::move(query.query));
            texts.push_back(std::move(query.answer));
        }
    }
    // Answer words, as they appear after a space in replies, often enough to outrank filler merges.
    std::string answerWords;
    for (const auto* list : vocabulary::replyWordClasses())
        for (std::string_view word : *list)
            answerWords += " " + std::string(word);
    for (int repeat = 0; repeat < 3000; ++repeat)
        texts.push_back(answerWords);

    BpeTrainingOptions bpeOptions;
    bpeOptions.vocabSize = options.vocabSize;
    bpeOptions.specialTokens = {kDemoEndOfText};
    return trainByteLevelBpe(texts, bpeOptions);
}

std::string trainDemoTokenizerJson(const DemoTokenizerOptions& options)
{
    return trainDemoBpe(options).toTokenizerJson();
}

} // namespace sp::demo
