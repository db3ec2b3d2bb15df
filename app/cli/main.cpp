#include "cli_common.h"
#include "registry.h"

#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/version.h"

#include <iostream>

namespace {

std::string versionText()
{
    const sp::BuildInfo info = sp::buildInfo();
    std::string text = "softprompt " + info.projectVersion + "\nLibTorch " + info.torchVersion + "\nCUDA: ";
    text += info.cudaAvailable ? "available (" + std::to_string(info.cudaDeviceCount) + " device(s))"
                               : std::string("not available (CPU only)");
    text += "\nCPU threads: " + std::to_string(info.cpuThreads);
    try {
        text += "\nData: " + sp::dataDirectory();
    } catch (const sp::Error& error) {
        text += "\nData: not found (" + std::string(error.what()) + ")";
    }
    return text;
}

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"softprompt: train, evaluate and inspect soft prompts that compress a long context.\n"
                 "The headless twin of softprompt-workbench; both run the same core engine."};
    app.set_version_flag("--version", versionText);
    app.require_subcommand(0, 1);
    spcli::registerAllCommands(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        return app.exit(error);
    } catch (const sp::Cancelled&) {
        spcli::printError("cancelled");
        return 130;
    } catch (const sp::Error& error) {
        // Core's message says what is wrong and what to do; the flag that does it is ours.
        spcli::printError(spcli::errorText(error));
        return 1;
    } catch (const std::exception& error) {
        spcli::printError(std::string("internal error: ") + error.what() +
                          " (please report this with the command you ran)");
        return 2;
    }
    if (argc == 1)
        std::cout << app.help();
    return 0;
}
