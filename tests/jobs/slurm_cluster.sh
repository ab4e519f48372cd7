#!/bin/bash
# A real single-node Slurm cluster on localhost for the `slurm` tests (and for trying the
# templates by hand):
#
#   tests/jobs/slurm_cluster.sh start  <dir>   # munge + slurmctld + slurmd, waits until idle
#   tests/jobs/slurm_cluster.sh stop   <dir>   # cancels jobs, drains, stops the daemons
#   tests/jobs/slurm_cluster.sh status <dir>   # exit 0 when the cluster in <dir> is up
#
# After `start`, `export SLURM_CONF=<dir>/slurm.conf` (also written to <dir>/env) makes
# sinfo/sbatch/squeue and `qa submit`/`qa jobs` talk to it.
#
# Layout under <dir>: slurm.conf, state/ (StateSaveLocation), spool/ (SlurmdSpoolDir),
# log/ (daemon logs), slurmctld.pid, slurmd.pid, watchdog.pid, cluster.up.
#
# Rules this script keeps (see docs/slurm.md, "Test cluster"):
# - Only one cluster per machine (fixed ports 6817/6818). A machine-wide lock
#   (/tmp/qa-slurm-cluster.lock, held by the watchdog for the cluster's lifetime) makes a
#   second `start` from another directory wait up to QA_SLURM_LOCK_WAIT seconds (default
#   300); `start` on the same directory first stops the running cluster (safe to run twice).
# - The daemons never outlive their use: a failed start stops what it started, and a
#   watchdog stops the cluster after QA_SLURM_MAX_SECONDS (default 900) even if `stop` is
#   never called (ctest killed, test runner crashed).
# - munged is shared machine state: it is started only when no working munged is found,
#   and `stop` stops it only when this cluster started it (<dir>/munged.started).
# - Exit 77 ("skipped") where Slurm cannot run here: not root, or the daemons are missing.
set -u

PROG=slurm_cluster.sh
LOCK=${QA_SLURM_LOCK:-/tmp/qa-slurm-cluster.lock}
LOCK_WAIT=${QA_SLURM_LOCK_WAIT:-300}
MAX_SECONDS=${QA_SLURM_MAX_SECONDS:-900}
UP_TIMEOUT=${QA_SLURM_UP_TIMEOUT:-30}
MUNGED=/usr/sbin/munged
MUNGE_PID=/run/munge/munged.pid

say() { echo "$PROG: $*"; }
die() { echo "$PROG: error: $*" >&2; exit 1; }

usage() {
    echo "usage: $PROG start|stop|status <dir>" >&2
    exit 2
}

# ---- helpers ------------------------------------------------------------------------

# alive <pid>: the process exists and is not a zombie (a daemon's parent here may be a
# pid 1 that never reaps, and kill -0 succeeds on zombies).
alive() {
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}
pid_of() { [ -s "$1" ] && tr -dc '0-9' <"$1"; }

# wait_gone <seconds> <pid...>: 0 when every pid has exited within the time.
wait_gone() {
    local t=$1 p n
    shift
    for ((n = 0; n < t * 10; n++)); do
        local any=0
        for p in "$@"; do alive "$p" && any=1; done
        [ $any -eq 0 ] && return 0
        sleep 0.1
    done
    return 1
}

# stop_pid <name> <pid>: SIGTERM, wait 10 s, then SIGKILL.
stop_pid() {
    local name=$1 pid=$2
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    if ! wait_gone 10 "$pid"; then
        say "$name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        wait_gone 5 "$pid"
    fi
}

