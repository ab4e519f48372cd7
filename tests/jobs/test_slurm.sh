#!/bin/bash
# Slurm tests on a real single-node cluster (started by slurm_cluster.sh as the ctest
# fixture `slurm_cluster`): submission through `qa submit` (libslurm), monitoring with
# `qa jobs status|wait|cancel`, arrays, dependencies, requeue with checkpoint/resume, and
# the jobs/slurm templates driven end to end with tests/jobs/fake_qa.sh as QA_BIN.
#
#   test_slurm.sh CASE
#     submit | array | cancel | dependency | requeue | train_requeue | sweep_templates | sweep_real
#     | stress_template (these need the cluster) | no_controller | cli (these do not)
#
# Environment (set by tests/jobs/CMakeLists.txt): QA (the qa binary), QA_SOURCE_DIR,
# SLURM_CONF (the fixture cluster), QA_SLURM_WORK (scratch root).
# Exit: 0 pass, 1 fail, 77 skipped (Slurm cannot run here: not root, or no slurmctld).
#
# sweep_real runs the real `qa sweep` on the shipped sample as a 4-task array over MPI,
# resumes a part inside, merges with afterok and compares with a one-process run; it also
# requeues and cancels running sweep tasks.
set -u
CASE=${1:?usage: test_slurm.sh CASE}
QA=${QA:?QA must name the qa binary}
SRC=${QA_SOURCE_DIR:?}
FAKE=$SRC/tests/jobs/fake_qa.sh
PY=${QA_PYTHON3:-/usr/bin/python3} # Debian's python3 has h5py (a pyenv python may not)
WORK=${QA_SLURM_WORK:-/tmp/qa-slurm-tests}/$CASE
T0=$SECONDS

fails=0
ok() { echo "ok: $*"; }
bad() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
check() { # check <description> <command...>
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
die() {
    echo "FAIL: $*"
    dump
    exit 1
}
dump() { # context for a failure: the queue and the daemons' last words
    echo "--- squeue"
    timeout 5 squeue 2>&1 | head -20
    local d
    d=$(dirname "${SLURM_CONF:-/nonexistent}")
    [ -f "$d/log/slurmctld.log" ] && { echo "--- slurmctld.log"; tail -n 15 "$d/log/slurmctld.log"; }
}
finish() {
    echo "$CASE: $((SECONDS - T0)) s"
    if [ "$fails" -ne 0 ]; then
        dump
        exit 1
    fi
    exit 0
}

# 0 when this qa talks to Slurm (built with libslurm).
qa_has_slurm() {
    ! SLURM_CONF=/nonexistent/slurm.conf "$QA" jobs status 1 2>&1 | grep -q "this build has no libslurm"
}

need_cluster() {
    if ! qa_has_slurm; then
        echo "skipped: qa was built without libslurm (QA_JOBS_WITHOUT_SLURM or libslurm-dev missing)"
        exit 77
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "skipped: Slurm tests need root (the test cluster runs slurmctld/slurmd as root)"
        exit 77
    fi
    if ! command -v slurmctld >/dev/null 2>&1; then
        echo "skipped: slurmctld not installed (Debian: slurm-wlm slurmctld slurmd munge)"
        exit 77
    fi
    if [ -z "${SLURM_CONF:-}" ] || [ ! -f "$SLURM_CONF" ]; then
        die "no test cluster: SLURM_CONF='${SLURM_CONF:-}' (the slurm_cluster_start fixture failed?)"
    fi
    timeout 5 sinfo -h >/dev/null 2>&1 || die "test cluster in $(dirname "$SLURM_CONF") not answering (sinfo)"
}

fresh_work() {
    rm -rf "${WORK:?}"
    mkdir -p "$WORK"
    cd "$WORK" || exit 1
}

# json_field <json> <python expression over d>: evaluates on `qa jobs status --json`.
json_eval() {
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2" <<<"$1"
}

# state_of <id>: the first record's state ("" when unknown).
state_of() {
    local j
    j=$("$QA" jobs status --json "$1" 2>/dev/null) || return 0
    json_eval "$j" 'd["records"][0]["state"]'
}

# wait_for <seconds> <description> <command...>: polls every 0.1 s.
wait_for() {
    local t=$1 what=$2 n
    shift 2
    for ((n = 0; n < t * 10; n++)); do
        "$@" && return 0
        sleep 0.1
    done
    die "timed out after $t s waiting for: $what"
}

is_state() { [ "$(state_of "$1")" = "$2" ]; }
# The job went back to the queue after a requeue: PENDING with restarts >= n.
is_requeued() {
    local j
    j=$("$QA" jobs status --json "$1" 2>/dev/null) || return 1
    [ "$(json_eval "$j" 'd["records"][0]["state"]')" = PENDING ] &&
        [ "$(json_eval "$j" 'd["records"][0]["restarts"]')" -ge "$2" ]
}
# A requeued job waits for the cluster's requeue delay (cred_expire, 120 s by default);
# the tests do not. Two traps: the controller sets that delay only once the old batch step
# has ended (before, the job already shows PENDING and an update is overwritten), and
# slurmd refuses a credential issued in the same second as the requeue revoked the old one
# ("Job credential revoked"). So wait for the delay to be set (reason BeginTime), let the
# clock pass the revocation's second, then start it now (a start time in the future would
# wait for the backfill pass, 30 s); re-apply only if the job is still waiting much later.
start_now() {
    local n j st reason last=-100
    for ((n = 0; n < 600; n++)); do
        j=$("$QA" jobs status --json "$1" 2>/dev/null) || j=
        st=$(json_eval "$j" 'd["records"][0]["state"]' 2>/dev/null)
        reason=$(json_eval "$j" 'd["records"][0]["reason"]' 2>/dev/null)
        [ -n "$j" ] && [ "$st" != PENDING ] && return 0
        if [ "$reason" = BeginTime ] && ((n - last >= 100)); then
            sleep 1.2
            scontrol update JobId="$1" StartTime=now >/dev/null 2>&1 && last=$n
        fi
        sleep 0.1
    done
    die "job $1 still PENDING 60 s after its requeue"
}

submit() { # submit <args...>: qa submit, the job id on stdout; dies when it fails
    local id
    id=$("$QA" submit "$@") || die "qa submit $*"
    [[ "$id" =~ ^[0-9]+$ ]] || die "qa submit printed '$id', not a job id"
    echo "$id"
}

lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }

