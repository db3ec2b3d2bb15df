#pragma once
// Who is writing a run, and whether that writer is still alive.
//
// Why pid + boot id + process start time (and a heartbeat), not SQLite locks: SQLite's locks belong
// to connections and transactions, not to runs, and a writer holds no lock between flushes, so a
// lock cannot say "the process writing run 7 is alive". POSIX record locks on a side file could,
// but they are per process (closing any descriptor of the file drops them, which SQLite itself warns
// about), they litter the data folder with one lock file per run, and they are unreliable on
// network shares. Instead each running run records its writer's pid, the host name, the kernel's
// boot id, the pid namespace and the process start time (/proc/<pid>/stat field 22):
//   - same boot and pid namespace: the writer is alive exactly when a process with that pid exists,
//     is not a zombie, and started at that time (so a recycled pid is not mistaken for it). This is
//     exact and immediate: a run killed with SIGKILL is recognised on the very next open;
//   - same host but another boot: the machine restarted, so the writer is gone;
//   - anything else (another machine on a shared folder, or another pid namespace such as a
//     container or a Flatpak sandbox, where the pid means nothing here): the writer's heartbeat,
//     stamped every StoreOptions::heartbeatIntervalMs, decides; it counts as gone once the stamp is
//     older than staleHeartbeatMs().
#include <cstdint>
#include <optional>
#include <string>

namespace sp::store {

struct ProcessIdentity {
    std::int64_t pid = 0;
    std::string host;
    std::string bootId;
    std::string pidNamespace;
    std::int64_t startTicks = 0; // clock ticks after boot; 0 when unknown
};

ProcessIdentity currentProcess();

struct RecordedWriter {
    ProcessIdentity identity;
    std::int64_t heartbeatAtMs = 0;
};

std::int64_t staleHeartbeatMs(int heartbeatIntervalMs);
bool isWriterAlive(const RecordedWriter& writer, int heartbeatIntervalMs, std::int64_t nowMs);

} // namespace sp::store
