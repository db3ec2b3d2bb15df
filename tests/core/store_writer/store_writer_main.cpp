// A training-like process that writes one run through the RunStore API, for test_store_crash:
// it is killed with SIGKILL mid-run, or runs beside other writers.
//
//   store_test_writer DB --steps N [--step-ms M] [--checkpoint-every C] [--metrics P] [--flush-ms F]
//
// Every line on stdout is flushed at once: "run ID", "added STEP MS" (printed just before the
// step's metrics are handed to the writer; MS is the wall clock in ms), "committed STEP" (when the
// committed step advanced), "checkpoint STEP" (after it is committed), "finished".
#include "store_support/store_test_util.h"

#include "softprompt/error.h"
#include "softprompt/run_store.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

long long nowMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: store_test_writer DB --steps N [options]\n");
        return 2;
    }
    const std::string path = argv[1];
    int steps = 100, stepMs = 0, checkpointEvery = 0, metrics = 2;
    sp::StoreOptions options;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const int value = std::atoi(argv[i + 1]);
        if (flag == "--steps")
            steps = value;
        else if (flag == "--step-ms")
            stepMs = value;
        else if (flag == "--checkpoint-every")
            checkpointEvery = value;
        else if (flag == "--metrics")
            metrics = value;
        else if (flag == "--flush-ms")
            options.flushIntervalMs = value;
        else {
            std::fprintf(stderr, "unknown option %s\n", flag.c_str());
            return 2;
        }
    }
    try {
        sp::RunStore store = sp::RunStore::open(path, options);
        auto writer = store.startRun(storetest::exampleRun("child " + std::to_string(steps)));
        std::printf("run %lld\n", static_cast<long long>(writer->runId()));
        std::fflush(stdout);
        int reportedCommitted = 0;
        for (int step = 1; step <= steps; ++step) {
            std::vector<std::pair<std::string, double>> values;
            for (int m = 0; m < metrics; ++m)
                values.emplace_back(storetest::metricName(m), storetest::metricValue(step, m));
            // Announced before the hand-over (and flushed), so the parent never sees a committed step
            // it was not told about, even when the kill lands between the two.
            std::printf("added %d %lld\n", step, nowMs());
            std::fflush(stdout);
            writer->addMetrics(step, values);
            if (checkpointEvery > 0 && step % checkpointEvery == 0) {
                writer->checkpoint(step, storetest::sigmaForStep(step));
                std::printf("checkpoint %d\n", step);
            }
            const int committed = writer->lastCommittedStep();
            if (committed != reportedCommitted) {
                std::printf("committed %d\n", committed);
                reportedCommitted = committed;
            }
            std::fflush(stdout);
            if (stepMs > 0)
                std::this_thread::sleep_for(std::chrono::milliseconds(stepMs));
        }
        writer->finish(sp::RunStatus::Finished);
        std::printf("finished\n");
        std::fflush(stdout);
    } catch (const sp::Error& error) {
        std::fprintf(stderr, "store_test_writer: %s\n", error.what());
        return 1;
    }
    return 0;
}
