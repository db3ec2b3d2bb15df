#include "registry.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace spcli {
namespace {

std::vector<std::pair<int, CommandRegistration>>& registrations()
{
    static std::vector<std::pair<int, CommandRegistration>> all;
    return all;
}

} // namespace

bool addCommandRegistration(int order, CommandRegistration registration)
{
    registrations().emplace_back(order, registration);
    return true;
}

void registerAllCommands(CLI::App& app)
{
    auto all = registrations();
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [order, registration] : all)
        registration(app);
}

CLI::App& benchGroup(CLI::App& app)
{
    for (CLI::App* existing : app.get_subcommands([](CLI::App* sub) { return sub->get_name() == "bench"; }))
        return *existing;
    CLI::App* bench = app.add_subcommand("bench", "Benchmarks that print JSON (ratios are measured in one run)");
    bench->require_subcommand(1);
    return *bench;
}

} // namespace spcli
