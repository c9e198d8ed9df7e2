#!/usr/bin/env bash
# Coverage-guided fuzzing of every input reader (libFuzzer + AddressSanitizer).
#
#   scripts/fuzz.sh SECONDS     run each harness (jsonl, ftrace, qemu, auto) for SECONDS
#
# The harness (Fuzz/GmemFuzzing/ReaderHarness.swift) feeds each input through the ingest path
# into an in-memory store and traps when an input crashes a reader, is refused with an error
# that does not name it, leaves a refused batch half-written, or leaves a store that fails
# verify. Seeds: Fuzz/corpus/<format>/ (never written to; the growing corpus lives in
# .build-fuzz/corpus/). A finding is saved as .build-fuzz/crashes/<format>/crash-…: fix the
# reader, then copy the input to Fuzz/regressions/<format>/ where FuzzRegressionTests replays it.
# Exits 1 when any harness found something.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:?usage: scripts/fuzz.sh SECONDS}"
scratch=.build-fuzz

start=$(date +%s)
# Package.swift reads GMEM_LIBFUZZER: the sanitizer flags go to the library and the harness only.
GMEM_LIBFUZZER=1 swift build -c debug --product gmem-fuzz --scratch-path "$scratch" 2>&1 | tail -n 3
echo "fuzz: build took $(( $(date +%s) - start )) s"
binary="$scratch/debug/gmem-fuzz"

found=0
for format in jsonl ftrace qemu auto; do
    work="$scratch/corpus/$format"
    crashes="$scratch/crashes/$format"
    mkdir -p "$work" "$crashes"
    if [ "$format" = auto ]; then seeds=(Fuzz/corpus/jsonl Fuzz/corpus/ftrace Fuzz/corpus/qemu); else seeds=("Fuzz/corpus/$format"); fi
    log="$scratch/fuzz-$format.log"
    set +e
    GMEM_FUZZ_FORMAT="$format" ASAN_OPTIONS=detect_leaks=0 "$binary" "$work" "${seeds[@]}" \
        -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" >"$log" 2>&1
    status=$?
    set -e
    runs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    artifacts=$(find "$crashes" -type f | wc -l)
    echo "fuzz $format: ${runs:-?} executions in $seconds s (${rate:-?}/s), coverage ${cov:-?} edges, corpus $(find "$work" -type f | wc -l) inputs, findings $artifacts (exit $status)"
    if [ "$status" -ne 0 ] || [ "$artifacts" -gt 0 ]; then
        found=1
        grep -m5 -E 'ERROR|Fatal error|harness:|SUMMARY' "$log" || true
    fi
done
exit $found
