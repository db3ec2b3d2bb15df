#pragma once
// Pretraining and evaluating the demo model on the demo corpus (softprompt/demo_corpus.h), and
// writing the example contexts the workbench offers on first start. Torch-free interface: the CLI
// (`softprompt pretrain-demo`, `eval-demo`, `make-demo-examples`) calls these.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sp::demo {

// The generator seeds of the training data and of the held-out evaluation are derived from
// different streams, so evaluation contexts are never training contexts.
inline constexpr std::uint64_t kDefaultEvalSeed = 20240611;

struct PretrainOptions {
    std::string outDir;
    std::uint64_t seed = 1;
    double minutes = 45.0;       // sets the number of optimiser steps (steps = minutes * stepsPerMinute)
    double stepsPerMinute = 0.0; // 0 = the rate measured on one idle core for the default model
    int steps = 0;               // > 0 overrides minutes
    // > 0: stop after this many steps of a run planned for `steps` (same schedule, so the result is
    // the checkpoint that run writes at that step).
    int stopAfterSteps = 0;
    std::string device = "cpu";
    // CPU threads. One by default: the run is then bit-reproducible on any machine, and on a shared
    // 2-core CPU two OpenMP threads were 6x slower than one (they spin-wait for a taken core).
    int threads = 1;

    int tokenizerSampleContexts = 600; // generated contexts the BPE merges are learned from

    // Fine-tuning: start from this model folder's weights (made by pretrain-demo with the same seed
    // and model options) instead of random ones. Empty: a fresh model.
    std::string initFrom;
    // The attributes the training queries ask about (see DemoCorpusOptions::queryAttributes); a
    // fine-tuning run can weight the facts a model has not learned yet. Empty: all, uniformly.
    std::vector<std::string> queryAttributes;
    // Distractor sentences per training context and the facts they imitate
    // (DemoCorpusOptions::distractorsPerContext, distractorAttributes). 0: none.
    int distractorsPerContext = 0;
    std::vector<std::string> distractorAttributes;
    // Fine-tuning only: before training, move the embeddings of these facts' values away from their
    // class mean by spreadFactor (a fact the model answers with the class prior; see
    // spreadValueEmbeddings in demo_pretrain.cpp). Empty: the weights as loaded.
    std::vector<std::string> spreadAttributes;
    double spreadFactor = 3.0;

    // Model (Llama architecture)
    int vocabSize = 1536;
    int hiddenSize = 128;
    int layers = 4;
    int heads = 4;
    int intermediateSize = 384;
    int maxPositions = 2048;

    // Structured starting embeddings for the corpus's word classes (the values of each fact, the
    // greetings, the closings); see structureWordEmbeddings in demo_pretrain.cpp. Off: a bug kept it
    // from ever being applied, so every shipped model trained without it, and once it worked it
    // slowed learning (docs/demo-model.md: 0% exact match at step 1,000, where plain embeddings had
    // 10% by step 500).
    bool structuredEmbeddings = false;
    double wordClassScale = 0.05; // std of each class's shared vector (the rest of a row has 0.02)

    // Optimisation
    double learningRate = 3e-3;
    double minLearningRateFraction = 0.1; // cosine decays to this fraction of the peak
    int warmupSteps = 100;
    double weightDecay = 0.0;
    double gradClip = 1.0;
    // Many contexts with few queries each: every context is one independent example of where its
    // facts are, and 16 of them per step learned to find them far faster than 1 with 32 queries.
    int contextsPerStep = 16;
    int contextTokensPerStep = 4096; // fewer contexts per step once they hold this many tokens (0 = off)
    int queriesPerContext = 4;
    double contextLossWeight = 0.3; // LM loss on the context, next to the answer loss
    int contextLossPositions = 128; // context positions scored for it per context (0 = all)
    // All of a step's contexts in one padded batch (two forward passes per step instead of two per
    // context): what a GPU needs. -1 = on for CUDA, off for the CPU, where one context at a time is
    // as fast and is what trained the shipped model bit for bit.
    int batchContexts = -1;
    // Worker threads that draw the training data ahead of the step (demo_step_data.h). 0: one
    // stream for the whole run, drawn on the training thread (how the shipped model was trained);
    // > 0: a stream of its own per step, so the data differs from 0 but not between thread counts.
    // -1 = 0 on the CPU, where the threads would take cores from the step; up to 8 on CUDA.
    int dataThreads = -1;

