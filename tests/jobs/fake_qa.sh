#!/bin/bash
# A stand-in for the `qa` subcommands the Slurm templates run (train, sweep, sweep merge,
# stress), for testing the templates on the test cluster before/independently of the real
# engines. Tests point QA_BIN at it. Each rank records what it was given (arguments and
# the environment Slurm set up) in the run directory; the behaviour the templates rely on
# is real: training checkpoints and resumes, sweep chunks are independent and a merge
# fails when a chunk is missing.
#
#   fake_qa.sh train --config CFG --run-dir DIR [--resume]
#       CFG lines: steps=N step_seconds=S. Rank 0 keeps DIR/checkpoint (next step to do).
#       USR1 or TERM: finish the current step, write the checkpoint, exit 0.
#   fake_qa.sh sweep --config CFG --chunk I/N --run-dir DIR
#       writes DIR/chunk-I-of-N.rank-R; exits 3 for chunk $QA_FAKE_FAIL_CHUNK.
#   fake_qa.sh sweep merge --config CFG --run-dir DIR [--chunks N]
#       concatenates every chunk's files into DIR/merged.txt; exit 1 if one is missing.
#   fake_qa.sh stress --config CFG --run-dir DIR
set -u
rank=${SLURM_PROCID:-0}
cmd=${1:-}
shift

config="" run_dir="" chunk="" chunks="" resume=0 sub=""
[ "$cmd" = sweep ] && [ "${1:-}" = merge ] && { sub=merge; shift; }
while [ $# -gt 0 ]; do
    case "$1" in
    --config) config=$2; shift 2 ;;
    --run-dir) run_dir=$2; shift 2 ;;
    --chunk) chunk=$2; shift 2 ;;
    --chunks) chunks=$2; shift 2 ;;
    --resume) resume=1; shift ;;
    *) echo "fake_qa: unexpected argument '$1'" >&2; exit 2 ;;
    esac
done
[ -n "$run_dir" ] || { echo "fake_qa: --run-dir missing" >&2; exit 2; }
if [ -z "$config" ] || [ ! -f "$config" ]; then
    echo "fake_qa: --config '$config' missing" >&2
    exit 2
fi

record_env() { # one line of what Slurm set up for this rank
    echo "rank=$rank localid=${SLURM_LOCALID:-} ntasks=${SLURM_NTASKS:-} cvd=${CUDA_VISIBLE_DEVICES:-unset}" \
        "nccl_debug=${NCCL_DEBUG:-} omp=${OMP_NUM_THREADS:-} restarts=${SLURM_RESTART_COUNT:-0}" \
        "pmix_rank=${PMIX_RANK:-}" >"$1"
}

case "$cmd$sub" in
train)
    steps=$(sed -n 's/^steps=//p' "$config")
    step_s=$(sed -n 's/^step_seconds=//p' "$config")
    restarts=${SLURM_RESTART_COUNT:-0}
    record_env "$run_dir/env.run$restarts.rank$rank"
    start=0
    if [ "$resume" = 1 ] && [ -f "$run_dir/checkpoint" ]; then
        start=$(cat "$run_dir/checkpoint")
    fi
    log=$run_dir/train.rank$rank.log
    echo "run $restarts start $start resume $resume" >>"$log"
    stop=0
    trap 'stop=1' USR1 TERM
    for ((s = start; s < steps; s++)); do
        if [ "$stop" = 1 ]; then
            if [ "$rank" = 0 ]; then
                echo "$s" >"$run_dir/checkpoint.tmp" && mv "$run_dir/checkpoint.tmp" "$run_dir/checkpoint"
            fi
            echo "run $restarts checkpoint $s" >>"$log"
            exit 0
        fi
        sleep "$step_s"
        echo "run $restarts step $s" >>"$log"
    done
    [ "$rank" = 0 ] && echo "$steps" >"$run_dir/checkpoint"
    echo "run $restarts finished" >>"$log"
    ;;
sweep)
    [ -n "$chunk" ] || { echo "fake_qa: --chunk missing" >&2; exit 2; }
    i=${chunk%/*}
    n=${chunk#*/}
    record_env "$run_dir/chunk-$i-of-$n.rank$rank"
    if [ "${QA_FAKE_FAIL_CHUNK:-}" = "$i" ]; then
        echo "fake_qa: chunk $i fails (QA_FAKE_FAIL_CHUNK)" >&2
        rm -f "$run_dir/chunk-$i-of-$n.rank$rank"
        exit 3
    fi
    ;;
sweepmerge)
    [ "$rank" = 0 ] || exit 0
    if [ -z "$chunks" ]; then
        first=$(find "$run_dir" -maxdepth 1 -name 'chunk-*-of-*.rank0' -print -quit)
        [ -n "$first" ] || { echo "fake_qa: no chunks in $run_dir" >&2; exit 1; }
        chunks=${first##*-of-}
        chunks=${chunks%.rank0}
    fi
    : >"$run_dir/merged.tmp"
    for ((i = 0; i < chunks; i++)); do
        files=("$run_dir/chunk-$i-of-$chunks".rank*)
        [ -e "${files[0]}" ] || { echo "fake_qa: chunk $i of $chunks missing" >&2; exit 1; }
        for f in "${files[@]}"; do echo "chunk $i $(cat "$f")" >>"$run_dir/merged.tmp"; done
    done
    mv "$run_dir/merged.tmp" "$run_dir/merged.txt"
    ;;
stress)
    record_env "$run_dir/stress.rank$rank"
    ;;
*)
    echo "fake_qa: unknown command '$cmd'" >&2
    exit 2
    ;;
esac
exit 0
