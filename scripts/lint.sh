#!/bin/sh
# Static analysis gate: clang-tidy (checks in .clang-tidy, tests/.clang-tidy,
# benchmarks/.clang-tidy) and cppcheck over every C/C++ source of the build's compile database.
# Any finding fails. Suppressions live next to the code (NOLINT(check) / cppcheck-suppress, each
# with its reason) or, for a whole class, in the config files with theirs.
#
#   scripts/lint.sh BUILD_DIR [--shallow] [--tidy|--cppcheck] [FILE...]
#
# --shallow: clang-analyzer in its shallow mode (less inlining across calls: about 3x
# faster, fewer paths explored). `make test` (CI) uses it to stay in its time budget; `make
# lint` runs the full analysis, and each issue's closing note reports that run.
#
# BUILD_DIR holds compile_commands.json (any configured build; `make lint` uses the normal one).
# FILE...: only these sources (paths relative to the repository or absolute).
# Output: one line per finding (file:line:col: message [check]), then a count per tool;
# full logs in BUILD_DIR/lint/. Exit 0 clean, 1 findings, 2 usage or missing tools.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: scripts/lint.sh BUILD_DIR [--tidy|--cppcheck] [FILE...]" >&2; exit 2; }
build=$(cd "$1" && pwd); shift
tools="tidy cppcheck"
deep=1
if [ "${1:-}" = "--shallow" ]; then deep=0; shift; fi
case "${1:-}" in
--tidy) tools=tidy; shift ;;
--cppcheck) tools=cppcheck; shift ;;
esac
db="$build/compile_commands.json"
[ -f "$db" ] || { echo "lint: $db missing: configure the build first (cmake -S . -B $build)" >&2; exit 2; }
for t in clang-tidy cppcheck python3; do
    command -v "$t" >/dev/null || { echo "lint: $t not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
done
out="$build/lint"
mkdir -p "$out"
jobs=$(nproc 2>/dev/null || echo 2)

# The sources: the compile database's C/C++ files inside the repository, less generated ones
# (embedded dashboard assets under the build directory) and CUDA (neither tool parses .cu).
python3 - "$db" "$here" "$@" > "$out/files.txt" <<'EOF'
import json, os, sys
db, root, only = sys.argv[1], sys.argv[2], sys.argv[3:]
want = {os.path.realpath(p if os.path.isabs(p) else os.path.join(root, p)) for p in only}
seen = set()
for c in json.load(open(db)):
    f = os.path.realpath(os.path.join(c['directory'], c['file']))
    rel = os.path.relpath(f, root)
    if rel.startswith('..') or rel.split(os.sep)[0].startswith('build') or not f.endswith(('.c', '.cpp')):
        continue
    if want and f not in want:
        continue
    if f not in seen:
        seen.add(f)
        print(f)
EOF
n=$(wc -l < "$out/files.txt")
[ "$n" -gt 0 ] || { echo "lint: no sources selected" >&2; exit 2; }
status=0
start=$(date +%s)

if echo "$tools" | grep -q tidy; then
    # One clang-tidy per file, $jobs at a time; each writes its own log so a failure names it.
    rm -f "$out"/tidy-*.log
    # Shallow: the analyser's own option, passed to the compiler invocation clang-tidy makes.
    extra=""
    [ "$deep" = 1 ] || extra="--extra-arg=-Xclang,--extra-arg=-analyzer-config,--extra-arg=-Xclang,--extra-arg=mode=shallow"
    i=0
    while read -r f; do
        i=$((i + 1))
        # No trailing blank: xargs -L would join the line with the next one.
        printf '%s\t%s%s\n' "$i" "$f" "${extra:+	$extra}"
    done < "$out/files.txt" |
        xargs -P "$jobs" -L 1 sh -c 'x=$(printf %s "${4:-}" | tr , " "); clang-tidy -p "$0" --quiet $x "$3" > "$1/tidy-$2.log" 2>&1 || echo "$3" >> "$1/tidy-failed.txt"' "$build" "$out" ||
        true
    # xargs -L 1 appends the fields (index, file, extra options joined by commas) as $2 $3 $4.
    cat "$out"/tidy-*.log 2>/dev/null | grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' | sort -u > "$out/tidy.txt" || true
    ntidy=$(wc -l < "$out/tidy.txt")
    nfail=0
    [ -f "$out/tidy-failed.txt" ] && nfail=$(wc -l < "$out/tidy-failed.txt")
    cat "$out/tidy.txt"
    echo "lint: clang-tidy: $ntidy finding(s) in $n file(s), $nfail file(s) exited non-zero ($(($(date +%s) - start)) s)"
    # A file can fail without a finding line (a crash, an unreadable database entry): that
    # fails the gate too, and the log says why.
    if [ "$ntidy" -gt 0 ] || [ "$nfail" -gt 0 ]; then status=1; fi
    rm -f "$out/tidy-failed.txt"
fi

if echo "$tools" | grep -q cppcheck; then
    t0=$(date +%s)
    # --project reads the include paths and defines of each file; the file list narrows it.
    set +e
    cppcheck --project="$db" --enable=warning,performance,portability \
        --inline-suppr --suppressions-list="$here/scripts/lint/cppcheck.supp" \
        --library="$here/scripts/lint/jansson.cfg" -j "$jobs" --quiet --error-exitcode=1 \
        -i "$build" --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
        $(sed "s|^|--file-filter=|" "$out/files.txt") > "$out/cppcheck.log" 2> "$out/cppcheck.txt"
    rc=$?
    set -e
    ncpp=$(grep -c '\[[A-Za-z]*\]$' "$out/cppcheck.txt" || true)
    cat "$out/cppcheck.txt"
    echo "lint: cppcheck: $ncpp finding(s) ($(($(date +%s) - t0)) s)"
    [ "$rc" -eq 0 ] && [ "$ncpp" -eq 0 ] || status=1
fi
exit $status
