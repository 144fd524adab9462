#!/bin/bash
# The Slurm backend against a real Slurm on this machine: munged, slurmctld and slurmd
# started from a configuration generated in a temporary folder (their own key, socket, ports,
# state, logs and pid files), a 2-variant x 2-seed sweep submitted as one job array, one task
# cancelled (scancel) after its first checkpoint, the sweep resumed (only that run is
# resubmitted, with --requeue, and requeued once more by Slurm in mid-run), and every run's
# curves compared with a local-backend run of the same file, apart from the wall-clock columns.
# `armfarm status` is checked along the way. The daemons are always stopped (by their pid
# files) and the folder removed. Exit 0 pass, 1 fail, 77 skipped (Slurm or munge missing).
# usage: tests/test_slurm.sh ARMFARM
set -u
armfarm=${1:?usage: test_slurm.sh ARMFARM}
PATH=$PATH:/usr/sbin:/sbin

# ---- Slurm and munge installed? (scripts/setup.sh test installs slurm-wlm and munge) ----
for p in munged slurmctld slurmd sbatch squeue scancel scontrol sinfo python3; do
  command -v "$p" >/dev/null || { echo "test_slurm: SKIPPED: $p is not installed (scripts/setup.sh test installs slurm-wlm and munge)"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/armfarm_slurm_XXXXXX") || exit 1
cd "$tmp" || exit 1
mkdir -p munge state spool log pid
user=$(id -un)
host=$(hostname -s)
export SLURM_CONF=$tmp/slurm.conf

# the processes and jobs of this test, stopped whatever happens
stop_pid() {  # PIDFILE: SIGTERM, 10 s to end, then SIGKILL
  local f=$1 p
  [ -s "$f" ] || return 0
  p=$(cat "$f")
  kill "$p" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$p" 2>/dev/null
}
cleanup() {
  if [ -s pid/slurmctld.pid ]; then
    scancel --user="$user" 2>/dev/null
    for _ in $(seq 100); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  stop_pid pid/slurmd.pid
  stop_pid pid/slurmctld.pid
  stop_pid munge/munged.pid
  # a trainer whose step outlived its daemons: only processes working in this folder
  for d in /proc/[0-9]*; do
    if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF "$tmp/"; then kill -9 "${d#/proc/}" 2>/dev/null; fi
  done
  cd / && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "test_slurm: FAIL: $*"
  for f in log/slurmctld.log log/slurmd.log munge/munged.log; do [ -f "$f" ] && { echo "--- last lines of $f"; tail -n 15 "$f"; }; done
  exit 1
}
# until SECONDS COMMAND...: the command, every 0.2 s, until it succeeds or the time is up
until_ok() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}

# ---- munged: a key, socket, pid, log and seed file of its own ----
dd if=/dev/urandom of=munge/munge.key bs=1024 count=1 2>/dev/null && chmod 400 munge/munge.key
munged --force --socket="$tmp/munge/munge.sock" --key-file="$tmp/munge/munge.key" --pid-file="$tmp/munge/munged.pid" \
  --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/munged.seed" || fail "munged did not start"
until_ok 10 test -S munge/munge.sock || fail "munged made no socket"

# ---- slurm.conf: this host as the controller and the one node, free high ports ----
# (a requeued job may start again after the credential lifetime, cred_expire, 120 s by
# default, and the scheduler's next pass: both shortened here so the test takes seconds)
read -r port_ctld port_d < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
cat > slurm.conf <<EOF
ClusterName=armfarmtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$port_ctld
SlurmdPort=$port_d
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.sock,cred_expire=10
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/pid/slurmctld.pid
SlurmdPidFile=$tmp/pid/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=600
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 RealMemory=500 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
until_ok 60 bash -c '[ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ]' || fail "the node is not idle after 60 s: $(sinfo -N 2>&1)"
echo "test_slurm: [${SECONDS} s] munged, slurmctld and slurmd up on $host (ports $port_ctld, $port_d)"

