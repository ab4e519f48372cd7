#!/bin/sh
# One rank of `mpirun -np 4 qa sweep` killed (SIGKILL) mid-run: mpirun must end the job
# with a non-zero exit naming the killed rank, no results may appear and the chunks left
# must be whole (the merge names the missing ones); running the same command again then
# resumes and gives results equal to an uninterrupted run's, dataset by dataset.
# Usage: test_fault_mpi.sh QA SOURCE_DIR PYTHON3 MPIEXEC
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"; MPIRUN="$4"
. "$SRC/tests/lib.sh"
[ -n "$MPIRUN" ] || { echo "skipped: no mpirun"; exit 77; }
qa_tmpdir fault_mpi
cd "$W" || exit 1
qa_import sp500-daily m.h5
# 8 symbol blocks x 5 parameter blocks: 40 grid chunks, about 10 per rank.
{ sma_sweep_yaml m.h5 2020-12-31; printf 'portfolio: {weighting: equal}\ntop: 5\nchunk: {symbols: 2, params: 5}\n'; } > s.yaml
"$QA" -q sweep --config s.yaml --run-dir straight > log 2>&1 || { echo "FAIL: uninterrupted sweep"; cat log; exit 1; }
MPI="$MPIRUN --allow-run-as-root --oversubscribe -np 4"

# The run, slowed to 0.3 s per chunk so that it is surely killed in the middle.
$MPI "$QA" -q sweep --config s.yaml --run-dir run --chunk-delay-ms 300 > mpi.log 2>&1 &
mpipid=$!
i=0
while [ "$(ls run/chunks 2> /dev/null | grep -c '^chunk-')" -lt 6 ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i + 1)); done
victim=""
for p in $(ps -o pid= --ppid $mpipid); do
    tr '\0' '\n' < /proc/$p/environ 2> /dev/null | grep -qx OMPI_COMM_WORLD_RANK=2 && victim=$p
done
if [ -z "$victim" ]; then ko "rank 2's process not found under mpirun ($mpipid)"; kill $mpipid; wait $mpipid; qa_exit; fi
kill -9 "$victim"
wait $mpipid
rc=$?
done_chunks=$(ls run/chunks | grep -c '^chunk-')
if [ $rc -ne 0 ] && grep -q "exited on signal 9" mpi.log; then ok "mpirun exits $rc naming the killed rank ($done_chunks chunks done)"
else ko "mpirun exit $rc"; cat mpi.log; fi
[ ! -e run/results.h5 ] && ok "no results from the killed run" || ko "results.h5 written by the killed run"
"$QA" sweep merge --config s.yaml --run-dir run > log 2>&1
[ $? -eq 1 ] && grep -q "chunks are missing" log && ok "the merge names the missing chunks, refuses to merge" || { ko "merge of the killed run"; cat log; }

# Resume: the same command again, without the delay.
$MPI "$QA" sweep --config s.yaml --run-dir run > resume.log 2>&1 && grep -q "$done_chunks already done" resume.log \
    && ok "the rerun resumes: $done_chunks chunks already done" || { ko "resume"; cat resume.log; }
if "$PY" -c "import h5py, numpy" 2> /dev/null; then
    "$PY" "$SRC/tests/jobs/same_h5.py" straight/results.h5 run/results.h5 > log 2>&1 \
        && ok "resumed results == uninterrupted results ($(cat log))" || { ko "results differ"; cat log; }
else qa_skip "results comparison (python3-h5py not installed)"; fi
left=$(find run -name '*.tmp-*')
[ -z "$left" ] && ok "no temporary file left after the resume" || ko "temporary files left: $left"
qa_exit
