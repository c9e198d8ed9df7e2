#!/usr/bin/env bash
# Coverage-guided fuzzing of every input reader (libFuzzer), two targets:
#
#   fast   the readers alone, in memory (Fuzz/GmemFuzzing/ReaderFastHarness.swift): line reader,
#          format detection, both JSON Lines decoders, the kernel-trace and QEMU readers, the
#          trace resolver and the engine. No store; lines up to 1 KiB and inputs up to 2 KiB, so
#          the long-line path is reached; its seeds are the corpus files cut into pieces of
#          whole lines under 1 KiB. Built with libFuzzer's coverage alone (GMEM_LIBFUZZER=fast):
#          AddressSanitizer's allocator and quarantine held it under 10,000 inputs a second.
#   store  end to end (Fuzz/GmemFuzzing/ReaderHarness.swift): each input ingested into a fresh
#          in-memory store, then `verify`. A hundred or two a second. (It does not start from
#          the fast target's corpus: replaying thousands of inputs at this rate would outlast a
#          short run.)
#
# With --asan, a second build adds AddressSanitizer (GMEM_LIBFUZZER=1), which catches what
# Swift's own checks do not in the readers' unsafe-pointer code: the store target runs on it,
# and --asan-fast runs the fast target on it too. Each build has its own scratch path,
# .build-fuzz and .build-fuzz-asan (or $GMEM_FUZZ_SCRATCH and $GMEM_FUZZ_SCRATCH-asan), so that
# both stay incremental: with no source change each rebuilds in seconds, where one path shared
# by both would recompile gmem's modules at every switch (7 minutes on a loaded 2-core machine).
# CI runs the short run without --asan (one build); the longer run uses it:
#
#   scripts/fuzz.sh [SECONDS] [--runs N] [--store S] [--asan] [--asan-fast S] [--readers "…"] [--no-build]
#
#   SECONDS        the fast target's time per reader (default 20)
#   --runs N       the fast target stops after N executions per reader instead (the longer run:
#                  scripts/fuzz.sh --runs 1000000 --asan --asan-fast 60 --store 60)
#   --store S      the store target's time per reader (default 5; 0 skips it)
#   --asan         builds the ASan binary too and runs the store target on it
#   --asan-fast S  also runs the fast target S seconds per reader on the ASan build (implies --asan)
#   --readers "…"  which readers (default all four: jsonl, ftrace, qemu, and auto for detection)
#   --no-build     runs the binaries the last build kept, as they are (a second run after CI's)
#
# Seeds: Fuzz/corpus/<format>/ and Fuzz/regressions/<format>/ (never written to; the growing
# corpora live in .build-fuzz/corpus/). A finding is saved as .build-fuzz/crashes/<target>-
# <format>/crash-…: fix the reader, then copy the input to Fuzz/regressions/<format>/, where
# FuzzRegressionTests replays it through both targets. Prints one line per reader and target:
# executions, executions per wall-second and per CPU-second (the machine's load average beside
# them), edges reached, corpus size, findings. Exits 1 when any run found something.
set -euo pipefail
cd "$(dirname "$0")/.."
fast_seconds=20
runs=
store_seconds=5
asan_fast_seconds=0
asan=
rebuild=1
readers="jsonl ftrace qemu auto"
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --store) store_seconds="$2"; shift 2 ;;
    --asan) asan=1; shift ;;
    --asan-fast) asan_fast_seconds="$2"; asan=1; shift 2 ;;
    --readers) readers="$2"; shift 2 ;;
    --no-build) rebuild=; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    [0-9]*) fast_seconds="$1"; shift ;;
    *) echo "fuzz.sh: unknown option '$1' (see scripts/fuzz.sh --help)" >&2; exit 64 ;;
    esac
done
scratch=${GMEM_FUZZ_SCRATCH:-.build-fuzz}

