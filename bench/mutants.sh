#!/usr/bin/env bash
# Mutation testing of the safety-critical modules: cargo-mutants
# changes the code one mutant at a time and runs the tests that guard that
# module; a mutant no test notices ("missed") is a rule no test holds.
#
#   bench/mutants.sh                 every module below, one after the other
#   bench/mutants.sh retry sign      only those
#   TIMEOUT=120 bench/mutants.sh limit
#   ITERATE=1 bench/mutants.sh limit  again only the mutants the last run of
#                                     limit missed (after adding tests)
#
# Needs cargo-mutants (cargo install --locked cargo-mutants; v27 used) and
# redis-server on PATH (the fleet tests start one; scripts/test.sh installs it).
# Results: target/mutants/<module>/mutants.out/{caught,missed,timeout,unviable}.txt,
# and a summary line per module at the end. docs/mutants.md has the last figures.
#
# Each module runs with only the tests that guard it (the unit tests plus the
# modules of the integration binary tests/it named below): a mutant's cost is
# one incremental build plus those tests, so the selection is what makes the
# whole run fit.
set -uo pipefail
cd "$(dirname "$0")/.."

# One mutant at a time, every build in one persistent target directory
# (target/mutants-target, seeded from target/debug): cargo-mutants' own
# per-job copies of target/ rebuilt every dependency (fresh mtimes), several
# minutes per module on two cores; a shared directory with two jobs would
# make each job rebuild the other's mutant before testing its own.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/mutants-target}
if [ ! -d "$CARGO_TARGET_DIR/debug" ] && [ -d target/debug ]; then
    mkdir -p "$CARGO_TARGET_DIR" && cp -a target/debug "$CARGO_TARGET_DIR/"
fi
# Seconds per mutant's test run before it counts as a timeout (a hang is a
# detected change, but costs the full wait); the slowest selection (fleet)
# takes ~15 s unloaded.
TIMEOUT=${TIMEOUT:-90}
OUT=${OUT:-target/mutants}
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
FILES[token]="src/openim/token.rs";       TESTS[token]=$IT
FILTERS[token]="tests:: openim::hardening:: openim::group:: openim::token:: auth::"
FILES[limit]="src/limit.rs";              TESTS[limit]=$IT
FILTERS[limit]="tests:: quota:: docs:: fleet::idempotency:: --skip fleet::quota::"
FILES[fleet]="src/limit/fleet.rs";        TESTS[fleet]=$IT
FILTERS[fleet]="tests:: fleet::quota:: fleet::redis::"
FILES[dedup]="src/dedup.rs src/dedup/*.rs"; TESTS[dedup]=$IT
FILTERS[dedup]="tests:: idempotency:: shutdown::"
FILES[headers]="src/headers.rs";          TESTS[headers]=$IT
FILTERS[headers]="tests:: passthrough:: auth:: limits:: errors:: openim::token::"
FILES[route]="src/route.rs";              TESTS[route]="$IT --test route_rules"
FILTERS[route]="tests:: passthrough:: errors:: auth:: limits:: openim::token:: max_path_len printable_cuts"
ORDER=(retry sign token limit fleet dedup headers route)

mods=("$@")
[ ${#mods[@]} -eq 0 ] && mods=("${ORDER[@]}")

command -v cargo-mutants >/dev/null || { echo "cargo-mutants is not installed" >&2; exit 1; }

summary=()
for m in "${mods[@]}"; do
    [ -n "${FILES[$m]:-}" ] || { echo "unknown module: $m (one of: ${ORDER[*]})" >&2; exit 1; }
    file_args=()
    for f in ${FILES[$m]}; do file_args+=(--file "$f"); done
    # The target selection goes to every cargo call (--cargo-arg): passed
    # after `--` it would reach only the test run, and each mutant's build
    # would still compile and link every test file and example.
    for a in ${TESTS[$m]}; do file_args+=("--cargo-arg=$a"); done
    # The name filters go to the test binaries only (after a second `--`).
    read -r -a filters <<< "${FILTERS[$m]}"
    echo "== $m: ${FILES[$m]} -- ${TESTS[$m]} -- ${FILTERS[$m]}"
    start=$(date +%s)
    # --baseline skip: the suite is known green (CI). No --cap-lints: it
    # changes RUSTFLAGS, and so rebuilds every dependency.
    cargo mutants --test-tool cargo -j 1 --timeout "$TIMEOUT" \
        --baseline skip --copy-target false \
        ${ITERATE:+--iterate} "${file_args[@]}" -o "$OUT/$m" -- -- "${filters[@]}"
    rc=$?
    secs=$(( $(date +%s) - start ))
    [ "$rc" = 0 ] || [ "$rc" = 2 ] || [ "$rc" = 3 ] || echo "== $m: cargo mutants exited $rc"
    d="$OUT/$m/mutants.out"
    count() { [ -f "$d/$1.txt" ] && wc -l < "$d/$1.txt" || echo 0; }
    line="$m: caught $(count caught), missed $(count missed), unviable $(count unviable), timeout $(count timeout); ${secs} s"
    echo "== $line"
    summary+=("$line")
done

echo
echo "== summary (TIMEOUT=$TIMEOUT)"
printf '%s\n' "${summary[@]}"
missed=$(cat "$OUT"/*/mutants.out/missed.txt 2>/dev/null)
if [ -n "$missed" ]; then
    echo "== missed (explain each in docs/mutants.md or kill it with a test)"
    echo "$missed"
fi
