#!/bin/sh
# The release artifact's check (docs/packaging.md): builds the Debian package of a build
# tree with cpack (or takes the .deb given), installs it with dpkg into a fresh root under
# a temporary directory (an empty dpkg database; --force-depends, as the libraries are
# not in that root), and then, from the installed files only (clean environment, working
# directory in the temporary directory, the build tree not on PATH):
#   1. the package's fields: name, version = project version + git commit (the stamp
#      `qa --version` prints), the files it must hold, a stripped qa with no RUNPATH,
#      dpkg --verify of the installed files against the package's md5sums;
#   2. its dependencies: every Depends resolves on this host (apt-get --simulate installs
#      nothing but the package), and every shared library ldd loads for the installed qa
#      belongs (dpkg -S) to a package named in Depends (the libraries qa links directly)
#      or pulled in by one (the libraries those load);
#   3. `qa --version` names the package version and the commit, and equals the build's;
#   4. a short sweep: the installed qa imports three stocks of the shipped sample
#      (datasets/sample) and sweeps them with the installed example config; its counts
#      are checked and its top.csv must equal the build tree's qa on the same input;
#   5. `qa submit --dry-run` resolves the template names to the installed job templates,
#      and, with those moved away, no longer does (so the check can tell).
# Usage: scripts/package-check.sh BUILD_DIR [PACKAGE.deb]
# Exit: 0 passed, 1 failed, 77 skipped (a packaging tool is missing: cpack, dpkg, dpkg-deb,
# dpkg-shlibdeps, apt-get). QA_KEEP=1 keeps the temporary directory. $CPACK names cpack.
set -u
B=${1:?usage: package-check.sh BUILD_DIR [PACKAGE.deb]}
DEB=${2:-}
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "$B" && pwd) || exit 1
CPACK=${CPACK:-cpack}

fail=0
ok() { echo "ok: $1"; }
ko() { echo "FAIL: $1"; fail=1; }
skip() { echo "skipped: $1"; exit 77; }

for tool in "$CPACK" dpkg dpkg-deb dpkg-query dpkg-shlibdeps apt-get ldd readelf; do
    command -v "$tool" > /dev/null 2>&1 || skip "$tool is missing (Debian: dpkg-dev for dpkg-shlibdeps, cmake for cpack, binutils for readelf)"
done
[ -x "$B/bin/qa" ] || { echo "FAIL: no $B/bin/qa (build first)"; exit 1; }
[ -f "$B/CPackConfig.cmake" ] || { echo "FAIL: no $B/CPackConfig.cmake (configure with cmake/Packaging.cmake)"; exit 1; }

W=$(mktemp -d /tmp/qa_package_XXXXXX)
if [ "${QA_KEEP:-0}" = 1 ]; then echo "keeping $W"; else trap 'rm -rf "$W"' EXIT; fi

# ---- the package ----------------------------------------------------------------------------
if [ -z "$DEB" ]; then
    (cd "$B" && "$CPACK" --config CPackConfig.cmake) > "$W/cpack.log" 2>&1 \
        || { cat "$W/cpack.log"; echo "FAIL: cpack"; exit 1; }
    DEB=$(sed -n 's/^CPack: - package: \(.*\.deb\) generated\.$/\1/p' "$W/cpack.log" | tail -n 1)
    [ -f "$DEB" ] || { cat "$W/cpack.log"; echo "FAIL: cpack named no .deb"; exit 1; }
fi
[ -f "$DEB" ] || { echo "FAIL: no package $DEB"; exit 1; }
DEB=$(readlink -f "$DEB") # apt-get takes a path with a slash; the checks run elsewhere
echo "package: $DEB ($(wc -c < "$DEB") bytes)"
field() { dpkg-deb -f "$DEB" "$1"; }
VERSION=$(field Version)
DEPENDS=$(field Depends)
[ "$(field Package)" = quantumalpha ] && ok "Package: quantumalpha" || ko "Package: $(field Package)"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] && ok "Architecture: $(field Architecture)" \
    || ko "Architecture $(field Architecture), host $(dpkg --print-architecture)"
