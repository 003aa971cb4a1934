#!/usr/bin/env bash
# The test runner behind `make test` (after the ASan+UBSan build in build/asan):
#   1. every unit test binary build/asan/tests/test_* (any failure fails the run);
#   2. every libFuzzer target in build/fuzz (make BUILD=fuzz CC=clang fuzz-bins) for
#      FUZZ_SECONDS (60) each, two at a time (scripts/fuzz.sh): a crash, leak or
#      sanitizer report fails the run and leaves its reproducer in var/fuzz/artifacts/;
#   3. the end-to-end suites in tests/e2e with the Debian python3 (/usr/bin/python3: the
#      python3 first on PATH may be another interpreter without python3-pytest etc.).
# Options: --e2e-only skips steps 1 and 2; --unit-only skips step 3; --no-fuzz skips step 2.
# Anything after `--` goes to pytest, e.g. scripts/test.sh --e2e-only -- -k pagination -x
# Exits non-zero when anything failed.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-asan}
PYTHON=/usr/bin/python3
run_unit=1
run_e2e=1
run_fuzz=1
pytest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --e2e-only) run_unit=0; run_fuzz=0 ;;
        --no-fuzz) run_fuzz=0 ;;
        --unit-only) run_e2e=0 ;;
        --) shift; pytest_args=("$@"); break ;;
        *) echo "usage: scripts/test.sh [--e2e-only|--unit-only] [--no-fuzz] [-- PYTEST-ARGS...]" >&2; exit 2 ;;
    esac
    shift
done

failed=()

if [ $run_unit -eq 1 ]; then
    shopt -s nullglob
    units=(build/"$BUILD"/tests/test_*)
    shopt -u nullglob
    if [ ${#units[@]} -eq 0 ]; then
        echo "test.sh: no unit test binaries in build/$BUILD/tests (run: make BUILD=$BUILD unit-bins)" >&2
        failed+=("unit tests (none built)")
    fi
    for t in "${units[@]}"; do
        [ -x "$t" ] && [ -f "$t" ] || continue
        echo "== $t"
        # Sanitizer reports go to stderr here; any report makes the binary fail.
        if ! ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
            UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} "$t"; then
            failed+=("$t")
        fi
    done
fi

if [ $run_fuzz -eq 1 ]; then
    echo "== fuzz: scripts/fuzz.sh, ${FUZZ_SECONDS:-60}s per target, ${FUZZ_JOBS:-2} at a time"
    start=$SECONDS
    if ! FUZZ_SECONDS=${FUZZ_SECONDS:-60} FUZZ_JOBS=${FUZZ_JOBS:-2} scripts/fuzz.sh; then
        failed+=("fuzz targets (reproducers in var/fuzz/artifacts/)")
    fi
    echo "== fuzz stage took $((SECONDS - start))s"
fi

if [ $run_e2e -eq 1 ]; then
    echo "== end-to-end: $PYTHON -m pytest -q tests/e2e"
    if [ ! -x "$PYTHON" ]; then
        echo "test.sh: $PYTHON is missing (scripts/install-deps.sh installs python3-pytest)" >&2
        failed+=("e2e (no $PYTHON)")
    elif ! CHAT_TEST_BUILD=$BUILD "$PYTHON" -m pytest -q -p no:cacheprovider tests/e2e \
        "${pytest_args[@]}"; then
        failed+=("end-to-end suites")
    fi
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "test.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "test.sh: all tests passed"
