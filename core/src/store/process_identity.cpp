#include "store/process_identity.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <fstream>
#include <sstream>
#include <vector>

namespace sp::store {
namespace {

std::string firstLine(const std::string& path)
{
    std::ifstream file(path);
    std::string line;
    std::getline(file, line);
    return line;
}

std::string hostName()
{
    char buffer[HOST_NAME_MAX + 1] = {};
    if (gethostname(buffer, sizeof buffer) != 0)
        return {};
    buffer[HOST_NAME_MAX] = '\0';
    return buffer;
}

std::string pidNamespace()
{
    char buffer[128] = {};
    const ssize_t length = readlink("/proc/self/ns/pid", buffer, sizeof buffer - 1);
    return length > 0 ? std::string(buffer, static_cast<std::size_t>(length)) : std::string();
}

struct ProcessStat {
    char state = '?';
    std::int64_t startTicks = 0;
};

// /proc/<pid>/stat: "pid (comm) state ppid ... starttime(22) ...". comm may hold spaces and
// parentheses, so fields are counted from the last ')'.
std::optional<ProcessStat> readProcessStat(std::int64_t pid)
{
    std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
    if (!file)
        return std::nullopt;
    std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const std::size_t close = content.rfind(')');
    if (close == std::string::npos)
        return std::nullopt;
    std::istringstream fields(content.substr(close + 1));
    std::vector<std::string> values;
    std::string value;
    while (fields >> value)
        values.push_back(value);
    // values[0] is field 3 (state), so field 22 (starttime) is values[19].
    if (values.size() < 20)
        return std::nullopt;
    ProcessStat stat;
    stat.state = values[0].empty() ? '?' : values[0][0];
    stat.startTicks = std::stoll(values[19]);
    return stat;
}

} // namespace

ProcessIdentity currentProcess()
{
    ProcessIdentity identity;
    identity.pid = static_cast<std::int64_t>(getpid());
    identity.host = hostName();
    identity.bootId = firstLine("/proc/sys/kernel/random/boot_id");
    identity.pidNamespace = pidNamespace();
    if (const auto stat = readProcessStat(identity.pid))
        identity.startTicks = stat->startTicks;
    return identity;
}

std::int64_t staleHeartbeatMs(int heartbeatIntervalMs)
{
    return std::max<std::int64_t>(60000, 6 * static_cast<std::int64_t>(heartbeatIntervalMs));
}

bool isWriterAlive(const RecordedWriter& writer, int heartbeatIntervalMs, std::int64_t nowMs)
{
    static const ProcessIdentity self = currentProcess();
    const ProcessIdentity& owner = writer.identity;
    const bool sameHost = !owner.host.empty() && owner.host == self.host;
    if (sameHost && !owner.bootId.empty() && !self.bootId.empty() && owner.bootId != self.bootId)
        return false; // the machine restarted since the run was written
    const bool pidIsMeaningful = sameHost && !owner.bootId.empty() && owner.bootId == self.bootId &&
                                 !owner.pidNamespace.empty() && owner.pidNamespace == self.pidNamespace;
    if (pidIsMeaningful && owner.pid > 0) {
        if (const auto stat = readProcessStat(owner.pid)) {
            if (stat->state == 'Z' || stat->state == 'X')
                return false; // killed, waiting to be reaped
            return owner.startTicks == 0 || stat->startTicks == owner.startTicks;
        }
        // No /proc entry: either no such process, or /proc is not mounted. kill(pid, 0) tells.
        if (kill(static_cast<pid_t>(owner.pid), 0) == 0 || errno == EPERM)
            return true; // it exists; its start time cannot be compared, so never call it gone
        return false;
    }
    return nowMs - writer.heartbeatAtMs < staleHeartbeatMs(heartbeatIntervalMs);
}

} // namespace sp::store