# ---- (a) one batch job from a template --------------------------------------------------
case_submit() {
    need_cluster
    fresh_work
    cat >job.sbatch <<'EOF'
#!/bin/bash
#SBATCH --job-name=qa-test-submit
#SBATCH --time=2
#SBATCH --ntasks=2
#SBATCH --output=job-%j.out
echo "args=[$1][$2] task_count=$SLURM_NTASKS name=$SLURM_JOB_NAME pwd=$PWD"
echo "export=$QA_TEST_VALUE from_env=$QA_FROM_ENV"
srun --mpi=pmix bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"' | sort
EOF
    local id out
    id=$(QA_FROM_ENV=inherited submit --export QA_TEST_VALUE=42 job.sbatch first "two words")
    ok "qa submit printed job id $id"
    check "qa jobs wait exits 0 for a job that succeeds" "$QA" jobs wait --timeout 60 "$id"
    out=job-$id.out
    check "output file $out exists (--output from #SBATCH, %j expanded)" test -f "$out"
    check "script arguments arrive as \$1 \$2" grep -qx 'args=\[first\]\[two words\] task_count=2 name=qa-test-submit pwd='"$WORK" "$out"
    check "--export and the submitter's environment reach the job" grep -qx 'export=42 from_env=inherited' "$out"
    check "srun --mpi=pmix runs the 2 tasks of --ntasks=2" diff <(printf 'rank 0 of 2\nrank 1 of 2\n') <(grep '^rank' "$out")
    local j
    j=$("$QA" jobs status --json "$id")
    check "status: COMPLETED, exit 0, done" test "$(json_eval "$j" '(d["records"][0]["state"], d["records"][0]["exit_code"], d["done"])')" = "('COMPLETED', 0, True)"

    # A failing script: exit code 3, FAILED, and wait exits 1.
    printf '#!/bin/bash\n#SBATCH --output=fail-%%j.out\nexit 3\n' >fail.sbatch
    id=$(submit fail.sbatch)
    "$QA" jobs wait --timeout 60 "$id" >wait.out 2>&1
    check "qa jobs wait exits 1 for a failed job" test $? -eq 1
    check "wait prints the final state" grep -q "FAILED" wait.out
    j=$("$QA" jobs status --json "$id")
    check "status: FAILED with exit code 3" test "$(json_eval "$j" '(d["records"][0]["state"], d["records"][0]["exit_code"])')" = "('FAILED', 3)"

    # Command-line options override #SBATCH lines (checked on the controller's record).
    id=$(submit --job-name overridden --time 7 --output over-%j.out job.sbatch a b)
    check "command line overrides #SBATCH (name, time limit)" \
        bash -c "scontrol show job $id | grep -q 'JobName=overridden' && scontrol show job $id | grep -q 'TimeLimit=00:07:00'"
    "$QA" jobs wait --timeout 60 "$id" >/dev/null
    # An unsupported #SBATCH option is an error naming file:line, and nothing is submitted.
    printf '#!/bin/bash\n#SBATCH --time=1\n#SBATCH --exclusive\ntrue\n' >unsupported.sbatch
    out=$("$QA" submit unsupported.sbatch 2>&1)
    check "unsupported #SBATCH option: exit 1" test $? -eq 1
    check "unsupported #SBATCH option names file:line" grep -q "unsupported.sbatch:3: unsupported #SBATCH option '--exclusive'" <<<"$out"
    finish
}

