#!/bin/sh
# POST /api/jobs with "slurm": true on the real single-node cluster (the slurm_cluster
# fixture of tests/jobs): a stress job sized for the cluster goes through qa submit and
# the stress template, runs to the end, and GET /api/runs/{name} shows it ok; job.json
# names the Slurm job. Skipped (77) where the cluster cannot run.
# Usage: test_serve_slurm.sh QA_BIN REPO PYTHON3 FIXTURE_DIR   (SLURM_CONF set by ctest)
set -u
QA=$1 SRC=$2 PY=$3 FIX=$4
. "$SRC/tests/lib.sh"
[ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] || { echo "skipped: no Slurm cluster (SLURM_CONF)"; exit 77; }
"$QA" jobs status 1 > /dev/null 2>&1
scontrol -Q ping 2> /dev/null | grep -q UP || { echo "skipped: the Slurm controller is not up"; exit 77; }
qa_tmpdir serve_slurm
"$QA" serve --config "$FIX/serve.yaml" --set "state_dir=$W/state" --port-file "$W/port" > "$W/out" 2> "$W/err" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$W"' EXIT
i=0
while [ ! -s "$W/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$W/port" ] || { echo "FAIL: qa serve did not start: $(cat "$W/err")"; exit 1; }
URL="http://127.0.0.1:$(cat "$W/port")"
echo "slurm-test password" | "$QA" users add sue --role researcher --state "$W/state" --password-stdin > /dev/null
TOKEN=$(curl -s -H 'Content-Type: application/json' -d '{"user":"sue","password":"slurm-test password"}' \
    "$URL/api/login" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
NAME=slurm_stress_$$
ans=$(curl -s -w ' %{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"kind\":\"stress\",\"config\":\"$FIX/jobs/stress.yaml\",\"name\":\"$NAME\",\"slurm\":true,\"ntasks\":2,\"cpus_per_task\":1,\"time\":\"10\"}" \
    "$URL/api/jobs")
echo "$ans"
case $ans in *' 202') ok "submitted through qa submit" ;; *) ko "POST /api/jobs (slurm): $ans"; qa_exit ;; esac
JOB=$(echo "$ans" | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read().rsplit(" ",1)[0])["slurm_job"])')
"$QA" jobs wait --timeout 240 "$JOB" > "$W/wait" 2>&1 && ok "Slurm job $JOB finished: $(tail -1 "$W/wait")" \
    || ko "qa jobs wait $JOB: $(cat "$W/wait")"
show=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/runs/$NAME")
echo "$show" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
assert d["kind"] == "stress" and d["status"] == "ok", (d.get("kind"), d.get("status"))
assert d["summary"]["portfolio"]["value"] > 0
assert d["run"]["ranks"] == 2, d["run"]["ranks"]  # the requested ntasks reached srun
' && ok "GET /api/runs/$NAME: a finished stress run over 2 ranks" || ko "the run after Slurm: $(echo "$show" | head -c 400)"
grep -q "\"slurm_job\": *$JOB" "$FIX/jobs/$NAME/job.json" && ok "job.json names Slurm job $JOB" \
    || ko "job.json: $(cat "$FIX/jobs/$NAME/job.json")"
ls "$FIX/jobs/$NAME"/slurm-*.out > /dev/null 2>&1 && ok "the job's output is in the run directory" \
    || ko "no slurm-*.out in $FIX/jobs/$NAME"
qa_exit