# build FLAVOUR: Package.swift reads GMEM_LIBFUZZER (fast: coverage only; 1: coverage and ASan),
# whose flags go to the library and the harness only. Optimized: debug Swift with ASan ran the
# fast target at about 1,500 inputs a second.
build() {
    local flavour="$1" name="$2" path start
    path=$(binary "$name")
    if [ -z "$rebuild" ]; then
        [ -x "$path" ] || { echo "fuzz.sh: --no-build, but $path was never built" >&2; exit 66; }
        return
    fi
    start=$(date +%s)
    GMEM_LIBFUZZER="$flavour" swift build -c release --product gmem-fuzz --scratch-path "${path%/release/gmem-fuzz}" 2>&1 | tail -n 3
    echo "fuzz: the $name build took $(( $(date +%s) - start )) s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
}
# binary BUILD: where that build's gmem-fuzz is.
binary() {
    if [ "$1" = asan ]; then echo "$scratch-asan/release/gmem-fuzz"; else echo "$scratch/release/gmem-fuzz"; fi
}
build fast fast
store_build=fast
if [ -n "$asan" ]; then
    build 1 asan
    store_build=asan
fi

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
# run TARGET FORMAT BUILD OPTIONS…: one libFuzzer run, summarised in one line.
run() {
    local target="$1" format="$2" flavour="$3"
    shift 3
    local label="$target"
    [ "$flavour" = asan ] && label="$target-asan"
    local work="$scratch/corpus/$target-$format" crashes="$scratch/crashes/$label-$format"
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
    local log="$scratch/fuzz-$label-$format.log" times="$scratch/fuzz-$label-$format.time" status load
    load=$(cut -d' ' -f1 /proc/loadavg)
    set +e
    # Swift's own crash backtracer hangs under ASan: libFuzzer reports the crash and saves the input.
    # ASan keeps no allocation stacks (they took a fifth of the time); replay a finding with
    # ASAN_OPTIONS=malloc_context_size=30 to see where the memory it touched was allocated.
    # /usr/bin/time gives the run's wall and CPU time (rates per wall-second mean little on a
    # machine shared with other work).
    SWIFT_BACKTRACE=enable=no GMEM_FUZZ_TARGET="$target" GMEM_FUZZ_FORMAT="$format" \
        ASAN_OPTIONS=detect_leaks=0:malloc_context_size=0:quarantine_size_mb=16 \
        /usr/bin/time -o "$times" -f '%e %U %S' "$(binary "$flavour")" "$work" "${seeds[@]}" \
        "$@" -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" >"$log" 2>&1
    status=$?
    set -e
    local executions edges artifacts wall cpu rates
    # A run that crashed at once has no stats or progress lines: the summary says '?', and
    # pipefail must not end the script before it says so.
    executions=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    edges=$( (grep -E '^#[0-9]+' "$log" || true) | tail -n 1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    artifacts=$(find "$crashes" -type f | wc -l)
    read -r wall cpu <<<"$(awk '{print $1, $2 + $3}' "$times" 2>/dev/null || true)"
    rates=$(awk -v n="${executions:-0}" -v w="${wall:-0}" -v c="${cpu:-0}" \
        'BEGIN { printf "%d/s wall, %d per CPU-second, %.0f s wall, %.0f s CPU", (w > 0 ? n / w : 0), (c > 0 ? n / c : 0), w, c }')
    echo "fuzz $label $format: ${executions:-?} executions ($rates, load $load→$(cut -d' ' -f1 /proc/loadavg)), ${edges:-?} edges, corpus $(find "$work" -type f | wc -l) inputs, findings $artifacts (exit $status)"
    if [ "$status" -ne 0 ] || [ "$artifacts" -gt 0 ]; then
        found=1
        grep -m5 -E 'ERROR|Fatal error|harness:|SUMMARY' "$log" || true
    fi
}

for format in $readers; do
    if [ -n "$runs" ]; then
        run fast "$format" fast -runs="$runs" -max_len=2048 -timeout=5
    else
        run fast "$format" fast -max_total_time="$fast_seconds" -max_len=2048 -timeout=5
    fi
done
if [ "$asan_fast_seconds" -gt 0 ]; then
    for format in $readers; do
        run fast "$format" asan -max_total_time="$asan_fast_seconds" -max_len=2048 -timeout=5
    done
fi
if [ "$store_seconds" -gt 0 ]; then
    for format in $readers; do
        run store "$format" "$store_build" -max_total_time="$store_seconds" -max_len=16384 -timeout=10
    done
fi
exit $found