# ---- the sweep: SAC on the pendulum, 2 learning rates x 2 seeds, the Slurm backend in the file ----
cat > sweep.json <<'EOF'
{"name": "slurmtest", "env": {"name": "pendulum"},
 "agent": {"name": "sac", "hidden": 16, "batch": 16, "warmup": 200},
 "train": {"steps": 16000, "eval_every": 2000, "eval_episodes": 1, "checkpoint_every": 1000},
 "sweep": {"seeds": 2, "grid": {"agent.lr": [0.001, 0.0003]}},
 "jobs": 1, "backend": "slurm", "slurm": {"time": "10:00", "cpus_per_run": 1}}
EOF
out=$tmp/out
# the tasks of array job $1 still waiting or running
queued() { squeue -h -r -o %i 2>/dev/null | grep "^$1_"; }
array_over() { [ -z "$(queued "$1")" ]; }

"$armfarm" run sweep.json --out "$out" >sub1.txt 2>&1 || fail "the submission failed: $(cat sub1.txt)"
grep -q "4 runs submitted as Slurm job" sub1.txt || fail "unexpected submission output: $(cat sub1.txt)"
job=$(cat "$out/slurm/sub_1.job")
[ "$(wc -l <"$out/slurm/sub_1.list")" -eq 4 ] || fail "sub_1.list does not list 4 runs"
first=$(sed -n 1p "$out/slurm/sub_1.list")
for id in $(cat "$out/slurm/sub_1.list"); do
  grep -q "\"job\":[[:space:]]*\"$job\"" "$out/$id/status.json" || fail "$id/status.json does not name job $job"
done
"$armfarm" status "$out" >st0.txt 2>&1 || fail "armfarm status: $(cat st0.txt)"
[ "$(grep -c "${job}_[0-3]" st0.txt)" -eq 4 ] || fail "armfarm status does not show the 4 tasks: $(cat st0.txt)"

# ---- task 0 cancelled after its first checkpoint, the others left to finish ----
until_ok 120 test -e "$out/$first/resume/latest" || fail "task 0 made no checkpoint in 120 s: $(cat "$out/$first/train.log" 2>&1)"
scancel "${job}_0" || fail "scancel ${job}_0 failed"
echo "test_slurm: [${SECONDS} s] cancelled ${job}_0"
until_ok 300 array_over "$job" || fail "job $job still runs after 300 s: $(squeue 2>&1)"
grep -q '"interrupted"' "$out/$first/status.json" || fail "the cancelled run is not recorded interrupted: $(cat "$out/$first/status.json")"
for id in $(sed -n 2,4p "$out/slurm/sub_1.list"); do
  grep -q '"finished"' "$out/$id/status.json" || fail "$id did not finish: $(cat "$out/$id/status.json"; tail -3 "$out/$id/train.log")"
  grep -q "\"node\":[[:space:]]*\"$host\"" "$out/$id/manifest.json" && grep -q "\"job\":[[:space:]]*\"$job\"" "$out/$id/manifest.json" ||
    fail "$id/manifest.json lacks the job or node: $(cat "$out/$id/manifest.json")"
done
"$armfarm" status "$out" >st1.txt 2>&1 || fail "armfarm status: $(cat st1.txt)"
grep -E "^$first .* interrupted .* ${job}_0 " st1.txt >/dev/null || fail "status does not show task 0 interrupted: $(cat st1.txt)"
[ "$(grep -c ' finished ' st1.txt)" -eq 3 ] || fail "status does not show 3 finished runs: $(cat st1.txt)"
echo "test_slurm: [${SECONDS} s] job $job: task 0 cancelled at step $(tail -n1 "$out/$first/progress.csv" | cut -d, -f1), tasks 1-3 finished; armfarm status:"
sed 's/^/  /' st1.txt

