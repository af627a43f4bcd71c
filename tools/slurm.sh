#!/usr/bin/env bash
# A real single-node SLURM on localhost from Debian packages, for tests and for trying the
# slurm profile (profiles/slurm) on a workstation. Needs root.
#
# Usage: tools/slurm.sh [options] start|stop|status|restart
#   --accounting      also run mariadb + slurmdbd so that `sacct` works (default: without;
#                     the profile then uses `squeue` for job status)
#   --fake-gpus N     declare N GPUs of type "fake" (GRES gpu backed by /dev/null clones) so
#                     that jobs asking for GPUs (`--gpus`) are scheduled on a machine without
#                     any; the jobs see no real GPU. Default: 0 (no GRES).
#   --timeout S       seconds to wait for each daemon (default 60)
#
# Environment: LONGTAIL_SLURM_STATE (default /run/longtail-slurm) holds one PID file per daemon
# this script started; stop kills exactly those PIDs. A munged that was already running is used
# and left alone.
#
# Exit codes: 0 ok; 1 failure (see the message); 2 usage; 3 not root; 4 packages missing and
# they cannot be installed (no apt-get, or apt-get failed); 5 a SLURM port is taken by another
# process; 6 /etc/slurm/slurm.conf belongs to someone else.
# Facts this follows: /work/shared/slurm/NOTES.md (Debian bookworm, SLURM 22.05).
set -uo pipefail

STATE=${LONGTAIL_SLURM_STATE:-/run/longtail-slurm}
CONF=/etc/slurm/slurm.conf   # default path on purpose: the jobstep plugin drops SLURM_CONF
DBD_CONF=/etc/slurm/slurmdbd.conf
GRES_CONF=/etc/slurm/gres.conf
MARKER="# Written by tools/slurm.sh (longtail); rewritten on every start."
CLUSTER=longtail
LOGDIR=/var/log/slurm

accounting=0
fake_gpus=0
timeout=60
cmd=""

die() { local code=$1; shift; echo "slurm.sh: error: $*" >&2; exit "$code"; }
say() { echo "slurm.sh: $*"; }

while (($#)); do
  case $1 in
    --accounting) accounting=1 ;;
    --fake-gpus) fake_gpus=${2:-}; shift ;;
    --fake-gpus=*) fake_gpus=${1#*=} ;;
    --timeout) timeout=${2:-}; shift ;;
    --timeout=*) timeout=${1#*=} ;;
    start|stop|status|restart) cmd=$1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die 2 "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
[[ -n $cmd ]] || die 2 "usage: $0 [--accounting] [--fake-gpus N] [--timeout S] start|stop|status|restart"
[[ $fake_gpus =~ ^[0-9]+$ ]] || die 2 "--fake-gpus needs a whole number, got '$fake_gpus'"
[[ $timeout =~ ^[0-9]+$ ]] || die 2 "--timeout needs a whole number of seconds, got '$timeout'"

# ---------------------------------------------------------------- helpers
# pid_alive NAME: the PID recorded for NAME is alive and still runs the expected program.
declare -A PROG=([munged]=munged [mariadbd]=mariadbd [slurmdbd]=slurmdbd
                 [slurmctld]=slurmctld [slurmd]=slurmd)
