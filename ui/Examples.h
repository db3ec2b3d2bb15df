#pragma once
// The example contexts shipped in resources/examples/<name>/ (context.txt, train.jsonl,
// heldout.jsonl), offered in the File menu and opened on first start.
#include "softprompt/engine.h"

#include <QString>

#include <vector>

namespace spui {

struct ExampleInfo {
    QString name;   // the folder name
    QString title;  // from the index when it has one, else the name
    QString folder; // absolute
    // The training settings the index suggests for this example ("training": {"target": ...,
    // "length": ..., "steps": ...}); empty or 0 where it suggests none.
    QString suggestedTarget;
    int suggestedLength = 0;
    int suggestedSteps = 0;
};

// Every example folder that holds a context.txt, in the index's order when there is one, else by
// name. Empty (not an error) when the data folder cannot be found.
std::vector<ExampleInfo> listExamples();

struct ExampleContent {
    QString context;
    std::vector<sp::Query> queries; // train.jsonl then heldout.jsonl (marked held-out)
};
// Throws sp::Error naming the file.
ExampleContent loadExample(const ExampleInfo& example);

} // namespace spui
