#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/workflow/test_slurm.py (root, Debian, no systemd).
#
#   .ci/slurm.sh start   install munge + slurmctld + slurmd + slurm-client, write the configuration,
#                        start the three daemons, wait until the node is idle, check a GPU job schedules
#   .ci/slurm.sh stop    stop the daemons recorded by `start`, by their PIDs
#
# The PIDs go to $KDSEG_SLURM_STATE/pids (default /run/kdseg-slurm). The cluster has no job accounting
# (no slurmdbd), so `sacct` has nothing to ask: the profile's `slurm-status-command: squeue` is what works,
# and MinJobAge keeps finished jobs visible to squeue/scontrol for 10 minutes.
set -euo pipefail

STATE_DIR="${KDSEG_SLURM_STATE:-/run/kdseg-slurm}"
PID_FILE="$STATE_DIR/pids"
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
# the daemons write these; `start` copies the numbers into $PID_FILE
MUNGE_PID_FILE=/run/munge/munged.pid
SLURMCTLD_PID_FILE=/run/slurmctld.pid
SLURMD_PID_FILE=/run/slurmd.pid

log() { echo "slurm.sh: $*" >&2; }

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND once a second until it succeeds
wait_for() {
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq "$seconds"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    log "timed out after ${seconds}s waiting for $what"
    return 1
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        log "SLURM is not installed and this is not a root Debian shell; install munge, slurmctld, slurmd and slurm-client first."
        exit 1
    fi
    log "installing munge, slurmctld, slurmd, slurm-client"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq munge slurmctld slurmd slurm-client >/dev/null
}

write_config() {
    local host node
    host=$(hostname -s)
    # slurmd -C prints this machine's node line (CPUs, sockets, cores, threads, RealMemory) as slurmd sees it
    node=$(slurmd -C | head -n 1)
    mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd
    cat >"$CONF_DIR/slurm.conf" <<EOF
# One-node test cluster written by .ci/slurm.sh. Throwaway: daemons run as root, no accounting.
ClusterName=kdseg-ci
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# no slurmdbd: sacct cannot answer, squeue/scontrol can while MinJobAge keeps finished jobs
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$SLURMCTLD_PID_FILE
SlurmdPidFile=$SLURMD_PID_FILE
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# rules with resources gpu=1 become sbatch --gpus=1; gres.conf backs the GPU with /dev/null
GresTypes=gpu
$node NodeAddr=127.0.0.1 Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    echo "Name=gpu File=/dev/null" >"$CONF_DIR/gres.conf"
    log "wrote $CONF_DIR/slurm.conf for node: $node"
}

start_munge() {
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile /etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged
    wait_for 20 "munged" munge -n
}

start() {
    if [ -s "$PID_FILE" ]; then
        log "$PID_FILE exists: a cluster was started and not stopped; run '$0 stop' first."
        exit 1
    fi
    install_packages
    write_config
    mkdir -p "$STATE_DIR"
    start_munge
    echo "munged $(cat "$MUNGE_PID_FILE")" >"$PID_FILE"
    slurmctld
    wait_for 30 "slurmctld's PID file" test -s "$SLURMCTLD_PID_FILE"
    echo "slurmctld $(cat "$SLURMCTLD_PID_FILE")" >>"$PID_FILE"
    slurmd
    wait_for 30 "slurmd's PID file" test -s "$SLURMD_PID_FILE"
    echo "slurmd $(cat "$SLURMD_PID_FILE")" >>"$PID_FILE"
    wait_for 60 "the node to be idle (see $LOG_DIR/slurmctld.log)" sh -c 'sinfo -h -N -o %T | grep -qx idle'
    # the gres configuration is what a GPU rule needs; fail here rather than in a workflow job
    timeout 60 srun --gpus=1 --ntasks=1 --time=1 true
    sinfo -N -l >&2
    log "cluster up; PIDs in $PID_FILE"
}

stop() {
    if [ ! -s "$PID_FILE" ]; then
        log "no $PID_FILE: nothing to stop"
        return
    fi
    local name pid
    # slurmd first, munged last: the SLURM daemons talk through munge until they exit
    while read -r name pid; do
        # only the daemon recorded under that PID, never a process that reused the number
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
            log "stopping $name (PID $pid)"
            kill -TERM "$pid" 2>/dev/null || true  # it may have exited since the check
            for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
        fi
    done < <(tac "$PID_FILE")
    rm -f "$PID_FILE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