pid_of() { [[ -s $STATE/$1.pid ]] && cat "$STATE/$1.pid"; }
pid_alive() {
  local pid; pid=$(pid_of "$1") || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/comm ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "${PROG[$1]}"* ]]
}
# record NAME PIDFILE: copy the daemon's own pid file into the state dir once it appears.
record() {
  local name=$1 pidfile=$2 i
  for ((i = 0; i < timeout * 10; i++)); do
    if [[ -s $pidfile ]]; then
      cp "$pidfile" "$STATE/$name.pid"
      pid_alive "$name" && return 0
    fi
    sleep 0.1
  done
  return 1
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
  return 0
}
port_owner() {  # the pid listening on TCP port $1 ("unknown" without ss)
  local pid
  pid=$(ss -Htlnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  echo "${pid:-unknown}"
}
port_busy() {  # something listens on TCP port $1 (from /proc: minimal images lack ss)
  local hex; hex=$(printf '%04X' "$1")
  awk -v p=":$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
                    END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
node_state() { sinfo -h -o %t 2>/dev/null | head -1; }
node_idle() { [[ $(node_state) == idle ]]; }
ctld_up() { scontrol ping 2>/dev/null | grep -q "is UP"; }
tail_log() { [[ -f $1 ]] && { echo "--- last lines of $1:" >&2; tail -n 15 "$1" >&2; }; }

require_root() {
  [[ $(id -u) -eq 0 ]] || die 3 "must run as root (it starts munged/slurmctld/slurmd and writes $CONF); try: sudo $0 $cmd"
}

ensure_packages() {
  local pkgs=(slurmctld slurmd slurm-client munge) missing=() p
  ((accounting)) && pkgs+=(slurmdbd mariadb-server)
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || die 4 "Debian packages missing (${missing[*]}) and apt-get is not available to install them"
  say "installing Debian packages: ${missing[*]}"
  # Package scripts cannot start services here (no init); we start the daemons ourselves.
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"; } >"$STATE/apt.log" 2>&1; then
    tail -n 20 "$STATE/apt.log" >&2
    die 4 "apt-get could not install: ${missing[*]} (log: $STATE/apt.log)"
  fi
}

# ---------------------------------------------------------------- config files
write_conf() {
  if [[ -e $CONF ]] && ! grep -qxF "$MARKER" "$CONF"; then
    die 6 "$CONF exists and was not written by this script; move it away first (this machine may have a real SLURM)"
  fi
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc --all)
  mem=$(( $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))
  ((mem > 512)) || mem=512
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$LOGDIR"
  chown slurm:slurm /var/spool/slurmctld "$LOGDIR"
  local acct gres="" grestypes=""
  if ((accounting)); then
    acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
  else
    acct="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
  fi
  if ((fake_gpus)); then
    # slurmd counts a gpu GRES only with a character device per GPU (Count= alone reports 0
    # and the node goes INVAL): clones of /dev/null in the state dir stand in for them.
    local i
    rm -f "$STATE"/fakegpu*
    for ((i = 0; i < fake_gpus; i++)); do mknod -m 666 "$STATE/fakegpu$i" c 1 3; done
    gres=" Gres=gpu:fake:$fake_gpus"
    grestypes="GresTypes=gpu"
    cat >"$GRES_CONF" <<EOF
$MARKER
# --fake-gpus $fake_gpus: schedulable GPUs of type "fake"; the devices are /dev/null clones,
# jobs see no real GPU.
AutoDetect=off
NodeName=$host Name=gpu Type=fake File=$STATE/fakegpu[0-$((fake_gpus - 1))]
EOF
  else
    rm -f "$GRES_CONF"
  fi
  cat >"$CONF" <<EOF
$MARKER
# Single-node SLURM on localhost for the longtail study's tests (see docs/slurm.md).
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
EnforcePartLimits=ALL
ReturnToService=2
MinJobAge=300
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
MpiDefault=none
SchedulerType=sched/backfill
$acct
$grestypes
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem$gres State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  chmod 644 "$CONF"
}

# ---------------------------------------------------------------- daemons
start_munge() {
  if pid_alive munged; then return 0; fi
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "munged already running (not started by this script; left alone)"
    return 0
  fi
  [[ -s /etc/munge/munge.key ]] || { /usr/sbin/mungekey --create >/dev/null 2>&1 || true; chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key; }
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged || die 1 "munged did not start (see /var/log/munge/munged.log)"
  record munged /run/munge/munged.pid || die 1 "munged wrote no pid file"
  wait_for "$timeout" munge sh -c 'munge -n | unmunge' || die 1 "munge -n | unmunge fails after ${timeout}s"
}

start_db() {
  pid_alive mariadbd && return 0
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  if [[ ! -d /var/lib/mysql/mysql ]]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$STATE/mariadb-install.log" 2>&1 \
      || die 1 "mariadb-install-db failed (log: $STATE/mariadb-install.log)"
  fi
  rm -f /run/mysqld/longtail.pid
  # Socket only (no TCP port) so that another database on this machine is not disturbed.
  runuser -u mysql -- /usr/sbin/mariadbd --skip-networking --socket=/run/mysqld/mysqld.sock \
    --pid-file=/run/mysqld/longtail.pid --datadir=/var/lib/mysql \
    >>"$LOGDIR/mariadbd.log" 2>&1 &
  disown
  record mariadbd /run/mysqld/longtail.pid || { tail_log "$LOGDIR/mariadbd.log"; die 1 "mariadbd did not start"; }
  wait_for "$timeout" mariadb mariadb -uroot -e 'select 1' || die 1 "mariadb not answering after ${timeout}s"
  mariadb -uroot <<'EOF' || die 1 "could not create the slurm database/user"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'longtail-slurm';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
}

start_dbd() {
  pid_alive slurmdbd && return 0
  port_busy 6819 && die 5 "port 6819 (slurmdbd) is in use by another process (pid $(port_owner 6819)); stop it first"
  cat >"$DBD_CONF" <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=$LOGDIR/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=longtail-slurm
EOF
  chown slurm:slurm "$DBD_CONF"; chmod 600 "$DBD_CONF"
  rm -f /run/slurmdbd.pid
  /usr/sbin/slurmdbd || { tail_log "$LOGDIR/slurmdbd.log"; die 1 "slurmdbd did not start"; }
  record slurmdbd /run/slurmdbd.pid || { tail_log "$LOGDIR/slurmdbd.log"; die 1 "slurmdbd wrote no pid file"; }
  wait_for "$timeout" slurmdbd port_busy 6819 || { tail_log "$LOGDIR/slurmdbd.log"; die 1 "slurmdbd not listening on 6819 after ${timeout}s"; }
  sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
  sacctmgr -n list cluster format=cluster 2>/dev/null | grep -qw "$CLUSTER" \
    || die 1 "sacctmgr could not register cluster $CLUSTER"
}

start_ctld() {
  pid_alive slurmctld && return 0
  rm -f /run/slurmctld.pid
  # -c: start from a clean state (the config is rewritten on every start; stop cancels jobs).
  /usr/sbin/slurmctld -c || { tail_log "$LOGDIR/slurmctld.log"; die 1 "slurmctld did not start"; }
  record slurmctld /run/slurmctld.pid || { tail_log "$LOGDIR/slurmctld.log"; die 1 "slurmctld wrote no pid file"; }
}

start_slurmd() {
  pid_alive slurmd && return 0
  rm -f /run/slurmd.pid
  /usr/sbin/slurmd || { tail_log "$LOGDIR/slurmd.log"; die 1 "slurmd did not start"; }
  record slurmd /run/slurmd.pid || { tail_log "$LOGDIR/slurmd.log"; die 1 "slurmd wrote no pid file"; }
}

running_all() {
  pid_alive slurmctld && pid_alive slurmd || return 1
  ((accounting)) && { pid_alive slurmdbd && pid_alive mariadbd || return 1; }
  return 0
}

do_start() {
  require_root
  mkdir -p "$STATE"
  # A start with other options than the running cluster's would silently keep the old ones.
  if [[ -f $STATE/options ]] && pid_alive slurmctld; then
    local want="accounting=$accounting fake_gpus=$fake_gpus" have
    have=$(cat "$STATE/options")
    [[ $have == "$want" ]] || die 1 "running with '$have', asked for '$want': run '$0 stop' first"
  fi
  if running_all && ctld_up && node_idle; then
    say "already running ($(status_line))"
    return 0
  fi
  local t0=$SECONDS
  ensure_packages
  # Ports: fail clearly when another SLURM (not ours) holds them.
  pid_alive slurmctld || ! port_busy 6817 || die 5 "port 6817 (slurmctld) is in use by another process (pid $(port_owner 6817)); another SLURM may be running here"
  pid_alive slurmd || ! port_busy 6818 || die 5 "port 6818 (slurmd) is in use by another process (pid $(port_owner 6818)); another SLURM may be running here"
  pid_alive slurmctld || write_conf
  echo "accounting=$accounting fake_gpus=$fake_gpus" >"$STATE/options"
  start_munge
  if ((accounting)); then start_db; start_dbd; fi
  start_ctld
  wait_for "$timeout" "scontrol ping" ctld_up \
    || { tail_log "$LOGDIR/slurmctld.log"; die 1 "slurmctld does not answer 'scontrol ping' after ${timeout}s"; }
  start_slurmd
  if ! wait_for "$timeout" "node idle" node_idle; then
    tail_log "$LOGDIR/slurmd.log"
    die 1 "node not idle after ${timeout}s (sinfo state: '$(node_state)')"
  fi
  say "started in $((SECONDS - t0)) s ($(status_line))"
}

status_line() {
  local parts=() n
  for n in munged mariadbd slurmdbd slurmctld slurmd; do
    pid_alive "$n" && parts+=("$n=$(pid_of "$n")")
  done
  echo "${parts[*]:-no daemons}; node $(node_state || true)"
}

stop_one() {  # stop_one NAME [SYSTEM_PIDFILE]
  local name=$1 sys=${2:-} pid i
  if pid_alive "$name"; then
    pid=$(pid_of "$name")
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < timeout * 10; i++)); do
      [[ -d /proc/$pid ]] || break
      sleep 0.1
    done
    if [[ -d /proc/$pid ]]; then
      say "$name (pid $pid) ignored SIGTERM for ${timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
    say "stopped $name (pid $pid)"
  elif [[ -e $STATE/$name.pid ]]; then
    say "removing stale pid file for $name"
  fi
  rm -f "$STATE/$name.pid"
  # A stale /run/slurmctld.pid breaks a later `apt-get purge` (NOTES): remove the system copy
  # too, unless it belongs to a live process we did not start.
  if [[ -n $sys && -s $sys ]]; then
    local spid; spid=$(cat "$sys")
    [[ -d /proc/$spid && $spid != "${pid:-}" ]] || rm -f "$sys"
  fi
}

