// How a Slurm sweep is doing: scontrol (and sacct where accounting is on), then the sweep's own
// record (shards and logs) for what Slurm has forgotten. Also runs programs with a timeout.
#include "softprompt/error.h"
#include "softprompt/slurm.h"
#include "softprompt/text.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <deque>
#include <optional>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace sp::slurm {

// ---- running programs --------------------------------------------------------------------------------

CommandResult runCommand(const std::vector<std::string>& arguments, int timeoutSeconds)
{
    CommandResult result;
    if (arguments.empty())
        return result;
    std::vector<char*> argv;
    for (const std::string& argument : arguments)
        argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    int pipeFds[2];
    if (pipe2(pipeFds, O_CLOEXEC) != 0) {
        result.output = "cannot create a pipe";
        return result;
    }
    const pid_t child = fork();
    if (child < 0) {
        close(pipeFds[0]);
        close(pipeFds[1]);
        result.output = "cannot start " + arguments[0];
        return result;
    }
    if (child == 0) {
        // Only async-signal-safe calls between fork and exec.
        dup2(pipeFds[1], STDOUT_FILENO);
        dup2(pipeFds[1], STDERR_FILENO);
        const int devNull = open("/dev/null", O_RDONLY);
        if (devNull >= 0)
            dup2(devNull, STDIN_FILENO);
        execvp(argv[0], argv.data());
        const char message[] = "cannot run the program (not on PATH?)\n";
        (void)!write(STDERR_FILENO, message, sizeof message - 1);
        _exit(127);
    }
    close(pipeFds[1]);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
    char buffer[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                                 std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timedOut = true;
            kill(child, SIGKILL); // our own child, by its pid
            break;
        }
        pollfd readable{pipeFds[0], POLLIN, 0};
        const int ready = poll(&readable, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
        if (ready < 0 && errno != EINTR)
            break;
        if (ready <= 0)
            continue;
        const ssize_t count = read(pipeFds[0], buffer, sizeof buffer);
        if (count <= 0)
            break; // end of output
        result.output.append(buffer, static_cast<std::size_t>(count));
    }
    close(pipeFds[0]);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (!result.timedOut && WIFEXITED(status))
        result.exitCode = WEXITSTATUS(status);
    return result;
}

std::string fileTail(const std::string& path, int lines)
{
    std::ifstream file(path);
    if (!file)
        return "";
    std::deque<std::string> last;
    std::string line;
    while (std::getline(file, line)) {
        last.push_back(line);
        if (static_cast<int>(last.size()) > lines)
            last.pop_front();
    }
    std::string text;
    for (const std::string& kept : last)
        text += kept + "\n";
    return text;
}

// ---- parsing --------------------------------------------------------------------------------------------

std::vector<int> expandArrayTaskIds(const std::string& text)
{
    std::string list = text.substr(0, text.find('%')); // "%2": the throttle
    list.erase(std::remove(list.begin(), list.end(), '['), list.end());
    list.erase(std::remove(list.begin(), list.end(), ']'), list.end());
    std::vector<int> ids;
    for (const std::string& part : splitString(list, ',')) {
        const std::string range = trimWhitespace(part);
        if (range.empty())
            continue;
        try {
            const auto dash = range.find('-');
            if (dash == std::string::npos) {
                ids.push_back(std::stoi(range));
            } else {
                const int first = std::stoi(range.substr(0, dash)), last = std::stoi(range.substr(dash + 1));
                for (int id = first; id <= last && ids.size() < 100000; ++id)
                    ids.push_back(id);
            }
        } catch (const std::exception&) {
            return {}; // not a task list
        }
    }
    return ids;
}

namespace {

std::map<std::string, std::string> fieldsOf(const std::string& line)
{
    std::map<std::string, std::string> fields;
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
        const auto equals = word.find('=');
        if (equals != std::string::npos && equals > 0)
            fields[word.substr(0, equals)] = word.substr(equals + 1);
    }
    return fields;
}

TaskState stateFromFields(const std::map<std::string, std::string>& fields)
{
    TaskState task;
    task.source = "scontrol";
    const auto get = [&](const char* key) {
        const auto found = fields.find(key);
        return found == fields.end() ? std::string() : found->second;
    };
    task.state = get("JobState");
    task.reason = get("Reason");
    if (task.reason == "None")
        task.reason.clear();
    task.exitCode = get("ExitCode");
    task.node = get("NodeList");
    if (task.node == "(null)")
        task.node.clear();
    return task;
}

} // namespace

