#pragma once
// The example contexts the workbench offers on first start (resources/examples): long system
// prompts from the demo corpus with a few rules buried in them, each with a training and a
// held-out query set. Written by `softprompt make-demo-examples`; the files are committed.
//
// Layout: <out>/examples.json lists the examples; <out>/<id>/context.txt, train.jsonl and
// heldout.jsonl ({"query": "...", "target": "..."} per line) hold each one.
#include <cstdint>
#include <string>
#include <vector>

namespace sp::demo {

inline constexpr std::uint64_t kDefaultExamplesSeed = 7;

struct WrittenExample {
    std::string id;
    int contextTokens = 0; // under the demo tokenizer (resources/demo-model), or pre-tokens without it
    int trainQueries = 0;
    int heldoutQueries = 0;
};

// Writes every example (and examples.json) into `outDir`. Context lengths are measured with the
// tokenizer of the demo model when it is present.
std::vector<WrittenExample> writeDemoExamples(const std::string& outDir, std::uint64_t seed);

} // namespace sp::demo
