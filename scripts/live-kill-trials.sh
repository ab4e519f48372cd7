#!/bin/sh
# The full kill -9 proof of the live service (docs/live.md, "Exactly once"): the live
# integration test with 50 kill/restart trials instead of the 8 `make test` runs, and 50
# across a scheduled configuration reload instead of 3.
# Usage: scripts/live-kill-trials.sh [build-dir] [trials]   (from the source tree)
set -eu
SRC=$(pwd)
BUILD=$(cd "${1:-build}" && pwd)
QA_LIVE_KILLS=${2:-50} QA_LIVE_RELOAD_KILLS=${2:-50} exec sh "$SRC/tests/live/test_live.sh" "$BUILD/bin/qa" "$SRC" /usr/bin/python3 \
    "$BUILD/tests/live/live_inject"