# ---- (b) a 4-task job array ------------------------------------------------------------------
case_array() {
    need_cluster
    fresh_work
    cat >array.sbatch <<'EOF'
#!/bin/bash
#SBATCH --output=array-%A_%a.out
echo "$SLURM_ARRAY_TASK_ID" > "task-$SLURM_ARRAY_TASK_ID.txt"
echo "count=$SLURM_ARRAY_TASK_COUNT job=$SLURM_ARRAY_JOB_ID" >> "task-$SLURM_ARRAY_TASK_ID.txt"
EOF
    local id j i
    id=$(submit --array 0-3 array.sbatch)
    check "qa jobs wait on the array exits 0 when every task completed" "$QA" jobs wait --timeout 60 "$id"
    for i in 0 1 2 3; do
        check "task $i wrote its SLURM_ARRAY_TASK_ID" diff <(printf '%s\ncount=4 job=%s\n' "$i" "$id") "task-$i.txt"
        check "task $i has its own output file" test -f "array-${id}_$i.out"
    done
    check "exactly 4 task files" test "$(find . -name 'task-*.txt' | wc -l)" -eq 4
    j=$("$QA" jobs status --json "$id")
    check "status lists the 4 tasks, all COMPLETED" test \
        "$(json_eval "$j" 'sorted((r["array_task_id"], r["state"]) for r in d["records"])')" = \
        "[(0, 'COMPLETED'), (1, 'COMPLETED'), (2, 'COMPLETED'), (3, 'COMPLETED')]"
    j=$("$QA" jobs status --json "${id}_2")
    check "status ${id}_2 shows that one task" test "$(json_eval "$j" '[(r["array_task_id"], r["state"]) for r in d["records"]]')" = "[(2, 'COMPLETED')]"

    # One failing task makes wait exit 1 and shows which.
    # shellcheck disable=SC2016 # expanded in the job
    printf '#!/bin/bash\n#SBATCH --output=/dev/null\n[ "$SLURM_ARRAY_TASK_ID" != 1 ]\n' >onefails.sbatch
    id=$(submit --array 0-2 onefails.sbatch)
    "$QA" jobs wait --timeout 60 --json "$id" >wait.json
    check "wait exits 1 when one task failed" test $? -eq 1
    check "the failed task is task 1" test "$(json_eval "$(cat wait.json)" '[r["array_task_id"] for r in d["records"] if r["state"] != "COMPLETED"]')" = "[1]"
    finish
}

# ---- (c) cancel ----------------------------------------------------------------------------------
case_cancel() {
    need_cluster
    fresh_work
    cat >long.sbatch <<'EOF'
#!/bin/bash
#SBATCH --output=long-%j.out
sleep 300 &
echo $! > sleep.pid
wait
EOF
    local id out pid
    id=$(submit long.sbatch)
    wait_for 20 "job $id RUNNING" is_state "$id" RUNNING
    wait_for 10 "the job's sleep started" test -s sleep.pid
    pid=$(cat sleep.pid)
    check "qa jobs cancel exits 0" "$QA" jobs cancel "$id"
    out=$("$QA" jobs wait --timeout 30 "$id")
    check "qa jobs wait exits 1 for a cancelled job" test $? -eq 1
    check "wait reports CANCELLED" grep -q "CANCELLED" <<<"$out"
    check "qa jobs status reports CANCELLED" test "$(state_of "$id")" = CANCELLED
    wait_for 10 "the job's processes to end" bash -c "! kill -0 $pid 2>/dev/null"
    ok "the job's sleep (pid $pid) is gone"
    "$QA" jobs cancel "$id" 2>cancel2.err
    check "cancelling a finished job exits 1" test $? -eq 1
    check "... saying it has finished" grep -q "already finished" cancel2.err

    # A whole array, pending tasks included (4 tasks x 2 CPUs on a 4-CPU node).
    id=$(submit --array 0-3 --cpus-per-task 2 long.sbatch)
    wait_for 20 "array $id running" is_state "$id" RUNNING
    check "qa jobs cancel on an array exits 0" "$QA" jobs cancel "$id"
    "$QA" jobs wait --timeout 30 --json "$id" >wait.json
    check "every array task ends CANCELLED" test "$(json_eval "$(cat wait.json)" 'sorted(set(r["state"] for r in d["records"]))')" = "['CANCELLED']"
    "$QA" jobs status 4000000000 2>unknown.err
    check "status of an unknown job exits 1" test $? -eq 1
    check "... saying the controller does not know it" grep -q "unknown to the controller" unknown.err
    finish
}

