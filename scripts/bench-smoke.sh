#!/usr/bin/env bash
# A seconds-long run of the benchmark so that it cannot rot: builds gmem-bench and runs every
# figure on tiny inputs (a 3000-event log, a 1 MiB kernel trace, 50 durable appends, a
# 3000-event replay for the peak-RSS figure). It checks that every figure and baseline is
# measured and that the JSON output parses; it does not judge the figures, which mean nothing
# at this size.
# With BENCH_CONFIGURATION=release it also checks the optimized code against the debug build on
# one generated store (more events than an event pack holds): the release build's store passes
# its own `verify`, and the release and debug builds print the same state, audit and export.
# Usage: scripts/bench-smoke.sh   (BENCH_CONFIGURATION=release to use a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${BENCH_CONFIGURATION:-debug}"
swift build -c "$configuration" --product gmem-bench
bin="$(swift build -c "$configuration" --show-bin-path)/gmem-bench"
"$bin" run --events 3000 --appends 50 --trace-mib 1 --memory-events 3000 --queries 3 --conversions 2000 --json |
	python3 -c '
import json, sys
results = json.load(sys.stdin)
ids = {row["id"] for row in results["rows"]}
figures = {"jsonl_ingest", "trace_ingest", "read_events", "bytes_per_event", "append", "replay_peak_rss"}
baselines = {"b1_raw_insert", "b2_raw_scan", "b3_raw_durable_insert", "b4_raw_insert_trace"}
missing = (figures | baselines) - ids
if missing:
    sys.exit("bench-smoke: not measured: " + ", ".join(sorted(missing)))
for row in results["rows"]:
    if row["kind"] == "figure" and "met" not in row:
        sys.exit("bench-smoke: figure %s has no verdict" % row["id"])
print("bench-smoke: %d rows, every figure measured" % len(results["rows"]))
'
"$bin" run --events 2000 --appends 20 --trace-mib 1 --queries 2 --conversions 1000
"$bin" memory --events 3000 --gmem-size 1T --batch 1000
"$bin" runs --conversions 2000

if [ "$configuration" != debug ]; then
	swift build -c "$configuration" --product gmem-audit
	swift build --product gmem-audit
	optimized="$(swift build -c "$configuration" --show-bin-path)/gmem-audit"
	reference="$(swift build --show-bin-path)/gmem-audit"
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
	"$optimized" generate --events 5000 --seed 7 >"$work/log.jsonl"
	"$optimized" ingest --db "$work/optimized.db" "$work/log.jsonl" >/dev/null
	"$reference" ingest --db "$work/reference.db" "$work/log.jsonl" >/dev/null
	"$optimized" verify --db "$work/optimized.db" >/dev/null
	"$reference" verify --db "$work/optimized.db" >/dev/null
	"$optimized" verify --db "$work/reference.db" >/dev/null
	for build in optimized reference; do
		binary="$optimized"
		[ "$build" = reference ] && binary="$reference"
		"$binary" state --db "$work/$build.db" >"$work/$build.state"
		"$binary" export --db "$work/$build.db" >"$work/$build.export"
		status=0
		"$binary" audit --db "$work/$build.db" --format jsonl >"$work/$build.audit" || status=$?
		[ "$status" -le 1 ] || { echo "bench-smoke: $build audit exited $status" >&2; exit 1; }
	done
	for part in state export audit; do
		cmp -s "$work/optimized.$part" "$work/reference.$part" ||
			{ echo "bench-smoke: the $configuration and debug builds differ in $part" >&2; diff "$work/optimized.$part" "$work/reference.$part" | head -20 >&2; exit 1; }
	done
	echo "bench-smoke: the $configuration build's store verifies; its state, export and audit equal the debug build's ($(wc -l <"$work/optimized.audit") findings)"
fi
