#pragma once
// A small engine evaluation with known numbers, shared by the tests of the compare table and of the
// run records.
#include "softprompt/engine.h"

#include <string>

namespace sptest {

inline sp::ConditionOutcome outcome(sp::Condition condition, const std::string& prediction, double s,
                                    bool top1, bool exact)
{
    sp::ConditionOutcome result;
    result.condition = condition;
    result.prediction = prediction;
    result.predictionIds = {int(prediction.size()), 7};
    result.s = s;
    result.kl = s * 2;
    result.top1Agrees = top1;
    result.exactMatch = exact;
    result.teacherNll = 0.25 + s;
    result.topK = {{5, " A", 0.75}, {9, " B", 0.125}};
    result.perTokenDivergence = {s, s / 2};
    return result;
}

// Three queries (the last two held out) with full-context, σ, no-context and last-k outcomes; σ's s
// is 0.1, 0.9 and 0.4 (query 1 disagrees with the teacher), no context's 2, 3 and 4.
inline sp::Evaluation threeQueries()
{
    sp::Evaluation evaluation;
    const double sigmaS[] = {0.1, 0.9, 0.4};
    for (int i = 0; i < 3; ++i) {
        sp::QueryEvaluation query;
        query.query = "query " + std::to_string(i);
        query.target = i == 1 ? "target" : "";
        query.heldOut = i != 0;
        query.outcomes.push_back(outcome(sp::Condition::FullContext, " teacher", 0.0, true, true));
        query.outcomes.push_back(
            outcome(sp::Condition::SoftPrompt, i == 1 ? " wrong" : " teacher", sigmaS[i], i != 1, i == 0));
        query.outcomes.push_back(outcome(sp::Condition::NoContext, " none", 2.0 + i, false, false));
        query.outcomes.push_back(outcome(sp::Condition::LastK, " last", 1.0, true, false));
        evaluation.queries.push_back(query);
    }
    return evaluation;
}

} // namespace sptest