# ---- (d) dependency --------------------------------------------------------------------------
case_dependency() {
    need_cluster
    fresh_work
    cat >first.sbatch <<'EOF'
#!/bin/bash
#SBATCH --output=first-%j.out
sleep 2
date +%s.%N > first.end
EOF
    cat >second.sbatch <<'EOF'
#!/bin/bash
#SBATCH --output=second-%j.out
date +%s.%N > second.start
if [ -f first.end ]; then echo "first had finished"; else echo "first had NOT finished"; fi > second.saw
EOF
    local a b j
    a=$(submit first.sbatch)
    b=$(submit --dependency "afterok:$a" second.sbatch)
    j=$("$QA" jobs status --json "$b")
    check "the dependent job waits: PENDING (Dependency)" test \
        "$(json_eval "$j" '(d["records"][0]["state"], d["records"][0]["reason"])')" = "('PENDING', 'Dependency')"
    check "wait for the dependent job exits 0" "$QA" jobs wait --timeout 60 "$b"
    check "the dependent job saw the first job's result" grep -qx "first had finished" second.saw
    check "it started after the first ended" python3 -c "import sys; sys.exit(not float(open('second.start').read()) >= float(open('first.end').read()))"

    # afterok on a job that fails: the dependent never runs.
    printf '#!/bin/bash\n#SBATCH --output=/dev/null\nexit 1\n' >failing.sbatch
    a=$(submit failing.sbatch)
    b=$(submit --dependency "afterok:$a" second.sbatch)
    "$QA" jobs wait --timeout 60 "$a" >/dev/null
    wait_for 15 "job $b marked DependencyNeverSatisfied" bash -c \
        "'$QA' jobs status --json $b | grep -q DependencyNeverSatisfied"
    ok "afterok on a failed job: the dependent stays pending, DependencyNeverSatisfied"
    check "cancel the never-satisfied job" "$QA" jobs cancel "$b"
    check "it never ran" test "$(find . -name "second-$b.out" | wc -l)" -eq 0
    finish
}

# ---- (e) requeue with checkpoint/resume -------------------------------------------------------
case_requeue() {
    need_cluster
    fresh_work
    # Counts steps 0..29 (0.05 s each), checkpointing the next step after every one; on
    # TERM (requeue/preemption) it stops at a step boundary. A restarted run starts from
    # the checkpoint. Each step is logged once, with the run that did it. The commit
    # (log line + checkpoint) uses shell builtins only: Slurm sends TERM to every process
    # of the job, so an external command (mv) running at that moment would die half way.
    cat >ckpt.sbatch <<'EOF'
#!/bin/bash
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=ckpt-%j.out
run=${SLURM_RESTART_COUNT:-0}
start=0
[ -f checkpoint ] && start=$(cat checkpoint)
echo "run $run resume $start"
stop=0
trap 'stop=1' TERM
for ((s = start; s < 30; s++)); do
    [ "$stop" = 1 ] && { echo "run $run stopped at $s"; exit 0; }
    sleep 0.05
    echo "run $run step $s" >> steps.log
    echo $((s + 1)) > checkpoint
done
echo "run $run finished"
EOF
    local id
    id=$(submit ckpt.sbatch)
    # shellcheck disable=SC2016 # expanded by the inner shell
    wait_for 30 "5 steps done" bash -c '[ "$(wc -l < steps.log 2>/dev/null || echo 0)" -ge 5 ]'
    check "scontrol requeue" scontrol requeue "$id"
    wait_for 20 "job $id back in the queue (PENDING, restarts 1)" is_requeued "$id" 1
    start_now "$id"
    check "the requeued job completes" "$QA" jobs wait --timeout 60 "$id"
    local last0 resume1
    last0=$(sed -n 's/^run 0 step //p' steps.log | tail -1)
    resume1=$(sed -n 's/^run 1 resume //p' "ckpt-$id.out")
    check "first run stopped part way (last step $last0)" test "${last0:-99}" -lt 29
    check "second run resumed from the checkpoint: step $resume1 = $last0 + 1" test "$resume1" = $((last0 + 1))
    check "every step done exactly once, in order" diff <(seq 0 29) <(sed 's/^run [0-9]* step //' steps.log)
    check "output of both runs in one file (--open-mode=append)" \
        bash -c "grep -q '^run 0 resume 0' ckpt-$id.out && grep -q '^run 1 finished' ckpt-$id.out"
    check "status shows 1 restart" test "$(json_eval "$("$QA" jobs status --json "$id")" 'd["records"][0]["restarts"]')" = 1
    finish
}