# Processes this cluster left behind: job steps (slurmstepd) and job processes whose
# environment names this cluster's slurm.conf. The daemons inherit SLURM_CONF from this
# script, and jobs inherit it from the submitter, so the match is exact. One grep over
# every /proc/*/environ finds the candidates; our own shell and its ancestors are excluded.
leftover_pids() {
    local conf=$1 f pid comm ancestors=" " p=$$
    while [ "$p" -gt 1 ] 2>/dev/null; do
        ancestors="$ancestors$p "
        p=$(awk '/^PPid:/{print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
    done
    # shellcheck disable=SC2013 # /proc paths have no spaces
    for f in $(grep -lsxzF "SLURM_CONF=$conf" /proc/[0-9]*/environ); do
        pid=${f#/proc/}
        pid=${pid%/environ}
        case "$ancestors" in *" $pid "*) continue ;; esac
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
        if [ "$comm" = slurmstepd ] || grep -qsz '^SLURM_JOB_ID=' "/proc/$pid/environ"; then
            echo "$pid"
        fi
    done
}

munge_works() { command -v munge >/dev/null && munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

port_user() { # port_user <port>: "pid/name" of a listener on the port, or empty
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\),pid=\([0-9]*\).*/\2 \1/p' | head -1
}

check_can_run() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "skipped: a Slurm test cluster needs root (slurmctld/slurmd run as SlurmUser=root)"
        exit 77
    fi
    local b
    for b in slurmctld slurmd sinfo scontrol scancel squeue; do
        if ! command -v "$b" >/dev/null 2>&1; then
            echo "skipped: $b not installed (Debian: slurm-wlm slurmctld slurmd munge)"
            exit 77
        fi
    done
    if [ ! -x "$MUNGED" ]; then
        echo "skipped: $MUNGED not installed (Debian: munge)"
        exit 77
    fi
}

# ---- stop ---------------------------------------------------------------------------

do_stop() {
    local dir=$1 conf=$1/slurm.conf
    local ctld_pid slurmd_pid wd_pid
    local t0=$SECONDS
    ctld_pid=$(pid_of "$dir/slurmctld.pid")
    slurmd_pid=$(pid_of "$dir/slurmd.pid")
    export SLURM_CONF=$conf
    rm -f "$dir/cluster.up"

    if alive "$ctld_pid"; then
        # Cancel everything and let the controller finish the jobs (KillWait=5 bounds it),
        # so no slurmstepd is left holding processes when the daemons go.
        timeout 5 scancel --user=root >/dev/null 2>&1
        local n left
        for ((n = 0; n < 200; n++)); do
            left=$(timeout 5 squeue -h -o %i 2>/dev/null | wc -l)
            [ "$left" -eq 0 ] && break
            sleep 0.1
        done
        [ "${left:-0}" -ne 0 ] && say "warning: $left job(s) still listed after 20 s; stopping anyway"
    fi
    # Both daemons at once (each takes 1-2 s to shut down).
    alive "$slurmd_pid" && kill -TERM "$slurmd_pid" 2>/dev/null
    alive "$ctld_pid" && kill -TERM "$ctld_pid" 2>/dev/null
    if ! wait_gone 15 "$slurmd_pid" "$ctld_pid"; then
        say "slurmd/slurmctld ignored SIGTERM for 15 s: SIGKILL"
        kill -KILL "$slurmd_pid" "$ctld_pid" 2>/dev/null
        wait_gone 5 "$slurmd_pid" "$ctld_pid"
    fi
    rm -f "$dir/slurmd.pid" "$dir/slurmctld.pid"

    # Job steps orphaned by a daemon that died with jobs running ignore SIGTERM.
    if [ -f "$conf" ]; then
        local p left_pids
        left_pids=$(leftover_pids "$conf")
        for p in $left_pids; do
            say "killing leftover job process $p ($(cat /proc/"$p"/comm 2>/dev/null))"
            kill -KILL "$p" 2>/dev/null
        done
    fi

    if [ -f "$dir/munged.started" ]; then
        local mp
        mp=$(pid_of "$MUNGE_PID")
        [ "$mp" = "$(cat "$dir/munged.started")" ] && stop_pid munged "$mp"
        rm -f "$dir/munged.started"
    fi

    # Last: the watchdog holds the machine-wide lock; its exit releases it.
    wd_pid=$(pid_of "$dir/watchdog.pid")
    if alive "$wd_pid" && [ "$wd_pid" != "${QA_SLURM_WATCHDOG_PID:-}" ]; then
        kill -TERM "$wd_pid" 2>/dev/null
        wait_gone 5 "$wd_pid"
    fi
    rm -f "$dir/watchdog.pid"
    say "cluster in $dir stopped in $((SECONDS - t0)) s"
}

