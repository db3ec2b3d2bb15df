// The demo model's commands:
//   softprompt pretrain-demo --out DIR [--minutes N | --steps N] [--device cpu|cuda] [--seed S]
//   softprompt eval-demo [--model demo] [--n 500] [--seed S] [--samples N] [--json]
//   softprompt make-demo-examples --out DIR [--seed S]   (regenerates resources/examples)
//   softprompt demo-corpus [--n 3] [--seed S]            (prints generated examples as JSONL)
#include "cli_common.h"
#include "registry.h"

#include "softprompt/demo_corpus.h"
#include "softprompt/demo_examples.h"
#include "softprompt/demo_training.h"
#include "softprompt/error.h"

#include <iostream>
#include <map>
#include <memory>

namespace {

struct PretrainCommand {
    sp::demo::PretrainOptions options;
};

nlohmann::json evalToJson(const sp::demo::DemoEvalResult& result)
{
    nlohmann::json samples = nlohmann::json::array();
    for (const sp::demo::DemoEvalExample& sample : result.samples)
        samples.push_back({{"attribute", sample.attribute},
                           {"query", sample.query},
                           {"expected", sample.expected},
                           {"with_context", sample.withContext},
                           {"without_context", sample.withoutContext},
                           {"fact_sentence", sample.factSentence},
                           {"fact_position", sample.factPosition}});
    nlohmann::json byAttribute = nlohmann::json::object();
    for (const auto& score : result.byAttribute)
        byAttribute[score.attribute] = {{"examples", score.examples},
                                        {"exact_match_with_context", score.withContext}};
    return {{"model", result.model},
            {"examples", result.examples},
            {"seed", result.seed},
            {"exact_match_with_context", result.withContext},
            {"exact_match_without_context", result.withoutContext},
            {"by_attribute", byAttribute},
            {"mean_context_tokens", result.meanContextTokens},
            {"token_accuracy_by_part",
             nlohmann::json(std::map<std::string, double>(result.tokenAccuracyByPart.begin(),
                                                          result.tokenAccuracyByPart.end()))},
            {"seconds", result.seconds},
            {"samples", samples}};
}

void registerPretrain(CLI::App& app)
{
    auto command = std::make_shared<PretrainCommand>();
    sp::demo::PretrainOptions& options = command->options;
    CLI::App* sub = app.add_subcommand(
        "pretrain-demo",
        "Train the demo model from scratch (tokenizer + small Llama) on the synthetic "
        "instruction-following corpus and save config.json, model.safetensors, tokenizer.json");
    sub->add_option("--out", options.outDir, "Output folder")->required();
    sub->add_option("--minutes", options.minutes,
                    "Training length in minutes on an idle 2-core CPU; sets a fixed number of steps, so the "
                    "result depends only on the seed")
        ->capture_default_str();
    sub->add_option("--steps", options.steps, "Number of optimiser steps (overrides --minutes)");
    sub->add_option("--stop-after", options.stopAfterSteps,
                    "Stop after this many of the planned steps (the checkpoint that run saves there)");
    sub->add_option("--device", options.device, "cpu or cuda")->capture_default_str();
    sub->add_option("--seed", options.seed, "Seed of the tokenizer, the weights and the data")
        ->capture_default_str();
    sub->add_option("--threads", options.threads, "OpenMP threads (0: OMP_NUM_THREADS, else 1 with OpenBLAS, whose GEMMs use every core on their own)");
    // Model and optimiser settings, for experiments; the defaults made the shipped model.
    sub->add_option("--vocab", options.vocabSize)->group("");
    sub->add_option("--hidden", options.hiddenSize)->group("");
    sub->add_option("--layers", options.layers)->group("");
    sub->add_option("--heads", options.heads)->group("");
    sub->add_option("--intermediate", options.intermediateSize)->group("");
    sub->add_option("--lr", options.learningRate)->group("");
    sub->add_option("--warmup", options.warmupSteps)->group("");
    sub->add_option("--queries-per-context", options.queriesPerContext)->group("");
    sub->add_option("--contexts-per-step", options.contextsPerStep)->group("");
    sub->add_option("--context-tokens-per-step", options.contextTokensPerStep)->group("");
    sub->add_option("--context-loss", options.contextLossWeight)->group("");
    sub->add_option("--context-loss-positions", options.contextLossPositions)->group("");
    sub->add_option("--batch-contexts", options.batchContexts,
                    "1: all of a step's contexts in one padded batch (fast on a GPU); 0: one at a time; "
                    "-1: 1 on CUDA, 0 on the CPU")
        ->capture_default_str();
    sub->add_option("--data-threads", options.dataThreads,
                    "Threads drawing the training data ahead (0: one stream on the training thread, as the "
                    "shipped model was trained; -1: 0 on the CPU, up to 8 on CUDA)")
        ->capture_default_str();
    sub->add_option("--init-from", options.initFrom,
                    "Fine-tune: start from this pretrain-demo model folder (same --seed and model options)");
    sub->add_option("--query-attributes", options.queryAttributes,
                    "Attributes the training queries ask about, e.g. code,mascot,manager (repeat one to "
                    "weight it; default: all)")
        ->delimiter(',');
    sub->add_option("--distractors", options.distractorsPerContext,
                    "Sentences per context that mention another word of a fact's class without stating the "
                    "fact, so that the kind of word is not enough to find the answer (default 0)")
        ->capture_default_str();
    sub->add_option("--distractor-attributes", options.distractorAttributes,
                    "The facts the distractors imitate, e.g. code,mascot,manager (default: all)")
        ->delimiter(',');
    sub->add_option("--spread-values", options.spreadAttributes,
                    "With --init-from: facts whose value embeddings are moved away from their class mean "
                    "first, for a fact the model answers with one default value, e.g. code")
        ->delimiter(',');
    sub->add_option("--spread-factor", options.spreadFactor,
                    "How far --spread-values moves them: the distance from the class mean times this")
        ->capture_default_str();
    sub->add_option("--curriculum", options.curriculumFraction)->group("");
    sub->add_option("--min-context", options.minContextTokens)->group("");
    sub->add_option("--max-context", options.maxContextTokens)->group("");
    sub->add_option("--start-max-context", options.curriculumStartMaxTokens)->group("");
    sub->add_option("--eval-every", options.evalEvery)->group("");
    sub->add_option("--eval-examples", options.evalExamples)->group("");
    sub->add_option("--weight-decay", options.weightDecay)->group("");
    sub->add_option("--structured-embeddings", options.structuredEmbeddings)->group("");
    sub->add_option("--word-class-scale", options.wordClassScale)->group("");
    sub->callback([command] {
        const sp::demo::PretrainResult result =
            sp::demo::pretrainDemoModel(command->options, [](const sp::demo::PretrainProgress& progress) {
                std::cerr << sp::demo::formatPretrainProgress(progress) << std::endl;
            });
        spcli::printJson({{"out", result.outDir},
                          {"steps", result.steps},
                          {"seconds", result.seconds},
                          {"final_answer_loss", result.finalAnswerLoss},
                          {"parameters", result.parameterCount},
                          {"seed", command->options.seed}});
    });
}

void registerEval(CLI::App& app)
{
    auto options = std::make_shared<sp::demo::DemoEvalOptions>();
    auto json = std::make_shared<bool>(false);
    CLI::App* sub = app.add_subcommand(
        "eval-demo",
        "Exact-match accuracy of a demo model on fresh held-out contexts, with and without the context");
    sub->add_option("--model", options->model, "\"demo\" or a model folder")->capture_default_str();
    sub->add_option("--n", options->examples, "Number of held-out examples (one per context)")
        ->capture_default_str();
    sub->add_option("--seed", options->seed, "Seed of the held-out contexts")->capture_default_str();
    sub->add_option("--device", options->device, "cpu or cuda")->capture_default_str();
    sub->add_option(
           "--samples", options->keepExamples,
           "Examples echoed in the JSON (expected and generated replies), to see what the model gets "
           "wrong")
        ->capture_default_str();
    sub->add_option("--min-context", options->minContextTokens,
                    "Shortest context in tokens (the task: 300); shorter contexts show whether a failure "
                    "depends on length")
        ->capture_default_str();
    sub->add_option("--max-context", options->maxContextTokens, "Longest context in tokens (the task: 1500)")
        ->capture_default_str();
    sub->add_option("--distractors", options->distractorsPerContext,
                    "Distractor sentences per context (the task: 0), to test whether the model finds a fact "
                    "by what the context says rather than by the kind of word")
        ->capture_default_str();
    sub->add_flag("--json", *json, "Print the result as JSON");
    sub->callback([options, json] {
        const sp::demo::DemoEvalResult result =
            sp::demo::evaluateDemoModel(*options, [](int done, int total) {
                if (done % 50 == 0 || done == total)
                    std::cerr << "eval-demo: " << done << "/" << total << std::endl;
            });
        if (*json) {
            spcli::printJson(evalToJson(result));
            return;
        }
        std::cout << "examples:              " << result.examples << " (mean context "
                  << int(result.meanContextTokens) << " tokens)\n"
                  << "exact match, context:  " << result.withContext * 100 << "%\n";
        for (const auto& score : result.byAttribute)
            std::cout << "  " << score.attribute << ": " << score.withContext * 100 << "% of "
                      << score.examples << "\n";
        std::cout << "exact match, no context: " << result.withoutContext * 100 << "%\n";
    });
}

void registerExamples(CLI::App& app)
{
    auto outDir = std::make_shared<std::string>();
    auto seed = std::make_shared<std::uint64_t>(sp::demo::kDefaultExamplesSeed);
    CLI::App* sub = app.add_subcommand(
        "make-demo-examples",
        "Write the example contexts and query sets (resources/examples) from the demo corpus");
    sub->add_option("--out", *outDir, "Output folder (resources/examples)")->required();
    sub->add_option("--seed", *seed, "Seed")->capture_default_str();
    sub->callback([outDir, seed] {
        const std::vector<sp::demo::WrittenExample> written = sp::demo::writeDemoExamples(*outDir, *seed);
        nlohmann::json list = nlohmann::json::array();
        for (const sp::demo::WrittenExample& example : written)
            list.push_back({{"id", example.id},
                            {"context_tokens", example.contextTokens},
                            {"train", example.trainQueries},
                            {"heldout", example.heldoutQueries}});
        spcli::printJson({{"out", *outDir}, {"examples", list}});
    });
}

void registerCorpus(CLI::App& app)
{
    auto count = std::make_shared<int>(3);
    auto seed = std::make_shared<std::uint64_t>(1);
    CLI::App* sub = app.add_subcommand("demo-corpus", "Print generated demo-corpus contexts as JSONL");
    sub->group(""); // a tool for inspecting the corpus, not part of the everyday interface
    sub->add_option("--n", *count, "Contexts")->capture_default_str();
    sub->add_option("--seed", *seed, "Seed")->capture_default_str();
    sub->callback([count, seed] {
        sp::demo::DemoCorpusGenerator generator(*seed);
        for (int i = 0; i < *count; ++i) {
            const sp::demo::DemoContext context = generator.nextContext();
            nlohmann::json queries = nlohmann::json::array();
            for (const sp::demo::DemoQuery& query : context.queries)
                queries.push_back(
                    {{"attribute", query.attribute}, {"query", query.query}, {"answer", query.answer}});
            spcli::printJson(
                {{"context", context.text}, {"rules", context.rules.summary()}, {"queries", queries}});
        }
    });
}

void registerDemoCommands(CLI::App& app)
{
    registerPretrain(app);
    registerEval(app);
    registerExamples(app);
    registerCorpus(app);
}

} // namespace

SP_REGISTER_CLI_COMMANDS(60, registerDemoCommands);
