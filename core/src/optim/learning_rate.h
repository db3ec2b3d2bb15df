#pragma once
// The learning-rate schedule both trainers use: a linear warm-up, then a half cosine down to a floor.

namespace sp::optim {

// The rate for update number `step` (1-based: the first update is step 1) of `totalSteps`:
// peak · step / warmupSteps while step <= warmupSteps, then a cosine from peak down to
// floorFraction · peak, reached at step == totalSteps.
double warmupCosineLearningRate(int step, int totalSteps, int warmupSteps, double peak, double floorFraction);

} // namespace sp::optim
