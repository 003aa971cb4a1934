#!/usr/bin/env bash
# Runs every libFuzzer target built by `make fuzz` (build/fuzz/fuzz_*) for FUZZ_SECONDS
# seconds each (default 60), starting from the seeds in fuzz/corpus/<name>/ and keeping
# what it learns in var/fuzz/<name>/. A crash, leak or sanitizer report fails the run
# and leaves the reproducer in var/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
mkdir -p var/fuzz/artifacts
status=0
for bin in build/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=${bin##*/fuzz_}
    corpus=var/fuzz/$name
    mkdir -p "$corpus"
    echo "== fuzz_$name for ${seconds}s"
    if ! "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 \
        -artifact_prefix=var/fuzz/artifacts/"$name"- "$corpus" "fuzz/corpus/$name" \
        2> "var/fuzz/$name.log"; then
        echo "fuzz.sh: fuzz_$name FAILED; see var/fuzz/$name.log and var/fuzz/artifacts/" >&2
        tail -30 "var/fuzz/$name.log" >&2
        status=1
        continue
    fi
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "var/fuzz/$name.log" | sed 's/^/   /'
done
exit $status
