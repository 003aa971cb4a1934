#!/usr/bin/env bash
# Runs every libFuzzer target built by `make fuzz` (build/fuzz/fuzz_*) for FUZZ_SECONDS
# seconds each (default 60), FUZZ_JOBS targets at a time (default 1), starting from the
# seeds in fuzz/corpus/<name>/ and keeping what it learns in var/fuzz/<name>/. A crash,
# leak, timeout or sanitizer report fails the run and leaves the reproducer in
# var/fuzz/artifacts/ (replay: build/fuzz/fuzz_<name> var/fuzz/artifacts/<name>-crash-...).
# `make test` runs it with FUZZ_SECONDS=60 FUZZ_JOBS=2 (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
mkdir -p var/fuzz/artifacts

shopt -s nullglob
bins=()
for bin in build/fuzz/fuzz_*; do
    [ -x "$bin" ] && [ -f "$bin" ] && bins+=("$bin")
done
shopt -u nullglob
if [ ${#bins[@]} -eq 0 ]; then
    echo "fuzz.sh: no targets in build/fuzz (run: make BUILD=fuzz CC=clang fuzz-bins)" >&2
    exit 1
fi

# One target; its verdict goes to var/fuzz/<name>.status so parallel runs report in order.
run_one() {
    local bin=$1 name=${1##*/fuzz_}
    local corpus=var/fuzz/$name
    mkdir -p "$corpus"
    local rc=0
    "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix=var/fuzz/artifacts/"$name"- \
        "$corpus" "fuzz/corpus/$name" > "var/fuzz/$name.log" 2>&1 || rc=$?
    echo "$rc" > "var/fuzz/$name.status"
}

status=0
for ((i = 0; i < ${#bins[@]}; i += jobs)); do
    batch=("${bins[@]:i:jobs}")
    for bin in "${batch[@]}"; do
        echo "== ${bin##*/} for ${seconds}s"
        run_one "$bin" &
    done
    wait
    for bin in "${batch[@]}"; do
        name=${bin##*/fuzz_}
        if [ "$(cat "var/fuzz/$name.status")" != 0 ]; then
            echo "fuzz.sh: fuzz_$name FAILED; see var/fuzz/$name.log and var/fuzz/artifacts/" >&2
            tail -30 "var/fuzz/$name.log" >&2
            status=1
            continue
        fi
        echo "   fuzz_$name: $(grep -E '^stat::number_of_executed_units' "var/fuzz/$name.log" |
            awk '{print $2}') executions, peak RSS $(grep -E '^stat::peak_rss_mb' \
            "var/fuzz/$name.log" | awk '{print $2}') MB"
    done
done
exit $status