std::map<int, TaskState> parseScontrolTasks(const std::string& output)
{
    std::map<int, TaskState> tasks;
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        const std::map<std::string, std::string> fields = fieldsOf(line);
        const auto taskIds = fields.find("ArrayTaskId");
        const auto state = fields.find("JobState");
        if (taskIds == fields.end() || state == fields.end())
            continue;
        for (int index : expandArrayTaskIds(taskIds->second)) {
            TaskState task = stateFromFields(fields);
            task.index = index;
            tasks[index] = task;
        }
    }
    return tasks;
}

TaskState parseScontrolJob(const std::string& output)
{
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        const std::map<std::string, std::string> fields = fieldsOf(line);
        if (fields.count("JobState"))
            return stateFromFields(fields);
    }
    return {};
}

std::map<int, TaskState> parseSacctTasks(const std::string& output, const std::string& arrayJobId)
{
    std::map<int, TaskState> tasks;
    std::istringstream lines(output);
    std::string line;
    const std::string prefix = arrayJobId + "_";
    while (std::getline(lines, line)) {
        const std::vector<std::string> columns = splitString(line, '|');
        if (columns.size() < 3 || columns[0].rfind(prefix, 0) != 0)
            continue;
        const std::string state = splitString(columns[1], ' ')[0]; // "CANCELLED by 0"
        for (int index : expandArrayTaskIds(columns[0].substr(prefix.size()))) {
            TaskState task;
            task.index = index;
            task.source = "sacct";
            task.state = state;
            task.exitCode = columns[2];
            if (columns.size() > 3 && columns[3] != "None assigned")
                task.node = columns[3];
            tasks[index] = task;
        }
    }
    return tasks;
}

// ---- status ------------------------------------------------------------------------------------------

bool TaskState::finished() const
{
    static const std::vector<std::string> waiting = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING",
                                                     "REQUEUED", "RESIZING", "SUSPENDED", "UNKNOWN"};
    return std::find(waiting.begin(), waiting.end(), state) == waiting.end();
}

bool TaskState::succeeded() const
{
    return state == "COMPLETED";
}

int SweepStatus::count(const std::string& state) const
{
    return static_cast<int>(std::count_if(tasks.begin(), tasks.end(),
                                          [&](const TaskState& task) { return task.state == state; }));
}

bool SweepStatus::allFinished() const
{
    return std::all_of(tasks.begin(), tasks.end(), [](const TaskState& task) { return task.finished(); });
}

namespace {

nlohmann::json taskJson(const TaskState& task)
{
    nlohmann::json json = {{"state", task.state},   {"source", task.source}, {"reason", task.reason},
                           {"exit_code", task.exitCode}, {"node", task.node}, {"run_status", task.runStatus},
                           {"last_step", task.lastStep}};
    if (task.index >= 0)
        json["index"] = task.index;
    if (!task.logTail.empty())
        json["log_tail"] = task.logTail;
    return json;
}

struct ShardRun {
    std::string status;
    int lastStep = 0;
};

// The newest run of a shard, read without writing a byte (immutable: the task has ended).
std::optional<ShardRun> readShard(const std::string& path)
{
    std::error_code error;
    if (!fs::is_regular_file(path, error) || fs::file_size(path, error) == 0)
        return std::nullopt;
    sqlite3* handle = nullptr;
    const std::string uri = "file:" + path + "?immutable=1";
    std::optional<ShardRun> run;
    if (sqlite3_open_v2(uri.c_str(), &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) == SQLITE_OK) {
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(handle, "SELECT status, last_step FROM runs ORDER BY id DESC LIMIT 1", -1,
                               &statement, nullptr) == SQLITE_OK &&
            sqlite3_step(statement) == SQLITE_ROW) {
            const auto* status = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
            run = ShardRun{status ? status : "", sqlite3_column_int(statement, 1)};
        }
        sqlite3_finalize(statement);
    }
    sqlite3_close_v2(handle);
    return run;
}

bool accountingDisabled(const CommandResult& result)
{
    return result.exitCode != 0 || result.output.find("accounting storage is disabled") != std::string::npos ||
           result.output.find("Slurm accounting storage is disabled") != std::string::npos;
}

} // namespace