# ---- start --------------------------------------------------------------------------

# Two fake GPUs: gres/gpu needs character devices, so <dir>/dev/gpu0..1 are copies of
# /dev/null (mknod 1 3). Slurm then sets CUDA_VISIBLE_DEVICES and SLURM_GPUS_ON_NODE as
# on a real GPU node, which lets the tests check --gpus-per-node and per-rank binding.
# Where mknod is not allowed the cluster has no GPUs (<dir>/gpus says 0).
make_fake_gpus() {
    local dir=$1 i
    rm -rf "${dir:?}/dev"
    mkdir -p "$dir/dev"
    for i in 0 1; do
        mknod "$dir/dev/gpu$i" c 1 3 2>/dev/null || { rm -rf "${dir:?}/dev"; echo 0 >"$dir/gpus"; return 0; }
    done
    echo 2 >"$dir/gpus"
}

write_conf() {
    local dir=$1 mem gres="" gpus
    mem=$(awk '/^MemTotal:/ { printf "%d", $2 * 0.8 / 1024 }' /proc/meminfo)
    make_fake_gpus "$dir"
    gpus=$(cat "$dir/gpus")
    rm -f "$dir/gres.conf"
    if [ "$gpus" -gt 0 ]; then
        gres=" Gres=gpu:$gpus"
        echo "NodeName=localhost Name=gpu File=$dir/dev/gpu[0-$((gpus - 1))]" >"$dir/gres.conf"
    fi
    cat >"$dir/slurm.conf" <<EOF
# Single-node test cluster written by tests/jobs/slurm_cluster.sh (see docs/slurm.md).
ClusterName=testcluster
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# cgroup plugins do not work in this container kind.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
# CPUs=4 on a 2-core machine: config_overrides trusts the declared node, so -n 4 runs.
SlurmdParameters=config_overrides
MpiDefault=pmix
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
MinJobAge=300
KillWait=5
$([ -n "$gres" ] && echo GresTypes=gpu)
NodeName=localhost NodeAddr=127.0.0.1 CPUs=4 RealMemory=$mem$gres State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    local dir=$1 n
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating /etc/munge/munge.key"
        mungekey --create --keyfile=/etc/munge/munge.key || return 1
        chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    if munge_works; then
        return 0
    fi
    runuser -u munge -- "$MUNGED" </dev/null >/dev/null 2>&1 9>&- || { say "munged failed to start"; return 1; }
    for ((n = 0; n < 50; n++)); do
        munge_works && break
        sleep 0.1
    done
    munge_works || { say "munged started but munge -n | unmunge fails"; return 1; }
    pid_of "$MUNGE_PID" >"$dir/munged.started"
}

# Runs detached with the lock (fd 9) inherited. Lives while the cluster is starting or up,
# at most MAX_SECONDS; then stops the cluster itself.
watchdog() {
    local dir=$1 self=$2 t0=$SECONDS
    while [ -f "$dir/starting" ] || [ -f "$dir/cluster.up" ]; do
        [ $((SECONDS - t0)) -ge "$MAX_SECONDS" ] && break
        sleep 1 9>&-
    done
    if [ -f "$dir/cluster.up" ] || [ -f "$dir/starting" ]; then
        echo "$(date -u +%FT%TZ) watchdog: cluster alive for $MAX_SECONDS s, stopping it" >>"$dir/log/watchdog.log"
        QA_SLURM_WATCHDOG_PID=$BASHPID "$self" stop "$dir" >>"$dir/log/watchdog.log" 2>&1 9>&-
    fi
}