# ---- (e') train.sbatch: USR1 -> checkpoint -> requeue -> resume, GPUs per rank ----------------
case_train_requeue() {
    need_cluster
    fresh_work
    local dir gpus id
    dir=$(dirname "$SLURM_CONF")
    gpus=$(cat "$dir/gpus" 2>/dev/null || echo 0)
    printf 'steps=30\nstep_seconds=0.05\n' >train.cfg
    # The template asks for 4 GPUs x 8 CPUs; the test node has 2 fake GPUs and 4 CPUs.
    id=$(QA_BIN=$FAKE submit --gpus-per-node "$gpus" --ntasks-per-node 2 --cpus-per-task 1 --time 5 \
        --output "$WORK/train-%j.out" train train.cfg "$WORK/run")
    local desc
    desc=$(scontrol show job "$id")
    check "the controller got the template's --requeue" grep -q "Requeue=1 " <<<"$desc"
    if [ "$gpus" -gt 0 ]; then
        check "the controller got --gpus-per-node $gpus" grep -q "TresPerNode=gres:gpu:$gpus" <<<"$desc"
    fi
    # shellcheck disable=SC2016 # expanded by the inner shell
    wait_for 30 "rank 0 did 5 steps" bash -c '[ "$(grep -c "^run 0 step" run/train.rank0.log 2>/dev/null)" -ge 5 ]'
    # What --signal=B:USR1@120 does near the time limit: USR1 to the batch shell only.
    check "qa jobs cancel --signal USR1 --batch" "$QA" jobs cancel --signal USR1 --batch "$id"
    wait_for 30 "job $id requeued by the template's trap" is_requeued "$id" 1
    start_now "$id"
    check "the requeued training completes" "$QA" jobs wait --timeout 60 "$id"
    local out=train-$id.out ck r
    check "the trap logged USR1 and the requeue" bash -c "grep -q 'USR1: asking every rank' $out && grep -q 'requeueing job' $out"
    for r in 0 1; do
        ck=$(sed -n 's/^run 0 checkpoint //p' "run/train.rank$r.log")
        check "rank $r checkpointed on USR1 (at step ${ck:-none})" test -n "$ck"
        check "rank $r: second run got --resume" grep -q "^run 1 start [0-9]* resume 1" "run/train.rank$r.log"
        check "rank $r finished in the second run" grep -qx "run 1 finished" "run/train.rank$r.log"
    done
    ck=$(sed -n 's/^run 0 checkpoint //p' run/train.rank0.log)
    check "the second run started at rank 0's checkpoint ($ck)" grep -qx "run 1 start $ck resume 1" run/train.rank0.log
    check "rank 0: steps 0..29 each done once across the two runs" \
        diff <(seq 0 29) <(sed -n 's/^run [01] step //p' run/train.rank0.log)
    check "one rank per task, local ids 0 and 1" \
        diff <(printf 'localid=0\nlocalid=1\n') <(cat run/env.run0.rank* | grep -o 'localid=[0-9]*' | sort)
    check "srun gave each rank SLURM_NTASKS=2, OMP_NUM_THREADS=1, NCCL_DEBUG=WARN" \
        bash -c "grep -h 'ntasks=2 ' run/env.run0.rank* | grep 'nccl_debug=WARN omp=1' | wc -l | grep -qx 2"
    if [ "$gpus" -gt 0 ]; then
        check "every rank sees the node's $gpus GPUs (CUDA_VISIBLE_DEVICES=0,1)" \
            test "$(grep -ho 'cvd=[^ ]*' run/env.run0.rank* | sort -u)" = "cvd=0,1"
    else
        echo "note: the test cluster has no fake GPUs (mknod not allowed); GPU binding not checked"
    fi
    check "the restarted run saw SLURM_RESTART_COUNT=1" grep -q 'restarts=1' run/env.run1.rank0
    finish
}

# ---- sweep.sbatch + merge.sbatch: chunks, afterok merge, re-running a failed chunk ------------
case_sweep_templates() {
    need_cluster
    fresh_work
    echo "grid: fake" >sweep.cfg
    local run=$WORK/run id merge j
    # Chunk 2 fails: the merge (afterok) must not run.
    id=$(QA_BIN=$FAKE submit --array 0-3 --gpus-per-node 0 --ntasks-per-node 2 --cpus-per-task 1 \
        --export QA_FAKE_FAIL_CHUNK=2 --output "$WORK/sweep-%A_%a.out" sweep sweep.cfg "$run")
    merge=$(QA_BIN=$FAKE submit --dependency "afterok:$id" --output "$WORK/merge-%j.out" merge sweep.cfg "$run")
    "$QA" jobs wait --timeout 60 --json "$id" >wait.json
    check "array wait exits 1: one chunk failed" test $? -eq 1
    check "only chunk 2 failed" test "$(json_eval "$(cat wait.json)" '[(r["array_task_id"], r["exit_code"]) for r in d["records"] if r["state"] != "COMPLETED"]')" = "[(2, 3)]"
    local i
    for i in 0 1 3; do
        check "chunk $i ran as --chunk $i/4 on 2 ranks" test "$(find "$run" -name "chunk-$i-of-4.rank*" | wc -l)" -eq 2
    done
    wait_for 15 "merge job blocked (DependencyNeverSatisfied)" bash -c \
        "'$QA' jobs status --json $merge | grep -q DependencyNeverSatisfied"
    ok "the merge did not start after a failed chunk"
    check "cancel the blocked merge" "$QA" jobs cancel "$merge"

    # Re-run only chunk 2 with the original chunk count, then merge after it.
    id=$(QA_BIN=$FAKE submit --array 2 --gpus-per-node 0 --ntasks-per-node 2 --cpus-per-task 1 \
        --export QA_CHUNKS=4 --output "$WORK/sweep-%A_%a.out" sweep sweep.cfg "$run")
    merge=$(QA_BIN=$FAKE submit --dependency "afterok:$id" --output "$WORK/merge-%j.out" merge sweep.cfg "$run")
    check "the re-run chunk completes" "$QA" jobs wait --timeout 60 "$id"
    check "the merge runs after it and completes" "$QA" jobs wait --timeout 60 "$merge"
    check "merged result has 4 chunks x 2 ranks" test "$(lines "$run/merged.txt")" -eq 8
    check "merged chunks are 0..3" diff <(printf '0\n1\n2\n3\n') <(awk '{print $2}' "$run/merged.txt" | sort -u)

    # The template refuses an array index outside the chunk count.
    id=$(QA_BIN=$FAKE submit --array 5 --gpus-per-node 0 --ntasks-per-node 1 --cpus-per-task 1 \
        --export QA_CHUNKS=4 --output "$WORK/bad-%A_%a.out" sweep sweep.cfg "$run")
    "$QA" jobs wait --timeout 60 "$id" >/dev/null
    check "index 5 of 4 chunks fails with a clear message" grep -q "array index 5 is not a chunk of 4" "$WORK/bad-${id}_5.out"
    finish
}

