#!/bin/sh
# The qa command line: help, version, info, and exit codes (0 ok, 1 failure, 2 usage).
QA="$1"
fail=0
check() { # check <expected-exit> <description> <command...>
    want=$1; what=$2; shift 2
    out=$("$@" 2>&1); got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: $what: exit $got, expected $want"; echo "$out" | head -5; fail=1
    else
        echo "ok: $what"
    fi
    LAST="$out"
}
expect_text() { # expect_text <needle> <description>
    case "$LAST" in *"$1"*) echo "ok: $2";; *) echo "FAIL: $2: output lacks '$1'"; fail=1;; esac
}

check 0 "qa --help" "$QA" --help
expect_text "info" "help lists info"
expect_text "exit codes" "help states exit codes"
check 2 "qa with no command" "$QA"
check 2 "unknown command" "$QA" frobnicate
expect_text "unknown command 'frobnicate'" "unknown command is named"
check 2 "unknown global option" "$QA" --bogus
check 0 "qa --version" "$QA" --version
expect_text "backends: cpu" "version names backends"
expect_text "git " "version names the git hash"
check 0 "qa info" "$QA" info
expect_text "libraries" "info lists libraries"
expect_text "hdf5" "info lists HDF5"
expect_text "cores online" "info lists CPU cores"
check 0 "qa info --json" "$QA" info --json
expect_text '"backends"' "info --json is JSON"
check 2 "qa info bad option" "$QA" info --nope
check 0 "qa info --help" "$QA" info --help
check 0 "qa help info" "$QA" help info
check 2 "bad log level" "$QA" --log-level loud info
# JSON from info parses and agrees with the build.
if command -v python3 >/dev/null 2>&1; then
    "$QA" info --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert "cpu" in d["build"]["backends"]; print("ok: info json parses")' || fail=1
elif [ $fail = 0 ]; then
    echo "skipped: qa info --json parses (no python3)"; exit 77
fi
exit $fail