START_DIR=""
on_start_exit() {
    local rc=$?
    if [ -n "$START_DIR" ] && [ -f "$START_DIR/starting" ]; then
        say "start failed: stopping what was started (logs in $START_DIR/log)"
        rm -f "$START_DIR/starting"
        do_stop "$START_DIR"
    fi
    exit $rc
}

do_start() {
    local dir=$1 conf=$1/slurm.conf self t0=$SECONDS
    self=$(readlink -f "$0")

    # Same directory already running: stop it first (start is idempotent).
    if [ -f "$dir/slurmctld.pid" ] || [ -f "$dir/watchdog.pid" ]; then
        say "stopping the cluster already running in $dir"
        do_stop "$dir"
    fi

    exec 9>>"$LOCK"
    if ! flock -n 9; then
        local owner
        owner=$(cat "$LOCK.owner" 2>/dev/null)
        say "waiting up to $LOCK_WAIT s for the test cluster in ${owner:-?} to stop (one cluster per machine)"
        flock -w "$LOCK_WAIT" 9 ||
            die "the test cluster in ${owner:-?} still holds $LOCK after $LOCK_WAIT s; stop it with: $0 stop ${owner:-DIR}"
    fi
    echo "$dir" >"$LOCK.owner"
    local port u
    for port in 6817 6818; do
        u=$(port_user $port)
        [ -n "$u" ] && die "port $port is in use by pid/name $u; stop that Slurm daemon first"
    done

    rm -rf "${dir:?}/state" "${dir:?}/spool" "${dir:?}/log"
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    touch "$dir/starting"
    START_DIR=$dir
    trap on_start_exit EXIT

    # The watchdog holds the lock from here on (fd 9 is inherited), so it is released
    # exactly when the watchdog exits: at `stop` or after MAX_SECONDS.
    setsid bash -c "$(declare -f watchdog); MAX_SECONDS=$MAX_SECONDS; watchdog '$dir' '$self'" \
        </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/watchdog.pid"

    start_munge "$dir" || exit 1
    write_conf "$dir"
    export SLURM_CONF=$conf
    echo "export SLURM_CONF=$conf" >"$dir/env"

    # Both daemonize and write their pid files; the lock fd is closed for them.
    slurmctld </dev/null >>"$dir/log/slurmctld.out" 2>&1 9>&- || { say "slurmctld failed to start"; exit 1; }
    slurmd -N localhost </dev/null >>"$dir/log/slurmd.out" 2>&1 9>&- || { say "slurmd failed to start"; exit 1; }

    local n state=""
    for ((n = 0; n < UP_TIMEOUT * 10; n++)); do
        state=$(timeout 5 sinfo -h -o %T 2>/dev/null | head -1)
        [ "$state" = idle ] && break
        sleep 0.1
    done
    if [ "$state" != idle ]; then
        say "node not idle after $UP_TIMEOUT s (state '${state:-none}')"
        tail -n 5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" 2>/dev/null
        exit 1
    fi
    touch "$dir/cluster.up"
    rm -f "$dir/starting"
    trap - EXIT
    exec 9>&-
    say "cluster up in $((SECONDS - t0)) s: SLURM_CONF=$conf (watchdog stops it after $MAX_SECONDS s)"
}

# ---- main ---------------------------------------------------------------------------

if [ -n "${QA_SLURM_TRACE:-}" ]; then # timestamped trace of every command
    PS4='+ ${EPOCHREALTIME} '
    set -x
fi
[ $# -eq 2 ] || usage
cmd=$1
mkdir -p "$2" 2>/dev/null || die "cannot create $2"
dir=$(cd "$2" && pwd -P) || die "cannot enter $2"

case "$cmd" in
start)
    check_can_run
    do_start "$dir"
    ;;
stop)
    do_stop "$dir"
    ;;
status)
    if [ -f "$dir/cluster.up" ] && alive "$(pid_of "$dir/slurmctld.pid")"; then
        SLURM_CONF=$dir/slurm.conf sinfo
        exit 0
    fi
    echo "no cluster running in $dir"
    exit 1
    ;;
*) usage ;;
esac
