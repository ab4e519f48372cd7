# Sourced by the fault-injection tests after tests/lib.sh: a full disk made real with a
# small tmpfs in a private user + mount namespace, snapshots of a directory's files to
# prove a failed run left them byte for byte as they were, and the check that no
# temporary file (".NAME.tmp-PID", qa_fs_tmp_name) was left behind.

# fault_enter_ns ARGS...: runs the calling script again, with the same arguments, in a
# private user + mount namespace (unshare -rm) where it may mount a tmpfs: nothing
# outside sees the mount, and no root is needed where user namespaces are allowed.
# Ends the test with the skip code 77 when that is not possible here.
fault_enter_ns() {
    [ "$QA_FAULT_NS" = 1 ] && return 0
    if ! command -v unshare > /dev/null 2>&1; then echo "skipped: no unshare(1): cannot make a full disk here"; exit 77; fi
    probe=$(mktemp -d /tmp/qa_fault_probe_XXXXXX)
    if ! unshare -rm sh -c 'mount -t tmpfs -o size=64k tmpfs "$1" && umount "$1"' sh "$probe" 2> /dev/null; then
        rmdir "$probe"
        echo "skipped: cannot mount a tmpfs in a private namespace (unshare -rm): no full-disk tests here"
        exit 77
    fi
    rmdir "$probe"
    QA_FAULT_NS=1 exec unshare -rm sh "$FAULT_SCRIPT" "$@"
}

# fault_disk DIR SIZE: a tmpfs of SIZE (e.g. 16m) mounted on DIR (created; unmounted when
# the test exits, before its temporary directory is removed).
fault_disk() {
    mkdir -p "$1" && mount -t tmpfs -o "size=$2" tmpfs "$1" || { echo "FAIL: mount tmpfs on $1"; exit 1; }
    FAULT_DISK=$1
    trap 'umount "$FAULT_DISK" 2> /dev/null; rm -rf "$W"' EXIT
}

# fault_fill FREE: fills the disk with the file $FAULT_DISK/.filler, then gives back FREE
# bytes, so the next writes fail with ENOSPC after about FREE bytes. fault_unfill removes it.
fault_fill() {
    dd if=/dev/zero of="$FAULT_DISK/.filler" bs=64k 2> /dev/null
    [ "$1" -gt 0 ] && truncate -s "-$1" "$FAULT_DISK/.filler"
    return 0
}
fault_unfill() { rm -f "$FAULT_DISK/.filler"; }

# fault_snapshot DIR: "sha256  ./name" of every file under DIR except the run's own
# bookkeeping of each attempt (.lock, run.json, run.log), sorted: two snapshots are equal
# when the same files hold the same bytes.
fault_snapshot() {
    (cd "$1" && find . -type f ! -name .lock ! -name run.json ! -name run.log -exec sha256sum {} + | sort -k 2)
}

# fault_check WHAT LOG RC BEFORE DIR WANT: the failed run's checks: exit status 1, the
# error in LOG names WANT (the output file) and "No space left on device", DIR's files
# (snapshot BEFORE) are byte-identical, and no temporary file is left anywhere on the disk.
fault_check() {
    what=$1 log=$2 rc=$3 before=$4 dir=$5 want=$6
    if [ "$rc" -ne 1 ]; then ko "$what: exit $rc, expected 1"; cat "$log"; return; fi
    if grep "ERROR" "$log" | grep -F -- "$want" | grep -q "No space left on device"; then
        ok "$what: exit 1, the error names $(basename "$want") and the full disk"
    else
        ko "$what: the error lacks '$want' or 'No space left on device'"; cat "$log"
    fi
    if [ "$before" = "$(fault_snapshot "$dir")" ]; then ok "$what: the previous outputs are byte-identical"
    else ko "$what: the previous outputs changed"; echo "$before" > "$W/before.txt"; fault_snapshot "$dir" | diff "$W/before.txt" -; fi
    left=$(find "$FAULT_DISK" -name '*.tmp-*')
    if [ -z "$left" ]; then ok "$what: no temporary file left"; else ko "$what: temporary files left: $left"; fi
}
