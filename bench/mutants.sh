#!/usr/bin/env bash
# Mutation testing of the safety-critical modules: cargo-mutants
# changes the code one mutant at a time and runs the tests that guard that
# module; a mutant no test notices ("missed") is a rule no test holds.
#
#   bench/mutants.sh                 every module below, one after the other
#   bench/mutants.sh retry sign      only those
#   TIMEOUT=120 bench/mutants.sh quota
#   ITERATE=1 bench/mutants.sh quota  again only what the last run of quota
#                                     did not catch (missed, timed out),
#                                     against its whole selection
#   IN_DIFF=/tmp/core.diff bench/mutants.sh vendor
#                                     only the mutants in lines that diff
#                                     touches (git diff <base> -M -- src)
#   TREE=target/mutants-tree-2 bench/mutants.sh fleet
#                                     a second run beside the first, in its
#                                     own copy of the tree and target dir
#   SHARD=0/8 IN_DIFF=/tmp/core.diff bench/mutants.sh openim
#                                     a sample: every 8th mutant (0, 8, 16,
#                                     ...) of the module's list, for a change
#                                     too large to mutate whole
#
# Needs cargo-mutants (cargo install --locked cargo-mutants; v27 used) and
# redis-server on PATH (the fleet tests start one; scripts/test.sh installs it).
# Results: target/mutants/<module>/units.out/ (the first pass) and
# mutants.out/ (the second), each with {caught,missed,timeout,unviable}.txt
# and a log per mutant, and a summary line per module at the end.
# docs/mutants.md has the last figures.
#
# Each module runs with only the tests that guard it (the unit tests plus the
# modules of the integration binary tests/it named below), in two passes:
# first every mutant against the unit tests alone (`--lib`: one crate built
# per mutant), then, with `--iterate`, what they missed against the whole
# selection (the library, the binary and tests/it built per mutant). A
# mutant's cost is its build: on the shared 2-core machine 2-50 s (the whole
# selection's), the tests mostly a few seconds.
set -uo pipefail
# The diff is read from the tree's copy: made absolute here.
[ -n "${IN_DIFF:-}" ] && IN_DIFF=$(realpath "$IN_DIFF")
cd "$(dirname "$0")/.."
ROOT=$PWD

# The mutants are made in a copy of the tree at a fixed path (TREE, made
# afresh from this one), with --in-place: cargo-mutants' own copy has a new
# path per run, so each run began with a full build of the crate; at a fixed
# path the incremental build carries across modules and runs. Its builds go
# to a target directory of its own (a second run beside it needs another
# TREE: two runs in one target directory overwrite each other's binary,
# which the integration tests run). Without debug info (CARGO_PROFILE_*):
# it is most of a debug build's and link's time, and nothing here reads it.
TREE=${TREE:-target/mutants-tree}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/$TREE-target}
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0
mkdir -p "$TREE"
# Made afresh each run, so that no mutant stays from a run that was killed;
# fresh mtimes (-m): the crate is built again from these sources (quickly:
# incremental), never taken for fresh while built from a mutant.
tar -c --exclude=./target --exclude=./.git . | tar -x -m -C "$TREE"
# Seconds per mutant's test run before it counts as a timeout (a hang is a
# detected change, but costs the full wait); the slowest selections (fleet,
# redis_link) take ~18 s unloaded, up to 40 s under other builds.
TIMEOUT=${TIMEOUT:-90}
OUT=$ROOT/${OUT:-target/mutants}
mkdir -p "$OUT"