for f in Maintainer Description; do
    [ -n "$(field $f)" ] && ok "$f present" || ko "no $f field"
done
PROJECT_VERSION=$(sed -n 's/^#define QA_VERSION "\(.*\)"$/\1/p' "$B/generated/build_info.h")
GIT_HASH=$(sed -n 's/^#define QA_GIT_HASH "\(.*\)"$/\1/p' "$B/generated/build_info.h")
case $GIT_HASH in
    unknown) want_version=$PROJECT_VERSION ;;
    *-dirty) want_version="$PROJECT_VERSION+g${GIT_HASH%-dirty}.dirty" ;;
    *) want_version="$PROJECT_VERSION+g$GIT_HASH" ;;
esac
[ "$VERSION" = "$want_version" ] && ok "Version: $VERSION (project $PROJECT_VERSION, commit $GIT_HASH)" \
    || ko "Version '$VERSION', the build's stamp says '$want_version'"
case $(basename "$DEB") in
    "quantumalpha_${VERSION}_$(field Architecture).deb") ok "file name carries the version: $(basename "$DEB")" ;;
    *) ko "file name $(basename "$DEB") does not carry version $VERSION" ;;
esac
field Description | grep -qF "git commit $GIT_HASH" && ok "Description names commit $GIT_HASH" \
    || ko "Description does not name commit $GIT_HASH"

# ---- install into a fresh root --------------------------------------------------------------
R=$W/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers" "$R/var/log"
: > "$R/var/lib/dpkg/status"
: > "$R/var/lib/dpkg/available"
# The root's own database and log (not the host's /var/log/dpkg.log); not root: files are
# then owned by the caller, which changes nothing checked below.
DPKG="dpkg --root=$R --admindir=$R/var/lib/dpkg --instdir=$R --log=$R/var/log/dpkg.log"
[ "$(id -u)" = 0 ] || DPKG="$DPKG --force-not-root"
if $DPKG --force-depends -i "$DEB" > "$W/dpkg.log" 2>&1; then ok "dpkg -i into a fresh root ($R)"
else
    cat "$W/dpkg.log"
    echo "FAIL: dpkg -i"
    exit 1
fi
[ "$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Status} ${Version}' quantumalpha)" = "install ok installed $VERSION" ] \
    && ok "the root's dpkg database: quantumalpha $VERSION installed" || ko "quantumalpha not recorded as installed"
$DPKG --verify quantumalpha > "$W/verify.log" 2>&1 && ok "dpkg --verify: the installed files match the md5sums" \
    || { ko "dpkg --verify"; cat "$W/verify.log"; }
QA=$R/usr/bin/qa
SHARE=$R/usr/share/quantumalpha
missing=0
for f in usr/bin/qa usr/share/quantumalpha/jobs/slurm/train.sbatch usr/share/quantumalpha/jobs/slurm/sweep.sbatch \
    usr/share/quantumalpha/jobs/slurm/merge.sbatch usr/share/quantumalpha/jobs/slurm/stress.sbatch \
    usr/share/quantumalpha/dashboard/index.html usr/share/quantumalpha/dashboard/app.js \
    usr/share/quantumalpha/dashboard/app.css usr/share/quantumalpha/examples/sweep.yaml \
    usr/share/doc/quantumalpha/README.md usr/share/doc/quantumalpha/cli.md usr/share/doc/quantumalpha/packaging.md; do
    [ -s "$R/$f" ] || { ko "missing /$f"; missing=1; }
done
cmp -s "$R/usr/share/doc/quantumalpha/README.md" "$SRC/README.md" \
    || { ko "/usr/share/doc/quantumalpha/README.md is not README.md"; missing=1; }