# ---- the real qa sweep as a job array: parts, resume inside a part, merge == one process ----
case_sweep_real() {
    need_cluster
    fresh_work
    "$QA" -q data import --preset sp500-daily --data-root "$SRC/datasets/sample" --out "$WORK/m.h5" 2>/dev/null ||
        die "import of the shipped sample failed"
    cat >sweep.yaml <<EOF
data: $WORK/m.h5
strategy: sma_cross
start: 2000-01-01
grid: {fast: [5, 10, 20], slow: [50, 100, 150, 200]}
chunk: {symbols: 4, params: 3}
multiple_testing: {enabled: false}
EOF
    # A part that was cut off after one of its chunks (as a killed task leaves it).
    "$QA" -q sweep --config sweep.yaml --run-dir "$WORK/run" --chunk 2/4 --max-chunks 1 >/dev/null 2>&1
    local id merge
    id=$(QA_BIN=$QA submit --array 0-3 --gpus-per-node 0 --ntasks-per-node 2 --cpus-per-task 1 \
        --output "$WORK/sweep-%A_%a.out" sweep sweep.yaml "$WORK/run")
    merge=$(QA_BIN=$QA submit --dependency "afterok:$id" --ntasks 1 --output "$WORK/merge-%j.out" merge sweep.yaml "$WORK/run")
    check "the 4-task sweep array completes" "$QA" jobs wait --timeout 90 "$id"
    check "the dependent merge completes" "$QA" jobs wait --timeout 60 "$merge"
    check "task 2 resumed: its finished chunk was not recomputed" grep -q "3 computed, 1 already done" "$WORK/sweep-${id}_2.out"
    check "tasks ran on 2 MPI ranks" grep -q "2 rank(s)" "$WORK/sweep-${id}_0.out"
    "$QA" -q sweep --config sweep.yaml --run-dir "$WORK/single" >/dev/null 2>&1 || bad "single-process sweep"
    check "merged array result == one-process result (every dataset, bit for bit)" \
        "$PY" "$SRC/tests/jobs/same_h5.py" "$WORK/run/results.h5" "$WORK/single/results.h5"

    # Requeue a running task: SIGTERM finishes the chunk in progress and the requeued
    # task resumes after it. A pause after each chunk (--chunk-delay-ms) makes the run
    # long enough to catch on any machine.
    cat >slow.yaml <<EOF
data: $WORK/m.h5
strategy: sma_cross
grid: {fast: {start: 2, stop: 31, step: 1}, slow: [60, 120]}
chunk: {symbols: 16, params: 6}
multiple_testing: {enabled: false}
EOF
    id=$(QA_BIN=$QA submit --array 0 --export QA_CHUNKS=1 --gpus-per-node 0 --ntasks-per-node 1 --cpus-per-task 1 \
        --output "$WORK/slow-%A_%a.out" sweep slow.yaml "$WORK/slow" --chunk-delay-ms 1000)
    # shellcheck disable=SC2016 # expanded by the inner shell
    wait_for 60 "two chunks of the slow sweep done" bash -c '[ "$(ls slow/chunks 2>/dev/null | grep -c "^chunk-.*h5$")" -ge 2 ]'
    check "scontrol requeue of the running task" scontrol requeue "${id}_0"
    wait_for 30 "task ${id}_0 requeued" is_requeued "${id}_0" 1
    start_now "${id}_0"
    check "the requeued task completes" "$QA" jobs wait --timeout 90 "${id}_0"
    local done_before
    done_before=$(sed -n 's/.*chunks: [0-9]* computed, \([0-9]*\) already done.*/\1/p' "$WORK/slow-${id}_0.out" | tail -1)
    check "the rerun skipped the chunks finished before the requeue (${done_before:-none})" test "${done_before:-0}" -ge 2
    check "the run directory has all 10 chunks" test "$(ls slow/chunks | grep -c '^chunk-.*h5$')" -eq 10
    check "the requeued run matches an uninterrupted one" bash -c \
        "'$QA' -q sweep --config slow.yaml --run-dir '$WORK/slow1' >/dev/null 2>&1 && '$QA' -q sweep merge --config slow.yaml --run-dir '$WORK/slow' >/dev/null 2>&1 && '$PY' '$SRC/tests/jobs/same_h5.py' '$WORK/slow/results.h5' '$WORK/slow1/results.h5'"

    # Cancel a running task: reported CANCELLED, and wait exits 1.
    id=$(QA_BIN=$QA submit --array 0 --export QA_CHUNKS=1 --gpus-per-node 0 --ntasks-per-node 1 --cpus-per-task 1 \
        --output "$WORK/cancel-%A_%a.out" sweep slow.yaml "$WORK/cancelled" --chunk-delay-ms 1000)
    wait_for 60 "task ${id}_0 running" is_state "${id}_0" RUNNING
    check "qa jobs cancel" "$QA" jobs cancel "$id"
    wait_for 30 "task reported CANCELLED" is_state "${id}_0" CANCELLED
    "$QA" jobs wait --timeout 30 "$id" >/dev/null 2>&1
    check "qa jobs wait exits 1 for a cancelled sweep" test $? -eq 1
    finish
}

