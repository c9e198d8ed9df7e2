#!/usr/bin/env bash
# Coverage-guided fuzzing of every input reader (libFuzzer + AddressSanitizer), two targets:
#
#   fast   the readers alone, in memory (Fuzz/GmemFuzzing/ReaderFastHarness.swift): line reader,
#          format detection, both JSON Lines decoders, the kernel-trace and QEMU readers, the
#          trace resolver and the engine. No store; lines up to 1 KiB and inputs up to 2 KiB, so
#          the long-line path is reached; its seeds are the corpus files cut into pieces of
#          whole lines under 1 KiB. Over ten thousand inputs a second.
#   store  end to end (Fuzz/GmemFuzzing/ReaderHarness.swift): each input ingested into a fresh
#          in-memory store, then `verify`. A hundred or two a second. (It does not start from the
#          fast target's corpus: replaying thousands of inputs at this rate would outlast a short run.)
#
#   scripts/fuzz.sh [SECONDS] [--runs N] [--store SECONDS] [--readers "jsonl ftrace qemu auto"]
#
#   SECONDS        the fast target's time per reader (default 20)
#   --runs N       the fast target stops after N executions per reader instead (the longer run:
#                  scripts/fuzz.sh --runs 1000000 --store 300, about 2 minutes a reader for the
#                  fast target on a 2-core machine)
#   --store S      the store target's time per reader (default 5; 0 skips it)
#   --readers "…"  which readers (default all four: jsonl, ftrace, qemu, and auto for detection)
#
# Seeds: Fuzz/corpus/<format>/ and Fuzz/regressions/<format>/ (never written to; the growing
# corpora live in .build-fuzz/corpus/). A finding is saved as .build-fuzz/crashes/<target>-
# <format>/crash-…: fix the reader, then copy the input to Fuzz/regressions/<format>/, where
# FuzzRegressionTests replays it through both targets. Prints one line per reader and target:
# executions, executions a second, edges reached, corpus size, findings. Exits 1 when any run
# found something.
set -euo pipefail
cd "$(dirname "$0")/.."
fast_seconds=20
runs=
store_seconds=5
readers="jsonl ftrace qemu auto"
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --store) store_seconds="$2"; shift 2 ;;
    --readers) readers="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    [0-9]*) fast_seconds="$1"; shift ;;
    *) echo "fuzz.sh: unknown option '$1' (see scripts/fuzz.sh --help)" >&2; exit 64 ;;
    esac
done
scratch=.build-fuzz

start=$(date +%s)
# Package.swift reads GMEM_LIBFUZZER: the sanitizer flags go to the library and the harness only.
# Optimized: debug Swift with ASan ran the fast target at about 1,500 inputs a second.
GMEM_LIBFUZZER=1 swift build -c release --product gmem-fuzz --scratch-path "$scratch" 2>&1 | tail -n 3
echo "fuzz: build took $(( $(date +%s) - start )) s"
binary="$scratch/release/gmem-fuzz"

# The fast target's seeds: each corpus file cut into pieces of whole lines, under 1 KiB each
# (this run's own copy, so that runs of different readers can go side by side).
pieces="$scratch/seeds.$$"
trap 'rm -rf "$pieces"' EXIT
for format in jsonl ftrace qemu; do
    mkdir -p "$pieces/$format"
    for file in Fuzz/corpus/"$format"/*; do
        awk -v out="$pieces/$format/$(basename "$file")" '
            { if (size + length($0) + 1 > 1024 && size > 0) { piece++; size = 0 } size += length($0) + 1; print > (out "-" piece + 0) }
        ' "$file"
    done
done

found=0
# run TARGET FORMAT OPTIONS…: one libFuzzer run, summarised in one line.
run() {
    local target="$1" format="$2"
    shift 2
    local work="$scratch/corpus/$target-$format" crashes="$scratch/crashes/$target-$format"
    mkdir -p "$work" "$crashes"
    local seeds=() corpus=Fuzz/corpus
    [ "$target" = fast ] && corpus="$pieces"
    if [ "$format" = auto ]; then
        seeds=("$corpus/jsonl" "$corpus/ftrace" "$corpus/qemu")
        for dir in Fuzz/regressions/*/; do [ -d "$dir" ] && seeds+=("$dir"); done
    else
        seeds=("$corpus/$format")
        [ -d "Fuzz/regressions/$format" ] && seeds+=("Fuzz/regressions/$format")
    fi
    local log="$scratch/fuzz-$target-$format.log" status
    set +e
    # Swift's own crash backtracer hangs under ASan: libFuzzer reports the crash and saves the input.
    # ASan keeps no allocation stacks (they took a fifth of the time); replay a finding with
    # ASAN_OPTIONS=malloc_context_size=30 to see where the memory it touched was allocated.
    SWIFT_BACKTRACE=enable=no GMEM_FUZZ_TARGET="$target" GMEM_FUZZ_FORMAT="$format" \
        ASAN_OPTIONS=detect_leaks=0:malloc_context_size=0:quarantine_size_mb=16 "$binary" "$work" "${seeds[@]}" \
        "$@" -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" >"$log" 2>&1
    status=$?
    set -e
    local executions rate edges artifacts
    # A run that crashed at once has no stats or progress lines: the summary says '?', and
    # pipefail must not end the script before it says so.
    executions=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}' || true)
    edges=$( (grep -E '^#[0-9]+' "$log" || true) | tail -n 1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    artifacts=$(find "$crashes" -type f | wc -l)
    echo "fuzz $target $format: ${executions:-?} executions (${rate:-?}/s), ${edges:-?} edges, corpus $(find "$work" -type f | wc -l) inputs, findings $artifacts (exit $status)"
    if [ "$status" -ne 0 ] || [ "$artifacts" -gt 0 ]; then
        found=1
        grep -m5 -E 'ERROR|Fatal error|harness:|SUMMARY' "$log" || true
    fi
}

for format in $readers; do
    if [ -n "$runs" ]; then
        run fast "$format" -runs="$runs" -max_len=2048 -timeout=5
    else
        run fast "$format" -max_total_time="$fast_seconds" -max_len=2048 -timeout=5
    fi
done
if [ "$store_seconds" -gt 0 ]; then
    for format in $readers; do
        run store "$format" -max_total_time="$store_seconds" -max_len=16384 -timeout=10
    done
fi
exit $found