# module: files (cargo-mutants --file globs) | cargo test arguments (the
# targets built and run) | test name filters (libtest: a test runs when any
# filter is in its name and no --skip is). `tests::` keeps every unit test
# (they all live in `tests` modules; no integration test name has it);
# `quota::` would also match `fleet::quota::`, hence its --skip.
declare -A FILES TESTS FILTERS
IT="--lib --test it"
FILES[retry]="src/retry.rs";              TESTS[retry]=$IT
FILTERS[retry]="tests:: failover::"
FILES[sign]="src/sign.rs";                TESTS[sign]=$IT
FILTERS[sign]="tests:: passthrough::"
FILES[token]="src/openim/token.rs src/openim/throttle.rs"; TESTS[token]=$IT
FILTERS[token]="tests:: openim::hardening:: openim::group:: openim::token:: auth::"
FILES[quota]="src/quota/mod.rs src/quota/shares.rs"; TESTS[quota]=$IT
FILTERS[quota]="tests:: quota:: docs:: fleet::idempotency:: --skip fleet::quota::"
FILES[fleet]="src/quota/fleet.rs";        TESTS[fleet]=$IT
FILTERS[fleet]="tests:: fleet::quota:: fleet::redis:: fleet::store::"
FILES[redis_link]="src/redis_link/*.rs";  TESTS[redis_link]=$IT
FILTERS[redis_link]="tests:: fleet::"
# `idempotency::` also matches `fleet::idempotency::` (the Redis store).
FILES[idempotency]="src/idempotency/*.rs"; TESTS[idempotency]=$IT
FILTERS[idempotency]="tests:: idempotency:: shutdown::"
FILES[vendor]="src/vendor/*.rs";          TESTS[vendor]=$IT
# admin:: (metrics, secret rotation), cli:: (log lines), fleet::idempotency::
# (the Redis link the records share) each hold one of the client's rules.
FILTERS[vendor]="tests:: passthrough:: failover:: idempotency:: quota:: docs:: errors:: admin:: cli:: --skip fleet::quota::"
FILES[headers]="src/headers.rs";          TESTS[headers]=$IT
FILTERS[headers]="tests:: passthrough:: auth:: limits:: errors:: openim::token::"
FILES[allowlist]="src/allowlist.rs";      TESTS[allowlist]=$IT
FILTERS[allowlist]="tests:: passthrough:: errors:: auth:: limits:: openim::token::"
FILES[auth]="src/auth.rs";                TESTS[auth]=$IT
FILTERS[auth]="tests:: auth::"
FILES[dispatch]="src/server/dispatch.rs"; TESTS[dispatch]=$IT
FILTERS[dispatch]="tests:: passthrough:: idempotency:: limits:: shutdown:: errors:: admin:: cli:: --skip fleet::"
FILES[metrics]="src/metrics.rs";          TESTS[metrics]=$IT
FILTERS[metrics]="tests:: admin:: docs::"
# The tests that measure quota use and shares: the test command runs them
# each alone (scripts/test.sh, ALONE); under a mutant build beside them
# they would fail on unmutated code too. Left out of the selections below.
TIMED="--skip apps::callers_of_one_app --skip apps::flooding_one_app --skip apps::the_fleet_quota --skip apps::weights_hold --skip fleet::quota::eight_instances --skip limits::callers_that_never_read --skip quota::ten_times_overload --skip v4::a_flood"
FILES[server]="src/server/app.rs src/server/admin.rs src/server/admit.rs src/server/deadline.rs src/server/listen.rs src/server/mod.rs src/server/nofile.rs src/server/respond.rs"
TESTS[server]=$IT
FILTERS[server]="tests:: admin:: apps:: auth:: errors:: inbound_tls:: limits:: passthrough:: shutdown:: cli:: $TIMED"
FILES[openim]="src/openim/dialect/*.rs src/openim/errcode.rs src/openim/form.rs src/openim/group.rs src/openim/json.rs src/openim/kicks.rs src/openim/member.rs src/openim/mod.rs src/openim/mute.rs src/openim/pages.rs src/openim/perm.rs src/openim/route.rs"
TESTS[openim]=$IT
FILTERS[openim]="tests:: openim::"
FILES[config]="src/config/*.rs src/secret.rs"; TESTS[config]=$IT
FILTERS[config]="tests:: cli:: apps:: docs:: deploy:: inbound_tls:: $TIMED"
FILES[v4]="src/v4/*.rs src/passthrough/v4.rs"; TESTS[v4]=$IT
FILTERS[v4]="tests:: v4:: openim::group:: openim::mute:: $TIMED"
FILES[tls]="src/tls.rs src/tls/*.rs";     TESTS[tls]=$IT
FILTERS[tls]="tests:: inbound_tls::"
FILES[logging]="src/logging/*.rs src/text.rs"; TESTS[logging]=$IT
FILTERS[logging]="tests:: cli:: admin::"
FILES[passthrough]="src/passthrough.rs";  TESTS[passthrough]=$IT
FILTERS[passthrough]="tests:: passthrough:: errors:: auth:: limits:: $TIMED"
FILES[entrust]="src/entrust/*.rs";        TESTS[entrust]=$IT
FILTERS[entrust]="tests:: passthrough:: errors:: openim::group:: openim::member::"
FILES[error]="src/error.rs";              TESTS[error]=$IT
FILTERS[error]="tests:: errors:: passthrough:: auth:: limits:: v4:: idempotency:: admin:: $TIMED"
FILES[upstream]="src/upstream.rs";        TESTS[upstream]=$IT
FILTERS[upstream]="tests:: passthrough:: failover:: tls::"
FILES[main]="src/main.rs";                TESTS[main]=$IT
FILTERS[main]="tests:: cli::"
ORDER=(retry sign token quota fleet redis_link idempotency vendor headers allowlist auth dispatch metrics
    server openim config v4 tls logging passthrough entrust error upstream main)

