#!/bin/sh
# The full kill -9 proof of the execution stage (docs/execution.md, "Crash consistency"):
# the execution integration test with 100 kill/restart trials of `qa live` (in-process paper
# broker) and 100 trials that kill `qa exchange` and then `qa live` (FIX), instead of the
# 8 and 3 `make test` runs (QA_EXEC_KILLS, QA_EXEC_FIX_KILLS).
# Usage: scripts/exec-kill-trials.sh [build-dir] [trials]   (from the source tree)
set -eu
SRC=$(pwd)
BUILD=$(cd "${1:-build}" && pwd)
QA_EXEC_KILLS=${2:-100} QA_EXEC_FIX_KILLS=${2:-100} exec sh "$SRC/tests/live/test_exec.sh" "$BUILD/bin/qa" "$SRC" /usr/bin/python3
