#!/usr/bin/env bash
# A seconds-long run of the benchmark so that it cannot rot: builds gmem-bench and runs every
# figure on tiny inputs (a 3000-event log, a 1 MiB kernel trace, 50 durable appends, a
# 3000-event replay for the peak-RSS figure). It checks that every figure and baseline is
# measured and that the JSON output parses; it does not judge the figures, which mean nothing
# at this size.
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
