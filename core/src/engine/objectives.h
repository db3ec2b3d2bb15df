#pragma once
// The objectives s(ŷ, ŷ_σ) as pure tensor functions of the student's logits and the teacher's
// (possibly truncated) distributions.
//
// Truncated teacher: for large vocabularies the teacher keeps only its top-K tokens per position.
// Every distribution-based objective (KL, reverse KL, JS, cosine) is then computed on K + 1
// buckets: the K kept tokens and one tail bucket holding all other tokens' mass, for teacher and
// student alike. This is the exact divergence between the coarse-grained distributions; by the
// log-sum inequality it is a lower bound on the full-vocabulary KL (and equals it when K = V).
// MSE compares raw logits at the kept ids only; NLL needs only ŷ.
#include "softprompt/engine.h"
#include "torch_common.h"

namespace sp::engine {

// The teacher at the target positions of a batch, at one temperature.
struct TeacherTargets {
    at::Tensor ids;      // [B, L, K] int64 kept token ids, by descending teacher probability
    at::Tensor logits;   // [B, L, K] raw teacher logits at those ids (for MSE)
    at::Tensor logProbs; // [B, L, K'] log P over the buckets at temperature τ (K' = K, or K + 1 with a tail)
    at::Tensor logProbsAt1; // [B, L, K'] the same at temperature 1 (evaluation's KL)
    at::Tensor outputIds;   // [B, L] int64 the teacher's greedy tokens ŷ
    at::Tensor mask;        // [B, L] bool: true where the position is a real target
    bool truncated = false; // K < V: the last bucket is the tail
};

// Teacher buckets from full teacher logits (for one batch of positions).
//   logits [N, V] float → ids [N, K], keptLogits [N, K], logProbs [N, K'] at τ.
struct TeacherBuckets {
    at::Tensor ids;       // [N, K] int64
    at::Tensor logits;    // [N, K]
    at::Tensor logProbs;  // [N, K'] at τ
    at::Tensor logProbs1; // [N, K'] at τ = 1
};
TeacherBuckets teacherBuckets(const at::Tensor& logits, std::int64_t keep, double temperature);

// The student's log-probabilities over the teacher's buckets at temperature τ.
//   studentLogits [B, L, V], ids [B, L, K] → [B, L, K'] (K' = K + 1 when truncated)
at::Tensor studentBucketLogProbs(const at::Tensor& studentLogits, const at::Tensor& ids, bool truncated,
                                 double temperature);

// s per target position, in the objective's own direction (cosine: the similarity itself).
//   studentLogits [B, L, V] → [B, L], 0 where mask is false.
at::Tensor objectivePerPosition(Objective objective, const at::Tensor& studentLogits,
                                const TeacherTargets& teacher, double temperature);

// Forward KL(P_c ‖ P_σ) on the buckets at temperature 1, per position: [B, L].
at::Tensor forwardKlAt1(const at::Tensor& studentLogits, const TeacherTargets& teacher);

// −log P_σ(ŷ_t) at temperature 1, per position: [B, L] (0 where masked).
at::Tensor teacherTokenNll(const at::Tensor& studentLogits, const TeacherTargets& teacher);

// 1 where the student's argmax equals ŷ_t, per position: [B, L] float (0 where masked).
at::Tensor top1Agreement(const at::Tensor& studentLogits, const TeacherTargets& teacher);

// Mean over each row's real positions: [B, L] → [B].
at::Tensor meanOverPositions(const at::Tensor& perPosition, const at::Tensor& mask);

// The scalar the optimiser minimises: the batch mean of s, negated for similarities.
at::Tensor lossFromPerQuery(Objective objective, const at::Tensor& perQuery);

} // namespace sp::engine