nlohmann::json SweepStatus::toJson() const
{
    nlohmann::json list = nlohmann::json::array();
    nlohmann::json counts = nlohmann::json::object();
    for (const TaskState& task : tasks) {
        list.push_back(taskJson(task));
        counts[task.state] = counts.value(task.state, 0) + 1;
    }
    return {{"tasks", list},
            {"counts", counts},
            {"merge", taskJson(merge)},
            {"all_finished", allFinished()},
            {"controller_reachable", controllerReachable},
            {"accounting", accountingAvailable},
            {"note", note}};
}

SweepStatus querySweepStatus(const SlurmSweep& sweep, int logTailLines)
{
    SweepStatus status;
    for (const GridPoint& point : sweep.points) {
        TaskState task;
        task.index = point.index;
        status.tasks.push_back(task);
    }
    std::vector<std::string> notes;
    std::map<int, TaskState> known;
    if (!sweep.arrayJobId.empty()) {
        const CommandResult shown = runCommand({"scontrol", "-o", "show", "job", sweep.arrayJobId}, 5);
        if (shown.timedOut || shown.output.find("Unable to contact") != std::string::npos ||
            shown.output.find("cannot run the program") != std::string::npos) {
            status.controllerReachable = false;
            notes.push_back("scontrol did not answer (is slurmctld running?)");
        } else if (shown.exitCode == 0) {
            known = parseScontrolTasks(shown.output);
        }
        if (status.controllerReachable) {
            const CommandResult accounted = runCommand(
                {"sacct", "-n", "-P", "-X", "-o", "JobID,State,ExitCode,NodeList", "-j", sweep.arrayJobId}, 5);
            status.accountingAvailable = !accountingDisabled(accounted);
            if (status.accountingAvailable)
                for (auto& [index, task] : parseSacctTasks(accounted.output, sweep.arrayJobId))
                    known.emplace(index, task); // scontrol's view first: it is the live one
            else
                notes.push_back("sacct: accounting is off on this cluster");
        }
    } else {
        notes.push_back("the sweep was never submitted (no job id in its record)");
    }
    int forgotten = 0;
    for (TaskState& task : status.tasks) {
        const int index = task.index;
        if (const auto found = known.find(index); found != known.end()) {
            task = found->second;
            task.index = index;
        }
        // The shard of a task that is not running (reading one that is written over NFS is unsafe).
        if (task.state != "RUNNING" && task.state != "COMPLETING") {
            if (const std::optional<ShardRun> run = readShard(sweep.shardPath(index))) {
                task.runStatus = run->status;
                task.lastStep = run->lastStep;
            }
        }
        if (task.source == "record") {
            // Slurm no longer knows this task (MinJobAge passed, or the controller is down): our record.
            ++forgotten;
            std::error_code error;
            if (task.runStatus == "finished")
                task.state = "COMPLETED";
            else if (task.runStatus == "failed" || task.runStatus == "cancelled")
                task.state = "FAILED";
            else if (task.runStatus == "running" || task.runStatus == "interrupted")
                task.state = "INTERRUPTED";
            else if (fs::exists(sweep.logPath(index), error))
                task.state = "FAILED"; // it ran (it has a log) but stored no run
            else
                task.state = sweep.cancelledAtMs > 0 ? "CANCELLED" : "UNKNOWN";
        }
        if (task.finished() && !task.succeeded())
            task.logTail = fileTail(sweep.logPath(index), logTailLines);
    }
    if (forgotten > 0 && status.controllerReachable && !sweep.arrayJobId.empty())
        notes.push_back(std::to_string(forgotten) +
                        " task(s) are no longer known to Slurm (finished longer ago than MinJobAge); "
                        "their state comes from their shard and log");

    status.merge.source = "record";
    if (!sweep.mergeJobId.empty() && status.controllerReachable) {
        const CommandResult shown = runCommand({"scontrol", "-o", "show", "job", sweep.mergeJobId}, 5);
        if (shown.exitCode == 0)
            status.merge = parseScontrolJob(shown.output);
    }
    if (status.merge.source == "record") {
        std::error_code error;
        const std::string tail = fileTail(sweep.mergeLogPath(), 50);
        if (tail.find("\"runs_added\"") != std::string::npos)
            status.merge.state = "COMPLETED";
        else if (fs::exists(sweep.mergeLogPath(), error))
            status.merge.state = "FAILED";
        else
            status.merge.state = sweep.mergeJobId.empty() ? "UNKNOWN" : "CANCELLED";
    }
    if (status.merge.finished() && !status.merge.succeeded())
        status.merge.logTail = fileTail(sweep.mergeLogPath(), logTailLines);
    status.note = joinStrings(notes, "; ");
    return status;
}

} // namespace sp::slurm