    // Curriculum: contexts grow from short (only the rules and one fact) to the full range over the
    // first part of training, while the number of facts stated grows from 1 to all of them.
    double curriculumFraction = 0.7;
    int curriculumStartMaxTokens = 40;
    int minContextTokens = 300; // after the curriculum
    int maxContextTokens = 1500;

    // A quick exact-match check on fresh contexts every evalEvery steps (0 = never), reported in
    // the progress line; the model is saved to outDir after each. It costs about evalExamples / 4
    // training steps.
    int evalEvery = 250;
    int evalExamples = 40;
};

struct PretrainProgress {
    int step = 0;
    int totalSteps = 0;
    double answerLoss = 0.0;  // running mean of the answer cross-entropy (nats/token)
    double contextLoss = 0.0; // running mean of the context LM loss
    double learningRate = 0.0;
    int maxContextTokens = 0; // the curriculum's current ceiling
    double elapsedSeconds = 0.0;
    double etaSeconds = 0.0;
    double lastExactMatch = -1.0; // the latest periodic check (with the context), -1 before the first
    std::string lastSample;       // one expected | produced pair from that check
};

// "step 120/3000  answer loss 1.234  ...  elapsed 4:10  ETA 31:20", the CLI's progress line.
std::string formatPretrainProgress(const PretrainProgress& progress);

struct PretrainResult {
    int steps = 0;
    double seconds = 0.0;
    double finalAnswerLoss = 0.0;
    std::int64_t parameterCount = 0;
    std::string outDir;
};

// Trains a tokenizer and a model from scratch and writes config.json, model.safetensors and
// tokenizer.json to options.outDir. Throws sp::Error on bad options or NaN losses.
PretrainResult pretrainDemoModel(const PretrainOptions& options,
                                 const std::function<void(const PretrainProgress&)>& onProgress = {});

struct DemoEvalOptions {
    std::string model = "demo"; // "demo" or a model folder
    int examples = 500;
    std::uint64_t seed = kDefaultEvalSeed;
    std::string device = "cpu";
    int keepExamples = 5; // examples echoed in the result
    // Context lengths in tokens; the defaults are the task's (the 300 to 1,500).
    int minContextTokens = 300;
    int maxContextTokens = 1500;
    int distractorsPerContext = 0; // DemoCorpusOptions::distractorsPerContext: 0 is the task
};

struct DemoEvalExample {
    std::string attribute; // the fact the query asks for
    std::string query;
    std::string expected;
    std::string withContext;
    std::string withoutContext;
    std::string factSentence;  // the sentence of the context that states the asked fact
    double factPosition = 0.0; // where it starts, as a fraction of the context's characters
};

struct DemoEvalResult {
    int examples = 0;
    double withContext = 0.0;    // exact-match accuracy with the context
    double withoutContext = 0.0; // ... without it
    // Exact match with the context per attribute asked for: (attribute, examples, accuracy).
    struct AttributeScore {
        std::string attribute;
        int examples = 0;
        double withContext = 0.0;
    };
    std::vector<AttributeScore> byAttribute;
    double meanContextTokens = 0.0;
    double seconds = 0.0;
    std::uint64_t seed = 0;
    std::string model;
    std::vector<DemoEvalExample> samples;
    // Teacher-forced next-token accuracy with the context, per part of the reply: "greeting",
    // "value", "closing", "punctuation" and "end" (the end-of-text token).
    std::vector<std::pair<std::string, double>> tokenAccuracyByPart;
};

// Exact match of the greedy reply (up to the end-of-text token) on freshly generated held-out
// contexts, one query each, with the context and with the query alone.
DemoEvalResult evaluateDemoModel(const DemoEvalOptions& options,
                                 const std::function<void(int done, int total)>& onProgress = {});

} // namespace sp::demo
