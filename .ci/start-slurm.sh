#!/usr/bin/env bash
# Start a single-node Slurm cluster on this machine (Debian 12, run as root).
#
# Idempotent: installs slurm-wlm and munge only when missing, creates a munge key only
# when missing, rewrites /etc/slurm/slurm.conf only when it changed, and starts munged,
# slurmctld and slurmd only when they are not already running.  There is no systemd:
# the daemons are started directly.  Exits non-zero with the reason when the node does
# not become idle, or when `srun` cannot run a job step.
#
# Environment:
#   SLURM_START_TIMEOUT   seconds to wait for the node to become idle (default 90)
#   SLURM_LOG_DIR         daemon logs (default /var/log/slurm)
set -euo pipefail

TIMEOUT="${SLURM_START_TIMEOUT:-90}"
LOG_DIR="${SLURM_LOG_DIR:-/var/log/slurm}"
CONF=/etc/slurm/slurm.conf

die() { echo "start-slurm: ERROR: $*" >&2; exit 1; }
say() { echo "start-slurm: $*"; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts daemons)"

# --- 1. packages -----------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || die "apt-get update failed"
  apt-get install -y -q --no-install-recommends slurm-wlm munge \
    || die "apt-get install slurm-wlm munge failed"
fi

# --- 2. users and munge -----------------------------------------------------------------
for user in munge slurm; do   # normally created by the packages' postinst scripts
  id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user" \
    || die "cannot create the system user $user"
done
if [ ! -s /etc/munge/munge.key ]; then
  say "creating /etc/munge/munge.key"
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "starting munged"
  rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  runuser -u munge -- /usr/sbin/munged || die "munged failed to start (see /var/log/munge/munged.log)"
  for _ in $(seq 1 20); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.5
  done
  munge -n | unmunge >/dev/null || die "munge does not work after starting munged"
fi

# --- 3. slurm.conf -------------------------------------------------------------------
HOST="$(hostname -s)"
if ! getent hosts "$HOST" >/dev/null; then
  say "host name '$HOST' does not resolve: adding '127.0.0.1 $HOST' to /etc/hosts"
  echo "127.0.0.1 $HOST" >> /etc/hosts || die "host name '$HOST' does not resolve and /etc/hosts is not writable"
fi
# `slurmd -C` prints e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2
# ThreadsPerCore=1 RealMemory=24105"; keep the hardware fields of its first line.
NODE_HW="$(slurmd -C | head -n 1 | tr ' ' '\n' \
  | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=' | tr '\n' ' ')"
[ -n "$NODE_HW" ] || die "'slurmd -C' did not report the node hardware"

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$LOG_DIR"
chown slurm:slurm /var/spool/slurmctld "$LOG_DIR"
chmod 0755 /var/spool/slurmctld /var/spool/slurmd "$LOG_DIR"

NEW_CONF="$(mktemp)"
cat > "$NEW_CONF" <<EOF
# Single-node Slurm cluster for Astra tests and CI; written by .ci/start-slurm.sh.
ClusterName=astra
SlurmctldHost=${HOST}
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
ReturnToService=2
MinJobAge=3600
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=${LOG_DIR}/jobcomp.log
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
NodeName=${HOST} NodeAddr=127.0.0.1 ${NODE_HW} State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
EOF
CONF_CHANGED=0
if ! cmp -s "$NEW_CONF" "$CONF"; then
  say "writing $CONF"
  install -m 0644 "$NEW_CONF" "$CONF"
  CONF_CHANGED=1
fi
rm -f "$NEW_CONF"
touch "${LOG_DIR}/jobcomp.log"; chown slurm:slurm "${LOG_DIR}/jobcomp.log"

# --- 4. daemons ----------------------------------------------------------------------
running() {  # running <pidfile> <name>
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null \
    && grep -q "$2" "/proc/$(cat "$1")/comm" 2>/dev/null
}
stop_daemon() {  # stop_daemon <pidfile>
  local pid; pid="$(cat "$1")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
}

if [ "$CONF_CHANGED" -eq 1 ]; then
  running /run/slurmd.pid slurmd && { say "configuration changed: restarting slurmd"; stop_daemon /run/slurmd.pid; }
  running /run/slurmctld.pid slurmctld && { say "configuration changed: restarting slurmctld"; stop_daemon /run/slurmctld.pid; }
fi
if ! running /run/slurmctld.pid slurmctld; then
  say "starting slurmctld"
  slurmctld || die "slurmctld failed to start; see ${LOG_DIR}/slurmctld.log: $(tail -n 5 "${LOG_DIR}/slurmctld.log" 2>/dev/null)"
fi
if ! running /run/slurmd.pid slurmd; then
  say "starting slurmd"
  slurmd || die "slurmd failed to start; see ${LOG_DIR}/slurmd.log: $(tail -n 5 "${LOG_DIR}/slurmd.log" 2>/dev/null)"
fi

# --- 5. wait for the node ------------------------------------------------------------
say "waiting up to ${TIMEOUT}s for node ${HOST} to become idle"
deadline=$(( $(date +%s) + TIMEOUT ))
state=""
while :; do
  state="$(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -n 1 || true)"
  case "$state" in
    idle|mixed|allocated|completing) break ;;
    down*|drain*|drained*)
      # e.g. left down by an earlier unclean stop; ReturnToService=2 usually handles it.
      scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then
    die "node ${HOST} is not idle after ${TIMEOUT}s (state: '${state:-no answer from sinfo}');" \
        "slurmctld log: $(tail -n 5 "${LOG_DIR}/slurmctld.log" 2>/dev/null)" \
        "slurmd log: $(tail -n 5 "${LOG_DIR}/slurmd.log" 2>/dev/null)"
  fi
  sleep 1
done
say "node ${HOST} is ${state}"

# --- 6. smoke test -------------------------------------------------------------------
out="$(timeout 60 srun -N1 -t 1 hostname 2>&1)" || die "'srun -N1 hostname' failed: $out"
say "srun -N1 hostname -> $out"
say "Slurm is ready (sinfo: $(sinfo -h -o '%P %a %D %T' | tr '\n' ' '))"