for f in "$SRC"/jobs/slurm/*.sbatch; do
    cmp -s "$f" "$SHARE/jobs/slurm/$(basename "$f")" || { ko "installed $(basename "$f") differs from jobs/slurm/"; missing=1; }
done
[ $missing = 0 ] && ok "package holds qa, the job templates, the dashboard files, the example config and the docs"
readelf -S "$QA" | grep -q '\.debug_info' && ko "qa is not stripped (.debug_info present)" || ok "qa is stripped"
readelf -d "$QA" | grep -qE 'RPATH|RUNPATH' && ko "qa carries an RPATH/RUNPATH: $(readelf -d "$QA" | grep -E 'RPATH|RUNPATH')" \
    || ok "qa has no RPATH/RUNPATH"

# ---- dependencies ---------------------------------------------------------------------------
echo "Depends: $DEPENDS"
echo "Recommends: $(field Recommends)"
(cd "$W" && apt-get install --simulate --no-install-recommends "$DEB") > "$W/apt.log" 2>&1
apt_rc=$?
new=$(grep -c '^Inst ' "$W/apt.log")
if [ $apt_rc -eq 0 ] && [ "$new" -eq 1 ] && grep -q '^Inst quantumalpha ' "$W/apt.log"; then
    ok "apt-get --simulate: every Depends is satisfied on this host (installs only quantumalpha)"
else
    ko "apt-get --simulate (rc $apt_rc, $new packages to install): the Depends do not resolve to installed packages"
    sed 's/^/  | /' "$W/apt.log" | tail -n 20
fi

# The libraries the installed qa loads, and their packages. ldd reports /lib/... paths;
# merged-/usr Debian registers files under /lib or /usr/lib, and alternatives (libblas,
# libopenblas) are symbolic links into the real package: every form is asked for at once.
env -i PATH=/usr/bin:/bin ldd "$QA" > "$W/ldd.txt" 2>&1 || { ko "ldd $QA"; cat "$W/ldd.txt"; }
grep -q 'not found' "$W/ldd.txt" && ko "qa's libraries not found: $(grep 'not found' "$W/ldd.txt" | tr -s ' \t' ' ')"
awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' "$W/ldd.txt" > "$W/libs.txt"
variants() {
    for p in "$1" "$(readlink -f "$1")"; do
        echo "$p"
        case $p in
            /usr/lib/*) echo "${p#/usr}" ;;
            /lib/* | /lib64/*) echo "/usr$p" ;;
        esac
    done
}
while read -r lib; do variants "$lib"; done < "$W/libs.txt" | sort -u > "$W/paths.txt"
# shellcheck disable=SC2046 # one argument per path
dpkg-query -S $(cat "$W/paths.txt") 2> /dev/null | grep -v '^diversion' | sed 's|: /|\t/|' > "$W/owners.txt"
# owner LIB: the package owning one form of LIB ("" when none does); "a:amd64, b: /p" -> a.
owner() {
    for p in $(variants "$1"); do
        o=$(awk -F '\t' -v p="$p" '$2 == p {print $1; exit}' "$W/owners.txt")
        o=${o%%,*}
        [ -n "$o" ] && { echo "${o%%:*}"; return; }
    done
}
# problems DEPENDS OUT: one line in OUT for each library the installed qa loads that a
# package with these Depends would not bring: linked directly (NEEDED) but owned by no
# package Depends names (nor by the installed alternative of one); loaded indirectly but
# outside the closure of Depends over the installed packages (Provides included).
problems() {
    printf '%s\n' "$1" | awk -v db="$W/installed.txt" '
        function names(s, out,   n, a, i, x) {   # "a (>= 1) | b:any, c" -> a b c
            gsub(/\([^)]*\)/, "", s); gsub(/\|/, ",", s); n = split(s, a, ",")
            for (i = 1; i <= n; i++) { x = a[i]; gsub(/[ \t]/, "", x); sub(/:.*/, "", x); if (x != "") out[x] = 1 }
        }
        function alternatives(s, out,   n, c, i) {   # the names in clauses with a "|"
            n = split(s, c, ",")
            for (i = 1; i <= n; i++) if (index(c[i], "|")) names(c[i], out)
        }
        BEGIN {
            FS = "\t"
            while ((getline line < db) > 0) {
                split(line, f, "\t"); pkg = f[1]; inst[pkg] = 1; dep[pkg] = f[3]
                delete pv; names(f[2], pv); for (v in pv) prov[v] = prov[v] " " pkg
            }
        }
        { delete q; names($0, q); for (x in q) level[x] = 0 }
        END { # breadth first: level = depth from Depends; alt: an alternative of a depth-0 package
            for (d = 0; ; d++) {
                do { # the providers of virtual names at depth d, until no new name appears
                    changed = 0; k = 0; delete cur
                    for (x in level) if (level[x] == d) cur[++k] = x
                    for (j = 1; j <= k; j++) {
                        if (!(cur[j] in prov)) continue
                        n = split(prov[cur[j]], p, " ")
                        for (i = 1; i <= n; i++) if (!(p[i] in level)) { level[p[i]] = d; changed = 1 }
                    }
                } while (changed)
                if (k == 0) break
                for (j = 1; j <= k; j++) {
                    if (!(cur[j] in inst)) continue
                    delete e; names(dep[cur[j]], e)
                    for (y in e) if (!(y in level)) level[y] = d + 1
                    if (d == 0) { delete e; alternatives(dep[cur[j]], e); for (y in e) if (level[y] == 1) alt[y] = 1 }
                }
            }
            for (x in level) print x, level[x], (x in alt) ? 1 : 0
        }' > "$W/closure.txt"
    : > "$2"
    while read -r lib o; do
        d=$(awk -v p="$o" '$1 == p {print $2 "-" $3; exit}' "$W/closure.txt")
        if grep -qxF "$(basename "$lib")" "$W/needed.txt"; then
            case $d in
                0-* | 1-1) ;;
                *) echo "qa links $(basename "$lib") (package $o), which Depends does not name" >> "$2" ;;
            esac
        elif [ -z "$d" ]; then
            echo "qa loads $(basename "$lib") (package $o), which no package in Depends pulls in" >> "$2"
        fi
    done < "$W/owned.txt"
}
dpkg-query -W -f='${Package}\t${Provides}\t${Depends}, ${Pre-Depends}\n' > "$W/installed.txt"
readelf -d "$QA" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' > "$W/needed.txt"
: > "$W/owned.txt"
nlib=0 bad=0 cuda=""
while read -r lib; do
    nlib=$((nlib + 1))
    o=$(owner "$lib")
    if [ -n "$o" ]; then echo "$lib $o" >> "$W/owned.txt"
    else
        case $lib in
        # A CUDA build links NVIDIA's runtime (CUDA toolkit, cuDNN, NCCL under /usr/local/cuda),
        # which is not a Debian package here: it cannot be declared, only named.
        /usr/local/cuda*) cuda="$cuda $(basename "$lib")" ;;
        *) ko "$lib belongs to no Debian package (dpkg -S): the package cannot declare it"; bad=1 ;;
        esac
    fi
