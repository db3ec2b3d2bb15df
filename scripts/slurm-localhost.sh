#!/usr/bin/env bash
# A single-node Slurm cluster on this machine (munge, slurmctld, slurmd on localhost), for the
# Slurm tests and for trying `softprompt sweep --slurm` without a real cluster.
#
#   scripts/slurm-localhost.sh start    start the daemons; prints `export SLURM_CONF=...` on stdout
#   scripts/slurm-localhost.sh stop     stop exactly the daemons that `start` started (pid files)
#   scripts/slurm-localhost.sh status   which of our daemons run, and what sinfo says
#
# The run directory (config, state, logs, pid files) is $SP_SLURM_RUN_DIR, default
# /tmp/softprompt-slurm-$(id -u): outside the source tree. Client commands find this cluster through
# SLURM_CONF=<run dir>/slurm.conf, so /etc/slurm is never touched. Needs root (slurmd starts jobs as
# their user; slurmctld drops to the `slurm` user) and the Debian packages slurmctld, slurmd,
# slurm-client and munge (scripts/setup.sh installs them). Exit status 77 means "cannot run here"
# (packages missing, not root): tests turn it into a skip.
#
# Daemons are stopped by the pids in their pid files, never by name. A munged that was already
# running before `start` is used and left alone.
set -euo pipefail

run_dir=${SP_SLURM_RUN_DIR:-/tmp/softprompt-slurm-$(id -u)}
conf=$run_dir/slurm.conf
ctld_port=${SP_SLURM_CTLD_PORT:-6817}
slurmd_port=${SP_SLURM_SLURMD_PORT:-6818}

say() { printf 'slurm-localhost: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

pid_alive() { # pid file, expected executable name (a guard against a recycled pid, not a search)
    local file=$1 name=$2 pid
    [[ -s $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm ]] || return 1
    [[ $(</proc/"$pid"/comm) == "$name" ]]
}

wait_for() { # seconds, description, command...
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
    say "$what"
}

check_prerequisites() {
    local missing=()
    for program in munged munge unmunge slurmctld slurmd sbatch squeue scontrol sinfo scancel; do
        command -v "$program" >/dev/null 2>&1 || missing+=("$program")
    done
    if ((${#missing[@]})); then
        say "cannot start: ${missing[*]} not found. Install the packages with scripts/setup.sh" \
            "(or: apt-get install slurmctld slurmd slurm-client munge)"
        exit 77
    fi
    if [[ $(id -u) -ne 0 ]]; then
        say "cannot start: slurmd must run as root (it starts jobs as their owner); run as root"
        exit 77
    fi
    id slurm >/dev/null 2>&1 || { say "cannot start: no 'slurm' user (reinstall slurmctld)"; exit 77; }
    id munge >/dev/null 2>&1 || { say "cannot start: no 'munge' user (reinstall munge)"; exit 77; }
}

write_config() {
    local cpus memory
    cpus=$(nproc)
    memory=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    cat >"$conf" <<CONF
# Written by scripts/slurm-localhost.sh: a single-node cluster for tests.
ClusterName=softprompt-ci
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=slurm
MailProg=/bin/true
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
# A job whose dependency can never be satisfied (afterok on a failed task) is cancelled, not left
# pending for ever.
DependencyParameters=kill_invalid_depend
ReturnToService=2
KillWait=5
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$run_dir/jobcomp.txt
StateSaveLocation=$run_dir/state
SlurmdSpoolDir=$run_dir/spool
SlurmctldPidFile=$run_dir/slurmctld.pid
SlurmdPidFile=$run_dir/slurmd.pid
SlurmctldLogFile=$run_dir/slurmctld.log
SlurmdLogFile=$run_dir/slurmd.log
NodeName=localhost CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_works; then
        say "munge: a munged is already running; using it (it will not be stopped)"
        rm -f "$run_dir/munged.pid"
        return
    fi
    install -d -o munge -g munge -m 755 /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key >/dev/null 2>&1 || die "cannot create /etc/munge/munge.key"
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    # munged refuses files in folders that other users own, so its pid file and log stay in its own
    # folders (/run/munge, /var/log/munge); the pid is copied to where `stop` looks for it.
    install -d -o munge -g munge -m 700 /var/log/munge
    rm -f /run/munge/softprompt-munged.pid
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/softprompt-munged.pid \
        </dev/null >/dev/null 2>&1 || die "munged did not start; see /var/log/munge/munged.log"
    wait_for 10 "munge: up" munge_works || die "munge does not answer; see /var/log/munge/munged.log"
    cp /run/munge/softprompt-munged.pid "$run_dir/munged.pid"
}

ctld_up() { [[ $(timeout 5 scontrol ping 2>/dev/null) == *UP* ]]; }
node_idle() { [[ $(timeout 5 sinfo -h -n localhost -o %T 2>/dev/null) == idle* ]]; }

start() {
    check_prerequisites
    export SLURM_CONF=$conf
    if pid_alive "$run_dir/slurmctld.pid" slurmctld && pid_alive "$run_dir/slurmd.pid" slurmd; then
        say "already running (run directory $run_dir)"
        echo "export SLURM_CONF=$conf"
        return
    fi
    mkdir -p "$run_dir"
    install -d -o slurm -g slurm -m 755 "$run_dir" "$run_dir/state"
    install -d -m 755 "$run_dir/spool"
    write_config
    start_munge
    if ! pid_alive "$run_dir/slurmctld.pid" slurmctld; then
        slurmctld -i -f "$conf" </dev/null >/dev/null 2>&1 || die "slurmctld did not start; see $run_dir/slurmctld.log"
    fi
    wait_for 20 "slurmctld: up" ctld_up || die "slurmctld does not answer; see $run_dir/slurmctld.log"
    if ! pid_alive "$run_dir/slurmd.pid" slurmd; then
        slurmd -N localhost -f "$conf" </dev/null >/dev/null 2>&1 || die "slurmd did not start; see $run_dir/slurmd.log"
    fi
    wait_for 20 "slurmd: node localhost is idle" node_idle || {
        timeout 5 scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true
        wait_for 10 "slurmd: node localhost is idle (resumed)" node_idle ||
            die "node localhost is not idle ($(timeout 5 sinfo -h -n localhost -o '%T %E' 2>&1)); see $run_dir/slurmd.log"
    }
    echo "export SLURM_CONF=$conf"
}

stop_one() { # pid file, executable name
    local file=$1 name=$2 pid
    if ! pid_alive "$file" "$name"; then
        rm -f "$file"
        return
    fi
    pid=$(<"$file")
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 15))
    while [[ -d /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.1; done
    if [[ -d /proc/$pid ]]; then
        say "$name ($pid) did not stop within 15 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
    say "$name ($pid): stopped"
}

stop() {
    [[ -d $run_dir ]] || { say "not running (no $run_dir)"; return; }
    stop_one "$run_dir/slurmd.pid" slurmd
    stop_one "$run_dir/slurmctld.pid" slurmctld
    stop_one "$run_dir/munged.pid" munged
}

status() {
    local any=0
    for daemon in munged slurmctld slurmd; do
        if pid_alive "$run_dir/$daemon.pid" "$daemon"; then
            echo "$daemon: running (pid $(<"$run_dir/$daemon.pid"))"
            any=1
        else
            echo "$daemon: not running (by this script)"
        fi
    done
    if ((any)); then
        echo "SLURM_CONF=$conf"
        SLURM_CONF=$conf timeout 5 sinfo 2>&1 || echo "sinfo: no answer within 5 s"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