do_stop() {
  require_root
  [[ -d $STATE ]] || { say "not running (no $STATE)"; return 0; }
  if pid_alive slurmctld && ctld_up; then
    local jobs; jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
    if [[ -n ${jobs// /} ]]; then
      say "cancelling jobs still in the queue: $jobs"
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      wait_for 15 "queue empty" sh -c '[ -z "$(squeue -h -t PD,R,CG -o %i)" ]' || true
    fi
  fi
  stop_one slurmd /run/slurmd.pid
  stop_one slurmctld /run/slurmctld.pid
  stop_one slurmdbd /run/slurmdbd.pid
  stop_one mariadbd /run/mysqld/longtail.pid
  stop_one munged /run/munge/munged.pid
  rm -f "$STATE/options" "$STATE"/fakegpu*
  say "stopped"
}

do_status() {
  local n rc=0
  for n in munged mariadbd slurmdbd slurmctld slurmd; do
    if pid_alive "$n"; then
      echo "$n: running (pid $(pid_of "$n"))"
    elif [[ -e $STATE/$n.pid ]]; then
      echo "$n: NOT running (stale pid file $STATE/$n.pid)"; rc=1
    fi
  done
  [[ -f $STATE/options ]] && echo "options: $(cat "$STATE/options")"
  if ctld_up; then
    echo "scontrol ping: UP"
    echo "node: $(sinfo -h -o '%n %t cpus=%c mem=%m gres=%G' 2>/dev/null | head -1)"
  else
    echo "scontrol ping: no answer"; rc=1
  fi
  pid_alive slurmctld && pid_alive slurmd || rc=1
  return $rc
}

case $cmd in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status; exit $? ;;
  restart) do_stop; do_start ;;
esac