done < "$W/libs.txt"
[ -n "$cuda" ] && echo "note: a CUDA build: qa also needs NVIDIA's CUDA runtime, not a Debian package, so not in Depends:$cuda"
true
[ $nlib -gt 10 ] || ko "ldd listed only $nlib libraries"
problems "$DEPENDS" "$W/problems.txt"
if [ $bad = 0 ] && [ ! -s "$W/problems.txt" ]; then
    ok "all $nlib libraries qa loads${cuda:+ (but the CUDA runtime noted above)} come with Depends: $(wc -l < "$W/needed.txt") linked directly, each from a package it names; the rest from their dependencies"
else
    while read -r line; do ko "$line"; done < "$W/problems.txt"
fi
# The control: the same check with one declared library package left out must object.
lib=$(grep -F "/$(head -n 1 "$W/needed.txt") " "$W/owned.txt" | head -n 1)
drop=${lib#* }
problems "$(printf '%s\n' "$DEPENDS" | tr ',' '\n' | grep -v "^ *$drop\( \|$\)" | paste -sd, -)" "$W/control.txt"
if [ -n "$drop" ] && grep -q "(package $drop)" "$W/control.txt"; then
    ok "control: without $drop in Depends the check objects ($(head -n 1 "$W/control.txt"))"
else
    ko "control: Depends without '${drop:-?}' passed the library check"
fi

# ---- run the installed files ----------------------------------------------------------------
# A clean environment: no build tree on PATH, no QA_* settings, HOME in the temporary dir.
run() { (cd "$W" && env -i PATH=/usr/bin:/bin HOME="$W" LANG=C.UTF-8 OMPI_ALLOW_RUN_AS_ROOT=1 \
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 "$@"); }
installed_version=$(run "$QA" --version 2>&1)
echo "installed: $installed_version"
case $GIT_HASH in
    unknown) want="qa $PROJECT_VERSION (git unknown," ;;
    *) want="qa $PROJECT_VERSION (git $GIT_HASH," ;;