# ---- --resume: only the cancelled run, as a new array with --requeue; Slurm requeues it once ----
latest0=$(cat "$out/$first/resume/latest")
"$armfarm" run sweep.json --out "$out" --resume --requeue >sub2.txt 2>&1 || fail "the resubmission failed: $(cat sub2.txt)"
grep -q "1 runs submitted as Slurm job .*3 finished before" sub2.txt || fail "unexpected resubmission output: $(cat sub2.txt)"
job2=$(cat "$out/slurm/sub_2.job")
[ "$(cat "$out/slurm/sub_2.list")" = "$first" ] || fail "sub_2.list is not the cancelled run alone"
# requeued in mid-run (as preemption would), once it has resumed and taken a new checkpoint:
# the task starts again and resumes once more
until_ok 120 bash -c "grep -q resuming '$out/$first/train.log' && [ \"\$(cat '$out/$first/resume/latest')\" != '$latest0' ]" ||
  fail "the resubmitted task did not resume and checkpoint: $(tail -3 "$out/$first/train.log")"
scontrol requeue "${job2}_0" || fail "scontrol requeue ${job2}_0 failed"
echo "test_slurm: [${SECONDS} s] requeued ${job2}_0"
until_ok 300 array_over "$job2" || fail "job $job2 still runs after 300 s: $(squeue 2>&1)"
grep -q '"finished"' "$out/$first/status.json" || fail "the resumed run did not finish: $(cat "$out/$first/status.json"; tail -5 "$out/$first/train.log")"
after=$(grep -c resuming "$out/$first/train.log")
[ "$after" -ge 2 ] || fail "the requeued task did not resume from its checkpoint: $(grep -E 'resuming|trained' "$out/$first/train.log")"
"$armfarm" status "$out" >st2.txt 2>&1 || fail "armfarm status: $(cat st2.txt)"
[ "$(grep -c ' finished ' st2.txt)" -eq 4 ] || fail "status does not show 4 finished runs: $(cat st2.txt)"
grep -E "^$first .* finished .* ${job2}_0 " st2.txt >/dev/null || fail "status does not show the run in job $job2: $(cat st2.txt)"
"$armfarm" run sweep.json --out "$out" --resume >sub3.txt 2>&1 || fail "a resume of the finished sweep failed: $(cat sub3.txt)"
grep -q "nothing to submit" sub3.txt || fail "a finished sweep was submitted again: $(cat sub3.txt)"
echo "test_slurm: [${SECONDS} s] job $job2: the run resumed $after times (after the cancel, after the requeue) and finished; armfarm status:"
sed 's/^/  /' st2.txt

# ---- the same file on the local backend: the same curves but for time_s and steps_per_s ----
"$armfarm" run sweep.json --backend local --out "$tmp/local" >local.txt 2>&1 || fail "the local run failed: $(cat local.txt)"
"$armfarm" status "$tmp/local" >st3.txt 2>&1 || fail "armfarm status of the local sweep: $(cat st3.txt)"
[ "$(grep -cE ' finished .* - ' st3.txt)" -eq 4 ] || fail "status of the local sweep: $(cat st3.txt)"
n=0
for id in $(cat "$out/slurm/sub_1.list"); do
  [ -d "$tmp/local/$id" ] || fail "the local run has no run $id"
  cmp -s <(cut -d, -f1-9 "$out/$id/progress.csv") <(cut -d, -f1-9 "$tmp/local/$id/progress.csv") || fail "$id: progress.csv differs from the local run's"
  cmp -s <(cut -d, -f1-5 "$out/$id/eval.csv") <(cut -d, -f1-5 "$tmp/local/$id/eval.csv") || fail "$id: eval.csv differs from the local run's"
  n=$((n + $(wc -l <"$out/$id/progress.csv")))
done
[ "$n" -gt 300 ] || fail "too few curve rows compared ($n)"
echo "test_slurm: [${SECONDS} s] PASS: 4 runs' progress.csv and eval.csv ($n progress rows) equal the local backend's"
exit 0
