#include "engine/objectives.h"

#include "softprompt/error.h"

#include <cmath>
#include <limits>

namespace sp::engine {

namespace {

// Teacher log-probabilities can be −inf for tokens a model masks out; 0 · (−inf) would poison
// the sums, and a probability of e^-1e4 is zero in any float type anyway.
constexpr double kLogProbFloor = -1e4;

// log P over the buckets of `scaled` ([..., V], already divided by τ) for the kept `ids` ([..., K]).
at::Tensor bucketLogProbs(const at::Tensor& scaled, const at::Tensor& ids, bool truncated)
{
    const at::Tensor total = at::logsumexp(scaled, -1, true); // [..., 1]
    const at::Tensor kept = scaled.gather(-1, ids) - total;   // [..., K]
    if (!truncated)
        return kept;
    const at::Tensor rest = scaled.scatter(-1, ids, -std::numeric_limits<double>::infinity()); // [..., V]
    const at::Tensor tail = at::logsumexp(rest, -1, true) - total;                             // [..., 1]
    return at::cat({kept, tail}, -1);                                                          // [..., K + 1]
}

at::Tensor masked(const at::Tensor& perPosition, const at::Tensor& mask)
{
    return at::where(mask, perPosition, at::zeros_like(perPosition)); // [B, L]
}

} // namespace

TeacherBuckets teacherBuckets(const at::Tensor& logits, std::int64_t keep, double temperature)
{
    const std::int64_t vocab = logits.size(-1);
    const std::int64_t kept = std::min<std::int64_t>(std::max<std::int64_t>(keep, 1), vocab);
    const bool truncated = kept < vocab;
    TeacherBuckets buckets;
    buckets.ids = std::get<1>(logits.topk(kept, -1, true, true)); // [N, K]
    buckets.logits = logits.gather(-1, buckets.ids);              // [N, K]
    buckets.logProbs = bucketLogProbs(logits / temperature, buckets.ids, truncated).clamp_min(kLogProbFloor);
    buckets.logProbs1 = temperature == 1.0
                            ? buckets.logProbs
                            : bucketLogProbs(logits, buckets.ids, truncated).clamp_min(kLogProbFloor);
    return buckets;
}

at::Tensor studentBucketLogProbs(const at::Tensor& studentLogits, const at::Tensor& ids, bool truncated,
                                 double temperature)
{
    const at::Tensor scaled = temperature == 1.0 ? studentLogits : studentLogits / temperature; // [B, L, V]
    return bucketLogProbs(scaled, ids, truncated);                                              // [B, L, K']
}

namespace {

// Divergence of the bucketed distributions, per position: logP, logQ [B, L, K'] → [B, L].
at::Tensor bucketDivergence(Objective objective, const at::Tensor& logP, const at::Tensor& logQ)
{
    switch (objective) {
    case Objective::ForwardKL:
        return (logP.exp() * (logP - logQ)).sum(-1);
    case Objective::ReverseKL:
        return (logQ.exp() * (logQ - logP)).sum(-1);
    case Objective::JensenShannon: {
        const at::Tensor logM = at::logaddexp(logP, logQ) - std::log(2.0); // [B, L, K']
        return 0.5 * (logP.exp() * (logP - logM)).sum(-1) + 0.5 * (logQ.exp() * (logQ - logM)).sum(-1);
    }
    case Objective::Cosine: {
        const at::Tensor p = logP.exp();                                           // [B, L, K']
        const at::Tensor q = logQ.exp();                                           // [B, L, K']
        const at::Tensor norms = (p.norm(2, -1) * q.norm(2, -1)).clamp_min(1e-30); // [B, L]
        return (p * q).sum(-1) / norms;
    }
    default:
        throw Error("internal: " + objectiveInfo(objective).key + " is not a bucket divergence");
    }
}

} // namespace

at::Tensor objectivePerPosition(Objective objective, const at::Tensor& studentLogits,
                                const TeacherTargets& teacher, double temperature)
{
    at::Tensor perPosition; // [B, L]
    switch (objective) {
    case Objective::TeacherNLL:
        return teacherTokenNll(studentLogits, teacher);
    case Objective::LogitMSE: {
        const at::Tensor student = studentLogits.gather(-1, teacher.ids); // [B, L, K]
        perPosition = (student - teacher.logits).pow(2).mean(-1);
        break;
    }
    default: {
        const at::Tensor logQ = studentBucketLogProbs(studentLogits, teacher.ids, teacher.truncated,
                                                      temperature); // [B, L, K']
        perPosition = bucketDivergence(objective, teacher.logProbs, logQ);
        break;
    }
    }
    return masked(perPosition, teacher.mask);
}

at::Tensor forwardKlAt1(const at::Tensor& studentLogits, const TeacherTargets& teacher)
{
    const at::Tensor logQ =
        studentBucketLogProbs(studentLogits, teacher.ids, teacher.truncated, 1.0); // [B, L, K']
    return masked(bucketDivergence(Objective::ForwardKL, teacher.logProbsAt1, logQ), teacher.mask);
}

at::Tensor teacherTokenNll(const at::Tensor& studentLogits, const TeacherTargets& teacher)
{
    const at::Tensor total = at::logsumexp(studentLogits, -1);                                       // [B, L]
    const at::Tensor chosen = studentLogits.gather(-1, teacher.outputIds.unsqueeze(-1)).squeeze(-1); // [B, L]
    return masked(total - chosen, teacher.mask);
}

at::Tensor top1Agreement(const at::Tensor& studentLogits, const TeacherTargets& teacher)
{
    const at::Tensor agrees =
        studentLogits.argmax(-1).eq(teacher.outputIds).to(studentLogits.scalar_type()); // [B, L]
    return masked(agrees, teacher.mask);
}

at::Tensor meanOverPositions(const at::Tensor& perPosition, const at::Tensor& mask)
{
    const at::Tensor counts = mask.sum(-1).to(perPosition.scalar_type()).clamp_min(1.0); // [B]
    return perPosition.sum(-1) / counts;
}

at::Tensor lossFromPerQuery(Objective objective, const at::Tensor& perQuery)
{
    const at::Tensor mean = perQuery.mean(); // []
    return objectiveInfo(objective).higherIsBetter ? -mean : mean;
}

} // namespace sp::engine