mods=("$@")
[ ${#mods[@]} -eq 0 ] && mods=("${ORDER[@]}")

command -v cargo-mutants >/dev/null || { echo "cargo-mutants is not installed" >&2; exit 1; }

count() { [ -f "$1/$2.txt" ] && wc -l < "$1/$2.txt" || echo 0; }
figures() { echo "caught $(count "$1" caught), missed $(count "$1" missed), unviable $(count "$1" unviable), timeout $(count "$1" timeout)"; }

summary=()
for m in "${mods[@]}"; do
    [ -n "${FILES[$m]:-}" ] || { echo "unknown module: $m (one of: ${ORDER[*]})" >&2; exit 1; }
    file_args=()
    for f in ${FILES[$m]}; do file_args+=(--file "$f"); done
    # The target selection goes to every cargo call (--cargo-arg): passed
    # after `--` it would reach only the test run, and each mutant's build
    # would still compile and link every test file and example.
    target_args=()
    for a in ${TESTS[$m]}; do target_args+=("--cargo-arg=$a"); done
    # The name filters go to the test binaries only (after a second `--`).
    read -r -a filters <<< "${FILTERS[$m]}"
    echo "== $m: ${FILES[$m]} -- ${TESTS[$m]} -- ${FILTERS[$m]}"
    start=$(date +%s)
    # --baseline skip: the suite is known green (CI). No --cap-lints: it
    # changes RUSTFLAGS, and so rebuilds every dependency.
    common=(--in-place --test-tool cargo --timeout "$TIMEOUT" --baseline skip
        ${IN_DIFF:+--in-diff "$IN_DIFF"} -o "$OUT/$m")
    # A sample's first pass takes every k-th mutant; its second pass must
    # run exactly what that pass left (--iterate would also run the mutants
    # outside the sample), named one by one (-F: a regex on the name as
    # missed.txt writes it, "src/a.rs:12:5: replace x with y").
    shard=(${SHARD:+--shard "$SHARD" --sharding round-robin})
    again=(--iterate)
    d="$OUT/$m/mutants.out"
    if [ -z "${ITERATE:-}" ]; then
        # Pass 1: the unit tests alone. Its figures are kept beside the
        # second pass's (which renames this directory to mutants.out.old).
        (cd "$TREE" && cargo mutants "${common[@]}" "${shard[@]}" "${file_args[@]}" \
            --cargo-arg=--lib -- -- tests::)
        rc=$?
        if [ "$rc" != 0 ] && [ "$rc" != 2 ] && [ "$rc" != 3 ]; then
            echo "== $m: cargo mutants exited $rc"; continue
        fi
        rm -rf "$OUT/$m/units.out" && cp -a "$d" "$OUT/$m/units.out"
        if [ ! -s "$d/missed.txt" ] && [ ! -s "$d/timeout.txt" ]; then
            line="$m: unit tests: $(figures "$d"); $(( $(date +%s) - start )) s"
            echo "== $line"
            summary+=("$line")
            continue
        fi
    fi
    if [ -n "${SHARD:-}" ]; then
        again=()
        while read -r line; do
            [ -n "$line" ] || continue
            again+=(-F "^$(printf '%s' "$line" | sed -E 's/[][\.*^$+?(){}|]/\\&/g')\$")
        done < <(cat "$OUT/$m/units.out/missed.txt" "$OUT/$m/units.out/timeout.txt" 2>/dev/null)
    fi
    # Pass 2 (or again after adding tests): what is left, against the
    # module's whole selection.
    (cd "$TREE" && cargo mutants "${common[@]}" "${again[@]}" "${file_args[@]}" \
        "${target_args[@]}" -- -- "${filters[@]}")
    rc=$?
    secs=$(( $(date +%s) - start ))
    [ "$rc" = 0 ] || [ "$rc" = 2 ] || [ "$rc" = 3 ] || echo "== $m: cargo mutants exited $rc"
    d="$OUT/$m/mutants.out"
    # The second pass counts only what it ran (the first pass's caught and
    # unviable are its previously_caught.txt).
    line="$m: unit tests: $(figures "$OUT/$m/units.out"); then the selection: $(figures "$d"); ${secs} s"
    echo "== $line"
    summary+=("$line")
done

echo
echo "== summary (TIMEOUT=$TIMEOUT)"
printf '%s\n' "${summary[@]}"
missed=$(for m in "${mods[@]}"; do cat "$OUT/$m/mutants.out/missed.txt" 2>/dev/null; done)
if [ -n "$missed" ]; then
    echo "== missed (explain each in docs/mutants.md or kill it with a test)"
    echo "$missed"
fi