# ---- stress.sbatch: ranks over srun, arguments, environment ---------------------------------
case_stress_template() {
    need_cluster
    fresh_work
    echo "portfolio: fake" >stress.cfg
    local id r
    id=$(QA_BIN=$FAKE submit --ntasks 2 --cpus-per-task 1 --output "$WORK/stress-%j.out" stress stress.cfg "$WORK/run")
    check "the stress job completes" "$QA" jobs wait --timeout 60 "$id"
    for r in 0 1; do
        check "rank $r ran qa stress with the run dir" test -f "run/stress.rank$r"
    done
    check "2 ranks, OMP_NUM_THREADS=1" bash -c "grep -h 'ntasks=2 ' run/stress.rank* | grep -c 'omp=1' | grep -qx 2"
    check "the template logged its settings" grep -q "stress.sbatch\[$id\]: ntasks=2" "stress-$id.out"
    # Without arguments the template refuses to run, saying how to call it.
    id=$(QA_BIN=$FAKE submit --ntasks 1 --cpus-per-task 1 --output "$WORK/noargs-%j.out" stress)
    "$QA" jobs wait --timeout 60 "$id" >/dev/null
    check "stress.sbatch without CONFIG RUN_DIR fails with its usage" grep -q "usage: stress.sbatch CONFIG RUN_DIR" "noargs-$id.out"
    finish
}

# ---- command line without a cluster: option precedence, config file, usage errors -------
case_cli() {
    fresh_work
    local out rc
    cat >job.sbatch <<'EOF'
#!/bin/bash
#SBATCH --partition=from-script --nodes=1 --time=10 --job-name=script-name
#SBATCH --gpus-per-node=4 --requeue
true
EOF
    cat >submit.yaml <<'EOF'
template: job.sbatch
args: [one, two]
partition: from-config
nodes: 2
requeue: false
export: [QA_SEED=7]
EOF
    out=$("$QA" submit --dry-run --config submit.yaml --nodes 3 --export QA_X=1)
    check "dry run exits 0" test $? -eq 0
    check "the command line overrides the config (nodes 3)" grep -qx "nodes: 3" <<<"$out"
    check "the config overrides #SBATCH (partition)" grep -qx "partition: from-config" <<<"$out"
    check "the config overrides #SBATCH (requeue)" grep -qx "requeue: no" <<<"$out"
    check "#SBATCH time stays where nothing overrides it" grep -qx "time: 10" <<<"$out"
    check "#SBATCH job name stays" grep -qx "job-name: script-name" <<<"$out"
    check "#SBATCH gpus stay" grep -qx "gpus-per-node: 4" <<<"$out"
    check "template from the config" grep -qx "template: job.sbatch" <<<"$out"
    check "args from the config" grep -qx "args: one two" <<<"$out"
    check "exports from config then command line" diff <(printf 'export: QA_SEED=7\nexport: QA_X=1\n') <(grep '^export' <<<"$out")
    out=$("$QA" submit --dry-run --config submit.yaml job.sbatch three)
    check "a TEMPLATE on the command line replaces the config's template and args" grep -qx "args: three" <<<"$out"
    out=$("$QA" submit --dry-run --gpus-per-node 0 train cfg run)
    check "a template by name (train) is found in jobs/slurm" grep -qx "template: $SRC/jobs/slurm/train.sbatch" <<<"$out"
    check "--gpus-per-node 0 drops the template's GPUs" grep -qx "gpus-per-node: 0" <<<"$out"
    check "train's signal is B:USR1@120" grep -qx "signal: B:USR1@120" <<<"$out"

    printf 'nodes: x\n' >bad.yaml
    out=$("$QA" submit --dry-run --config bad.yaml job.sbatch 2>&1)
    check "bad config value: exit 1" test $? -eq 1
    check "... names file:line and key" grep -qx "qa submit: bad.yaml:1: key 'nodes': bad --nodes 'x' (an integer in \[1, 65535\])" <<<"$out"
    printf 'nodse: 2\n' >bad.yaml
    out=$("$QA" submit --dry-run --config bad.yaml job.sbatch 2>&1)
    check "unknown config key suggests the right one" grep -q "did you mean 'nodes'" <<<"$out"
    "$QA" submit --dry-run --time 1h job.sbatch >/dev/null 2>&1
    check "bad --time: usage error (2)" test $? -eq 2
    "$QA" submit >/dev/null 2>&1
    check "no template: usage error (2)" test $? -eq 2
    "$QA" submit --bogus job.sbatch >/dev/null 2>&1
    check "unknown option: usage error (2)" test $? -eq 2
    out=$("$QA" submit --dry-run no-such-template 2>&1)
    rc=$?
    check "unknown template: exit 1" test "$rc" -eq 1
    check "... naming it" grep -q "template 'no-such-template' not found" <<<"$out"
    "$QA" jobs wait 12x >/dev/null 2>&1
    check "bad job id: usage error (2)" test $? -eq 2
    "$QA" jobs cancel --batch 12 >/dev/null 2>&1
    check "--batch without --signal: usage error (2)" test $? -eq 2
    "$QA" jobs frob >/dev/null 2>&1
    check "unknown jobs subcommand: usage error (2)" test $? -eq 2
    local c
    for c in "submit --help" "jobs --help" "jobs status --help" "jobs wait --help" "jobs cancel --help"; do
        # shellcheck disable=SC2086 # the command words
        check "qa $c exits 0" "$QA" $c
    done
    out=$("$QA" --help)
    check "qa --help lists submit" grep -q '^  submit ' <<<"$out"
    check "qa --help lists jobs" grep -q '^  jobs ' <<<"$out"
    finish
}

