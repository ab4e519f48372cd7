#!/bin/sh
# Installs the Debian 12 packages QuantumAlpha needs to build, test and run.
# Idempotent: checks what is installed first and returns in well under a second when
# nothing is missing. Needs root only when something must be installed.
#
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --bench  also the Python packages the comparison benchmarks use
set -eu

# dpkg-dev: dpkg-shlibdeps, with which `make package` derives the package's dependencies.
BUILD="build-essential cmake pkg-config ccache git dpkg-dev"
# make fuzz: clang with libFuzzer and the sanitizer runtimes (libclang-rt-14-dev).
FUZZ="clang libclang-rt-14-dev"
LIBS="libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
      libopenblas-dev liblapacke-dev
      librdkafka-dev kcat
      libslurm-dev slurm-wlm slurmctld slurmd munge
      libsqlite3-dev sqlite3 libmicrohttpd-dev libquickfix-dev
      libjansson-dev libyaml-dev libssl-dev zlib1g-dev libdeflate-dev
      libjwt-dev libargon2-dev libgnutls28-dev"
# qa serve's tests: the dashboard in a real browser (npm's playwright-core drives Debian's
# chromium), curl for the route x role matrix, wrk for its benchmark.
WEB="chromium curl wrk"
# The static analysis gate (scripts/lint.sh).
ANALYSIS="clang-tidy cppcheck"
# Tests read results back with h5py/numpy the way a researcher would.
TESTS="python3 python3-numpy python3-h5py"
BENCH="python3-pandas python3-torch"

want="$BUILD $FUZZ $LIBS $TESTS $WEB $ANALYSIS"
if [ "${1:-}" = "--bench" ]; then want="$want $BENCH"; fi

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

# node and npm by command, not by package: a NodeSource nodejs (which carries its own npm
# and conflicts with Debian's npm package) serves as well as Debian's nodejs + npm.
if ! command -v node > /dev/null 2>&1 || ! command -v npm > /dev/null 2>&1; then
    missing="$missing nodejs npm"
fi

if [ -z "$missing" ]; then
    echo "install-deps: all $(echo $want | wc -w) packages present"
    exit 0
fi

echo "install-deps: missing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=sudo
    else
        echo "install-deps: run as root to install them: sudo $0 ${1:-}" >&2
        exit 1
    fi
else
    SUDO=""
fi

export DEBIAN_FRONTEND=noninteractive
# Package lists may be empty on a fresh image; refresh them once if an install fails.
if ! $SUDO apt-get install -y --no-install-recommends $missing; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends $missing
fi
echo "install-deps: done"