esac
case $installed_version in
    "$want"*) ok "qa --version names the package's version $PROJECT_VERSION and commit $GIT_HASH" ;;
    *) ko "qa --version says '$installed_version', want '$want...'" ;;
esac
[ "$installed_version" = "$(run "$B/bin/qa" --version 2>&1)" ] && ok "installed qa --version equals the build's" \
    || ko "installed qa --version differs from $B/bin/qa --version (a stale package?)"

SAMPLE=$SRC/datasets/sample
if run "$QA" -q data import --preset sp500-daily --data-root "$SAMPLE" --symbols AAPL,KO,XOM --out m.h5 \
    > "$W/import.log" 2>&1; then ok "installed qa imports AAPL, KO, XOM from the shipped sample"
else
    ko "installed qa data import"; cat "$W/import.log"
fi
if run "$QA" -q sweep --config "$SHARE/examples/sweep.yaml" --data m.h5 --run-dir run > "$W/sweep.log" 2>&1; then
    ok "installed qa sweeps with the installed example config"
else
    ko "installed qa sweep"; cat "$W/sweep.log"
fi
# The example's grid is 3 fast x 3 slow windows: 9 sets x 3 symbols = 27 runs, top 5.
grep -q '"runs": 27,' "$W/run/summary.json" 2> /dev/null && grep -q '"params": 9,' "$W/run/summary.json" \
    && ok "summary.json: 3 symbols x 9 sets = 27 runs" || ko "summary.json does not count 27 runs of 9 sets"
[ "$(wc -l < "$W/run/top.csv" 2> /dev/null)" = 6 ] && ok "top.csv: a header and the 5 best runs" \
    || ko "top.csv has not 6 lines"
[ -s "$W/run/results.h5" ] && [ -s "$W/run/report.html" ] || ko "no results.h5 / report.html"
if run "$B/bin/qa" -q sweep --config "$SHARE/examples/sweep.yaml" --data m.h5 --run-dir run-build > "$W/sweep-build.log" 2>&1 \
    && cmp -s "$W/run/top.csv" "$W/run-build/top.csv"; then
    ok "top.csv equals the build tree's qa on the same input"
else
    ko "the installed qa's top.csv differs from the build's (or the build's sweep failed)"
    cat "$W/sweep-build.log"
fi

# qa submit --dry-run resolves a bare template name without a controller.
found=0
for t in train sweep merge stress; do
    got=$(run "$QA" submit --dry-run "$t" a b 2>&1 | sed -n 's/^template: //p')
    [ "$got" = "$(readlink -f "$SHARE/jobs/slurm/$t.sbatch")" ] && found=$((found + 1)) \
        || ko "qa submit --dry-run $t: template '$got', not the installed one"
done
[ $found = 4 ] && ok "qa submit --dry-run finds train, sweep, merge and stress in /usr/share/quantumalpha/jobs/slurm"
mv "$SHARE/jobs" "$SHARE/jobs.away"
got=$(run "$QA" submit --dry-run sweep a b 2>&1 | sed -n 's/^template: //p')
case $got in
    "$R"/*) ko "with the installed templates moved away, qa still resolves sweep under the root: '$got'" ;;
    *) ok "with the installed templates moved away the look-up leaves the root (${got:-not found})" ;;
esac
mv "$SHARE/jobs.away" "$SHARE/jobs"

[ $fail = 0 ] && echo "package-check: passed ($(basename "$DEB"), $(wc -c < "$DEB") bytes)"
exit $fail