# ---- (f) no controller: one clear line, exit 1, no libslurm exit ---------------------------
case_no_controller() {
    fresh_work
    printf '#!/bin/bash\ntrue\n' >job.sbatch
    local out rc
    if ! qa_has_slurm; then # the fallback: one clear line, exit 1, for every command
        for c in "submit job.sbatch" "jobs status 1" "jobs wait 1" "jobs cancel 1"; do
            # shellcheck disable=SC2086 # the command words
            out=$("$QA" $c 2>&1)
            rc=$?
            check "without libslurm: qa $c exits 1" test "$rc" -eq 1
            check "... with one line saying so" test "$(grep -c 'this build has no libslurm' <<<"$out")" -eq 1 -a "$(wc -l <<<"$out")" -eq 1
        done
        finish
    fi
    out=$(SLURM_CONF=$WORK/nonexistent/slurm.conf "$QA" submit job.sbatch 2>&1)
    rc=$?
    check "SLURM_CONF to a missing file: exit 1" test "$rc" -eq 1
    check "... one line" test "$(wc -l <<<"$out")" -eq 1
    check "... saying so" grep -qx "qa submit: no Slurm controller configured (SLURM_CONF=$WORK/nonexistent/slurm.conf: No such file or directory)" <<<"$out"
    if [ ! -e /etc/slurm/slurm.conf ]; then
        out=$(env -u SLURM_CONF "$QA" jobs status 1 2>&1)
        rc=$?
        check "SLURM_CONF unset and no /etc/slurm/slurm.conf: exit 1, one line" test "$rc" -eq 1 -a "$(wc -l <<<"$out")" -eq 1
        check "... the message" grep -qx "qa jobs status: no Slurm controller configured (SLURM_CONF unset and /etc/slurm/slurm.conf missing)" <<<"$out"
    fi
    # A configuration whose controller does not answer (nothing listens on port 6899).
    cat >unreachable.conf <<'EOF'
ClusterName=nowhere
SlurmctldHost=localhost
SlurmctldPort=6899
AuthType=auth/munge
MessageTimeout=1
NodeName=localhost CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES
EOF
    out=$(SLURM_CONF=$WORK/unreachable.conf timeout 30 "$QA" submit job.sbatch 2>&1)
    rc=$?
    check "unreachable controller: exit 1" test "$rc" -eq 1
    check "... one line naming the controller" grep -qx "qa submit: cannot reach the Slurm controller localhost:6899 (config $WORK/unreachable.conf): .*" <<<"$out"
    check "... and nothing else" test "$(wc -l <<<"$out")" -eq 1
    out=$(SLURM_CONF=$WORK/unreachable.conf timeout 30 "$QA" jobs wait 1 2>&1)
    check "qa jobs wait against it: exit 1, one line" test $? -eq 1 -a "$(wc -l <<<"$out")" -eq 1
    finish
}

case "$CASE" in
submit | array | cancel | dependency | requeue | train_requeue | sweep_templates | sweep_real | stress_template | no_controller | cli)
    "case_$CASE"
    ;;
*)
    echo "unknown case '$CASE'" >&2
    exit 2
    ;;
esac
