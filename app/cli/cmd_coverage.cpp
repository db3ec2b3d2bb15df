// softprompt eval --run ID --coverage [--unit sentence|paragraph] [--influence-threshold 0.1]
//                 [--keep-fraction 0.5] [--db PATH] [--device cpu|cuda]
// For each sentence of the run's context: how much the teacher's predictions on the run's queries
// change when it is left out, and on the queries it matters for, whether the run's σ keeps that
// influence. One JSON object on stdout (softprompt/coverage.h documents the fields).
#include "cli_common.h"
#include "cli_coverage.h"

#include "softprompt/coverage.h"
#include "softprompt/error.h"
#include "softprompt/run_store.h"
#include "softprompt/train_config_json.h"

#include <cstdio>

namespace spcli {

void addCoverageOptions(CLI::App& eval, CoverageCliOptions& options)
{
    eval.add_flag("--coverage", options.enabled,
                  "Map which context sentences matter to which queries, and which σ keeps (JSON)");
    eval.add_option("--unit", options.unit, "Coverage unit: sentence or paragraph")->capture_default_str();
    eval.add_option("--influence-threshold", options.threshold,
                    "Nats of KL(P_c ‖ P_c-without-u) from which a unit matters to a query")
        ->capture_default_str();
    eval.add_option("--keep-fraction", options.keepFraction,
                    "σ keeps a unit for a query when KL(P_c ‖ P_σ) ≤ this × the unit's influence")
        ->capture_default_str();
}

void runCoverageEval(std::int64_t runId, const std::string& db, const std::string& device,
                     const CoverageCliOptions& options)
{
    const sp::RunStore store = openExistingStore(db);
    const sp::RunRecord record = store.run(runId);
    if (!record.contextId || !record.querySetId)
        throw sp::Error("run " + std::to_string(runId) + " has no stored context or query set (imported σ?); " +
                        "the coverage map needs both");
    sp::TrainConfig config = sp::trainConfigFromJson(record.config);
    if (!device.empty())
        config.device = device;
    const sp::SoftPrompt sigma = store.loadSigma(runId);
    config.k = sigma.k;
    sp::ModelLoadOptions load;
    load.device = config.device;
    load.dtype = config.dtype;
    const sp::ModelHandle model = sp::ModelHandle::load(record.model.path, load);
    if (!record.model.hash.empty() && model.summary().identity != record.model.hash)
        throw sp::Error("the model at " + record.model.path + " is not the one run " + std::to_string(runId) +
                        " was trained on; σ only fits the original model");
    std::vector<sp::Query> queries;
    for (const sp::StoredQuery& query : store.querySet(*record.querySetId).queries)
        queries.push_back({query.text, query.target, query.heldOut});
    sp::CoverageOptions coverage;
    coverage.unit = sp::coverageUnitFromKey(options.unit);
    coverage.influenceThreshold = options.threshold;
    coverage.keepFraction = options.keepFraction;
    coverage.format = sp::promptFormatFromKey(record.promptFormat); // the layout σ was trained in
    int lastPercent = -1;
    const sp::CoverageMap map = sp::computeCoverage(
        model, store.context(*record.contextId).text, queries, config, &sigma, coverage, [&](double fraction) {
            const int percent = int(fraction * 100.0);
            if (percent / 10 != lastPercent / 10)
                std::fprintf(stderr, "softprompt: coverage %d%%\n", percent);
            lastPercent = percent;
        });
    int matter = 0, kept = 0;
    for (const sp::CoverageUnit& unit : map.units) {
        matter += unit.mattersFor.empty() ? 0 : 1;
        kept += !unit.mattersFor.empty() && unit.keptFor.size() == unit.mattersFor.size() ? 1 : 0;
    }
    nlohmann::json output = map.toJson();
    output["run_id"] = runId;
    output["db"] = store.path();
    output["k"] = sigma.k;
    output["units_that_matter"] = matter;
    output["units_sigma_keeps_fully"] = kept;
    printJson(output);
}

} // namespace spcli
